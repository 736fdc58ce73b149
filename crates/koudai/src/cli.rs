//! The `koudai` command line. Every command that touches data takes the same
//! `--data-dir` / `--database-url` as `serve`.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use koudai_app::parties::{self, MerchantSpec};
use koudai_app::providers::{self, GrantCommand, ProviderSpec, SubMerchantSpec};
use koudai_app::{Clock, Mode, PlatformKeys, Rng};
use koudai_domain::provider::{GrantAction, ProviderKind};
use koudai_domain::Secret;
use koudai_store::{ConsoleRole, KeyMode, Store};

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
        koudai_app::money::load_default_schedule(&store, Clock::load(&store, mode).await?.wall_now()).await?;
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

fn provider_kind(s: &str) -> Result<ProviderKind, String> {
    ProviderKind::parse(s).ok_or_else(|| format!("{s:?} is not official or third_party"))
}

fn key_mode(s: &str) -> Result<KeyMode, String> {
    KeyMode::parse(s).ok_or_else(|| format!("unknown key mode {s:?} (public_key or certificate)"))
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
        sharing_events: koudai_app::sharing::SharingEventNames,
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

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a merchant. Without --certificate a key pair is generated and
    /// its private key written to --out-dir.
    MerchantCreate {
        #[arg(long)]
        name: String,
        #[arg(long)]
        mchid: Option<String>,
        #[arg(long, value_parser = key_mode, default_value = "public_key")]
        key_mode: KeyMode,
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
    /// Record a merchant's deposit paid in (default: what is still missing).
    DepositPay {
        #[arg(long)]
        mchid: String,
        #[arg(long)]
        amount_fen: Option<i64>,
    },
    /// Release a merchant's whole deposit to its available funds.
    DepositRelease {
        #[arg(long)]
        mchid: String,
    },
    /// Put a merchant under a fee rule: a category (general, virtual_goods,
    /// jewellery) or a settlement_id of the schedule.
    FeeRule {
        #[arg(long)]
        mchid: String,
        #[arg(long)]
        rule: String,
    },
    /// Register the bank account payouts go to (simulated bank).
    BankAccount {
        #[arg(long)]
        mchid: String,
        #[arg(long)]
        account: String,
    },
    /// Load a fee schedule file (JSON) as a new version.
    FeeSchedule {
        #[arg(long)]
        file: PathBuf,
    },
    /// Print a merchant's own sandbox token (made on first use): it acts on
    /// that merchant's orders, refunds and callbacks only.
    SandboxToken {
        #[arg(long)]
        mchid: String,
    },
    /// Create a service provider (a merchant that acts for sub-merchants)
    /// with its app; it holds no privileges until they are granted.
    ProviderCreate {
        #[arg(long)]
        name: String,
        /// `official` (an operator team) or `third_party`.
        #[arg(long, value_parser = provider_kind)]
        kind: ProviderKind,
        #[arg(long)]
        sp_mchid: Option<String>,
        #[arg(long)]
        sp_appid: Option<String>,
        #[arg(long, value_parser = key_mode, default_value = "public_key")]
        key_mode: KeyMode,
        /// Where it hears of profit shares it receives (commission).
        #[arg(long)]
        service_notify_url: Option<String>,
        /// Where to write its generated private key and certificate.
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
    },
    /// Create a sub-merchant under a provider.
    SubMerchantCreate {
        #[arg(long)]
        sp_mchid: String,
        /// The full registered name (what a MERCHANT_ID receiver must give).
        #[arg(long)]
        name: String,
        #[arg(long)]
        mchid: Option<String>,
        /// Fee rule: a category or a settlement_id (default: general).
        #[arg(long)]
        fee_rule: Option<String>,
        /// Give it an app of its own (made with this appid).
        #[arg(long)]
        sub_appid: Option<String>,
        #[arg(long)]
        bank_account: Option<String>,
    },
    /// Grant a provider a privilege, or revoke it; logged with who and why.
    Privilege {
        #[arg(long)]
        sp_mchid: String,
        /// One of the catalogue: payment_interface, profit_sharing,
        /// fast_track_audit, custom_menu, shop_builder, discovery_featured.
        #[arg(long)]
        privilege: String,
        /// `grant` or `revoke`.
        #[arg(long)]
        action: String,
        #[arg(long)]
        reason: String,
        /// A grant lapses after this many days.
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// Create a console user: an operator, a provider's user (--sp-mchid)
    /// or a merchant's user (--mchid: its official accounts and the
    /// third-party platforms it authorised).
    UserCreate {
        #[arg(long)]
        login: String,
        #[arg(long, env = "KOUDAI_CONSOLE_PASSWORD")]
        password: String,
        #[arg(long, conflicts_with = "mchid")]
        sp_mchid: Option<String>,
        #[arg(long)]
        mchid: Option<String>,
    },
    /// Make an app an official account of a merchant or provider (a fresh
    /// secret, Token and EncodingAESKey are printed).
    MpAccountCreate {
        #[arg(long)]
        appid: String,
        #[arg(long)]
        mchid: String,
        #[arg(long)]
        name: String,
    },
    /// Give a provider a third-party platform (component): a fresh
    /// component appid, secret, Token and EncodingAESKey are printed. Its
    /// event URL is set in the provider console or the sandbox API (both
    /// run the URL verification first).
    ComponentCreate {
        #[arg(long)]
        sp_mchid: String,
    },
    /// Mark an official account verified (or not, with --verified false);
    /// its e-commerce capabilities follow at once.
    MpVerify {
        #[arg(long)]
        appid: String,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        verified: bool,
    },
    /// Record a violation against an official account (it holds no
    /// e-commerce capability while one is open under the default rules).
    ViolationOpen {
        #[arg(long)]
        appid: String,
        #[arg(long)]
        reason: String,
    },
    /// Close a violation by its id.
    ViolationClose {
        #[arg(long)]
        id: i64,
    },
    /// Show which accounts' capabilities an e-commerce rule set (a JSON
    /// file) would grant or take away, without publishing it.
    RulesPreview {
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Publish an e-commerce rule set (a JSON file; its version must be
    /// above the one in force); every account is re-evaluated at once.
    RulesPublish {
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Set an official account's IP allow-list for token calls
    /// (comma-separated; empty allows every caller).
    MpIpAllowlist {
        #[arg(long)]
        appid: String,
        #[arg(long, default_value = "")]
        ips: String,
    },
    /// Set a merchant's largest profit-sharing ratio (ten-thousandths: 3000 = 30%).
    MaxRatio {
        #[arg(long)]
        mchid: String,
        #[arg(long)]
        max_ratio: i64,
    },
    /// Run settlement and payouts for a business day (YYYY-MM-DD; default today).
    Settle {
        #[arg(long)]
        date: Option<String>,
    },
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
                Ok(mode) => admin(&store, mode, command).await,
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
            let problems = koudai_app::money::verify(store, clock.business_now()).await?;
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

async fn admin(store: &Store, mode: Mode, command: AdminCommand) -> anyhow::Result<()> {
    let clock = Clock::load(store, mode).await?;
    let rng = Rng::os();
    let now = clock.wall_now();
    let business_now = clock.business_now();
    match command {
        AdminCommand::MerchantCreate { name, mchid, key_mode, certificate, out_dir } => {
            let platform = PlatformKeys::load_or_create(store, &rng, now).await?;
            let pem = certificate
                .map(|p| std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display())))
                .transpose()?;
            let spec = MerchantSpec { mchid, name: &name, key_mode, certificate_pem: pem.as_deref() };
            let m = parties::create_merchant(store, &rng, &platform, spec, now).await?;
            if let Some(key) = &m.private_key_pem {
                std::fs::create_dir_all(&out_dir)?;
                let key_path = out_dir.join(format!("{}_apiclient_key.pem", m.mchid));
                let cert_path = out_dir.join(format!("{}_apiclient_cert.pem", m.mchid));
                std::fs::write(&key_path, key.expose())?;
                std::fs::write(&cert_path, &m.certificate_pem)?;
                eprintln!("private key: {}\ncertificate: {}", key_path.display(), cert_path.display());
            }
            println!(
                "{}",
                serde_json::json!({"mchid": m.mchid, "key_mode": m.key_mode.as_str(), "serial_no": m.serial_no, "apiv3_key": m.apiv3_key.expose(),
                    "platform": {"public_key_id": platform.public_key_id, "certificate_serial": platform.certificate.serial_hex}})
            );
        }
        AdminCommand::ProviderCreate { name, kind, sp_mchid, sp_appid, key_mode, service_notify_url, out_dir } => {
            let platform = PlatformKeys::load_or_create(store, &rng, now).await?;
            let spec = ProviderSpec {
                sp_mchid,
                name: &name,
                kind,
                key_mode,
                sp_appid,
                service_notify_url: service_notify_url.as_deref(),
            };
            let p = providers::create_provider(store, &rng, &platform, spec, now).await?;
            let m = &p.merchant;
            if let Some(key) = &m.private_key_pem {
                std::fs::create_dir_all(&out_dir)?;
                let key_path = out_dir.join(format!("{}_apiclient_key.pem", m.mchid));
                let cert_path = out_dir.join(format!("{}_apiclient_cert.pem", m.mchid));
                std::fs::write(&key_path, key.expose())?;
                std::fs::write(&cert_path, &m.certificate_pem)?;
                eprintln!("private key: {}\ncertificate: {}", key_path.display(), cert_path.display());
            }
            println!(
                "{}",
                serde_json::json!({"sp_mchid": m.mchid, "sp_appid": p.sp_appid, "kind": kind.as_str(),
                    "key_mode": m.key_mode.as_str(), "serial_no": m.serial_no, "apiv3_key": m.apiv3_key.expose()})
            );
        }
        AdminCommand::SubMerchantCreate { sp_mchid, name, mchid, fee_rule, sub_appid, bank_account } => {
            let platform = PlatformKeys::load_or_create(store, &rng, now).await?;
            let spec = SubMerchantSpec {
                mchid,
                sp_mchid: &sp_mchid,
                name: &name,
                fee_rule: fee_rule.as_deref(),
                sub_appid,
                bank_account: bank_account.as_deref(),
            };
            let (sub, _) = providers::create_sub_merchant(store, &rng, &platform, spec, now, business_now).await?;
            println!(
                "{}",
                serde_json::json!({"sub_mchid": sub.mchid, "sp_mchid": sp_mchid, "sub_appid": sub.sub_appid})
            );
        }
        AdminCommand::Privilege { sp_mchid, privilege, action, reason, expires_in_days } => {
            let action = match action.as_str() {
                "grant" => GrantAction::Grant,
                "revoke" => GrantAction::Revoke,
                other => anyhow::bail!("--action is grant or revoke, not {other:?}"),
            };
            let expires_at = expires_in_days.map(|d| business_now.unix() + d.saturating_mul(86_400));
            let actor = format!("admin:{}", std::env::var("USER").unwrap_or_else(|_| "cli".into()));
            let cmd = GrantCommand {
                sp_mchid: &sp_mchid,
                privilege: &privilege,
                action,
                actor: &actor,
                reason: &reason,
                expires_at,
            };
            let held = providers::change_privilege(store, cmd, business_now).await?;
            println!("{}", serde_json::json!({"sp_mchid": sp_mchid, "privilege": privilege, "held": held}));
        }
        AdminCommand::UserCreate { login, password, sp_mchid, mchid } => {
            let (role, party) = match (&sp_mchid, &mchid) {
                (Some(sp), _) => (ConsoleRole::Provider, Some(sp.as_str())),
                (None, Some(m)) => (ConsoleRole::Merchant, Some(m.as_str())),
                (None, None) => (ConsoleRole::Operator, None),
            };
            providers::create_console_user(store, &rng, &login, &password, role, party, now).await?;
            println!(
                "{}",
                serde_json::json!({"login": login, "role": role.as_str(), "sp_mchid": sp_mchid, "mchid": mchid})
            );
        }
        AdminCommand::MpAccountCreate { appid, mchid, name } => {
            anyhow::ensure!(store.app_exists(&appid).await?, "no app {appid}: create it with app-create first");
            anyhow::ensure!(store.merchant(&mchid).await?.is_some(), "no merchant {mchid}");
            let a = koudai_app::mp::create_account(store, &rng, &appid, &mchid, &name, now).await?;
            println!(
                "{}",
                serde_json::json!({"appid": a.appid, "original_id": a.original_id, "secret": a.secret, "token": a.token,
                    "encoding_aes_key": a.encoding_aes_key, "owner_mchid": a.owner_mchid})
            );
        }
        AdminCommand::ComponentCreate { sp_mchid } => {
            anyhow::ensure!(store.provider(&sp_mchid).await?.is_some(), "no provider {sp_mchid}");
            if let Some(c) = store.component_of_provider(&sp_mchid).await? {
                anyhow::bail!("provider {sp_mchid} already has third-party platform {}", c.component_appid);
            }
            let c = koudai_app::component::create_component(store, &rng, &sp_mchid, None, now.unix()).await?;
            println!(
                "{}",
                serde_json::json!({"component_appid": c.component_appid, "component_appsecret": c.secret,
                    "token": c.token, "encoding_aes_key": c.encoding_aes_key, "sp_mchid": sp_mchid})
            );
        }
        AdminCommand::MpVerify { appid, verified } => {
            let done =
                koudai_app::eligibility::set_verified(store, &appid, verified, "admin", business_now.unix()).await?;
            anyhow::ensure!(done, "no official account {appid}");
            println!("{}", serde_json::json!({"appid": appid, "verified": verified}));
        }
        AdminCommand::ViolationOpen { appid, reason } => {
            anyhow::ensure!(!reason.trim().is_empty(), "--reason is required");
            let id =
                koudai_app::eligibility::open_violation(store, &appid, reason.trim(), "admin", business_now.unix())
                    .await?
                    .with_context(|| format!("no official account {appid}"))?;
            println!("{}", serde_json::json!({"id": id, "appid": appid}));
        }
        AdminCommand::ViolationClose { id } => {
            let closed = koudai_app::eligibility::close_violation(store, id, "admin", business_now.unix()).await?;
            anyhow::ensure!(closed, "no open violation {id}");
            println!("{}", serde_json::json!({"id": id, "closed": true}));
        }
        AdminCommand::RulesPreview { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let changes = koudai_app::eligibility::preview(store, &text, business_now.unix())
                .await?
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let list: Vec<_> = changes
                .iter()
                .map(|c| serde_json::json!({"appid": c.appid, "capability": c.capability, "now": c.now, "proposed": c.proposed}))
                .collect();
            println!("{}", serde_json::json!({"changes": list}));
        }
        AdminCommand::RulesPublish { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let version = koudai_app::eligibility::publish(store, &text, "admin", business_now.unix())
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            println!("{}", serde_json::json!({"version": version}));
        }
        AdminCommand::MpIpAllowlist { appid, ips } => {
            for ip in ips.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                ip.parse::<std::net::IpAddr>().with_context(|| format!("{ip} is not an IP address"))?;
            }
            anyhow::ensure!(store.mp_account(&appid).await?.is_some(), "no official account {appid}");
            store.set_mp_ip_allowlist(&appid, &ips).await?;
            println!("{}", serde_json::json!({"appid": appid, "ip_allowlist": ips}));
        }
        AdminCommand::MaxRatio { mchid, max_ratio } => {
            anyhow::ensure!((0..=10_000).contains(&max_ratio), "--max-ratio is 0 to 10000 (ten-thousandths)");
            anyhow::ensure!(store.merchant(&mchid).await?.is_some(), "no merchant {mchid}");
            store.set_max_ratio(&mchid, max_ratio).await?;
            println!("{}", serde_json::json!({"mchid": mchid, "max_ratio": max_ratio}));
        }
        AdminCommand::AppCreate { name, mchid, appid } => {
            let appid = parties::create_app(store, &rng, appid, &name, &mchid, now).await?;
            println!("{}", serde_json::json!({"appid": appid, "mchid": mchid}));
        }
        AdminCommand::ConsumerCreate { login, password, balance_fen } => {
            parties::create_consumer(store, &rng, &login, &password, balance_fen, business_now).await?;
            println!("{}", serde_json::json!({"login": login, "balance_fen": balance_fen}));
        }
        AdminCommand::TopUp { login, amount_fen } => {
            let balance = parties::top_up(store, &rng, &login, amount_fen, business_now).await?;
            println!("{}", serde_json::json!({"login": login, "balance_fen": balance}));
        }
        AdminCommand::DepositPay { mchid, amount_fen } => {
            let held = parties::pay_deposit(store, &rng, &mchid, amount_fen, business_now).await?;
            println!("{}", serde_json::json!({"mchid": mchid, "deposit_fen": held}));
        }
        AdminCommand::DepositRelease { mchid } => {
            let released = parties::release_deposit(store, &rng, &mchid, business_now).await?;
            println!("{}", serde_json::json!({"mchid": mchid, "released_fen": released}));
        }
        AdminCommand::FeeRule { mchid, rule } => {
            let r = store
                .set_fee_rule(&mchid, &rule, business_now.unix())
                .await
                .with_context(|| format!("setting the fee rule of {mchid}"))?;
            println!(
                "{}",
                serde_json::json!({"mchid": mchid, "fee_rule": r.id, "rate": r.rate.percent(), "cycle_days": r.cycle_days, "deposit_fen": r.deposit_fen})
            );
        }
        AdminCommand::BankAccount { mchid, account } => {
            store.set_bank_account(&mchid, &account).await.with_context(|| format!("merchant {mchid}"))?;
            println!("{}", serde_json::json!({"mchid": mchid, "bank_account": account}));
        }
        AdminCommand::FeeSchedule { file } => {
            let body = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let s = store.load_fee_schedule(&body, now.unix()).await?;
            println!(
                "{}",
                serde_json::json!({"version": s.version, "effective_from": koudai_protocol::times::format_rfc3339(s.effective_from), "rules": s.rules.len()})
            );
        }
        AdminCommand::SandboxToken { mchid } => {
            if store.merchant(&mchid).await?.is_none() {
                anyhow::bail!("no merchant {mchid}");
            }
            let token = store.merchant_sandbox_token(&mchid, &rng.token(32)).await?;
            println!("{}", serde_json::json!({"mchid": mchid, "sandbox_token": token}));
        }
        AdminCommand::Settle { date } => {
            let date = date.unwrap_or_else(|| {
                koudai_domain::fees::format_date(koudai_domain::fees::business_date(business_now.unix()))
            });
            if koudai_domain::fees::parse_date(&date).is_none() {
                anyhow::bail!("--date must be YYYY-MM-DD");
            }
            let (settled, paid) = koudai_app::money::settle_day(store, &rng, &date, business_now).await?;
            println!(
                "{}",
                serde_json::json!({
                    "date": date,
                    "settled": settled.iter().map(|s| serde_json::json!({"mchid": s.mchid, "voucher": s.voucher, "amount_fen": s.amount_fen, "orders": s.order_count})).collect::<Vec<_>>(),
                    "payouts": paid.iter().map(|p| serde_json::json!({"mchid": p.mchid, "payout_no": p.payout_no, "bank_account": p.bank_account, "amount_fen": p.amount_fen})).collect::<Vec<_>>(),
                })
            );
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
