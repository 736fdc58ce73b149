//! `koudai bench`'s delivery figure: callbacks delivered and acknowledged
//! per second by the outbox's dispatcher to a fast in-process receiver.
//! The callbacks are sealed (AES-GCM) and enqueued in one transaction
//! before the clock starts; what is timed is what the dispatcher does per
//! callback: claim, sign (one RSA signature), send, record the attempt.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use koudai_app::outbox::{self, Event};
use koudai_app::parties::{self, MerchantSpec};
use koudai_store::KeyMode;

use super::harness::start_server;

/// `(callbacks, elapsed, mean sends in flight)` on a fresh server (SQLite,
/// or `database_url`).
pub(super) async fn bench(database_url: Option<String>, callbacks: usize) -> anyhow::Result<(usize, Duration, f64)> {
    let (server, data_dir) = start_server(database_url).await?;
    let app = Arc::clone(&server.app);
    let now = app.clock.wall_now();
    let spec = MerchantSpec { mchid: None, name: "Bench", key_mode: KeyMode::PublicKey, certificate_pem: None };
    let m = parties::create_merchant(&app.store, &app.rng, &app.platform, spec, now).await?;
    let merchant = app.store.merchant(&m.mchid).await?.context("the bench merchant")?;

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

    let event = Event { event_type: "TRANSACTION.SUCCESS", summary: "支付成功", original_type: "transaction" };
    let business_now = app.clock.business_now();
    let mut tx = app.store.write().await?;
    for i in 0..callbacks {
        let reference = format!("DELIVERY{i:08}");
        let plaintext = serde_json::json!({"out_trade_no": reference, "trade_state": "SUCCESS"}).to_string();
        let n = outbox::seal(&app, &event, plaintext.as_bytes(), &merchant, business_now, (&reference, &notify_url))
            .map_err(|e| anyhow::anyhow!("sealing a callback: {e}"))?;
        koudai_store::notifications::enqueue(&mut tx, &n).await?;
    }
    tx.commit().await?;
    let started = Instant::now();
    // How many sends are in flight, sampled every millisecond until done.
    let (sampling, done) = (Arc::clone(&app), Arc::new(std::sync::atomic::AtomicBool::new(false)));
    let finished = Arc::clone(&done);
    let sampler = tokio::spawn(async move {
        let (mut sum, mut n) = (0usize, 0usize);
        while !finished.load(Ordering::SeqCst) {
            sum += sampling.destinations.snapshot().0;
            n += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        sum as f64 / n.max(1) as f64
    });
    app.wake.delivery();
    let deadline = started + Duration::from_secs(120);
    while received.load(Ordering::SeqCst) < callbacks {
        if Instant::now() > deadline {
            bail!("only {} of {callbacks} callbacks arrived", received.load(Ordering::SeqCst));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let in_flight = sampler.await?;
    receiver_task.abort();
    server.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok((callbacks, elapsed, in_flight))
}
