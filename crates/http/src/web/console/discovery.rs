//! The discovery centre in the operator console: the featured slots and the
//! ranking formula (every change a new version, with who and why), and the
//! traffic report (impressions, clicks, follows, orders and GMV per day,
//! account, provider and provider kind; the featured slots' share per
//! kind) with a server-drawn SVG chart and a CSV export.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use koudai_app::discovery::{self, ChangeError, Current, Report, ReportError};
use koudai_domain::discovery::{Config, Slot};
use koudai_domain::fees::{business_date, format_date, parse_date};
use koudai_protocol::times::format_bill_time;
use koudai_store::TrafficLine;

use super::gate::{check_csrf, operator, see_other, Gate, NoticeQuery, Visitor};
use super::operator::Chrome;
use crate::state::HttpState;
use crate::web::page::{render, yuan, PageError};

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/console/discovery", get(config_page))
        .route("/console/discovery/featured", post(featured))
        .route("/console/discovery/ranking", post(ranking))
        .route("/console/discovery/report", get(report_page))
        .route("/console/discovery/report.csv", get(report_csv))
}

struct SlotLine {
    slot: usize,
    appid: String,
    name: String,
    listed: bool,
    provider_kind: String,
    note: String,
    /// Why it is not shown as featured now (its provider lacks the
    /// privilege).
    held_back: Option<String>,
}

struct VersionLine {
    version: i64,
    actor: String,
    at: String,
    note: String,
    body: String,
}

#[derive(Template)]
#[template(path = "console/discovery.html")]
struct ConfigPage {
    chrome: Chrome,
    version: i64,
    config: Config,
    slots: Vec<SlotLine>,
    /// Listed accounts not featured yet that may be: (appid, name).
    candidates: Vec<(String, String)>,
    /// Listed accounts that may not be featured, and why.
    barred: Vec<(String, String)>,
    versions: Vec<VersionLine>,
}

async fn show_config(
    state: &HttpState,
    v: &Visitor,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let Current { version, config } = discovery::current(app).await?;
    let listed = app.store.accounts_with_capability(koudai_domain::eligibility::DISCOVERY_LISTING).await?;
    let mut slots = Vec::new();
    for (i, s) in config.featured.iter().enumerate() {
        let account = app.store.mp_account(&s.appid).await?;
        let (provider_kind, held_back) = match &account {
            Some(a) => (discovery::provider_of(app, a).await?.1, discovery::may_be_featured(app, a).await?.err()),
            None => (String::new(), None),
        };
        slots.push(SlotLine {
            slot: i + 1,
            appid: s.appid.clone(),
            name: account.map(|a| a.name).unwrap_or_default(),
            listed: listed.iter().any(|a| a.appid == s.appid),
            provider_kind,
            note: s.note.clone(),
            held_back,
        });
    }
    let (mut candidates, mut barred) = (Vec::new(), Vec::new());
    for a in listed.into_iter().filter(|a| config.slot_of(&a.appid).is_none()) {
        match discovery::may_be_featured(app, &a).await? {
            Ok(()) => candidates.push((a.appid, a.name)),
            Err(why) => barred.push((format!("{} ({})", a.name, a.appid), why)),
        }
    }
    let versions = app
        .store
        .discovery_versions()
        .await?
        .into_iter()
        .map(|v| VersionLine {
            version: v.version,
            actor: v.actor,
            at: format_bill_time(v.created_at),
            note: v.note,
            body: v.body,
        })
        .collect();
    let mut chrome = Chrome::of(v, notice);
    chrome.error = error;
    Ok(render(status, &ConfigPage { chrome, version, config, slots, candidates, barred, versions }))
}

async fn config_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    show_config(&state, &v, StatusCode::OK, q.notice.as_deref(), None).await
}

/// Publishes `config` as the version after `after` (the version the form
/// was made from: a form older than the version in force is refused as
/// stale), with `what` changed and the operator's required reason.
async fn publish(
    state: &HttpState,
    v: &Visitor,
    after: i64,
    config: &Config,
    what: &str,
    reason: &str,
) -> Result<Response, Gate> {
    if reason.trim().is_empty() {
        return show_config(state, v, StatusCode::UNPROCESSABLE_ENTITY, None, Some("请填写原因 Say why".into())).await;
    }
    let note = format!("{what}: {}", reason.trim());
    match discovery::publish(&state.app, after, config, &v.principal(), &note).await {
        Ok(_) => Ok(see_other("/console/discovery?notice=discovery-published")),
        Err(ChangeError::Internal(e)) => Err(e.into()),
        Err(e) => show_config(state, v, StatusCode::CONFLICT, None, Some(e.to_string())).await,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FeaturedForm {
    csrf: String,
    /// The version the form was made from.
    version: i64,
    /// add | remove | up
    action: String,
    appid: String,
    note: String,
    reason: String,
}

async fn featured(
    State(state): State<HttpState>,
    jar: CookieJar,
    Form(f): Form<FeaturedForm>,
) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let Current { mut config, .. } = discovery::current(&state.app).await?;
    let at = config.slot_of(&f.appid);
    let (what, ok) = match (f.action.as_str(), at) {
        ("add", None) => {
            config.featured.push(Slot { appid: f.appid.clone(), note: f.note.trim().to_owned() });
            ("featured", true)
        }
        ("remove", Some(slot)) => {
            config.featured.remove(slot - 1);
            ("unfeatured", true)
        }
        ("up", Some(slot)) if slot > 1 => {
            config.featured.swap(slot - 1, slot - 2);
            ("moved up", true)
        }
        _ => ("", false),
    };
    if !ok {
        return show_config(
            &state,
            &v,
            StatusCode::CONFLICT,
            None,
            Some("这个操作不适用于该公众号 Not applicable".into()),
        )
        .await;
    }
    publish(&state, &v, f.version, &config, &format!("{} {what}", f.appid), &f.reason).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RankingForm {
    csrf: String,
    version: i64,
    window_days: String,
    sales: String,
    rating: String,
    freshness: String,
    half_life: String,
    prior_orders: String,
    prior_stars: String,
    near_km: String,
    reason: String,
}

async fn ranking(State(state): State<HttpState>, jar: CookieJar, Form(f): Form<RankingForm>) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let Current { mut config, .. } = discovery::current(&state.app).await?;
    let num = |name: &str, t: &str| t.trim().parse::<f64>().map_err(|_| format!("{name} 不是数字 is not a number"));
    let mut read = || -> Result<(), String> {
        let r = &mut config.ranking;
        r.window_days =
            f.window_days.trim().parse().map_err(|_| "window_days 应为整数 must be whole days".to_owned())?;
        r.weights.sales = num("sales", &f.sales)?;
        r.weights.rating = num("rating", &f.rating)?;
        r.weights.freshness = num("freshness", &f.freshness)?;
        r.freshness_half_life_days = num("half-life", &f.half_life)?;
        r.rating_prior.orders = num("prior orders", &f.prior_orders)?;
        r.rating_prior.stars = num("prior stars", &f.prior_stars)?;
        config.near_km = num("near_km", &f.near_km)?;
        Ok(())
    };
    if let Err(e) = read() {
        return show_config(&state, &v, StatusCode::UNPROCESSABLE_ENTITY, None, Some(e)).await;
    }
    publish(&state, &v, f.version, &config, "ranking", &f.reason).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RangeQuery {
    from: String,
    to: String,
}

/// The days asked for: the last 14 business days by default, at most 366.
/// The days asked for (the last 14 business days by default), and the
/// report of them.
async fn range_report(state: &HttpState, q: &RangeQuery) -> Result<Report, Gate> {
    let today = business_date(state.app.clock.business_now().unix());
    let to = if q.to.is_empty() { Some(today) } else { parse_date(&q.to) };
    let to = to.ok_or_else(|| PageError::BadRequest("to 应为 YYYY-MM-DD".into()))?;
    let from = if q.from.is_empty() { Some(to.saturating_sub(time::Duration::days(13))) } else { parse_date(&q.from) };
    let from = from.ok_or_else(|| PageError::BadRequest("from 应为 YYYY-MM-DD".into()))?;
    match discovery::report(&state.app, from, to).await {
        Ok(r) => Ok(r),
        Err(ReportError::Internal(e)) => Err(e.into()),
        Err(e) => Err(PageError::BadRequest(format!("日期范围无效 Invalid range: {e}")).into()),
    }
}

struct Row {
    key: String,
    sub: String,
    l: TrafficLine,
    gmv: String,
    ctr: String,
}

fn rows(lines: &[TrafficLine], key: impl Fn(&TrafficLine) -> (String, String)) -> Vec<Row> {
    lines
        .iter()
        .map(|l| {
            let (key, sub) = key(l);
            let ctr = if l.impressions > 0 {
                format!("{:.1}%", 100.0 * l.clicks as f64 / l.impressions as f64)
            } else {
                "—".into()
            };
            Row { key, sub, gmv: yuan(l.gmv_fen), ctr, l: l.clone() }
        })
        .collect()
}

fn kind_label(kind: &str) -> String {
    match kind {
        "official" => "official 官方".into(),
        "third_party" => "third_party 第三方".into(),
        "direct" => "direct 自营".into(),
        other => other.to_owned(),
    }
}

#[derive(Template)]
#[template(path = "console/discovery_report.html")]
struct ReportPage {
    chrome: Chrome,
    from: String,
    to: String,
    totals: Row,
    by_kind: Vec<Row>,
    by_provider: Vec<Row>,
    by_account: Vec<Row>,
    by_day: Vec<Row>,
    /// Featured impressions per kind: (kind, count, share).
    featured_share: Vec<(String, i64, String)>,
    chart: String,
}

const CHART_KINDS: [(&str, &str); 3] = [("official", "#07c160"), ("third_party", "#1a73e8"), ("direct", "#f29900")];

/// GMV per day and provider kind as grouped bars (SVG, no script).
fn chart(report: &Report, days: &[String]) -> String {
    let (w, h, left, bottom, top) = (720.0, 260.0, 60.0, 40.0, 20.0);
    let mut per: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for l in &report.lines {
        *per.entry((l.day.as_str(), l.provider_kind.as_str())).or_default() += l.gmv_fen;
    }
    let max = per.values().copied().max().unwrap_or(0).max(100);
    let plot_w = w - left - 10.0;
    let plot_h = h - bottom - top;
    let slot = plot_w / days.len().max(1) as f64;
    let bar = (slot * 0.8 / CHART_KINDS.len() as f64).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg class="chart" id="chart" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="GMV per day and provider kind">"##
    );
    let _ = write!(svg, r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="#999"/>"##, top + plot_h);
    let _ = write!(svg, r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#999"/>"##, w - 10.0, y = top + plot_h);
    for i in 0..=4 {
        let v = max as f64 * f64::from(i) / 4.0;
        let y = top + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="10" text-anchor="end">¥{}</text>"##,
            left - 4.0,
            y + 3.0,
            yuan(v.round() as i64)
        );
    }
    for (d, day) in days.iter().enumerate() {
        let x0 = left + slot * d as f64 + slot * 0.1;
        for (k, (kind, color)) in CHART_KINDS.iter().enumerate() {
            let v = per.get(&(day.as_str(), *kind)).copied().unwrap_or(0);
            let bh = plot_h * v as f64 / max as f64;
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{day} {kind}: ¥{}</title></rect>"##,
                x0 + bar * k as f64,
                top + plot_h - bh,
                bar,
                bh,
                yuan(v)
            );
        }
        if days.len() <= 16 || d % (days.len() / 8).max(1) == 0 {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"##,
                x0 + slot * 0.4,
                h - bottom + 14.0,
                &day[5..]
            );
        }
    }
    for (k, (kind, color)) in CHART_KINDS.iter().enumerate() {
        let x = left + 150.0 * k as f64;
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{}" width="10" height="10" fill="{color}"/><text x="{}" y="{}" font-size="11">{kind}</text>"##,
            h - 14.0,
            x + 14.0,
            h - 5.0
        );
    }
    svg.push_str("</svg>");
    svg
}

fn days_between(from: &str, to: &str) -> Vec<String> {
    let (Some(mut d), Some(end)) = (parse_date(from), parse_date(to)) else { return vec![] };
    let mut out = Vec::new();
    while d <= end && out.len() <= 366 {
        out.push(format_date(d));
        d = d.saturating_add(time::Duration::days(1));
    }
    out
}

async fn report_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(q): Query<RangeQuery>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let v = operator(app, &jar).await?;
    let r = range_report(&state, &q).await?;
    let (from, to) = (r.from.clone(), r.to.clone());
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for l in &r.by_account {
        if let Some(a) = app.store.mp_account(&l.appid).await? {
            names.insert(l.appid.clone(), a.name);
        }
    }
    for l in &r.by_provider {
        if !l.provider.is_empty() {
            if let Some(m) = app.store.merchant(&l.provider).await? {
                names.insert(l.provider.clone(), m.name);
            }
        }
    }
    let featured_total: i64 = r.by_kind.iter().map(|k| k.featured_impressions).sum();
    let featured_share = r
        .by_kind
        .iter()
        .map(|k| {
            let share = if featured_total > 0 {
                format!("{:.1}%", 100.0 * k.featured_impressions as f64 / featured_total as f64)
            } else {
                "—".into()
            };
            (kind_label(&k.provider_kind), k.featured_impressions, share)
        })
        .collect();
    let name = |id: &str| names.get(id).cloned().unwrap_or_default();
    let page = ReportPage {
        chrome: Chrome::of(&v, None),
        chart: chart(&r, &days_between(&from, &to)),
        totals: rows(std::slice::from_ref(&r.totals), |_| ("合计 Total".into(), String::new())).remove(0),
        by_kind: rows(&r.by_kind, |l| (kind_label(&l.provider_kind), String::new())),
        by_provider: rows(&r.by_provider, |l| {
            if l.provider.is_empty() {
                ("—".into(), kind_label(&l.provider_kind))
            } else {
                (format!("{} {}", l.provider, name(&l.provider)), kind_label(&l.provider_kind))
            }
        }),
        by_account: rows(&r.by_account, |l| (format!("{} {}", l.appid, name(&l.appid)), kind_label(&l.provider_kind))),
        by_day: rows(&r.by_day, |l| (l.day.clone(), String::new())),
        featured_share,
        from,
        to,
    };
    Ok(render(StatusCode::OK, &page))
}

/// A CSV field: quoted when needed, and never read as a formula.
fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) { format!("'{v}") } else { v.to_owned() };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

async fn report_csv(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(q): Query<RangeQuery>,
) -> Result<Response, Gate> {
    let app = &state.app;
    operator(app, &jar).await?;
    let r = range_report(&state, &q).await?;
    let (from, to) = (r.from.clone(), r.to.clone());
    let mut out = String::from(
        "day,appid,account,provider,provider_kind,impressions,featured_impressions,clicks,follows,orders,gmv_yuan\n",
    );
    for l in &r.lines {
        let name = app.store.mp_account(&l.appid).await?.map(|a| a.name).unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            l.day,
            csv_field(&l.appid),
            csv_field(&name),
            csv_field(&l.provider),
            csv_field(&l.provider_kind),
            l.impressions,
            l.featured_impressions,
            l.clicks,
            l.follows,
            l.orders,
            yuan(l.gmv_fen)
        );
    }
    let disposition = format!("attachment; filename=\"discovery-{from}-{to}.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        out,
    )
        .into_response())
}
