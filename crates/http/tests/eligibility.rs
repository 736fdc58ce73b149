//! The e-commerce rules applied to accounts: the exact unmet requirements,
//! capabilities following fact changes at once (deposit, payment
//! interface, verification, violations) with each change logged, and a
//! rule-set preview that lists exactly the accounts that would change.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;

use koudai_app::access::eligibility;
use koudai_domain::provider::{GrantAction, ProviderKind};
use koudai_store::KeyMode;
use koudai_testkit::{Error, TestApp};

type R = Result<(), Error>;

koudai_testkit::on_both_engines!(capabilities_follow_the_facts_and_refusals_name_what_is_unmet);

async fn explained(t: &TestApp, appid: &str) -> Result<Value, Error> {
    let req = Request::builder()
        .uri(format!("/sandbox/v1/eligibility/{appid}"))
        .header("authorization", format!("Bearer {}", t.app.sandbox_token.expose()))
        .body(Body::empty())?;
    let r = t.send(req).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    Ok(r.json())
}

/// The unmet requirement names of a capability.
fn unmet(v: &Value, capability: &str) -> Vec<String> {
    v["capabilities"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == capability)
        .map(|c| {
            c["unmet"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u["requirement"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_else(|| vec!["<no such capability>".into()])
}

fn now(t: &TestApp) -> i64 {
    t.app.clock.business_now().unix()
}

async fn privilege(t: &TestApp, sp: &str, action: GrantAction) -> R {
    let cmd = koudai_app::parties::providers::GrantCommand {
        sp_mchid: sp,
        privilege: "payment_interface",
        action,
        actor: "operator:test",
        reason: "test",
        expires_at: None,
    };
    koudai_app::parties::providers::change_privilege(&t.app.store, cmd, t.app.clock.business_now()).await?;
    Ok(())
}

async fn capabilities_follow_the_facts_and_refusals_name_what_is_unmet(t: TestApp) -> R {
    let app = &t.app;
    let p = t.provider(ProviderKind::ThirdParty, KeyMode::PublicKey, &[]).await?;
    let sp = p.signer.created.mchid.clone();
    let a = koudai_app::mp::create_account(
        &app.store,
        &app.rng,
        &p.sub_appid,
        &p.sub_mchid,
        "Sub OA",
        app.clock.wall_now(),
    )
    .await?;
    // A new account is unverified, and the provider lacks payment_interface.
    let v = explained(&t, &a.appid).await?;
    assert_eq!(unmet(&v, "shop_api"), ["payment_live", "account_verified"]);
    let first = &v["capabilities"][0]["unmet"][0];
    assert_eq!(
        (first["fact"].as_str(), first["actual"].as_str(), first["needed"].as_str()),
        (Some("payment_live"), Some("no"), Some("yes"))
    );
    eligibility::set_verified(&app.store, &a.appid, true, "operator:test", now(&t)).await?;
    assert_eq!(unmet(&explained(&t, &a.appid).await?, "shop_api"), ["payment_live"]);
    // Granting the payment interface grants the capability at once...
    privilege(&t, &sp, GrantAction::Grant).await?;
    let v = explained(&t, &a.appid).await?;
    assert!(unmet(&v, "shop_api").is_empty() && v["capabilities"][0]["granted"] == true, "{v}");
    assert_eq!(eligibility::check(&app.store, &a.appid, "shop_api", now(&t)).await?, Ok(()));
    // ...revoking it takes it away, and the refusal explains itself.
    privilege(&t, &sp, GrantAction::Revoke).await?;
    let refused = eligibility::check(&app.store, &a.appid, "shop_api", now(&t)).await?;
    let why = refused.err().ok_or("refused")?;
    assert!(why.contains("payment_live (payment_live is no, needs yes)"), "{why}");
    // Every flip is in the log with its cause.
    let log = app.store.capability_log(Some(&a.appid), 50).await?;
    let shop: Vec<(bool, &str)> =
        log.iter().filter(|c| c.capability == "shop_api").map(|c| (c.granted.0, c.cause.as_str())).collect();
    assert_eq!(shop.len(), 3, "{shop:?}");
    assert_eq!(shop[0], (false, "privilege payment_interface revoke by operator:test"));
    assert_eq!(shop[1], (true, "privilege payment_interface grant by operator:test"));
    assert_eq!(shop[2], (false, "account created"));
    Ok(())
}

#[tokio::test]
async fn the_deposit_and_violations_move_capabilities_at_once() -> R {
    let t = TestApp::sandbox().await?;
    let app = &t.app;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let a =
        koudai_app::mp::create_account(&app.store, &app.rng, &m.appid, &m.created.mchid, "OA", app.clock.wall_now())
            .await?;
    eligibility::set_verified(&app.store, &a.appid, true, "operator:test", now(&t)).await?;
    assert!(unmet(&explained(&t, &a.appid).await?, "shop_api").is_empty());
    koudai_app::parties::release_deposit(&app.store, &app.rng, &m.created.mchid, app.clock.business_now()).await?;
    assert_eq!(unmet(&explained(&t, &a.appid).await?, "shop_api"), ["deposit_paid"]);
    koudai_app::parties::pay_deposit(&app.store, &app.rng, &m.created.mchid, None, app.clock.business_now()).await?;
    assert!(unmet(&explained(&t, &a.appid).await?, "shop_api").is_empty());
    let id = eligibility::open_violation(&app.store, &a.appid, "counterfeit goods", "operator:test", now(&t))
        .await?
        .ok_or("an account")?;
    let v = explained(&t, &a.appid).await?;
    assert_eq!(unmet(&v, "shop_api"), ["no_open_violations"]);
    assert_eq!(unmet(&v, "stores"), ["no_open_violations"]);
    assert!(eligibility::close_violation(&app.store, id, "operator:test", now(&t)).await?);
    assert!(!eligibility::close_violation(&app.store, id, "operator:test", now(&t)).await?, "closed once");
    assert!(unmet(&explained(&t, &a.appid).await?, "shop_api").is_empty());
    Ok(())
}

#[tokio::test]
async fn a_preview_lists_exactly_the_accounts_that_would_change_and_publishing_applies_it() -> R {
    let t = TestApp::sandbox().await?;
    let app = &t.app;
    let mut appids = Vec::new();
    for _ in 0..3 {
        let m = t.merchant(KeyMode::PublicKey).await?;
        let a = koudai_app::mp::create_account(
            &app.store,
            &app.rng,
            &m.appid,
            &m.created.mchid,
            "OA",
            app.clock.wall_now(),
        )
        .await?;
        eligibility::set_verified(&app.store, &a.appid, true, "operator:test", now(&t)).await?;
        appids.push(a.appid);
    }
    eligibility::open_violation(&app.store, &appids[1], "late shipping", "operator:test", now(&t)).await?;
    // Version 2 no longer asks shops to be free of violations.
    let text = koudai_domain::eligibility::DEFAULT_TEXT.replacen("\"version\": 1", "\"version\": 2", 1).replace(
        "\"requires\": [\"payment_live\", \"deposit_paid\", \"account_verified\", \"service_account\", \"category_allowed\", \"no_open_violations\"] },\n    { \"name\": \"stores\"",
        "\"requires\": [\"payment_live\", \"deposit_paid\", \"account_verified\", \"service_account\", \"category_allowed\"] },\n    { \"name\": \"stores\"",
    );
    let changes = eligibility::preview(&app.store, &text, now(&t)).await?.map_err(|e| e.to_string())?;
    let listed: Vec<(&str, &str, bool, bool)> =
        changes.iter().map(|c| (c.appid.as_str(), c.capability.as_str(), c.now, c.proposed)).collect();
    assert_eq!(listed, [(appids[1].as_str(), "shop_api", false, true)]);
    // Nothing changed yet.
    assert_eq!(unmet(&explained(&t, &appids[1]).await?, "shop_api"), ["no_open_violations"]);
    assert_eq!(eligibility::publish(&app.store, &text, "operator:test", now(&t)).await?, 2);
    let v = explained(&t, &appids[1]).await?;
    assert!(unmet(&v, "shop_api").is_empty() && v["rule_version"] == 2, "{v}");
    assert_eq!(unmet(&v, "stores"), ["no_open_violations"]);
    // A version is published once; a broken set is refused with its line.
    assert!(eligibility::publish(&app.store, &text, "operator:test", now(&t)).await.is_err());
    let broken = text
        .replacen("\"version\": 2", "\"version\": 3", 1)
        .replace("\"fact\": \"category\"", "\"fact\": \"categroy\"");
    let e = eligibility::publish(&app.store, &broken, "operator:test", now(&t)).await.err().ok_or("refused")?;
    assert!(e.to_string().starts_with("line 9:") && e.to_string().contains("categroy"), "{e}");
    Ok(())
}
