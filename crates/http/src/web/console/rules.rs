//! The e-commerce rules in the consoles. Every role sees an account's
//! eligibility (`/console/eligibility/{appid}`: per capability, granted or
//! not, and each unmet requirement with its fact and what would satisfy
//! it) for the accounts it may see. The operator edits the rule set,
//! previews which accounts a new version would grant or take away, and
//! publishes it (`/console/rules`), and reads the capability log.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use koudai_domain::eligibility::Verdict;
use koudai_protocol::times::format_bill_time;

use super::gate::{account_for, check_csrf, operator, see_other, visitor, Gate, NoticeQuery, Reach};
use super::operator::Chrome;
use crate::state::HttpState;
use crate::web::page::render;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/console/eligibility/{appid}", get(eligibility))
        .route("/console/rules", get(rules_page))
        .route("/console/rules/preview", post(preview))
        .route("/console/rules/publish", post(publish))
}

#[derive(Template)]
#[template(path = "console/eligibility.html")]
struct EligibilityPage {
    chrome: Chrome,
    appid: String,
    name: String,
    rule_version: i64,
    verdicts: Vec<Verdict>,
    log: Vec<LogLine>,
}

struct LogLine {
    at: String,
    appid: String,
    capability: String,
    granted: bool,
    cause: String,
    rule_version: i64,
}

fn log_lines(rows: Vec<koudai_store::CapabilityChange>) -> Vec<LogLine> {
    rows.into_iter()
        .map(|c| LogLine {
            at: format_bill_time(c.at),
            appid: c.appid,
            capability: c.capability,
            granted: c.granted.0,
            cause: c.cause,
            rule_version: c.rule_version,
        })
        .collect()
}

async fn eligibility(
    State(state): State<HttpState>,
    jar: CookieJar,
    Path(appid): Path<String>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let Some(v) = visitor(app, &jar).await? else { return Err(Gate::Login) };
    let account = account_for(app, &v, &appid, Reach::Read, "view_eligibility").await?;
    let now = app.clock.business_now().unix();
    let verdicts = koudai_app::access::eligibility::explanation(&app.store, &appid, now).await?.unwrap_or_default();
    let rules = koudai_app::access::eligibility::current_rules(&app.store).await?;
    let page = EligibilityPage {
        chrome: Chrome::of(&v, None),
        appid: account.appid,
        name: account.name,
        rule_version: rules.version,
        verdicts,
        log: log_lines(app.store.capability_log(Some(&appid), 50).await?),
    };
    Ok(render(StatusCode::OK, &page))
}

struct ChangeLine {
    appid: String,
    name: String,
    capability: String,
    now: bool,
    proposed: bool,
}

struct VersionLine {
    version: i64,
    by: String,
    at: String,
}

#[derive(Template)]
#[template(path = "console/rules.html")]
struct RulesPage {
    chrome: Chrome,
    version: i64,
    document: String,
    previewed: bool,
    changes: Vec<ChangeLine>,
    versions: Vec<VersionLine>,
    log: Vec<LogLine>,
}

async fn rules_view(
    state: &HttpState,
    chrome: Chrome,
    document: Option<String>,
    changes: Option<Vec<ChangeLine>>,
) -> Result<Response, Gate> {
    let app = &state.app;
    let rules = koudai_app::access::eligibility::current_rules(&app.store).await?;
    let published = app.store.rule_sets().await?;
    let current_text = match published.first() {
        Some(p) => p.document.clone(),
        None => koudai_domain::eligibility::DEFAULT_TEXT.to_owned(),
    };
    let page = RulesPage {
        chrome,
        version: rules.version,
        document: document.unwrap_or(current_text),
        previewed: changes.is_some(),
        changes: changes.unwrap_or_default(),
        versions: published
            .iter()
            .map(|p| VersionLine {
                version: p.version,
                by: p.published_by.clone(),
                at: format_bill_time(p.published_at),
            })
            .collect(),
        log: log_lines(app.store.capability_log(None, 100).await?),
    };
    Ok(render(StatusCode::OK, &page))
}

async fn rules_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, Gate> {
    let v = operator(&state.app, &jar).await?;
    rules_view(&state, Chrome::of(&v, q.notice.as_deref()), None, None).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RulesForm {
    csrf: String,
    document: String,
}

async fn preview(State(state): State<HttpState>, jar: CookieJar, Form(f): Form<RulesForm>) -> Result<Response, Gate> {
    let app = &state.app;
    let v = operator(app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let now = app.clock.business_now().unix();
    match koudai_app::access::eligibility::preview(&app.store, &f.document, now).await? {
        Ok(changes) => {
            let mut lines = Vec::new();
            for c in changes {
                let name = app.store.mp_account(&c.appid).await?.map(|a| a.name).unwrap_or_default();
                lines.push(ChangeLine {
                    appid: c.appid,
                    name,
                    capability: c.capability,
                    now: c.now,
                    proposed: c.proposed,
                });
            }
            rules_view(&state, Chrome::of(&v, None), Some(f.document), Some(lines)).await
        }
        Err(e) => {
            let mut chrome = Chrome::of(&v, None);
            chrome.error = Some(format!("规则无法读取 The rule set does not read: {e}"));
            rules_view(&state, chrome, Some(f.document), None).await
        }
    }
}

async fn publish(State(state): State<HttpState>, jar: CookieJar, Form(f): Form<RulesForm>) -> Result<Response, Gate> {
    let app = &state.app;
    let v = operator(app, &jar).await?;
    check_csrf(&v, &f.csrf)?;
    let now = app.clock.business_now().unix();
    let by = v.principal().replace("console:", "operator:");
    match koudai_app::access::eligibility::publish(&app.store, &f.document, &by, now).await {
        Ok(_) => Ok(see_other("/console/rules?notice=rules-published")),
        Err(koudai_app::access::eligibility::PublishError::Store(e)) => Err(e.into()),
        Err(e) => {
            let mut chrome = Chrome::of(&v, None);
            chrome.error = Some(format!("未发布 Not published: {e}"));
            rules_view(&state, chrome, Some(f.document), None).await
        }
    }
}
