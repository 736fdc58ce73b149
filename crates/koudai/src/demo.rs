//! The sandbox demo world: created on first start with an empty database,
//! described in `DATA_DIR/demo/demo.json` with the keys a developer needs.

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use koudai_app::parties::providers::{self, GrantCommand, SubMerchantSpec};
use koudai_app::parties::{self, MerchantSpec};
use koudai_app::App;
use koudai_domain::ids;
use koudai_domain::ledger::{AccountKind, AccountRef};
use koudai_domain::provider::{GrantAction, ProviderKind};
use koudai_protocol::{cert, crypto, PrivateKey};
use koudai_store::{ConsoleRole, KeyMode};

/// Opening balance of each demo consumer: 10,000.00 CNY.
const DEMO_BALANCE_FEN: i64 = 1_000_000;

/// Makes sure the demo world exists and `demo.json` describes it; on every
/// start, points `demo.json`'s `base_url` at this server.
///
/// `demo.json` is written last, and only once the world is complete, so its
/// absence means "not finished". Every step before it is idempotent and
/// keyed by name in `meta` (`demo:merchant:<name>`, `demo:app:<name>`,
/// `demo:funded:<login>`), and a consumer's password is derived from the
/// platform's sandbox token: a start interrupted at any point, or several
/// nodes starting at once, end in one complete world.
pub async fn ensure(state: &App, data_dir: &Path) -> anyhow::Result<()> {
    let dir = data_dir.join("demo");
    let file = dir.join("demo.json");
    if let Ok(text) = std::fs::read_to_string(&file) {
        let mut v: serde_json::Value = serde_json::from_str(&text).context("reading demo.json")?;
        v["base_url"] = json!(state.config.base_url);
        // A demo world made before deposits existed: make its merchants
        // able to take payments again.
        let mchids: Vec<String> = v["merchants"]
            .as_array()
            .map(|a| a.iter().filter_map(|m| m["mchid"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        for mchid in mchids {
            ready_to_take_payments(state, &mchid).await?;
        }
        // Worlds made before merchants had their own sandbox tokens.
        if let Some(merchants) = v["merchants"].as_array_mut() {
            for m in merchants {
                if let Some(mchid) = m["mchid"].as_str().map(str::to_owned) {
                    m["sandbox_token"] = json!(merchant_token(state, &mchid).await?);
                }
            }
        }
        // Worlds made before providers existed: add them, and the openids
        // of every consumer under their apps.
        if v.get("providers").is_none() {
            let (providers, appids) = demo_providers(state, &dir).await?;
            if let Some(consumers) = v["consumers"].as_array_mut() {
                for c in consumers {
                    let Some(login) = c["login"].as_str().map(str::to_owned) else { continue };
                    for appid in &appids {
                        let openid = parties::openid_for(&state.store, &state.rng, &login, appid).await?;
                        c["openids"][appid] = json!(openid);
                    }
                }
            }
            v["providers"] = json!(providers);
            v["operator_console"] = operator_console(state).await?;
        }
        // Worlds made before official accounts existed.
        if v.get("accounts").is_none() {
            v["accounts"] = json!(demo_accounts(state, &app_owners(&v)).await?);
        }
        // Worlds made before store pay codes and the discovery centre.
        if let Some(appid) = v["accounts"][0]["appid"].as_str() {
            demo_storefront(state, appid).await?;
        }
        // Worlds made before third-party platforms and merchant consoles existed.
        demo_components(state, &mut v).await?;
        demo_merchant_consoles(state, &mut v).await?;
        if let Some(url) = v["operator_console"].get_mut("url") {
            *url = json!(format!("{}/console", state.config.base_url));
        }
        return write_atomically(&file, &serde_json::to_string_pretty(&v)?);
    }
    let demo = build(state, &dir).await?;
    write_atomically(&file, &serde_json::to_string_pretty(&demo)?)?;
    tracing::info!(path = %file.display(), "the sandbox demo world is ready");
    Ok(())
}

/// The demo merchants: name and key mode.
const DEMO_MERCHANTS: [(&str, KeyMode); 2] =
    [("Demo Tea House", KeyMode::PublicKey), ("Demo Book Store", KeyMode::Certificate)];
/// How many tenths of a second a start waits for another start's opening
/// top-up to land.
const FUNDING_WAIT_STEPS: u32 = 50;
/// The demo consumers.
const DEMO_CONSUMERS: [&str; 2] = ["alice", "bob"];

async fn build(state: &App, dir: &Path) -> anyhow::Result<serde_json::Value> {
    std::fs::create_dir_all(dir.join("platform/certs"))?;
    let p = &state.platform;
    write(&dir.join("platform/wechatpay_public_key.pem"), &p.public_key.to_pem()?)?;
    // Alone in its folder, so the folder can be an SDK's certificate dir.
    let cert_path = format!("platform/certs/{}.pem", p.certificate.serial_hex);
    write(&dir.join(&cert_path), &p.certificate.pem)?;

    let mut merchants = Vec::new();
    let mut appids = Vec::new();
    for (name, mode) in DEMO_MERCHANTS {
        let (merchant, serial_no) = demo_merchant(state, dir, name, mode).await?;
        let mchid = merchant.mchid.clone();
        state.store.set_fee_rule(&mchid, "general", state.clock.business_now().unix()).await?;
        ready_to_take_payments(state, &mchid).await?;
        let fresh_appid = ids::appid(&state.rng.bytes());
        let appid = state.store.init_meta(&format!("demo:app:{name}"), &fresh_appid).await?;
        let app_name = format!("{name} Official Account");
        let create_app = || {
            parties::create_app(
                &state.store,
                &state.rng,
                Some(appid.clone()),
                &app_name,
                &mchid,
                state.clock.wall_now(),
            )
        };
        match create_app().await {
            Ok(_) => {}
            // Another start created it between our look and our insert: now
            // it exists, and binding it again is a no-op.
            Err(parties::PartyError::Invalid(_)) => {
                create_app().await?;
            }
            Err(e) => return Err(e.into()),
        }
        let mdir = format!("merchant-{mchid}");
        merchants.push(json!({
            "name": name,
            "mchid": mchid,
            "appid": appid,
            "key_mode": mode.as_str(),
            "serial_no": serial_no,
            "private_key_path": format!("{mdir}/apiclient_key.pem"),
            "certificate_path": format!("{mdir}/apiclient_cert.pem"),
            "apiv3_key": merchant.apiv3_key.expose(),
            "sandbox_token": merchant_token(state, &mchid).await?,
        }));
        appids.push(appid);
    }
    let (providers, provider_appids) = demo_providers(state, dir).await?;
    appids.extend(provider_appids);
    let mut consumers = Vec::new();
    let this_start = state.rng.token(16);
    for login in DEMO_CONSUMERS {
        let password = demo_password(state, login);
        let business_now = state.clock.business_now();
        if state.store.consumer(login).await?.is_none() {
            match parties::create_consumer(&state.store, &state.rng, login, &password, 0, business_now).await {
                // Another node created it a moment ago.
                Ok(()) | Err(parties::PartyError::Invalid(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // The opening balance is paid by whichever start reserves it first,
        // once: an interrupted start may leave a wallet empty, never doubled.
        let funder = state.store.init_meta(&format!("demo:funded:{login}"), &this_start).await?;
        if funder == this_start {
            parties::top_up(&state.store, &state.rng, login, DEMO_BALANCE_FEN, business_now).await?;
        }
        let mut openids = serde_json::Map::new();
        for appid in &appids {
            openids.insert(appid.clone(), json!(parties::openid_for(&state.store, &state.rng, login, appid).await?));
        }
        let wallet = AccountRef::new(AccountKind::ConsumerWallet, login);
        let mut balance = state.store.balance(&wallet).await?;
        if funder != this_start {
            // Another start is paying it in right now: give it a moment, so
            // this demo.json shows the balance the wallet really has.
            for _ in 0..FUNDING_WAIT_STEPS {
                if balance > 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                balance = state.store.balance(&wallet).await?;
            }
        }
        consumers.push(json!({"login": login, "password": password, "balance_fen": balance, "openids": openids}));
    }
    let mut world = json!({
        "base_url": state.config.base_url,
        "sandbox_token": state.sandbox_token.expose(),
        "platform": {
            "public_key_id": p.public_key_id,
            "public_key_path": "platform/wechatpay_public_key.pem",
            "certificate_serial": p.certificate.serial_hex,
            "certificate_path": cert_path,
        },
        "merchants": merchants,
        "providers": providers,
        "operator_console": operator_console(state).await?,
        "consumers": consumers,
    });
    world["accounts"] = json!(demo_accounts(state, &app_owners(&world)).await?);
    if let Some(appid) = world["accounts"][0]["appid"].as_str() {
        demo_storefront(state, appid).await?;
    }
    demo_components(state, &mut world).await?;
    demo_merchant_consoles(state, &mut world).await?;
    Ok(world)
}

/// The demo product's picture (a tea cup, 120 × 120 PNG).
pub(crate) const DEMO_PICTURE: &[u8] = include_bytes!("../assets/demo-tea.png");

/// A storefront for the first demo account, so the shop, a store pay code
/// and the discovery centre have something to show on the first start: a
/// product on its shelves (two SKUs) and an approved store in Guangzhou
/// with its pay code. One start claims it (`meta`); the others skip it.
async fn demo_storefront(state: &App, appid: &str) -> anyhow::Result<()> {
    let this_start = state.rng.token(16);
    if state.store.init_meta(&format!("demo:storefront:{appid}"), &this_start).await? != this_start {
        return Ok(());
    }
    let a = state.store.mp_account(appid).await?.context("the demo account exists")?;
    use koudai_app::commerce::shop;
    let failed = |e: &dyn std::fmt::Display| anyhow::anyhow!("seeding the demo storefront: {e}");
    let img = shop::upload_image(state, &a, DEMO_PICTURE.to_vec()).await.map_err(|e| failed(&e))?;
    let product = json!({
        "product_base": {"category_id": ["537074401"], "name": "Jasmine green tea 茉莉绿茶", "main_img": img, "img": [img],
                         "property": [{"id": "1075741891", "vid": "1079749982"}],
                         "sku_info": [{"id": "1075741890", "vid": ["1079742501", "1079742502"]}],
                         "detail": [{"text": "Spring picking from Fujian, scented with jasmine five times."}, {"img": img}]},
        "sku_list": [{"sku_id": "1075741890:1079742501", "price": 3800, "ori_price": 4800, "quantity": 200},
                     {"sku_id": "1075741890:1079742502", "price": 8800, "ori_price": 9800, "quantity": 80}],
        "attrext": {"isPostFree": 1},
    });
    let issued = shop::issued(state, &a).await.map_err(|e| failed(&e))?;
    let checked = koudai_domain::shop::validate_product(&product, &issued).map_err(|e| failed(&e))?;
    let draft = shop::ProductDraft { product: checked, document: product.to_string() };
    let product_id = shop::create_product(state, &a, &draft).await.map_err(|e| failed(&e))?;
    let row = shop::product(state, &a, &product_id).await.map_err(|e| failed(&e))?;
    shop::set_on_shelf(state, &a, &row, true).await.map_err(|e| failed(&e))?;
    let base_info = json!({
        "sid": "demo-1", "business_name": "Demo Tea House", "branch_name": "Tianhe", "province": "广东省",
        "city": "广州市", "district": "天河区", "address": "1 Tianhe Road", "telephone": "020-12345678",
        "categories": ["美食,茶馆,茶馆"], "offset_type": 1, "longitude": 113.3245, "latitude": 23.1291,
        "photo_list": [{"photo_url": img}], "special": "Wi-Fi", "open_time": "8:00-22:00", "avg_price": 40});
    let store = koudai_app::o2o::poi::NewPoi { base_info: base_info.as_object().cloned().unwrap_or_default() };
    let poi_id = koudai_app::o2o::poi::add(state, &a, &store)
        .await
        .map_err(|e| anyhow::anyhow!("seeding the demo storefront: {e}"))?;
    let row = state.store.poi(&poi_id).await?.context("the demo store exists")?;
    let now = state.clock.business_now().unix();
    state.store.decide_poi(&poi_id, koudai_domain::poi::state::APPROVED, &row.base_info, "demo store", now).await?;
    Ok(())
}

/// A console login for each demo merchant (its official accounts and the
/// platforms it authorised), written as `merchants[].console`.
async fn demo_merchant_consoles(state: &App, world: &mut serde_json::Value) -> anyhow::Result<()> {
    for (i, m) in world["merchants"].as_array_mut().into_iter().flatten().enumerate() {
        let Some(mchid) = m["mchid"].as_str().map(str::to_owned) else { continue };
        let login = format!("merchant-{}", i + 1);
        let password = demo_password(state, &login);
        console_user(state, &login, &password, ConsoleRole::Merchant, Some(&mchid)).await?;
        m["console"] = json!({"login": login, "password": password});
    }
    Ok(())
}

/// Gives each demo provider a third-party platform (made if missing) and
/// writes it into the world as `providers[].component`.
async fn demo_components(state: &App, world: &mut serde_json::Value) -> anyhow::Result<()> {
    for p in world["providers"].as_array_mut().into_iter().flatten() {
        let Some(sp_mchid) = p["sp_mchid"].as_str().map(str::to_owned) else { continue };
        let c = match state.store.component_of_provider(&sp_mchid).await? {
            Some(c) => c,
            None => {
                let now = state.clock.wall_now().unix();
                match koudai_app::mp::component::create_component(&state.store, &state.rng, &sp_mchid, None, now).await
                {
                    Ok(c) => c,
                    // Another start may have made it a moment ago.
                    Err(e) => state.store.component_of_provider(&sp_mchid).await?.ok_or(e)?,
                }
            }
        };
        let mut v = json!({
            "component_appid": c.component_appid,
            "component_appsecret": c.secret,
            "token": c.token,
            "encoding_aes_key": c.encoding_aes_key,
        });
        if let Some(url) = c.event_url {
            v["event_url"] = json!(url);
        }
        p["component"] = v;
    }
    Ok(())
}

/// Every demo app with its owner and a name: the merchants' apps, the
/// providers' and their sub-merchants' own apps.
fn app_owners(world: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for m in world["merchants"].as_array().into_iter().flatten() {
        if let (Some(appid), Some(mchid), Some(name)) = (m["appid"].as_str(), m["mchid"].as_str(), m["name"].as_str()) {
            out.push((appid.to_owned(), mchid.to_owned(), format!("{name} 公众号")));
        }
    }
    for p in world["providers"].as_array().into_iter().flatten() {
        if let (Some(appid), Some(mchid), Some(name)) =
            (p["sp_appid"].as_str(), p["sp_mchid"].as_str(), p["name"].as_str())
        {
            out.push((appid.to_owned(), mchid.to_owned(), format!("{name} 服务号")));
        }
        for sub in p["sub_merchants"].as_array().into_iter().flatten() {
            if let (Some(appid), Some(mchid), Some(name)) =
                (sub["sub_appid"].as_str(), sub["sub_mchid"].as_str(), sub["name"].as_str())
            {
                out.push((appid.to_owned(), mchid.to_owned(), name.to_owned()));
            }
        }
    }
    out
}

/// The official accounts of the demo apps, made if missing.
async fn demo_accounts(state: &App, apps: &[(String, String, String)]) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for (appid, owner, name) in apps {
        if state.store.mp_account(appid).await?.is_none() {
            let made =
                koudai_app::mp::create_account(&state.store, &state.rng, appid, owner, name, state.clock.wall_now())
                    .await;
            // Another start may have made it a moment ago.
            if let Err(e) = made {
                if state.store.mp_account(appid).await?.is_none() {
                    return Err(e.into());
                }
            }
        }
        let mut a = state.store.mp_account(appid).await?.context("the demo account exists")?;
        if !a.verified.0 {
            // The demo accounts are verified service accounts, so they meet
            // the e-commerce rules once their owners' deposits are paid.
            let now = state.clock.business_now().unix();
            koudai_app::access::eligibility::set_verified(&state.store, appid, true, "demo", now).await?;
            a = state.store.mp_account(appid).await?.context("the demo account exists")?;
        }
        let mut v = json!({
            "appid": a.appid,
            "name": a.name,
            "original_id": a.original_id,
            "secret": a.secret,
            "token": a.token,
            "encoding_aes_key": a.encoding_aes_key,
            "owner_mchid": a.owner_mchid,
            "verified": a.verified.0,
        });
        if let Some(url) = a.server_url {
            v["server_url"] = json!(url);
        }
        out.push(v);
    }
    Ok(out)
}

/// A demo provider: name, kind, key mode, privileges, and its one
/// sub-merchant (full registered name, whether it has its own app).
struct DemoProvider {
    name: &'static str,
    kind: ProviderKind,
    key_mode: KeyMode,
    privileges: &'static [&'static str],
    console_login: &'static str,
    sub_name: &'static str,
    sub_has_app: bool,
}

const DEMO_PROVIDERS: [DemoProvider; 2] = [
    DemoProvider {
        name: "Koudai Official Services",
        kind: ProviderKind::Official,
        key_mode: KeyMode::Certificate,
        privileges: &[
            "payment_interface",
            "profit_sharing",
            "fast_track_audit",
            "custom_menu",
            "shop_builder",
            "discovery_featured",
        ],
        console_login: "official-provider",
        sub_name: "Official Demo Noodle Shop Co., Ltd.",
        sub_has_app: true,
    },
    DemoProvider {
        name: "Third Party Partner Ltd.",
        kind: ProviderKind::ThirdParty,
        key_mode: KeyMode::PublicKey,
        privileges: &["payment_interface"],
        console_login: "partner-provider",
        sub_name: "Third Party Demo Florist Co., Ltd.",
        sub_has_app: false,
    },
];

/// The demo providers with their sub-merchants and console users, made if
/// missing (each step keyed in `meta`, like the merchants); returns their
/// `demo.json` entries and every appid a consumer needs an openid under.
async fn demo_providers(state: &App, dir: &Path) -> anyhow::Result<(Vec<serde_json::Value>, Vec<String>)> {
    let mut out = Vec::new();
    let mut appids = Vec::new();
    for d in &DEMO_PROVIDERS {
        let (merchant, serial_no) = demo_merchant(state, dir, d.name, d.key_mode).await?;
        let sp_mchid = merchant.mchid.clone();
        let sp_appid = state.store.init_meta(&format!("demo:app:{}", d.name), &ids::appid(&state.rng.bytes())).await?;
        let now = state.clock.wall_now();
        bind_app(state, &sp_appid, &format!("{} (服务商)", d.name), &sp_mchid).await?;
        if state.store.provider(&sp_mchid).await?.is_none() {
            // Another start may insert it between the look and the insert.
            if let Err(e) = state.store.create_provider(&sp_mchid, d.kind, &sp_appid, now.unix()).await {
                if state.store.provider(&sp_mchid).await?.is_none() {
                    return Err(e.into());
                }
            }
        }
        let this_start = state.rng.token(16);
        if state.store.init_meta(&format!("demo:grants:{sp_mchid}"), &this_start).await? == this_start {
            for privilege in d.privileges {
                let cmd = GrantCommand {
                    sp_mchid: &sp_mchid,
                    privilege,
                    action: GrantAction::Grant,
                    actor: "demo",
                    reason: "demo world",
                    expires_at: None,
                };
                providers::change_privilege(&state.store, cmd, state.clock.business_now()).await?;
            }
        } else {
            // Another start is granting them: wait until every grant is
            // written, so both starts describe the same world.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let events = state.store.privilege_events(&sp_mchid).await?;
                if d.privileges.iter().all(|p| events.iter().any(|e| e.privilege == *p)) {
                    break;
                }
                anyhow::ensure!(
                    std::time::Instant::now() < deadline,
                    "another start did not finish granting {sp_mchid}'s privileges"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        let sub = demo_sub_merchant(state, d, &sp_mchid).await?;
        let password = demo_password(state, d.console_login);
        console_user(state, d.console_login, &password, ConsoleRole::Provider, Some(&sp_mchid)).await?;
        let held: Vec<String> = koudai_domain::provider::held_at(
            &state.store.privilege_events(&sp_mchid).await?,
            state.clock.business_now().unix(),
        )
        .into_keys()
        .collect();
        let mdir = format!("merchant-{sp_mchid}");
        appids.push(sp_appid.clone());
        appids.extend(sub["sub_appid"].as_str().map(str::to_owned));
        out.push(json!({
            "sp_mchid": sp_mchid,
            "sp_appid": sp_appid,
            "name": d.name,
            "kind": d.kind.as_str(),
            "key_mode": d.key_mode.as_str(),
            "serial_no": serial_no,
            "private_key_path": format!("{mdir}/apiclient_key.pem"),
            "certificate_path": format!("{mdir}/apiclient_cert.pem"),
            "apiv3_key": merchant.apiv3_key.expose(),
            "sandbox_token": merchant_token(state, &sp_mchid).await?,
            "privileges": held,
            "console": {"login": d.console_login, "password": password},
            "sub_merchants": [sub],
        }));
    }
    Ok((out, appids))
}

/// The demo provider's sub-merchant, made if missing, ready to take payments.
async fn demo_sub_merchant(state: &App, d: &DemoProvider, sp_mchid: &str) -> anyhow::Result<serde_json::Value> {
    let mchid = state.store.init_meta(&format!("demo:sub:{}", d.sub_name), &ids::mchid(&state.rng.bytes())).await?;
    let sub_appid = if d.sub_has_app {
        Some(state.store.init_meta(&format!("demo:app:{}", d.sub_name), &ids::appid(&state.rng.bytes())).await?)
    } else {
        None
    };
    if state.store.merchant(&mchid).await?.is_none() {
        let spec = SubMerchantSpec {
            mchid: Some(mchid.clone()),
            sp_mchid,
            name: d.sub_name,
            fee_rule: Some("general"),
            sub_appid: sub_appid.clone(),
            bank_account: Some(&format!("6222{mchid}")),
        };
        let now = state.clock.wall_now();
        match providers::create_sub_merchant(
            &state.store,
            &state.rng,
            &state.platform,
            spec,
            now,
            state.clock.business_now(),
        )
        .await
        {
            Ok(_) | Err(parties::PartyError::Invalid(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if state.store.merchant(&mchid).await?.and_then(|m| m.sp_mchid).is_none() {
        // A start stopped between creating the merchant and attaching it.
        state.store.attach_sub_merchant(&mchid, sp_mchid).await?;
    }
    if let Some(appid) = &sub_appid {
        bind_app(state, appid, d.sub_name, &mchid).await?;
    }
    ready_to_take_payments(state, &mchid).await?;
    let mut v = json!({"sub_mchid": mchid, "name": d.sub_name, "sandbox_token": merchant_token(state, &mchid).await?});
    if let Some(appid) = sub_appid {
        v["sub_appid"] = json!(appid);
    }
    Ok(v)
}

/// Creates app `appid` if missing and binds it to `mchid` (both idempotent).
async fn bind_app(state: &App, appid: &str, name: &str, mchid: &str) -> anyhow::Result<()> {
    let now = state.clock.wall_now();
    let create = || parties::create_app(&state.store, &state.rng, Some(appid.to_owned()), name, mchid, now);
    match create().await {
        Ok(_) => Ok(()),
        // Another start created it between our look and our insert.
        Err(parties::PartyError::Invalid(_)) => {
            create().await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A console user, created if missing.
async fn console_user(
    state: &App,
    login: &str,
    password: &str,
    role: ConsoleRole,
    party: Option<&str>,
) -> anyhow::Result<()> {
    if state.store.console_user(login).await?.is_some() {
        return Ok(());
    }
    let now = state.clock.wall_now();
    match providers::create_console_user(&state.store, &state.rng, login, password, role, party, now).await {
        Ok(()) | Err(parties::PartyError::Invalid(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The operator's console login, created if missing.
async fn operator_console(state: &App) -> anyhow::Result<serde_json::Value> {
    let password = demo_password(state, "operator");
    console_user(state, "operator", &password, ConsoleRole::Operator, None).await?;
    Ok(json!({"url": format!("{}/console", state.config.base_url), "login": "operator", "password": password}))
}

/// The demo merchant called `name`, created if needed, with a private key
/// and certificate on disk; returns it and the certificate's serial.
async fn demo_merchant(
    state: &App,
    dir: &Path,
    name: &str,
    mode: KeyMode,
) -> anyhow::Result<(koudai_store::Merchant, String)> {
    let fresh = ids::mchid(&state.rng.bytes());
    let mchid = state.store.init_meta(&format!("demo:merchant:{name}"), &fresh).await?;
    let mdir = dir.join(format!("merchant-{mchid}"));
    std::fs::create_dir_all(&mdir)?;
    let (key_path, cert_path) = (mdir.join("apiclient_key.pem"), mdir.join("apiclient_cert.pem"));
    if state.store.merchant(&mchid).await?.is_none() {
        let spec = MerchantSpec { mchid: Some(mchid.clone()), name, key_mode: mode, certificate_pem: None };
        match parties::create_merchant(&state.store, &state.rng, &state.platform, spec, state.clock.wall_now()).await {
            Ok(created) => {
                let key_pem = created.private_key_pem.as_ref().context("a generated merchant has a private key")?;
                write_private(&key_path, key_pem.expose())?;
                write(&cert_path, &created.certificate_pem)?;
            }
            // Another node created it a moment ago (and writes its files).
            Err(parties::PartyError::Invalid(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let merchant = state.store.merchant(&mchid).await?.context("the demo merchant exists")?;
    let on_disk = std::fs::read_to_string(&cert_path).ok().and_then(|pem| cert::parse_pem(&pem).ok());
    let serial_no = match on_disk.filter(|_| key_path.is_file()) {
        Some(cert) => cert.serial_hex,
        None => {
            // Created by a start that stopped before writing the key (or by
            // a node whose files are elsewhere): a new key and certificate.
            let key = PrivateKey::generate()?;
            let cert = state.platform.issue_merchant_certificate(
                &state.rng,
                &mchid,
                name,
                &key.public_key(),
                state.clock.wall_now(),
            )?;
            let mut tx = state.store.write().await?;
            let record = koudai_store::MerchantCertificate {
                serial_no: cert.serial_hex.clone(),
                certificate_pem: cert.pem.clone(),
                public_key_pem: cert.public_key.to_pem()?,
                not_after: cert.not_after_s,
            };
            koudai_store::parties::insert_merchant_certificate(&mut tx, &mchid, &record).await?;
            tx.commit().await?;
            write_private(&key_path, key.to_pem()?.as_str())?;
            write(&cert_path, &cert.pem)?;
            cert.serial_hex
        }
    };
    Ok((merchant, serial_no))
}

/// A demo consumer's password, derived from the platform's sandbox token
/// (a secret of this installation), so that a start which created the
/// consumer and stopped before writing `demo.json` can still tell it.
fn demo_password(state: &App, login: &str) -> String {
    let digest = crypto::sha256(format!("{}:demo-password:{login}", state.sandbox_token.expose()).as_bytes());
    format!("{login}-{}", ids::upper_hex(digest.get(..5).unwrap_or_default()).to_ascii_lowercase())
}

/// A demo merchant takes payments straight away: its deposit is paid in
/// full and payouts have a (simulated) bank account to go to.
async fn ready_to_take_payments(state: &App, mchid: &str) -> anyhow::Result<()> {
    let now = state.clock.business_now();
    let Some(standing) = state.store.standing(mchid, now.unix()).await? else {
        return Ok(());
    };
    if standing.deposit_missing_fen() > 0 {
        // Paid once per demo merchant, by whichever start reserves it first:
        // two starts at once must not both pay it (and a deposit the
        // operator released later is not paid again on the next start).
        let this_start = state.rng.token(16);
        let payer = state.store.init_meta(&format!("demo:deposit:{mchid}"), &this_start).await?;
        if payer == this_start {
            parties::pay_deposit(&state.store, &state.rng, mchid, None, now).await?;
        }
    }
    if standing.bank_account.is_none() {
        state.store.set_bank_account(mchid, &format!("6222{mchid}")).await?;
    }
    Ok(())
}

/// The merchant's own sandbox token: acts on its orders, refunds and
/// callbacks only (the platform token in `sandbox_token` acts on all).
async fn merchant_token(state: &App, mchid: &str) -> anyhow::Result<String> {
    Ok(state.store.merchant_sandbox_token(mchid, &state.rng.token(32)).await?)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Writes `text` to a temporary file beside `path` and renames it over
/// `path`: readers see the old file or the new one, never half of one.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    write(&tmp, text)?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}
