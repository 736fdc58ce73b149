//! Store pay codes and the discovery centre in process, on both engines:
//! hostile bodies, queries, pages and console forms answered below 500;
//! click links that are forged, altered or stale count nothing; a payment
//! long after a click is not the click's; a store payment's money balances.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use koudai_store::{KeyMode, PoiRow};
use koudai_testkit::{Error, TestApp};

type R = Result<(), Error>;

koudai_testkit::on_both_engines!(
    hostile_api_input_is_refused_never_a_5xx,
    hostile_pages_and_forms_never_get_a_5xx_nor_change_anything,
    a_click_is_attributed_once,
    featuring_an_account_needs_the_providers_privilege,
    the_directory_is_paged_and_its_impressions_are_counted_in_memory_then_written,
    the_directory_in_memory_ranks_as_a_fresh_computation_on_random_worlds
);

fn bearer(t: &TestApp) -> String {
    format!("Bearer {}", t.app.sandbox_token.expose())
}

async fn sandbox(t: &TestApp, method: &str, uri: &str, body: &str) -> Result<koudai_testkit::TestResponse, Error> {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", bearer(t))
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))?;
    t.send(req).await
}

/// A listed account of a merchant, an approved store of it, and a consumer
/// with money: (appid, poi_id).
async fn world(t: &TestApp) -> Result<(String, String), Error> {
    let app = &t.app;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let a =
        koudai_app::mp::create_account(&app.store, &app.rng, &m.appid, &m.created.mchid, "Tea", app.clock.wall_now())
            .await?;
    let now = app.clock.business_now();
    koudai_app::access::eligibility::set_verified(&app.store, &a.appid, true, "test", now.unix()).await?;
    let poi_id = format!("4{:08}", now.unix() % 100_000_000);
    let info = json!({"sid": "s1", "business_name": "Tea", "branch_name": "A", "province": "广东省", "city": "广州市",
                      "district": "天河区", "address": "1 Road", "telephone": "020-1", "categories": ["美食,茶馆,茶馆"],
                      "offset_type": 1, "longitude": 113.32, "latitude": 23.13});
    app.store
        .create_store(&PoiRow {
            poi_id: poi_id.clone(),
            appid: a.appid.clone(),
            sid: "s1".into(),
            base_info: info.to_string(),
            available_state: 3,
            pending: None,
            reason: String::new(),
            created_at: now.unix(),
            updated_at: now.unix(),
            prices: String::new(),
        })
        .await?;
    koudai_app::parties::create_consumer(&app.store, &app.rng, "carol", "carol-password", 100_000, now).await?;
    Ok((a.appid, poi_id))
}

async fn hostile_api_input_is_refused_never_a_5xx(t: TestApp) -> R {
    let (_, poi_id) = world(&t).await?;
    let deep = "[".repeat(5000) + &"]".repeat(5000);
    let bodies = [
        String::new(),
        "null".into(),
        "[]".into(),
        "{".into(),
        deep,
        json!({"poi_id": poi_id, "consumer": "carol", "amount": 9_223_372_036_854_775_807_i64}).to_string(),
        json!({"poi_id": poi_id, "consumer": "carol", "amount": -5}).to_string(),
        json!({"poi_id": poi_id, "consumer": "carol", "amount": 1e300}).to_string(),
        json!({"poi_id": poi_id, "consumer": "\u{0}", "amount": 1}).to_string(),
        json!({"poi_id": "' OR 1=1 --", "consumer": "carol", "amount": 1}).to_string(),
        json!({"poi_id": -1, "consumer": "carol", "amount": 1}).to_string(),
        json!({"poi_id": {}, "consumer": [], "amount": {}}).to_string(),
        json!({"poi_id": poi_id, "consumer": "carol", "amount": 1, "request_id": "x".repeat(65)}).to_string(),
        json!({"poi_id": poi_id, "consumer": "carol", "amount": 1, "follow": "yes"}).to_string(),
    ];
    for body in &bodies {
        let r = sandbox(&t, "POST", "/sandbox/v1/storepay", body).await?;
        assert!(r.status.is_client_error(), "{body:.80}: {} {}", r.status, r.text());
        assert!(r.json()["code"].is_string(), "{body:.80}: {}", r.text());
    }
    for query in [
        "",
        "consumer=",
        "consumer=carol&lat=NaN&lng=1",
        "consumer=carol&lat=inf&lng=inf",
        "consumer=carol&lat=1",
        "consumer=carol&q=%00",
        "consumer=carol&category=%FF",
        "consumer=carol&q=%27%20OR%201%3D1",
    ] {
        let r = sandbox(&t, "GET", &format!("/sandbox/v1/discovery?{query}"), "").await?;
        assert!(r.status.as_u16() < 500, "{query}: {}", r.status);
    }
    for query in ["", "from=2026-13-01&to=2026-11-01", "from=2026-11-02&to=2026-11-01", "from=x&to=y"] {
        let r = sandbox(&t, "GET", &format!("/sandbox/v1/discovery/report?{query}"), "").await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
    }
    Ok(())
}

async fn hostile_pages_and_forms_never_get_a_5xx_nor_change_anything(t: TestApp) -> R {
    let (appid, poi_id) = world(&t).await?;
    let gets = [
        format!("/store/{poi_id}"),
        format!("/store/{poi_id}/print"),
        format!("/store/{poi_id}/code.png"),
        format!("/store/{poi_id}/paid/STORE1"),
        format!("/store/{poi_id}/paid/%00"),
        "/store/%00".to_owned(),
        "/store/99999999999999999999999999/code.png".to_owned(),
        "/store/..%2F..%2Fetc/print".to_owned(),
        "/discover".to_owned(),
        "/discover?lat=NaN&lng=1".to_owned(),
        "/discover?lat=1e999&lng=-1e999".to_owned(),
        "/discover?q=%3Cscript%3E&category=%FF".to_owned(),
        format!("/discover?q={}", "x".repeat(5000)),
        "/discover/go/x".to_owned(),
        "/discover/go/.".to_owned(),
        "/discover/go/e30".to_owned(),
        format!("/discover/go/{}", "A".repeat(3000)),
        format!("/discover/go/{}", "A".repeat(200)),
        "/console/discovery".to_owned(),
        "/console/discovery/report?from=2026-01-01&to=2027-12-31".to_owned(),
        "/console/discovery/report.csv?from=%00".to_owned(),
        format!("/console/accounts/{appid}/stores"),
    ];
    for path in &gets {
        let r = t.send(Request::builder().uri(path.as_str()).body(Body::empty())?).await?;
        assert!(r.status.as_u16() < 500, "{path}: {}", r.status);
    }
    let cookie =
        t.console_session("op-hostile", "op-hostile-password", koudai_store::ConsoleRole::Operator, None).await?;
    let page =
        t.send(Request::builder().uri("/console/discovery").header("cookie", &cookie).body(Body::empty())?).await?;
    assert_eq!(page.status, StatusCode::OK);
    let csrf =
        page.text().split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_owned();
    let posts = [
        (format!("/store/{poi_id}/pay"), vec!["", "csrf=x&amount=-1", "amount=99999999999999999999&attempt=%00"]),
        ("/discover/login".to_owned(), vec!["", "login=%00&password=x", "login=carol&password=&next=https://evil.example"]),
        (
            "/console/discovery/featured".to_owned(),
            vec!["", "csrf=CSRF&version=x", "csrf=CSRF&version=0&action=add&appid=%00&reason=r", "csrf=CSRF&version=0&action=up&appid=nobody&reason=r"],
        ),
        (
            "/console/discovery/ranking".to_owned(),
            vec![
                "csrf=CSRF&version=0&window_days=1e9&sales=NaN&rating=inf&freshness=-1&half_life=0&prior_orders=x&prior_stars=9&near_km=0&reason=r",
                "csrf=CSRF&version=0&window_days=30&sales=1&rating=1&freshness=1&half_life=14&prior_orders=5&prior_stars=4&near_km=5&reason=",
                "csrf=CSRF&version=99&window_days=30",
            ],
        ),
        (format!("/console/accounts/{appid}/stores/{poi_id}/prices"), vec!["csrf=CSRF&prices=1e9,-1,abc", "csrf=CSRF&prices=%00"]),
        (format!("/console/accounts/{appid}/storepay-notify"), vec!["csrf=CSRF&notify_url=javascript:alert(1)", "csrf=CSRF&notify_url=%00"]),
    ];
    for (path, bodies) in &posts {
        for body in bodies {
            let body = body.replace("CSRF", &csrf);
            let req = Request::builder()
                .method("POST")
                .uri(path.as_str())
                .header("cookie", &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body.clone()))?;
            let r = t.send(req).await?;
            assert!(r.status.as_u16() < 500, "{path} {body}: {}", r.status);
            if path == "/discover/login" {
                assert_ne!(r.header("location"), Some("https://evil.example"), "no open redirect");
            }
        }
    }
    // The add-store form (multipart): garbage, a NUL in a field, an
    // oversized photo, a photo that is not an image.
    let path = format!("/console/accounts/{appid}/stores/add");
    let part = |name: &str, value: &[u8], file: bool| {
        let disposition = if file {
            format!("form-data; name=\"{name}\"; filename=\"p.png\"\r\nContent-Type: image/png")
        } else {
            format!("form-data; name=\"{name}\"")
        };
        [format!("--XB\r\nContent-Disposition: {disposition}\r\n\r\n").into_bytes(), value.to_vec(), b"\r\n".to_vec()]
            .concat()
    };
    let form = |parts: Vec<Vec<u8>>| [parts.concat(), b"--XB--\r\n".to_vec()].concat();
    let bodies: Vec<(Vec<u8>, &str)> = vec![
        (b"not multipart at all".to_vec(), "multipart/form-data; boundary=XB"),
        (
            form(vec![part("csrf", csrf.as_bytes(), false), part("business_name", b"a\0b", false)]),
            "multipart/form-data; boundary=XB",
        ),
        (
            form(vec![part("csrf", csrf.as_bytes(), false), part("photo", &vec![0x89; 2 * 1024 * 1024], true)]),
            "multipart/form-data; boundary=XB",
        ),
        (
            form(vec![
                part("csrf", csrf.as_bytes(), false),
                part("business_name", b"T", false),
                part("photo", b"GIF89a", true),
            ]),
            "multipart/form-data; boundary=XB",
        ),
        (form(vec![part("csrf", b"wrong", false)]), "multipart/form-data; boundary=XB"),
        (b"csrf=x&business_name=y".to_vec(), "application/x-www-form-urlencoded"),
    ];
    for (body, content_type) in bodies {
        let req = Request::builder()
            .method("POST")
            .uri(path.as_str())
            .header("cookie", &cookie)
            .header("content-type", content_type)
            .body(Body::from(body))?;
        let r = t.send(req).await?;
        assert!(r.status.is_client_error() || r.status == StatusCode::FORBIDDEN, "{path} {content_type}: {}", r.status);
    }
    assert_eq!(t.app.store.pois(&appid, 0, 10).await?.1, 1, "no store was added");
    // Nothing the forms above sent was published.
    assert!(t.app.store.discovery_versions().await?.is_empty());
    Ok(())
}

fn click_url(d: &Value, appid: &str) -> Result<String, Error> {
    let e =
        d["entries"].as_array().into_iter().flatten().find(|e| e["appid"] == appid).ok_or("the account is listed")?;
    let url = e["click_url"].as_str().ok_or("a click url")?;
    Ok(url[url.find("/discover/go/").ok_or("a click path")?..].to_owned())
}

async fn totals(t: &TestApp) -> Result<Value, Error> {
    let day = koudai_domain::fees::format_date(koudai_domain::fees::business_date(t.app.clock.business_now().unix()));
    let r = sandbox(t, "GET", &format!("/sandbox/v1/discovery/report?from=2026-01-01&to={day}"), "").await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    Ok(r.json()["totals"].clone())
}

async fn a_click_is_attributed_once(t: TestApp) -> R {
    let (appid, poi_id) = world(&t).await?;
    let d = sandbox(&t, "GET", "/sandbox/v1/discovery?consumer=carol", "").await?.json();
    let go = click_url(&d, &appid)?;
    // An altered link counts nothing and leads nowhere.
    let middle = go.len() - 20;
    let flipped = if &go[middle..=middle] == "A" { "B" } else { "A" };
    let forged = format!("{}{flipped}{}", &go[..middle], &go[middle + 1..]);
    let r = t.send(Request::builder().uri(forged).body(Body::empty())?).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(totals(&t).await?["clicks"], 0);

    // A link older than a day still leads to the account but counts nothing.
    let r = sandbox(&t, "POST", "/sandbox/v1/clock/advance", &json!({"seconds": 2 * 86_400}).to_string()).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = t.send(Request::builder().uri(go.as_str()).body(Body::empty())?).await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(totals(&t).await?["clicks"], 0);

    // A fresh click; a payment eight days later is not the click's.
    let d = sandbox(&t, "GET", "/sandbox/v1/discovery?consumer=carol", "").await?.json();
    let go = click_url(&d, &appid)?;
    for _ in 0..2 {
        let r = t.send(Request::builder().uri(go.as_str()).body(Body::empty())?).await?;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }
    assert_eq!(totals(&t).await?["clicks"], 1);
    let r = sandbox(&t, "POST", "/sandbox/v1/clock/advance", &json!({"seconds": 8 * 86_400}).to_string()).await?;
    assert_eq!(r.status, StatusCode::OK);
    let pay = json!({"poi_id": poi_id, "consumer": "carol", "amount": 250}).to_string();
    let r = sandbox(&t, "POST", "/sandbox/v1/storepay", &pay).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(totals(&t).await?["orders"], 0);
    // Within the window it is, once (a minute later: a click in the same
    // second as a payment counts for it).
    let r = sandbox(&t, "POST", "/sandbox/v1/clock/advance", &json!({"seconds": 60}).to_string()).await?;
    assert_eq!(r.status, StatusCode::OK);
    let d = sandbox(&t, "GET", "/sandbox/v1/discovery?consumer=carol", "").await?.json();
    let r = t.send(Request::builder().uri(click_url(&d, &appid)?).body(Body::empty())?).await?;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let pay = json!({"poi_id": poi_id, "consumer": "carol", "amount": 250, "request_id": "a1"}).to_string();
    for _ in 0..3 {
        let r = sandbox(&t, "POST", "/sandbox/v1/storepay", &pay).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let counted = totals(&t).await?;
    assert_eq!(
        (counted["clicks"].as_i64(), counted["orders"].as_i64(), counted["gmv"].as_i64()),
        (Some(2), Some(1), Some(250))
    );
    assert_eq!(counted["impressions"].as_i64(), Some(3), "three views of one entry");
    // A crash between the payment and its attribution: the sweep writes it
    // from the payment's time, once.
    let gone =
        koudai_store::testing::execute(&t.app.store, "DELETE FROM discovery_conversions WHERE kind = 'order'").await?;
    assert_eq!(gone, 1);
    assert_eq!(totals(&t).await?["orders"], 0);
    assert_eq!(koudai_app::discovery::repair(&t.app).await?, 1);
    assert_eq!(koudai_app::discovery::repair(&t.app).await?, 0);
    let repaired = totals(&t).await?;
    assert_eq!((repaired["orders"].as_i64(), repaired["gmv"].as_i64()), (Some(1), Some(250)));
    // The ledger balances after every store payment.
    let problems = koudai_app::payments::settlement::verify(&t.app.store, t.app.clock.business_now()).await?;
    assert!(problems.is_empty(), "{problems:?}");
    Ok(())
}

async fn featuring_an_account_needs_the_providers_privilege(t: TestApp) -> R {
    use koudai_app::discovery::{self, ChangeError};
    use koudai_domain::discovery::Slot;
    use koudai_domain::provider::{GrantAction, ProviderKind};
    let app = &t.app;
    let now = app.clock.business_now();
    let mut accounts = Vec::new();
    for privileges in [&["payment_interface", "discovery_featured"][..], &["payment_interface"][..]] {
        let p = t.provider(ProviderKind::ThirdParty, KeyMode::PublicKey, privileges).await?;
        let a = koudai_app::mp::create_account(
            &app.store,
            &app.rng,
            &p.sub_appid,
            &p.sub_mchid,
            "Sub",
            app.clock.wall_now(),
        )
        .await?;
        koudai_app::access::eligibility::set_verified(&app.store, &a.appid, true, "test", now.unix()).await?;
        accounts.push((p.signer.created.mchid.clone(), a.appid));
    }
    let listed =
        |d: &discovery::Directory, appid: &str| d.entries.iter().find(|e| e.appid == appid).map(|e| e.featured);
    let d = discovery::directory(app, None, &discovery::Query::default(), false).await?;
    assert_eq!(listed(&d, &accounts[0].1), Some(false), "listed, not featured yet");
    assert_eq!(listed(&d, &accounts[1].1), Some(false));

    // The provider without the privilege: refused, with the reason.
    let mut config = d.config.clone();
    config.featured.push(Slot { appid: accounts[1].1.clone(), note: String::new() });
    match discovery::publish(app, 0, &config, "operator:test", "campaign").await {
        Err(ChangeError::Invalid(why)) => assert!(why.contains("discovery_featured"), "{why}"),
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    // With it: featured, first.
    config.featured = vec![Slot { appid: accounts[0].1.clone(), note: "winter".into() }];
    assert_eq!(discovery::publish(app, 0, &config, "operator:test", "campaign").await?, 1);
    assert!(matches!(discovery::publish(app, 0, &config, "operator:test", "again").await, Err(ChangeError::Stale(0))));
    let d = discovery::directory(app, None, &discovery::Query::default(), false).await?;
    assert_eq!((d.entries[0].appid.as_str(), d.entries[0].slot), (accounts[0].1.as_str(), Some(1)));
    // Revoked: the slot stays in the document but is not shown as featured.
    let cmd = koudai_app::parties::providers::GrantCommand {
        sp_mchid: &accounts[0].0,
        privilege: "discovery_featured",
        action: GrantAction::Revoke,
        actor: "operator:test",
        reason: "campaign over",
        expires_at: None,
    };
    koudai_app::parties::providers::change_privilege(&app.store, cmd, app.clock.business_now()).await?;
    let d = discovery::directory(app, None, &discovery::Query::default(), false).await?;
    assert_eq!(listed(&d, &accounts[0].1), Some(false));
    assert_eq!(d.config.featured.len(), 1);
    assert_eq!(app.store.discovery_versions().await?.len(), 1, "every change is a version");
    Ok(())
}

async fn the_directory_is_paged_and_its_impressions_are_counted_in_memory_then_written(t: TestApp) -> R {
    use koudai_app::discovery::{self, Query, PAGE_SIZE};
    let app = &t.app;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let now = app.clock.wall_now();
    for i in 0..PAGE_SIZE + 5 {
        let appid = koudai_app::parties::create_app(&app.store, &app.rng, None, "Shop", &m.created.mchid, now).await?;
        koudai_app::mp::create_account(&app.store, &app.rng, &appid, &m.created.mchid, &format!("Shop {i}"), now)
            .await?;
        koudai_app::access::eligibility::set_verified(&app.store, &appid, true, "test", now.unix()).await?;
    }
    let page = |n: usize| Query { page: n, ..Query::default() };
    let all = discovery::directory(app, None, &page(1), false).await?;
    let total = all.total;
    assert!(total >= PAGE_SIZE + 5, "{total} listed");
    assert_eq!((all.entries.len(), all.pages), (PAGE_SIZE, total.div_ceil(PAGE_SIZE)));
    // The pages together are the directory, in order, each account once.
    let mut seen = Vec::new();
    for n in 1..=all.pages {
        let d = discovery::directory(app, None, &page(n), false).await?;
        assert_eq!(d.page, n);
        seen.extend(d.entries.into_iter().map(|e| (e.position, e.appid)));
    }
    let positions: Vec<usize> = seen.iter().map(|(p, _)| *p).collect();
    assert_eq!(positions, (1..=total).collect::<Vec<_>>());
    let distinct: std::collections::HashSet<_> = seen.iter().map(|(_, a)| a.clone()).collect();
    assert_eq!(distinct.len(), total);
    // Past the last page reads as the last; page 0 as the first.
    assert_eq!(discovery::directory(app, None, &page(999), false).await?.page, all.pages);
    assert_eq!(discovery::directory(app, None, &page(0), false).await?.page, 1);

    // Views count their page's entries in memory; the report writes them first.
    discovery::directory(app, Some("alice"), &page(1), true).await?;
    discovery::directory(app, Some("alice"), &page(1), true).await?;
    discovery::directory(app, Some("alice"), &page(2), true).await?;
    let day = koudai_domain::fees::business_date(app.clock.business_now().unix());
    let written = |t: &TestApp| {
        let store = t.app.store.clone();
        async move { store.traffic(&koudai_domain::fees::format_date(day), &koudai_domain::fees::format_date(day)).await }
    };
    assert!(written(&t).await?.iter().all(|l| l.impressions == 0), "nothing written by a view");
    let report = discovery::report(app, day, day).await?;
    let first = &seen[0].1;
    let last = &seen[PAGE_SIZE].1;
    let shown = |appid: &str| report.by_account.iter().find(|l| l.appid == appid).map_or(0, |l| l.impressions);
    assert_eq!((shown(first), shown(last)), (2, 1));
    assert_eq!(report.totals.impressions, 2 * PAGE_SIZE as i64 + (total - PAGE_SIZE).min(PAGE_SIZE) as i64);
    // Written once: a second flush adds nothing.
    assert_eq!(discovery::flush_impressions(app).await?, 0);
    assert_eq!(discovery::report(app, day, day).await?.totals.impressions, report.totals.impressions);
    Ok(())
}

/// A small deterministic generator for the random worlds (no dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// The directory as a fresh computation sees it, straight from the store
/// and the formula: (appid, score, distance) in order, every page.
async fn expected(t: &TestApp, near: Option<(f64, f64)>, search: Option<&str>) -> Result<Vec<(String, f64)>, Error> {
    use koudai_domain::discovery::{distance_km, score, Facts};
    let app = &t.app;
    let config = koudai_app::discovery::current(app).await?.config;
    let now = app.clock.business_now().unix();
    let facts = app.store.rank_facts(now - config.ranking.window_days * 86_400).await?;
    let stores = app.store.approved_stores().await?;
    let mut rows = Vec::new();
    for a in app.store.accounts_with_capability(koudai_domain::eligibility::DISCOVERY_LISTING).await? {
        let f = facts.get(&a.appid).copied().unwrap_or_default();
        let age_days = (now - f.last_product_at.unwrap_or(a.created_at)).max(0) as f64 / 86_400.0;
        let s = score(
            &config.ranking,
            &Facts { sales_fen: f.sales_fen, good_orders: f.good_orders, bad_orders: f.bad_orders, age_days },
        );
        if search.is_some_and(|q| !a.name.to_lowercase().contains(&q.to_lowercase())) {
            continue;
        }
        let distance = match near {
            None => 0.0,
            Some((lat, lng)) => {
                let d = stores
                    .iter()
                    .filter(|(appid, _)| *appid == a.appid)
                    .map(|(_, info)| {
                        let v: Value = serde_json::from_str(info).unwrap_or_default();
                        distance_km(
                            lat,
                            lng,
                            v["latitude"].as_f64().unwrap_or(0.0),
                            v["longitude"].as_f64().unwrap_or(0.0),
                        )
                    })
                    .fold(f64::INFINITY, f64::min);
                if d > config.near_km {
                    continue;
                }
                (d * 100.0).round() / 100.0
            }
        };
        rows.push((a.appid, s.total, distance));
    }
    rows.sort_by(|a, b| a.2.total_cmp(&b.2).then_with(|| b.1.total_cmp(&a.1)).then_with(|| a.0.cmp(&b.0)));
    Ok(rows.into_iter().map(|(appid, total, _)| (appid, total)).collect())
}

async fn shown(t: &TestApp, q: koudai_app::discovery::Query) -> Result<Vec<(String, f64)>, Error> {
    let mut out = Vec::new();
    for page in 1.. {
        let d =
            koudai_app::discovery::directory(&t.app, None, &koudai_app::discovery::Query { page, ..q.clone() }, false)
                .await?;
        out.extend(d.entries.into_iter().map(|e| (e.appid, e.score.total)));
        if page >= d.pages {
            return Ok(out);
        }
    }
    Ok(out)
}

async fn the_directory_in_memory_ranks_as_a_fresh_computation_on_random_worlds(t: TestApp) -> R {
    use koudai_app::discovery::Query;
    let app = &t.app;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let mut rng = Lcg(19);
    let base = app.clock.wall_now().unix();
    let mut appids = Vec::new();
    for round in 0..3 {
        // More accounts, of random ages, a random two in three verified,
        // some with stores at random places around Guangzhou.
        for i in 0..15 {
            let name = format!("Shop {round}-{i} {}", ["tea", "noodle", "jade"][rng.next(3) as usize]);
            let appid = koudai_app::parties::create_app(
                &app.store,
                &app.rng,
                None,
                &name,
                &m.created.mchid,
                app.clock.wall_now(),
            )
            .await?;
            let born = koudai_domain::WallTime::from_unix(base - i64::try_from(rng.next(90 * 86_400))?);
            koudai_app::mp::create_account(&app.store, &app.rng, &appid, &m.created.mchid, &name, born).await?;
            if rng.next(3) > 0 {
                koudai_app::access::eligibility::set_verified(&app.store, &appid, true, "test", base).await?;
            }
            for k in 0..rng.next(3) {
                let lat = 23.0 + rng.next(400) as f64 / 1000.0;
                let lng = 113.1 + rng.next(400) as f64 / 1000.0;
                let info = json!({"sid": format!("s{k}"), "business_name": name, "categories": ["美食,茶馆,茶馆"],
                                  "longitude": lng, "latitude": lat});
                app.store
                    .create_store(&PoiRow {
                        poi_id: format!("{round}{i:02}{k}{}", rng.next(1_000_000)),
                        appid: appid.clone(),
                        sid: format!("s{k}"),
                        base_info: info.to_string(),
                        available_state: 3,
                        pending: None,
                        reason: String::new(),
                        created_at: base,
                        updated_at: base,
                        prices: String::new(),
                    })
                    .await?;
            }
            appids.push(appid);
        }
        // The same answers as a fresh computation, at once after the change.
        assert_eq!(shown(&t, Query::default()).await?, expected(&t, None, None).await?, "round {round}");
        for _ in 0..3 {
            let p = (23.0 + rng.next(400) as f64 / 1000.0, 113.1 + rng.next(400) as f64 / 1000.0);
            let q = Query { near: Some(p), ..Query::default() };
            assert_eq!(shown(&t, q).await?, expected(&t, Some(p), None).await?, "near {p:?}");
        }
        let q = Query { search: Some("NOODLE".into()), ..Query::default() };
        assert_eq!(shown(&t, q).await?, expected(&t, None, Some("noodle")).await?);
        // An account unlisted (unverified) leaves at once.
        let gone = &appids[rng.next(appids.len() as u64) as usize];
        koudai_app::access::eligibility::set_verified(&app.store, gone, false, "test", base).await?;
        let listed = shown(&t, Query::default()).await?;
        assert!(!listed.iter().any(|(a, _)| a == gone));
        assert_eq!(listed, expected(&t, None, None).await?);
    }
    Ok(())
}
