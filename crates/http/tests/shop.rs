//! The WeChat Shop surface in process: hostile input answered with
//! errcodes (never a 5xx) and concurrent stock reductions that never take
//! a SKU below zero, on both engines.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt as _;

use koudai_store::KeyMode;
use koudai_testkit::{Error, TestApp};

type R = Result<(), Error>;

koudai_testkit::on_both_engines!(
    concurrent_stock_reductions_never_oversell,
    hostile_input_gets_errcodes_never_a_5xx,
    hostile_shop_pages_never_get_a_5xx
);

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\0\0\0\0\0\0\0\0\0";

/// An eligible account's token.
async fn token(t: &TestApp) -> Result<String, Error> {
    Ok(account(t).await?.1)
}

/// An eligible account's appid and token.
async fn account(t: &TestApp) -> Result<(String, String), Error> {
    let m = t.merchant(KeyMode::PublicKey).await?;
    let app = &t.app;
    let a =
        koudai_app::mp::create_account(&app.store, &app.rng, &m.appid, &m.created.mchid, "Shop", app.clock.wall_now())
            .await?;
    koudai_app::access::eligibility::set_verified(&app.store, &a.appid, true, "test", app.clock.business_now().unix())
        .await?;
    let path = format!("/cgi-bin/token?grant_type=client_credential&appid={}&secret={}", a.appid, a.secret);
    let v = t.send(Request::builder().uri(path).body(Body::empty())?).await?.json();
    Ok((a.appid, v["access_token"].as_str().ok_or(format!("{v}"))?.to_owned()))
}

async fn post(t: &TestApp, path: &str, token: &str, body: impl Into<Body>) -> Result<Value, Error> {
    let req = Request::builder()
        .method("POST")
        .uri(format!("{path}?access_token={token}&filename=a.png"))
        .body(body.into())?;
    let r = t.send(req).await?;
    assert_eq!(r.status, StatusCode::OK, "{path}");
    Ok(r.json())
}

/// A single-spec necklace with `stock` items; returns its id.
async fn necklace(t: &TestApp, token: &str, stock: i64) -> Result<String, Error> {
    let img = post(t, "/merchant/common/upload_img", token, PNG.to_vec()).await?["image_url"]
        .as_str()
        .ok_or("an image url")?
        .to_owned();
    let body = json!({"product_base": {"category_id": ["537074501"], "name": "Necklace", "main_img": img, "img": [img],
                       "detail": [{"text": "silver"}]},
                      "sku_list": [{"sku_id": "", "price": 100, "ori_price": 200, "quantity": stock}],
                      "attrext": {"isPostFree": 1}});
    let v = post(t, "/merchant/create", token, body.to_string()).await?;
    Ok(v["product_id"].as_str().ok_or(format!("{v}"))?.to_owned())
}

async fn concurrent_stock_reductions_never_oversell(t: TestApp) -> R {
    let token = token(&t).await?;
    let pid = necklace(&t, &token, 10).await?;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let router = t.router.clone();
        let body = json!({"product_id": pid, "sku_info": "", "quantity": 1}).to_string();
        let uri = format!("/merchant/stock/reduce?access_token={token}");
        set.spawn(async move {
            let req = Request::builder().method("POST").uri(uri).body(Body::from(body))?;
            let resp = router.oneshot(req).await?;
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await?;
            Ok::<Value, Error>(serde_json::from_slice(&bytes)?)
        });
    }
    let mut sold = 0;
    let mut refused = 0;
    while let Some(r) = set.join_next().await {
        let v = r??;
        match v["errcode"].as_i64() {
            Some(0) => sold += 1,
            Some(40097) => refused += 1,
            _ => return Err(format!("unexpected answer {v}").into()),
        }
    }
    assert_eq!((sold, refused), (10, 10));
    let v = post(&t, "/merchant/get", &token, json!({"product_id": pid}).to_string()).await?;
    assert_eq!(v["product_info"]["sku_list"][0]["quantity"], 0, "{v}");
    Ok(())
}

async fn hostile_input_gets_errcodes_never_a_5xx(t: TestApp) -> R {
    let token = token(&t).await?;
    let pid = necklace(&t, &token, 1).await?;
    let deep = "[".repeat(5000) + &"]".repeat(5000);
    let bodies = [
        String::new(),
        "null".into(),
        "[]".into(),
        "{".into(),
        deep,
        json!({"product_id": pid, "quantity": 9_223_372_036_854_775_807_i64, "sku_info": ""}).to_string(),
        json!({"product_id": "' OR 1=1 --", "status": "x", "cate_id": {}, "group_id": -1}).to_string(),
        json!({"product_id": pid, "product_base": {"category_id": [[]], "name": "\u{0}"}, "sku_list": "x"}).to_string(),
        json!({"shelf_data": {"module_infos": [{"eid": 9}]}, "shelf_name": "s", "shelf_id": "9999999999999999999999"})
            .to_string(),
        json!({"delivery_template": {"Name": "t", "Assumer": 0, "Valuation": 0, "TopFee": [{"Type": 1}]}}).to_string(),
        json!({"group_detail": {"group_name": "g", "product_list": [pid, pid, 12]}}).to_string(),
    ];
    let paths = [
        "create",
        "del",
        "update",
        "get",
        "getbystatus",
        "modproductstatus",
        "category/getsub",
        "category/getsku",
        "category/getproperty",
        "stock/add",
        "stock/reduce",
        "express/add",
        "express/update",
        "express/getbyid",
        "group/add",
        "group/productmod",
        "group/getbyid",
        "shelf/add",
        "shelf/mod",
        "shelf/getbyid",
        "common/upload_img",
        "order/getbyid",
        "order/getbyfilter",
        "order/setdelivery",
        "order/close",
        "no/such/path",
    ];
    for path in paths {
        for body in &bodies {
            let req = Request::builder()
                .method("POST")
                .uri(format!("/merchant/{path}?access_token={token}"))
                .body(Body::from(body.clone()))?;
            let r = t.send(req).await?;
            let v = r.json();
            let fine = v["errcode"].is_i64() && v["errcode"] != -1;
            assert!(r.status == StatusCode::OK && fine, "{path} {body:.40}: {} {}", r.status, r.text());
        }
    }
    for path in ["/shop/img/%00", "/shop/img/..%2F..%2Fetc", "/merchant/get?access_token=%00"] {
        let r = t.send(Request::builder().uri(path).body(Body::empty())?).await?;
        assert!(r.status.as_u16() < 500, "{path}: {}", r.status);
    }
    Ok(())
}

async fn hostile_shop_pages_never_get_a_5xx(t: TestApp) -> R {
    let (appid, token) = account(&t).await?;
    let pid = necklace(&t, &token, 1).await?;
    let gets = [
        format!("/mp/{appid}/shop"),
        format!("/mp/{appid}/shop/{pid}"),
        format!("/mp/{appid}/shop/%00"),
        format!("/mp/{appid}/shop/..%2F..%2Fx"),
        format!("/mp/{appid}/orders"),
        format!("/mp/{appid}/orders/99999999999999999999999999"),
        format!("/mp/{appid}/orders/%FF"),
        "/mp/%00/shop".to_owned(),
        "/console/accounts/%00/shop".to_owned(),
    ];
    for path in &gets {
        let r = t.send(Request::builder().uri(path.as_str()).body(Body::empty())?).await?;
        assert!(r.status.as_u16() < 500, "{path}: {}", r.status);
    }
    let posts = [
        format!("/mp/{appid}/shop/{pid}/buy"),
        format!("/mp/{appid}/orders/1/act"),
        format!("/console/accounts/{appid}/orders/1/ship"),
        format!("/console/accounts/{appid}/products/{pid}/stock"),
    ];
    for path in &posts {
        for body in ["", "csrf=x&count=-1&sku_info=%00", "count=99999999999999999999", "action=open_rights&reason="] {
            let req = Request::builder()
                .method("POST")
                .uri(path.as_str())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))?;
            let r = t.send(req).await?;
            assert!(r.status.as_u16() < 500, "{path} {body}: {}", r.status);
        }
    }
    Ok(())
}
