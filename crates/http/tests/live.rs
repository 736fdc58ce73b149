//! Live mode: callbacks never reach loopback or private addresses (the
//! attempt is recorded as failed, nothing is sent), the sandbox API is
//! absent, and the business clock cannot be moved.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use koudai_app::{outbox, parties, payments, Mode};
use koudai_store::{KeyMode, OrderLocator, PayOutcome};
use koudai_testkit::{Error, TestApp};

#[tokio::test]
async fn a_callback_to_a_private_address_is_refused_and_recorded() -> Result<(), Error> {
    let t = TestApp::start(Mode::Live, 11).await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let app = &t.app;
    // A receiver really listens on loopback: were the request sent, it
    // would arrive.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let body = json!({
        "appid": m.appid, "mchid": m.created.mchid, "description": "tea", "out_trade_no": "LIVE000001",
        "notify_url": format!("https://127.0.0.1:{port}/notify"), "amount": {"total": 100}
    })
    .to_string();
    let r = t.send(t.signed(&m, "POST", "/v3/pay/transactions/native", &body)?).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let token = r.json()["code_url"].as_str().unwrap_or_default().rsplit('=').next().unwrap_or_default().to_owned();
    parties::create_consumer(&app.store, &app.rng, "dave", "dave-password", 1_000, app.clock.business_now()).await?;
    payments::pay(app, OrderLocator::PayToken(token), "dave", PayOutcome::Success).await?;

    assert_eq!(outbox::deliver_due(app).await?, 1);
    let accepted = tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "nothing connected to the loopback receiver");
    let list = app.store.notifications_for(Some(&m.created.mchid), "LIVE000001").await?;
    let (n, attempts) = list.first().ok_or("the notification exists")?;
    assert_eq!(n.status.as_str(), "PENDING", "it will be retried on the schedule");
    let attempt = attempts.first().ok_or("one attempt recorded")?;
    assert_eq!(attempt.http_status, None);
    assert!(attempt.error.as_deref().unwrap_or_default().contains("non-public address"), "{:?}", attempt.error);
    assert_eq!(
        app.deliveries.of(outbox::Channel::V3).snapshot(),
        [("delivered", 0), ("failed", 0), ("refused", 1), ("given_up", 0)]
    );
    Ok(())
}

#[tokio::test]
async fn live_mode_has_no_sandbox_api() -> Result<(), Error> {
    let t = TestApp::start(Mode::Live, 12).await?;
    let req = Request::builder()
        .method("POST")
        .uri("/sandbox/v1/clock/advance")
        .header("authorization", format!("Bearer {}", t.app.sandbox_token.expose()))
        .body(Body::from(r#"{"seconds": 3600}"#))?;
    let r = t.send(req).await?;
    assert_eq!((r.status, r.json()["code"].clone()), (StatusCode::NOT_FOUND, json!("NOT_FOUND")));
    assert!(t.app.clock.advance(&t.app.store, 60).await.is_err(), "the business clock is the wall clock");
    assert_eq!(t.app.clock.business_now().unix(), t.app.clock.wall_now().unix());
    Ok(())
}

#[tokio::test]
async fn a_live_clock_ignores_a_sandbox_offset_and_a_corrupt_offset_is_an_error() -> Result<(), Error> {
    use koudai_app::Clock;
    let t = TestApp::sandbox().await?;
    let store = &t.app.store;
    assert_eq!(t.app.clock.advance(store, 86_400).await.ok(), Some(86_400));
    assert_eq!(Clock::load(store, Mode::Sandbox).await?.offset_s(), 86_400, "the sandbox keeps its offset");
    assert_eq!(Clock::load(store, Mode::Live).await?.offset_s(), 0, "a live node runs on the wall clock");
    store.set_meta("business_clock_offset_s", "yesterday").await?;
    assert!(Clock::load(store, Mode::Sandbox).await.is_err(), "a corrupt offset is not silently zero");
    Ok(())
}

#[tokio::test]
async fn a_host_name_that_resolves_inside_is_refused_too() -> Result<(), Error> {
    let t = TestApp::start(Mode::Live, 13).await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let app = &t.app;
    let body = json!({
        "appid": m.appid, "mchid": m.created.mchid, "description": "tea", "out_trade_no": "LIVE000002",
        "notify_url": "https://localhost:9/notify", "amount": {"total": 100}
    })
    .to_string();
    let r = t.send(t.signed(&m, "POST", "/v3/pay/transactions/native", &body)?).await?;
    let token = r.json()["code_url"].as_str().unwrap_or_default().rsplit('=').next().unwrap_or_default().to_owned();
    parties::create_consumer(&app.store, &app.rng, "erin", "erin-password", 1_000, app.clock.business_now()).await?;
    payments::pay(app, OrderLocator::PayToken(token), "erin", PayOutcome::Success).await?;
    assert_eq!(outbox::deliver_due(app).await?, 1);
    assert_eq!(
        app.deliveries.of(outbox::Channel::V3).snapshot(),
        [("delivered", 0), ("failed", 0), ("refused", 1), ("given_up", 0)]
    );
    Ok(())
}

#[tokio::test]
async fn a_clock_moved_on_one_node_is_seen_by_another_after_a_refresh() -> Result<(), Error> {
    use koudai_app::Clock;
    let t = TestApp::sandbox().await?;
    let store = &t.app.store;
    let other_node = Clock::load(store, Mode::Sandbox).await?;
    t.app.clock.advance(store, 3_600).await.map_err(|e| e.to_string())?;
    assert_eq!(other_node.offset_s(), 0, "the other node has not looked yet");
    other_node.refresh(store).await?;
    assert_eq!(other_node.offset_s(), 3_600);
    Ok(())
}
