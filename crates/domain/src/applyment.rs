//! Sub-merchant applications (特约商户进件, protocol notes §9): the request
//! as typed structures, every field's validation (each failure names the
//! field's dotted path), the automatic checks, the state machine, and the
//! onboarding rules as data (`data/onboarding.json`): deadlines, the signing
//! delay, the sensitive-word list, the banks, and which settlement rule each
//! subject type may choose with which qualification types.

use serde::{Deserialize, Serialize};

use crate::order::FieldError;

crate::text_enum! {
    /// Where an application is (§9.3; `EDITTING` is WeChat's spelling).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ApplymentState: "applyment state" {
        Editing = "APPLYMENT_STATE_EDITTING",
        Auditing = "APPLYMENT_STATE_AUDITING",
        Rejected = "APPLYMENT_STATE_REJECTED",
        ToBeConfirmed = "APPLYMENT_STATE_TO_BE_CONFIRMED",
        ToBeSigned = "APPLYMENT_STATE_TO_BE_SIGNED",
        Signing = "APPLYMENT_STATE_SIGNING",
        Finished = "APPLYMENT_STATE_FINISHED",
        Canceled = "APPLYMENT_STATE_CANCELED",
    }
}

impl ApplymentState {
    /// `applyment_state_msg`.
    pub fn message(self) -> &'static str {
        match self {
            ApplymentState::Editing => "编辑中",
            ApplymentState::Auditing => "审核中",
            ApplymentState::Rejected => "已驳回",
            ApplymentState::ToBeConfirmed => "待账户验证",
            ApplymentState::ToBeSigned => "待签约",
            ApplymentState::Signing => "开通权限中",
            ApplymentState::Finished => "已完成",
            ApplymentState::Canceled => "已作废",
        }
    }

    /// Whether the query shows the `sub_mchid`.
    pub fn shows_sub_mchid(self) -> bool {
        matches!(self, ApplymentState::ToBeSigned | ApplymentState::Signing | ApplymentState::Finished)
    }

    /// Whether the query shows the `sign_url`.
    pub fn shows_sign_url(self) -> bool {
        matches!(self, ApplymentState::ToBeConfirmed | ApplymentState::ToBeSigned)
    }

    /// Whether it still holds its licence number and bank account (for the
    /// duplicate check).
    pub fn is_live(self) -> bool {
        !matches!(self, ApplymentState::Rejected | ApplymentState::Canceled)
    }
}

/// What happens to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplymentEvent {
    /// Submitted, or resubmitted after a rejection.
    Submit,
    /// The automatic checks or the operator found fields at fault.
    Reject,
    /// The operator approved: the sub-merchant exists, its account is to be verified.
    Approve,
    /// The contact confirmed the amount sent to the bank account.
    Confirm,
    /// The contact signed the agreement.
    Sign,
    /// Permissions are open: done.
    Finish,
    /// Unsigned for too long.
    Cancel,
}

/// A transition the state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an application in state {from} cannot take {event:?}")]
pub struct NotAllowed {
    pub from: ApplymentState,
    pub event: ApplymentEvent,
}

/// The state machine: the only way an application's state changes.
pub fn next(from: ApplymentState, event: ApplymentEvent) -> Result<ApplymentState, NotAllowed> {
    use ApplymentEvent as E;
    use ApplymentState as S;
    match (from, event) {
        (S::Editing | S::Rejected, E::Submit) => Ok(S::Auditing),
        (S::Auditing, E::Reject) => Ok(S::Rejected),
        (S::Auditing, E::Approve) => Ok(S::ToBeConfirmed),
        (S::ToBeConfirmed, E::Confirm) => Ok(S::ToBeSigned),
        (S::ToBeSigned, E::Sign) => Ok(S::Signing),
        (S::Signing, E::Finish) => Ok(S::Finished),
        (S::ToBeConfirmed | S::ToBeSigned, E::Cancel) => Ok(S::Canceled),
        _ => Err(NotAllowed { from, event }),
    }
}

// ---------------------------------------------------------------------------
// Rules as data

#[derive(Debug, Clone, Deserialize)]
pub struct Deadlines {
    pub fast_track_s: i64,
    pub normal_business_days: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MediaLimits {
    pub image_max_bytes: usize,
    pub video_max_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SettlementChoice {
    pub id: String,
    pub subjects: Vec<String>,
    pub qualifications: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OnboardingRules {
    pub deadlines: Deadlines,
    pub signing_delay_s: i64,
    pub cancel_unsigned_after_days: i64,
    pub media: MediaLimits,
    pub sensitive_words: Vec<String>,
    pub banks: Vec<String>,
    pub settlement: Vec<SettlementChoice>,
}

/// The rules shipped with Koudai.
pub fn rules() -> &'static OnboardingRules {
    static RULES: std::sync::OnceLock<OnboardingRules> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        // Compiled in and read by a unit test, so a broken file fails the
        // tests, not a request; the fallback is never reached in a build
        // whose tests passed.
        serde_json::from_str(include_str!("../data/onboarding.json")).unwrap_or(OnboardingRules {
            deadlines: Deadlines { fast_track_s: 4 * 3600, normal_business_days: 3 },
            signing_delay_s: 1800,
            cancel_unsigned_after_days: 30,
            media: MediaLimits { image_max_bytes: 5 << 20, video_max_bytes: 5 << 20 },
            sensitive_words: vec![],
            banks: vec![],
            settlement: vec![],
        })
    })
}

/// The audit class of an application, and its deadline (business time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditClass {
    FastTrack,
    Normal,
}

impl AuditClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditClass::FastTrack => "fast_track",
            AuditClass::Normal => "normal",
        }
    }

    pub fn parse(s: &str) -> Option<AuditClass> {
        match s {
            "fast_track" => Some(AuditClass::FastTrack),
            "normal" => Some(AuditClass::Normal),
            _ => None,
        }
    }

    /// The deadline of an application submitted at `submitted`: hours for
    /// the fast track, business days (Monday to Friday, China time) otherwise.
    pub fn deadline(self, submitted: i64) -> i64 {
        let d = &rules().deadlines;
        match self {
            AuditClass::FastTrack => submitted + d.fast_track_s,
            AuditClass::Normal => add_business_days(submitted, d.normal_business_days),
        }
    }
}

/// `t` plus `days` business days (weekends skipped), China time.
pub fn add_business_days(t: i64, days: i64) -> i64 {
    const DAY: i64 = 86_400;
    let mut at = t;
    let mut left = days;
    while left > 0 {
        at += DAY;
        // 1970-01-01 was a Thursday; +8 h for China.
        let weekday = ((at + 8 * 3600).div_euclid(DAY) + 3).rem_euclid(7); // 0 = Monday
        if weekday < 5 {
            left -= 1;
        }
    }
    at
}

// ---------------------------------------------------------------------------
// The request

/// The sensitive fields (🔐, §9.2): encrypted by the client, decrypted by
/// the server, sealed at rest. Paths with `[]` apply to every element.
pub const SENSITIVE_PATHS: &[&str] = &[
    "contact_info.contact_name",
    "contact_info.contact_id_number",
    "contact_info.openid",
    "contact_info.mobile_phone",
    "contact_info.contact_email",
    "subject_info.identity_info.id_card_info.id_card_name",
    "subject_info.identity_info.id_card_info.id_card_number",
    "subject_info.identity_info.id_card_info.id_card_address",
    "subject_info.identity_info.id_doc_info.id_doc_name",
    "subject_info.identity_info.id_doc_info.id_doc_number",
    "subject_info.identity_info.id_doc_info.id_doc_address",
    "subject_info.ubo_info_list[].ubo_id_doc_name",
    "subject_info.ubo_info_list[].ubo_id_doc_number",
    "subject_info.ubo_info_list[].ubo_id_doc_address",
    "bank_account_info.account_name",
    "bank_account_info.account_number",
];

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Application {
    pub business_code: Option<String>,
    pub contact_info: Option<ContactInfo>,
    pub subject_info: Option<SubjectInfo>,
    pub business_info: Option<BusinessInfo>,
    pub settlement_info: Option<SettlementInfo>,
    pub bank_account_info: Option<BankAccountInfo>,
    pub addition_info: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ContactInfo {
    pub contact_type: Option<String>,
    pub contact_name: Option<String>,
    pub contact_id_doc_type: Option<String>,
    pub contact_id_number: Option<String>,
    pub contact_id_doc_copy: Option<String>,
    pub contact_id_doc_copy_back: Option<String>,
    pub contact_period_begin: Option<String>,
    pub contact_period_end: Option<String>,
    pub business_authorization_letter: Option<String>,
    pub openid: Option<String>,
    pub mobile_phone: Option<String>,
    pub contact_email: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SubjectInfo {
    pub subject_type: Option<String>,
    pub finance_institution: Option<bool>,
    pub business_license_info: Option<BusinessLicenseInfo>,
    pub certificate_info: Option<CertificateInfo>,
    pub certificate_letter_copy: Option<String>,
    pub identity_info: Option<IdentityInfo>,
    pub ubo_info_list: Option<Vec<UboInfo>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct BusinessLicenseInfo {
    pub license_copy: Option<String>,
    pub license_number: Option<String>,
    pub merchant_name: Option<String>,
    pub legal_person: Option<String>,
    pub license_address: Option<String>,
    pub period_begin: Option<String>,
    pub period_end: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CertificateInfo {
    pub cert_copy: Option<String>,
    pub cert_type: Option<String>,
    pub cert_number: Option<String>,
    pub merchant_name: Option<String>,
    pub company_address: Option<String>,
    pub legal_person: Option<String>,
    pub period_begin: Option<String>,
    pub period_end: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct IdentityInfo {
    pub id_holder_type: Option<String>,
    pub id_doc_type: Option<String>,
    pub authorize_letter_copy: Option<String>,
    pub id_card_info: Option<IdCardInfo>,
    pub id_doc_info: Option<IdDocInfo>,
    pub owner: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct IdCardInfo {
    pub id_card_copy: Option<String>,
    pub id_card_national: Option<String>,
    pub id_card_name: Option<String>,
    pub id_card_number: Option<String>,
    pub id_card_address: Option<String>,
    pub card_period_begin: Option<String>,
    pub card_period_end: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct IdDocInfo {
    pub id_doc_copy: Option<String>,
    pub id_doc_copy_back: Option<String>,
    pub id_doc_name: Option<String>,
    pub id_doc_number: Option<String>,
    pub id_doc_address: Option<String>,
    pub doc_period_begin: Option<String>,
    pub doc_period_end: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct UboInfo {
    pub ubo_id_doc_type: Option<String>,
    pub ubo_id_doc_copy: Option<String>,
    pub ubo_id_doc_copy_back: Option<String>,
    pub ubo_id_doc_name: Option<String>,
    pub ubo_id_doc_number: Option<String>,
    pub ubo_id_doc_address: Option<String>,
    pub ubo_period_begin: Option<String>,
    pub ubo_period_end: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct BusinessInfo {
    pub merchant_shortname: Option<String>,
    pub service_phone: Option<String>,
    pub sales_info: Option<SalesInfo>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SalesInfo {
    pub sales_scenes_type: Option<Vec<String>>,
    #[serde(flatten)]
    pub scenes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SettlementInfo {
    pub settlement_id: Option<String>,
    pub qualification_type: Option<String>,
    pub qualifications: Option<Vec<String>>,
    pub activities_id: Option<String>,
    pub activities_rate: Option<String>,
    pub debit_activities_rate: Option<String>,
    pub credit_activities_rate: Option<String>,
    pub activities_additions: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct BankAccountInfo {
    pub bank_account_type: Option<String>,
    pub account_name: Option<String>,
    pub account_bank: Option<String>,
    pub bank_address_code: Option<String>,
    pub bank_branch_id: Option<String>,
    pub bank_name: Option<String>,
    pub account_number: Option<String>,
}

/// A validated application: what the rest of the platform needs from it
/// without digging into the structure again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub business_code: String,
    pub subject_type: String,
    pub merchant_name: String,
    pub merchant_shortname: String,
    /// Business licence or certificate number.
    pub license_number: String,
    pub settlement_id: String,
    pub qualification_type: String,
    pub contact_name: String,
    pub mobile_phone: String,
    pub account_number: String,
    /// Every media id the application names, with its path.
    pub media: Vec<(String, String)>,
    /// The earliest end of validity of an identity document (`None`: 长期).
    pub identity_valid_until: Option<time::Date>,
}

const SUBJECT_TYPES: &[&str] = &[
    "SUBJECT_TYPE_INDIVIDUAL",
    "SUBJECT_TYPE_ENTERPRISE",
    "SUBJECT_TYPE_GOVERNMENT",
    "SUBJECT_TYPE_INSTITUTIONS",
    "SUBJECT_TYPE_OTHERS",
];
const ID_DOC_TYPES: &[&str] = &[
    "IDENTIFICATION_TYPE_IDCARD",
    "IDENTIFICATION_TYPE_OVERSEA_PASSPORT",
    "IDENTIFICATION_TYPE_HONGKONG_PASSPORT",
    "IDENTIFICATION_TYPE_MACAO_PASSPORT",
    "IDENTIFICATION_TYPE_TAIWAN_PASSPORT",
    "IDENTIFICATION_TYPE_FOREIGN_RESIDENT",
    "IDENTIFICATION_TYPE_HONGKONG_MACAO_RESIDENT",
    "IDENTIFICATION_TYPE_TAIWAN_RESIDENT",
];
const SALES_SCENES: &[&str] = &[
    "SALES_SCENES_STORE",
    "SALES_SCENES_MP",
    "SALES_SCENES_MINI_PROGRAM",
    "SALES_SCENES_WEB",
    "SALES_SCENES_APP",
    "SALES_SCENES_WEWORK",
];
/// The value an end date may have instead of a date.
pub const LONG_TERM: &str = "长期";

fn need<'a>(v: &'a Option<String>, path: &str) -> Result<&'a str, FieldError> {
    match v.as_deref() {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(FieldError::missing(path)),
    }
}

fn need_obj<'a, T>(v: &'a Option<T>, path: &str) -> Result<&'a T, FieldError> {
    v.as_ref().ok_or_else(|| FieldError::missing(path))
}

fn length(path: &str, s: &str, min: usize, max: usize) -> Result<(), FieldError> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(FieldError::new(path, format!("{path} 长度应为{min}到{max}个字符")));
    }
    Ok(())
}

fn one_of(path: &str, s: &str, allowed: &[&str]) -> Result<(), FieldError> {
    if allowed.contains(&s) {
        Ok(())
    } else {
        Err(FieldError::new(path, format!("{path} 取值不合法：{s}")))
    }
}

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<time::Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt).ok()
}

/// A validity period: begin a date, end a date after it or 长期. Returns the
/// end (`None` for 长期).
fn period(
    begin_path: &str,
    begin: &Option<String>,
    end_path: &str,
    end: &Option<String>,
) -> Result<Option<time::Date>, FieldError> {
    let b = parse_date(need(begin, begin_path)?)
        .ok_or_else(|| FieldError::new(begin_path, format!("{begin_path} 应为YYYY-MM-DD格式的日期")))?;
    let e = need(end, end_path)?;
    if e == LONG_TERM {
        return Ok(None);
    }
    let e = parse_date(e)
        .ok_or_else(|| FieldError::new(end_path, format!("{end_path} 应为YYYY-MM-DD格式的日期或“长期”")))?;
    if e <= b {
        return Err(FieldError::new(end_path, format!("{end_path} 应晚于{begin_path}")));
    }
    Ok(Some(e))
}

/// The resident identity number's check digit (GB 11643) and date of birth.
pub fn id_card_number_valid(s: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = s.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    let expected = CHECK[(sum % 11) as usize];
    if b[17].to_ascii_uppercase() != expected {
        return false;
    }
    s.get(6..14).is_some_and(|birth| {
        let fmt = time::macros::format_description!("[year][month][day]");
        time::Date::parse(birth, &fmt).is_ok()
    })
}

fn id_number(path: &str, doc_type: &str, s: &str) -> Result<(), FieldError> {
    let ok = if doc_type == "IDENTIFICATION_TYPE_IDCARD" {
        id_card_number_valid(s)
    } else {
        (5..=30).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '(' || c == ')')
    };
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(path, format!("{path} 证件号码不合法")))
    }
}

/// A mainland mobile number: 11 digits starting 13–19.
pub fn mobile_valid(s: &str) -> bool {
    s.len() == 11 && s.starts_with('1') && s.bytes().all(|b| b.is_ascii_digit()) && s.as_bytes()[1] >= b'3'
}

/// An e-mail address: a local part, one `@`, a dotted domain.
pub fn email_valid(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && s.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
        && !domain.contains('@')
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

fn media(path: &str, v: &Option<String>, out: &mut Vec<(String, String)>) -> Result<(), FieldError> {
    let id = need(v, path)?;
    if id.len() > 512 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_=".contains(c)) {
        return Err(FieldError::new(path, format!("{path} 不是合法的媒体文件ID")));
    }
    out.push((path.to_owned(), id.to_owned()));
    Ok(())
}

fn optional_media(path: &str, v: &Option<String>, out: &mut Vec<(String, String)>) -> Result<(), FieldError> {
    match v.as_deref() {
        None => Ok(()),
        Some(_) => media(path, v, out),
    }
}

/// What the checks of an application's sections gather besides their
/// verdict: the media ids it names, and the end of each identity
/// document's validity.
#[derive(Default)]
struct Gathered {
    media: Vec<(String, String)>,
    valid_until: Vec<Option<time::Date>>,
}

/// Checks every field of an (already decrypted) application, section by
/// section in the order of the form. `settlement_ids` are the rules the
/// fee schedule in force knows.
pub fn validate(a: &Application, settlement_ids: &[String]) -> Result<Checked, FieldError> {
    let mut g = Gathered::default();
    let business_code = need(&a.business_code, "business_code")?;
    length("business_code", business_code, 1, 124)?;
    if !business_code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(FieldError::new("business_code", "business_code 只能由数字、字母和下划线组成"));
    }
    let (contact_name, mobile) = check_contact(need_obj(&a.contact_info, "contact_info")?, &mut g)?;
    let subject = need_obj(&a.subject_info, "subject_info")?;
    let (subject_type, license_number, merchant_name) = check_subject(subject, &mut g)?;
    let shortname = check_business(need_obj(&a.business_info, "business_info")?)?;
    let st = need_obj(&a.settlement_info, "settlement_info")?;
    let (settlement_id, qualification) = check_settlement(st, subject_type, settlement_ids, &mut g)?;
    let bank = need_obj(&a.bank_account_info, "bank_account_info")?;
    let account_number = check_bank_account(bank, subject_type)?;
    let identity_valid_until = g.valid_until.iter().flatten().min().copied();
    Ok(Checked {
        business_code: business_code.to_owned(),
        subject_type: subject_type.to_owned(),
        merchant_name,
        merchant_shortname: shortname.to_owned(),
        license_number,
        settlement_id: settlement_id.to_owned(),
        qualification_type: qualification.to_owned(),
        contact_name: contact_name.to_owned(),
        mobile_phone: mobile.to_owned(),
        account_number: account_number.to_owned(),
        media: g.media,
        identity_valid_until,
    })
}

/// `contact_info`: returns the contact's name and mobile number.
fn check_contact<'a>(c: &'a ContactInfo, g: &mut Gathered) -> Result<(&'a str, &'a str), FieldError> {
    if let Some(t) = c.contact_type.as_deref() {
        one_of("contact_info.contact_type", t, &["LEGAL", "SUPER"])?;
    }
    let contact_name = need(&c.contact_name, "contact_info.contact_name")?;
    length("contact_info.contact_name", contact_name, 2, 64)?;
    let contact_doc_type = c.contact_id_doc_type.as_deref().unwrap_or("IDENTIFICATION_TYPE_IDCARD");
    one_of("contact_info.contact_id_doc_type", contact_doc_type, ID_DOC_TYPES)?;
    if let Some(n) = c.contact_id_number.as_deref() {
        id_number("contact_info.contact_id_number", contact_doc_type, n)?;
    }
    optional_media("contact_info.contact_id_doc_copy", &c.contact_id_doc_copy, &mut g.media)?;
    optional_media("contact_info.contact_id_doc_copy_back", &c.contact_id_doc_copy_back, &mut g.media)?;
    optional_media("contact_info.business_authorization_letter", &c.business_authorization_letter, &mut g.media)?;
    if c.contact_period_begin.is_some() || c.contact_period_end.is_some() {
        g.valid_until.push(period(
            "contact_info.contact_period_begin",
            &c.contact_period_begin,
            "contact_info.contact_period_end",
            &c.contact_period_end,
        )?);
    }
    let mobile = need(&c.mobile_phone, "contact_info.mobile_phone")?;
    if !mobile_valid(mobile) {
        return Err(FieldError::new("contact_info.mobile_phone", "contact_info.mobile_phone 应为11位手机号码"));
    }
    let email = need(&c.contact_email, "contact_info.contact_email")?;
    if !email_valid(email) {
        return Err(FieldError::new("contact_info.contact_email", "contact_info.contact_email 邮箱格式不正确"));
    }
    Ok((contact_name, mobile))
}

/// `subject_info`: returns the subject type, the licence (or certificate)
/// number and the merchant's name.
fn check_subject<'a>(s: &'a SubjectInfo, g: &mut Gathered) -> Result<(&'a str, String, String), FieldError> {
    let subject_type = need(&s.subject_type, "subject_info.subject_type")?;
    one_of("subject_info.subject_type", subject_type, SUBJECT_TYPES)?;
    let (license_number, merchant_name) = match subject_type {
        "SUBJECT_TYPE_INDIVIDUAL" | "SUBJECT_TYPE_ENTERPRISE" => {
            check_license(need_obj(&s.business_license_info, "subject_info.business_license_info")?, g)?
        }
        _ => check_certificate(need_obj(&s.certificate_info, "subject_info.certificate_info")?, g)?,
    };
    check_identity(need_obj(&s.identity_info, "subject_info.identity_info")?, g)?;
    for (i, u) in s.ubo_info_list.iter().flatten().enumerate() {
        check_ubo(&format!("subject_info.ubo_info_list[{i}]"), u, g)?;
    }
    Ok((subject_type, license_number, merchant_name))
}

/// `subject_info.business_license_info`: the licence number and the name.
fn check_license(l: &BusinessLicenseInfo, g: &mut Gathered) -> Result<(String, String), FieldError> {
    let p = "subject_info.business_license_info";
    media(&format!("{p}.license_copy"), &l.license_copy, &mut g.media)?;
    let number = need(&l.license_number, &format!("{p}.license_number"))?;
    let ok = (number.len() == 15 && number.bytes().all(|b| b.is_ascii_digit()))
        || (number.len() == 18 && number.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
    if !ok {
        let f = format!("{p}.license_number");
        return Err(FieldError::new(&f, format!("{f} 应为15位数字或18位统一社会信用代码")));
    }
    let name = need(&l.merchant_name, &format!("{p}.merchant_name"))?;
    length(&format!("{p}.merchant_name"), name, 2, 128)?;
    let legal = need(&l.legal_person, &format!("{p}.legal_person"))?;
    length(&format!("{p}.legal_person"), legal, 2, 64)?;
    if l.period_begin.is_some() || l.period_end.is_some() {
        period(&format!("{p}.period_begin"), &l.period_begin, &format!("{p}.period_end"), &l.period_end)?;
    }
    Ok((number.to_owned(), name.to_owned()))
}

/// `subject_info.certificate_info` (institutions and other subjects): the
/// certificate number and the name.
fn check_certificate(ci: &CertificateInfo, g: &mut Gathered) -> Result<(String, String), FieldError> {
    let p = "subject_info.certificate_info";
    media(&format!("{p}.cert_copy"), &ci.cert_copy, &mut g.media)?;
    let cert_type = need(&ci.cert_type, &format!("{p}.cert_type"))?;
    if !cert_type.starts_with("CERTIFICATE_TYPE_") {
        let f = format!("{p}.cert_type");
        return Err(FieldError::new(&f, format!("{f} 取值不合法：{cert_type}")));
    }
    let number = need(&ci.cert_number, &format!("{p}.cert_number"))?;
    length(&format!("{p}.cert_number"), number, 5, 64)?;
    let name = need(&ci.merchant_name, &format!("{p}.merchant_name"))?;
    length(&format!("{p}.merchant_name"), name, 2, 128)?;
    need(&ci.legal_person, &format!("{p}.legal_person"))?;
    Ok((number.to_owned(), name.to_owned()))
}

/// `subject_info.identity_info`: an identity card, or another document.
fn check_identity(id: &IdentityInfo, g: &mut Gathered) -> Result<(), FieldError> {
    let p = "subject_info.identity_info";
    let doc_type = need(&id.id_doc_type, &format!("{p}.id_doc_type"))?;
    one_of(&format!("{p}.id_doc_type"), doc_type, ID_DOC_TYPES)?;
    if doc_type == "IDENTIFICATION_TYPE_IDCARD" {
        let p = "subject_info.identity_info.id_card_info";
        let card = need_obj(&id.id_card_info, p)?;
        media(&format!("{p}.id_card_copy"), &card.id_card_copy, &mut g.media)?;
        media(&format!("{p}.id_card_national"), &card.id_card_national, &mut g.media)?;
        let name = need(&card.id_card_name, &format!("{p}.id_card_name"))?;
        length(&format!("{p}.id_card_name"), name, 2, 64)?;
        let number = need(&card.id_card_number, &format!("{p}.id_card_number"))?;
        id_number(&format!("{p}.id_card_number"), doc_type, number)?;
        g.valid_until.push(period(
            &format!("{p}.card_period_begin"),
            &card.card_period_begin,
            &format!("{p}.card_period_end"),
            &card.card_period_end,
        )?);
    } else {
        let p = "subject_info.identity_info.id_doc_info";
        let doc = need_obj(&id.id_doc_info, p)?;
        media(&format!("{p}.id_doc_copy"), &doc.id_doc_copy, &mut g.media)?;
        optional_media(&format!("{p}.id_doc_copy_back"), &doc.id_doc_copy_back, &mut g.media)?;
        need(&doc.id_doc_name, &format!("{p}.id_doc_name"))?;
        let number = need(&doc.id_doc_number, &format!("{p}.id_doc_number"))?;
        id_number(&format!("{p}.id_doc_number"), doc_type, number)?;
        g.valid_until.push(period(
            &format!("{p}.doc_period_begin"),
            &doc.doc_period_begin,
            &format!("{p}.doc_period_end"),
            &doc.doc_period_end,
        )?);
    }
    Ok(())
}

/// One beneficial owner, at `p` (`subject_info.ubo_info_list[i]`).
fn check_ubo(p: &str, u: &UboInfo, g: &mut Gathered) -> Result<(), FieldError> {
    let t = need(&u.ubo_id_doc_type, &format!("{p}.ubo_id_doc_type"))?;
    one_of(&format!("{p}.ubo_id_doc_type"), t, ID_DOC_TYPES)?;
    media(&format!("{p}.ubo_id_doc_copy"), &u.ubo_id_doc_copy, &mut g.media)?;
    need(&u.ubo_id_doc_name, &format!("{p}.ubo_id_doc_name"))?;
    let n = need(&u.ubo_id_doc_number, &format!("{p}.ubo_id_doc_number"))?;
    id_number(&format!("{p}.ubo_id_doc_number"), t, n)?;
    g.valid_until.push(period(
        &format!("{p}.ubo_period_begin"),
        &u.ubo_period_begin,
        &format!("{p}.ubo_period_end"),
        &u.ubo_period_end,
    )?);
    Ok(())
}

/// `business_info`: returns the short name.
fn check_business(b: &BusinessInfo) -> Result<&str, FieldError> {
    let shortname = need(&b.merchant_shortname, "business_info.merchant_shortname")?;
    length("business_info.merchant_shortname", shortname, 1, 64)?;
    let phone = need(&b.service_phone, "business_info.service_phone")?;
    if !(5..=20).contains(&phone.len()) || !phone.bytes().all(|c| c.is_ascii_digit() || c == b'-') {
        return Err(FieldError::new(
            "business_info.service_phone",
            "business_info.service_phone 应为数字和“-”组成的电话号码",
        ));
    }
    let sales = need_obj(&b.sales_info, "business_info.sales_info")?;
    let scenes = sales
        .sales_scenes_type
        .as_ref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| FieldError::missing("business_info.sales_info.sales_scenes_type"))?;
    for (i, scene) in scenes.iter().enumerate() {
        one_of(&format!("business_info.sales_info.sales_scenes_type[{i}]"), scene, SALES_SCENES)?;
    }
    Ok(shortname)
}

/// `settlement_info`: a rule the schedule in force knows, for the subject
/// type, with a qualification it allows. Returns the rule and the
/// qualification.
fn check_settlement<'a>(
    st: &'a SettlementInfo,
    subject_type: &str,
    settlement_ids: &[String],
    g: &mut Gathered,
) -> Result<(&'a str, &'a str), FieldError> {
    let settlement_id = need(&st.settlement_id, "settlement_info.settlement_id")?;
    let choice = rules()
        .settlement
        .iter()
        .find(|c| c.id == settlement_id && settlement_ids.iter().any(|s| s == settlement_id))
        .ok_or_else(|| FieldError::new("settlement_info.settlement_id", format!("结算规则{settlement_id}不存在")))?;
    if !choice.subjects.iter().any(|s| s == subject_type) {
        return Err(FieldError::new(
            "settlement_info.settlement_id",
            format!("结算规则{settlement_id}不适用于主体类型{subject_type}"),
        ));
    }
    let qualification = need(&st.qualification_type, "settlement_info.qualification_type")?;
    if !choice.qualifications.iter().any(|q| q == qualification) {
        return Err(FieldError::new(
            "settlement_info.qualification_type",
            format!("所属行业“{qualification}”不在结算规则{settlement_id}允许的范围内"),
        ));
    }
    for (i, q) in st.qualifications.iter().flatten().enumerate() {
        media(&format!("settlement_info.qualifications[{i}]"), &Some(q.clone()), &mut g.media)?;
    }
    Ok((settlement_id, qualification))
}

/// `bank_account_info`: returns the account number.
fn check_bank_account<'a>(bank: &'a BankAccountInfo, subject_type: &str) -> Result<&'a str, FieldError> {
    let p = "bank_account_info";
    let kind = need(&bank.bank_account_type, &format!("{p}.bank_account_type"))?;
    one_of(&format!("{p}.bank_account_type"), kind, &["BANK_ACCOUNT_TYPE_CORPORATE", "BANK_ACCOUNT_TYPE_PERSONAL"])?;
    if kind == "BANK_ACCOUNT_TYPE_PERSONAL" && subject_type != "SUBJECT_TYPE_INDIVIDUAL" {
        return Err(FieldError::new(
            &format!("{p}.bank_account_type"),
            "只有个体户可以使用经营者个人银行卡结算".to_owned(),
        ));
    }
    let account_name = need(&bank.account_name, &format!("{p}.account_name"))?;
    length(&format!("{p}.account_name"), account_name, 2, 128)?;
    let account_bank = need(&bank.account_bank, &format!("{p}.account_bank"))?;
    if !rules().banks.iter().any(|b| b == account_bank) {
        let f = format!("{p}.account_bank");
        return Err(FieldError::new(&f, format!("{f} 不在开户银行列表中：{account_bank}")));
    }
    if account_bank == "其他银行"
        && bank.bank_name.as_deref().is_none_or(str::is_empty)
        && bank.bank_branch_id.is_none()
    {
        return Err(FieldError::missing(&format!("{p}.bank_name")));
    }
    let area = need(&bank.bank_address_code, &format!("{p}.bank_address_code"))?;
    if area.len() != 6 || !area.bytes().all(|c| c.is_ascii_digit()) || area.starts_with('0') {
        let f = format!("{p}.bank_address_code");
        return Err(FieldError::new(&f, format!("{f} 应为6位省市编码")));
    }
    let account_number = need(&bank.account_number, &format!("{p}.account_number"))?;
    if !(8..=30).contains(&account_number.len()) || !account_number.bytes().all(|c| c.is_ascii_digit()) {
        let f = format!("{p}.account_number");
        return Err(FieldError::new(&f, format!("{f} 应为8到30位数字")));
    }
    Ok(account_number)
}

/// The sensitive word a name holds, if any.
pub fn sensitive_word(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    rules().sensitive_words.iter().find(|w| lower.contains(&w.to_lowercase())).map(String::as_str)
}

/// One field the audit found at fault (`audit_detail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldRejection {
    /// The field's leaf name, as WeChat gives it (`license_number`).
    pub field: String,
    /// Its Chinese label.
    pub field_name: String,
    pub reject_reason: String,
}

impl FieldRejection {
    /// A rejection of the field at `path` (a leaf name or a dotted path).
    pub fn new(path: &str, reason: &str) -> FieldRejection {
        let leaf = path.rsplit('.').next().unwrap_or(path);
        let leaf = leaf.split('[').next().unwrap_or(leaf).to_owned();
        FieldRejection { field_name: field_label(&leaf).to_owned(), field: leaf, reject_reason: reason.to_owned() }
    }
}

/// The Chinese label of a field, by leaf name.
pub fn field_label(leaf: &str) -> &'static str {
    match leaf {
        "contact_name" => "超级管理员姓名",
        "contact_id_number" => "超级管理员身份证件号码",
        "mobile_phone" => "联系手机",
        "contact_email" => "联系邮箱",
        "license_copy" => "营业执照照片",
        "license_number" => "注册号/统一社会信用代码",
        "merchant_name" => "商户名称",
        "legal_person" => "个体户经营者/法人姓名",
        "cert_copy" => "登记证书照片",
        "cert_number" => "证书号",
        "id_card_copy" => "身份证人像面照片",
        "id_card_national" => "身份证国徽面照片",
        "id_card_name" => "身份证姓名",
        "id_card_number" => "身份证号码",
        "card_period_begin" => "身份证有效期开始时间",
        "card_period_end" => "身份证有效期结束时间",
        "id_doc_copy" => "证件照片",
        "id_doc_name" => "证件姓名",
        "id_doc_number" => "证件号码",
        "doc_period_end" => "证件结束日期",
        "merchant_shortname" => "商户简称",
        "service_phone" => "客服电话",
        "settlement_id" => "入驻结算规则ID",
        "qualification_type" => "所属行业",
        "qualifications" => "特殊资质图片",
        "account_name" => "开户名称",
        "account_bank" => "开户银行",
        "bank_address_code" => "开户银行省市编码",
        "account_number" => "银行账号",
        "bank_account_type" => "账户类型",
        _ => "申请单字段",
    }
}

/// The leaf names an operator may reject, for the console's field list.
pub const REJECTABLE_FIELDS: &[&str] = &[
    "license_copy",
    "license_number",
    "merchant_name",
    "legal_person",
    "id_card_copy",
    "id_card_national",
    "id_card_name",
    "id_card_number",
    "card_period_end",
    "contact_name",
    "mobile_phone",
    "contact_email",
    "merchant_shortname",
    "service_phone",
    "qualification_type",
    "account_name",
    "account_bank",
    "account_number",
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_rules_file_loads() {
        let r: OnboardingRules = serde_json::from_str(include_str!("../data/onboarding.json")).unwrap();
        assert_eq!(r.deadlines.fast_track_s, 4 * 3600);
        assert!(r.settlement.iter().any(|c| c.id == "716" && c.qualifications.iter().any(|q| q == "餐饮")));
        assert!(r.banks.iter().any(|b| b == "工商银行"));
    }

    #[test]
    fn resident_identity_numbers_have_a_check_digit() {
        assert!(id_card_number_valid("11010519491231002X"));
        assert!(!id_card_number_valid("110105194912310021"));
        assert!(id_card_number_valid("440524188001010014"));
        assert!(!id_card_number_valid("440524188013010014"), "month 13");
        assert!(!id_card_number_valid("4405241880010100"));
    }

    #[test]
    fn phones_and_emails() {
        assert!(mobile_valid("13800138000"));
        assert!(!mobile_valid("12800138000") && !mobile_valid("1380013800") && !mobile_valid("1380013800a"));
        assert!(email_valid("a@b.cn") && !email_valid("a@b") && !email_valid("@b.cn") && !email_valid("a@@b.cn"));
    }

    #[test]
    fn business_days_skip_weekends() {
        // 2026-11-24 12:00 China time was a Tuesday; the 27th a Friday.
        let friday_noon = 1_795_492_800 + 3 * 86_400;
        let monday = add_business_days(friday_noon, 1);
        assert_eq!(monday - friday_noon, 3 * 86_400);
        assert_eq!(add_business_days(friday_noon, 3) - friday_noon, 5 * 86_400);
    }

    fn state() -> impl Strategy<Value = ApplymentState> {
        proptest::sample::select(ApplymentState::ALL.to_vec())
    }

    fn event() -> impl Strategy<Value = ApplymentEvent> {
        use ApplymentEvent as E;
        proptest::sample::select(vec![E::Submit, E::Reject, E::Approve, E::Confirm, E::Sign, E::Finish, E::Cancel])
    }

    proptest! {
        #[test]
        fn finished_and_canceled_are_final(events in proptest::collection::vec(event(), 0..40)) {
            let mut s = ApplymentState::Editing;
            let mut ended = None;
            for e in events {
                if let Ok(n) = next(s, e) {
                    prop_assert!(ended.is_none(), "{s} moved on after ending");
                    s = n;
                    if matches!(s, ApplymentState::Finished | ApplymentState::Canceled) {
                        ended = Some(s);
                    }
                }
            }
        }

        #[test]
        fn a_sub_merchant_number_is_shown_only_after_approval(events in proptest::collection::vec(event(), 0..40)) {
            // Every path to a state that shows the sub_mchid passes through Approve.
            let mut s = ApplymentState::Editing;
            let mut approved = false;
            for e in events {
                if let Ok(n) = next(s, e) {
                    approved |= e == ApplymentEvent::Approve;
                    s = n;
                    prop_assert!(!s.shows_sub_mchid() || approved);
                }
            }
        }

        #[test]
        fn only_rejected_or_new_applications_are_submitted(s in state()) {
            let allowed = next(s, ApplymentEvent::Submit).is_ok();
            prop_assert_eq!(allowed, matches!(s, ApplymentState::Editing | ApplymentState::Rejected));
        }
    }
}
