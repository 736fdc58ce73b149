//! `koudai bench`: throughput of signed prepay requests against an
//! in-process server, beside the bound measured in the same run: the
//! fastest RSA-2048 on the machine (aws-lc, `openssl speed`'s engine), signs
//! and verifies per second on one core.
//!
//! Requests are signed before the clock starts, so the figure is what the
//! server does per order: verify the request signature, validate, insert the
//! order, sign the response. Signing dominates (a verify is ~25× cheaper), so
//! the bound for a server on two cores is two cores' worth of signing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;

use koudai_app::parties::{self, CreatedMerchant, MerchantSpec};
use koudai_app::{App, Mode, Rng};
use koudai_domain::Secret;
use koudai_protocol::auth::authorization_header;
use koudai_protocol::PrivateKey;
use koudai_store::KeyMode;

use crate::server::{Server, ServerConfig};

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Orders per backend.
    #[arg(long, default_value_t = 3000)]
    orders: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Also run on this PostgreSQL server (a scratch database is created).
    #[arg(long, env = "KOUDAI_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Listed accounts in the discovery directory figure (0 skips it).
    #[arg(long, default_value_t = 300)]
    discovery_accounts: usize,
    /// Directory views measured.
    #[arg(long, default_value_t = 30)]
    discovery_views: usize,
}

struct Figures {
    backend: &'static str,
    orders: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    /// Full cycles (prepay → pay → callback acknowledged) and their time.
    cycles: usize,
    cycle_elapsed: Duration,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.orders == 0 || args.concurrency == 0 {
        bail!("--orders and --concurrency must be positive");
    }
    let rsa = rsa_rates(Duration::from_secs(3))?;
    let bound = 2.0 * rsa.signs_per_s;
    let mut results = vec![bench_backend("sqlite", None, &args).await?];
    if let Some(admin) = &args.postgres_url {
        let url = koudai_store::testing::scratch_postgres_database(admin, "koudai_bench").await?;
        let figures = bench_backend("postgres", Some(url.clone()), &args).await;
        koudai_store::testing::drop_postgres_database(admin, &url).await?;
        results.push(figures?);
    }
    println!(
        "RSA-2048 (aws-lc), one core: {:.0} signs/s, {:.0} verifies/s; bound = 2 cores x signs/s = {bound:.0}/s",
        rsa.signs_per_s, rsa.verifies_per_s
    );
    println!(
        "{:<10} {:>8} {:>10} {:>10} {:>9} {:>9} {:>8}",
        "backend", "orders", "seconds", "orders/s", "p50 ms", "p99 ms", "ratio"
    );
    for r in &results {
        let secs = r.elapsed.as_secs_f64();
        let rate = r.orders as f64 / secs;
        println!(
            "{:<10} {:>8} {:>10.2} {:>10.0} {:>9.2} {:>9.2} {:>8.2}",
            r.backend,
            r.orders,
            secs,
            rate,
            r.p50.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() * 1000.0,
            rate / bound
        );
    }
    println!();
    println!("full cycle: signed prepay -> wallet payment -> TRANSACTION.SUCCESS delivered and acknowledged");
    println!("{:<10} {:>8} {:>10} {:>10} {:>8}", "backend", "cycles", "seconds", "cycles/s", "ratio");
    for r in &results {
        let secs = r.cycle_elapsed.as_secs_f64();
        let rate = r.cycles as f64 / secs;
        // A cycle signs twice (the prepay's response and the callback; the
        // sandbox payment is not signed), so its bound is half the prepay's.
        println!("{:<10} {:>8} {:>10.2} {:>10.0} {:>8.2}", r.backend, r.cycles, secs, rate, rate / (bound / 2.0));
    }
    println!("server peak RSS: {}", peak_rss().unwrap_or_else(|| "unknown".into()));
    if args.discovery_accounts > 0 && args.discovery_views > 0 {
        use crate::bench_discovery;
        let (n, views) = (args.discovery_accounts, args.discovery_views);
        let mut figures = vec![bench_discovery::bench("sqlite", None, n, views).await?];
        if let Some(admin) = &args.postgres_url {
            let url = koudai_store::testing::scratch_postgres_database(admin, "koudai_bench").await?;
            let f = bench_discovery::bench("postgres", Some(url.clone()), n, views).await;
            koudai_store::testing::drop_postgres_database(admin, &url).await?;
            figures.push(f?);
        }
        bench_discovery::print(&figures);
    }
    if let Some(admin) = &args.postgres_url {
        println!();
        let ledger = ledger_rate(admin, &args).await?;
        let pgbench = pgbench_tps(admin, args.concurrency).await;
        println!(
            "ledger on PostgreSQL: {} top-up entries, {} postings, in {:.2} s",
            ledger.0,
            ledger.0 * 2,
            ledger.1.as_secs_f64()
        );
        let tps = ledger.0 as f64 / ledger.1.as_secs_f64();
        println!("  {:.0} entries/s, {:.0} postings/s", tps, tps * 2.0);
        match pgbench {
            Ok(p) => println!(
                "  pgbench TPC-B-like (scale 1, -c {} -j 2, 10 s): {p:.0} tps; ratio entries/s / pgbench tps = {:.2}",
                args.concurrency,
                tps / p
            ),
            Err(e) => println!("  pgbench not run: {e:#}"),
        }
    }
    Ok(())
}

/// Top-ups posted straight through the store on a scratch PostgreSQL
/// database, `concurrency` at a time over 64 wallets: each is one
/// transaction with one balanced entry of two postings, the floor-checked
/// conditional UPDATEs included. Returns (entries, elapsed).
async fn ledger_rate(admin: &str, args: &BenchArgs) -> anyhow::Result<(usize, Duration)> {
    let url = koudai_store::testing::scratch_postgres_database(admin, "koudai_bench").await?;
    let store = koudai_store::Store::connect(&url).await?;
    store.migrate().await?;
    for i in 0..64 {
        store.create_consumer(&format!("c{i}"), "x", 0).await?;
    }
    let per_task = args.orders.max(args.concurrency) / args.concurrency;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..args.concurrency {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                let login = format!("c{}", (t * 7 + i) % 64);
                store.top_up(&login, 100, &format!("B{t}-{i}"), 0).await?;
            }
            Ok::<_, koudai_store::StoreError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed();
    let problems = store.ledger_problems().await?;
    if !problems.is_empty() {
        bail!("ledger problems after the run: {problems:?}");
    }
    store.close().await;
    koudai_store::testing::drop_postgres_database(admin, &url).await?;
    Ok((per_task * args.concurrency, elapsed))
}

/// pgbench's built-in TPC-B-like script on its own scratch database of the
/// same server, for 10 seconds with the same number of clients.
async fn pgbench_tps(admin: &str, clients: usize) -> anyhow::Result<f64> {
    let url = koudai_store::testing::scratch_postgres_database(admin, "koudai_bench").await?;
    let init = tokio::process::Command::new("pgbench")
        .args(["-i", "-q", "-s", "1", &url])
        .output()
        .await
        .context("running pgbench (Debian package postgresql-client)")?;
    if !init.status.success() {
        bail!("pgbench -i failed: {}", String::from_utf8_lossy(&init.stderr));
    }
    let run = tokio::process::Command::new("pgbench")
        .args(["-c", &clients.to_string(), "-j", "2", "-T", "10", &url])
        .output()
        .await;
    koudai_store::testing::drop_postgres_database(admin, &url).await?;
    let run = run?;
    let out = String::from_utf8_lossy(&run.stdout);
    out.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ").and_then(|rest| rest.split_whitespace().next()).and_then(|v| v.parse().ok())
        })
        .with_context(|| format!("no tps in pgbench output: {out}"))
}

struct RsaRates {
    signs_per_s: f64,
    verifies_per_s: f64,
}

/// RSA-2048 PKCS#1 v1.5 SHA-256 signs and verifies per second on one core,
/// each for half of `budget`, with the library (aws-lc) and key size the
/// server uses: the same engine `openssl speed rsa2048` measures.
fn rsa_rates(budget: Duration) -> anyhow::Result<RsaRates> {
    let key = PrivateKey::generate()?;
    let public = key.public_key();
    let message = b"POST\n/v3/pay/transactions/native\n1700000000\nNONCE\n{\"bench\":true}\n";
    let half = budget / 2;
    let started = Instant::now();
    let mut signs = 0u64;
    let mut sig = String::new();
    while started.elapsed() < half {
        sig = key.sign(message)?;
        signs += 1;
    }
    let signs_per_s = signs as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut verifies = 0u64;
    while started.elapsed() < half {
        if !public.verify(message, &sig) {
            bail!("RSA self-check failed");
        }
        verifies += 1;
    }
    Ok(RsaRates { signs_per_s, verifies_per_s: verifies as f64 / started.elapsed().as_secs_f64() })
}

/// The process's peak resident set (`VmHWM`), which is the server's: it
/// runs in this process.
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).map(|v| v.trim().to_owned())
}

async fn bench_backend(
    backend: &'static str,
    database_url: Option<String>,
    args: &BenchArgs,
) -> anyhow::Result<Figures> {
    let (server, data_dir) = start_server(database_url).await?;
    let state = Arc::clone(&server.app);
    let now = state.clock.wall_now();
    let spec = MerchantSpec { mchid: None, name: "Bench", key_mode: KeyMode::PublicKey, certificate_pem: None };
    let m = parties::create_merchant(&state.store, &state.rng, &state.platform, spec, now).await?;
    parties::pay_deposit(&state.store, &state.rng, &m.mchid, None, state.clock.business_now()).await?;
    let appid = parties::create_app(&state.store, &state.rng, None, "Bench App", &m.mchid, now).await?;
    let key = PrivateKey::from_pem(m.private_key_pem.as_ref().context("bench key")?.expose())?;

    let path = NATIVE_PATH;
    let requests = presign(&key, &m, &appid, "BENCH", args.orders, "http://127.0.0.1:9/notify", 1, now.unix())?;
    let url = format!("http://{}{path}", server.addr);
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let queue = Arc::new(std::sync::Mutex::new(requests));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (queue, client, url) = (Arc::clone(&queue), client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some((body, auth)) = next else { break };
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .header("authorization", auth)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                if resp.status() != reqwest::StatusCode::OK {
                    bail!("prepay answered {}: {}", resp.status(), resp.text().await.unwrap_or_default());
                }
                resp.bytes().await?;
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(args.orders);
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    let (cycles, cycle_elapsed) = full_cycles(&state, &server, &m, &key, &appid, args).await?;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    latencies.sort();
    let pick =
        |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    Ok(Figures { backend, orders: latencies.len(), elapsed, p50: pick(0.50), p99: pick(0.99), cycles, cycle_elapsed })
}

/// An in-process server in sandbox mode, without the demo world, on a
/// fresh data directory (its SQLite database there, or `database_url`).
/// Returns the server and the directory to remove afterwards.
pub(crate) async fn start_server(database_url: Option<String>) -> anyhow::Result<(Server, std::path::PathBuf)> {
    let data_dir = std::env::temp_dir().join(format!("koudai-bench-{}-{}", std::process::id(), Rng::os().token(6)));
    let database_url = match database_url {
        Some(u) => u,
        None => format!("sqlite://{}?mode=rwc", data_dir.join("koudai.db").display()),
    };
    let server = Server::start(ServerConfig {
        data_dir: data_dir.clone(),
        listen: "127.0.0.1:0".parse()?,
        database_url: Secret::new(database_url),
        mode: Mode::Sandbox,
        public_url: None,
        demo: false,
        bill_download_base: None,
        limits: koudai_http::serve::ConnLimits::default(),
        sharing_events: Default::default(),
    })
    .await?;
    Ok((server, data_dir))
}

const NATIVE_PATH: &str = "/v3/pay/transactions/native";

/// `n` Native prepay bodies with their `Authorization` headers, signed
/// before any clock starts: `(body, authorization)`.
#[allow(clippy::too_many_arguments)]
fn presign(
    key: &PrivateKey,
    m: &CreatedMerchant,
    appid: &str,
    prefix: &str,
    n: usize,
    notify_url: &str,
    total_fen: i64,
    now: i64,
) -> anyhow::Result<Vec<(String, String)>> {
    (0..n)
        .map(|i| {
            let body = serde_json::json!({
                "appid": appid, "mchid": m.mchid, "description": prefix.to_lowercase(),
                "out_trade_no": format!("{prefix}{i:08}"),
                "notify_url": notify_url, "amount": {"total": total_fen, "currency": "CNY"}
            })
            .to_string();
            let nonce = Rng::os().token(32);
            let auth =
                authorization_header(key, &m.mchid, &m.serial_no, "POST", NATIVE_PATH, now, &nonce, body.as_bytes())?;
            Ok((body, auth))
        })
        .collect()
}

/// Full cycles: a pre-signed Native prepay, the consumer paying through the
/// sandbox API, and the callback delivered to a local receiver that
/// acknowledges with 204. The clock stops when the receiver has them all.
async fn full_cycles(
    state: &App,
    server: &Server,
    m: &CreatedMerchant,
    key: &PrivateKey,
    appid: &str,
    args: &BenchArgs,
) -> anyhow::Result<(usize, Duration)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = (args.orders / 3).max(1);
    let received = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    let receiver = axum::Router::new().route(
        "/notify",
        axum::routing::post(move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let notify_url = format!("http://{}/notify", listener.local_addr()?);
    let receiver_task = tokio::spawn(async move { axum::serve(listener, receiver).await });
    let business_now = state.clock.business_now();
    parties::create_consumer(&state.store, &state.rng, "bench", "bench-password", 1_000_000_000, business_now).await?;

    let now = state.clock.wall_now();
    let path = NATIVE_PATH;
    let requests = presign(key, m, appid, "CYCLE", n, &notify_url, 100, now.unix())?;
    let base = format!("http://{}", server.addr);
    let token = state.sandbox_token.expose().clone();
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let queue = Arc::new(std::sync::Mutex::new(requests));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (queue, client, base, token) = (Arc::clone(&queue), client.clone(), base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some((body, auth)) = next else { break };
                let resp = client
                    .post(format!("{base}{path}"))
                    .header("authorization", auth)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await?)?;
                let code_url = v["code_url"].as_str().context("no code_url")?.to_owned();
                let paid = client
                    .post(format!("{base}/sandbox/v1/pay"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(serde_json::json!({"code_url": code_url, "consumer": "bench"}).to_string())
                    .send()
                    .await?;
                if paid.status() != reqwest::StatusCode::OK {
                    bail!("sandbox pay answered {}: {}", paid.status(), paid.text().await.unwrap_or_default());
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.load(Ordering::SeqCst) < n {
        if Instant::now() > deadline {
            bail!("only {} of {n} callbacks arrived", received.load(Ordering::SeqCst));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    receiver_task.abort();
    Ok((n, elapsed))
}
