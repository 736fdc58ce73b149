//! Refunds, shared by the `/v3` surface, the refund job and the sandbox
//! API: applying (§4.2), presenting (§4.3), and finishing with the
//! `REFUND.*` notification (§5.1).

use koudai_domain::ids;
use koudai_domain::refund::{RefundRefusal, RefundStatus};
use koudai_protocol::times;
use koudai_protocol::wire::{self, RefundAmount, RefundNotice, RefundNoticeAmount};
use koudai_store::{Merchant, NewNotification, Order, Refund, RefundCreated, RefundRequest, RefundTarget};

use crate::access::authz::{self, Action};
use crate::outbox::{self, Event};
use crate::payments::{self, OrderKey};
use crate::{App, Internal};

/// How many due refunds one pass of the refund job finishes.
const FINISH_BATCH: i64 = 64;

const RECEIVED_ACCOUNT: &str = "支付用户零钱";

/// The refund object of create and query.
pub fn refund_view(r: &Refund, o: &Order) -> wire::Refund {
    wire::Refund {
        refund_id: r.refund_id.clone(),
        out_refund_no: r.out_refund_no.clone(),
        transaction_id: o.transaction_id.clone().unwrap_or_default(),
        out_trade_no: o.out_trade_no.clone(),
        channel: "ORIGINAL",
        user_received_account: RECEIVED_ACCOUNT,
        success_time: r.success_time.map(times::format_rfc3339),
        create_time: times::format_rfc3339(r.created_at),
        status: r.status.as_str(),
        funds_account: r.funds_account.as_str().to_owned(),
        amount: RefundAmount {
            total: o.total_fen,
            refund: r.refund_fen,
            from: vec![],
            payer_total: o.total_fen,
            payer_refund: r.refund_fen,
            settlement_refund: r.refund_fen,
            settlement_total: o.total_fen,
            discount_refund: 0,
            currency: "CNY",
            refund_fee: r.fee_refund_fen,
        },
        promotion_detail: vec![],
    }
}

/// The decrypted resource of a refund notification.
pub fn refund_notice(r: &Refund, o: &Order) -> RefundNotice {
    let partner = o.sp_mchid.is_some();
    RefundNotice {
        mchid: (!partner).then(|| o.mchid.clone()),
        sp_mchid: o.sp_mchid.clone(),
        sub_mchid: partner.then(|| o.mchid.clone()),
        transaction_id: o.transaction_id.clone().unwrap_or_default(),
        out_trade_no: o.out_trade_no.clone(),
        refund_id: r.refund_id.clone(),
        out_refund_no: r.out_refund_no.clone(),
        refund_status: r.status.as_str(),
        success_time: r.success_time.map(times::format_rfc3339),
        user_received_account: RECEIVED_ACCOUNT,
        amount: RefundNoticeAmount {
            total: o.total_fen,
            refund: r.refund_fen,
            payer_total: o.total_fen,
            payer_refund: r.refund_fen,
        },
    }
}

/// A refund as a merchant asks for it, already read from the wire.
#[derive(Debug, Clone)]
pub struct RefundCommand {
    /// Partner mode: the sub-merchant whose order it is.
    pub sub_mchid: Option<String>,
    pub target: RefundTarget,
    pub out_refund_no: String,
    pub reason: Option<String>,
    pub notify_url: Option<String>,
    pub refund_fen: i64,
    pub total_fen: i64,
    /// Digest of the canonical body: the same digest means "the same refund
    /// again".
    pub params_digest: String,
}

/// Why a refund was not made (or found).
#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("no such order")]
    OrderNotFound,
    #[error("the order is not paid")]
    NotPaid,
    #[error("amount.total {stated} is not the order's total {actual}")]
    TotalMismatch { stated: i64, actual: i64 },
    #[error("{0}")]
    Rule(RefundRefusal),
    #[error("the order has had the most refunds allowed")]
    TooMany,
    #[error("the order was paid more than a year ago")]
    TooLate,
    #[error("the merchant's funds do not cover the refund")]
    NotEnough,
    #[error("out_refund_no used before with other parameters")]
    OutRefundNoUsed,
    #[error("no such refund")]
    RefundNotFound,
    #[error("{0}")]
    Refused(authz::Refused),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<authz::Denied> for RefundError {
    fn from(e: authz::Denied) -> Self {
        match e {
            authz::Denied::Refused(r) => RefundError::Refused(r),
            authz::Denied::MchidMismatch(m) => RefundError::Refused(authz::Refused {
                message: format!("请求中的商户号{m}与调用方不一致"),
            }),
            authz::Denied::Internal(e) => RefundError::Internal(e),
        }
    }
}

impl From<koudai_store::StoreError> for RefundError {
    fn from(e: koudai_store::StoreError) -> Self {
        RefundError::Internal(e.into())
    }
}

impl From<koudai_store::RefundError> for RefundError {
    fn from(e: koudai_store::RefundError) -> Self {
        use koudai_store::RefundError as S;
        match e {
            S::OrderNotFound => RefundError::OrderNotFound,
            S::NotPaid => RefundError::NotPaid,
            S::TotalMismatch { stated, actual } => RefundError::TotalMismatch { stated, actual },
            S::Refused(r) => RefundError::Rule(r),
            S::TooMany => RefundError::TooMany,
            S::TooLate => RefundError::TooLate,
            S::NotEnough => RefundError::NotEnough,
            S::Store(e) => RefundError::Internal(e.into()),
        }
    }
}

/// Applies for a refund of one of the caller's orders (or, in partner
/// mode, of an order it placed for `sub_mchid`), or finds the same refund
/// applied for before.
pub async fn create(app: &App, caller: &Merchant, cmd: RefundCommand) -> Result<wire::Refund, RefundError> {
    let scope = authz::authorize(app, caller, None, cmd.sub_mchid.as_deref(), Action::Refund).await?;
    let now = app.clock.business_now();
    let request = RefundRequest {
        mchid: scope.owner.mchid.clone(),
        sp_mchid: scope.sp_mchid(),
        target: cmd.target.clone(),
        out_refund_no: cmd.out_refund_no,
        reason: cmd.reason.filter(|r| !r.is_empty()),
        notify_url: cmd.notify_url.filter(|u| !u.is_empty()),
        refund_fen: cmd.refund_fen,
        total_fen: cmd.total_fen,
        params_digest: cmd.params_digest,
        refund_id: ids::refund_id(now.datetime(), &app.rng.bytes()),
        now: now.unix(),
    };
    let created = match app.store.create_refund(&request).await {
        Err(koudai_store::RefundError::OrderNotFound) => {
            // Someone else's order is logged, and answered like a missing one.
            let key = match cmd.target {
                RefundTarget::OutTradeNo(n) => OrderKey::OutTradeNo(n),
                RefundTarget::TransactionId(t) => OrderKey::TransactionId(t),
            };
            payments::find_order(app, caller, &scope, &key, Action::Refund).await?;
            return Err(RefundError::OrderNotFound);
        }
        other => other?,
    };
    let (refund, order) = match created {
        RefundCreated::Created(r, o) => {
            app.wake.new_work();
            (r, o)
        }
        RefundCreated::Existing(r, o) if r.params_digest == request.params_digest => (r, o),
        RefundCreated::Existing(..) => return Err(RefundError::OutRefundNoUsed),
    };
    Ok(refund_view(&refund, &order))
}

/// A refund by `out_refund_no`: the caller's own, or in partner mode one it
/// asked for on behalf of `sub_mchid`.
pub async fn query(
    app: &App,
    caller: &Merchant,
    sub_mchid: Option<&str>,
    out_refund_no: &str,
) -> Result<wire::Refund, RefundError> {
    let scope = authz::authorize(app, caller, None, sub_mchid, Action::QueryRefund).await?;
    let Some((refund, order)) = app.store.refund_by_out_refund_no(&scope.owner.mchid, out_refund_no).await? else {
        // The number in someone else's books is a probe worth logging; the
        // answer is the same as for a number nobody used.
        if let Some(owner) = app.store.refund_owner_elsewhere(out_refund_no, &scope.owner.mchid).await? {
            authz::hidden(app, caller, Action::QueryRefund, &format!("out_refund_no:{out_refund_no}"), &owner).await?;
        }
        return Err(RefundError::RefundNotFound);
    };
    if order.sp_mchid != scope.sp_mchid() {
        let owner = order.sp_mchid.clone().unwrap_or_else(|| order.mchid.clone());
        authz::hidden(app, caller, Action::QueryRefund, &format!("out_refund_no:{out_refund_no}"), &owner).await?;
        return Err(RefundError::RefundNotFound);
    }
    Ok(refund_view(&refund, &order))
}

/// Moves a refund to `to` and enqueues its notification; `Ok(None)` if
/// its state does not allow that.
pub async fn finish(
    app: &App,
    refund_row_id: i64,
    mchid: &str,
    to: RefundStatus,
) -> Result<Option<(Refund, Order)>, Internal> {
    let now = app.clock.business_now();
    // The notification goes to whoever asked: the merchant, or the provider.
    let sp_mchid = app.store.refund_provider(refund_row_id).await?;
    let recipient = sp_mchid.as_deref().unwrap_or(mchid);
    let merchant = app
        .store
        .merchant(recipient)
        .await?
        .ok_or_else(|| Internal::bug(format!("refund {refund_row_id} has no merchant {recipient}")))?;
    let notify = Box::new(move |r: &Refund, o: &Order| -> Result<NewNotification, String> {
        let (event_type, summary) = r.status.event().ok_or("no event for this state")?;
        let plaintext = serde_json::to_vec(&refund_notice(r, o)).map_err(|e| e.to_string())?;
        let event = Event { event_type, summary, original_type: "refund" };
        outbox::seal(app, &event, &plaintext, &merchant, now, (&r.out_refund_no, &r.notify_url))
    });
    let done = app.store.finish_refund(refund_row_id, to, now.unix(), notify).await?;
    if done.is_some() {
        app.wake.delivery();
    }
    Ok(done)
}

/// Why a sandbox-forced refund outcome was not applied.
#[derive(Debug, thiserror::Error)]
pub enum OutcomeError {
    #[error("no such refund")]
    RefundNotFound,
    #[error("a refund in state {from} cannot become {to}")]
    NotAllowed { from: RefundStatus, to: RefundStatus },
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Ends a refund now with `to` (sandbox): `SUCCESS`, `ABNORMAL` or `CLOSED`.
pub async fn force_outcome(
    app: &App,
    mchid: &str,
    out_refund_no: &str,
    to: RefundStatus,
) -> Result<wire::Refund, OutcomeError> {
    let (refund, _) = app
        .store
        .refund_by_out_refund_no(mchid, out_refund_no)
        .await
        .map_err(Internal::from)?
        .ok_or(OutcomeError::RefundNotFound)?;
    match finish(app, refund.id, mchid, to).await? {
        Some((r, o)) => Ok(refund_view(&r, &o)),
        None => Err(OutcomeError::NotAllowed { from: refund.status, to }),
    }
}

/// Finishes every refund whose processing time has passed: `SUCCESS`.
pub async fn finish_due(app: &App) -> Result<usize, Internal> {
    let due = app.store.due_refunds(app.clock.business_now().unix(), FINISH_BATCH).await?;
    let mut n = 0;
    for (id, mchid) in due {
        if finish(app, id, &mchid, RefundStatus::Success).await?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}
