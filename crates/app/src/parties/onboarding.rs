//! Sub-merchant onboarding (§9): media upload, applications (sensitive
//! fields decrypted with the platform key, validated, sealed at rest with
//! envelope encryption), the automatic checks, the audit decisions, account
//! confirmation and signing, and the jobs that finish or cancel
//! applications on the business clock.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use koudai_domain::applyment::{
    self, next, ApplymentEvent, ApplymentState, AuditClass, Checked, FieldRejection, SENSITIVE_PATHS,
};
use koudai_domain::provider::keys;
use koudai_domain::{ids, FieldError};
use koudai_protocol::{crypto, envelope, multipart};
use koudai_store::{
    ApplymentRecord, ApprovedMerchant, DueColumn, KeyMode, Media, Merchant, MerchantCertificate, NewApplyment,
    NewMerchant, Submitted, Transition,
};

use crate::access::authz::{self, Action, Refused};
use crate::{App, Internal};

/// Which upload endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("field {}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    #[error("{0}")]
    Refused(Refused),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Reads an upload's multipart body: the `meta` part (whose exact bytes
/// the request was signed over) and the file.
pub fn read_upload(content_type: Option<&str>, body: &[u8]) -> Result<(Vec<u8>, multipart::Part), FieldError> {
    let parts = multipart::parse(content_type, body)
        .map_err(|e| FieldError::new("file", format!("请求体不是合法的multipart/form-data：{e}")))?;
    let meta = parts.iter().find(|p| p.name == "meta").ok_or_else(|| FieldError::missing("meta"))?;
    let file = parts.iter().find(|p| p.name == "file").ok_or_else(|| FieldError::missing("file"))?;
    Ok((meta.data.clone(), file.clone()))
}

#[derive(serde::Deserialize)]
struct Meta {
    filename: Option<String>,
    sha256: Option<String>,
}

/// Stores an upload for `caller`; returns its `media_id`. The content type
/// comes from the bytes, never the name.
pub async fn upload(
    app: &App,
    caller: &Merchant,
    kind: MediaKind,
    meta_json: &[u8],
    file: &multipart::Part,
) -> Result<String, MediaError> {
    let invalid = |f: &str, m: &str| MediaError::Invalid(FieldError::new(f, m));
    let meta: Meta = serde_json::from_slice(meta_json).map_err(|_| invalid("meta", "meta 不是合法的JSON"))?;
    let filename = meta
        .filename
        .filter(|f| !f.is_empty())
        .ok_or_else(|| MediaError::Invalid(FieldError::missing("meta.filename")))?;
    if filename.chars().count() > 128 {
        return Err(invalid("meta.filename", "meta.filename 过长"));
    }
    let claimed =
        meta.sha256.filter(|s| !s.is_empty()).ok_or_else(|| MediaError::Invalid(FieldError::missing("meta.sha256")))?;
    let actual = ids::upper_hex(&crypto::sha256(&file.data)).to_ascii_lowercase();
    if !claimed.eq_ignore_ascii_case(&actual) {
        return Err(invalid("meta.sha256", "文件的SHA256与meta.sha256不一致"));
    }
    let limits = &applyment::rules().media;
    let (max, allowed): (usize, &[&str]) = match kind {
        MediaKind::Image => (limits.image_max_bytes, &["image/jpeg", "image/png", "image/bmp"]),
        MediaKind::Video => (
            limits.video_max_bytes,
            &["video/mp4", "video/x-msvideo", "video/x-matroska", "video/x-flv", "video/x-ms-wmv", "video/mpeg"],
        ),
    };
    if file.data.is_empty() {
        return Err(invalid("file", "文件为空"));
    }
    if file.data.len() > max {
        return Err(invalid("file", &format!("文件大小超过{}MB上限", max >> 20)));
    }
    let content_type = multipart::sniff(&file.data)
        .filter(|t| allowed.contains(t))
        .ok_or_else(|| invalid("file", "不支持的文件格式（按文件内容判断）"))?;
    // Content-addressed per owner: the same bytes give the same id, and the
    // id says nothing about the content to anyone else.
    let digest = crypto::sha256(format!("{}\n{actual}\n{}", caller.mchid, app.sandbox_token.expose()).as_bytes());
    let media_id = base64url(&digest);
    let saved = app
        .store
        .save_media(
            &Media {
                media_id,
                owner_mchid: caller.mchid.clone(),
                sha256: actual,
                filename,
                content_type: content_type.to_owned(),
                size_bytes: i64::try_from(file.data.len()).unwrap_or(i64::MAX),
                created_at: app.clock.wall_now().unix(),
            },
            &file.data,
        )
        .await?;
    Ok(saved.media_id)
}

fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Why an application was not accepted (or found).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("field {}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    #[error("the Wechatpay-Serial header is missing")]
    MissingSerial,
    #[error("Wechatpay-Serial names no platform key")]
    UnknownSerial,
    #[error("{0} is not a ciphertext of the platform key")]
    NotCiphertext(String),
    #[error("{path} holds the sensitive word {word}")]
    SensitiveWord { path: String, word: String },
    #[error("an application with this business_code is in progress")]
    InProgress,
    #[error("no such application")]
    NotFound,
    #[error("{0}")]
    Refused(Refused),
    #[error("the application is {0}, which does not allow this")]
    State(ApplymentState),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<koudai_store::StoreError> for ApplyError {
    fn from(e: koudai_store::StoreError) -> Self {
        ApplyError::Internal(e.into())
    }
}

impl From<koudai_store::StoreError> for MediaError {
    fn from(e: koudai_store::StoreError) -> Self {
        MediaError::Internal(e.into())
    }
}

/// The caller must be a provider holding `payment_interface`.
async fn provider_scope(app: &App, caller: &Merchant) -> Result<(), ApplyError> {
    let who = authz::principal(caller);
    if app.store.provider(&caller.mchid).await?.is_none() {
        let message = format!("商户号{}不是服务商，不能提交特约商户进件", caller.mchid);
        return Err(ApplyError::Refused(authz::refuse(app, &who, "applyment", "applyment", message).await?));
    }
    let held = authz::held_privileges(app, &caller.mchid).await?;
    if !held.contains_key(keys::PAYMENT_INTERFACE) {
        let message = format!("服务商未获得权限 {}，不能提交特约商户进件", keys::PAYMENT_INTERFACE);
        return Err(ApplyError::Refused(authz::refuse(app, &who, "applyment", "applyment", message).await?));
    }
    Ok(())
}

/// Every value at any of `paths` (they never nest into one another).
fn visit_all<'a>(v: &'a mut Value, paths: &[&str], out: &mut Vec<(String, &'a mut Value)>) {
    visit_many(v, paths, out, String::new());
}

fn visit_many<'a>(v: &'a mut Value, paths: &[&str], out: &mut Vec<(String, &'a mut Value)>, prefix: String) {
    let Some(obj) = v.as_object_mut() else { return };
    for (name, child) in obj.iter_mut() {
        let here = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        let mut deeper: Vec<&str> = Vec::new();
        let mut each: Vec<&str> = Vec::new();
        let mut leaf = false;
        for p in paths {
            let (head, rest) = match p.split_once('.') {
                Some((h, r)) => (h, Some(r)),
                None => (*p, None),
            };
            match (head.strip_suffix("[]"), rest) {
                (Some(n), Some(r)) if n == name => each.push(r),
                (None, Some(r)) if head == name => deeper.push(r),
                (None, None) if head == name => leaf = true,
                _ => {}
            }
        }
        if leaf {
            out.push((here, child));
            continue;
        }
        if !each.is_empty() {
            if let Some(items) = child.as_array_mut() {
                for (i, item) in items.iter_mut().enumerate() {
                    visit_many(item, &each, out, format!("{here}[{i}]"));
                }
            }
        } else if !deeper.is_empty() {
            visit_many(child, &deeper, out, here);
        }
    }
}

/// Decrypts every sensitive field in place; returns their plaintexts by path.
fn decrypt_sensitive(app: &App, body: &mut Value) -> Result<BTreeMap<String, String>, ApplyError> {
    let mut found = Vec::new();
    visit_all(body, SENSITIVE_PATHS, &mut found);
    let mut plain = BTreeMap::new();
    for (path, value) in found {
        let Some(cipher) = value.as_str() else {
            if value.is_null() {
                continue;
            }
            return Err(ApplyError::NotCiphertext(path));
        };
        if cipher.is_empty() {
            continue;
        }
        let text = app.platform.key.decrypt_field(cipher).map_err(|_| ApplyError::NotCiphertext(path.clone()))?;
        *value = Value::String(text.clone());
        plain.insert(path, text);
    }
    Ok(plain)
}

/// A sensitive value as the audit page shows it before it is revealed.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n if n <= 6 => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
        n => format!(
            "{}{}{}",
            chars[..3].iter().collect::<String>(),
            "*".repeat(n - 7),
            chars[n - 4..].iter().collect::<String>()
        ),
    }
}

fn master(app: &App) -> &[u8; 32] {
    app.config.master_key.expose()
}

/// The answer of submit: `{"applyment_id": <number>}`.
#[derive(Debug, Serialize)]
pub struct SubmitAnswer {
    pub applyment_id: i64,
}

/// Submits (or resubmits after a rejection) an application. `serial` is
/// the request's `Wechatpay-Serial`; `body` the request as JSON.
pub async fn submit(
    app: &App,
    caller: &Merchant,
    serial: Option<&str>,
    mut body: Value,
) -> Result<SubmitAnswer, ApplyError> {
    provider_scope(app, caller).await?;
    let serial = serial.ok_or(ApplyError::MissingSerial)?;
    if !app.platform.names_this_key(serial) {
        return Err(ApplyError::UnknownSerial);
    }
    let plain = decrypt_sensitive(app, &mut body)?;
    let application: applyment::Application = serde_path_to_error::deserialize(&body).map_err(|e| {
        let path = e.path().to_string();
        ApplyError::Invalid(FieldError::new(&path, format!("字段{path}类型错误")))
    })?;
    let now = app.clock.business_now();
    let schedule = app.store.fee_schedule_at(now.unix()).await?;
    let ids_in_force: Vec<String> = schedule.iter().flat_map(|s| s.rules.iter().map(|r| r.id.clone())).collect();
    let checked = applyment::validate(&application, &ids_in_force).map_err(ApplyError::Invalid)?;
    for (path, text) in [
        ("subject_info.business_license_info.merchant_name", &checked.merchant_name),
        ("business_info.merchant_shortname", &checked.merchant_shortname),
    ] {
        if let Some(word) = applyment::sensitive_word(text) {
            return Err(ApplyError::SensitiveWord { path: path.into(), word: word.into() });
        }
    }
    for (path, id) in &checked.media {
        let owned = app.store.media(id).await?.is_some_and(|m| m.owner_mchid == caller.mchid);
        if !owned {
            return Err(ApplyError::Invalid(FieldError::new(path, format!("{path} 媒体文件不存在或不属于本服务商"))));
        }
    }

    // What is kept: the application with its sensitive values masked, and
    // those values sealed.
    let mut public = body.clone();
    let mut found = Vec::new();
    visit_all(&mut public, SENSITIVE_PATHS, &mut found);
    for (_, v) in found {
        if let Some(s) = v.as_str() {
            *v = Value::String(mask(s));
        }
    }
    let digest = ids::upper_hex(&crypto::sha256(body.to_string().as_bytes()));
    let existing = app.store.applyment_by_code(&caller.mchid, &checked.business_code).await?;
    let applyment_id = match &existing {
        Some(e) => e.applyment_id,
        None => 2_000_002_000_000_000 + i64::from(u32::from_be_bytes(app.rng.bytes())) % 1_000_000_000,
    };
    let sealed = envelope::seal(
        master(app),
        &format!("applyment:{applyment_id}"),
        serde_json::to_string(&plain).map_err(|e| Internal::bug(e.to_string()))?.as_bytes(),
    )
    .map_err(|e| Internal::bug(format!("sealing an application: {e}")))?;
    let class = if authz::held_privileges(app, &caller.mchid).await?.contains_key(keys::FAST_TRACK_AUDIT) {
        AuditClass::FastTrack
    } else {
        AuditClass::Normal
    };
    let record = NewApplyment {
        applyment_id,
        sp_mchid: caller.mchid.clone(),
        business_code: checked.business_code.clone(),
        audit_class: class.as_str().to_owned(),
        merchant_name: checked.merchant_name.clone(),
        merchant_shortname: checked.merchant_shortname.clone(),
        subject_type: checked.subject_type.clone(),
        license_number: checked.license_number.clone(),
        settlement_id: checked.settlement_id.clone(),
        qualification_type: checked.qualification_type.clone(),
        account_digest: envelope::keyed_digest(master(app), checked.account_number.as_bytes()),
        phone_digest: envelope::keyed_digest(master(app), checked.mobile_phone.as_bytes()),
        public_json: public.to_string(),
        sealed: serde_json::to_string(&sealed).map_err(|e| Internal::bug(e.to_string()))?,
        params_digest: digest.clone(),
        submitted_at: now.unix(),
        deadline_at: class.deadline(now.unix()),
    };
    let saved = match app.store.submit_applyment(&record, &authz::principal(caller)).await? {
        Submitted::Existing(e) if e.params_digest == digest => {
            return Ok(SubmitAnswer { applyment_id: e.applyment_id })
        }
        Submitted::Existing(_) => return Err(ApplyError::InProgress),
        Submitted::Created(r) | Submitted::Resubmitted(r) => r,
    };
    automatic_checks(app, &saved, &checked).await?;
    Ok(SubmitAnswer { applyment_id: saved.applyment_id })
}

/// What a machine can decide at once: a licence number or bank account
/// already in another live application, an identity document expired.
/// Failing ones are rejected now, by `auto`, with the fields named.
async fn automatic_checks(app: &App, a: &ApplymentRecord, checked: &Checked) -> Result<(), ApplyError> {
    let mut faults = Vec::new();
    for other in app.store.applyment_duplicates(&a.license_number, &a.account_digest, Some(a.id)).await? {
        if other.license_number == a.license_number {
            faults.push(FieldRejection::new("license_number", "该营业执照/登记证书已用于其他进行中的申请单"));
        }
        if other.account_digest == a.account_digest {
            faults.push(FieldRejection::new("account_number", "该结算银行账户已用于其他进行中的申请单"));
        }
    }
    let today = koudai_domain::fees::business_date(app.clock.business_now().unix());
    if checked.identity_valid_until.is_some_and(|end| end < today) {
        faults.push(FieldRejection::new("card_period_end", "证件已过有效期"));
    }
    faults.dedup();
    if faults.is_empty() {
        return Ok(());
    }
    let detail = serde_json::to_string(&faults).map_err(|e| Internal::bug(e.to_string()))?;
    let t = Transition {
        from: ApplymentState::Auditing,
        to: ApplymentState::Rejected,
        actor: "auto",
        reason: &faults.iter().map(|f| format!("{}: {}", f.field, f.reject_reason)).collect::<Vec<_>>().join("; "),
        now: app.clock.business_now().unix(),
    };
    app.store.reject_applyment(a.id, &detail, &t).await?;
    Ok(())
}

/// The query answer (§9.3).
#[derive(Debug, Serialize)]
pub struct ApplymentView {
    pub business_code: String,
    pub applyment_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_mchid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_url: Option<String>,
    pub applyment_state: &'static str,
    pub applyment_state_msg: &'static str,
    pub audit_detail: Vec<FieldRejection>,
}

pub fn sign_url(app: &App, a: &ApplymentRecord) -> Option<String> {
    a.sign_token
        .as_ref()
        .map(|t| format!("{}/sign/applyment?applymentId={}&sign={t}", app.config.base_url, a.applyment_id))
}

pub fn view(app: &App, a: &ApplymentRecord) -> ApplymentView {
    ApplymentView {
        business_code: a.business_code.clone(),
        applyment_id: a.applyment_id,
        sub_mchid: a.sub_mchid.clone().filter(|_| a.state.shows_sub_mchid()),
        sign_url: sign_url(app, a).filter(|_| a.state.shows_sign_url()),
        applyment_state: a.state.as_str(),
        applyment_state_msg: a.state.message(),
        audit_detail: audit_detail(a),
    }
}

/// The fields a rejection named.
pub fn audit_detail(a: &ApplymentRecord) -> Vec<FieldRejection> {
    match (&a.audit_detail, a.state) {
        (Some(d), ApplymentState::Rejected) => serde_json::from_str(d).unwrap_or_default(),
        _ => vec![],
    }
}

/// How a query names an application.
#[derive(Debug, Clone)]
pub enum ApplymentKey {
    BusinessCode(String),
    ApplymentId(i64),
}

/// An application of the caller's; someone else's is "not found" (logged).
pub async fn query(app: &App, caller: &Merchant, key: &ApplymentKey) -> Result<ApplymentView, ApplyError> {
    let found = match key {
        ApplymentKey::BusinessCode(code) => app.store.applyment_by_code(&caller.mchid, code).await?,
        ApplymentKey::ApplymentId(id) => app.store.applyment_by_id(*id).await?,
    };
    match found {
        Some(a) if a.sp_mchid == caller.mchid => Ok(view(app, &a)),
        Some(a) => {
            authz::hidden(app, caller, Action::QueryOrder, &format!("applyment_id:{}", a.applyment_id), &a.sp_mchid)
                .await?;
            Err(ApplyError::NotFound)
        }
        None => Err(ApplyError::NotFound),
    }
}

/// The operator's decision.
#[derive(Debug, Clone)]
pub enum Decision {
    Approve,
    Reject(Vec<FieldRejection>),
}

/// Decides an application in the queue (operator console, sandbox).
pub async fn decide(
    app: &App,
    applyment_id: i64,
    decision: Decision,
    actor: &str,
) -> Result<ApplymentRecord, ApplyError> {
    let a = app.store.applyment_by_id(applyment_id).await?.ok_or(ApplyError::NotFound)?;
    let now = app.clock.business_now();
    match decision {
        Decision::Reject(fields) => {
            if fields.is_empty() || fields.iter().any(|f| f.reject_reason.trim().is_empty()) {
                return Err(ApplyError::Invalid(FieldError::new("fields", "驳回须指明字段和原因")));
            }
            let to = next(a.state, ApplymentEvent::Reject).map_err(|e| ApplyError::State(e.from))?;
            let detail = serde_json::to_string(&fields).map_err(|e| Internal::bug(e.to_string()))?;
            let reason =
                fields.iter().map(|f| format!("{}: {}", f.field, f.reject_reason)).collect::<Vec<_>>().join("; ");
            let t = Transition { from: a.state, to, actor, reason: &reason, now: now.unix() };
            if !app.store.reject_applyment(a.id, &detail, &t).await? {
                return Err(ApplyError::State(a.state));
            }
        }
        Decision::Approve => {
            let to = next(a.state, ApplymentEvent::Approve).map_err(|e| ApplyError::State(e.from))?;
            let approved = new_sub_merchant(app, &a).await?;
            let code = format!("{:06}", u32::from_be_bytes(app.rng.bytes()) % 1_000_000);
            let sealed_code = envelope::seal(master(app), &format!("sign-code:{applyment_id}"), code.as_bytes())
                .map_err(|e| Internal::bug(format!("sealing a code: {e}")))?;
            let token = app.rng.token(32);
            let t = Transition { from: a.state, to, actor, reason: "approved", now: now.unix() };
            let sealed_code = serde_json::to_string(&sealed_code).map_err(|e| Internal::bug(e.to_string()))?;
            if !app.store.approve_applyment(a.id, &approved, &token, &sealed_code, &t).await? {
                return Err(ApplyError::State(a.state));
            }
            if app.mode() == crate::Mode::Sandbox {
                tracing::info!(applyment_id, sign.code = %code, "sandbox: the contact's one-time signing code");
            }
        }
    }
    app.store.applyment_by_id(applyment_id).await?.ok_or(ApplyError::NotFound)
}

/// The sub-merchant an approval creates: keys like every merchant, its name
/// the licence's, its fee rule the `settlement_id`, payouts to a masked
/// reference of its bank account.
async fn new_sub_merchant(app: &App, a: &ApplymentRecord) -> Result<ApprovedMerchant, ApplyError> {
    let mchid = ids::mchid(&app.rng.bytes());
    let now = app.clock.wall_now();
    let key = koudai_protocol::PrivateKey::generate().map_err(|e| Internal::bug(format!("merchant key: {e}")))?;
    let cert = app
        .platform
        .issue_merchant_certificate(&app.rng, &mchid, &a.merchant_name, &key.public_key(), now)
        .map_err(|e| Internal::bug(format!("merchant certificate: {e}")))?;
    let public_key_pem = cert.public_key.to_pem().map_err(|e| Internal::bug(format!("merchant public key: {e}")))?;
    let plain = sensitive_values(app, a)?;
    let account = plain.get("bank_account_info.account_number").cloned().unwrap_or_default();
    let tail: String = account.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    let public: Value = serde_json::from_str(&a.public_json).unwrap_or_default();
    let bank = public["bank_account_info"]["account_bank"].as_str().unwrap_or("银行").to_owned();
    Ok(ApprovedMerchant {
        merchant: NewMerchant {
            mchid: mchid.clone(),
            name: a.merchant_name.clone(),
            key_mode: KeyMode::PublicKey,
            apiv3_key: koudai_domain::Secret::new(ids::apiv3_key(&app.rng.bytes())),
            certificate: MerchantCertificate {
                serial_no: cert.serial_hex,
                certificate_pem: cert.pem,
                public_key_pem,
                not_after: cert.not_after_s,
            },
            created_at: now.unix(),
        },
        fee_rule: a.settlement_id.clone(),
        bank_account: format!("{bank} ****{tail}"),
    })
}

/// The sealed sensitive values of an application, by path.
pub fn sensitive_values(app: &App, a: &ApplymentRecord) -> Result<BTreeMap<String, String>, Internal> {
    let sealed: envelope::Sealed = serde_json::from_str(&a.sealed)
        .map_err(|e| Internal::bug(format!("sealed application {}: {e}", a.applyment_id)))?;
    let bytes = envelope::open(master(app), &format!("applyment:{}", a.applyment_id), &sealed)
        .map_err(|_| Internal::bug(format!("application {} does not open with this master key", a.applyment_id)))?;
    serde_json::from_slice(&bytes).map_err(|e| Internal::bug(format!("sealed application {}: {e}", a.applyment_id)))
}

/// Reveals one sensitive value to `actor`, logging it.
pub async fn reveal(app: &App, a: &ApplymentRecord, path: &str, actor: &str) -> Result<Option<String>, Internal> {
    let values = sensitive_values(app, a)?;
    let Some(v) = values.get(path) else { return Ok(None) };
    app.store.record_reveal(a.id, actor, path, app.clock.business_now().unix()).await?;
    Ok(Some(v.clone()))
}

/// The one-time code the contact signs with (sandbox API and log).
pub fn sign_code(app: &App, a: &ApplymentRecord) -> Result<Option<String>, Internal> {
    let Some(sealed) = &a.sign_code else { return Ok(None) };
    let sealed: envelope::Sealed = serde_json::from_str(sealed).map_err(|e| Internal::bug(e.to_string()))?;
    let code = envelope::open(master(app), &format!("sign-code:{}", a.applyment_id), &sealed)
        .map_err(|_| Internal::bug("a signing code does not open"))?;
    Ok(Some(String::from_utf8_lossy(&code).into_owned()))
}

/// Whether `phone` and `code` are the contact's (constant-time compares).
pub fn contact_matches(app: &App, a: &ApplymentRecord, phone: &str, code: &str) -> Result<bool, Internal> {
    use subtle::ConstantTimeEq as _;
    let phone_ok =
        envelope::keyed_digest(master(app), phone.trim().as_bytes()).as_bytes().ct_eq(a.phone_digest.as_bytes());
    let expected = sign_code(app, a)?.unwrap_or_default();
    let code_ok = !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(code.trim().as_bytes()));
    Ok(bool::from(phone_ok) && code_ok)
}

/// The contact confirms the account (if not yet) and signs: the
/// application goes to `SIGNING`, and to `FINISHED` after the configured
/// delay on the business clock.
pub async fn sign(app: &App, applyment_id: i64, actor: &str) -> Result<ApplymentRecord, ApplyError> {
    let mut a = app.store.applyment_by_id(applyment_id).await?.ok_or(ApplyError::NotFound)?;
    let now = app.clock.business_now().unix();
    if a.state == ApplymentState::ToBeConfirmed {
        let to = next(a.state, ApplymentEvent::Confirm).map_err(|e| ApplyError::State(e.from))?;
        let t = Transition { from: a.state, to, actor, reason: "account confirmed", now };
        if !app.store.move_applyment(a.id, &t, None).await? {
            return Err(ApplyError::State(a.state));
        }
        a.state = to;
    }
    let to = next(a.state, ApplymentEvent::Sign).map_err(|e| ApplyError::State(e.from))?;
    let t = Transition { from: a.state, to, actor, reason: "signed", now };
    let finish_at = now + applyment::rules().signing_delay_s;
    if !app.store.move_applyment(a.id, &t, Some(finish_at)).await? {
        return Err(ApplyError::State(a.state));
    }
    app.store.applyment_by_id(applyment_id).await?.ok_or(ApplyError::NotFound)
}

/// Finishes applications whose signing delay has passed, and cancels those
/// unsigned for too long; returns how many moved.
pub async fn advance_due(app: &App) -> Result<usize, Internal> {
    let now = app.clock.business_now().unix();
    let mut n = 0;
    for a in app.store.applyments_due(ApplymentState::Signing, DueColumn::FinishAt, now).await? {
        let t = Transition {
            from: a.state,
            to: ApplymentState::Finished,
            actor: "system",
            reason: "permissions opened",
            now,
        };
        n += usize::from(app.store.move_applyment(a.id, &t, None).await?);
    }
    let cutoff = now - applyment::rules().cancel_unsigned_after_days * 86_400;
    for state in [ApplymentState::ToBeConfirmed, ApplymentState::ToBeSigned] {
        for a in app.store.applyments_due(state, DueColumn::DecidedAt, cutoff).await? {
            let t = Transition {
                from: a.state,
                to: ApplymentState::Canceled,
                actor: "system",
                reason: "unsigned for 30 days",
                now,
            };
            n += usize::from(app.store.move_applyment(a.id, &t, None).await?);
        }
    }
    Ok(n)
}

/// One row of the audit-time report.
#[derive(Debug, Clone, PartialEq)]
pub struct TimingRow {
    /// `official`, `third_party`, `fast_track` or `normal`.
    pub group: String,
    pub applications: usize,
    pub decided: usize,
    /// Submit → decision, seconds.
    pub decision_p50: Option<i64>,
    pub decision_p90: Option<i64>,
    pub finished: usize,
    /// Submit → finished, seconds.
    pub finish_p50: Option<i64>,
    pub finish_p90: Option<i64>,
}

fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1) - 1;
    sorted.get(rank.min(sorted.len() - 1)).copied()
}

/// Audit times over the last 30 business days, by provider kind and by
/// audit class (p50/p90, nearest rank).
pub async fn audit_report(app: &App) -> Result<Vec<TimingRow>, Internal> {
    let now = app.clock.business_now().unix();
    let since = now - 30 * 86_400 - 12 * 86_400; // 30 business days ≈ 42 calendar days
    let timings = app.store.audit_timings(since).await?;
    let mut rows = Vec::new();
    for group in ["official", "third_party", "fast_track", "normal"] {
        let members: Vec<_> = timings.iter().filter(|t| t.provider_kind == group || t.audit_class == group).collect();
        let mut decided: Vec<i64> = members.iter().filter_map(|t| t.decided_at.map(|d| d - t.submitted_at)).collect();
        let mut finished: Vec<i64> = members.iter().filter_map(|t| t.finished_at.map(|d| d - t.submitted_at)).collect();
        decided.sort_unstable();
        finished.sort_unstable();
        rows.push(TimingRow {
            group: group.to_owned(),
            applications: members.len(),
            decided: decided.len(),
            decision_p50: percentile(&decided, 50),
            decision_p90: percentile(&decided, 90),
            finished: finished.len(),
            finish_p50: percentile(&finished, 50),
            finish_p90: percentile(&finished, 90),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask("张三"), "张*");
        assert_eq!(mask("13800138000"), "138****8000");
        assert_eq!(mask("11010519491231002X"), "110***********002X");
        assert_eq!(mask("abc"), "a*c");
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[5], 90), Some(5));
        assert_eq!(percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50), Some(5));
        assert_eq!(percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), Some(9));
    }

    #[test]
    fn base64url_has_no_padding_or_slashes() {
        let s = base64url(&[0xFB; 32]);
        assert!(!s.contains('/') && !s.contains('+') && !s.contains('='));
        assert_eq!(s.len(), 43);
    }
}
