//! Hostile input on every surface, on both engines: characters no database
//! column may hold (U+0000) get the surface's own 4xx, before any SQL —
//! never a 5xx, and the same answer on SQLite and PostgreSQL.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

use koudai_store::KeyMode;
use koudai_testkit::{Error, TestApp};

async fn sweep(t: &TestApp) -> Result<Vec<(String, u16)>, Error> {
    let m = t.merchant(KeyMode::PublicKey).await?;
    let mchid = m.created.mchid.clone();
    let token = t.app.sandbox_token.expose().clone();
    let mut answers = Vec::new();
    let mut record = |label: &str, status: StatusCode| answers.push((label.to_owned(), status.as_u16()));

    let mut body: Value = json!({
        "appid": m.appid, "mchid": mchid, "description": "tea\u{0}", "out_trade_no": "HOSTILE01",
        "notify_url": "http://127.0.0.1:9/n", "amount": {"total": 100}
    });
    let r = t.send(t.signed(&m, "POST", "/v3/pay/transactions/native", &body.to_string())?).await?;
    assert_eq!(r.json()["detail"]["field"], "description", "{}", r.text());
    record("v3 body", r.status);
    body["description"] = json!("tea");
    body["out_trade_no"] = json!("HOST\u{0}ILE");
    record(
        "v3 out_trade_no",
        t.send(t.signed(&m, "POST", "/v3/pay/transactions/native", &body.to_string())?).await?.status,
    );
    let path = format!("/v3/pay/transactions/out-trade-no/T%00X?mchid={mchid}");
    record("v3 path id", t.send(t.signed(&m, "GET", &path, "")?).await?.status);
    let path = "/v3/pay/transactions/out-trade-no/HOSTILE01?mchid=%00";
    record("v3 query", t.send(t.signed(&m, "GET", path, "")?).await?.status);
    record("v3 refund path", t.send(t.signed(&m, "GET", "/v3/refund/domestic/refunds/R%00", "")?).await?.status);
    let refund =
        json!({"out_trade_no": "HOSTILE01", "out_refund_no": "R\u{0}1", "amount": {"refund": 1, "total": 100}});
    record(
        "v3 refund body",
        t.send(t.signed(&m, "POST", "/v3/refund/domestic/refunds", &refund.to_string())?).await?.status,
    );
    let bill = "/v3/bill/tradebill?bill_date=2026-11-01%00";
    record("v3 bill query", t.send(t.signed(&m, "GET", bill, "")?).await?.status);

    let sandbox = |method: &str, uri: &str, body: Value| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
    };
    record(
        "sandbox pay",
        t.send(sandbox("POST", "/sandbox/v1/pay", json!({"prepay_id": "wx\u{0}", "consumer": "a"}))?).await?.status,
    );
    record(
        "sandbox query",
        t.send(sandbox("GET", "/sandbox/v1/notifications?out_trade_no=%00", Value::Null)?).await?.status,
    );
    let outcome = json!({"mchid": mchid, "status": "SUCCESS"});
    record("sandbox path", t.send(sandbox("POST", "/sandbox/v1/refunds/R%00/outcome", outcome)?).await?.status);

    record("cashier native", t.send(TestApp::plain("GET", "/pay/native?pr=%00", "")?).await?.status);
    record("cashier h5", t.send(TestApp::plain("GET", "/pay/h5?prepay_id=wx%00", "")?).await?.status);
    let form = Request::builder()
        .method("POST")
        .uri("/pay/confirm")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("kind=native&pr=%00&login=a&password=b"))?;
    record("cashier form", t.send(form).await?.status);
    Ok(answers)
}

fn expected() -> Vec<(String, u16)> {
    [
        ("v3 body", 400),
        ("v3 out_trade_no", 400),
        ("v3 path id", 404),
        ("v3 query", 400),
        ("v3 refund path", 404),
        ("v3 refund body", 400),
        ("v3 bill query", 400),
        ("sandbox pay", 400),
        ("sandbox query", 400),
        ("sandbox path", 404),
        ("cashier native", 404),
        ("cashier h5", 404),
        ("cashier form", 400),
    ]
    .into_iter()
    .map(|(l, s)| (l.to_owned(), s))
    .collect()
}

#[tokio::test]
async fn nul_characters_are_refused_on_sqlite() -> Result<(), Error> {
    let t = TestApp::sandbox().await?;
    assert_eq!(sweep(&t).await?, expected());
    Ok(())
}

#[tokio::test]
async fn nul_characters_are_refused_on_postgres() -> Result<(), Error> {
    if let Some(t) = TestApp::sandbox_on_postgres().await? {
        assert_eq!(sweep(&t).await?, expected());
    }
    Ok(())
}
