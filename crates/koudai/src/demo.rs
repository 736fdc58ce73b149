//! The sandbox demo world: created on first start with an empty database,
//! described in `DATA_DIR/demo/demo.json` with the keys a developer needs.

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use koudai_app::parties::{self, MerchantSpec};
use koudai_app::App;
use koudai_domain::ledger::{AccountKind, AccountRef};
use koudai_store::KeyMode;

/// Opening balance of each demo consumer: 10,000.00 CNY.
const DEMO_BALANCE_FEN: i64 = 1_000_000;

/// Creates the demo world if the database has no merchants yet; on every
/// start, points `demo.json`'s `base_url` at this server.
pub async fn ensure(state: &App, data_dir: &Path) -> anyhow::Result<()> {
    let dir = data_dir.join("demo");
    let file = dir.join("demo.json");
    if !state.store.merchants().await?.is_empty() {
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
            write(&file, &serde_json::to_string_pretty(&v)?)?;
        }
        return Ok(());
    }
    std::fs::create_dir_all(dir.join("platform"))?;
    let now = state.clock.wall_now();
    let p = &state.platform;
    write(&dir.join("platform/wechatpay_public_key.pem"), &p.public_key.to_pem()?)?;
    // Alone in its folder, so the folder can be an SDK's certificate dir.
    std::fs::create_dir_all(dir.join("platform/certs"))?;
    let cert_path = format!("platform/certs/{}.pem", p.certificate.serial_hex);
    write(&dir.join(&cert_path), &p.certificate.pem)?;

    let mut merchants = Vec::new();
    let mut appids = Vec::new();
    for (name, mode) in [("Demo Tea House", KeyMode::PublicKey), ("Demo Book Store", KeyMode::Certificate)] {
        let spec = MerchantSpec { mchid: None, name, key_mode: mode, certificate_pem: None };
        let m = parties::create_merchant(&state.store, &state.rng, p, spec, now).await?;
        state.store.set_fee_rule(&m.mchid, "general", state.clock.business_now().unix()).await?;
        ready_to_take_payments(state, &m.mchid).await?;
        let app_name = format!("{name} Official Account");
        let appid = parties::create_app(&state.store, &state.rng, None, &app_name, &m.mchid, now).await?;
        let mdir = format!("merchant-{}", m.mchid);
        std::fs::create_dir_all(dir.join(&mdir))?;
        let key_pem = m.private_key_pem.as_ref().context("a generated merchant has a private key")?;
        write_private(&dir.join(format!("{mdir}/apiclient_key.pem")), key_pem.expose())?;
        write(&dir.join(format!("{mdir}/apiclient_cert.pem")), &m.certificate_pem)?;
        merchants.push(json!({
            "name": name,
            "mchid": m.mchid,
            "appid": appid,
            "key_mode": mode.as_str(),
            "serial_no": m.serial_no,
            "private_key_path": format!("{mdir}/apiclient_key.pem"),
            "certificate_path": format!("{mdir}/apiclient_cert.pem"),
            "apiv3_key": m.apiv3_key.expose(),
            "sandbox_token": merchant_token(state, &m.mchid).await?,
        }));
        appids.push(appid);
    }
    let mut consumers = Vec::new();
    for login in ["alice", "bob"] {
        let password = format!("{login}-{}", state.rng.token(8));
        let business_now = state.clock.business_now();
        parties::create_consumer(&state.store, &state.rng, login, &password, DEMO_BALANCE_FEN, business_now).await?;
        let mut openids = serde_json::Map::new();
        for appid in &appids {
            openids.insert(appid.clone(), json!(parties::openid_for(&state.store, &state.rng, login, appid).await?));
        }
        let balance = state.store.balance(&AccountRef::new(AccountKind::ConsumerWallet, login)).await?;
        consumers.push(json!({"login": login, "password": password, "balance_fen": balance, "openids": openids}));
    }
    let demo = json!({
        "base_url": state.config.base_url,
        "sandbox_token": state.sandbox_token.expose(),
        "platform": {
            "public_key_id": p.public_key_id,
            "public_key_path": "platform/wechatpay_public_key.pem",
            "certificate_serial": p.certificate.serial_hex,
            "certificate_path": cert_path,
        },
        "merchants": merchants,
        "consumers": consumers,
    });
    write(&file, &serde_json::to_string_pretty(&demo)?)?;
    tracing::info!(path = %file.display(), "created the sandbox demo world");
    Ok(())
}

/// A demo merchant takes payments straight away: its deposit is paid in
/// full and payouts have a (simulated) bank account to go to.
async fn ready_to_take_payments(state: &App, mchid: &str) -> anyhow::Result<()> {
    let now = state.clock.business_now();
    let Some(standing) = state.store.standing(mchid, now.unix()).await? else {
        return Ok(());
    };
    if standing.deposit_missing_fen() > 0 {
        parties::pay_deposit(&state.store, &state.rng, mchid, None, now).await?;
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
