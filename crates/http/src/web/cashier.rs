//! The consumer-facing cashier: pages for Native (QR code), H5 and JSAPI
//! payments. A consumer pays either with a session (cookie, plus a CSRF
//! token in the form) or by entering login and password in the payment form
//! itself, which also works inside the JSAPI overlay where a third-party
//! cookie would not be sent.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use koudai_app::parties::verify_password;
use koudai_app::payments::{self, PayError};
use koudai_app::App;
use koudai_domain::ledger::{AccountKind, AccountRef};
use koudai_domain::{TradeState, TradeType};
use koudai_protocol::auth::jsapi_pay_message;
use koudai_protocol::PublicKey;
use koudai_store::{Order, OrderLocator, PayOutcome, Session};

use super::page::{render, yuan, PageError};
use super::session::{self, csrf_matches};
use crate::state::HttpState;
use crate::v3::V3Error;

/// The longest login a consumer can have (`parties::create_consumer`).
const MAX_LOGIN_LEN: usize = 64;
/// Smallest side of the QR code, in pixels.
const QR_MIN_PX: u32 = 180;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/pay/native", get(native_page))
        .route("/pay/h5", get(h5_page))
        .route("/pay/jsapi", get(jsapi_page))
        .route("/pay/confirm", post(confirm))
        // The JSAPI overlay's own form target, so that everything under
        // `/pay/jsapi` (and only that) may be framed by merchants' pages.
        .route("/pay/jsapi/confirm", post(confirm))
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

    /// The form fields that carry the checkout through `/pay/confirm`.
    fn hidden_fields(&self) -> Vec<(&'static str, String)> {
        match self {
            Checkout::Native { token } => vec![("kind", "native".into()), ("pr", token.clone())],
            Checkout::H5 { prepay_id } => vec![("kind", "h5".into()), ("prepay_id", prepay_id.clone())],
            Checkout::Jsapi(p) => vec![
                ("kind", "jsapi".into()),
                ("appId", p.app_id.clone()),
                ("timeStamp", p.time_stamp.clone()),
                ("nonceStr", p.nonce_str.clone()),
                ("package", p.package.clone()),
                ("signType", p.sign_type.clone()),
                ("paySign", p.pay_sign.clone()),
            ],
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

/// The consumer about to pay, as the page shows them.
struct Payer {
    login: String,
    balance: String,
    csrf: String,
}

#[derive(Template)]
#[template(path = "cashier/checkout.html")]
struct CheckoutPage {
    merchant: String,
    description: String,
    amount: String,
    out_trade_no: String,
    trade_state: &'static str,
    paid: bool,
    payable: bool,
    qr_svg: Option<String>,
    notice: Option<String>,
    hidden: Vec<(&'static str, String)>,
    payer: Option<Payer>,
    overlay: bool,
    /// Whether to point at the sandbox's demo accounts.
    sandbox: bool,
}

#[derive(Template)]
#[template(path = "cashier/paid.html")]
struct PaidPage {
    merchant: String,
    amount: String,
    transaction_id: String,
    overlay: bool,
}

async fn merchant_name(app: &App, mchid: &str) -> Result<String, PageError> {
    Ok(app.store.merchant(mchid).await?.map_or_else(|| mchid.to_owned(), |m| m.name))
}

fn qr_svg(token: &str) -> Result<String, PageError> {
    let code = qrcode::QrCode::new(payments::code_url(token).as_bytes())
        .map_err(|e| PageError::Internal(koudai_app::Internal::bug(format!("QR code: {e}"))))?;
    Ok(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(QR_MIN_PX, QR_MIN_PX).build())
}

/// The checkout page: the order, its QR code for Native while it can be
/// paid, and the pay form; a paid order shows that it is paid.
async fn checkout_page(
    app: &App,
    checkout: &Checkout,
    order: &Order,
    session: Option<&Session>,
    notice: Option<(StatusCode, String)>,
) -> Result<Response, PageError> {
    let trade_state = order.state_at(app.clock.business_now().unix());
    let paid = matches!(trade_state, TradeState::Success | TradeState::Refund);
    let payable = trade_state.is_payable() || trade_state == TradeState::PayError;
    // An order that names its payer (JSAPI) can only be paid by that
    // consumer: anyone else logged in is asked to log in as the payer.
    let session = match (session, &order.payer_openid) {
        (Some(s), Some(openid)) => {
            let payer = app.store.login_of_openid(openid).await?;
            (payer.as_deref() == Some(s.login.as_str())).then_some(s)
        }
        (s, _) => s,
    };
    let payer = match session.filter(|_| payable) {
        Some(s) => {
            let balance = app.store.balance(&AccountRef::new(AccountKind::ConsumerWallet, &s.login)).await?;
            Some(Payer { login: s.login.clone(), balance: yuan(balance), csrf: s.csrf.expose().clone() })
        }
        None => None,
    };
    let qr_svg = match checkout {
        Checkout::Native { token } if payable => Some(qr_svg(token)?),
        _ => None,
    };
    let (status, notice) = match notice {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let page = CheckoutPage {
        merchant: merchant_name(app, &order.mchid).await?,
        description: order.description.clone(),
        amount: yuan(order.total_fen),
        out_trade_no: order.out_trade_no.clone(),
        trade_state: trade_state.as_str(),
        paid,
        payable,
        qr_svg,
        notice,
        hidden: checkout.hidden_fields(),
        payer,
        overlay: checkout.in_overlay(),
        sandbox: app.mode() == koudai_app::Mode::Sandbox,
    };
    Ok(render(status, &page))
}

#[derive(Deserialize)]
struct NativeQuery {
    pr: Option<String>,
}

async fn native_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(q): Query<NativeQuery>,
) -> Result<Response, PageError> {
    let token = q.pr.filter(|t| !t.is_empty()).ok_or_else(|| PageError::BadRequest("缺少参数 pr".into()))?;
    show(&state.app, &jar, Checkout::Native { token }).await
}

#[derive(Deserialize)]
struct H5Query {
    prepay_id: Option<String>,
}

async fn h5_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(q): Query<H5Query>,
) -> Result<Response, PageError> {
    let prepay_id =
        q.prepay_id.filter(|t| !t.is_empty()).ok_or_else(|| PageError::BadRequest("缺少参数 prepay_id".into()))?;
    show(&state.app, &jar, Checkout::H5 { prepay_id }).await
}

async fn jsapi_page(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(p): Query<JsapiParams>,
) -> Result<Response, PageError> {
    show(&state.app, &jar, Checkout::Jsapi(p)).await
}

async fn show(app: &App, jar: &CookieJar, checkout: Checkout) -> Result<Response, PageError> {
    let order = load(app, &checkout).await?;
    let session = session::current(app, jar).await?;
    checkout_page(app, &checkout, &order, session.as_ref(), None).await
}

/// Finds the order; for JSAPI, first checks `paySign` with the certificates
/// of whoever placed the order (merchant or provider), refusing a request
/// it did not sign.
async fn load(app: &App, checkout: &Checkout) -> Result<Order, PageError> {
    if let Checkout::Jsapi(p) = checkout {
        if p.prepay_id().is_none() {
            return Err(PageError::BadRequest("支付验证失败：package 应为 prepay_id=…".into()));
        }
    }
    let order = app
        .store
        .order_by_locator(&checkout.locator())
        .await?
        .ok_or_else(|| PageError::NotFound("订单不存在或支付链接已失效".into()))?;
    // A prepay id opens only the cashier of its own trade type: a JSAPI
    // order is paid through the bridge, with the merchant's paySign, or not
    // at all.
    let matches = matches!(
        (checkout, order.trade_type),
        (Checkout::Native { .. }, TradeType::Native)
            | (Checkout::H5 { .. }, TradeType::H5)
            | (Checkout::Jsapi(_), TradeType::Jsapi)
    );
    if !matches {
        return Err(PageError::NotFound("订单不存在或支付链接已失效".into()));
    }
    if let Checkout::Jsapi(p) = checkout {
        verify_pay_sign(app, p, &order).await?;
    }
    Ok(order)
}

async fn verify_pay_sign(app: &App, p: &JsapiParams, order: &Order) -> Result<(), PageError> {
    let refuse = |reason: &str| PageError::BadRequest(format!("支付验证失败：{reason}"));
    if p.sign_type != "RSA" {
        return Err(refuse("signType 必须为 RSA"));
    }
    // Partner mode: the appId the payer's openid belongs to (`sp_appid`, or
    // `sub_appid`), signed with the provider's key (§8).
    if p.app_id != order.appid && order.sub_appid.as_deref() != Some(p.app_id.as_str()) {
        return Err(refuse("appId 与订单不一致"));
    }
    let signer = order.sp_mchid.as_deref().unwrap_or(&order.mchid);
    if p.time_stamp.is_empty() || !p.time_stamp.chars().all(|c| c.is_ascii_digit()) || p.nonce_str.is_empty() {
        return Err(refuse("timeStamp 或 nonceStr 不合法"));
    }
    let message = jsapi_pay_message(&p.app_id, &p.time_stamp, &p.nonce_str, &p.package);
    for cert in app.store.merchant_certificates(signer).await? {
        let key = PublicKey::from_pem(&cert.public_key_pem)
            .map_err(|e| koudai_app::Internal::bug(format!("stored public key of {signer}/{}: {e}", cert.serial_no)))?;
        if key.verify(&message, &p.pay_sign) {
            return Ok(());
        }
    }
    Err(refuse("paySign 签名错误"))
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

async fn confirm(
    State(state): State<HttpState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    jar: CookieJar,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    let app = &state.app;
    let j = &f.jsapi;
    let fields = [&f.kind, &f.pr, &f.prepay_id, &f.csrf, &f.login, &f.password, &j.app_id, &j.time_stamp];
    let more = [&j.nonce_str, &j.package, &j.sign_type, &j.pay_sign];
    if crate::hygiene::any_forbidden(fields.iter().chain(more.iter()).map(|s| s.as_str())) {
        return Err(PageError::BadRequest("表单含有不允许的字符".into()));
    }
    let checkout = match f.kind.as_str() {
        "native" => Checkout::Native { token: f.pr.clone() },
        "h5" => Checkout::H5 { prepay_id: f.prepay_id.clone() },
        "jsapi" => Checkout::Jsapi(f.jsapi.clone()),
        _ => return Err(PageError::BadRequest("未知的支付方式".into())),
    };
    let order = load(app, &checkout).await?;
    // Who pays: the session's consumer (with its CSRF token), or whoever
    // proves it with login and password here.
    let session = session::current(app, &jar).await?;
    let mut jar = jar;
    let login = match (&session, f.login.is_empty()) {
        (Some(s), true) => {
            if !csrf_matches(s, &f.csrf) {
                let notice = (StatusCode::FORBIDDEN, "页面已过期，请刷新后重试".to_owned());
                return checkout_page(app, &checkout, &order, session.as_ref(), Some(notice)).await;
            }
            s.login.clone()
        }
        _ => match log_in(&state, peer.map(|p| (p.0).0.ip()), &f.login, &f.password).await? {
            Err(notice) => return checkout_page(app, &checkout, &order, None, Some(notice)).await,
            Ok(cookie) => {
                jar = jar.add(cookie);
                f.login.clone()
            }
        },
    };
    let resp = match payments::pay(app, checkout.locator(), &login, PayOutcome::Success).await {
        Ok(paid) => {
            let page = PaidPage {
                merchant: merchant_name(app, &paid.mchid).await?,
                amount: yuan(paid.total_fen),
                transaction_id: paid.transaction_id.clone().unwrap_or_default(),
                overlay: checkout.in_overlay(),
            };
            render(StatusCode::OK, &page)
        }
        Err(PayError::Internal(e)) => return Err(PageError::Internal(e)),
        Err(refusal) => {
            let error = V3Error::from(refusal).error;
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let notice = (status, format!("{}（{}）", error.message, error.code.code()));
            let session = session::current(app, &jar).await?;
            let fresh = app.store.order_by_locator(&checkout.locator()).await?.unwrap_or(order);
            checkout_page(app, &checkout, &fresh, session.as_ref(), Some(notice)).await?
        }
    };
    Ok((jar, resp).into_response())
}

/// Checks a login and password (throttled per login); on success starts a
/// session and returns its cookie, on failure the notice to show.
async fn log_in(
    state: &HttpState,
    address: Option<std::net::IpAddr>,
    login: &str,
    password: &str,
) -> Result<Result<axum_extra::extract::cookie::Cookie<'static>, (StatusCode, String)>, PageError> {
    let app = &state.app;
    let wrong = || Ok(Err((StatusCode::UNAUTHORIZED, "账号或密码错误".to_owned())));
    // Logins are at most 64 characters; anything longer cannot exist and
    // must not fill the throttle's memory.
    if login.is_empty() || login.len() > MAX_LOGIN_LEN {
        return wrong();
    }
    let now = app.clock.wall_now().unix();
    let too_many = || Ok(Err((StatusCode::TOO_MANY_REQUESTS, "密码错误次数过多，请15分钟后再试".to_owned())));
    // Per address first (one password against many logins), then per login
    // (many passwords against one). Behind a proxy every client shares the
    // proxy's address; the per-address limit is generous for that reason.
    if let Some(ip) = address {
        if !state.login_addresses.attempt(&ip.to_string(), now)? {
            return too_many();
        }
    }
    if !state.logins.attempt(login, now)? {
        return too_many();
    }
    // An unknown login is checked against a dummy hash, so the answer takes
    // as long as for a wrong password: timing does not tell who exists.
    let consumer = app.store.consumer(login).await?;
    let exists = consumer.is_some();
    let hash = match consumer {
        Some(c) => c.password_hash,
        None => dummy_hash()?,
    };
    // Argon2 costs ~20 MiB and tens of milliseconds: off the async threads.
    let password = password.to_owned();
    let valid = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| koudai_app::Internal::bug(format!("password check: {e}")))??;
    if !(valid && exists) {
        return wrong();
    }
    state.logins.succeeded(login)?;
    let (_, cookie) = session::start(app, login).await?;
    Ok(Ok(cookie))
}

/// A hash no password matches, made once per process with the same
/// parameters as real ones.
pub(crate) fn dummy_hash() -> Result<String, koudai_app::Internal> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h.clone());
    }
    let rng = koudai_app::Rng::os();
    let hash = koudai_app::parties::hash_password(&rng, &rng.token(32))?;
    Ok(DUMMY.get_or_init(|| hash).clone())
}
