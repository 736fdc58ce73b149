//! The consumer-facing cashier: server-rendered pages for Native (QR code),
//! H5 and JSAPI payments, and `/static/jsbridge.js`, which gives a
//! merchant's page `WeixinJSBridge.invoke('getBrandWCPayRequest', …)`.
//!
//! Pages work without JavaScript. A consumer pays either with a session
//! (cookie, plus a CSRF token in the form) or by entering login and password
//! in the payment form itself, which also works inside the JSAPI overlay
//! where a third-party cookie would not be sent.

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use koudai_domain::ledger::{AccountKind, AccountRef};
use koudai_domain::TradeState;
use koudai_protocol::auth::jsapi_pay_message;
use koudai_store::{Order, OrderLocator, PayOutcome, Session};

use crate::admin::verify_password;
use crate::app::SharedState;
use crate::demo::random_token;
use crate::payments;

const SESSION_COOKIE: &str = "koudai_session";
const SESSION_TTL_S: i64 = 24 * 3600;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/pay/native", get(native_page))
        .route("/pay/h5", get(h5_page))
        .route("/pay/jsapi", get(jsapi_page))
        .route("/pay/confirm", post(confirm))
        .route("/static/jsbridge.js", get(jsbridge))
}

/// Which cashier a page or form belongs to, and the reference it carries.
#[derive(Debug, Clone)]
enum Checkout {
    Native { token: String },
    H5 { prepay_id: String },
    Jsapi(JsapiParams),
}

impl Checkout {
    fn locator(&self) -> OrderLocator {
        match self {
            Checkout::Native { token } => OrderLocator::PayToken(token.clone()),
            Checkout::H5 { prepay_id } => OrderLocator::PrepayId(prepay_id.clone()),
            Checkout::Jsapi(p) => OrderLocator::PrepayId(p.prepay_id().unwrap_or_default().to_owned()),
        }
    }

    fn hidden_fields(&self) -> String {
        let field = |n: &str, v: &str| format!(r#"<input type="hidden" name="{}" value="{}">"#, esc(n), esc(v));
        match self {
            Checkout::Native { token } => field("kind", "native") + &field("pr", token),
            Checkout::H5 { prepay_id } => field("kind", "h5") + &field("prepay_id", prepay_id),
            Checkout::Jsapi(p) => {
                field("kind", "jsapi")
                    + &field("appId", &p.app_id)
                    + &field("timeStamp", &p.time_stamp)
                    + &field("nonceStr", &p.nonce_str)
                    + &field("package", &p.package)
                    + &field("signType", &p.sign_type)
                    + &field("paySign", &p.pay_sign)
            }
        }
    }

    fn in_overlay(&self) -> bool {
        matches!(self, Checkout::Jsapi(_))
    }
}

/// The parameters a merchant's page hands to `getBrandWCPayRequest`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
struct JsapiParams {
    #[serde(rename = "appId")]
    app_id: String,
    #[serde(rename = "timeStamp")]
    time_stamp: String,
    #[serde(rename = "nonceStr")]
    nonce_str: String,
    package: String,
    #[serde(rename = "signType")]
    sign_type: String,
    #[serde(rename = "paySign")]
    pay_sign: String,
}

impl JsapiParams {
    fn prepay_id(&self) -> Option<&str> {
        self.package.strip_prefix("prepay_id=").filter(|p| !p.is_empty())
    }
}

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `12.34` for 1234 fen.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{t} · Koudai</title><style>
body{{font-family:system-ui,sans-serif;background:#f2f2f2;margin:0;padding:16px;color:#222}}
main{{max-width:420px;margin:0 auto;background:#fff;border-radius:12px;padding:24px;box-shadow:0 1px 4px #0002}}
h1{{font-size:18px;margin:0 0 12px}} .amount{{font-size:36px;font-weight:600;margin:8px 0}}
.muted{{color:#777;font-size:14px}} .error{{background:#fdecea;color:#a4000f;padding:10px;border-radius:8px;margin:12px 0}}
.ok{{background:#e7f6ec;color:#0a6b2b;padding:10px;border-radius:8px;margin:12px 0}}
label{{display:block;margin:10px 0 4px;font-size:14px}} input[type=text],input[type=password]{{width:100%;box-sizing:border-box;padding:10px;border:1px solid #ccc;border-radius:8px}}
button{{width:100%;padding:12px;margin-top:16px;border:0;border-radius:8px;background:#07c160;color:#fff;font-size:16px}}
button.secondary{{background:#eee;color:#333}} .qr svg{{display:block;margin:12px auto}}
</style></head><body><main>{body}</main></body></html>"#,
        t = esc(title),
    );
    (status, Html(html)).into_response()
}

fn error_page(status: StatusCode, message: &str) -> Response {
    page(status, "无法支付", &format!(r#"<h1>无法支付</h1><div class="error" id="error">{}</div>"#, esc(message)))
}

async fn session_of(state: &SharedState, headers: &HeaderMap) -> Option<Session> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let token = cookies.split(';').find_map(|c| c.trim().strip_prefix(&format!("{SESSION_COOKIE}=")))?;
    state.store.session(token, state.clock.wall_now()).await.ok().flatten()
}

async fn merchant_name(state: &SharedState, mchid: &str) -> String {
    state.store.merchant(mchid).await.ok().flatten().map(|m| m.name).unwrap_or_else(|| mchid.to_owned())
}

/// The checkout page: the order, its QR code for Native, and the pay form.
async fn render(
    state: &SharedState,
    checkout: &Checkout,
    order: &Order,
    session: Option<&Session>,
    notice: Option<(StatusCode, &str)>,
) -> Response {
    let now = state.clock.business_now();
    let trade_state = order.state_at(now);
    let mut body = format!(
        r#"<h1>{merchant}</h1><div class="muted">{desc}</div><div class="amount" id="amount">¥{amount}</div>
<div class="muted">订单号 <span id="out-trade-no">{out}</span> · 状态 <span id="trade-state">{st}</span></div>"#,
        merchant = esc(&merchant_name(state, &order.mchid).await),
        desc = esc(&order.description),
        amount = yuan(order.total_fen),
        out = esc(&order.out_trade_no),
        st = trade_state.as_str(),
    );
    if let Checkout::Native { token } = checkout {
        if let Ok(code) = qrcode::QrCode::new(payments::code_url(token).as_bytes()) {
            let svg = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(180, 180).build();
            body.push_str(&format!(r#"<div class="qr" title="用微信扫一扫">{svg}</div>"#));
        }
    }
    let status = match notice {
        Some((status, message)) => {
            body.push_str(&format!(r#"<div class="error" id="error">{}</div>"#, esc(message)));
            status
        }
        None => StatusCode::OK,
    };
    // An order that names its payer (JSAPI) can only be paid by that
    // consumer: anyone else logged in is asked to log in as the payer.
    let session = match (session, &order.payer_openid) {
        (Some(s), Some(openid)) => {
            let payer = state.store.login_of_openid(openid).await.ok().flatten();
            (payer.as_deref() == Some(s.login.as_str())).then_some(s)
        }
        (s, _) => s,
    };
    if trade_state.is_payable() || trade_state == TradeState::PayError {
        body.push_str(r#"<form method="post" action="/pay/confirm" id="pay-form">"#);
        body.push_str(&checkout.hidden_fields());
        match session {
            Some(s) => {
                let balance = state.store.balance(&AccountRef::new(AccountKind::ConsumerWallet, &s.login)).await.unwrap_or(0);
                body.push_str(&format!(
                    r#"<p>付款账户 <b id="login">{}</b> · 余额 ¥<span id="balance">{}</span></p><input type="hidden" name="csrf" value="{}"><button type="submit" id="pay">确认支付 ¥{}</button>"#,
                    esc(&s.login),
                    yuan(balance),
                    esc(&s.csrf),
                    yuan(order.total_fen)
                ));
            }
            None => body.push_str(&format!(
                r#"<label for="login">钱包账号</label><input type="text" id="login" name="login" autocomplete="username" required>
<label for="password">密码</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit" id="pay">登录并支付 ¥{}</button>"#,
                yuan(order.total_fen)
            )),
        }
        body.push_str("</form>");
        if checkout.in_overlay() {
            body.push_str(&result_script("get_brand_wcpay_request:cancel", "cancel"));
        }
    } else {
        body.push_str(&format!(
            r#"<div class="error" id="error">订单当前状态为 {}，不能支付。</div>"#,
            trade_state.as_str()
        ));
    }
    page(status, "收银台", &body)
}

/// For the JSAPI overlay: a button (or, with `auto`, an immediate message)
/// that reports the outcome to the merchant's page.
fn result_script(err_msg: &str, kind: &str) -> String {
    let post = format!("parent.postMessage({{koudai:'pay-result',err_msg:'{err_msg}'}},'*')");
    match kind {
        "cancel" => {
            format!(r#"<button type="button" class="secondary" id="cancel" onclick="{}">取消</button>"#, esc(&post))
        }
        _ => format!(r#"<button type="button" id="done" onclick="{}">完成</button>"#, esc(&post)),
    }
}

#[derive(Deserialize)]
struct NativeQuery {
    pr: Option<String>,
}

async fn native_page(State(state): State<SharedState>, headers: HeaderMap, Query(q): Query<NativeQuery>) -> Response {
    let Some(token) = q.pr.filter(|t| !t.is_empty()) else {
        return error_page(StatusCode::BAD_REQUEST, "缺少参数 pr");
    };
    show(&state, &headers, Checkout::Native { token }).await
}

#[derive(Deserialize)]
struct H5Query {
    prepay_id: Option<String>,
}

async fn h5_page(State(state): State<SharedState>, headers: HeaderMap, Query(q): Query<H5Query>) -> Response {
    let Some(prepay_id) = q.prepay_id.filter(|t| !t.is_empty()) else {
        return error_page(StatusCode::BAD_REQUEST, "缺少参数 prepay_id");
    };
    show(&state, &headers, Checkout::H5 { prepay_id }).await
}

async fn jsapi_page(State(state): State<SharedState>, headers: HeaderMap, Query(p): Query<JsapiParams>) -> Response {
    show(&state, &headers, Checkout::Jsapi(p)).await
}

async fn show(state: &SharedState, headers: &HeaderMap, checkout: Checkout) -> Response {
    let order = match load(state, &checkout).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let session = session_of(state, headers).await;
    render(state, &checkout, &order, session.as_ref(), None).await
}

/// Finds the order; for JSAPI, first checks `paySign` with the merchant's
/// certificate, refusing a request the merchant did not sign.
async fn load(state: &SharedState, checkout: &Checkout) -> Result<Order, Response> {
    let order = match state.store.order_by_locator(&checkout.locator()).await {
        Ok(Some(o)) => o,
        Ok(None) => return Err(error_page(StatusCode::NOT_FOUND, "订单不存在或支付链接已失效")),
        Err(e) => {
            tracing::error!(error = %e, "cashier: loading order failed");
            return Err(error_page(StatusCode::SERVICE_UNAVAILABLE, "系统繁忙，请稍后重试"));
        }
    };
    if let Checkout::Jsapi(p) = checkout {
        if let Err(reason) = verify_pay_sign(state, p, &order).await {
            return Err(error_page(StatusCode::BAD_REQUEST, &format!("支付验证失败：{reason}")));
        }
    }
    Ok(order)
}

async fn verify_pay_sign(state: &SharedState, p: &JsapiParams, order: &Order) -> Result<(), String> {
    if p.sign_type != "RSA" {
        return Err("signType 必须为 RSA".into());
    }
    if p.app_id != order.appid {
        return Err("appId 与订单不一致".into());
    }
    if p.time_stamp.is_empty() || !p.time_stamp.chars().all(|c| c.is_ascii_digit()) || p.nonce_str.is_empty() {
        return Err("timeStamp 或 nonceStr 不合法".into());
    }
    let message = jsapi_pay_message(&p.app_id, &p.time_stamp, &p.nonce_str, &p.package);
    let certs = state.store.merchant_certificates(&order.mchid).await.map_err(|_| "系统繁忙".to_owned())?;
    let valid = certs.iter().any(|c| {
        koudai_protocol::PublicKey::from_pem(&c.public_key_pem).is_ok_and(|k| k.verify(&message, &p.pay_sign))
    });
    if valid {
        Ok(())
    } else {
        Err("paySign 签名错误".into())
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConfirmForm {
    kind: String,
    pr: String,
    prepay_id: String,
    csrf: String,
    login: String,
    password: String,
    #[serde(flatten)]
    jsapi: JsapiParams,
}

async fn confirm(State(state): State<SharedState>, headers: HeaderMap, Form(f): Form<ConfirmForm>) -> Response {
    let checkout = match f.kind.as_str() {
        "native" => Checkout::Native { token: f.pr.clone() },
        "h5" => Checkout::H5 { prepay_id: f.prepay_id.clone() },
        "jsapi" => Checkout::Jsapi(f.jsapi.clone()),
        _ => return error_page(StatusCode::BAD_REQUEST, "未知的支付方式"),
    };
    let order = match load(&state, &checkout).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    // Who pays: the session's consumer (with its CSRF token), or whoever
    // proves it with login and password here.
    let mut new_cookie = None;
    let session = session_of(&state, &headers).await;
    let login = match (&session, f.login.is_empty()) {
        (Some(s), true) => {
            if f.csrf != s.csrf {
                return render(
                    &state,
                    &checkout,
                    &order,
                    session.as_ref(),
                    Some((StatusCode::FORBIDDEN, "页面已过期，请刷新后重试")),
                )
                .await;
            }
            s.login.clone()
        }
        _ => {
            let consumer = state.store.consumer(&f.login).await.ok().flatten();
            if !consumer.is_some_and(|c| verify_password(&f.password, &c.password_hash)) {
                return render(&state, &checkout, &order, None, Some((StatusCode::UNAUTHORIZED, "账号或密码错误")))
                    .await;
            }
            let s = Session {
                token: random_token(32),
                login: f.login.clone(),
                csrf: random_token(32),
                expires_at: state.clock.wall_now() + SESSION_TTL_S,
            };
            if state.store.create_session(&s).await.is_ok() {
                new_cookie = Some(format!(
                    "{SESSION_COOKIE}={}; Path=/pay; HttpOnly; SameSite=Lax; Max-Age={SESSION_TTL_S}",
                    s.token
                ));
            }
            f.login.clone()
        }
    };
    let result = payments::pay(&state, checkout.locator(), &login, PayOutcome::Success).await;
    let mut resp = match result {
        Ok(paid) => {
            let mut body = format!(
                r#"<h1>支付成功</h1><div class="ok" id="result">已向 {} 支付 ¥{}</div><div class="muted">微信支付订单号 <span id="transaction-id">{}</span></div>"#,
                esc(&merchant_name(&state, &paid.mchid).await),
                yuan(paid.total_fen),
                esc(paid.transaction_id.as_deref().unwrap_or_default())
            );
            if checkout.in_overlay() {
                body.push_str(&result_script("get_brand_wcpay_request:ok", "done"));
            }
            page(StatusCode::OK, "支付成功", &body)
        }
        Err(failure) => {
            let status = StatusCode::from_u16(failure.error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let message = format!("{}（{}）", failure.error.message, failure.error.code.code());
            if let Some(cause) = &failure.internal {
                tracing::error!(error = %cause, "cashier: payment failed");
            }
            let session = session_of(&state, &headers).await;
            let fresh = state.store.order_by_locator(&checkout.locator()).await.ok().flatten().unwrap_or(order);
            render(&state, &checkout, &fresh, session.as_ref(), Some((status, &message))).await
        }
    };
    if let Some(cookie) = new_cookie.and_then(|c| header::HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    resp
}

const JSBRIDGE: &str = include_str!("jsbridge.js");

async fn jsbridge() -> Response {
    ([(header::CONTENT_TYPE, "application/javascript; charset=utf-8")], JSBRIDGE).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_amounts() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(yuan(1), "0.01");
        assert_eq!(yuan(123456), "1234.56");
        assert_eq!(yuan(-5), "-0.05");
    }
}
