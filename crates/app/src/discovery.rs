//! The discovery centre: a directory of the e-commerce accounts that hold
//! the `discovery_listing` capability (the rules of `eligibility`), ranked
//! by a documented formula (`koudai_domain::discovery`), with featured
//! slots the operator manages; both are one versioned document, every
//! change recorded with who made it and why.
//!
//! Traffic is measured, not guessed: every rendering counts an impression
//! per entry shown (with the account's provider and kind as they were), and
//! each entry's link carries a sealed click id minted for that rendering.
//! Impressions are counted in memory ([`Impressions`]) and written at least
//! once a second by the jobs (and before a report is read), so a view writes
//! nothing; clicks and attribution are written at once, exactly.
//!
//! The directory is paged ([`PAGE_SIZE`] entries a page): a view signs click
//! links and counts impressions for its page only.
//! Following the link records the click once, however often it is
//! followed. A follow of the account, or a payment to it (a shop order, a
//! store payment), within [`ATTRIBUTION_S`] of the consumer's latest click
//! on it is attributed to that click, once: a follow once per click, an
//! order once per order.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use koudai_domain::discovery::{self as rules, Config, Score};
use koudai_domain::eligibility as eligibility_rules;
use koudai_domain::fees::{business_date, format_date};
use koudai_store::{Click, Conversion, DiscoveryVersion, MpAccount, Order, Shown, TrafficLine};

use crate::{App, Internal};

/// A follow or payment this long (business time) after a click is the
/// click's.
pub const ATTRIBUTION_S: i64 = 7 * 86_400;
/// A click link counts this long after the directory minted it.
pub const CLICK_VALID_S: i64 = 86_400;

/// The configuration in force and its version (0: the shipped document).
#[derive(Debug, Clone)]
pub struct Current {
    pub version: i64,
    pub config: Config,
}

pub async fn current(app: &App) -> Result<Current, Internal> {
    match app.store.latest_discovery_version().await? {
        Some(v) => {
            let config =
                Config::parse(&v.body).map_err(|e| Internal::bug(format!("discovery version {}: {e}", v.version)))?;
            Ok(Current { version: v.version, config })
        }
        None => Ok(Current { version: 0, config: Config::default_config() }),
    }
}

/// Why a change of the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{0}")]
    Invalid(String),
    #[error("someone changed the discovery centre since version {0}: reload and try again")]
    Stale(i64),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<koudai_store::StoreError> for ChangeError {
    fn from(e: koudai_store::StoreError) -> Self {
        ChangeError::Internal(e.into())
    }
}

/// Publishes a new version made from version `after`, with a required note.
pub async fn publish(app: &App, after: i64, config: &Config, actor: &str, note: &str) -> Result<i64, ChangeError> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > 500 {
        return Err(ChangeError::Invalid("say why (a note of 1 to 500 characters)".into()));
    }
    let text = config.to_text();
    Config::parse(&text).map_err(ChangeError::Invalid)?;
    for s in &config.featured {
        let Some(account) = app.store.mp_account(&s.appid).await? else {
            return Err(ChangeError::Invalid(format!("no official account {}", s.appid)));
        };
        if let Err(why) = may_be_featured(app, &account).await? {
            return Err(ChangeError::Invalid(why));
        }
    }
    let v = DiscoveryVersion {
        version: after + 1,
        body: text,
        actor: actor.to_owned(),
        note: note.to_owned(),
        created_at: app.clock.business_now().unix(),
    };
    if !app.store.add_discovery_version(after, &v).await? {
        return Err(ChangeError::Stale(after));
    }
    tracing::info!(version = v.version, actor, "discovery centre changed");
    Ok(v.version)
}

/// Entries on one page of the directory.
pub const PAGE_SIZE: usize = 20;

/// What a consumer asks the directory for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub category: Option<String>,
    pub search: Option<String>,
    /// "Near me": the consumer's latitude and longitude.
    pub near: Option<(f64, f64)>,
    /// The page (1-based; 0 is read as 1, past the last as the last).
    pub page: usize,
}

/// Impressions counted since the last flush: `(day, entry)` → times shown.
#[derive(Debug, Default)]
pub struct Impressions(Mutex<HashMap<(String, Shown), i64>>);

impl Impressions {
    fn note(&self, day: &str, shown: Vec<Shown>) {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for s in shown {
            *counts.entry((day.to_owned(), s)).or_default() += 1;
        }
    }

    fn take(&self) -> Vec<(String, Shown, i64)> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        counts.drain().map(|((day, s), n)| (day, s, n)).collect()
    }

    fn put_back(&self, rows: Vec<(String, Shown, i64)>) {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (day, s, n) in rows {
            *counts.entry((day, s)).or_default() += n;
        }
    }
}

/// Writes the impressions counted in memory; on failure they stay counted
/// for the next flush. Returns how many rows were written.
pub async fn flush_impressions(app: &App) -> Result<usize, Internal> {
    let rows = app.impressions.take();
    let n = rows.len();
    if let Err(e) = app.store.count_impressions(&rows).await {
        app.impressions.put_back(rows);
        return Err(e.into());
    }
    Ok(n)
}

/// One account in the directory.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub appid: String,
    pub name: String,
    pub categories: Vec<String>,
    pub featured: bool,
    /// The featured slot (1-based).
    pub slot: Option<usize>,
    /// Where it is shown (1-based).
    pub position: usize,
    pub score: Score,
    /// To the nearest store, when the consumer asked for "near me".
    pub distance_km: Option<f64>,
    /// A few of the products on its shelves.
    pub products: Vec<String>,
    pub has_shop: bool,
    pub provider: String,
    pub provider_kind: String,
    /// The signed click token of this entry in this rendering.
    pub click: String,
}

/// The directory as one consumer sees it.
#[derive(Debug, Clone)]
pub struct Directory {
    pub version: i64,
    pub config: Config,
    /// The entries of the page asked for.
    pub entries: Vec<Entry>,
    /// Entries on every page together.
    pub total: usize,
    /// The page shown (1-based) and how many there are (at least one).
    pub page: usize,
    pub pages: usize,
    /// Every category of a listed account, for the filter.
    pub categories: Vec<String>,
}

/// The provider an account's owner belongs to (its provider, or itself
/// when the owner is a provider), and its kind; `direct` for a merchant of
/// no provider.
pub async fn provider_of(app: &App, account: &MpAccount) -> Result<(String, String), Internal> {
    let Some(owner) = app.store.merchant(&account.owner_mchid).await? else {
        return Ok((String::new(), "direct".into()));
    };
    let sp = owner.sp_mchid.clone().unwrap_or(owner.mchid);
    match app.store.provider(&sp).await? {
        Some(p) => Ok((sp, p.kind.as_str().to_owned())),
        None => Ok((String::new(), "direct".into())),
    }
}

/// The privilege a provider needs for its accounts to take featured slots.
pub const FEATURED_PRIVILEGE: &str = "discovery_featured";

/// Whether an account may take a featured slot: a provider's account (its
/// own or a sub-merchant's) only while the provider holds
/// [`FEATURED_PRIVILEGE`]; a direct merchant's, at the operator's choice.
pub async fn may_be_featured(app: &App, account: &MpAccount) -> Result<Result<(), String>, Internal> {
    let (provider, _) = provider_of(app, account).await?;
    if provider_may_feature(app, &provider).await? {
        return Ok(Ok(()));
    }
    Ok(Err(format!("provider {provider} of {} does not hold the {FEATURED_PRIVILEGE} privilege", account.appid)))
}

/// Whether accounts of `provider` (empty: a direct merchant's) may be
/// featured now.
async fn provider_may_feature(app: &App, provider: &str) -> Result<bool, Internal> {
    Ok(provider.is_empty()
        || crate::access::authz::held_privileges(app, provider).await?.contains_key(FEATURED_PRIVILEGE))
}

/// The top level of a shop category (`服装 Clothing`).
fn shop_top_category(id: &str) -> Option<String> {
    let mut c = koudai_domain::shop::category(id)?;
    for _ in 0..8 {
        if c.parent == "1" {
            return Some(c.name.clone());
        }
        c = koudai_domain::shop::category(&c.parent)?;
    }
    None
}

/// How long the ranking's facts that payments and shop orders change
/// (sales in the window, ratings, shelves' freshness) are reused: they do
/// not move the generation, so they are re-read at most this far apart.
pub const FACTS_TTL: Duration = Duration::from_secs(1);

/// One listed account as the directory shows it, whatever the ranking.
struct Listed {
    account: MpAccount,
    categories: Vec<String>,
    products: Vec<String>,
    points: Vec<(f64, f64)>,
    has_shop: bool,
    provider: String,
    provider_kind: String,
    /// The name, categories and products in lower case, for search.
    searchable: Vec<String>,
}

/// Every listed account, read in a few grouped queries whatever their
/// number, and the configuration, as of one generation.
struct Accounts {
    generation: i64,
    current: Current,
    listed: Vec<Listed>,
    by_appid: HashMap<String, usize>,
    categories: Vec<String>,
}

/// The ranking's facts and when they were read.
struct Facts {
    read_at: Instant,
    by_appid: HashMap<String, koudai_store::RankFacts>,
}

/// The listed accounts ranked at one business second with one set of
/// featured slots: slots first in slot order, then by score, the appid
/// breaking ties.
struct Ranked {
    now: i64,
    slots: Vec<(usize, usize)>,
    scores: Vec<Score>,
    order: Vec<usize>,
}

/// A node's directory in memory: rebuilt when the generation moves, its
/// facts re-read after [`FACTS_TTL`], its ranking recomputed once per
/// business second. A view reads one row (the generation) and does the rest
/// in memory, on its page only.
#[derive(Default)]
pub struct DirectoryCache {
    state: RwLock<Option<Arc<Snapshot>>>,
    /// One rebuild at a time; the views that wait take its result.
    building: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for DirectoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectoryCache")
    }
}

struct Snapshot {
    accounts: Arc<Accounts>,
    facts: Arc<Facts>,
    ranked: Mutex<Option<Arc<Ranked>>>,
}

impl DirectoryCache {
    fn get(&self) -> Option<Arc<Snapshot>> {
        self.state.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, s: Arc<Snapshot>) {
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Some(s);
    }
}

fn fresh(s: &Snapshot, generation: i64) -> bool {
    s.accounts.generation == generation && s.facts.read_at.elapsed() < FACTS_TTL
}

/// The snapshot for `generation`: the node's if it is that generation's and
/// its facts are fresh; else rebuilt (the accounts only if the generation
/// moved), once, whoever asks meanwhile.
async fn snapshot(app: &App, generation: i64) -> Result<Arc<Snapshot>, Internal> {
    let cache = &app.directory;
    if let Some(s) = cache.get().filter(|s| fresh(s, generation)) {
        return Ok(s);
    }
    let _one = cache.building.lock().await;
    let old = cache.get();
    if let Some(s) = old.as_ref().filter(|s| fresh(s, generation)) {
        return Ok(Arc::clone(s));
    }
    let accounts = match old.as_ref().filter(|s| s.accounts.generation == generation) {
        Some(s) => Arc::clone(&s.accounts),
        None => Arc::new(listed_accounts(app, generation).await?),
    };
    let now = app.clock.business_now().unix();
    let since = now - accounts.current.config.ranking.window_days * 86_400;
    let facts = Arc::new(Facts { read_at: Instant::now(), by_appid: app.store.rank_facts(since).await? });
    let s = Arc::new(Snapshot { accounts, facts, ranked: Mutex::new(None) });
    cache.set(Arc::clone(&s));
    Ok(s)
}

/// Every listed account with what the directory shows of it.
async fn listed_accounts(app: &App, generation: i64) -> Result<Accounts, Internal> {
    let current = current(app).await?;
    let accounts = app.store.accounts_with_capability(eligibility_rules::DISCOVERY_LISTING).await?;
    let listed: HashSet<String> = accounts.iter().map(|a| a.appid.clone()).collect();
    let mut products: HashMap<String, Vec<Value>> = HashMap::new();
    for (appid, body) in app.store.shelved_products().await?.into_iter().filter(|(a, _)| listed.contains(a)) {
        products.entry(appid).or_default().push(serde_json::from_str(&body).unwrap_or_default());
    }
    let mut stores: HashMap<String, Vec<Value>> = HashMap::new();
    for (appid, info) in app.store.approved_stores().await?.into_iter().filter(|(a, _)| listed.contains(a)) {
        stores.entry(appid).or_default().push(serde_json::from_str(&info).unwrap_or_default());
    }
    let shops: HashSet<String> =
        app.store.accounts_with_capability(eligibility_rules::SHOP_API).await?.into_iter().map(|a| a.appid).collect();
    let mut providers: HashMap<String, (String, String)> = HashMap::new();
    let mut out = Vec::with_capacity(accounts.len());
    for account in accounts {
        let mut categories = BTreeSet::new();
        let mut names = Vec::new();
        for body in products.get(&account.appid).into_iter().flatten() {
            let base = &body["product_base"];
            let category = koudai_domain::shop::id_text(base["category_id"].get(0));
            if let Some(top) = category.and_then(|c| shop_top_category(&c)) {
                categories.insert(top);
            }
            if let Some(name) = base["name"].as_str() {
                names.push(name.to_owned());
            }
        }
        let mut points = Vec::new();
        for info in stores.get(&account.appid).into_iter().flatten() {
            for c in info["categories"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if let Some(top) = c.split(',').next().filter(|t| !t.is_empty()) {
                    categories.insert(top.to_owned());
                }
            }
            let coordinate = |k: &str| info[k].as_f64().or_else(|| info[k].as_str().and_then(|t| t.parse().ok()));
            if let (Some(lat), Some(lng)) = (coordinate("latitude"), coordinate("longitude")) {
                points.push((lat, lng));
            }
        }
        let (provider, provider_kind) = match providers.get(&account.owner_mchid) {
            Some(p) => p.clone(),
            None => {
                let p = provider_of(app, &account).await?;
                providers.insert(account.owner_mchid.clone(), p.clone());
                p
            }
        };
        let categories: Vec<String> = categories.into_iter().collect();
        let searchable =
            std::iter::once(&account.name).chain(&categories).chain(&names).map(|t| t.to_lowercase()).collect();
        out.push(Listed {
            has_shop: shops.contains(&account.appid),
            categories,
            products: names,
            points,
            provider,
            provider_kind,
            searchable,
            account,
        });
    }
    let by_appid = out.iter().enumerate().map(|(i, l)| (l.account.appid.clone(), i)).collect();
    let categories: BTreeSet<String> = out.iter().flat_map(|l| l.categories.iter().cloned()).collect();
    Ok(Accounts { generation, current, listed: out, by_appid, categories: categories.into_iter().collect() })
}

impl Snapshot {
    /// The ranking at business second `now` with these featured `slots`
    /// (`(account index, slot)`): the one computed for the same second
    /// and slots, or a new one.
    fn ranked(&self, now: i64, slots: Vec<(usize, usize)>) -> Arc<Ranked> {
        let mut kept = self.ranked.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = kept.as_ref().filter(|r| r.now == now && r.slots == slots) {
            return Arc::clone(r);
        }
        let cfg = &self.accounts.current.config;
        let listed = &self.accounts.listed;
        let scores: Vec<Score> = listed
            .iter()
            .map(|l| {
                let f = self.facts.by_appid.get(&l.account.appid).copied().unwrap_or_default();
                let age_days = (now - f.last_product_at.unwrap_or(l.account.created_at)).max(0) as f64 / 86_400.0;
                let facts = rules::Facts {
                    sales_fen: f.sales_fen,
                    good_orders: f.good_orders,
                    bad_orders: f.bad_orders,
                    age_days,
                };
                rules::score(&cfg.ranking, &facts)
            })
            .collect();
        let mut slot_of = vec![usize::MAX; listed.len()];
        for (i, slot) in &slots {
            slot_of[*i] = *slot;
        }
        let mut order: Vec<usize> = (0..listed.len()).collect();
        order.sort_by(|&a, &b| {
            slot_of[a]
                .cmp(&slot_of[b])
                .then_with(|| scores[b].total.total_cmp(&scores[a].total))
                .then_with(|| listed[a].account.appid.cmp(&listed[b].account.appid))
        });
        let r = Arc::new(Ranked { now, slots, scores, order });
        *kept = Some(Arc::clone(&r));
        r
    }
}

fn matches_search(l: &Listed, search: &str) -> bool {
    let needle = search.trim().to_lowercase();
    needle.is_empty() || l.searchable.iter().any(|t| t.contains(&needle))
}

/// Whether any of `points` is within the box around `(lat, lng)` that
/// holds every point `km` away or nearer: a cheap test before the exact
/// distance. The box is generous (a degree of latitude is 111.2 km; 110 is
/// used, and the longitude span at the box's pole-ward edge), never short.
fn in_box(points: &[(f64, f64)], (lat, lng): (f64, f64), km: f64) -> bool {
    let dlat = km / 110.0;
    let widest = (lat.abs() + dlat).min(90.0).to_radians().cos().max(0.01);
    let dlng = km / (110.0 * widest);
    points.iter().any(|(a, b)| {
        let across = (b - lng).abs();
        (a - lat).abs() <= dlat && (across <= dlng || across >= 360.0 - dlng)
    })
}

/// The directory for `consumer` (signed in, or not), the page `q` asks
/// for; `record` counts the impressions and is what a page or the sandbox
/// showing it does.
pub async fn directory(app: &App, consumer: Option<&str>, q: &Query, record: bool) -> Result<Directory, Internal> {
    let generation = app.store.discovery_generation().await?;
    let snap = snapshot(app, generation).await?;
    let accounts = &snap.accounts;
    let Current { version, config } = &accounts.current;
    let now = app.clock.business_now().unix();
    // A featured slot shows only while the account's provider may take it
    // (a privilege can lapse without any row changing).
    let mut slots = Vec::new();
    for (n, s) in config.featured.iter().enumerate() {
        if let Some(&i) = accounts.by_appid.get(&s.appid) {
            if config.slot_of(&s.appid) == Some(n + 1)
                && provider_may_feature(app, &accounts.listed[i].provider).await?
            {
                slots.push((i, n + 1));
            }
        }
    }
    let ranked = snap.ranked(now, slots);
    let slot_of = |i: usize| ranked.slots.iter().find(|(j, _)| *j == i).map(|(_, s)| *s);
    let listed = &accounts.listed;
    let mut chosen: Vec<(usize, Option<f64>)> = ranked
        .order
        .iter()
        .map(|&i| (i, &listed[i]))
        .filter(|(_, l)| q.category.as_deref().is_none_or(|cat| l.categories.iter().any(|x| x == cat)))
        .filter(|(_, l)| q.search.as_deref().is_none_or(|s| matches_search(l, s)))
        .filter_map(|(i, l)| match q.near {
            None => Some((i, None)),
            Some(p) if !in_box(&l.points, p, config.near_km) => None,
            Some((lat, lng)) => {
                let d =
                    l.points.iter().map(|(a, b)| rules::distance_km(lat, lng, *a, *b)).fold(f64::INFINITY, f64::min);
                (d <= config.near_km).then_some((i, Some((d * 100.0).round() / 100.0)))
            }
        })
        .collect();
    if q.near.is_some() {
        // Near me: slots first, then by distance; the ranking's order (by
        // score, then appid) stays within equal distances.
        chosen.sort_by(|(a, da), (b, db)| {
            slot_of(*a)
                .unwrap_or(usize::MAX)
                .cmp(&slot_of(*b).unwrap_or(usize::MAX))
                .then_with(|| da.unwrap_or(0.0).total_cmp(&db.unwrap_or(0.0)))
        });
    }
    let day = format_date(business_date(now));
    let key = click_key(app);
    let total = chosen.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = q.page.clamp(1, pages);
    let first = (page - 1) * PAGE_SIZE;
    let mut entries = Vec::new();
    for (position, (i, distance_km)) in chosen.into_iter().enumerate().skip(first).take(PAGE_SIZE) {
        let (l, slot) = (&listed[i], slot_of(i));
        let click = ClickClaim {
            id: app.rng.bytes::<16>().iter().map(|b| format!("{b:02x}")).collect(),
            consumer: consumer.map(str::to_owned),
            appid: l.account.appid.clone(),
            featured: slot.is_some(),
            position: position + 1,
            version: *version,
            issued_at: now,
        };
        entries.push(Entry {
            appid: l.account.appid.clone(),
            name: l.account.name.clone(),
            categories: l.categories.clone(),
            featured: slot.is_some(),
            slot,
            position: position + 1,
            score: ranked.scores[i],
            distance_km,
            products: l.products.iter().take(3).cloned().collect(),
            has_shop: l.has_shop,
            provider: l.provider.clone(),
            provider_kind: l.provider_kind.clone(),
            click: sign(&key, &click)?,
        });
    }
    if record {
        let shown: Vec<Shown> = entries
            .iter()
            .map(|e| Shown {
                appid: e.appid.clone(),
                featured: e.featured,
                provider: e.provider.clone(),
                provider_kind: e.provider_kind.clone(),
            })
            .collect();
        app.impressions.note(&day, shown);
    }
    Ok(Directory {
        version: *version,
        config: config.clone(),
        entries,
        total,
        page,
        pages,
        categories: accounts.categories.clone(),
    })
}

/// What a click token says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct ClickClaim {
    id: String,
    consumer: Option<String>,
    appid: String,
    featured: bool,
    position: usize,
    version: i64,
    issued_at: i64,
}

/// The key click tokens are sealed with, derived from the master key.
fn click_key(app: &App) -> [u8; 32] {
    koudai_protocol::envelope::derive_key(app.config.master_key.expose(), "koudai/discovery-click/v1")
}

/// A click token: the claim sealed (AES-256-GCM), so a link reveals
/// nothing (not even the consumer's login) and cannot be altered.
fn sign(key: &[u8; 32], claim: &ClickClaim) -> Result<String, Internal> {
    let json = serde_json::to_vec(claim).map_err(|e| Internal::bug(format!("a click claim: {e}")))?;
    let sealed = koudai_protocol::envelope::seal_small(key, "discovery-click", &json)
        .map_err(|_| Internal::bug("sealing a click token failed"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed))
}

fn verify(app: &App, token: &str) -> Option<ClickClaim> {
    if token.len() > 2048 {
        return None;
    }
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    let json = koudai_protocol::envelope::open_small(&click_key(app), "discovery-click", &sealed).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Why a click link does not lead anywhere.
#[derive(Debug, thiserror::Error)]
pub enum ClickError {
    #[error("the link is not one the discovery centre made")]
    Invalid,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<koudai_store::StoreError> for ClickError {
    fn from(e: koudai_store::StoreError) -> Self {
        ClickError::Internal(e.into())
    }
}

/// A click followed: records it (once, while the link is fresh) and
/// answers the account it leads to and whether it counted now. The
/// consumer is the token's or, for a link shown to nobody signed in, the
/// one signed in when it is followed.
pub async fn click(app: &App, token: &str, signed_in: Option<&str>) -> Result<(String, bool), ClickError> {
    let claim = verify(app, token).ok_or(ClickError::Invalid)?;
    let now = app.clock.business_now().unix();
    if now - claim.issued_at > CLICK_VALID_S || now < claim.issued_at - 300 {
        return Ok((claim.appid, false));
    }
    let Some(account) = app.store.mp_account(&claim.appid).await? else { return Err(ClickError::Invalid) };
    let (provider, provider_kind) = provider_of(app, &account).await?;
    let consumer = claim.consumer.clone().or_else(|| signed_in.map(str::to_owned));
    let counted = app
        .store
        .record_click(&Click {
            click_id: claim.id.clone(),
            consumer,
            appid: claim.appid.clone(),
            featured: i64::from(claim.featured),
            position: i64::try_from(claim.position).unwrap_or(i64::MAX),
            version: claim.version,
            provider,
            provider_kind,
            day: format_date(business_date(now)),
            created_at: now,
        })
        .await?;
    Ok((claim.appid, counted))
}

/// Attributes what happened at `at` to the consumer's latest click on the
/// account in the window before it, once per (kind, reference).
async fn attribute(
    app: &App,
    kind: &str,
    consumer: &str,
    appid: &str,
    reference: Option<&str>,
    amount: i64,
    at: i64,
) -> Result<bool, Internal> {
    let Some(c) = app.store.latest_click(consumer, appid, at - ATTRIBUTION_S, at).await? else { return Ok(false) };
    let conversion = Conversion {
        kind: kind.to_owned(),
        reference: reference.unwrap_or(&c.click_id).to_owned(),
        click_id: c.click_id.clone(),
        appid: appid.to_owned(),
        amount_fen: amount,
        day: format_date(business_date(at)),
        created_at: at,
    };
    Ok(app.store.record_conversion(&conversion).await?)
}

/// A consumer followed an account (who was not following it).
pub async fn attribute_follow(app: &App, consumer: &str, appid: &str) -> Result<bool, Internal> {
    attribute(app, "follow", consumer, appid, None, 0, app.clock.business_now().unix()).await
}

/// A consumer paid an account (`reference` names the order once).
pub async fn attribute_order(
    app: &App,
    consumer: &str,
    appid: &str,
    reference: &str,
    paid: &Order,
) -> Result<bool, Internal> {
    let at = paid.success_time.unwrap_or_else(|| app.clock.business_now().unix());
    attribute(app, "order", consumer, appid, Some(reference), paid.total_fen, at).await
}

/// Attributes payments whose attribution was not written (the process
/// stopped between a payment's transaction and its attribution): the same
/// rule, from the payment's time. Returns how many were attributed.
pub async fn repair(app: &App) -> Result<usize, Internal> {
    let since = app.clock.business_now().unix() - 2 * ATTRIBUTION_S;
    let mut n = 0;
    for (reference, consumer, appid, amount, at) in app.store.unattributed_payments(since).await? {
        if attribute(app, "order", &consumer, &appid, Some(&reference), amount, at).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// The traffic report between two days.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub from: String,
    pub to: String,
    /// Per day and account.
    pub lines: Vec<TrafficLine>,
    pub totals: TrafficLine,
    /// Summed per account, per provider and per provider kind (the key in
    /// `appid`, `provider` and `provider_kind` respectively).
    pub by_account: Vec<TrafficLine>,
    pub by_provider: Vec<TrafficLine>,
    pub by_kind: Vec<TrafficLine>,
    /// Per day (the day in `day`).
    pub by_day: Vec<TrafficLine>,
}

fn add(into: &mut TrafficLine, l: &TrafficLine) {
    into.impressions += l.impressions;
    into.featured_impressions += l.featured_impressions;
    into.clicks += l.clicks;
    into.follows += l.follows;
    into.orders += l.orders;
    into.gmv_fen += l.gmv_fen;
}

fn sum_by(lines: &[TrafficLine], key: impl Fn(&TrafficLine) -> TrafficLine) -> Vec<TrafficLine> {
    let mut out: Vec<TrafficLine> = Vec::new();
    for l in lines {
        let k = key(l);
        match out.iter_mut().find(|o| {
            o.day == k.day && o.appid == k.appid && o.provider == k.provider && o.provider_kind == k.provider_kind
        }) {
            Some(o) => add(o, l),
            None => {
                let mut o = k;
                add(&mut o, l);
                out.push(o);
            }
        }
    }
    out
}

/// The longest range a report covers.
pub const MAX_REPORT_DAYS: i64 = 366;

/// Why a report was not made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the range must run forwards and span at most {MAX_REPORT_DAYS} days")]
    Range,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// The traffic between two business days (inclusive).
pub async fn report(app: &App, from: time::Date, to: time::Date) -> Result<Report, ReportError> {
    if from > to || (to - from).whole_days() > MAX_REPORT_DAYS {
        return Err(ReportError::Range);
    }
    let (from, to) = (&format_date(from), &format_date(to));
    // What this node has counted but not yet written belongs in it.
    flush_impressions(app).await?;
    let lines = app.store.traffic(from, to).await.map_err(Internal::from)?;
    let mut totals = TrafficLine::default();
    for l in &lines {
        add(&mut totals, l);
    }
    let blank = TrafficLine::default;
    let mut by_account = sum_by(&lines, |l| TrafficLine {
        appid: l.appid.clone(),
        provider: l.provider.clone(),
        provider_kind: l.provider_kind.clone(),
        ..blank()
    });
    by_account.sort_by(|a, b| b.gmv_fen.cmp(&a.gmv_fen).then_with(|| a.appid.cmp(&b.appid)));
    let mut by_provider = sum_by(&lines, |l| TrafficLine {
        provider: l.provider.clone(),
        provider_kind: l.provider_kind.clone(),
        ..blank()
    });
    by_provider.sort_by(|a, b| b.gmv_fen.cmp(&a.gmv_fen).then_with(|| a.provider.cmp(&b.provider)));
    let mut by_kind = sum_by(&lines, |l| TrafficLine { provider_kind: l.provider_kind.clone(), ..blank() });
    by_kind.sort_by(|a, b| a.provider_kind.cmp(&b.provider_kind));
    let mut by_day = sum_by(&lines, |l| TrafficLine { day: l.day.clone(), ..blank() });
    by_day.sort_by(|a, b| a.day.cmp(&b.day));
    Ok(Report { from: from.to_owned(), to: to.to_owned(), lines, totals, by_account, by_provider, by_kind, by_day })
}
