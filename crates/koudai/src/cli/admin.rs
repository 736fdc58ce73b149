//! `koudai admin`: the operator's subcommands that create merchants,
//! providers, apps, accounts and consumers, move money by hand and set the
//! rules; one function per subcommand, each printing one JSON object on
//! stdout, and [`run`], which opens the clocks and dispatches.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use koudai_app::parties::providers::{self, GrantCommand, ProviderSpec, SubMerchantSpec};
use koudai_app::parties::{self, MerchantSpec};
use koudai_app::{Clock, Mode, PlatformKeys, Rng};
use koudai_domain::provider::{GrantAction, ProviderKind};
use koudai_domain::{BusinessTime, WallTime};
use koudai_store::{ConsoleRole, KeyMode, Store};

fn provider_kind(s: &str) -> Result<ProviderKind, String> {
    ProviderKind::parse(s).ok_or_else(|| format!("{s:?} is not official or third_party"))
}

fn key_mode(s: &str) -> Result<KeyMode, String> {
    KeyMode::parse(s).ok_or_else(|| format!("unknown key mode {s:?} (public_key or certificate)"))
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a merchant. Without --certificate a key pair is generated and
    /// its private key written to --out-dir.
    MerchantCreate(MerchantCreateArgs),
    /// Create an app (official account, mini program, mobile app) bound to a merchant.
    AppCreate(AppCreateArgs),
    /// Create a consumer with a wallet.
    ConsumerCreate(ConsumerCreateArgs),
    /// Put money into a consumer's wallet.
    TopUp(TopUpArgs),
    /// Record a merchant's deposit paid in (default: what is still missing).
    DepositPay(DepositPayArgs),
    /// Release a merchant's whole deposit to its available funds.
    DepositRelease(DepositReleaseArgs),
    /// Put a merchant under a fee rule: a category (general, virtual_goods,
    /// jewellery) or a settlement_id of the schedule.
    FeeRule(FeeRuleArgs),
    /// Register the bank account payouts go to (simulated bank).
    BankAccount(BankAccountArgs),
    /// Load a fee schedule file (JSON) as a new version.
    FeeSchedule(FeeScheduleArgs),
    /// Print a merchant's own sandbox token (made on first use): it acts on
    /// that merchant's orders, refunds and callbacks only.
    SandboxToken(SandboxTokenArgs),
    /// Create a service provider (a merchant that acts for sub-merchants)
    /// with its app; it holds no privileges until they are granted.
    ProviderCreate(ProviderCreateArgs),
    /// Create a sub-merchant under a provider.
    SubMerchantCreate(SubMerchantCreateArgs),
    /// Grant a provider a privilege, or revoke it; logged with who and why.
    Privilege(PrivilegeArgs),
    /// Create a console user: an operator, a provider's user (--sp-mchid)
    /// or a merchant's user (--mchid: its official accounts and the
    /// third-party platforms it authorised).
    UserCreate(UserCreateArgs),
    /// Make an app an official account of a merchant or provider (a fresh
    /// secret, Token and EncodingAESKey are printed).
    MpAccountCreate(MpAccountCreateArgs),
    /// Give a provider a third-party platform (component): a fresh
    /// component appid, secret, Token and EncodingAESKey are printed. Its
    /// event URL is set in the provider console or the sandbox API (both
    /// run the URL verification first).
    ComponentCreate(ComponentCreateArgs),
    /// Mark an official account verified (or not, with --verified false);
    /// its e-commerce capabilities follow at once.
    MpVerify(MpVerifyArgs),
    /// Record a violation against an official account (it holds no
    /// e-commerce capability while one is open under the default rules).
    ViolationOpen(ViolationOpenArgs),
    /// Close a violation by its id.
    ViolationClose(ViolationCloseArgs),
    /// Show which accounts' capabilities an e-commerce rule set (a JSON
    /// file) would grant or take away, without publishing it.
    RulesPreview(RulesPreviewArgs),
    /// Publish an e-commerce rule set (a JSON file; its version must be
    /// above the one in force); every account is re-evaluated at once.
    RulesPublish(RulesPublishArgs),
    /// Set an official account's IP allow-list for token calls
    /// (comma-separated; empty allows every caller).
    MpIpAllowlist(MpIpAllowlistArgs),
    /// Set a merchant's largest profit-sharing ratio (ten-thousandths: 3000 = 30%).
    MaxRatio(MaxRatioArgs),
    /// Run settlement and payouts for a business day (YYYY-MM-DD; default today).
    Settle(SettleArgs),
}

/// Runs one admin subcommand on `store`, on the clocks of `mode`.
pub async fn run(store: &Store, mode: Mode, command: AdminCommand) -> anyhow::Result<()> {
    let clock = Clock::load(store, mode).await?;
    let rng = Rng::os();
    let now = clock.wall_now();
    let business_now = clock.business_now();
    match command {
        AdminCommand::MerchantCreate(args) => merchant_create(store, &rng, now, args).await,
        AdminCommand::AppCreate(args) => app_create(store, &rng, now, args).await,
        AdminCommand::ConsumerCreate(args) => consumer_create(store, &rng, business_now, args).await,
        AdminCommand::TopUp(args) => top_up(store, &rng, business_now, args).await,
        AdminCommand::DepositPay(args) => deposit_pay(store, &rng, business_now, args).await,
        AdminCommand::DepositRelease(args) => deposit_release(store, &rng, business_now, args).await,
        AdminCommand::FeeRule(args) => fee_rule(store, business_now, args).await,
        AdminCommand::BankAccount(args) => bank_account(store, args).await,
        AdminCommand::FeeSchedule(args) => fee_schedule(store, now, args).await,
        AdminCommand::SandboxToken(args) => sandbox_token(store, &rng, args).await,
        AdminCommand::ProviderCreate(args) => provider_create(store, &rng, now, args).await,
        AdminCommand::SubMerchantCreate(args) => sub_merchant_create(store, &rng, now, business_now, args).await,
        AdminCommand::Privilege(args) => privilege(store, business_now, args).await,
        AdminCommand::UserCreate(args) => user_create(store, &rng, now, args).await,
        AdminCommand::MpAccountCreate(args) => mp_account_create(store, &rng, now, args).await,
        AdminCommand::ComponentCreate(args) => component_create(store, &rng, now, args).await,
        AdminCommand::MpVerify(args) => mp_verify(store, business_now, args).await,
        AdminCommand::ViolationOpen(args) => violation_open(store, business_now, args).await,
        AdminCommand::ViolationClose(args) => violation_close(store, business_now, args).await,
        AdminCommand::RulesPreview(args) => rules_preview(store, business_now, args).await,
        AdminCommand::RulesPublish(args) => rules_publish(store, business_now, args).await,
        AdminCommand::MpIpAllowlist(args) => mp_ip_allowlist(store, args).await,
        AdminCommand::MaxRatio(args) => max_ratio(store, args).await,
        AdminCommand::Settle(args) => settle(store, &rng, business_now, args).await,
    }
}

#[derive(Args)]
pub struct MerchantCreateArgs {
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
}

async fn merchant_create(store: &Store, rng: &Rng, now: WallTime, args: MerchantCreateArgs) -> anyhow::Result<()> {
    let MerchantCreateArgs { name, mchid, key_mode, certificate, out_dir } = args;
    let platform = PlatformKeys::load_or_create(store, rng, now).await?;
    let pem = certificate
        .map(|p| std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let spec = MerchantSpec { mchid, name: &name, key_mode, certificate_pem: pem.as_deref() };
    let m = parties::create_merchant(store, rng, &platform, spec, now).await?;
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
    Ok(())
}

#[derive(Args)]
pub struct AppCreateArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    mchid: String,
    #[arg(long)]
    appid: Option<String>,
}

async fn app_create(store: &Store, rng: &Rng, now: WallTime, args: AppCreateArgs) -> anyhow::Result<()> {
    let AppCreateArgs { name, mchid, appid } = args;
    let appid = parties::create_app(store, rng, appid, &name, &mchid, now).await?;
    println!("{}", serde_json::json!({"appid": appid, "mchid": mchid}));
    Ok(())
}

#[derive(Args)]
pub struct ConsumerCreateArgs {
    #[arg(long)]
    login: String,
    #[arg(long, env = "KOUDAI_CONSUMER_PASSWORD")]
    password: String,
    #[arg(long, default_value_t = 0)]
    balance_fen: i64,
}

async fn consumer_create(
    store: &Store,
    rng: &Rng,
    business_now: BusinessTime,
    args: ConsumerCreateArgs,
) -> anyhow::Result<()> {
    let ConsumerCreateArgs { login, password, balance_fen } = args;
    parties::create_consumer(store, rng, &login, &password, balance_fen, business_now).await?;
    println!("{}", serde_json::json!({"login": login, "balance_fen": balance_fen}));
    Ok(())
}

#[derive(Args)]
pub struct TopUpArgs {
    #[arg(long)]
    login: String,
    #[arg(long)]
    amount_fen: i64,
}

async fn top_up(store: &Store, rng: &Rng, business_now: BusinessTime, args: TopUpArgs) -> anyhow::Result<()> {
    let TopUpArgs { login, amount_fen } = args;
    let balance = parties::top_up(store, rng, &login, amount_fen, business_now).await?;
    println!("{}", serde_json::json!({"login": login, "balance_fen": balance}));
    Ok(())
}

#[derive(Args)]
pub struct DepositPayArgs {
    #[arg(long)]
    mchid: String,
    #[arg(long)]
    amount_fen: Option<i64>,
}

async fn deposit_pay(store: &Store, rng: &Rng, business_now: BusinessTime, args: DepositPayArgs) -> anyhow::Result<()> {
    let DepositPayArgs { mchid, amount_fen } = args;
    let held = parties::pay_deposit(store, rng, &mchid, amount_fen, business_now).await?;
    println!("{}", serde_json::json!({"mchid": mchid, "deposit_fen": held}));
    Ok(())
}

#[derive(Args)]
pub struct DepositReleaseArgs {
    #[arg(long)]
    mchid: String,
}

async fn deposit_release(
    store: &Store,
    rng: &Rng,
    business_now: BusinessTime,
    args: DepositReleaseArgs,
) -> anyhow::Result<()> {
    let DepositReleaseArgs { mchid } = args;
    let released = parties::release_deposit(store, rng, &mchid, business_now).await?;
    println!("{}", serde_json::json!({"mchid": mchid, "released_fen": released}));
    Ok(())
}

#[derive(Args)]
pub struct FeeRuleArgs {
    #[arg(long)]
    mchid: String,
    #[arg(long)]
    rule: String,
}

async fn fee_rule(store: &Store, business_now: BusinessTime, args: FeeRuleArgs) -> anyhow::Result<()> {
    let FeeRuleArgs { mchid, rule } = args;
    let r = store
        .set_fee_rule(&mchid, &rule, business_now.unix())
        .await
        .with_context(|| format!("setting the fee rule of {mchid}"))?;
    println!(
        "{}",
        serde_json::json!({"mchid": mchid, "fee_rule": r.id, "rate": r.rate.percent(), "cycle_days": r.cycle_days, "deposit_fen": r.deposit_fen})
    );
    Ok(())
}

#[derive(Args)]
pub struct BankAccountArgs {
    #[arg(long)]
    mchid: String,
    #[arg(long)]
    account: String,
}

async fn bank_account(store: &Store, args: BankAccountArgs) -> anyhow::Result<()> {
    let BankAccountArgs { mchid, account } = args;
    store.set_bank_account(&mchid, &account).await.with_context(|| format!("merchant {mchid}"))?;
    println!("{}", serde_json::json!({"mchid": mchid, "bank_account": account}));
    Ok(())
}

#[derive(Args)]
pub struct FeeScheduleArgs {
    #[arg(long)]
    file: PathBuf,
}

async fn fee_schedule(store: &Store, now: WallTime, args: FeeScheduleArgs) -> anyhow::Result<()> {
    let FeeScheduleArgs { file } = args;
    let body = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let s = store.load_fee_schedule(&body, now.unix()).await?;
    println!(
        "{}",
        serde_json::json!({"version": s.version, "effective_from": koudai_protocol::times::format_rfc3339(s.effective_from), "rules": s.rules.len()})
    );
    Ok(())
}

#[derive(Args)]
pub struct SandboxTokenArgs {
    #[arg(long)]
    mchid: String,
}

async fn sandbox_token(store: &Store, rng: &Rng, args: SandboxTokenArgs) -> anyhow::Result<()> {
    let SandboxTokenArgs { mchid } = args;
    if store.merchant(&mchid).await?.is_none() {
        anyhow::bail!("no merchant {mchid}");
    }
    let token = store.merchant_sandbox_token(&mchid, &rng.token(32)).await?;
    println!("{}", serde_json::json!({"mchid": mchid, "sandbox_token": token}));
    Ok(())
}

#[derive(Args)]
pub struct ProviderCreateArgs {
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
}

async fn provider_create(store: &Store, rng: &Rng, now: WallTime, args: ProviderCreateArgs) -> anyhow::Result<()> {
    let ProviderCreateArgs { name, kind, sp_mchid, sp_appid, key_mode, service_notify_url, out_dir } = args;
    let platform = PlatformKeys::load_or_create(store, rng, now).await?;
    let spec = ProviderSpec {
        sp_mchid,
        name: &name,
        kind,
        key_mode,
        sp_appid,
        service_notify_url: service_notify_url.as_deref(),
    };
    let p = providers::create_provider(store, rng, &platform, spec, now).await?;
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
    Ok(())
}

#[derive(Args)]
pub struct SubMerchantCreateArgs {
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
}

async fn sub_merchant_create(
    store: &Store,
    rng: &Rng,
    now: WallTime,
    business_now: BusinessTime,
    args: SubMerchantCreateArgs,
) -> anyhow::Result<()> {
    let SubMerchantCreateArgs { sp_mchid, name, mchid, fee_rule, sub_appid, bank_account } = args;
    let platform = PlatformKeys::load_or_create(store, rng, now).await?;
    let spec = SubMerchantSpec {
        mchid,
        sp_mchid: &sp_mchid,
        name: &name,
        fee_rule: fee_rule.as_deref(),
        sub_appid,
        bank_account: bank_account.as_deref(),
    };
    let (sub, _) = providers::create_sub_merchant(store, rng, &platform, spec, now, business_now).await?;
    println!("{}", serde_json::json!({"sub_mchid": sub.mchid, "sp_mchid": sp_mchid, "sub_appid": sub.sub_appid}));
    Ok(())
}

#[derive(Args)]
pub struct PrivilegeArgs {
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
}

async fn privilege(store: &Store, business_now: BusinessTime, args: PrivilegeArgs) -> anyhow::Result<()> {
    let PrivilegeArgs { sp_mchid, privilege, action, reason, expires_in_days } = args;
    let action = match action.as_str() {
        "grant" => GrantAction::Grant,
        "revoke" => GrantAction::Revoke,
        other => anyhow::bail!("--action is grant or revoke, not {other:?}"),
    };
    let expires_at = expires_in_days.map(|d| business_now.unix() + d.saturating_mul(86_400));
    let actor = format!("admin:{}", std::env::var("USER").unwrap_or_else(|_| "cli".into()));
    let cmd =
        GrantCommand { sp_mchid: &sp_mchid, privilege: &privilege, action, actor: &actor, reason: &reason, expires_at };
    let held = providers::change_privilege(store, cmd, business_now).await?;
    println!("{}", serde_json::json!({"sp_mchid": sp_mchid, "privilege": privilege, "held": held}));
    Ok(())
}

#[derive(Args)]
pub struct UserCreateArgs {
    #[arg(long)]
    login: String,
    #[arg(long, env = "KOUDAI_CONSOLE_PASSWORD")]
    password: String,
    #[arg(long, conflicts_with = "mchid")]
    sp_mchid: Option<String>,
    #[arg(long)]
    mchid: Option<String>,
}

async fn user_create(store: &Store, rng: &Rng, now: WallTime, args: UserCreateArgs) -> anyhow::Result<()> {
    let UserCreateArgs { login, password, sp_mchid, mchid } = args;
    let (role, party) = match (&sp_mchid, &mchid) {
        (Some(sp), _) => (ConsoleRole::Provider, Some(sp.as_str())),
        (None, Some(m)) => (ConsoleRole::Merchant, Some(m.as_str())),
        (None, None) => (ConsoleRole::Operator, None),
    };
    providers::create_console_user(store, rng, &login, &password, role, party, now).await?;
    println!("{}", serde_json::json!({"login": login, "role": role.as_str(), "sp_mchid": sp_mchid, "mchid": mchid}));
    Ok(())
}

#[derive(Args)]
pub struct MpAccountCreateArgs {
    #[arg(long)]
    appid: String,
    #[arg(long)]
    mchid: String,
    #[arg(long)]
    name: String,
}

async fn mp_account_create(store: &Store, rng: &Rng, now: WallTime, args: MpAccountCreateArgs) -> anyhow::Result<()> {
    let MpAccountCreateArgs { appid, mchid, name } = args;
    anyhow::ensure!(store.app_exists(&appid).await?, "no app {appid}: create it with app-create first");
    anyhow::ensure!(store.merchant(&mchid).await?.is_some(), "no merchant {mchid}");
    let a = koudai_app::mp::create_account(store, rng, &appid, &mchid, &name, now).await?;
    println!(
        "{}",
        serde_json::json!({"appid": a.appid, "original_id": a.original_id, "secret": a.secret, "token": a.token,
            "encoding_aes_key": a.encoding_aes_key, "owner_mchid": a.owner_mchid})
    );
    Ok(())
}

#[derive(Args)]
pub struct ComponentCreateArgs {
    #[arg(long)]
    sp_mchid: String,
}

async fn component_create(store: &Store, rng: &Rng, now: WallTime, args: ComponentCreateArgs) -> anyhow::Result<()> {
    let ComponentCreateArgs { sp_mchid } = args;
    anyhow::ensure!(store.provider(&sp_mchid).await?.is_some(), "no provider {sp_mchid}");
    if let Some(c) = store.component_of_provider(&sp_mchid).await? {
        anyhow::bail!("provider {sp_mchid} already has third-party platform {}", c.component_appid);
    }
    let c = koudai_app::mp::component::create_component(store, rng, &sp_mchid, None, now.unix()).await?;
    println!(
        "{}",
        serde_json::json!({"component_appid": c.component_appid, "component_appsecret": c.secret,
            "token": c.token, "encoding_aes_key": c.encoding_aes_key, "sp_mchid": sp_mchid})
    );
    Ok(())
}

#[derive(Args)]
pub struct MpVerifyArgs {
    #[arg(long)]
    appid: String,
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    verified: bool,
}

async fn mp_verify(store: &Store, business_now: BusinessTime, args: MpVerifyArgs) -> anyhow::Result<()> {
    let MpVerifyArgs { appid, verified } = args;
    let done =
        koudai_app::access::eligibility::set_verified(store, &appid, verified, "admin", business_now.unix()).await?;
    anyhow::ensure!(done, "no official account {appid}");
    println!("{}", serde_json::json!({"appid": appid, "verified": verified}));
    Ok(())
}

#[derive(Args)]
pub struct ViolationOpenArgs {
    #[arg(long)]
    appid: String,
    #[arg(long)]
    reason: String,
}

async fn violation_open(store: &Store, business_now: BusinessTime, args: ViolationOpenArgs) -> anyhow::Result<()> {
    let ViolationOpenArgs { appid, reason } = args;
    anyhow::ensure!(!reason.trim().is_empty(), "--reason is required");
    let id =
        koudai_app::access::eligibility::open_violation(store, &appid, reason.trim(), "admin", business_now.unix())
            .await?
            .with_context(|| format!("no official account {appid}"))?;
    println!("{}", serde_json::json!({"id": id, "appid": appid}));
    Ok(())
}

#[derive(Args)]
pub struct ViolationCloseArgs {
    #[arg(long)]
    id: i64,
}

async fn violation_close(store: &Store, business_now: BusinessTime, args: ViolationCloseArgs) -> anyhow::Result<()> {
    let ViolationCloseArgs { id } = args;
    let closed = koudai_app::access::eligibility::close_violation(store, id, "admin", business_now.unix()).await?;
    anyhow::ensure!(closed, "no open violation {id}");
    println!("{}", serde_json::json!({"id": id, "closed": true}));
    Ok(())
}

#[derive(Args)]
pub struct RulesPreviewArgs {
    #[arg(long)]
    file: std::path::PathBuf,
}

async fn rules_preview(store: &Store, business_now: BusinessTime, args: RulesPreviewArgs) -> anyhow::Result<()> {
    let RulesPreviewArgs { file } = args;
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let changes = koudai_app::access::eligibility::preview(store, &text, business_now.unix())
        .await?
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let list: Vec<_> = changes
        .iter()
        .map(
            |c| serde_json::json!({"appid": c.appid, "capability": c.capability, "now": c.now, "proposed": c.proposed}),
        )
        .collect();
    println!("{}", serde_json::json!({"changes": list}));
    Ok(())
}

#[derive(Args)]
pub struct RulesPublishArgs {
    #[arg(long)]
    file: std::path::PathBuf,
}

async fn rules_publish(store: &Store, business_now: BusinessTime, args: RulesPublishArgs) -> anyhow::Result<()> {
    let RulesPublishArgs { file } = args;
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let version = koudai_app::access::eligibility::publish(store, &text, "admin", business_now.unix())
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    println!("{}", serde_json::json!({"version": version}));
    Ok(())
}

#[derive(Args)]
pub struct MpIpAllowlistArgs {
    #[arg(long)]
    appid: String,
    #[arg(long, default_value = "")]
    ips: String,
}

async fn mp_ip_allowlist(store: &Store, args: MpIpAllowlistArgs) -> anyhow::Result<()> {
    let MpIpAllowlistArgs { appid, ips } = args;
    for ip in ips.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        ip.parse::<std::net::IpAddr>().with_context(|| format!("{ip} is not an IP address"))?;
    }
    anyhow::ensure!(store.mp_account(&appid).await?.is_some(), "no official account {appid}");
    store.set_mp_ip_allowlist(&appid, &ips).await?;
    println!("{}", serde_json::json!({"appid": appid, "ip_allowlist": ips}));
    Ok(())
}

#[derive(Args)]
pub struct MaxRatioArgs {
    #[arg(long)]
    mchid: String,
    #[arg(long)]
    max_ratio: i64,
}

async fn max_ratio(store: &Store, args: MaxRatioArgs) -> anyhow::Result<()> {
    let MaxRatioArgs { mchid, max_ratio } = args;
    anyhow::ensure!((0..=10_000).contains(&max_ratio), "--max-ratio is 0 to 10000 (ten-thousandths)");
    anyhow::ensure!(store.merchant(&mchid).await?.is_some(), "no merchant {mchid}");
    store.set_max_ratio(&mchid, max_ratio).await?;
    println!("{}", serde_json::json!({"mchid": mchid, "max_ratio": max_ratio}));
    Ok(())
}

#[derive(Args)]
pub struct SettleArgs {
    #[arg(long)]
    date: Option<String>,
}

async fn settle(store: &Store, rng: &Rng, business_now: BusinessTime, args: SettleArgs) -> anyhow::Result<()> {
    let SettleArgs { date } = args;
    let date = date
        .unwrap_or_else(|| koudai_domain::fees::format_date(koudai_domain::fees::business_date(business_now.unix())));
    if koudai_domain::fees::parse_date(&date).is_none() {
        anyhow::bail!("--date must be YYYY-MM-DD");
    }
    let (settled, paid) = koudai_app::payments::settlement::settle_day(store, rng, &date, business_now).await?;
    println!(
        "{}",
        serde_json::json!({
            "date": date,
            "settled": settled.iter().map(|s| serde_json::json!({"mchid": s.mchid, "voucher": s.voucher, "amount_fen": s.amount_fen, "orders": s.order_count})).collect::<Vec<_>>(),
            "payouts": paid.iter().map(|p| serde_json::json!({"mchid": p.mchid, "payout_no": p.payout_no, "bank_account": p.bank_account, "amount_fen": p.amount_fen})).collect::<Vec<_>>(),
        })
    );
    Ok(())
}
