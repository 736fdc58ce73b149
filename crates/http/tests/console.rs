//! The consoles in process: login (double-submit token, throttled, wrong
//! passwords refused alike), roles enforced on the server for every page
//! and form, CSRF on every form, and each refused attempt in the log.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use koudai_app::parties::providers;
use koudai_domain::provider::ProviderKind;
use koudai_store::{ConsoleRole, KeyMode, LogFilter};
use koudai_testkit::{Error, TestApp, TestResponse};

type R = Result<(), Error>;

koudai_testkit::on_both_engines!(hostile_forms_get_client_errors_never_a_5xx);

/// The value of `<input … name="{name}" value="…">` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).map(|i| i + name.len() + 15);
    at.and_then(|i| html.get(i..)).and_then(|rest| rest.split('"').next()).unwrap_or_default().to_owned()
}

/// `name=value` of the `Set-Cookie` called `name`.
fn cookie(r: &TestResponse, name: &str) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

fn get(path: &str, cookies: &str) -> Result<Request<Body>, Error> {
    Ok(Request::builder().uri(path).header("cookie", cookies).body(Body::empty())?)
}

fn post(path: &str, cookies: &str, form: &[(&str, &str)]) -> Result<Request<Body>, Error> {
    let body = form.iter().map(|(k, v)| format!("{}={}", k, url_escape(v))).collect::<Vec<_>>().join("&");
    Ok(Request::builder()
        .method("POST")
        .uri(path)
        .header("cookie", cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))?)
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Logs in; returns the session cookie.
async fn log_in(t: &TestApp, login: &str, password: &str) -> Result<String, Error> {
    let page = t.send(get("/console/login", "")?).await?;
    let pre = cookie(&page, "koudai_console_login").ok_or("login cookie")?;
    let token = hidden(&page.text(), "login_token");
    let r = t
        .send(post("/console/login", &pre, &[("login", login), ("password", password), ("login_token", &token)])?)
        .await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let set = r.header("set-cookie").unwrap_or_default().to_owned();
    let all: Vec<_> = r.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    let session = all.iter().find(|c| c.starts_with("koudai_console=")).ok_or(set)?;
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
    Ok(session.split(';').next().unwrap_or_default().to_owned())
}

async fn refusals(t: &TestApp, principal: &str) -> Result<usize, Error> {
    let f = LogFilter { who: Some(principal.into()), limit: 1000, ..Default::default() };
    Ok(t.app.store.refusals(&f).await?.len())
}

#[tokio::test]
async fn roles_are_enforced_on_the_server_and_every_form_needs_its_token() -> R {
    let t = TestApp::sandbox().await?;
    let app = &t.app;
    let now = app.clock.wall_now();
    providers::create_console_user(&app.store, &app.rng, "op", "operator-password", ConsoleRole::Operator, None, now)
        .await?;
    let a = t.provider(ProviderKind::Official, KeyMode::PublicKey, &["payment_interface"]).await?;
    let b = t.provider(ProviderKind::ThirdParty, KeyMode::PublicKey, &[]).await?;
    let user = |login: &'static str, sp: String| async move {
        providers::create_console_user(
            &app.store,
            &app.rng,
            login,
            "provider-password",
            ConsoleRole::Provider,
            Some(&sp),
            now,
        )
        .await
    };
    user("a-user", a.sp_mchid().to_owned()).await?;
    user("b-user", b.sp_mchid().to_owned()).await?;

    // Nobody logged in: every page sends to the login form.
    for path in
        ["/console/providers", "/console/my", "/console/refusals", &format!("/console/providers/{}", a.sp_mchid())]
    {
        let r = t.send(get(path, "")?).await?;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.header("location"), Some("/console/login"));
    }

    // A login form posted without this browser's token is refused.
    let page = t.send(get("/console/login", "")?).await?;
    let token = hidden(&page.text(), "login_token");
    let r = t
        .send(post(
            "/console/login",
            "",
            &[("login", "op"), ("password", "operator-password"), ("login_token", &token)],
        )?)
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A wrong password and an unknown login read the same.
    let pre = cookie(&page, "koudai_console_login").ok_or("cookie")?;
    for (login, password) in [("op", "wrong-password"), ("nobody", "operator-password")] {
        let r = t
            .send(post("/console/login", &pre, &[("login", login), ("password", password), ("login_token", &token)])?)
            .await?;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.text().contains("账号或密码错误"));
    }

    let op = log_in(&t, "op", "operator-password").await?;
    let r = t.send(get("/console/providers", &op)?).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains(a.sp_mchid()) && r.text().contains(b.sp_mchid()));

    // Forms without the session's token change nothing.
    let grant = |csrf: &str| {
        post(
            &format!("/console/providers/{}/privileges", b.sp_mchid()),
            &op,
            &[("csrf", csrf), ("privilege", "payment_interface"), ("action", "grant"), ("reason", "pilot")],
        )
    };
    assert_eq!(t.send(grant("forged")?).await?.status, StatusCode::BAD_REQUEST);
    assert!(koudai_app::access::authz::held_privileges(app, b.sp_mchid()).await?.is_empty());
    let csrf = hidden(&r.text(), "csrf");
    let r = t.send(grant(&csrf)?).await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(koudai_app::access::authz::held_privileges(app, b.sp_mchid()).await?.contains_key("payment_interface"));
    let log =
        app.store.privilege_log(&LogFilter { who: Some(b.sp_mchid().into()), limit: 5, ..Default::default() }).await?;
    assert_eq!((log[0].actor.as_str(), log[0].reason.as_str()), ("operator:op", "pilot"));
    // A grant needs a reason.
    let r = t
        .send(post(
            &format!("/console/providers/{}/privileges", b.sp_mchid()),
            &op,
            &[("csrf", &csrf), ("privilege", "custom_menu"), ("action", "grant"), ("reason", " ")],
        )?)
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("reason is required"), "{}", r.text());

    // A provider user sees its own and nothing else.
    let ua = log_in(&t, "a-user", "provider-password").await?;
    let mine = t.send(get("/console/my", &ua)?).await?;
    assert!(mine.text().contains(&a.sub_mchid) && !mine.text().contains(&b.sub_mchid));
    let own = t.send(get(&format!("/console/my/sub-merchants/{}", a.sub_mchid), &ua)?).await?;
    assert_eq!(own.status, StatusCode::OK);
    let before = refusals(&t, "console:a-user").await?;
    let other = t.send(get(&format!("/console/my/sub-merchants/{}", b.sub_mchid), &ua)?).await?;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(!other.text().contains("Test Sub-merchant"), "nothing of B's leaks");
    for path in ["/console/providers", "/console/refusals", &format!("/console/providers/{}", b.sp_mchid())] {
        assert_eq!(t.send(get(path, &ua)?).await?.status, StatusCode::FORBIDDEN, "{path}");
    }
    let r = t
        .send(post(
            &format!("/console/providers/{}/privileges", a.sp_mchid()),
            &ua,
            &[
                ("csrf", &hidden(&mine.text(), "csrf")),
                ("privilege", "custom_menu"),
                ("action", "grant"),
                ("reason", "me"),
            ],
        )?)
        .await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a provider cannot grant itself a privilege");
    assert!(!koudai_app::access::authz::held_privileges(app, a.sp_mchid()).await?.contains_key("custom_menu"));
    assert_eq!(refusals(&t, "console:a-user").await?, before + 5);

    // The operator reads them in the refusal log.
    let r = t.send(get("/console/refusals?who=console%3Aa-user", &op)?).await?;
    assert!(r.text().contains(&format!("sub_mchid:{}", b.sub_mchid)), "{}", r.text());

    // Logging out ends the session.
    let r = t.send(post("/console/logout", &ua, &[("csrf", &hidden(&mine.text(), "csrf"))])?).await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(t.send(get("/console/my", &ua)?).await?.header("location"), Some("/console/login"));
    Ok(())
}

/// Hostile forms on both engines: NUL characters (which PostgreSQL cannot
/// store), oversized bodies and garbage never reach a 5xx.
async fn hostile_forms_get_client_errors_never_a_5xx(t: TestApp) -> R {
    let app = &t.app;
    let now = app.clock.wall_now();
    providers::create_console_user(&app.store, &app.rng, "op", "operator-password", ConsoleRole::Operator, None, now)
        .await?;
    let a = t.provider(ProviderKind::Official, KeyMode::PublicKey, &[]).await?;
    let op = log_in(&t, "op", "operator-password").await?;
    let csrf = hidden(&t.send(get("/console/providers", &op)?).await?.text(), "csrf");
    let big = "x".repeat(100_000);
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/console/login".into(), vec![("login", "op\u{0}"), ("password", "x"), ("login_token", "t")]),
        ("/console/providers".into(), vec![("csrf", &csrf), ("name", "Evil\u{0}Co"), ("kind", "official")]),
        ("/console/providers".into(), vec![("csrf", &csrf), ("name", &big), ("kind", "official")]),
        ("/console/providers".into(), vec![("csrf", &csrf), ("name", "A"), ("kind", "\u{202e}")]),
        (
            format!("/console/providers/{}/privileges", a.sp_mchid()),
            vec![("csrf", &csrf), ("privilege", "payment_interface"), ("action", "grant"), ("reason", "r\u{0}")],
        ),
        (
            format!("/console/providers/{}/privileges", a.sp_mchid()),
            vec![("csrf", &csrf), ("privilege", "x"), ("action", "grant"), ("reason", "r"), ("expires_in_days", "-1")],
        ),
        (format!("/console/providers/{}/sub-merchants", a.sp_mchid()), vec![("csrf", &csrf), ("name", "\u{0}")]),
        ("/console/providers/%00/sub-merchants".into(), vec![("csrf", &csrf), ("name", "x")]),
        (
            "/console/providers/99999/privileges".into(),
            vec![("csrf", &csrf), ("privilege", "custom_menu"), ("action", "grant"), ("reason", "r")],
        ),
    ];
    for (path, form) in cases {
        let r = t.send(post(&path, &op, &form)?).await?;
        assert!(r.status.is_client_error(), "{path}: {} {}", r.status, r.text());
    }
    for path in [
        "/console/refusals?who=%00",
        "/console/privileges?what=%FF",
        "/console/providers/%00",
        "/console/my/sub-merchants/%00",
    ] {
        let r = t.send(get(path, &op)?).await?;
        assert!(r.status.as_u16() < 500, "{path}: {}", r.status);
    }
    assert!(koudai_app::access::authz::held_privileges(app, a.sp_mchid()).await?.is_empty());
    Ok(())
}
