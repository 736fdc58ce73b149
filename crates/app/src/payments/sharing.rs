//! Profit sharing (§10), direct and partner mode alike: receivers, sharing
//! orders, unfreezing, the unsplit amount, the max ratio, returns, and the
//! job that finishes them on the business clock. In partner mode every call
//! needs the provider's `profit_sharing` privilege.

use std::collections::HashMap;

use serde::Serialize;

use koudai_domain::ids;
use koudai_domain::sharing::{self, ReceiverResult, ReceiverType, RelationType, SharingKind, PROCESSING_S};
use koudai_protocol::times;
use koudai_store::{
    Asked, Merchant, NewNotification, Order, Receiver, ReturnRequest, ShareLine, SharingError, SharingOrder,
    SharingRequest, SharingResult, SharingReturn, SharingView,
};

use crate::access::authz::{self, Action, Denied, Refused, Scope};
use crate::outbox::{self, Event};
use crate::payments::{self, OrderKey};
use crate::{App, Internal};

/// How many due sharing orders and returns one pass of the job finishes.
const FINISH_BATCH: i64 = 64;

/// Which names the share notification goes by: the sources disagree (§10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SharingEventNames {
    /// What merchants report receiving (2020–2023): `TRANSACTION.SUCCESS`,
    /// `original_type` `transaction`. The default: it is what production
    /// sends according to those who run it.
    #[default]
    Observed,
    /// What the documentation says: `PROFITSHARING.SUCCESS`,
    /// `original_type` `profitsharing`.
    Documented,
}

impl std::str::FromStr for SharingEventNames {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "observed" => Ok(SharingEventNames::Observed),
            "documented" => Ok(SharingEventNames::Documented),
            other => Err(format!("unknown sharing event naming {other:?} (observed or documented)")),
        }
    }
}

/// Why a profit-sharing call failed.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("{0}")]
    Refused(Refused),
    #[error("field {field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("{0}")]
    Rule(String),
    #[error("no such order")]
    OrderNotFound,
    #[error("no such sharing order or return")]
    NotFound,
    #[error("the funds do not cover it")]
    NotEnough(String),
    #[error("number used before with other parameters")]
    NumberUsed,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<Denied> for ShareError {
    fn from(e: Denied) -> Self {
        match e {
            Denied::Refused(r) => ShareError::Refused(r),
            Denied::MchidMismatch(m) => {
                ShareError::Refused(Refused { message: format!("请求中的商户号{m}与调用方不一致") })
            }
            Denied::Internal(e) => ShareError::Internal(e),
        }
    }
}

impl From<koudai_store::StoreError> for ShareError {
    fn from(e: koudai_store::StoreError) -> Self {
        ShareError::Internal(e.into())
    }
}

impl From<SharingError> for ShareError {
    fn from(e: SharingError) -> Self {
        match e {
            SharingError::OrderNotFound => ShareError::OrderNotFound,
            SharingError::NotSharingOrder => ShareError::Rule("非分账订单不支持分账".into()),
            SharingError::NotFrozen => ShareError::Rule("订单资金已解冻，不能再分账".into()),
            SharingError::TooMany => ShareError::Rule("该订单分账请求次数已达上限（50次）".into()),
            SharingError::NoRelation(a) => ShareError::Rule(format!("分账接收方{a}未添加，请先添加分账接收方")),
            SharingError::OverRatio { asked, left } => {
                ShareError::Rule(format!("分账金额{asked}分超出最大分账比例，最多还可分{left}分"))
            }
            SharingError::NotEnough { asked, left } => {
                ShareError::NotEnough(format!("订单剩余待分金额{left}分，不足{asked}分"))
            }
            SharingError::SharingOrderNotFound => ShareError::NotFound,
            SharingError::ReturnTooLarge(m) => ShareError::Rule(format!("回退金额超过{m}在该分账单中分得的金额")),
            SharingError::Store(e) => ShareError::Internal(e.into()),
        }
    }
}

/// The receiver entity of add-receiver (`name` omitted: the protocol wants
/// it encrypted with the caller's certificate key, and omitting it is what
/// every SDK accepts).
#[derive(Debug, Serialize)]
pub struct ReceiverView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_mchid: Option<String>,
    #[serde(rename = "type")]
    pub receiver_type: &'static str,
    pub account: String,
    pub relation_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_relation: Option<String>,
}

/// A receiver as asked for; `name` already decrypted.
#[derive(Debug, Clone)]
pub struct ReceiverCommand {
    pub sub_mchid: Option<String>,
    pub appid: String,
    pub sub_appid: Option<String>,
    pub receiver_type: ReceiverType,
    pub account: String,
    pub name: Option<String>,
    pub relation_type: RelationType,
    pub custom_relation: Option<String>,
}

async fn scope(app: &App, caller: &Merchant, sub_mchid: Option<&str>) -> Result<Scope, ShareError> {
    Ok(authz::authorize(app, caller, None, sub_mchid, Action::ProfitSharing).await?)
}

/// The appid a receiver is under must be the caller's (the provider's
/// `sp_appid`, or one bound to the direct merchant); a `sub_appid` the
/// sub-merchant's.
async fn check_apps(
    app: &App,
    caller: &Merchant,
    scope: &Scope,
    appid: &str,
    sub_appid: Option<&str>,
) -> Result<(), ShareError> {
    if !app.store.is_app_bound(appid, &caller.mchid).await? {
        return Err(ShareError::Invalid { field: "appid", message: "appid与商户号不匹配".into() });
    }
    if let Some(sub_appid) = sub_appid {
        if !app.store.is_app_bound(sub_appid, &scope.owner.mchid).await? {
            return Err(ShareError::Invalid {
                field: "sub_appid", message: "sub_appid与子商户号不匹配".into()
            });
        }
    }
    Ok(())
}

/// Adds a receiver (`POST /v3/profitsharing/receivers/add`).
pub async fn add_receiver(app: &App, caller: &Merchant, cmd: ReceiverCommand) -> Result<ReceiverView, ShareError> {
    let scope = scope(app, caller, cmd.sub_mchid.as_deref()).await?;
    check_apps(app, caller, &scope, &cmd.appid, cmd.sub_appid.as_deref()).await?;
    match cmd.receiver_type {
        ReceiverType::MerchantId => {
            let m = app.store.merchant(&cmd.account).await?;
            let Some(m) = m else {
                return Err(ShareError::Rule(format!("分账接收方商户号{}不存在", cmd.account)));
            };
            if m.mchid == scope.owner.mchid {
                return Err(ShareError::Rule("不能添加自己为分账接收方".into()));
            }
            match &cmd.name {
                Some(name) if *name == m.name => {}
                Some(_) => return Err(ShareError::Rule("分账接收方全称与商户号不匹配".into())),
                None => {
                    return Err(ShareError::Invalid {
                        field: "name",
                        message: "接收方类型为MERCHANT_ID时name必填".into(),
                    })
                }
            }
        }
        ReceiverType::PersonalOpenid => {
            if !app.store.openid_belongs_to_app(&cmd.account, &cmd.appid).await? {
                return Err(ShareError::Rule("分账接收方openid与appid不匹配".into()));
            }
        }
        ReceiverType::PersonalSubOpenid => {
            let Some(sub_appid) = &cmd.sub_appid else {
                return Err(ShareError::Invalid {
                    field: "sub_appid",
                    message: "接收方类型为PERSONAL_SUB_OPENID时sub_appid必填".into(),
                });
            };
            if !app.store.openid_belongs_to_app(&cmd.account, sub_appid).await? {
                return Err(ShareError::Rule("分账接收方openid与sub_appid不匹配".into()));
            }
        }
    }
    if cmd.relation_type == RelationType::Custom && cmd.custom_relation.as_deref().is_none_or(str::is_empty) {
        return Err(ShareError::Invalid {
            field: "custom_relation", message: "relation_type为CUSTOM时必填".into()
        });
    }
    let appid = match cmd.receiver_type {
        ReceiverType::PersonalSubOpenid => cmd.sub_appid.clone().unwrap_or_default(),
        _ => cmd.appid.clone(),
    };
    let saved = app
        .store
        .add_receiver(&Receiver {
            mchid: scope.owner.mchid.clone(),
            receiver_type: cmd.receiver_type,
            account: cmd.account,
            appid,
            name: cmd.name,
            relation_type: cmd.relation_type.as_str().to_owned(),
            custom_relation: cmd.custom_relation.filter(|c| !c.is_empty()),
            created_at: app.clock.business_now().unix(),
        })
        .await?;
    Ok(ReceiverView {
        sub_mchid: scope.provider.is_some().then(|| scope.owner.mchid.clone()),
        receiver_type: saved.receiver_type.as_str(),
        account: saved.account,
        relation_type: saved.relation_type,
        custom_relation: saved.custom_relation,
    })
}

#[derive(Debug, Serialize)]
pub struct DeletedReceiver {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_mchid: Option<String>,
    #[serde(rename = "type")]
    pub receiver_type: &'static str,
    pub account: String,
}

/// Deletes a receiver (`POST /v3/profitsharing/receivers/delete`); deleting
/// one that is not there is not an error.
pub async fn delete_receiver(
    app: &App,
    caller: &Merchant,
    sub_mchid: Option<&str>,
    appid: &str,
    receiver_type: ReceiverType,
    account: &str,
) -> Result<DeletedReceiver, ShareError> {
    let scope = scope(app, caller, sub_mchid).await?;
    check_apps(app, caller, &scope, appid, None).await?;
    app.store.delete_receiver(&scope.owner.mchid, receiver_type, account).await?;
    Ok(DeletedReceiver {
        sub_mchid: scope.provider.is_some().then(|| scope.owner.mchid.clone()),
        receiver_type: receiver_type.as_str(),
        account: account.to_owned(),
    })
}

/// One receiver line of a share request.
#[derive(Debug, Clone)]
pub struct ShareCommandLine {
    pub receiver_type: ReceiverType,
    pub account: String,
    pub amount_fen: i64,
    pub description: String,
}

/// A share request (`POST /v3/profitsharing/orders`).
#[derive(Debug, Clone)]
pub struct ShareCommand {
    pub sub_mchid: Option<String>,
    pub appid: String,
    pub sub_appid: Option<String>,
    pub transaction_id: String,
    pub out_order_no: String,
    pub receivers: Vec<ShareCommandLine>,
    pub unfreeze_unsplit: bool,
    pub params_digest: String,
}

/// The order entity of create, query and unfreeze.
#[derive(Debug, Serialize)]
pub struct SharingOrderView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_mchid: Option<String>,
    pub transaction_id: String,
    pub out_order_no: String,
    pub order_id: String,
    pub state: &'static str,
    pub receivers: Vec<ReceiverResultView>,
}

#[derive(Debug, Serialize)]
pub struct ReceiverResultView {
    pub amount: i64,
    pub description: String,
    #[serde(rename = "type")]
    pub receiver_type: &'static str,
    pub account: String,
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
    pub detail_id: String,
    pub create_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
}

pub fn sharing_view(v: &SharingView) -> SharingOrderView {
    SharingOrderView {
        sub_mchid: v.order.sp_mchid.as_ref().map(|_| v.order.mchid.clone()),
        transaction_id: v.payment.transaction_id.clone().unwrap_or_default(),
        out_order_no: v.order.out_order_no.clone(),
        order_id: v.order.order_id.clone(),
        state: v.order.state.as_str(),
        receivers: v.results.iter().map(result_view).collect(),
    }
}

fn result_view(r: &SharingResult) -> ReceiverResultView {
    ReceiverResultView {
        amount: r.amount_fen,
        description: r.description.clone(),
        receiver_type: r.receiver_type.as_str(),
        account: r.account.clone(),
        result: r.result.as_str(),
        fail_reason: r.fail_reason.clone(),
        detail_id: r.detail_id.clone(),
        create_time: times::format_rfc3339(r.created_at),
        finish_time: r.finished_at.map(times::format_rfc3339),
    }
}

/// Finds the payment to share, logging an attempt on someone else's.
async fn payment(app: &App, caller: &Merchant, scope: &Scope, transaction_id: &str) -> Result<Order, ShareError> {
    let key = OrderKey::TransactionId(transaction_id.to_owned());
    payments::find_order(app, caller, scope, &key, Action::ProfitSharing).await?.ok_or(ShareError::OrderNotFound)
}

fn asked(a: Asked<SharingView>, digest: &str) -> Result<SharingOrderView, ShareError> {
    match a {
        Asked::Created(v) => Ok(sharing_view(&v)),
        Asked::Existing(v) if v.order.params_digest == digest => Ok(sharing_view(&v)),
        Asked::Existing(_) => Err(ShareError::NumberUsed),
    }
}

/// Asks for a share: the money leaves the order's frozen funds now, and
/// reaches the receivers when the job finishes the order.
pub async fn create_order(app: &App, caller: &Merchant, cmd: ShareCommand) -> Result<SharingOrderView, ShareError> {
    let scope = scope(app, caller, cmd.sub_mchid.as_deref()).await?;
    check_apps(app, caller, &scope, &cmd.appid, cmd.sub_appid.as_deref()).await?;
    if cmd.receivers.len() > sharing::MAX_RECEIVERS_PER_REQUEST {
        return Err(ShareError::Invalid { field: "receivers", message: "一次最多50个分账接收方".into() });
    }
    payment(app, caller, &scope, &cmd.transaction_id).await?;
    let now = app.clock.business_now();
    let lines = cmd
        .receivers
        .into_iter()
        .map(|l| ShareLine {
            receiver_type: l.receiver_type,
            account: l.account,
            amount_fen: l.amount_fen,
            description: l.description,
            detail_id: ids::sharing_detail_id(now.datetime(), &app.rng.bytes()),
        })
        .collect();
    let request = SharingRequest {
        mchid: scope.owner.mchid.clone(),
        sp_mchid: scope.sp_mchid(),
        transaction_id: cmd.transaction_id,
        out_order_no: cmd.out_order_no,
        kind: SharingKind::Share,
        lines,
        unfreeze_unsplit: cmd.unfreeze_unsplit,
        order_id: ids::sharing_order_id(now.datetime(), &app.rng.bytes()),
        unfreeze_detail_id: String::new(),
        unfreeze_description: String::new(),
        params_digest: cmd.params_digest.clone(),
        now: now.unix(),
        due_at: now.unix() + PROCESSING_S,
    };
    let out = asked(app.store.create_sharing(&request).await?, &cmd.params_digest)?;
    app.wake.new_work();
    Ok(out)
}

/// Unfreezes what is left of an order (`POST /v3/profitsharing/orders/unfreeze`).
pub async fn unfreeze(
    app: &App,
    caller: &Merchant,
    sub_mchid: Option<&str>,
    transaction_id: &str,
    out_order_no: &str,
    description: &str,
    params_digest: &str,
) -> Result<SharingOrderView, ShareError> {
    let scope = scope(app, caller, sub_mchid).await?;
    payment(app, caller, &scope, transaction_id).await?;
    let now = app.clock.business_now();
    let request = SharingRequest {
        mchid: scope.owner.mchid.clone(),
        sp_mchid: scope.sp_mchid(),
        transaction_id: transaction_id.to_owned(),
        out_order_no: out_order_no.to_owned(),
        kind: SharingKind::Unfreeze,
        lines: vec![],
        unfreeze_unsplit: true,
        order_id: ids::sharing_order_id(now.datetime(), &app.rng.bytes()),
        unfreeze_detail_id: ids::sharing_detail_id(now.datetime(), &app.rng.bytes()),
        unfreeze_description: description.to_owned(),
        params_digest: params_digest.to_owned(),
        now: now.unix(),
        due_at: now.unix() + PROCESSING_S,
    };
    let out = asked(app.store.create_sharing(&request).await?, params_digest)?;
    app.wake.new_work();
    Ok(out)
}

/// A sharing order by `out_order_no` (`GET /v3/profitsharing/orders/{no}`).
pub async fn query_order(
    app: &App,
    caller: &Merchant,
    sub_mchid: Option<&str>,
    out_order_no: &str,
    transaction_id: &str,
) -> Result<SharingOrderView, ShareError> {
    let scope = scope(app, caller, sub_mchid).await?;
    let view = app.store.sharing_order(&scope.owner.mchid, out_order_no).await?.ok_or(ShareError::NotFound)?;
    if view.order.sp_mchid != scope.sp_mchid() {
        let owner = view.order.sp_mchid.clone().unwrap_or_else(|| view.order.mchid.clone());
        authz::hidden(app, caller, Action::ProfitSharing, &format!("out_order_no:{out_order_no}"), &owner).await?;
        return Err(ShareError::NotFound);
    }
    if view.payment.transaction_id.as_deref() != Some(transaction_id) {
        return Err(ShareError::NotFound);
    }
    Ok(sharing_view(&view))
}

#[derive(Debug, Serialize)]
pub struct UnsplitAmount {
    pub transaction_id: String,
    pub unsplit_amount: i64,
}

/// What an order still has to share or unfreeze
/// (`GET /v3/profitsharing/transactions/{id}/amounts`). The protocol names
/// no sub-merchant here: a provider sees orders it placed.
pub async fn unsplit_amount(app: &App, caller: &Merchant, transaction_id: &str) -> Result<UnsplitAmount, ShareError> {
    let order = app.store.order_by_transaction_id_anywhere(transaction_id).await?;
    let mine = match &order {
        Some(o) => match &o.sp_mchid {
            Some(sp) => sp == &caller.mchid,
            None => o.mchid == caller.mchid,
        },
        None => false,
    };
    let order = match order {
        Some(o) if mine => o,
        Some(o) => {
            let owner = o.sp_mchid.clone().unwrap_or(o.mchid);
            authz::hidden(app, caller, Action::ProfitSharing, &format!("transaction_id:{transaction_id}"), &owner)
                .await?;
            return Err(ShareError::OrderNotFound);
        }
        None => return Err(ShareError::OrderNotFound),
    };
    let sub = order.sp_mchid.as_ref().map(|_| order.mchid.clone());
    scope(app, caller, sub.as_deref()).await?;
    Ok(UnsplitAmount { transaction_id: transaction_id.to_owned(), unsplit_amount: order.unsplit_fen() })
}

#[derive(Debug, Serialize)]
pub struct MaxRatio {
    pub sub_mchid: String,
    pub max_ratio: i64,
}

/// A sub-merchant's max ratio (`GET /v3/profitsharing/merchant-configs/{sub_mchid}`).
pub async fn max_ratio(app: &App, caller: &Merchant, sub_mchid: &str) -> Result<MaxRatio, ShareError> {
    let scope = scope(app, caller, Some(sub_mchid)).await?;
    Ok(MaxRatio { sub_mchid: scope.owner.mchid, max_ratio: scope.owner.max_ratio })
}

/// A return request (`POST /v3/profitsharing/return-orders`).
#[derive(Debug, Clone)]
pub struct ReturnCommand {
    pub sub_mchid: Option<String>,
    pub order_id: Option<String>,
    pub out_order_no: Option<String>,
    pub out_return_no: String,
    pub return_mchid: String,
    pub amount_fen: i64,
    pub description: String,
    pub params_digest: String,
}

#[derive(Debug, Serialize)]
pub struct ReturnView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_mchid: Option<String>,
    pub order_id: String,
    pub out_order_no: String,
    pub out_return_no: String,
    pub return_id: String,
    pub return_mchid: String,
    pub amount: i64,
    pub description: String,
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
    pub create_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
}

fn return_view(r: &SharingReturn, so: &SharingOrder) -> ReturnView {
    ReturnView {
        sub_mchid: r.sp_mchid.as_ref().map(|_| r.mchid.clone()),
        order_id: so.order_id.clone(),
        out_order_no: so.out_order_no.clone(),
        out_return_no: r.out_return_no.clone(),
        return_id: r.return_id.clone(),
        return_mchid: r.return_mchid.clone(),
        amount: r.amount_fen,
        description: r.description.clone(),
        result: r.result.as_str(),
        fail_reason: r.fail_reason.clone(),
        create_time: times::format_rfc3339(r.created_at),
        finish_time: r.finished_at.map(times::format_rfc3339),
    }
}

/// Asks a receiver to give shared money back: it leaves the receiver's
/// available funds now (or the return fails at once) and reaches the
/// merchant when the job finishes it.
pub async fn create_return(app: &App, caller: &Merchant, cmd: ReturnCommand) -> Result<ReturnView, ShareError> {
    let scope = scope(app, caller, cmd.sub_mchid.as_deref()).await?;
    let now = app.clock.business_now();
    let request = ReturnRequest {
        mchid: scope.owner.mchid.clone(),
        sp_mchid: scope.sp_mchid(),
        out_order_no: cmd.out_order_no,
        order_id: cmd.order_id,
        out_return_no: cmd.out_return_no.clone(),
        return_mchid: cmd.return_mchid,
        amount_fen: cmd.amount_fen,
        description: cmd.description,
        return_id: ids::sharing_return_id(now.datetime(), &app.rng.bytes()),
        params_digest: cmd.params_digest.clone(),
        now: now.unix(),
        due_at: now.unix() + PROCESSING_S,
    };
    let ret = match app.store.create_return(&request).await? {
        Asked::Created(r) => {
            app.wake.new_work();
            r
        }
        Asked::Existing(r) if r.params_digest == cmd.params_digest => r,
        Asked::Existing(_) => return Err(ShareError::NumberUsed),
    };
    let (ret, so) = app.store.sharing_return(&ret.mchid, &ret.out_return_no).await?.ok_or(ShareError::NotFound)?;
    Ok(return_view(&ret, &so))
}

/// A return by `out_return_no` (`GET /v3/profitsharing/return-orders/{no}`).
pub async fn query_return(
    app: &App,
    caller: &Merchant,
    sub_mchid: Option<&str>,
    out_return_no: &str,
    out_order_no: &str,
) -> Result<ReturnView, ShareError> {
    let scope = scope(app, caller, sub_mchid).await?;
    let (ret, so) = app.store.sharing_return(&scope.owner.mchid, out_return_no).await?.ok_or(ShareError::NotFound)?;
    if ret.sp_mchid != scope.sp_mchid() || so.out_order_no != out_order_no {
        return Err(ShareError::NotFound);
    }
    Ok(return_view(&ret, &so))
}

/// The plaintext of the share notification to a `MERCHANT_ID` receiver.
#[derive(Debug, Serialize)]
struct ShareNotice {
    #[serde(skip_serializing_if = "Option::is_none")]
    mchid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sp_mchid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_mchid: Option<String>,
    transaction_id: String,
    order_id: String,
    out_order_no: String,
    receiver: NoticeReceiver,
    success_time: String,
}

#[derive(Debug, Serialize)]
struct NoticeReceiver {
    #[serde(rename = "type")]
    receiver_type: &'static str,
    account: String,
    amount: i64,
    description: String,
}

/// Unfreezes the funds of orders nobody shared or unfroze within 30 days;
/// returns how many.
pub async fn unfreeze_due(app: &App) -> Result<u64, Internal> {
    Ok(app.store.auto_unfreeze(app.clock.business_now().unix()).await?)
}

/// Finishes due sharing orders and returns; returns how many.
pub async fn finish_due(app: &App) -> Result<usize, Internal> {
    let now = app.clock.business_now();
    let mut n = 0;
    for id in app.store.due_sharing_orders(now.unix(), FINISH_BATCH).await? {
        // The merchants that are to hear of their shares, loaded before the
        // transaction so the notifier needs no database.
        let mut receivers: HashMap<String, Merchant> = HashMap::new();
        for r in app.store.sharing_results(id).await? {
            if r.receiver_type == ReceiverType::MerchantId && r.result == ReceiverResult::Pending {
                if let Some(m) = app.store.merchant(&r.account).await?.filter(|m| m.service_notify_url.is_some()) {
                    receivers.insert(m.mchid.clone(), m);
                }
            }
        }
        let (event_type, original_type) = match app.config.sharing_events {
            SharingEventNames::Observed => ("TRANSACTION.SUCCESS", "transaction"),
            SharingEventNames::Documented => ("PROFITSHARING.SUCCESS", "profitsharing"),
        };
        let notify = |so: &SharingOrder, r: &SharingResult, o: &Order| -> Result<Option<NewNotification>, String> {
            let Some(to) = receivers.get(&r.account) else { return Ok(None) };
            let Some(url) = &to.service_notify_url else { return Ok(None) };
            let partner = so.sp_mchid.is_some();
            let notice = ShareNotice {
                mchid: (!partner).then(|| so.mchid.clone()),
                sp_mchid: so.sp_mchid.clone(),
                sub_mchid: partner.then(|| so.mchid.clone()),
                transaction_id: o.transaction_id.clone().unwrap_or_default(),
                order_id: so.order_id.clone(),
                out_order_no: so.out_order_no.clone(),
                receiver: NoticeReceiver {
                    receiver_type: r.receiver_type.as_str(),
                    account: r.account.clone(),
                    amount: r.amount_fen,
                    description: r.description.clone(),
                },
                success_time: times::format_rfc3339(now.unix()),
            };
            let plaintext = serde_json::to_vec(&notice).map_err(|e| e.to_string())?;
            let event = Event { event_type, summary: "分账", original_type };
            outbox::seal(app, &event, &plaintext, to, now, (&r.detail_id, url)).map(Some)
        };
        if app.store.finish_sharing(id, now.unix(), &notify).await? {
            n += 1;
        }
    }
    for id in app.store.due_returns(now.unix(), FINISH_BATCH).await? {
        if app.store.finish_return(id, now.unix()).await? {
            n += 1;
        }
    }
    if n > 0 {
        app.wake.new_work();
    }
    Ok(n)
}
