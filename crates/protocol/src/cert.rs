//! X.509 certificates: the platform's self-signed certificate (certificate
//! mode), merchant API certificates issued by the platform, and reading the
//! certificates merchants bring.

use std::str::FromStr;
use std::time::Duration;

use der::asn1::UtcTime;
use der::{DecodePem, EncodePem};
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::RsaPublicKey;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use crate::keys::{PrivateKey, PublicKey};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("not a PEM X.509 certificate")]
    Parse,
    #[error("the certificate's key is not an RSA key")]
    NotRsa,
    #[error("could not build the certificate: {0}")]
    Build(String),
}

/// What Koudai needs from a certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// Upper-case hex of the serial number, as `serial_no` fields carry it.
    pub serial_hex: String,
    pub public_key: PublicKey,
    pub not_before_s: i64,
    pub not_after_s: i64,
    pub pem: String,
}

/// Reads a PEM certificate.
pub fn parse_pem(pem: &str) -> Result<CertInfo, CertError> {
    let cert = Certificate::from_pem(pem.trim().as_bytes()).map_err(|_| CertError::Parse)?;
    let tbs = &cert.tbs_certificate;
    let spki_der = der::Encode::to_der(&tbs.subject_public_key_info).map_err(|_| CertError::Parse)?;
    let rsa = RsaPublicKey::from_public_key_der(&spki_der).map_err(|_| CertError::NotRsa)?;
    let secs = |t: Time| i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    Ok(CertInfo {
        serial_hex: koudai_domain::ids::upper_hex(tbs.serial_number.as_bytes()),
        public_key: PublicKey::from_rsa(rsa),
        not_before_s: secs(tbs.validity.not_before),
        not_after_s: secs(tbs.validity.not_after),
        pem: pem.trim().to_owned() + "\n",
    })
}

fn utc(unix_s: i64) -> Result<Time, CertError> {
    let d = Duration::from_secs(u64::try_from(unix_s).map_err(|_| CertError::Build("time before 1970".into()))?);
    Ok(Time::UtcTime(UtcTime::from_unix_duration(d).map_err(|e| CertError::Build(e.to_string()))?))
}

/// What a certificate should say.
pub struct CertRequest<'a> {
    /// A distinguished name such as `CN=Koudai Platform,O=Koudai,C=CN`.
    pub subject: &'a str,
    pub subject_key: &'a PublicKey,
    pub serial: &'a [u8],
    pub not_before_s: i64,
    pub not_after_s: i64,
}

/// Issues a certificate signed by `issuer_key`. With `issuer_name == None`
/// the certificate is self-signed (`subject_key` must then be `issuer_key`'s).
pub fn issue(req: &CertRequest<'_>, issuer_key: &PrivateKey, issuer_name: Option<&str>) -> Result<CertInfo, CertError> {
    let build = |e: &dyn std::fmt::Display| CertError::Build(e.to_string());
    let subject = Name::from_str(req.subject).map_err(|e| build(&e))?;
    let profile = match issuer_name {
        None => Profile::Root,
        Some(n) => Profile::Leaf {
            issuer: Name::from_str(n).map_err(|e| build(&e))?,
            enable_key_agreement: false,
            enable_key_encipherment: true,
        },
    };
    let spki_der = req.subject_key.rsa().to_public_key_der().map_err(|e| build(&e))?;
    let spki = SubjectPublicKeyInfoOwned::try_from(spki_der.as_bytes()).map_err(|e| build(&e))?;
    let validity = Validity { not_before: utc(req.not_before_s)?, not_after: utc(req.not_after_s)? };
    let serial = SerialNumber::new(req.serial).map_err(|e| build(&e))?;
    let builder = CertificateBuilder::new(profile, serial, validity, subject, spki, issuer_key.signing_key())
        .map_err(|e| build(&e))?;
    let cert = builder.build_with_rng::<rsa::pkcs1v15::Signature>(&mut rand::thread_rng()).map_err(|e| build(&e))?;
    let pem = cert.to_pem(der::pem::LineEnding::LF).map_err(|e| build(&e))?;
    parse_pem(&pem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::test_key;

    #[test]
    fn a_self_signed_certificate_reads_back() {
        let key = test_key();
        let serial = koudai_domain::ids::certificate_serial(&[0xC3; 20]);
        let info = issue(
            &CertRequest {
                subject: "CN=Koudai Platform,O=Koudai,C=CN",
                subject_key: &key.public_key(),
                serial: &serial,
                not_before_s: 1_700_000_000,
                not_after_s: 1_900_000_000,
            },
            key,
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.serial_hex, koudai_domain::ids::upper_hex(&serial));
        assert_eq!(info.serial_hex.len(), 40);
        assert_eq!(info.public_key, key.public_key());
        assert_eq!((info.not_before_s, info.not_after_s), (1_700_000_000, 1_900_000_000));
        assert!(info.pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let again = parse_pem(&info.pem).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.serial_hex, info.serial_hex);
        assert!(parse_pem("nope").is_err());
    }
}
