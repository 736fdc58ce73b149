//! `koudai bench`'s signed prepay figures: throughput of signed Native
//! prepay requests against an in-process server, full cycles (prepay →
//! sandbox payment → callback acknowledged), and, on PostgreSQL, the ledger's
//! top-up rate straight through the store.
//!
//! Requests are signed before the clock starts, so the prepay figure is what
//! the server does per order: verify the request signature, validate, insert
//! the order, sign the response. Signing dominates (a verify is ~25× cheaper),
//! so the bound for a server on two cores is two cores' worth of signing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use koudai_app::parties::{self, CreatedMerchant, MerchantSpec};
use koudai_app::{App, Rng};
use koudai_protocol::auth::authorization_header;
use koudai_protocol::PrivateKey;
use koudai_store::KeyMode;

use super::harness::start_server;
use crate::server::Server;

/// One backend's prepay and full-cycle figures.
pub(super) struct Figures {
    pub(super) backend: &'static str,
    pub(super) orders: usize,
    pub(super) elapsed: Duration,
    pub(super) p50: Duration,
    pub(super) p99: Duration,
    /// Full cycles (prepay → pay → callback acknowledged) and their time.
    pub(super) cycles: usize,
    pub(super) cycle_elapsed: Duration,
}

/// `orders` pre-signed Native prepays, `concurrency` in flight at once, on
/// a fresh server (SQLite, or `database_url`), then the full cycles on the
/// same server.
pub(super) async fn bench_backend(
    backend: &'static str,
    database_url: Option<String>,
    orders: usize,
    concurrency: usize,
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
    let requests = presign(&key, &m, &appid, "BENCH", orders, "http://127.0.0.1:9/notify", 1, now.unix())?;
    let url = format!("http://{}{path}", server.addr);
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let queue = Arc::new(std::sync::Mutex::new(requests));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
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
    let mut latencies = Vec::with_capacity(orders);
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    let (cycles, cycle_elapsed) = full_cycles(&state, &server, &m, &key, &appid, orders, concurrency).await?;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    latencies.sort();
    let pick =
        |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    Ok(Figures { backend, orders: latencies.len(), elapsed, p50: pick(0.50), p99: pick(0.99), cycles, cycle_elapsed })
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
    orders: usize,
    concurrency: usize,
) -> anyhow::Result<(usize, Duration)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = (orders / 3).max(1);
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
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let queue = Arc::new(std::sync::Mutex::new(requests));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
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

/// Top-ups posted straight through the store on a scratch PostgreSQL
/// database, `concurrency` at a time over 64 wallets: each is one
/// transaction with one balanced entry of two postings, the floor-checked
/// conditional UPDATEs included. Returns (entries, elapsed).
pub(super) async fn ledger_rate(admin: &str, orders: usize, concurrency: usize) -> anyhow::Result<(usize, Duration)> {
    let url = koudai_store::scratch::scratch_postgres_database(admin, "koudai_bench").await?;
    let store = koudai_store::Store::connect(&url).await?;
    store.migrate().await?;
    for i in 0..64 {
        store.create_consumer(&format!("c{i}"), "x", 0).await?;
    }
    let per_task = orders.max(concurrency) / concurrency;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
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
    koudai_store::scratch::drop_postgres_database(admin, &url).await?;
    Ok((per_task * concurrency, elapsed))
}
