//! `koudai bench`: throughput of signed prepay requests against an
//! in-process server, beside the bare RSA-2048 sign+verify rate measured in
//! the same run.
//!
//! Requests are signed before the clock starts, so the figure is what the
//! server does per order: verify the request signature, validate, insert the
//! order, sign the response. The server signs once per response, which is
//! why bare sign+verify is the natural bound to compare against.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;

use koudai_protocol::auth::authorization_header;
use koudai_protocol::PrivateKey;
use koudai_store::KeyMode;

use crate::app::{Mode, Server, ServerConfig};
use crate::demo::random_token;

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
}

struct Figures {
    backend: &'static str,
    orders: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.orders == 0 || args.concurrency == 0 {
        bail!("--orders and --concurrency must be positive");
    }
    let rsa_rate = rsa_sign_verify_rate(Duration::from_secs(3))?;
    let mut results = vec![bench_backend("sqlite", None, &args).await?];
    if let Some(admin) = &args.postgres_url {
        let url = koudai_store::scratch_postgres_database(admin, "koudai_bench").await?;
        results.push(bench_backend("postgres", Some(url), &args).await?);
    }
    println!("bare RSA-2048 sign+verify: {rsa_rate:.0} ops/s (one core)");
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
            rate / rsa_rate
        );
    }
    Ok(())
}

/// Sign-then-verify operations per second on one core, with the key size
/// and padding the server uses.
fn rsa_sign_verify_rate(budget: Duration) -> anyhow::Result<f64> {
    let key = PrivateKey::generate()?;
    let public = key.public_key();
    let message = b"POST\n/v3/pay/transactions/native\n1700000000\nNONCE\n{\"bench\":true}\n";
    let started = Instant::now();
    let mut ops = 0u64;
    while started.elapsed() < budget {
        let sig = key.sign(message);
        if !public.verify(message, &sig) {
            bail!("RSA self-check failed");
        }
        ops += 1;
    }
    Ok(ops as f64 / started.elapsed().as_secs_f64())
}

async fn bench_backend(
    backend: &'static str,
    database_url: Option<String>,
    args: &BenchArgs,
) -> anyhow::Result<Figures> {
    let data_dir = std::env::temp_dir().join(format!("koudai-bench-{}-{}", std::process::id(), random_token(6)));
    let database_url = match database_url {
        Some(u) => u,
        None => format!("sqlite://{}?mode=rwc", data_dir.join("koudai.db").display()),
    };
    let server = Server::start(ServerConfig {
        data_dir: data_dir.clone(),
        listen: "127.0.0.1:0".parse()?,
        database_url,
        mode: Mode::Sandbox,
        public_url: None,
        demo: false,
        bill_download_base: None,
    })
    .await?;
    let state = Arc::clone(&server.state);
    let now = state.clock.wall_now();
    let m = crate::admin::create_merchant(&state.store, &state.platform, None, "Bench", KeyMode::PublicKey, None, now)
        .await?;
    crate::admin::pay_deposit(&state.store, &m.mchid, None, state.clock.business_now()).await?;
    let appid = crate::admin::create_app(&state.store, None, "Bench App", &m.mchid, now).await?;
    let key = PrivateKey::from_pem(m.private_key_pem.as_deref().context("bench key")?)?;

    let path = "/v3/pay/transactions/native";
    let requests: Vec<(String, String)> = (0..args.orders)
        .map(|i| {
            let body = serde_json::json!({
                "appid": appid, "mchid": m.mchid, "description": "bench", "out_trade_no": format!("BENCH{i:08}"),
                "notify_url": "http://127.0.0.1:9/notify", "amount": {"total": 1, "currency": "CNY"}
            })
            .to_string();
            let auth = authorization_header(
                &key,
                &m.mchid,
                &m.serial_no,
                "POST",
                path,
                now,
                &random_token(32),
                body.as_bytes(),
            );
            (body, auth)
        })
        .collect();
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
    server.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    latencies.sort();
    let pick =
        |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    Ok(Figures { backend, orders: latencies.len(), elapsed, p50: pick(0.50), p99: pick(0.99) })
}
