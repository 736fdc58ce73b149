//! Several nodes on one PostgreSQL: a request accepted by one node is a
//! replay on every other (the nonces live in the database).

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;
use tower::ServiceExt as _;

use koudai_http::HttpState;
use koudai_store::KeyMode;
use koudai_testkit::{Error, TestApp};

#[tokio::test]
async fn a_replay_to_another_node_on_the_same_postgres_is_refused() -> Result<(), Error> {
    let Some(t) = TestApp::sandbox_on_postgres().await? else { return Ok(()) };
    let m = t.merchant(KeyMode::PublicKey).await?;
    let body = json!({
        "appid": m.appid, "mchid": m.created.mchid, "description": "tea", "out_trade_no": "NODES00001",
        "notify_url": "http://127.0.0.1:9/n", "amount": {"total": 100}
    })
    .to_string();
    // The same signed request, twice: same timestamp, same nonce.
    let now = t.app.clock.wall_now().unix();
    let again = || t.signed_at(&m, "POST", "/v3/pay/transactions/native", &body, now, "one-nonce");
    let first = t.send(again()?).await?;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    // A second node: its own caches and memory, the same database.
    let other_node = koudai_http::router(HttpState::new(Arc::clone(&t.app)));
    let resp = other_node.oneshot(again()?).await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "the replay is refused on the other node");
    Ok(())
}
