//! The `koudai` command line. Every command that touches data takes the same
//! `--data-dir` / `--database-url` as `serve`. `koudai admin`'s subcommands,
//! one function each, are in the `admin` module.

mod admin;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use koudai_app::{Clock, Mode};
use koudai_domain::Secret;
use koudai_store::Store;

use koudai_http::serve::ConnLimits;

use crate::server::{Server, ServerConfig};

#[derive(Parser)]
#[command(name = "koudai", version, about = "Merchant payment platform speaking WeChat Pay APIv3")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Where Koudai keeps its SQLite database and the demo world's files.
    #[arg(long, env = "KOUDAI_DATA_DIR", default_value = "./koudai-data", global = true)]
    data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; default: SQLite file `koudai.db` in the data dir.
    #[arg(long, env = "KOUDAI_DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// sandbox (movable business clock, demo world, sandbox API) or live.
    /// Default: the mode the database was last served in, else sandbox.
    #[arg(long, env = "KOUDAI_MODE", global = true)]
    mode: Option<Mode>,
}

impl DataArgs {
    fn url(&self) -> Secret<String> {
        Secret::new(self.database_url.clone().unwrap_or_else(|| sqlite_url(&self.data_dir, "rwc")))
    }

    /// The database for commands that write: created and migrated if
    /// needed, with the shipped fee schedule loaded.
    async fn store(&self) -> anyhow::Result<Store> {
        std::fs::create_dir_all(&self.data_dir).with_context(|| format!("creating {}", self.data_dir.display()))?;
        let store = Store::connect(self.url().expose()).await?;
        store.migrate().await?;
        let mode = crate::server::database_mode(&store, self.mode).await?;
        koudai_app::payments::settlement::load_default_schedule(&store, Clock::load(&store, mode).await?.wall_now())
            .await?;
        Ok(store)
    }

    /// The database for commands that only read: it must exist already;
    /// nothing is created, migrated or written (read-only means read-only).
    async fn existing_store(&self) -> anyhow::Result<Store> {
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => {
                let file = self.data_dir.join("koudai.db");
                if !file.is_file() {
                    anyhow::bail!("no database at {} (is --data-dir right?)", file.display());
                }
                sqlite_url(&self.data_dir, "ro")
            }
        };
        let store = Store::connect_read_only(&url).await?;
        if !store.is_migrated().await? {
            store.close().await;
            anyhow::bail!("the database has no Koudai tables; run `koudai migrate` or `koudai serve` first");
        }
        Ok(store)
    }
}

fn sqlite_url(data_dir: &Path, mode: &str) -> String {
    format!("sqlite://{}?mode={mode}", data_dir.join("koudai.db").display())
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform: APIv3, cashier pages, sandbox API and workers.
    Serve {
        #[command(flatten)]
        data: DataArgs,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, env = "KOUDAI_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Base URL clients reach this server at (default `http://<listen>`).
        #[arg(long, env = "KOUDAI_PUBLIC_URL")]
        public_url: Option<String>,
        /// Do not create the demo world in sandbox mode.
        #[arg(long, env = "KOUDAI_NO_DEMO")]
        no_demo: bool,
        /// Base URL of bill `download_url`s (default: the public URL). SDKs
        /// strip their own base URL from it before downloading.
        #[arg(long, env = "KOUDAI_BILL_DOWNLOAD_BASE")]
        bill_download_base: Option<String>,
        /// Connections served at once; one more gets an immediate 503.
        #[arg(long, env = "KOUDAI_MAX_CONNECTIONS", default_value_t = 900)]
        max_connections: usize,
        /// Seconds a client may take to send a request's headers (and to sit
        /// idle between requests on a kept-alive connection).
        #[arg(long, env = "KOUDAI_HEADER_TIMEOUT_S", default_value_t = 10)]
        header_timeout_s: u64,
        /// Event names of profit-sharing notifications: `observed`
        /// (TRANSACTION.SUCCESS, what merchants report receiving) or
        /// `documented` (PROFITSHARING.SUCCESS, what the docs say).
        #[arg(long, env = "KOUDAI_SHARING_EVENTS", default_value = "observed")]
        sharing_events: koudai_app::payments::sharing::SharingEventNames,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Create merchants, apps and consumers; top up wallets.
    Admin {
        #[command(flatten)]
        data: DataArgs,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Check the ledger and the bills; exits non-zero naming every problem.
    Ledger {
        #[command(flatten)]
        data: DataArgs,
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Drive signed prepay requests at an in-process server and report rates.
    Bench(crate::bench::BenchArgs),
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Every entry balances, every balance equals its postings, every payment
    /// and refund has exactly its entries, bills equal the ledger.
    Verify,
    /// Where the money is: the balance of each kind of account.
    Positions,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_env("KOUDAI_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("KOUDAI_LOG_FORMAT").is_ok_and(|f| f == "json") {
        // One JSON object per line, with the request's span (and so its
        // `request.id`) on every line, for log shippers.
        logs.json().with_current_span(true).with_span_list(false).init();
    } else {
        // Colours only for a person at a terminal, never in files or pipes.
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("koudai: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("koudai: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            data,
            listen,
            public_url,
            no_demo,
            bill_download_base,
            max_connections,
            header_timeout_s,
            sharing_events,
        } => {
            let mode = data.mode.unwrap_or(Mode::Sandbox);
            let server = Server::start(ServerConfig {
                database_url: data.url(),
                data_dir: data.data_dir,
                listen,
                mode,
                public_url,
                demo: !no_demo,
                bill_download_base,
                limits: ConnLimits {
                    header_read: std::time::Duration::from_secs(header_timeout_s.max(1)),
                    max_connections: max_connections.max(1),
                },
                sharing_events,
            })
            .await?;
            // The one line on stdout: scripts read the address from it.
            println!("koudai listening on http://{}", server.addr);
            let transport = server.app.store.transport().await?;
            tracing::info!(addr = %server.addr, mode = mode.as_str(), database = ?server.app.store.backend(), database.transport = transport, "koudai serving");
            shutdown_signal().await;
            tracing::info!("shutting down");
            server.stop().await;
            Ok(())
        }
        Command::Migrate { data } => {
            data.store().await?.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin { data, command } => {
            let store = data.store().await?;
            let result = match crate::server::database_mode(&store, data.mode).await {
                Ok(mode) => admin::run(&store, mode, command).await,
                Err(e) => Err(e.into()),
            };
            store.close().await;
            result
        }
        Command::Ledger { data, command } => {
            let store = data.existing_store().await?;
            let result = match crate::server::database_mode(&store, data.mode).await {
                Ok(mode) => ledger(&store, mode, command).await,
                Err(e) => Err(e.into()),
            };
            store.close().await;
            result
        }
        Command::Bench(args) => crate::bench::run(args).await,
    }
}

async fn ledger(store: &Store, mode: Mode, command: LedgerCommand) -> anyhow::Result<()> {
    let clock = Clock::load(store, mode).await?;
    match command {
        LedgerCommand::Verify => {
            let problems = koudai_app::payments::settlement::verify(store, clock.business_now()).await?;
            if problems.is_empty() {
                println!("ledger verified: every entry balances, balances equal their postings, payments, refunds and bills agree");
                Ok(())
            } else {
                for p in &problems {
                    println!("{p}");
                }
                anyhow::bail!("{} problem(s) found", problems.len())
            }
        }
        LedgerCommand::Positions => {
            let mut out = serde_json::Map::new();
            for (kind, fen) in store.totals_by_kind().await? {
                out.insert(kind.as_str().to_owned(), serde_json::json!(fen));
            }
            println!("{}", serde_json::Value::Object(out));
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
