//! Koudai in process, for tests: a [`TestApp`] is the real application on a
//! scratch SQLite database (or PostgreSQL, when `TEST_DATABASE_URL` is set
//! and asked for), with a fixed clock and seeded randomness, and the real
//! router answered through `oneshot` without a socket.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use koudai_app::parties::{self, CreatedMerchant, MerchantSpec};
use koudai_app::{App, AppConfig, Clock, Mode, Rng};
use koudai_http::HttpState;
use koudai_protocol::auth::authorization_header;
use koudai_protocol::PrivateKey;
use koudai_store::{KeyMode, Store};

/// The wall clock every test app starts at: 2026-11-24 12:00:00 +08:00.
pub const START_UNIX_S: i64 = 1_795_492_800;

/// A failure while setting a test up.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The application and its router, in process.
pub struct TestApp {
    pub app: Arc<App>,
    pub router: axum::Router,
    /// Holds the scratch SQLite file while the app lives.
    _dir: TempDir,
}

/// Runs each in-process test story on both database engines.
///
/// A story is an `async fn story(t: TestApp) -> Result<(), koudai_testkit::Error>`
/// in the calling test file. For each one this generates a module of the
/// story's name with two tests, so they read `story::sqlite` and
/// `story::postgres`:
///
/// - `sqlite` runs the story on [`TestApp::sandbox`];
/// - `postgres` runs it on [`TestApp::sandbox_on_postgres`], and passes
///   without running it when that gives `None` (`TEST_DATABASE_URL` unset
///   outside CI; in CI the unset variable is an error).
///
/// The paths are fully qualified, so the caller needs no imports beyond
/// `tokio` (with its test macro) as a dependency.
///
/// ```ignore
/// use koudai_testkit::{Error, TestApp};
///
/// koudai_testkit::on_both_engines!(a_new_merchant_can_sign);
///
/// async fn a_new_merchant_can_sign(t: TestApp) -> Result<(), Error> {
///     let m = t.merchant(koudai_store::KeyMode::PublicKey).await?;
///     assert!(!m.appid.is_empty());
///     Ok(())
/// }
/// ```
#[macro_export]
macro_rules! on_both_engines {
    ($($story:ident),+ $(,)?) => {
        $(
            mod $story {
                #[::tokio::test]
                async fn sqlite() -> ::std::result::Result<(), $crate::Error> {
                    super::$story($crate::TestApp::sandbox().await?).await
                }

                #[::tokio::test]
                async fn postgres() -> ::std::result::Result<(), $crate::Error> {
                    match $crate::TestApp::sandbox_on_postgres().await? {
                        ::std::option::Option::Some(t) => super::$story(t).await,
                        ::std::option::Option::None => ::std::result::Result::Ok(()),
                    }
                }
            }
        )+
    };
}

/// A merchant ready to sign requests.
pub struct TestMerchant {
    pub created: CreatedMerchant,
    pub key: PrivateKey,
    pub appid: String,
}

/// A provider ready to sign requests, with one sub-merchant (deposit paid)
/// that has its own app.
pub struct TestProvider {
    /// Signs as the provider (`sp_mchid`); `appid` is its `sp_appid`.
    pub signer: TestMerchant,
    /// Signs as the sub-merchant (it has keys like every merchant, and is
    /// refused what only its provider may do); `appid` is its `sub_appid`.
    pub sub: TestMerchant,
    pub sub_mchid: String,
    pub sub_appid: String,
}

impl TestProvider {
    pub fn sp_mchid(&self) -> &str {
        &self.signer.created.mchid
    }
}

/// An answer of the router.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestApp {
    /// A sandbox app on a fresh SQLite file.
    pub async fn sandbox() -> Result<TestApp, Error> {
        TestApp::start(Mode::Sandbox, 7).await
    }

    /// An app in `mode` whose randomness is seeded with `seed`.
    pub async fn start(mode: Mode, seed: u64) -> Result<TestApp, Error> {
        TestApp::start_on(None, mode, seed).await
    }

    /// A sandbox app on a scratch PostgreSQL database, or `None` (with a
    /// note) when `TEST_DATABASE_URL` is unset outside CI.
    pub async fn sandbox_on_postgres() -> Result<Option<TestApp>, Error> {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) => {
                let url = koudai_store::testing::scratch_postgres_database(&admin, "koudai_testkit").await?;
                Ok(Some(TestApp::start_on(Some(url), Mode::Sandbox, 7).await?))
            }
            Err(_) if std::env::var_os("CI").is_some() => Err("TEST_DATABASE_URL is not set in CI".into()),
            Err(_) => {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "note: TEST_DATABASE_URL unset; PostgreSQL case skipped");
                Ok(None)
            }
        }
    }

    async fn start_on(database_url: Option<String>, mode: Mode, seed: u64) -> Result<TestApp, Error> {
        let rng = Rng::seeded(seed);
        let dir = std::env::temp_dir().join(format!("koudai-testkit-{}-{}", std::process::id(), Rng::os().token(12)));
        std::fs::create_dir_all(&dir)?;
        let url = database_url.unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("koudai.db").display()));
        let store = Store::connect(&url).await?;
        store.migrate().await?;
        let config = AppConfig {
            mode,
            base_url: "http://koudai.test".into(),
            bill_download_base: "http://koudai.test".into(),
            sharing_events: Default::default(),
            master_key: koudai_domain::Secret::new(rng.bytes()),
        };
        let app = Arc::new(App::open(store, config, rng, Clock::fixed(START_UNIX_S, mode)).await?);
        let router = koudai_http::router(HttpState::new(Arc::clone(&app)));
        Ok(TestApp { app, router, _dir: TempDir(dir) })
    }

    /// A merchant with a generated key, its deposit paid and an app bound.
    pub async fn merchant(&self, key_mode: KeyMode) -> Result<TestMerchant, Error> {
        let app = &self.app;
        let now = app.clock.wall_now();
        let spec = MerchantSpec { mchid: None, name: "Test Shop", key_mode, certificate_pem: None };
        let created = parties::create_merchant(&app.store, &app.rng, &app.platform, spec, now).await?;
        parties::pay_deposit(&app.store, &app.rng, &created.mchid, None, app.clock.business_now()).await?;
        let appid = parties::create_app(&app.store, &app.rng, None, "Test App", &created.mchid, now).await?;
        let pem = created.private_key_pem.as_ref().ok_or("a generated merchant has a key")?;
        let key = PrivateKey::from_pem(pem.expose())?;
        Ok(TestMerchant { created, key, appid })
    }

    /// A provider of `kind` holding `privileges` (granted by `admin`), with
    /// one sub-merchant whose deposit is paid.
    pub async fn provider(
        &self,
        kind: koudai_domain::provider::ProviderKind,
        key_mode: KeyMode,
        privileges: &[&str],
    ) -> Result<TestProvider, Error> {
        use koudai_app::parties::providers::{self, GrantCommand, ProviderSpec, SubMerchantSpec};
        let app = &self.app;
        let now = app.clock.wall_now();
        let spec = ProviderSpec {
            sp_mchid: None,
            name: "Test Provider",
            kind,
            key_mode,
            sp_appid: None,
            service_notify_url: None,
        };
        let created = providers::create_provider(&app.store, &app.rng, &app.platform, spec, now).await?;
        for p in privileges {
            let cmd = GrantCommand {
                sp_mchid: &created.merchant.mchid,
                privilege: p,
                action: koudai_domain::provider::GrantAction::Grant,
                actor: "admin",
                reason: "test",
                expires_at: None,
            };
            providers::change_privilege(&app.store, cmd, app.clock.business_now()).await?;
        }
        let sub = SubMerchantSpec {
            mchid: None,
            sp_mchid: &created.merchant.mchid,
            name: "Test Sub-merchant Co., Ltd.",
            fee_rule: None,
            sub_appid: Some(format!("wxsub{}", app.rng.token(12).to_ascii_lowercase())),
            bank_account: None,
        };
        let (sub, sub_created) =
            providers::create_sub_merchant(&app.store, &app.rng, &app.platform, sub, now, app.clock.business_now())
                .await?;
        parties::pay_deposit(&app.store, &app.rng, &sub.mchid, None, app.clock.business_now()).await?;
        let pem = created.merchant.private_key_pem.as_ref().ok_or("a generated provider has a key")?;
        let key = PrivateKey::from_pem(pem.expose())?;
        let sub_appid = sub.sub_appid.ok_or("asked for a sub_appid")?;
        let sub_pem = sub_created.private_key_pem.as_ref().ok_or("a generated sub-merchant has a key")?;
        let sub_key = PrivateKey::from_pem(sub_pem.expose())?;
        Ok(TestProvider {
            signer: TestMerchant { created: created.merchant, key, appid: created.sp_appid },
            sub: TestMerchant { created: sub_created, key: sub_key, appid: sub_appid.clone() },
            sub_mchid: sub.mchid,
            sub_appid,
        })
    }

    /// Serves the router on `127.0.0.1:0` for clients that need a socket
    /// (raw requests, SDKs); returns the address. The server stops when
    /// the test's runtime ends.
    pub async fn listen(&self) -> Result<std::net::SocketAddr, Error> {
        self.listen_with(koudai_http::serve::ConnLimits::default()).await
    }

    /// Like [`TestApp::listen`], with the given connection limits.
    pub async fn listen_with(&self, limits: koudai_http::serve::ConnLimits) -> Result<std::net::SocketAddr, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = self.router.clone();
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(koudai_http::serve::serve(listener, router, limits, stop));
        Ok(addr)
    }

    /// Sends `req` through the router.
    pub async fn send(&self, req: Request<Body>) -> Result<TestResponse, Error> {
        let resp = self.router.clone().oneshot(req).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes().to_vec();
        Ok(TestResponse { status: parts.status, headers: parts.headers, body })
    }

    /// A request signed as `m` would sign it, now on the app's wall clock.
    pub fn signed(&self, m: &TestMerchant, method: &str, target: &str, body: &str) -> Result<Request<Body>, Error> {
        let nonce = self.app.rng.token(32);
        self.signed_at(m, method, target, body, self.app.clock.wall_now().unix(), &nonce)
    }

    /// A request signed by `m` with a chosen timestamp and nonce (replays,
    /// window edges). The same arguments give the same `Authorization`.
    pub fn signed_at(
        &self,
        m: &TestMerchant,
        method: &str,
        target: &str,
        body: &str,
        timestamp: i64,
        nonce: &str,
    ) -> Result<Request<Body>, Error> {
        let c = &m.created;
        let auth =
            authorization_header(&m.key, &c.mchid, &c.serial_no, method, target, timestamp, nonce, body.as_bytes())?;
        Ok(Request::builder()
            .method(method)
            .uri(target)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(Body::from(body.to_owned()))?)
    }

    /// Logs in to the consoles as `login` (creating the user first with
    /// `role`) and returns the session's `cookie` header value.
    pub async fn console_session(
        &self,
        login: &str,
        password: &str,
        role: koudai_store::ConsoleRole,
        sp_mchid: Option<&str>,
    ) -> Result<String, Error> {
        let app = &self.app;
        koudai_app::parties::providers::create_console_user(
            &app.store,
            &app.rng,
            login,
            password,
            role,
            sp_mchid,
            app.clock.wall_now(),
        )
        .await?;
        let page = self.send(Request::builder().uri("/console/login").body(Body::empty())?).await?;
        let cookie_value = |r: &TestResponse, name: &str| {
            r.headers
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| v.starts_with(&format!("{name}=")))
                .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        };
        let pre = cookie_value(&page, "koudai_console_login").ok_or("no login cookie")?;
        let html = page.text();
        let token = html
            .split("name=\"login_token\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or("no login token")?
            .to_owned();
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("login", login)
            .append_pair("password", password)
            .append_pair("login_token", &token)
            .finish();
        let r = self
            .send(
                Request::builder()
                    .method("POST")
                    .uri("/console/login")
                    .header("cookie", pre)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from(form))?,
            )
            .await?;
        Ok(cookie_value(&r, "koudai_console").ok_or("login failed")?)
    }

    /// An unsigned request.
    pub fn plain(method: &str, target: &str, body: &str) -> Result<Request<Body>, Error> {
        Ok(Request::builder()
            .method(method)
            .uri(target)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))?)
    }
}
