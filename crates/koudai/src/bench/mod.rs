//! `koudai bench`: throughput of signed prepay requests against an
//! in-process server, beside the bound measured in the same run: the
//! fastest RSA-2048 on the machine (aws-lc, `openssl speed`'s engine), signs
//! and verifies per second on one core; then the discovery directory and,
//! on PostgreSQL, the ledger beside pgbench.
//!
//! This module holds the arguments and [`run`], which measures every figure
//! and prints them all. The figures are measured in `prepay` (signed
//! prepays, full cycles, the ledger), `delivery` (callbacks delivered by
//! the outbox) and `discovery` (directory views); all
//! build on `harness` (the in-process server and the bounds), never on each
//! other.

mod delivery;
mod discovery;
mod harness;
mod prepay;

use std::time::Duration;

use anyhow::bail;
use clap::Args;

use harness::{peak_rss, pgbench_tps, rsa_rates};
use prepay::{bench_backend, ledger_rate};

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
    /// Directory views measured (at --concurrency).
    #[arg(long, default_value_t = 3000)]
    discovery_views: usize,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.orders == 0 || args.concurrency == 0 {
        bail!("--orders and --concurrency must be positive");
    }
    let rsa = rsa_rates(Duration::from_secs(3))?;
    let bound = 2.0 * rsa.signs_per_s;
    let mut results = vec![bench_backend("sqlite", None, args.orders, args.concurrency).await?];
    if let Some(admin) = &args.postgres_url {
        let url = koudai_store::scratch::scratch_postgres_database(admin, "koudai_bench").await?;
        let figures = bench_backend("postgres", Some(url.clone()), args.orders, args.concurrency).await;
        koudai_store::scratch::drop_postgres_database(admin, &url).await?;
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
    println!();
    println!("delivery: sealed callbacks in the outbox -> delivered and acknowledged (one signature each)");
    println!(
        "{:<10} {:>9} {:>10} {:>11} {:>8} {:>10}",
        "backend", "callbacks", "seconds", "delivered/s", "ratio", "in flight"
    );
    let n = args.orders;
    let mut deliveries = vec![("sqlite", delivery::bench(None, n).await?)];
    if let Some(admin) = &args.postgres_url {
        let url = koudai_store::scratch::scratch_postgres_database(admin, "koudai_bench").await?;
        let figures = delivery::bench(Some(url.clone()), n).await;
        koudai_store::scratch::drop_postgres_database(admin, &url).await?;
        deliveries.push(("postgres", figures?));
    }
    for (backend, (count, elapsed, in_flight)) in deliveries {
        let rate = count as f64 / elapsed.as_secs_f64();
        // One signature per callback: the bound is two cores' signs.
        println!(
            "{backend:<10} {count:>9} {:>10.2} {rate:>11.0} {:>8.2} {in_flight:>10.1}",
            elapsed.as_secs_f64(),
            rate / bound
        );
    }
    println!("server peak RSS: {}", peak_rss().unwrap_or_else(|| "unknown".into()));
    if args.discovery_accounts > 0 && args.discovery_views > 0 {
        let (n, views) = (args.discovery_accounts, args.discovery_views);
        let c = args.concurrency;
        let mut figures = vec![discovery::bench("sqlite", None, n, views, c).await?];
        if let Some(admin) = &args.postgres_url {
            let url = koudai_store::scratch::scratch_postgres_database(admin, "koudai_bench").await?;
            let f = discovery::bench("postgres", Some(url.clone()), n, views, c).await;
            koudai_store::scratch::drop_postgres_database(admin, &url).await?;
            figures.push(f?);
        }
        discovery::print(&figures);
    }
    if let Some(admin) = &args.postgres_url {
        println!();
        let ledger = ledger_rate(admin, args.orders, args.concurrency).await?;
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
