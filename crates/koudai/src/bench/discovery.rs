//! `koudai bench`'s discovery figure: how many directory views (the first
//! page) a server renders per second with N listed accounts (each with a
//! product on its shelves and an approved store), over HTTP at the bench's
//! concurrency, beside the bound measured in the same run: `GET /healthz`
//! at the same concurrency, the cost of HTTP itself, which no page can
//! beat. Also the first view after a change, which rebuilds the directory
//! in memory.
//!
//! Builds on `super::harness` only (the in-process server).

use std::sync::atomic::Ordering;
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
    pub p99: Duration,
    /// The first view after a change (the directory rebuilt).
    pub rebuild: Duration,
    /// `GET /healthz` as many times at the same concurrency: the HTTP floor.
    pub healthz_elapsed: Duration,
    /// How long seeding took (not part of any figure).
    pub seeded_in: Duration,
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
            "sku_list": [{"sku_id": "", "price": 1000 + i64::try_from(i % 900)?, "ori_price": 2000, "quantity": 10}],
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

/// `views` requests to `path`, `concurrency` at a time; the sorted
/// latencies and the time they all took. Each answer must be 200 and, if
/// `expect` is given, hold that many directory entries.
async fn load(
    base: &str,
    path: &str,
    views: usize,
    concurrency: usize,
    expect: Option<usize>,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    // The pages admit koudai_http::cache::PAGE_REQUESTS_PER_MINUTE requests
    // per client address and minute: the views come from as many loopback
    // addresses as that needs, as a crowd would.
    let per_address = koudai_http::cache::PAGE_REQUESTS_PER_MINUTE as usize / 2;
    let addresses = (views / per_address + 1).min(250);
    let clients = (0..addresses)
        .map(|i| {
            let ip = std::net::Ipv4Addr::new(127, 0, 0, 2 + u8::try_from(i).unwrap_or(0));
            reqwest::Client::builder()
                .pool_max_idle_per_host(concurrency)
                .local_address(std::net::IpAddr::V4(ip))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let clients = Arc::new(clients);
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(views));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (clients, url, left) = (Arc::clone(&clients), format!("{base}{path}"), Arc::clone(&left));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while let Ok(n) = left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
                let client = &clients[n % clients.len()];
                let t = Instant::now();
                let resp = client.get(&url).send().await?;
                if resp.status() != reqwest::StatusCode::OK {
                    bail!("{url} answered {}", resp.status());
                }
                let body = resp.text().await?;
                if expect.is_some_and(|n| body.matches("class=\"entry\"").count() != n) {
                    bail!("the directory's first page did not hold {expect:?} entries");
                }
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(views);
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok((latencies, elapsed))
}

pub async fn bench(
    backend: &'static str,
    database_url: Option<String>,
    accounts: usize,
    views: usize,
    concurrency: usize,
) -> anyhow::Result<DiscoveryFigures> {
    let (server, data_dir) = start_server(database_url).await?;
    let app = Arc::clone(&server.app);
    let seeding = Instant::now();
    seed(&app, accounts).await?;
    let seeded_in = seeding.elapsed();
    let listed = app.store.accounts_with_capability(koudai_domain::eligibility::DISCOVERY_LISTING).await?.len();
    if listed != accounts {
        bail!("{listed} of {accounts} seeded accounts are listed");
    }
    let base = format!("http://{}", server.addr);
    let first_page = Some(accounts.min(koudai_app::discovery::PAGE_SIZE));
    // The first view builds the directory; then a change moves the
    // generation and the next view rebuilds it: that view's time.
    load(&base, "/discover", 1, 1, first_page).await?;
    let now = koudai_app::discovery::current(&app).await?;
    koudai_app::discovery::publish(&app, now.version, &now.config, "bench", "the same configuration, republished")
        .await
        .map_err(|e| anyhow::anyhow!("republishing the directory's configuration: {e}"))?;
    let (rebuilt, _) = load(&base, "/discover", 1, 1, first_page).await?;
    let rebuild = rebuilt.first().copied().unwrap_or_default();

    let (healthz, healthz_elapsed) = load(&base, "/healthz", views, concurrency, None).await?;
    drop(healthz);
    let (latencies, elapsed) = load(&base, "/discover", views, concurrency, first_page).await?;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    let pick =
        |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    Ok(DiscoveryFigures {
        backend,
        accounts,
        views,
        elapsed,
        p50: pick(0.50),
        p99: pick(0.99),
        rebuild,
        healthz_elapsed,
        seeded_in,
    })
}

pub fn print(results: &[DiscoveryFigures]) {
    println!();
    println!("discovery directory: GET /discover (first page) with every account listed (a product and a store each)");
    println!(
        "bound = GET /healthz at the same concurrency (the server's HTTP floor); rebuild = first view after a change"
    );
    println!(
        "{:<10} {:>8} {:>6} {:>9} {:>8} {:>8} {:>10} {:>9} {:>7} {:>9}",
        "backend", "accounts", "views", "views/s", "p50 ms", "p99 ms", "rebuild ms", "healthz/s", "ratio", "seeded s"
    );
    for r in results {
        let rate = r.views as f64 / r.elapsed.as_secs_f64();
        let bound = r.views as f64 / r.healthz_elapsed.as_secs_f64();
        println!(
            "{:<10} {:>8} {:>6} {:>9.0} {:>8.2} {:>8.2} {:>10.1} {:>9.0} {:>7.2} {:>9.1}",
            r.backend,
            r.accounts,
            r.views,
            rate,
            r.p50.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() * 1000.0,
            r.rebuild.as_secs_f64() * 1000.0,
            bound,
            rate / bound,
            r.seeded_in.as_secs_f64()
        );
    }
}
