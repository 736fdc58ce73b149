//! The Official Account message crypto (protocol notes `wechat-mp.md` §4):
//! signatures over the sorted Token/timestamp/nonce(/Encrypt), and "safe
//! mode": AES-256-CBC with the key from the EncodingAESKey, IV = the key's
//! first 16 bytes, plaintext `random(16) ‖ len(4, BE) ‖ msg ‖ appid`, PKCS#7
//! padding to a multiple of 32.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::crypto::{aes256cbc_decrypt, aes256cbc_encrypt, sha1};

/// Why a safe-mode message did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgCryptoError {
    #[error("the EncodingAESKey is not 43 characters of base64")]
    BadKey,
    #[error("the ciphertext does not decrypt")]
    BadCiphertext,
    #[error("the message is for another appid")]
    WrongAppid,
}

/// `sha1(sorted(parts).join(""))`, lower-case hex.
pub fn signature(parts: &[&str]) -> String {
    let mut sorted: Vec<&str> = parts.to_vec();
    sorted.sort_unstable();
    sha1(sorted.concat().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn aes_key(encoding_aes_key: &str) -> Result<[u8; 32], MsgCryptoError> {
    if encoding_aes_key.len() != 43 {
        return Err(MsgCryptoError::BadKey);
    }
    // The 43rd character carries 2 bits too many; WeChat and every SDK
    // ignore them, so decoding must allow them.
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let bytes = lenient.decode(format!("{encoding_aes_key}=")).map_err(|_| MsgCryptoError::BadKey)?;
    bytes.try_into().map_err(|_| MsgCryptoError::BadKey)
}

/// Encrypts `msg` for `appid`; `random` is the 16-byte prefix. Base64.
pub fn encrypt(encoding_aes_key: &str, appid: &str, random: &[u8; 16], msg: &str) -> Result<String, MsgCryptoError> {
    let key = aes_key(encoding_aes_key)?;
    let iv: [u8; 16] = key[..16].try_into().map_err(|_| MsgCryptoError::BadKey)?;
    let len = u32::try_from(msg.len()).map_err(|_| MsgCryptoError::BadCiphertext)?;
    let mut data = random.to_vec();
    data.extend_from_slice(&len.to_be_bytes());
    data.extend_from_slice(msg.as_bytes());
    data.extend_from_slice(appid.as_bytes());
    let pad = 32 - data.len() % 32;
    data.extend(std::iter::repeat_n(u8::try_from(pad).unwrap_or(32), pad));
    aes256cbc_encrypt(&key, &iv, &mut data).map_err(|_| MsgCryptoError::BadCiphertext)?;
    Ok(STANDARD.encode(data))
}

/// Decrypts a safe-mode `Encrypt` value; the trailing appid must be `appid`.
pub fn decrypt(encoding_aes_key: &str, appid: &str, encrypted: &str) -> Result<String, MsgCryptoError> {
    let key = aes_key(encoding_aes_key)?;
    let iv: [u8; 16] = key[..16].try_into().map_err(|_| MsgCryptoError::BadKey)?;
    let mut data = STANDARD.decode(encrypted.trim()).map_err(|_| MsgCryptoError::BadCiphertext)?;
    aes256cbc_decrypt(&key, &iv, &mut data).map_err(|_| MsgCryptoError::BadCiphertext)?;
    let pad = usize::from(*data.last().ok_or(MsgCryptoError::BadCiphertext)?);
    if pad == 0 || pad > 32 || pad > data.len() {
        return Err(MsgCryptoError::BadCiphertext);
    }
    data.truncate(data.len() - pad);
    let len_bytes: [u8; 4] = data.get(16..20).and_then(|b| b.try_into().ok()).ok_or(MsgCryptoError::BadCiphertext)?;
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| MsgCryptoError::BadCiphertext)?;
    let msg = data.get(20..20 + len).ok_or(MsgCryptoError::BadCiphertext)?;
    let trailing = data.get(20 + len..).ok_or(MsgCryptoError::BadCiphertext)?;
    if trailing != appid.as_bytes() {
        return Err(MsgCryptoError::WrongAppid);
    }
    String::from_utf8(msg.to_vec()).map_err(|_| MsgCryptoError::BadCiphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_official_signature_vectors() {
        assert_eq!(signature(&["AAAAA", "1714036504", "1514711492"]), "f464b24fc39322e44b38aa78f5edd27bd1441696");
        assert_eq!(signature(&["AAAAA", "1714037059", "486452656"]), "899cf89e464efb63f54ddac96b0a0a235f53aa78");
    }

    #[test]
    fn the_safe_mode_vector_made_with_wechatpy() {
        let msg = "<xml><ToUserName><![CDATA[gh_123456789abc]]></ToUserName><FromUserName><![CDATA[oUser1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>1234567890123456</MsgId></xml>";
        let key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        let enc = encrypt(key, "wx1234567890abcdef", b"1234567890123456", msg).unwrap();
        assert_eq!(enc.len(), 384);
        assert!(enc.starts_with("QCTqNwyPmqRu4xuyqVsja4cN") && enc.ends_with("HmEsqgHJgUIJ"), "{enc}");
        assert_eq!(
            signature(&["testtoken", "1700000000", "nonce123", &enc]),
            "d1a54f4d3d59af310f258ad319f32f838b871e78"
        );
        assert_eq!(decrypt(key, "wx1234567890abcdef", &enc).as_deref(), Ok(msg));
        assert_eq!(decrypt(key, "wxother", &enc), Err(MsgCryptoError::WrongAppid));
        assert!(decrypt(key, "wx1234567890abcdef", "bm90").is_err());
        assert_eq!(encrypt("short", "a", &[0; 16], "m"), Err(MsgCryptoError::BadKey));
    }
}
