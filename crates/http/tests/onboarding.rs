//! Onboarding in process: every validated field answered with a
//! `PARAM_ERROR` naming its path, ciphertext and serial errors, each media
//! quirk of the SDKs, another provider's media refused, the audit queue's
//! order and overdue flag, and sensitive values absent from the raw rows.

use std::io::{Read as _, Write as _};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use serde_json::{json, Value};

use koudai_domain::provider::ProviderKind;
use koudai_protocol::auth::authorization_header;
use koudai_protocol::crypto;
use koudai_store::KeyMode;
use koudai_testkit::{Error, TestApp, TestMerchant, TestProvider, TestResponse};

type R = Result<(), Error>;

const ID_NUMBER: &str = "11010519491231002X";
const PHONE: &str = "13912345678";
const ACCOUNT: &str = "62220212345678901234";
const EMAIL: &str = "owner@example.com";
const CONTACT: &str = "李四";

fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend_from_slice(&[0u8; 64]);
    b
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A multipart body the way wechatpayv3 builds it (the caller picks the
/// headers to vary).
fn multipart(boundary: &str, meta: &str, meta_head: &str, file_head: &str, file: &[u8]) -> Vec<u8> {
    let mut b =
        format!("--{boundary}\r\n{meta_head}\r\n\r\n{meta}\r\n--{boundary}\r\n{file_head}\r\n\r\n").into_bytes();
    b.extend_from_slice(file);
    b.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    b
}

fn meta_of(name: &str, file: &[u8]) -> String {
    format!(r#"{{"filename":"{name}","sha256":"{}"}}"#, hex(&crypto::sha256(file)))
}

fn upload_request(
    t: &TestApp,
    m: &TestMerchant,
    content_type: &str,
    meta: &str,
    body: Vec<u8>,
) -> Result<Request<Body>, Error> {
    let c = &m.created;
    let now = t.app.clock.wall_now().unix();
    let auth = authorization_header(
        &m.key,
        &c.mchid,
        &c.serial_no,
        "POST",
        "/v3/merchant/media/upload",
        now,
        &t.app.rng.token(16),
        meta.as_bytes(),
    )?;
    Ok(Request::builder()
        .method("POST")
        .uri("/v3/merchant/media/upload")
        .header("authorization", auth)
        .header("content-type", content_type)
        .body(Body::from(body))?)
}

/// Uploads a PNG as wechatpayv3 does (no boundary parameter); its media id.
async fn upload(t: &TestApp, m: &TestMerchant, seed: u8) -> Result<String, Error> {
    let mut file = png();
    file.push(seed);
    let meta = meta_of("x.png", &file);
    let body = multipart(
        "b0undary",
        &meta,
        "Content-Disposition: form-data; name=\"meta\"",
        "Content-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\nContent-Type: image/png",
        &file,
    );
    let r = t.send(upload_request(t, m, "multipart/form-data", &meta, body)?).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    Ok(r.json()["media_id"].as_str().unwrap_or_default().to_owned())
}

fn enc(t: &TestApp, s: &str) -> String {
    let c = t.app.platform.public_key.oaep_encrypt(s.as_bytes()).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(c)
}

/// A valid application, sensitive fields encrypted to the platform key.
fn application(t: &TestApp, code: &str, media: &[String], license: &str) -> Value {
    json!({
        "business_code": code,
        "contact_info": {"contact_type": "LEGAL", "contact_name": enc(t, CONTACT), "contact_id_number": enc(t, ID_NUMBER),
                         "mobile_phone": enc(t, PHONE), "contact_email": enc(t, EMAIL)},
        "subject_info": {
            "subject_type": "SUBJECT_TYPE_ENTERPRISE",
            "business_license_info": {"license_copy": media[0], "license_number": license,
                                      "merchant_name": "深圳市测试科技有限公司", "legal_person": "王五",
                                      "period_begin": "2015-01-01", "period_end": "长期"},
            "identity_info": {"id_doc_type": "IDENTIFICATION_TYPE_IDCARD",
                              "id_card_info": {"id_card_copy": media[1], "id_card_national": media[2],
                                               "id_card_name": enc(t, CONTACT), "id_card_number": enc(t, ID_NUMBER),
                                               "id_card_address": enc(t, "北京市西城区某街1号"),
                                               "card_period_begin": "2019-06-06", "card_period_end": "长期"}}
        },
        "business_info": {"merchant_shortname": "测试小店", "service_phone": "0755-86013388",
                          "sales_info": {"sales_scenes_type": ["SALES_SCENES_STORE"]}},
        "settlement_info": {"settlement_id": "716", "qualification_type": "餐饮"},
        "bank_account_info": {"bank_account_type": "BANK_ACCOUNT_TYPE_CORPORATE", "account_name": enc(t, "深圳市测试科技有限公司"),
                              "account_bank": "工商银行", "bank_address_code": "440300", "account_number": enc(t, ACCOUNT)}
    })
}

async fn submit(t: &TestApp, p: &TestProvider, body: &Value, serial: Option<&str>) -> Result<TestResponse, Error> {
    let mut req = t.signed(&p.signer, "POST", "/v3/applyment4sub/applyment/", &body.to_string())?;
    if let Some(s) = serial {
        req.headers_mut().insert("wechatpay-serial", s.parse()?);
    }
    t.send(req).await
}

async fn setup(t: &TestApp) -> Result<(TestProvider, Vec<String>), Error> {
    let p = t.provider(ProviderKind::Official, KeyMode::PublicKey, &["payment_interface", "fast_track_audit"]).await?;
    let mut media = Vec::new();
    for i in 0..3 {
        media.push(upload(t, &p.signer, i).await?);
    }
    Ok((p, media))
}

/// Sets `path` (dotted, with `[i]`) in `v`.
fn set(v: &mut Value, path: &str, value: Value) {
    let mut at = v;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (*part, None),
        };
        let last = i == parts.len() - 1;
        if last && index.is_none() {
            at[name] = value;
            return;
        }
        at = &mut at[name];
        if let Some(ix) = index {
            if last {
                at[ix] = value;
                return;
            }
            at = &mut at[ix];
        }
    }
}

#[tokio::test]
async fn every_validated_field_answers_param_error_naming_its_path() -> R {
    let t = TestApp::sandbox().await?;
    let (p, media) = setup(&t).await?;
    let serial = t.app.platform.public_key_id.clone();
    let other = t.provider(ProviderKind::ThirdParty, KeyMode::PublicKey, &["payment_interface"]).await?;
    let foreign = upload(&t, &other.signer, 9).await?;
    let e = |s: &str| json!(enc(&t, s));
    let cases: Vec<(&str, Value)> = vec![
        ("business_code", json!("有中文")),
        ("business_code", json!("x".repeat(125))),
        ("contact_info", Value::Null),
        ("contact_info.contact_type", json!("BOSS")),
        ("contact_info.contact_name", e("李")),
        ("contact_info.contact_id_doc_type", json!("IDENTIFICATION_TYPE_LIBRARY_CARD")),
        ("contact_info.contact_id_number", e("110105194912310021")),
        ("contact_info.contact_period_begin", json!("2019/06/06")),
        ("contact_info.mobile_phone", e("12345")),
        ("contact_info.contact_email", e("not-an-email")),
        ("subject_info.subject_type", json!("SUBJECT_TYPE_PIRATE")),
        ("subject_info.business_license_info.license_copy", json!("no such media")),
        ("subject_info.business_license_info.license_copy", json!(foreign)),
        ("subject_info.business_license_info.license_number", json!("12345")),
        ("subject_info.business_license_info.merchant_name", json!("x")),
        ("subject_info.business_license_info.legal_person", json!("")),
        ("subject_info.business_license_info.period_end", json!("2001-01-01")),
        ("subject_info.identity_info.id_doc_type", json!("PASSPORT")),
        ("subject_info.identity_info.id_card_info.id_card_copy", json!("")),
        ("subject_info.identity_info.id_card_info.id_card_national", json!("???")),
        ("subject_info.identity_info.id_card_info.id_card_name", e("")),
        ("subject_info.identity_info.id_card_info.id_card_number", e("440524188013010014")),
        ("subject_info.identity_info.id_card_info.card_period_begin", json!("yesterday")),
        ("subject_info.identity_info.id_card_info.card_period_end", json!("2018-01-01")),
        ("business_info.merchant_shortname", json!("")),
        ("business_info.service_phone", json!("call me")),
        ("business_info.sales_info.sales_scenes_type", json!([])),
        ("business_info.sales_info.sales_scenes_type[0]", json!("SALES_SCENES_TELEPATHY")),
        ("settlement_info.settlement_id", json!("999")),
        ("settlement_info.settlement_id", json!("719")),
        ("settlement_info.qualification_type", json!("游戏")),
        ("bank_account_info.bank_account_type", json!("BANK_ACCOUNT_TYPE_PERSONAL")),
        ("bank_account_info.account_name", e("x")),
        ("bank_account_info.account_bank", json!("火星银行")),
        ("bank_account_info.bank_address_code", json!("44030")),
        ("bank_account_info.account_number", e("6222-0212")),
    ];
    for (i, (path, bad)) in cases.iter().enumerate() {
        let mut body = application(&t, &format!("VAL_{i}"), &media, &format!("91440300MA5{i:07}"));
        set(&mut body, path, bad.clone());
        let r = submit(&t, &p, &body, Some(&serial)).await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} = {bad}: {}", r.text());
        let v = r.json();
        assert_eq!(v["code"], "PARAM_ERROR", "{path}: {v}");
        assert_eq!(v["detail"]["field"].as_str(), Some(*path), "{v}");
    }

    // The valid one passes; a bad ciphertext and serial errors are the protocol's.
    let good = application(&t, "VAL_OK", &media, "91440300MA5ZZZZZZZ");
    let r = submit(&t, &p, &good, Some(&serial)).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json()["applyment_id"].is_i64());
    let mut bad = application(&t, "VAL_CIPHER", &media, "91440300MA5YYYYYYY");
    set(&mut bad, "bank_account_info.account_number", json!("bm90IGEgY2lwaGVydGV4dA=="));
    let v = submit(&t, &p, &bad, Some(&serial)).await?.json();
    assert_eq!(
        (v["code"].as_str(), v["detail"]["field"].as_str()),
        (Some("PARAM_ERROR"), Some("bank_account_info.account_number"))
    );
    assert_eq!(v["message"], "请确认待处理的消息是否为加密后的密文");
    let v = submit(&t, &p, &good, None).await?.json();
    assert_eq!(v["message"], "HTTP header缺少微信支付平台证书序列号(Wechatpay-Serial)");
    let v = submit(&t, &p, &good, Some("PUB_KEY_ID_NOT_OURS")).await?.json();
    assert_eq!((v["code"].as_str(), v["detail"]["field"].as_str()), (Some("PARAM_ERROR"), Some("Wechatpay-Serial")));
    // The certificate serial works too, in any case.
    let r = submit(
        &t,
        &p,
        &application(&t, "VAL_CERT", &media, "91440300MA5XXXXXXX"),
        Some(&t.app.platform.certificate.serial_hex.to_ascii_lowercase()),
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // A sensitive word in a name is an INVALID_REQUEST naming the field.
    let mut word = application(&t, "VAL_WORD", &media, "91440300MA5WWWWWWW");
    set(&mut word, "business_info.merchant_shortname", json!("博彩之家"));
    let v = submit(&t, &p, &word, Some(&serial)).await?.json();
    assert_eq!(
        (v["code"].as_str(), v["detail"]["field"].as_str()),
        (Some("INVALID_REQUEST"), Some("business_info.merchant_shortname"))
    );
    // A provider without payment_interface is refused.
    let no = t.provider(ProviderKind::ThirdParty, KeyMode::PublicKey, &[]).await?;
    let r = submit(&t, &no, &good, Some(&serial)).await?;
    assert_eq!(r.json()["code"], "NO_AUTH", "{}", r.text());
    Ok(())
}

const META_HEAD: &str = "Content-Disposition: form-data; name=\"meta\"";
const FILE_HEAD: &str =
    "Content-Disposition: form-data; name=\"file\"; filename=\"licence.jpg\"\r\nContent-Type: image/jpg";

async fn media_app() -> Result<(TestApp, TestMerchant), Error> {
    let t = TestApp::sandbox().await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    Ok((t, m))
}

#[tokio::test]
async fn wechatpayv3_sends_no_boundary_parameter() -> R {
    let (t, m) = media_app().await?;
    let file = png();
    let meta = meta_of("licence.jpg", &file);
    let body = multipart("abc123", &meta, META_HEAD, FILE_HEAD, &file);
    let r = t.send(upload_request(&t, &m, "multipart/form-data", &meta, body)?).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json()["media_id"].as_str().unwrap_or_default().to_owned();
    // The type comes from the bytes: named .jpg, stored as PNG.
    assert_eq!(t.app.store.media(&id).await?.map(|m| m.content_type).as_deref(), Some("image/png"));
    // The same bytes again, with a boundary parameter this time: the same id.
    let body = multipart("zz", &meta, META_HEAD, FILE_HEAD, &file);
    let again = t.send(upload_request(&t, &m, "multipart/form-data; boundary=zz", &meta, body)?).await?;
    assert_eq!(again.json()["media_id"].as_str(), Some(id.as_str()));
    Ok(())
}

#[tokio::test]
async fn the_go_sdk_writes_a_trailing_semicolon_and_a_json_meta_part() -> R {
    let (t, m) = media_app().await?;
    let file = png();
    let meta = meta_of("licence.jpg", &file);
    let head = "Content-Disposition: form-data; name=\"meta\";\r\nContent-Type: application/json";
    let body = multipart("gob", &meta, head, FILE_HEAD, &file);
    let r = t.send(upload_request(&t, &m, "multipart/form-data; boundary=gob", &meta, body)?).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    Ok(())
}

#[tokio::test]
async fn axios_sends_an_octet_stream_meta_and_a_file_without_a_name() -> R {
    let (t, m) = media_app().await?;
    let file = png();
    let meta = meta_of("licence.jpg", &file);
    let body = multipart(
        "ax",
        &meta,
        "Content-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/octet-stream",
        "Content-Disposition: form-data; name=\"file\"\r\nContent-Type: application/octet-stream",
        &file,
    );
    let r = t.send(upload_request(&t, &m, "multipart/form-data; boundary=ax", &meta, body)?).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    Ok(())
}

#[tokio::test]
async fn uploads_are_refused_for_a_wrong_digest_type_size_or_signature() -> R {
    let (t, m) = media_app().await?;
    let file = png();
    let meta = meta_of("licence.jpg", &file);
    let wrong = meta_of("x.png", b"other bytes");
    let r = t
        .send(upload_request(
            &t,
            &m,
            "multipart/form-data",
            &wrong,
            multipart("q", &wrong, META_HEAD, FILE_HEAD, &file),
        )?)
        .await?;
    assert_eq!((r.status, r.json()["detail"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("meta.sha256")));
    let text = b"just text, named like a picture".to_vec();
    let tm = meta_of("x.png", &text);
    let r = t
        .send(upload_request(&t, &m, "multipart/form-data", &tm, multipart("q", &tm, META_HEAD, FILE_HEAD, &text))?)
        .await?;
    assert_eq!(r.json()["detail"]["field"], "file", "{}", r.text());
    let mut big = png();
    big.resize(5 * 1024 * 1024 + 1, 0);
    let bm = meta_of("big.png", &big);
    let r = t
        .send(upload_request(&t, &m, "multipart/form-data", &bm, multipart("q", &bm, META_HEAD, FILE_HEAD, &big))?)
        .await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    // Signed over anything but the meta part as sent.
    let r = t
        .send(upload_request(&t, &m, "multipart/form-data", "{}", multipart("q", &meta, META_HEAD, FILE_HEAD, &file))?)
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn a_chunked_upload_over_a_socket_is_accepted() -> R {
    let t = TestApp::sandbox().await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let addr = t.listen().await?;
    let file = png();
    let meta = meta_of("c.png", &file);
    let body = multipart(
        "chunky",
        &meta,
        "Content-Disposition: form-data; name=\"meta\"",
        "Content-Disposition: form-data; name=\"file\"",
        &file,
    );
    let c = &m.created;
    let auth = authorization_header(
        &m.key,
        &c.mchid,
        &c.serial_no,
        "POST",
        "/v3/merchant/media/upload",
        t.app.clock.wall_now().unix(),
        "chunk-nonce",
        meta.as_bytes(),
    )?;
    let response = tokio::task::spawn_blocking(move || -> Result<String, std::io::Error> {
        let mut s = std::net::TcpStream::connect(addr)?;
        write!(s, "POST /v3/merchant/media/upload HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: multipart/form-data; boundary=chunky\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")?;
        for chunk in body.chunks(7) {
            write!(s, "{:x}\r\n", chunk.len())?;
            s.write_all(chunk)?;
            s.write_all(b"\r\n")?;
        }
        s.write_all(b"0\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })
    .await??;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("media_id"), "{response}");
    Ok(())
}

#[tokio::test]
async fn the_queue_puts_fast_track_first_and_flags_the_overdue() -> R {
    let t = TestApp::sandbox().await?;
    let serial = t.app.platform.public_key_id.clone();
    let normal = t.provider(ProviderKind::ThirdParty, KeyMode::PublicKey, &["payment_interface"]).await?;
    let fast =
        t.provider(ProviderKind::Official, KeyMode::PublicKey, &["payment_interface", "fast_track_audit"]).await?;
    let mut ids = Vec::new();
    for (p, code, license, acct) in [
        (&normal, "Q_NORMAL", "91440300MA5QQQQQQ1", "62220212345678900001"),
        (&fast, "Q_FAST", "91440300MA5QQQQQQ2", "62220212345678900002"),
    ] {
        let media =
            vec![upload(&t, &p.signer, 1).await?, upload(&t, &p.signer, 2).await?, upload(&t, &p.signer, 3).await?];
        let mut body = application(&t, code, &media, license);
        set(&mut body, "bank_account_info.account_number", json!(enc(&t, acct)));
        let r = submit(&t, p, &body, Some(&serial)).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        ids.push(r.json()["applyment_id"].as_i64().unwrap_or_default());
        t.send(sandbox(&t, "/sandbox/v1/clock/advance", json!({"seconds": 60}))?).await?;
    }
    let queue = t.app.store.audit_queue().await?;
    let order: Vec<i64> = queue.iter().map(|a| a.applyment_id).collect();
    assert_eq!(order, [ids[1], ids[0]], "the fast-track one, submitted later, comes first");
    let now = t.app.clock.business_now().unix();
    assert!(queue.iter().all(|a| a.deadline_at > now), "nothing overdue yet");
    assert_eq!(queue[0].deadline_at - queue[0].submitted_at, 4 * 3600);
    let op = t.console_session("op", "operator-password", koudai_store::ConsoleRole::Operator, None).await?;
    let html = queue_page(&t, &op).await?;
    assert!(!html.contains("tag overdue") && html.contains("<span id=\"overdue-count\">0</span>"), "{html}");
    let first = html.find(&ids[1].to_string()).ok_or("fast one listed")?;
    assert!(first < html.find(&ids[0].to_string()).ok_or("normal one listed")?, "fast track first on the page");
    // Past the fast track's four hours: overdue, and the operator sees it.
    t.send(sandbox(&t, "/sandbox/v1/clock/advance", json!({"seconds": 4 * 3600}))?).await?;
    let now = t.app.clock.business_now().unix();
    let queue = t.app.store.audit_queue().await?;
    assert!(queue[0].deadline_at < now && queue[1].deadline_at > now);
    let html = queue_page(&t, &op).await?;
    assert_eq!(html.matches("tag overdue").count(), 1, "{html}");
    assert!(html.contains("<span id=\"overdue-count\">1</span>"));
    Ok(())
}

async fn queue_page(t: &TestApp, cookie: &str) -> Result<String, Error> {
    let req = Request::builder().uri("/console/applyments").header("cookie", cookie).body(Body::empty())?;
    Ok(t.send(req).await?.text())
}

fn sandbox(t: &TestApp, path: &str, body: Value) -> Result<Request<Body>, Error> {
    Ok(Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {}", t.app.sandbox_token.expose()))
        .body(Body::from(body.to_string()))?)
}

#[tokio::test]
async fn sensitive_values_are_not_in_the_database_in_plain_text() -> R {
    let t = TestApp::sandbox().await?;
    let (p, media) = setup(&t).await?;
    let serial = t.app.platform.public_key_id.clone();
    let r = submit(&t, &p, &application(&t, "RAW_1", &media, "91440300MA5RRRRRRR"), Some(&serial)).await?;
    let id = r.json()["applyment_id"].as_i64().ok_or("applyment_id")?;
    let r = t.send(sandbox(&t, &format!("/sandbox/v1/applyments/{id}/audit"), json!({"decision": "approve"}))?).await?;
    assert_eq!(r.json()["applyment_state"], "APPLYMENT_STATE_TO_BE_CONFIRMED", "{}", r.text());
    let store = &t.app.store;
    let mut texts = koudai_store::testing::raw_texts(
        store,
        "applyments",
        &[
            "business_code",
            "merchant_name",
            "merchant_shortname",
            "license_number",
            "account_digest",
            "phone_digest",
            "public_json",
            "sealed",
            "audit_detail",
            "sign_code",
        ],
    )
    .await?;
    texts.extend(koudai_store::testing::raw_texts(store, "applyment_events", &["actor", "reason"]).await?);
    texts.extend(koudai_store::testing::raw_texts(store, "merchants", &["name", "bank_account"]).await?);
    let all = texts.join("\n");
    assert!(all.contains("深圳市测试科技有限公司"), "the rows were read");
    for secret in [ID_NUMBER, PHONE, ACCOUNT, EMAIL, CONTACT, "北京市西城区某街1号"] {
        assert!(!all.contains(secret), "{secret} is stored in plain text");
    }
    // The operator reveals one value: it is the real one, and the reveal is logged.
    let a = store.applyment_by_id(id).await?.ok_or("applyment")?;
    let shown = koudai_app::parties::onboarding::reveal(&t.app, &a, "contact_info.mobile_phone", "operator:op").await?;
    assert_eq!(shown.as_deref(), Some(PHONE));
    assert_eq!(store.reveals(a.id).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn hostile_applications_never_reach_a_5xx() -> R {
    let t = TestApp::sandbox().await?;
    let (p, media) = setup(&t).await?;
    let serial = t.app.platform.public_key_id.clone();
    let deep = "[".repeat(3000) + &"]".repeat(3000);
    let mut bodies: Vec<Value> = vec![
        json!({}),
        json!({"contact_info": 5}),
        json!({"contact_info": {"contact_name": 123, "mobile_phone": {"x": 1}}}),
        json!({"subject_info": {"ubo_info_list": "x"}}),
        json!({"subject_info": {"ubo_info_list": [{"ubo_id_doc_name": {}}, 7, null]}}),
        json!({"business_code": "A\u{0}B"}),
        json!({"business_code": "x".repeat(100_000)}),
        json!({"bank_account_info": {"account_number": "%%%%", "account_name": ""}}),
    ];
    let mut with_ubo = application(&t, "HOSTILE_UBO", &media, "91440300MA5HHHHHHH");
    with_ubo["subject_info"]["ubo_info_list"] = json!([{"ubo_id_doc_type": "IDENTIFICATION_TYPE_IDCARD", "ubo_id_doc_copy": media[0],
        "ubo_id_doc_name": enc(&t, "赵六"), "ubo_id_doc_number": enc(&t, "not a number"), "ubo_id_doc_address": enc(&t, "x"),
        "ubo_period_begin": "2020-01-01", "ubo_period_end": "长期"}]);
    bodies.push(with_ubo);
    for body in &bodies {
        let r = submit(&t, &p, body, Some(&serial)).await?;
        assert!(r.status.is_client_error(), "{:.80}: {} {}", body.to_string(), r.status, r.text());
    }
    let mut req = t.signed(&p.signer, "POST", "/v3/applyment4sub/applyment/", &deep)?;
    req.headers_mut().insert("wechatpay-serial", serial.parse()?);
    assert!(t.send(req).await?.status.is_client_error());
    Ok(())
}

#[tokio::test]
async fn an_approved_application_left_unsigned_for_30_days_is_canceled() -> R {
    let t = TestApp::sandbox().await?;
    let (p, media) = setup(&t).await?;
    let serial = t.app.platform.public_key_id.clone();
    let r = submit(&t, &p, &application(&t, "CANCEL_1", &media, "91440300MA5CCCCCCC"), Some(&serial)).await?;
    let id = r.json()["applyment_id"].as_i64().ok_or("applyment_id")?;
    t.send(sandbox(&t, &format!("/sandbox/v1/applyments/{id}/audit"), json!({"decision": "approve"}))?).await?;
    t.send(sandbox(&t, "/sandbox/v1/clock/advance", json!({"seconds": 29 * 86_400}))?).await?;
    let state = |t: &TestApp| {
        let store = t.app.store.clone();
        async move { Ok::<_, Error>(store.applyment_by_id(id).await?.ok_or("applyment")?.state.as_str()) }
    };
    assert_eq!(state(&t).await?, "APPLYMENT_STATE_TO_BE_CONFIRMED");
    t.send(sandbox(&t, "/sandbox/v1/clock/advance", json!({"seconds": 2 * 86_400}))?).await?;
    assert_eq!(state(&t).await?, "APPLYMENT_STATE_CANCELED");
    // Signing is over for it.
    let r = t.send(sandbox(&t, &format!("/sandbox/v1/applyments/{id}/sign"), json!({}))?).await?;
    assert_eq!((r.status, r.json()["code"].as_str()), (StatusCode::CONFLICT, Some("INVALID_STATE")));
    let events = t.app.store.applyment_events(t.app.store.applyment_by_id(id).await?.ok_or("a")?.id).await?;
    let path: Vec<_> = events.iter().map(|e| (e.to_state.as_str(), e.actor.as_str())).collect();
    let provider = format!("merchant:{}", p.sp_mchid());
    assert_eq!(
        path,
        [
            ("APPLYMENT_STATE_AUDITING", provider.as_str()),
            ("APPLYMENT_STATE_TO_BE_CONFIRMED", "sandbox"),
            ("APPLYMENT_STATE_CANCELED", "system"),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn videos_go_to_the_video_endpoint_only() -> R {
    let (t, m) = media_app().await?;
    let mut mp4 = b"\x00\x00\x00\x18ftypmp42".to_vec();
    mp4.extend_from_slice(&[1u8; 64]);
    let c = &m.created;
    for (path, file, ok) in [
        ("/v3/merchant/media/video_upload", &mp4, true),
        ("/v3/merchant/media/upload", &mp4, false),
        ("/v3/merchant/media/video_upload", &png(), false),
    ] {
        let meta = meta_of("clip.mp4", file);
        let auth = authorization_header(
            &m.key,
            &c.mchid,
            &c.serial_no,
            "POST",
            path,
            t.app.clock.wall_now().unix(),
            &t.app.rng.token(16),
            meta.as_bytes(),
        )?;
        let body = multipart(
            "v",
            &meta,
            META_HEAD,
            "Content-Disposition: form-data; name=\"file\"; filename=\"clip.mp4\"",
            file,
        );
        let req = Request::builder()
            .method("POST")
            .uri(path)
            .header("authorization", auth)
            .header("content-type", "multipart/form-data")
            .body(Body::from(body))?;
        let r = t.send(req).await?;
        assert_eq!(r.status == StatusCode::OK, ok, "{path}: {}", r.text());
    }
    Ok(())
}
