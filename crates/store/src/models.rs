//! Records the store reads and writes. Times are Unix seconds: business time
//! for orders and notifications, wall time for sessions and leases.

use koudai_domain::schedule::Channel;
use koudai_domain::{Secret, TradeState, TradeType};

/// The platform's signing key and its two identities.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlatformKeyRecord {
    #[sqlx(try_from = "String")]
    pub private_key_pem: Secret<String>,
    pub certificate_pem: String,
    /// Upper-case hex.
    pub certificate_serial: String,
    pub public_key_id: String,
    pub created_at: i64,
}

koudai_domain::text_enum! {
    /// How the platform signs what it sends a merchant.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum KeyMode: "key_mode" {
        /// Platform certificate (`Wechatpay-Serial` = certificate serial).
        Certificate = "certificate",
        /// WeChat Pay public key (`Wechatpay-Serial` = `PUB_KEY_ID_…`).
        PublicKey = "public_key",
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MerchantCertificate {
    /// Upper-case hex.
    pub serial_no: String,
    pub certificate_pem: String,
    pub public_key_pem: String,
    pub not_after: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Merchant {
    pub mchid: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub key_mode: KeyMode,
    #[sqlx(try_from = "String")]
    pub apiv3_key: Secret<String>,
    pub created_at: i64,
    /// The fee-schedule rule (category or `settlement_id`) it is under.
    pub fee_rule: String,
    /// The (simulated) bank account payouts go to.
    pub bank_account: Option<String>,
    /// For a sub-merchant, its service provider.
    pub sp_mchid: Option<String>,
    /// The most of an order profit sharing may give away (ten-thousandths).
    pub max_ratio: i64,
    /// Where it hears of profit shares it receives.
    pub service_notify_url: Option<String>,
}

impl Merchant {
    /// Whether it is a sub-merchant (acts through its provider only).
    pub fn is_sub_merchant(&self) -> bool {
        self.sp_mchid.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct NewMerchant {
    pub mchid: String,
    pub name: String,
    pub key_mode: KeyMode,
    pub apiv3_key: Secret<String>,
    pub certificate: MerchantCertificate,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Consumer {
    pub login: String,
    pub password_hash: String,
    pub created_at: i64,
}

/// Whose sessions: the cashier's consumers or the consoles' users. Each has
/// its own table, so a token of one can never open the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRealm {
    Consumer,
    Console,
}

impl SessionRealm {
    pub(crate) fn table(self) -> &'static str {
        match self {
            SessionRealm::Consumer => "consumer_sessions",
            SessionRealm::Console => "console_sessions",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    /// Hex SHA-256 of the cookie's token: the token itself is never stored,
    /// so a copy of the database opens no session.
    #[sqlx(rename = "token")]
    pub token_sha256: String,
    pub login: String,
    #[sqlx(try_from = "String")]
    pub csrf: Secret<String>,
    pub expires_at: i64,
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Order {
    pub id: i64,
    pub mchid: String,
    pub appid: String,
    pub out_trade_no: String,
    #[sqlx(try_from = "String")]
    pub trade_type: TradeType,
    pub description: String,
    pub attach: Option<String>,
    pub notify_url: String,
    pub total_fen: i64,
    pub payer_openid: Option<String>,
    pub device_id: Option<String>,
    pub params_digest: String,
    pub time_expire: i64,
    pub created_at: i64,
    /// The state last written (`trade_state`); see [`Order::state_at`].
    #[sqlx(rename = "trade_state", try_from = "String")]
    pub stored_state: TradeState,
    pub transaction_id: Option<String>,
    pub success_time: Option<i64>,
    pub payer_login: Option<String>,
    pub prepay_id: String,
    pub prepay_expires_at: i64,
    pub pay_token: String,
    /// The fee rule, rate and fee taken at payment.
    pub fee_rule: Option<String>,
    pub fee_rate_ppm: Option<i64>,
    pub fee_fen: i64,
    /// Refunds that still stand (not closed), and the fee they returned.
    pub refunded_fen: i64,
    pub fee_refunded_fen: i64,
    pub refund_count: i64,
    /// This order's money still in the merchant's pending account.
    pub pending_fen: i64,
    /// `YYYY-MM-DD`: the business day its funds settle, and the day they did.
    pub settles_on: Option<String>,
    pub settled_on: Option<String>,
    /// Partner mode: the provider that placed it (`mchid` is then the
    /// sub-merchant whose money it is, `appid` the provider's `sp_appid`).
    pub sp_mchid: Option<String>,
    pub sub_appid: Option<String>,
    /// The payer's openid under `sub_appid`.
    pub payer_sub_openid: Option<String>,
    /// Placed with `settle_info.profit_sharing = true`.
    #[sqlx(try_from = "i64")]
    pub profit_sharing: Flag,
    /// While its funds are frozen for profit sharing: when they unfreeze by
    /// themselves (business time).
    pub frozen_until: Option<i64>,
    /// Shared to receivers so far (asked for and not closed).
    pub shared_fen: i64,
    /// Paid at a store's pay code: the store's poi_id, and the
    /// `scene_info.store_info` object (JSON) the transaction shows.
    pub store_id: Option<String>,
    pub store_info: Option<String>,
}

/// A boolean stored as an integer (0 or 1) on both engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flag(pub bool);

impl TryFrom<i64> for Flag {
    type Error = koudai_domain::text::UnknownValue;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        match v {
            0 => Ok(Flag(false)),
            1 => Ok(Flag(true)),
            other => Err(koudai_domain::text::UnknownValue::new("flag", other.to_string())),
        }
    }
}

impl Order {
    /// The provider that placed it, if it is a partner order.
    pub fn is_partner(&self) -> bool {
        self.sp_mchid.is_some()
    }

    /// Whether its funds are frozen for profit sharing at business time `now`.
    pub fn is_frozen(&self) -> bool {
        self.frozen_until.is_some() && self.settled_on.is_none()
    }

    /// What may still be shared or unfrozen.
    pub fn unsplit_fen(&self) -> i64 {
        if self.is_frozen() {
            self.pending_fen
        } else {
            0
        }
    }

    /// The state at business time `now`, counting expiry not yet written down.
    pub fn state_at(&self, now: i64) -> TradeState {
        self.stored_state.effective(self.time_expire, now)
    }
}

/// An order to insert.
#[derive(Debug, Clone)]
pub struct NewOrderRecord {
    pub mchid: String,
    pub appid: String,
    pub out_trade_no: String,
    pub trade_type: TradeType,
    pub description: String,
    pub attach: Option<String>,
    pub notify_url: String,
    pub total_fen: i64,
    pub payer_openid: Option<String>,
    pub device_id: Option<String>,
    pub params_digest: String,
    pub time_expire: i64,
    pub created_at: i64,
    pub prepay_id: String,
    pub prepay_expires_at: i64,
    pub pay_token: String,
    pub sp_mchid: Option<String>,
    pub sub_appid: Option<String>,
    pub payer_sub_openid: Option<String>,
    pub profit_sharing: bool,
    /// A store payment's poi_id and `store_info` (JSON).
    pub store_id: Option<String>,
    pub store_info: Option<String>,
}

/// How a payment finds its order.
#[derive(Debug, Clone)]
pub enum OrderLocator {
    PrepayId(String),
    PayToken(String),
}

/// What a payment attempt should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayOutcome {
    /// Take the money.
    Success,
    /// The payer's bank refused: record `PAYERROR`, move no money.
    PayError,
}

/// A payment, as the consumer asked for it.
#[derive(Debug, Clone)]
pub struct PayCommand {
    pub locator: OrderLocator,
    pub consumer_login: String,
    pub now: i64,
    pub outcome: PayOutcome,
    /// Used if the payment succeeds.
    pub transaction_id: String,
    /// Used if the consumer has no openid for the order's app yet.
    pub fresh_openid: String,
    /// Likewise for a partner order's `sub_appid`.
    pub fresh_sub_openid: String,
    /// What the payment costs the merchant (decided by the caller under the
    /// merchant's fee rule in force; the payment fails with
    /// [`crate::PayError::RuleChanged`] if the rule changed meanwhile).
    pub charge: koudai_domain::fees::Charge,
    /// Until when a payment for profit sharing stays frozen.
    pub frozen_until: Option<i64>,
}

/// A notification to put in the outbox.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub event_id: String,
    pub mchid: String,
    pub reference: String,
    pub event_type: String,
    pub notify_url: String,
    pub body: String,
    pub next_attempt_at: i64,
    pub created_at: i64,
    /// How it is delivered.
    pub channel: Channel,
    /// For `mp` the account's appid, for `component` the component appid.
    pub key: Option<String>,
}

koudai_domain::text_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum NotificationStatus: "notification status" {
        Pending = "PENDING",
        Delivered = "DELIVERED",
        Failed = "FAILED",
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    pub event_id: String,
    pub mchid: String,
    pub reference: String,
    pub event_type: String,
    pub notify_url: String,
    pub body: String,
    #[sqlx(try_from = "String")]
    pub status: NotificationStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    /// How it is delivered.
    #[sqlx(try_from = "String")]
    pub channel: Channel,
    /// For `mp` the account's appid, for `component` the component appid.
    pub appid: Option<String>,
    /// For `mp`: the receiving server's passive reply, parsed (JSON).
    pub reply: Option<String>,
}

/// One delivery attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Attempt {
    pub attempt_no: i64,
    pub attempted_at: i64,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// What to do with a notification after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    RetryAt(i64),
    GiveUp,
}
