//! Callbacks no merchant can slow down, on the real server (its dispatcher
//! and jobs running): merchant B's receiver accepts connections and never
//! answers; with B's callbacks hanging, merchant A's arrive at once, and B
//! is backed off without holding the slots A needs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use koudai::{Server, ServerConfig};
use koudai_app::parties::{self, CreatedMerchant, MerchantSpec};
use koudai_app::{payments, Mode, Rng};
use koudai_domain::Secret;
use koudai_protocol::auth::authorization_header;
use koudai_protocol::PrivateKey;
use koudai_store::{KeyMode, OrderLocator, PayOutcome};

type Error = Box<dyn std::error::Error + Send + Sync>;

const NATIVE: &str = "/v3/pay/transactions/native";

struct Shop {
    m: CreatedMerchant,
    key: PrivateKey,
    appid: String,
}

async fn shop(app: &koudai_app::App, name: &str) -> Result<Shop, Error> {
    let now = app.clock.wall_now();
    let spec = MerchantSpec { mchid: None, name, key_mode: KeyMode::PublicKey, certificate_pem: None };
    let m = parties::create_merchant(&app.store, &app.rng, &app.platform, spec, now).await?;
    parties::pay_deposit(&app.store, &app.rng, &m.mchid, None, app.clock.business_now()).await?;
    let appid = parties::create_app(&app.store, &app.rng, None, name, &m.mchid, now).await?;
    let key = PrivateKey::from_pem(m.private_key_pem.as_ref().ok_or("a generated key")?.expose())?;
    Ok(Shop { m, key, appid })
}

/// A signed Native prepay through the server; returns the pay token.
async fn prepay(
    server: &Server,
    http: &reqwest::Client,
    s: &Shop,
    out_trade_no: &str,
    notify_url: &str,
) -> Result<String, Error> {
    let body = serde_json::json!({
        "appid": s.appid, "mchid": s.m.mchid, "description": "tea", "out_trade_no": out_trade_no,
        "notify_url": notify_url, "amount": {"total": 1}
    })
    .to_string();
    let now = server.app.clock.wall_now().unix();
    let auth = authorization_header(
        &s.key,
        &s.m.mchid,
        &s.m.serial_no,
        "POST",
        NATIVE,
        now,
        &Rng::os().token(32),
        body.as_bytes(),
    )?;
    let resp = http
        .post(format!("http://{}{NATIVE}", server.addr))
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await?)?;
    Ok(v["code_url"].as_str().ok_or("code_url")?.rsplit('=').next().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_does_not_delay_another_merchants_callbacks() -> Result<(), Error> {
    let dir = std::env::temp_dir().join(format!("koudai-delivery-{}-{}", std::process::id(), Rng::os().token(6)));
    let server = Server::start(ServerConfig {
        data_dir: dir.clone(),
        listen: "127.0.0.1:0".parse()?,
        database_url: Secret::new(format!("sqlite://{}?mode=rwc", dir.join("koudai.db").display())),
        mode: Mode::Sandbox,
        public_url: None,
        demo: false,
        bill_download_base: None,
        limits: koudai_http::serve::ConnLimits::default(),
        sharing_events: Default::default(),
    })
    .await?;
    let app = Arc::clone(&server.app);
    let (a, b) = (shop(&app, "A").await?, shop(&app, "B").await?);
    parties::create_consumer(&app.store, &app.rng, "carol", "carol-password", 1_000_000, app.clock.business_now())
        .await?;

    // B's receiver: accepts every connection and never says a word.
    let tarpit = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let tarpit_url = format!("http://{}/notify", tarpit.local_addr()?);
    let held = Arc::new(Mutex::new(Vec::new()));
    let holder = Arc::clone(&held);
    let tarpit_task = tokio::spawn(async move {
        while let Ok((conn, _)) = tarpit.accept().await {
            holder.lock().unwrap().push(conn);
        }
    });
    // A's receiver: notes when each callback arrives and acknowledges it.
    let arrivals: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let noted = Arc::clone(&arrivals);
    let receiver = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |body: String| {
            let noted = Arc::clone(&noted);
            async move {
                noted.lock().unwrap().push((body, Instant::now()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let a_url = format!("http://{}/notify", listener.local_addr()?);
    let receiver_task = tokio::spawn(async move { axum::serve(listener, receiver).await });

    let http = reqwest::Client::new();
    // 40 of B's orders are paid: their callbacks hang.
    for i in 0..40 {
        let token = prepay(&server, &http, &b, &format!("B{i:06}"), &tarpit_url).await?;
        payments::pay(&app, OrderLocator::PayToken(token), "carol", PayOutcome::Success).await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (in_flight, _) = app.destinations.snapshot();
    assert!(
        in_flight > 0 && in_flight <= koudai_app::outbox::destinations::PER_DESTINATION,
        "B holds {in_flight} sends"
    );

    // Then A's: each callback must arrive at once, during B's timeouts
    // and after them, when B's breaker has opened.
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(7) {
        let before = arrivals.lock().unwrap().len();
        let token = prepay(&server, &http, &a, &format!("A{i:06}"), &a_url).await?;
        let paid_at = Instant::now();
        payments::pay(&app, OrderLocator::PayToken(token), "carol", PayOutcome::Success).await?;
        let deadline = paid_at + Duration::from_secs(3);
        let arrived = loop {
            if let Some((_, at)) = arrivals.lock().unwrap().get(before) {
                break *at;
            }
            assert!(Instant::now() < deadline, "A's callback {i} did not arrive within 3 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        latencies.push(arrived.saturating_duration_since(paid_at));
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    latencies.sort();
    let worst = *latencies.last().unwrap();
    let p99 = latencies[(latencies.len() - 1) * 99 / 100];
    assert!(
        worst < Duration::from_millis(1000),
        "A's callbacks: p99 {p99:?}, worst {worst:?} ({} callbacks)",
        latencies.len()
    );

    // B's first sends timed out: its breaker is open and its rows wait,
    // unsent and not counted as attempts, for the breaker.
    let (_, backed_off) = app.destinations.snapshot();
    assert_eq!(backed_off, 1, "B's destination is backed off");
    let counts = app.deliveries.of(koudai_app::outbox::Channel::V3).snapshot();
    assert!(counts[0].1 >= latencies.len() as u64, "{counts:?}");
    let attempted_b = held.lock().unwrap().len();
    // B got its share of slots, then a few more until its breaker opened
    // (and perhaps one probe): never the 40 at once.
    use koudai_app::outbox::destinations::{OPEN_AFTER, PER_DESTINATION};
    assert!(attempted_b <= PER_DESTINATION + OPEN_AFTER as usize + 1, "B was sent {attempted_b} in all");

    server.stop().await;
    tarpit_task.abort();
    receiver_task.abort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
