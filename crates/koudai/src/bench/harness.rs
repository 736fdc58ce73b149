//! The harness every `koudai bench` figure shares: an in-process sandbox
//! server on a fresh data directory, the server's peak memory, and the
//! bounds measured in the same run (RSA-2048 signs and verifies on one core,
//! pgbench's TPC-B-like rate on the same PostgreSQL server).

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use koudai_app::{Mode, Rng};
use koudai_domain::Secret;
use koudai_protocol::PrivateKey;

use crate::server::{Server, ServerConfig};

/// An in-process server in sandbox mode, without the demo world, on a
/// fresh data directory (its SQLite database there, or `database_url`).
/// Returns the server and the directory to remove afterwards.
pub(super) async fn start_server(database_url: Option<String>) -> anyhow::Result<(Server, std::path::PathBuf)> {
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

/// The process's peak resident set (`VmHWM`), which is the server's: it
/// runs in this process.
pub(super) fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).map(|v| v.trim().to_owned())
}

/// pgbench's built-in TPC-B-like script on its own scratch database of the
/// same server, for 10 seconds with the same number of clients.
pub(super) async fn pgbench_tps(admin: &str, clients: usize) -> anyhow::Result<f64> {
    let url = koudai_store::scratch::scratch_postgres_database(admin, "koudai_bench").await?;
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
    koudai_store::scratch::drop_postgres_database(admin, &url).await?;
    let run = run?;
    let out = String::from_utf8_lossy(&run.stdout);
    out.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ").and_then(|rest| rest.split_whitespace().next()).and_then(|v| v.parse().ok())
        })
        .with_context(|| format!("no tps in pgbench output: {out}"))
}

/// RSA-2048 operations per second on one core.
pub(super) struct RsaRates {
    pub(super) signs_per_s: f64,
    pub(super) verifies_per_s: f64,
}

/// RSA-2048 PKCS#1 v1.5 SHA-256 signs and verifies per second on one core,
/// each for half of `budget`, with the library (aws-lc) and key size the
/// server uses: the same engine `openssl speed rsa2048` measures.
pub(super) fn rsa_rates(budget: Duration) -> anyhow::Result<RsaRates> {
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
