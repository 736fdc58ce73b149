//! `koudai bench`'s discovery figure: how many directory views a server
//! renders per second with N listed accounts (each with a product on its
//! shelves and an approved store), over HTTP, beside the bound measured in
//! the same run: the same database reads alone (the grouped fact queries,
//! the shelved products, the approved stores and the capabilities), which
//! a view cannot beat.
//!
//! Builds on `super::harness` only (the in-process server).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::json;

use koudai_app::parties::{self, MerchantSpec};
use koudai_app::App;
use koudai_store::KeyMode;

use super::harness::start_server;

pub struct DiscoveryFigures {
    pub backend: &'static str,
    pub accounts: usize,
    pub views: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    /// The same reads alone, as many times.
    pub reads_elapsed: Duration,
}

/// Seeds `accounts` listed accounts under one merchant.
async fn seed(app: &Arc<App>, accounts: usize) -> anyhow::Result<()> {
    let now = app.clock.wall_now();
    let spec = MerchantSpec { mchid: None, name: "Bench Shops", key_mode: KeyMode::PublicKey, certificate_pem: None };
    let m = parties::create_merchant(&app.store, &app.rng, &app.platform, spec, now).await?;
    parties::pay_deposit(&app.store, &app.rng, &m.mchid, None, app.clock.business_now()).await?;
    use koudai_app::commerce::shop;
    let failed = |e: &dyn std::fmt::Display| anyhow::anyhow!("seeding: {e}");
    for i in 0..accounts {
        let appid = parties::create_app(&app.store, &app.rng, None, &format!("Shop {i}"), &m.mchid, now).await?;
        let a =
            koudai_app::mp::create_account(&app.store, &app.rng, &appid, &m.mchid, &format!("Shop {i}"), now).await?;
        koudai_app::access::eligibility::set_verified(
            &app.store,
            &appid,
            true,
            "bench",
            app.clock.business_now().unix(),
        )
        .await?;
        let img = shop::upload_image(app, &a, crate::demo::DEMO_PICTURE.to_vec()).await.map_err(|e| failed(&e))?;
        let product = json!({
            "product_base": {"category_id": ["537074501"], "name": format!("Necklace {i}"), "main_img": img,
                             "img": [img], "detail": [{"text": "silver"}]},
            "sku_list": [{"sku_id": "", "price": 1000 + i64::try_from(i)?, "ori_price": 2000, "quantity": 10}],
            "attrext": {"isPostFree": 1},
        });
        let issued = shop::issued(app, &a).await.map_err(|e| failed(&e))?;
        let checked = koudai_domain::shop::validate_product(&product, &issued).map_err(|e| failed(&e))?;
        let draft = shop::ProductDraft { product: checked, document: product.to_string() };
        let pid = shop::create_product(app, &a, &draft).await.map_err(|e| failed(&e))?;
        let row = shop::product(app, &a, &pid).await.map_err(|e| failed(&e))?;
        shop::set_on_shelf(app, &a, &row, true).await.map_err(|e| failed(&e))?;
        let base_info = json!({
            "sid": format!("s{i}"), "business_name": format!("Shop {i}"), "province": "广东省", "city": "广州市",
            "district": "天河区", "address": "1 Road", "telephone": "020-12345678", "categories": ["美食,茶馆,茶馆"],
            "offset_type": 1, "longitude": 113.0 + (i % 100) as f64 / 100.0, "latitude": 23.0 + (i / 100) as f64 / 100.0,
            "photo_list": [{"photo_url": img}], "special": "Wi-Fi", "open_time": "8:00-20:00", "avg_price": 30});
        let store = koudai_app::o2o::poi::NewPoi { base_info: base_info.as_object().cloned().unwrap_or_default() };
        let poi_id = koudai_app::o2o::poi::add(app, &a, &store).await.map_err(|e| failed(&e))?;
        let row = app.store.poi(&poi_id).await?.context("the store exists")?;
        let at = app.clock.business_now().unix();
        app.store.decide_poi(&poi_id, koudai_domain::poi::state::APPROVED, &row.base_info, "bench", at).await?;
    }
    Ok(())
}

pub async fn bench(
    backend: &'static str,
    database_url: Option<String>,
    accounts: usize,
    views: usize,
) -> anyhow::Result<DiscoveryFigures> {
    let (server, data_dir) = start_server(database_url).await?;
    let app = Arc::clone(&server.app);
    seed(&app, accounts).await?;
    let listed = app.store.accounts_with_capability(koudai_domain::eligibility::DISCOVERY_LISTING).await?.len();
    if listed != accounts {
        bail!("{listed} of {accounts} seeded accounts are listed");
    }

    // The bound: the reads a view makes, alone.
    let started = Instant::now();
    for _ in 0..views {
        let since = app.clock.business_now().unix() - 30 * 86_400;
        app.store.rank_facts(since).await?;
        app.store.shelved_products().await?;
        app.store.approved_stores().await?;
        app.store.accounts_with_capability(koudai_domain::eligibility::DISCOVERY_LISTING).await?;
        app.store.accounts_with_capability(koudai_domain::eligibility::SHOP_API).await?;
    }
    let reads_elapsed = started.elapsed();

    // Views over HTTP, one at a time (a view also counts its impressions).
    let client = reqwest::Client::new();
    let url = format!("http://{}/discover", server.addr);
    let mut latencies = Vec::with_capacity(views);
    let started = Instant::now();
    for _ in 0..views {
        let t = Instant::now();
        let resp = client.get(&url).send().await?;
        if resp.status() != reqwest::StatusCode::OK {
            bail!("/discover answered {}", resp.status());
        }
        let body = resp.text().await?;
        if body.matches("class=\"entry\"").count() != accounts {
            bail!("the directory did not list every account");
        }
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    server.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    latencies.sort();
    let p50 = latencies.get(latencies.len() / 2).copied().unwrap_or_default();
    Ok(DiscoveryFigures { backend, accounts, views, elapsed, p50, reads_elapsed })
}

pub fn print(results: &[DiscoveryFigures]) {
    println!();
    println!("discovery directory: GET /discover with every account listed (a product and a store each)");
    println!("bound = the same database reads alone (grouped facts, shelved products, approved stores, capabilities)");
    println!(
        "{:<10} {:>8} {:>6} {:>9} {:>9} {:>10} {:>8}",
        "backend", "accounts", "views", "views/s", "p50 ms", "reads/s", "ratio"
    );
    for r in results {
        let rate = r.views as f64 / r.elapsed.as_secs_f64();
        let bound = r.views as f64 / r.reads_elapsed.as_secs_f64();
        println!(
            "{:<10} {:>8} {:>6} {:>9.1} {:>9.1} {:>10.1} {:>8.2}",
            r.backend,
            r.accounts,
            r.views,
            rate,
            r.p50.as_secs_f64() * 1000.0,
            bound,
            rate / bound
        );
    }
}
