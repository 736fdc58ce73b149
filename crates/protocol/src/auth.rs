//! Request authentication (`Authorization: WECHATPAY2-SHA256-RSA2048 …`) and
//! the messages that requests, responses and client-side payment parameters
//! are signed over.

use crate::SIGNATURE_TYPE;

/// The five parameters of the `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    pub mchid: String,
    pub serial_no: String,
    pub nonce_str: String,
    pub timestamp: String,
    pub signature: String,
}

/// What is wrong with an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthHeaderError {
    #[error("Authorization header is missing")]
    Missing,
    #[error("Authorization scheme must be WECHATPAY2-SHA256-RSA2048")]
    Scheme,
    #[error("Authorization is missing the parameter {0}")]
    MissingParam(&'static str),
    #[error("Authorization parameters are malformed")]
    Malformed,
}

/// Parses the header tolerantly: parameters in any order, optional spaces
/// around commas and `=`, as every SDK orders them differently (§1.1).
pub fn parse_authorization(header: &str) -> Result<AuthParams, AuthHeaderError> {
    let header = header.trim();
    let rest = header.strip_prefix(SIGNATURE_TYPE).ok_or(AuthHeaderError::Scheme)?;
    if !rest.starts_with(char::is_whitespace) {
        return Err(AuthHeaderError::Scheme);
    }
    let mut rest = rest.trim_start();
    let (mut mchid, mut serial_no, mut nonce_str, mut timestamp, mut signature) = (None, None, None, None, None);
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or(AuthHeaderError::Malformed)?;
        let key = rest.get(..eq).ok_or(AuthHeaderError::Malformed)?.trim();
        let after = rest.get(eq + 1..).ok_or(AuthHeaderError::Malformed)?.trim_start();
        let quoted = after.strip_prefix('"').ok_or(AuthHeaderError::Malformed)?;
        let end = quoted.find('"').ok_or(AuthHeaderError::Malformed)?;
        let value = quoted.get(..end).ok_or(AuthHeaderError::Malformed)?.to_owned();
        let tail = quoted.get(end + 1..).ok_or(AuthHeaderError::Malformed)?.trim_start();
        rest = match tail.strip_prefix(',') {
            Some(t) => t.trim_start(),
            None if tail.is_empty() => tail,
            None => return Err(AuthHeaderError::Malformed),
        };
        let slot = match key {
            "mchid" => &mut mchid,
            "serial_no" => &mut serial_no,
            "nonce_str" => &mut nonce_str,
            "timestamp" => &mut timestamp,
            "signature" => &mut signature,
            _ => continue,
        };
        *slot = Some(value);
    }
    let need =
        |v: Option<String>, name: &'static str| v.filter(|s| !s.is_empty()).ok_or(AuthHeaderError::MissingParam(name));
    Ok(AuthParams {
        mchid: need(mchid, "mchid")?,
        serial_no: need(serial_no, "serial_no")?,
        nonce_str: need(nonce_str, "nonce_str")?,
        timestamp: need(timestamp, "timestamp")?,
        signature: need(signature, "signature")?,
    })
}

/// `METHOD\nrequest-target\ntimestamp\nnonce\nbody\n`, over the raw bytes as
/// received: the request target exactly as on the wire, the body unparsed.
pub fn request_message(method: &str, request_target: &str, timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(method.len() + request_target.len() + body.len() + 64);
    for part in [method.as_bytes(), request_target.as_bytes(), timestamp.as_bytes(), nonce.as_bytes(), body] {
        m.extend_from_slice(part);
        m.push(b'\n');
    }
    m
}

/// `timestamp\nnonce\nbody\n`: what responses and callbacks are signed over.
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(body.len() + 64);
    for part in [timestamp.as_bytes(), nonce.as_bytes(), body] {
        m.extend_from_slice(part);
        m.push(b'\n');
    }
    m
}

/// `appId\ntimeStamp\nnonceStr\npackage\n`: what a JSAPI `paySign` covers.
pub fn jsapi_pay_message(app_id: &str, time_stamp: &str, nonce_str: &str, package: &str) -> Vec<u8> {
    format!("{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n").into_bytes()
}

/// Builds an `Authorization` header value; used by Koudai's own tools
/// (benchmark, tests), never by the server.
#[allow(clippy::too_many_arguments)]
pub fn authorization_header(
    key: &crate::PrivateKey,
    mchid: &str,
    serial_no: &str,
    method: &str,
    request_target: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> Result<String, crate::keys::KeyError> {
    let ts = timestamp.to_string();
    let signature = key.sign(&request_message(method, request_target, &ts, nonce, body))?;
    Ok(format!(
        "{SIGNATURE_TYPE} mchid=\"{mchid}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{ts}\",serial_no=\"{serial_no}\""
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::test_key;
    use proptest::prelude::*;

    #[test]
    fn parses_every_sdk_ordering() {
        let python =
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="N",signature="S",timestamp="1",serial_no="AB""#;
        let axios = r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000001", serial_no="AB", timestamp="1", nonce_str="N", signature="S""#;
        let a = parse_authorization(python);
        assert_eq!(a, parse_authorization(axios));
        let a = a.unwrap();
        assert_eq!((a.mchid.as_str(), a.serial_no.as_str(), a.signature.as_str()), ("1900000001", "AB", "S"));
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(parse_authorization("Bearer x"), Err(AuthHeaderError::Scheme));
        assert_eq!(
            parse_authorization(r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="N",timestamp="1",serial_no="A""#),
            Err(AuthHeaderError::MissingParam("signature"))
        );
        assert_eq!(parse_authorization(r#"WECHATPAY2-SHA256-RSA2048 mchid=1"#), Err(AuthHeaderError::Malformed));
        assert_eq!(parse_authorization(r#"WECHATPAY2-SHA256-RSA2048mchid="1""#), Err(AuthHeaderError::Scheme));
    }

    #[test]
    fn messages_end_every_line_with_lf() {
        assert_eq!(request_message("GET", "/v3/certificates", "1", "n", b""), b"GET\n/v3/certificates\n1\nn\n\n");
        assert_eq!(response_message("1", "n", b""), b"1\nn\n\n");
        assert_eq!(
            jsapi_pay_message("wx2421b1c4370ec43b", "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242", "prepay_id=wx201410272009395522657a690389285100"),
            b"wx2421b1c4370ec43b\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\nprepay_id=wx201410272009395522657a690389285100\n"
        );
    }

    #[test]
    fn a_built_header_parses_and_verifies() {
        let key = test_key();
        let h = authorization_header(
            key,
            "1900000001",
            "5157F0",
            "POST",
            "/v3/pay/transactions/native",
            1_700_000_000,
            "abc",
            b"{}",
        )
        .unwrap();
        let p = parse_authorization(&h).unwrap();
        let msg = request_message("POST", "/v3/pay/transactions/native", &p.timestamp, &p.nonce_str, b"{}");
        assert!(key.public_key().verify(&msg, &p.signature));
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in ".{0,200}") {
            let _ = parse_authorization(&s);
            let _ = parse_authorization(&format!("WECHATPAY2-SHA256-RSA2048 {s}"));
        }
    }
}
