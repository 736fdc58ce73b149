//! The audit queue and applications in the consoles: the operator's queue
//! (fast track first, then by deadline; overdue flagged), an application's
//! page (sensitive values masked until revealed, each reveal logged; images
//! inline; reject named fields with reasons, or approve), the audit-time
//! report; a provider's own applications with their states and reasons.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use serde_json::Value;

use koudai_app::parties::onboarding::{self, ApplyError, Decision};
use koudai_domain::applyment::{field_label, ApplymentState, FieldRejection, REJECTABLE_FIELDS, SENSITIVE_PATHS};
use koudai_protocol::times::format_bill_time;
use koudai_store::ApplymentRecord;

use super::gate::{check_csrf, operator, provider_user, see_other, Gate, NoticeQuery, Visitor};
use super::operator::Chrome;
use crate::state::HttpState;
use crate::web::page::{render, PageError};

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/console/applyments", get(queue))
        .route("/console/applyments/report", get(report))
        .route("/console/applyments/{applyment_id}", get(detail))
        .route("/console/applyments/{applyment_id}/reveal", post(reveal))
        .route("/console/applyments/{applyment_id}/decision", post(decide))
        .route("/console/media/{media_id}", get(media))
        .route("/console/my/applyments", get(mine))
}

struct QueueLine {
    applyment_id: i64,
    sp_mchid: String,
    merchant_name: String,
    fast: bool,
    submitted: String,
    deadline: String,
    overdue: bool,
    state: &'static str,
}

fn line(a: &ApplymentRecord, now: i64) -> QueueLine {
    QueueLine {
        applyment_id: a.applyment_id,
        sp_mchid: a.sp_mchid.clone(),
        merchant_name: a.merchant_name.clone(),
        fast: a.audit_class == "fast_track",
        submitted: format_bill_time(a.submitted_at),
        deadline: format_bill_time(a.deadline_at),
        overdue: a.state == ApplymentState::Auditing && a.deadline_at < now,
        state: a.state.message(),
    }
}

#[derive(Template)]
#[template(path = "console/applyments.html")]
struct QueuePage {
    chrome: Chrome,
    queue: Vec<QueueLine>,
    overdue: usize,
    recent: Vec<QueueLine>,
}

async fn queue(
    State(state): State<HttpState>,
    jar: CookieJar,
    axum::extract::Query(q): axum::extract::Query<NoticeQuery>,
) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    let now = state.app.clock.business_now().unix();
    let queue: Vec<QueueLine> = state.app.store.audit_queue().await?.iter().map(|a| line(a, now)).collect();
    let overdue = queue.iter().filter(|l| l.overdue).count();
    let recent = state.app.store.applyments(None, 100).await?.iter().map(|a| line(a, now)).collect();
    Ok(render(StatusCode::OK, &QueuePage { chrome: Chrome::of(&v, q.notice.as_deref()), queue, overdue, recent }))
}

struct FieldLine {
    path: String,
    value: String,
    sensitive: bool,
    revealed: bool,
    media: bool,
}

struct EventLine {
    at: String,
    from: String,
    to: String,
    actor: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "console/applyment.html")]
struct DetailPage {
    chrome: Chrome,
    a: QueueLine,
    business_code: String,
    settlement: String,
    fields: Vec<FieldLine>,
    events: Vec<EventLine>,
    reveals: Vec<EventLine>,
    audit_detail: Vec<FieldRejection>,
    decidable: bool,
    rejectable: Vec<(&'static str, &'static str)>,
    sub_mchid: Option<String>,
}

/// Flattens the application into `(path, value)` rows.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&p, child, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), child, out);
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        Value::Null => {}
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// Whether `path` is one of the sensitive paths (array indexes ignored).
fn is_sensitive(path: &str) -> bool {
    let mut generic = String::new();
    let mut skip = false;
    for c in path.chars() {
        match c {
            '[' => {
                skip = true;
                generic.push_str("[]");
            }
            ']' => skip = false,
            _ if skip => {}
            _ => generic.push(c),
        }
    }
    SENSITIVE_PATHS.contains(&generic.as_str())
}

fn is_media(path: &str) -> bool {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    leaf.ends_with("_copy")
        || leaf.ends_with("_copy_back")
        || leaf == "id_card_national"
        || leaf.starts_with("qualifications[")
        || leaf.ends_with("_letter")
}

async fn record(state: &HttpState, raw: &str) -> Result<ApplymentRecord, Gate> {
    let gone = || Gate::Error(PageError::NotFound("申请单不存在".into()));
    let id: i64 = raw.parse().map_err(|_| gone())?;
    state.app.store.applyment_by_id(id).await?.ok_or_else(gone)
}

async fn detail_page(
    state: &HttpState,
    v: &Visitor,
    a: &ApplymentRecord,
    shown: Option<(&str, String)>,
    chrome: Chrome,
) -> Result<DetailPage, Gate> {
    let now = state.app.clock.business_now().unix();
    let public: Value = serde_json::from_str(&a.public_json).unwrap_or_default();
    let mut flat = Vec::new();
    flatten("", &public, &mut flat);
    let fields = flat
        .into_iter()
        .map(|(path, value)| {
            let sensitive = is_sensitive(&path);
            let revealed = shown.as_ref().is_some_and(|(p, _)| *p == path);
            let value = match &shown {
                Some((p, plain)) if *p == path => plain.clone(),
                _ => value,
            };
            FieldLine { media: is_media(&path), path, value, sensitive, revealed }
        })
        .collect();
    let events = state
        .app
        .store
        .applyment_events(a.id)
        .await?
        .into_iter()
        .map(|e| EventLine {
            at: format_bill_time(e.at),
            from: e.from_state.unwrap_or_default(),
            to: e.to_state,
            actor: e.actor,
            reason: e.reason,
        })
        .collect();
    let reveals = state
        .app
        .store
        .reveals(a.id)
        .await?
        .into_iter()
        .map(|(actor, field, at)| EventLine {
            at: format_bill_time(at),
            from: String::new(),
            to: field,
            actor,
            reason: String::new(),
        })
        .collect();
    let _ = v;
    Ok(DetailPage {
        chrome,
        a: line(a, now),
        business_code: a.business_code.clone(),
        settlement: format!("{} · {}", a.settlement_id, a.qualification_type),
        fields,
        events,
        reveals,
        audit_detail: onboarding::audit_detail(a),
        decidable: a.state == ApplymentState::Auditing,
        rejectable: REJECTABLE_FIELDS.iter().map(|f| (*f, field_label(f))).collect(),
        sub_mchid: a.sub_mchid.clone(),
    })
}

async fn detail(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(raw): Path<String>,
    axum::extract::Query(q): axum::extract::Query<NoticeQuery>,
) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    let a = record(&state, &raw).await?;
    let page = detail_page(&state, &v, &a, None, Chrome::of(&v, q.notice.as_deref())).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RevealForm {
    csrf: String,
    field: String,
}

async fn reveal(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(raw): Path<String>,
    Form(f): Form<RevealForm>,
) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let a = record(&state, &raw).await?;
    let actor = v.principal().replace("console:", "operator:");
    let value = onboarding::reveal(&state.app, &a, &f.field, &actor).await?;
    let Some(value) = value else {
        return Err(Gate::Error(PageError::BadRequest("该字段不是敏感字段".into())));
    };
    let page = detail_page(&state, &v, &a, Some((&f.field, value)), Chrome::of(&v, None)).await?;
    let mut resp = render(StatusCode::OK, &page);
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DecisionForm {
    csrf: String,
    decision: String,
    field1: String,
    reason1: String,
    field2: String,
    reason2: String,
    field3: String,
    reason3: String,
}

async fn decide(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(raw): Path<String>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let a = record(&state, &raw).await?;
    let decision = match f.decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject(
            [(&f.field1, &f.reason1), (&f.field2, &f.reason2), (&f.field3, &f.reason3)]
                .into_iter()
                .filter(|(field, _)| !field.is_empty())
                .map(|(field, reason)| FieldRejection::new(field, reason))
                .collect(),
        ),
        _ => return Err(Gate::Error(PageError::BadRequest("未知操作".into()))),
    };
    let actor = v.principal().replace("console:", "operator:");
    match onboarding::decide(&state.app, a.applyment_id, decision, &actor).await {
        Ok(done) => {
            let notice =
                if done.state == ApplymentState::Rejected { "applyment-rejected" } else { "applyment-approved" };
            Ok(see_other(&format!("/console/applyments/{}?notice={notice}", a.applyment_id)))
        }
        Err(ApplyError::Internal(e)) => Err(e.into()),
        Err(other) => {
            let mut chrome = Chrome::of(&v, None);
            chrome.error = Some(match other {
                ApplyError::Invalid(f) => f.message,
                ApplyError::State(s) => format!("申请单状态为{}，不能审核", s.message()),
                e => e.to_string(),
            });
            let page = detail_page(&state, &v, &a, None, chrome).await?;
            Ok(render(StatusCode::BAD_REQUEST, &page))
        }
    }
}

async fn media(State(state): State<HttpState>, jar: CookieJar, Path(media_id): Path<String>) -> Result<Response, Gate> {
    operator(&state.app, &jar).await?;
    let gone = || Gate::Error(PageError::NotFound("文件不存在".into()));
    let m = state.app.store.media(&media_id).await?.ok_or_else(gone)?;
    let bytes = state.app.store.media_content(&m.sha256).await?.ok_or_else(gone)?;
    Ok((
        [
            (header::CONTENT_TYPE, m.content_type),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
            (header::CONTENT_DISPOSITION, "inline".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

struct ReportLine {
    group: &'static str,
    applications: usize,
    decided: usize,
    decision_p50: String,
    decision_p90: String,
    finished: usize,
    finish_p50: String,
    finish_p90: String,
}

#[derive(Template)]
#[template(path = "console/applyment_report.html")]
struct ReportPage {
    chrome: Chrome,
    rows: Vec<ReportLine>,
}

fn hours(s: Option<i64>) -> String {
    s.map(|s| format!("{:.1} h", s as f64 / 3600.0)).unwrap_or_else(|| "—".into())
}

async fn report(State(state): State<HttpState>, jar: CookieJar) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    let rows = onboarding::audit_report(&state.app)
        .await?
        .into_iter()
        .map(|r| ReportLine {
            group: match r.group.as_str() {
                "official" => "官方服务商 official providers",
                "third_party" => "第三方服务商 third-party providers",
                "fast_track" => "快速审核 fast track",
                _ => "普通审核 normal",
            },
            applications: r.applications,
            decided: r.decided,
            decision_p50: hours(r.decision_p50),
            decision_p90: hours(r.decision_p90),
            finished: r.finished,
            finish_p50: hours(r.finish_p50),
            finish_p90: hours(r.finish_p90),
        })
        .collect();
    Ok(render(StatusCode::OK, &ReportPage { chrome: Chrome::of(&v, None), rows }))
}

struct MineLine {
    applyment_id: i64,
    business_code: String,
    merchant_name: String,
    state: &'static str,
    sub_mchid: String,
    reasons: Vec<FieldRejection>,
}

#[derive(Template)]
#[template(path = "console/my_applyments.html")]
struct MinePage {
    chrome: Chrome,
    rows: Vec<MineLine>,
}

async fn mine(State(state): State<HttpState>, jar: CookieJar) -> Result<Response, Gate> {
    let v = provider_user(&state.app, &jar).await?;
    let sp = v.sp_mchid().unwrap_or_default().to_owned();
    let rows = state
        .app
        .store
        .applyments(Some(&sp), 200)
        .await?
        .iter()
        .map(|a| MineLine {
            applyment_id: a.applyment_id,
            business_code: a.business_code.clone(),
            merchant_name: a.merchant_name.clone(),
            state: a.state.message(),
            sub_mchid: a.sub_mchid.clone().filter(|_| a.state.shows_sub_mchid()).unwrap_or_else(|| "—".into()),
            reasons: onboarding::audit_detail(a),
        })
        .collect();
    Ok(render(StatusCode::OK, &MinePage { chrome: Chrome::of(&v, None), rows }))
}
