//! Property tests over hostile bytes, bounded in time: the request-body
//! reader never panics, and whatever JSON a merchant sends to a prepay
//! endpoint, the answer is a 2xx or a 4xx in the catalogue's shape, never a
//! 5xx. (The `Authorization` parser has its own in `koudai-protocol`.)

use axum::http::StatusCode;
use proptest::prelude::*;
use serde_json::{json, Value};

use koudai_store::KeyMode;
use koudai_testkit::TestApp;

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A prepay body with some fields replaced by arbitrary JSON.
fn mangled_prepay() -> impl Strategy<Value = Value> {
    let fields = ["appid", "mchid", "description", "out_trade_no", "notify_url", "amount", "payer", "scene_info"];
    (prop::collection::vec((0..fields.len(), arbitrary_json()), 0..4), arbitrary_json()).prop_map(
        move |(swaps, extra)| {
            let mut v = json!({
                "appid": "wx0000000000000000", "mchid": "1900000000", "description": "tea",
                "out_trade_no": "FUZZ000001", "notify_url": "http://127.0.0.1:9/n", "amount": {"total": 1}
            });
            for (i, value) in swaps {
                v[fields[i]] = value;
            }
            v["extra"] = extra;
            v
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_body_reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = koudai_http::v3::auth::json_value(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20, ..ProptestConfig::default() })]

    #[test]
    fn no_prepay_body_gets_a_5xx(bodies in prop::collection::vec(mangled_prepay(), 1..12)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        runtime.block_on(async {
            let t = TestApp::sandbox().await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let m = t.merchant(KeyMode::PublicKey).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            for mut body in bodies {
                if body.get("mchid").and_then(Value::as_str) == Some("1900000000") {
                    body["mchid"] = json!(m.created.mchid);
                }
                let req = t.signed(&m, "POST", "/v3/pay/transactions/native", &body.to_string())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let r = t.send(req).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(r.status < StatusCode::INTERNAL_SERVER_ERROR, "{} for {body}: {}", r.status, r.text());
                if !r.status.is_success() {
                    prop_assert!(r.json()["code"].is_string(), "catalogue shape: {}", r.text());
                }
            }
            Ok(())
        })?;
    }
}
