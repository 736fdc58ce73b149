//! Commerce on official accounts in the sandbox: an account's eligibility
//! under the e-commerce rules, the consumer's side of the shop (buying,
//! confirming receipt, rights cases), scanning a parametric QR code, the
//! operator's store (POI) audit, and the discovery centre's directory and
//! traffic report.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use koudai_app::App;
use koudai_domain::FieldError;
use koudai_protocol::ErrorCode;

use super::access::{authorize, mp_account_for, ok_json, param, Scope};
use crate::state::HttpState;
use crate::v3::body::{json_body, required_text};
use crate::v3::V3Error;

/// `GET /sandbox/v1/eligibility/{appid}`: the account's capabilities under
/// the e-commerce rules in force, each with its unmet requirements (the
/// explanation the console shows).
pub(super) async fn eligibility(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let a = mp_account_for(app, &scope, &appid).await?;
    let now = app.clock.business_now().unix();
    let verdicts = koudai_app::access::eligibility::explanation(&app.store, &a.appid, now)
        .await
        .map_err(|e| V3Error::internal(e.into()))?
        .unwrap_or_default();
    let rules =
        koudai_app::access::eligibility::current_rules(&app.store).await.map_err(|e| V3Error::internal(e.into()))?;
    ok_json(&json!({
        "appid": a.appid,
        "rule_version": rules.version,
        "capabilities": verdicts.iter().map(|v| json!({
            "name": v.name,
            "title": v.title,
            "granted": v.granted,
            "unmet": v.unmet.iter().map(|u| json!({
                "requirement": u.requirement, "title": u.title, "fact": u.fact, "actual": u.actual, "needed": u.needed,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AddressBody {
    name: String,
    phone: String,
    province: String,
    city: String,
    zone: String,
    address: String,
}

#[derive(Deserialize)]
struct BuyBody {
    appid: Option<String>,
    consumer: Option<String>,
    product_id: Option<String>,
    sku_info: Option<String>,
    count: Option<i64>,
    address: Option<AddressBody>,
}

/// `POST /sandbox/v1/shop/buy`: a consumer buys from an account's shop
/// with the wallet; answers `{"order_id", "transaction_id", "order_status":
/// 2}` or the refusal (stock, wallet, capability).
pub(super) async fn shop_buy(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::commerce::shop_orders::{buy, Address, Purchase};
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let b: BuyBody = json_body(&body)?;
    let appid = required_text(b.appid, "appid")?;
    let a = mp_account_for(app, &scope, &appid).await?;
    let consumer = required_text(b.consumer, "consumer")?;
    let product_id = required_text(b.product_id, "product_id")?;
    let addr = b.address.ok_or_else(|| param("address", "address 必填"))?;
    let purchase = Purchase {
        appid: a.appid.clone(),
        consumer,
        product_id,
        sku_info: b.sku_info.unwrap_or_default(),
        count: b.count.unwrap_or(1),
        to: Address {
            name: addr.name,
            phone: addr.phone,
            province: addr.province,
            city: addr.city,
            zone: addr.zone,
            address: addr.address,
        },
    };
    match buy(&state.app, &purchase).await {
        Ok(o) => ok_json(
            &json!({"order_id": o.order_id, "transaction_id": o.transaction_id, "order_status": o.status.code()}),
        ),
        Err(e) => Err(buy_refused(e)),
    }
}

/// A purchase's refusal as the sandbox answers it.
fn buy_refused(e: koudai_app::commerce::shop_orders::BuyError) -> V3Error {
    use koudai_app::commerce::shop_orders::BuyError;
    match e {
        BuyError::Internal(e) => V3Error::internal(e),
        BuyError::NotEnough => V3Error::message(ErrorCode::NotEnough, "用户余额不足"),
        e @ BuyError::OutOfStock { .. } => {
            V3Error::message(ErrorCode::InvalidRequest, format!("库存不足 out of stock: {e}"))
        }
        e @ (BuyError::NoAccount(_)
        | BuyError::ShopClosed(_)
        | BuyError::NotOnShelf(_)
        | BuyError::BadCount { .. }
        | BuyError::IncompleteAddress
        | BuyError::NoConsumer(_)
        | BuyError::NoSuchSku { .. }
        | BuyError::UnreadableProduct(_)
        | BuyError::TemplateGone(_)) => V3Error::message(ErrorCode::InvalidRequest, e.to_string()),
    }
}

/// A consumer's move as the sandbox answers it: the order now, or why not.
fn moved(
    r: Result<koudai_store::ShopOrder, koudai_app::commerce::shop_orders::MoveError>,
) -> Result<Response, V3Error> {
    use koudai_app::commerce::shop_orders::MoveError;
    match r {
        Ok(o) => ok_json(&shop_order_json(&o)),
        Err(MoveError::Internal(e)) => Err(V3Error::internal(e)),
        Err(
            e @ (MoveError::NoOrder(_)
            | MoveError::NoReason
            | MoveError::NotShipped { .. }
            | MoveError::RightsNotOpenable { .. }
            | MoveError::NoRightsCase { .. }),
        ) => Err(V3Error::message(ErrorCode::InvalidState, e.to_string())),
    }
}

/// The shop order a sandbox call names, if the token covers its merchant.
async fn shop_order_for(app: &App, scope: &Scope, order_id: &str) -> Result<koudai_store::ShopOrder, V3Error> {
    let missing = || V3Error::message(ErrorCode::ResourceNotExists, format!("订单{order_id}不存在"));
    let plain = !order_id.is_empty() && order_id.len() <= 24 && order_id.bytes().all(|b| b.is_ascii_digit());
    let o = if plain { app.store.shop_order(order_id).await.map_err(|e| V3Error::internal(e.into()))? } else { None };
    o.filter(|o| o.status.listed() && scope.covers(&o.mchid)).ok_or_else(missing)
}

fn shop_order_json(o: &koudai_store::ShopOrder) -> Value {
    json!({"order_id": o.order_id, "order_status": o.status.code(), "transaction_id": o.transaction_id})
}

/// `POST /sandbox/v1/shop/orders/{order_id}/confirm`: the consumer confirms
/// receipt (3 → 5).
pub(super) async fn shop_confirm(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Result<Response, V3Error> {
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let o = shop_order_for(app, &scope, &order_id).await?;
    let confirm = koudai_app::commerce::shop_orders::ConsumerMove::Confirm;
    moved(koudai_app::commerce::shop_orders::consumer_move(app, None, &o.order_id, confirm).await)
}

#[derive(Deserialize)]
struct RightsBody {
    action: Option<String>,
    reason: Option<String>,
}

/// `POST /sandbox/v1/shop/orders/{order_id}/rights` `{"action": "open" |
/// "close", "reason"}`: the consumer opens (→ 8) or closes a rights case.
pub(super) async fn shop_rights(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::commerce::shop_orders::ConsumerMove;
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let o = shop_order_for(app, &scope, &order_id).await?;
    let b: RightsBody = json_body(&body)?;
    let m = match required_text(b.action, "action")?.as_str() {
        "open" => ConsumerMove::OpenRights(b.reason.unwrap_or_default()),
        "close" => ConsumerMove::CloseRights,
        _ => return Err(param("action", "action 只能是 open 或 close")),
    };
    moved(koudai_app::commerce::shop_orders::consumer_move(app, None, &o.order_id, m).await)
}

#[derive(Deserialize)]
struct ScanBody {
    ticket: Option<String>,
    consumer: Option<String>,
}

/// `POST /sandbox/v1/qrcode/scan` `{"ticket", "consumer"}`: the consumer
/// scans a parametric QR code; answers `{"event": "subscribe"|"SCAN",
/// "delivered": bool}`.
pub(super) async fn qrcode_scan(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::mp::push::PushError;
    use koudai_app::mp::qrcode::ScanError;
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let b: ScanBody = json_body(&body)?;
    let ticket = required_text(b.ticket, "ticket")?;
    let consumer = required_text(b.consumer, "consumer")?;
    let missing =
        || V3Error::message(ErrorCode::ResourceNotExists, "二维码不存在或已过期 no live QR code with that ticket");
    let code = koudai_app::mp::qrcode::live(app, &ticket).await?.ok_or_else(missing)?;
    mp_account_for(app, &scope, &code.appid).await?;
    match koudai_app::mp::qrcode::scan(&state.app, &ticket, &consumer).await {
        Ok((event, delivered)) => ok_json(&json!({"event": event, "delivered": delivered})),
        Err(ScanError::Internal(e)) => Err(V3Error::internal(e)),
        Err(ScanError::NoTicket) => Err(missing()),
        Err(ScanError::NoConsumer(_)) => Err(param("consumer", "付款用户不存在")),
        Err(ScanError::Push(e)) => Err(match e {
            PushError::UnknownOpenid | PushError::NoServer => {
                V3Error::message(ErrorCode::InvalidRequest, e.to_string())
            }
            PushError::Internal(e) => V3Error::internal(e),
        }),
    }
}

#[derive(Deserialize)]
struct PoiAuditBody {
    result: Option<String>,
    msg: Option<String>,
}

/// `POST /sandbox/v1/poi/{poi_id}/audit` `{"result": "succ"|"fail", "msg"}`:
/// the operator's decision on a store (or its pending update); pushes
/// `poi_check_notify`.
pub(super) async fn poi_audit(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(poi_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, V3Error> {
    use koudai_app::o2o::poi::AuditError;
    let app = &state.app;
    let scope = authorize(app, &headers).await?;
    let missing = || V3Error::message(ErrorCode::ResourceNotExists, format!("门店{poi_id}不存在"));
    let plain = !poi_id.is_empty() && poi_id.len() <= 20 && poi_id.bytes().all(|b| b.is_ascii_digit());
    let found = if plain { app.store.poi(&poi_id).await.map_err(|e| V3Error::internal(e.into()))? } else { None };
    let found = found.ok_or_else(missing)?;
    mp_account_for(app, &scope, &found.appid).await?;
    let b: PoiAuditBody = json_body(&body)?;
    let approve = match required_text(b.result, "result")?.as_str() {
        "succ" => true,
        "fail" => false,
        _ => return Err(param("result", "result 只能是 succ 或 fail")),
    };
    match koudai_app::o2o::poi::audit(&state.app, &poi_id, approve, b.msg.as_deref().unwrap_or("")).await {
        Ok((s, delivered)) => ok_json(&json!({"poi_id": s.poi_id, "available_state": s.available_state,
                                              "update_status": i64::from(s.pending.is_some()), "delivered": delivered})),
        Err(AuditError::Internal(e)) => Err(V3Error::internal(e)),
        Err(AuditError::NoStore(_)) => Err(missing()),
        Err(AuditError::NoReason) => Err(param("msg", "驳回必须填写原因")),
        Err(e @ AuditError::NothingToReview(_)) => Err(V3Error::message(ErrorCode::InvalidState, e.to_string())),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct DiscoveryQuery {
    consumer: String,
    category: String,
    q: String,
    lat: String,
    lng: String,
    page: String,
}

/// `GET /sandbox/v1/discovery?consumer=<login>` (with `category`, `q`,
/// `lat`/`lng` and `page` as the page takes them): one page of the directory
/// as that consumer sees it, counted as an impression, each entry with its
/// `featured` flag, score and the click link the page would show, and
/// `total`, `page` and `pages`.
pub(super) async fn discovery(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(q): Query<DiscoveryQuery>,
) -> Result<Response, V3Error> {
    use koudai_app::discovery;
    let app = &state.app;
    authorize(app, &headers).await?;
    if q.consumer.is_empty() {
        return Err(V3Error::field(FieldError::missing("consumer"), "query"));
    }
    if app.store.consumer(&q.consumer).await.map_err(|e| V3Error::internal(e.into()))?.is_none() {
        return Err(param("consumer", "付款用户不存在"));
    }
    let near = match (q.lat.is_empty(), q.lng.is_empty()) {
        (true, true) => None,
        _ => Some(
            koudai_domain::discovery::parse_point(&q.lat, &q.lng)
                .ok_or_else(|| param("lat", "lat/lng 应为合法的纬度和经度"))?,
        ),
    };
    let query = discovery::Query {
        category: Some(q.category).filter(|c| !c.is_empty()),
        search: Some(q.q).filter(|s| !s.is_empty()),
        near,
        page: match q.page.trim() {
            "" => 1,
            p => p.parse().map_err(|_| param("page", "page 应为正整数"))?,
        },
    };
    let d = discovery::directory(app, Some(&q.consumer), &query, true).await?;
    let base = &app.config.base_url;
    ok_json(&json!({
        "version": d.version,
        "categories": d.categories,
        "total": d.total,
        "page": d.page,
        "pages": d.pages,
        "entries": d.entries.iter().map(|e| json!({
            "appid": e.appid,
            "name": e.name,
            "categories": e.categories,
            "featured": e.featured,
            "slot": e.slot,
            "position": e.position,
            "score": e.score.total,
            "score_parts": {"sales": e.score.sales, "rating": e.score.rating, "freshness": e.score.freshness,
                            "stars": e.score.stars},
            "distance_km": e.distance_km,
            "provider": e.provider,
            "provider_kind": e.provider_kind,
            "has_shop": e.has_shop,
            "click_url": format!("{base}/discover/go/{}", e.click),
        })).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ReportQuery {
    from: String,
    to: String,
}

fn traffic_json(l: &koudai_store::TrafficLine) -> Value {
    json!({
        "day": l.day, "appid": l.appid, "provider": l.provider, "provider_kind": l.provider_kind,
        "impressions": l.impressions, "featured_impressions": l.featured_impressions, "clicks": l.clicks,
        "follows": l.follows, "orders": l.orders, "gmv": l.gmv_fen,
    })
}

/// `GET /sandbox/v1/discovery/report?from=YYYY-MM-DD&to=YYYY-MM-DD` (the
/// platform's token): the traffic report as the operator console shows
/// it, with the orders it attributes.
pub(super) async fn discovery_report(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, V3Error> {
    let app = &state.app;
    if authorize(app, &headers).await? != Scope::Platform {
        return Err(V3Error::message(ErrorCode::NoAuth, "只有平台的沙箱令牌可以查看流量报告"));
    }
    let day = |name: &str, v: &str| {
        koudai_domain::fees::parse_date(v).ok_or_else(|| param(name, &format!("{name} 应为 YYYY-MM-DD")))
    };
    let r = match koudai_app::discovery::report(app, day("from", &q.from)?, day("to", &q.to)?).await {
        Ok(r) => r,
        Err(koudai_app::discovery::ReportError::Internal(e)) => return Err(V3Error::internal(e)),
        Err(e) => return Err(param("to", &format!("日期范围无效 {e}"))),
    };
    let (from, to) = (&r.from, &r.to);
    let orders = app.store.attributed_orders(from, to).await.map_err(|e| V3Error::internal(e.into()))?;
    ok_json(&json!({
        "from": from,
        "to": to,
        "totals": traffic_json(&r.totals),
        "lines": r.lines.iter().map(traffic_json).collect::<Vec<_>>(),
        "by_kind": r.by_kind.iter().map(traffic_json).collect::<Vec<_>>(),
        "by_provider": r.by_provider.iter().map(traffic_json).collect::<Vec<_>>(),
        "orders": orders.iter().map(|o| json!({
            "reference": o.reference, "click_id": o.click_id, "appid": o.appid, "amount": o.amount_fen, "day": o.day,
        })).collect::<Vec<_>>(),
    }))
}
