//! The third-party platform in process: a privilege revoked after the
//! grant closes the API again, lifetimes on the business clock (61005,
//! 42001, 61010), revocation (61023), and hostile input answered with
//! errcodes on both engines.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use koudai_app::mp::component::{self, Consent};
use koudai_domain::provider::{GrantAction, ProviderKind};
use koudai_store::{Component, KeyMode};
use koudai_testkit::{Error, TestApp};

type R = Result<(), Error>;

koudai_testkit::on_both_engines!(hostile_input_gets_errcodes_never_a_5xx);

struct World {
    component: Component,
    appid: String,
    sp_mchid: String,
}

async fn world(t: &TestApp, privileges: &[&str]) -> Result<World, Error> {
    let p = t.provider(ProviderKind::ThirdParty, KeyMode::PublicKey, privileges).await?;
    let m = t.merchant(KeyMode::PublicKey).await?;
    let app = &t.app;
    let a =
        koudai_app::mp::create_account(&app.store, &app.rng, &m.appid, &m.created.mchid, "OA", app.clock.wall_now())
            .await?;
    let sp_mchid = p.signer.created.mchid.clone();
    let component = component::create_component(&app.store, &app.rng, &sp_mchid, None, 0).await?;
    Ok(World { component, appid: a.appid, sp_mchid })
}

async fn post(t: &TestApp, path: &str, body: &Value) -> Result<Value, Error> {
    let req = Request::builder().method("POST").uri(path).body(Body::from(body.to_string()))?;
    let r = t.send(req).await?;
    assert_eq!(r.status, StatusCode::OK, "{path}");
    Ok(r.json())
}

async fn component_token(t: &TestApp, w: &World) -> Result<(String, String), Error> {
    let (ticket, pushed) = component::push_ticket(&t.app, &w.component).await?;
    assert_eq!(pushed, None, "no event URL, no push");
    let v = post(
        t,
        "/cgi-bin/component/api_component_token",
        &json!({"component_appid": w.component.component_appid, "component_appsecret": w.component.secret,
                "component_verify_ticket": ticket}),
    )
    .await?;
    let token = v["component_access_token"].as_str().ok_or(format!("{v}"))?.to_owned();
    Ok((ticket, token))
}

/// Consents to `sets`; returns the auth code.
async fn authorise(t: &TestApp, w: &World, token: &str, sets: &[i64]) -> Result<String, Error> {
    let v = post(
        t,
        &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={token}"),
        &json!({"component_appid": w.component.component_appid}),
    )
    .await?;
    let code = v["pre_auth_code"].as_str().ok_or(format!("{v}"))?.to_owned();
    let redirect = component::consent(
        &t.app,
        Consent {
            pre_auth_code: code,
            authorizer_appid: w.appid.clone(),
            func_ids: sets.to_vec(),
            take_exclusive: false,
            redirect_uri: Some("https://example.com/cb".into()),
            owner: None,
        },
    )
    .await?;
    let query = redirect.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let auth = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "auth_code").map(|(_, v)| v.into_owned());
    Ok(auth.ok_or("no auth_code")?)
}

async fn query_auth(t: &TestApp, w: &World, token: &str, code: &str) -> Result<Value, Error> {
    post(
        t,
        &format!("/cgi-bin/component/api_query_auth?access_token={token}"),
        &json!({"component_appid": w.component.component_appid, "authorization_code": code}),
    )
    .await
}

const MENU: &str = r#"{"button":[{"type":"click","name":"A","key":"K"}]}"#;

async fn create_menu(t: &TestApp, token: &str) -> Result<Value, Error> {
    let req = Request::builder()
        .method("POST")
        .uri(format!("/cgi-bin/menu/create?access_token={token}"))
        .body(Body::from(MENU))?;
    Ok(t.send(req).await?.json())
}

#[tokio::test]
async fn a_privilege_revoked_after_the_grant_closes_the_api_again() -> R {
    let t = TestApp::sandbox().await?;
    let w = world(&t, &["custom_menu"]).await?;
    let (_, token) = component_token(&t, &w).await?;
    let code = authorise(&t, &w, &token, &[15]).await?;
    let v = query_auth(&t, &w, &token, &code).await?;
    let authorizer = v["authorization_info"]["authorizer_access_token"].as_str().ok_or(format!("{v}"))?.to_owned();
    assert_eq!(create_menu(&t, &authorizer).await?["errcode"], 0);
    let cmd = koudai_app::parties::providers::GrantCommand {
        sp_mchid: &w.sp_mchid,
        privilege: "custom_menu",
        action: GrantAction::Revoke,
        actor: "admin",
        reason: "test",
        expires_at: None,
    };
    koudai_app::parties::providers::change_privilege(&t.app.store, cmd, t.app.clock.business_now()).await?;
    let v = create_menu(&t, &authorizer).await?;
    assert_eq!(v["errcode"], 61007, "{v}");
    assert!(v["errmsg"].as_str().unwrap_or_default().contains("custom_menu"), "{v}");
    // And no new grant of set 15 either.
    let refused = authorise(&t, &w, &token, &[15]).await;
    assert!(refused.is_err());
    Ok(())
}

#[tokio::test]
async fn lifetimes_run_on_the_business_clock() -> R {
    let t = TestApp::sandbox().await?;
    let w = world(&t, &[]).await?;
    let (ticket, token) = component_token(&t, &w).await?;
    let code = authorise(&t, &w, &token, &[1]).await?;
    let v = query_auth(&t, &w, &token, &code).await?;
    let authorizer = v["authorization_info"]["authorizer_access_token"].as_str().ok_or(format!("{v}"))?.to_owned();
    // The auth code lasts ten minutes.
    t.app.clock.advance(&t.app.store, 601).await?;
    assert_eq!(query_auth(&t, &w, &token, &code).await?["errcode"], 61010);
    // Tokens two hours; the ticket twelve.
    t.app.clock.advance(&t.app.store, 7200).await?;
    assert_eq!(create_menu(&t, &authorizer).await?["errcode"], 42001);
    let v = post(
        &t,
        &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={token}"),
        &json!({"component_appid": w.component.component_appid}),
    )
    .await?;
    assert_eq!(v["errcode"], 42001, "{v}");
    t.app.clock.advance(&t.app.store, 43_200).await?;
    let v = post(
        &t,
        "/cgi-bin/component/api_component_token",
        &json!({"component_appid": w.component.component_appid, "component_appsecret": w.component.secret,
                "component_verify_ticket": ticket}),
    )
    .await?;
    assert_eq!(v["errcode"], 61005, "{v}");
    Ok(())
}

#[tokio::test]
async fn revocation_kills_the_refresh_token_and_the_tokens() -> R {
    let t = TestApp::sandbox().await?;
    let w = world(&t, &[]).await?;
    let (_, token) = component_token(&t, &w).await?;
    let code = authorise(&t, &w, &token, &[1, 3]).await?;
    let v = query_auth(&t, &w, &token, &code).await?;
    let info = &v["authorization_info"];
    let refresh = info["authorizer_refresh_token"].as_str().ok_or(format!("{v}"))?.to_owned();
    let authorizer = info["authorizer_access_token"].as_str().ok_or(format!("{v}"))?.to_owned();
    assert!(component::revoke(&t.app, &w.component.component_appid, &w.appid).await?);
    let v = post(
        &t,
        &format!("/cgi-bin/component/api_authorizer_token?component_access_token={token}"),
        &json!({"component_appid": w.component.component_appid, "authorizer_appid": w.appid,
                "authorizer_refresh_token": refresh}),
    )
    .await?;
    assert_eq!(v["errcode"], 61023, "{v}");
    let req = Request::builder()
        .uri(format!("/cgi-bin/get_current_selfmenu_info?access_token={authorizer}"))
        .body(Body::empty())?;
    assert_eq!(t.send(req).await?.json()["errcode"], 42001);
    let v = post(
        &t,
        &format!("/cgi-bin/component/api_get_authorizer_info?component_access_token={token}"),
        &json!({"component_appid": w.component.component_appid, "authorizer_appid": w.appid}),
    )
    .await?;
    assert_eq!(v["errcode"], 61003, "{v}");
    Ok(())
}

async fn hostile_input_gets_errcodes_never_a_5xx(t: TestApp) -> R {
    let w = world(&t, &[]).await?;
    let (_, token) = component_token(&t, &w).await?;
    let deep = "[".repeat(5000) + &"]".repeat(5000);
    let bodies = [
        "",
        "null",
        "[]",
        "{",
        deep.as_str(),
        r#"{"component_appid":{},"component_appsecret":[],"component_verify_ticket":null}"#,
        r#"{"component_appid":"wx\u0000","authorization_code":"x%00"}"#,
        r#"{"authorizer_appid":"' OR 1=1 --","authorizer_refresh_token":12,"offset":-1,"count":1e9}"#,
        r#"{"option_name":"location_report","option_value":{}}"#,
    ];
    let paths = [
        "api_component_token",
        "api_start_push_ticket",
        "api_create_preauthcode",
        "api_query_auth",
        "api_authorizer_token",
        "api_get_authorizer_info",
        "api_get_authorizer_list",
        "api_get_authorizer_option",
        "api_set_authorizer_option",
    ];
    for path in paths {
        for query in [format!("component_access_token={token}"), "access_token=%00".into(), String::new()] {
            for body in bodies {
                let req = Request::builder()
                    .method("POST")
                    .uri(format!("/cgi-bin/component/{path}?{query}"))
                    .body(Body::from(body.to_owned()))?;
                let r = t.send(req).await?;
                let v = r.json();
                // A refusal's errcode, or (a valid token, a body the call
                // does not read) an answer; never a system error.
                let fine = v["errcode"].is_i64() && v["errcode"] != -1 || v.is_object() && v.get("errcode").is_none();
                assert!(r.status == StatusCode::OK && fine, "{path}?{query} {body:.40}: {} {}", r.status, r.text());
            }
        }
        let r = t.send(Request::builder().uri(format!("/cgi-bin/component/{path}")).body(Body::empty())?).await?;
        assert_eq!(r.json()["errcode"], 43002, "{path} by GET");
    }
    for path in [
        "/sns/oauth2/component/access_token?appid=%00&code=x&grant_type=authorization_code&component_appid=x",
        "/sns/oauth2/component/refresh_token?appid=wx&grant_type=refresh_token&refresh_token=%FF",
        "/cgi-bin/componentloginpage?component_appid=%00&pre_auth_code=%FF&redirect_uri=javascript:alert(1)",
    ] {
        let r = t.send(Request::builder().uri(path).body(Body::empty())?).await?;
        assert!(r.status.as_u16() < 500, "{path}: {} {}", r.status, r.text());
    }
    Ok(())
}

#[tokio::test]
async fn a_provider_cannot_manage_another_providers_account() -> R {
    let t = TestApp::sandbox().await?;
    let w = world(&t, &[]).await?;
    let other = t.provider(ProviderKind::Official, KeyMode::PublicKey, &[]).await?;
    let app = &t.app;
    let theirs = koudai_app::mp::create_account(
        &app.store,
        &app.rng,
        &other.sub_appid,
        &other.sub_mchid,
        "Theirs",
        app.clock.wall_now(),
    )
    .await?;
    let cookie =
        t.console_session("p1", "provider-password", koudai_store::ConsoleRole::Provider, Some(&w.sp_mchid)).await?;
    let page =
        t.send(Request::builder().uri("/console/my/platform").header("cookie", &cookie).body(Body::empty())?).await?;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains(&w.component.component_appid) && !html.contains(&theirs.appid), "only its own");
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).ok_or("csrf")?.to_owned();
    let form = format!("csrf={csrf}&ips=203.0.113.7");
    let r = t
        .send(
            Request::builder()
                .method("POST")
                .uri(format!("/console/accounts/{}/ip-allowlist", theirs.appid))
                .header("cookie", &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(form))?,
        )
        .await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let unchanged = app.store.mp_account(&theirs.appid).await?.ok_or("account")?;
    assert_eq!(unchanged.ip_allowlist, "");
    let filter = koudai_store::LogFilter { who: None, what: Some("manage_account".into()), limit: 50 };
    let refusals = app.store.refusals(&filter).await?;
    assert!(refusals.iter().any(|r| r.target == format!("appid:{}", theirs.appid)), "the attempt is logged");
    Ok(())
}
