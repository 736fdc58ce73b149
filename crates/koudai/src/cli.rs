//! The `koudai` command line. Every command that touches data takes the same
//! `--data-dir` / `--database-url` as `serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use koudai_store::{KeyMode, Store};

use crate::app::{Mode, Server, ServerConfig};
use crate::clock::Clock;
use crate::platform::PlatformKeys;

#[derive(Parser)]
#[command(name = "koudai", version, about = "Merchant payment platform speaking WeChat Pay APIv3")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Where Koudai keeps its SQLite database and the demo world's files.
    #[arg(long, env = "KOUDAI_DATA_DIR", default_value = "./koudai-data")]
    data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; default: SQLite file `koudai.db` in the data dir.
    #[arg(long, env = "KOUDAI_DATABASE_URL")]
    database_url: Option<String>,
}

impl DataArgs {
    fn url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| sqlite_url(&self.data_dir))
    }

    async fn store(&self) -> anyhow::Result<Store> {
        std::fs::create_dir_all(&self.data_dir).with_context(|| format!("creating {}", self.data_dir.display()))?;
        let store = Store::connect(&self.url()).await?;
        store.migrate().await?;
        Ok(store)
    }
}

fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("koudai.db").display())
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
        #[arg(long, env = "KOUDAI_MODE", value_enum, default_value = "sandbox")]
        mode: Mode,
        /// Base URL clients reach this server at (default `http://<listen>`).
        #[arg(long, env = "KOUDAI_PUBLIC_URL")]
        public_url: Option<String>,
        /// Do not create the demo world in sandbox mode.
        #[arg(long)]
        no_demo: bool,
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
        command: AdminCommand,
    },
    /// Drive signed prepay requests at an in-process server and report rates.
    Bench(crate::bench::BenchArgs),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a merchant. Without --certificate a key pair is generated and
    /// its private key written to --out-dir.
    MerchantCreate {
        #[arg(long)]
        name: String,
        #[arg(long)]
        mchid: Option<String>,
        #[arg(long, value_parser = ["public_key", "certificate"], default_value = "public_key")]
        key_mode: String,
        /// The merchant's own API certificate (PEM); its key stays with the merchant.
        #[arg(long)]
        certificate: Option<PathBuf>,
        /// Where to write a generated private key and certificate.
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
    },
    /// Create an app (official account, mini program, mobile app) bound to a merchant.
    AppCreate {
        #[arg(long)]
        name: String,
        #[arg(long)]
        mchid: String,
        #[arg(long)]
        appid: Option<String>,
    },
    /// Create a consumer with a wallet.
    ConsumerCreate {
        #[arg(long)]
        login: String,
        #[arg(long, env = "KOUDAI_CONSUMER_PASSWORD")]
        password: String,
        #[arg(long, default_value_t = 0)]
        balance_fen: i64,
    },
    /// Put money into a consumer's wallet.
    TopUp {
        #[arg(long)]
        login: String,
        #[arg(long)]
        amount_fen: i64,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("KOUDAI_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .with_writer(std::io::stderr)
        .init();
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
        Command::Serve { data, listen, mode, public_url, no_demo } => {
            let server = Server::start(ServerConfig {
                database_url: data.url(),
                data_dir: data.data_dir,
                listen,
                mode,
                public_url,
                demo: !no_demo,
            })
            .await?;
            // The one line on stdout: scripts read the address from it.
            println!("koudai listening on http://{}", server.addr);
            tracing::info!(addr = %server.addr, mode = ?mode, database = ?server.state.store.backend(), "koudai serving");
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
            let result = admin(&store, command).await;
            store.close().await;
            result
        }
        Command::Bench(args) => crate::bench::run(args).await,
    }
}

async fn admin(store: &Store, command: AdminCommand) -> anyhow::Result<()> {
    let clock = Clock::load(store).await?;
    let now = clock.wall_now();
    match command {
        AdminCommand::MerchantCreate { name, mchid, key_mode, certificate, out_dir } => {
            let platform = PlatformKeys::load_or_create(store, now).await?;
            let mode = KeyMode::parse(&key_mode).context("key mode")?;
            let pem = certificate
                .map(|p| std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display())))
                .transpose()?;
            let m = crate::admin::create_merchant(store, &platform, mchid, &name, mode, pem.as_deref(), now).await?;
            if let Some(key) = &m.private_key_pem {
                std::fs::create_dir_all(&out_dir)?;
                let key_path = out_dir.join(format!("{}_apiclient_key.pem", m.mchid));
                let cert_path = out_dir.join(format!("{}_apiclient_cert.pem", m.mchid));
                std::fs::write(&key_path, key)?;
                std::fs::write(&cert_path, &m.certificate_pem)?;
                eprintln!("private key: {}\ncertificate: {}", key_path.display(), cert_path.display());
            }
            println!(
                "{}",
                serde_json::json!({"mchid": m.mchid, "key_mode": m.key_mode.as_str(), "serial_no": m.serial_no, "apiv3_key": m.apiv3_key,
                    "platform": {"public_key_id": platform.public_key_id, "certificate_serial": platform.certificate.serial_hex}})
            );
        }
        AdminCommand::AppCreate { name, mchid, appid } => {
            let appid = crate::admin::create_app(store, appid, &name, &mchid, now).await?;
            println!("{}", serde_json::json!({"appid": appid, "mchid": mchid}));
        }
        AdminCommand::ConsumerCreate { login, password, balance_fen } => {
            crate::admin::create_consumer(store, &login, &password, balance_fen, now).await?;
            println!("{}", serde_json::json!({"login": login, "balance_fen": balance_fen}));
        }
        AdminCommand::TopUp { login, amount_fen } => {
            let balance = crate::admin::top_up(store, &login, amount_fen, now).await?;
            println!("{}", serde_json::json!({"login": login, "balance_fen": balance}));
        }
    }
    Ok(())
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
