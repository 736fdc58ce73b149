//! JSON shapes that leave the server: the transaction object, the
//! notification envelope, the certificate list. Fields without a value are
//! omitted, never `""` or `null` (protocol notes §0).

use serde::{Deserialize, Serialize};

use crate::aead;
use crate::times::format_rfc3339;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Amount {
    pub total: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer_total: Option<i64>,
    pub currency: &'static str,
    pub payer_currency: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Payer {
    pub openid: String,
}

/// `scene_info` of a transaction: the device, and the store the payment was
/// made at (`store_info`, as the prepay named it or the store pay code
/// wrote it; the documented query shape has only `device_id`, and clients
/// ignore what they do not know).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SceneInfo {
    pub device_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_info: Option<StoreInfo>,
}

/// `scene_info.store_info`: the store's id and, when known, its name, area
/// code and address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct StoreInfo {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub area_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub address: Option<String>,
}

/// The transaction object of queries and of `TRANSACTION.SUCCESS` (§3.3).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Transaction {
    pub appid: String,
    pub mchid: String,
    pub out_trade_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<&'static str>,
    pub trade_state: &'static str,
    pub trade_state_desc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer: Option<Payer>,
    pub amount: Amount,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scene_info: Option<SceneInfo>,
    pub promotion_detail: Vec<serde_json::Value>,
}

/// The partner-mode transaction object (§8): the same as [`Transaction`]
/// with `sp_*`/`sub_*` identities.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PartnerTransaction {
    pub sp_appid: String,
    pub sp_mchid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_appid: Option<String>,
    pub sub_mchid: String,
    pub out_trade_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<&'static str>,
    pub trade_state: &'static str,
    pub trade_state_desc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer: Option<PartnerPayer>,
    pub amount: Amount,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scene_info: Option<SceneInfo>,
    pub promotion_detail: Vec<serde_json::Value>,
}

/// The payer of a partner transaction: the openid under `sp_appid`, and
/// under `sub_appid` when the order has one.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PartnerPayer {
    pub sp_openid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_openid: Option<String>,
}

/// A transaction as a direct merchant or a provider sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum TransactionView {
    Direct(Transaction),
    Partner(PartnerTransaction),
}

/// The encrypted `resource` of a notification.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Resource {
    pub original_type: String,
    pub algorithm: &'static str,
    pub ciphertext: String,
    pub associated_data: String,
    pub nonce: String,
}

/// The notification envelope, in the key order real callbacks use.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub create_time: String,
    pub resource_type: &'static str,
    pub event_type: String,
    pub summary: String,
    pub resource: Resource,
}

impl Notification {
    /// Encrypts `plaintext` with the merchant's APIv3 key into a notification
    /// body (compact JSON). `original_type` doubles as the associated data,
    /// as real callbacks do.
    #[allow(clippy::too_many_arguments)]
    pub fn seal(
        id: String,
        created_at_s: i64,
        event_type: &str,
        summary: &str,
        original_type: &str,
        plaintext: &[u8],
        apiv3_key: &str,
        nonce: &str,
    ) -> Result<Notification, aead::AeadError> {
        let ciphertext = aead::encrypt(apiv3_key, nonce, original_type, plaintext)?;
        Ok(Notification {
            id,
            create_time: format_rfc3339(created_at_s),
            resource_type: "encrypt-resource",
            event_type: event_type.to_owned(),
            summary: summary.to_owned(),
            resource: Resource {
                original_type: original_type.to_owned(),
                algorithm: crate::AEAD_ALGORITHM,
                ciphertext,
                associated_data: original_type.to_owned(),
                nonce: nonce.to_owned(),
            },
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EncryptCertificate {
    pub algorithm: &'static str,
    pub nonce: String,
    pub associated_data: &'static str,
    pub ciphertext: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificateEntry {
    pub serial_no: String,
    pub effective_time: String,
    pub expire_time: String,
    pub encrypt_certificate: EncryptCertificate,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificateList {
    pub data: Vec<CertificateEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpaid_transactions_omit_what_they_do_not_have() {
        let t = Transaction {
            appid: "wx1".into(),
            mchid: "19".into(),
            out_trade_no: "T123456".into(),
            transaction_id: None,
            trade_type: None,
            trade_state: "NOTPAY",
            trade_state_desc: "订单未支付",
            bank_type: None,
            attach: None,
            success_time: None,
            payer: None,
            amount: Amount { total: 1, payer_total: None, currency: "CNY", payer_currency: "CNY" },
            scene_info: None,
            promotion_detail: vec![],
        };
        let s = serde_json::to_string(&t).unwrap_or_default();
        assert!(!s.contains("null") && !s.contains("\"\""));
        assert!(s.contains("\"promotion_detail\":[]"));
    }

    #[test]
    fn sealed_notifications_decrypt() {
        let key = "0123456789abcdefghijABCDEFGHIJ01";
        let n = Notification::seal(
            "id".into(),
            0,
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            b"{}",
            key,
            "abcdefghijkl",
        )
        .unwrap();
        let s = serde_json::to_string(&n).unwrap_or_default();
        assert!(s.starts_with(
            "{\"id\":\"id\",\"create_time\":\"1970-01-01T08:00:00+08:00\",\"resource_type\":\"encrypt-resource\""
        ));
        let plain = aead::decrypt(key, &n.resource.nonce, &n.resource.associated_data, &n.resource.ciphertext);
        assert_eq!(plain, Ok(b"{}".to_vec()));
    }
}

/// `amount` of the refund object (§4.3).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RefundAmount {
    pub total: i64,
    pub refund: i64,
    pub from: Vec<serde_json::Value>,
    pub payer_total: i64,
    pub payer_refund: i64,
    pub settlement_refund: i64,
    pub settlement_total: i64,
    pub discount_refund: i64,
    pub currency: &'static str,
    /// The fee share returned with this refund.
    pub refund_fee: i64,
}

/// The refund object of create and query (§4.3).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Refund {
    pub refund_id: String,
    pub out_refund_no: String,
    pub transaction_id: String,
    pub out_trade_no: String,
    pub channel: &'static str,
    pub user_received_account: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    pub create_time: String,
    pub status: &'static str,
    pub funds_account: String,
    pub amount: RefundAmount,
    pub promotion_detail: Vec<serde_json::Value>,
}

/// `amount` of the refund notification.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RefundNoticeAmount {
    pub total: i64,
    pub refund: i64,
    pub payer_total: i64,
    pub payer_refund: i64,
}

/// The decrypted resource of `REFUND.*` notifications (§5.1): note
/// `refund_status`, not `status`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RefundNotice {
    /// Direct mode only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mchid: Option<String>,
    /// Partner mode only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sp_mchid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_mchid: Option<String>,
    pub transaction_id: String,
    pub out_trade_no: String,
    pub refund_id: String,
    pub out_refund_no: String,
    pub refund_status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    pub user_received_account: &'static str,
    pub amount: RefundNoticeAmount,
}

/// The answer of the bill endpoints (§6.1).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BillLink {
    pub hash_type: &'static str,
    pub hash_value: String,
    pub download_url: String,
}
