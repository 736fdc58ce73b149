//! X.509 certificates: the platform's self-signed certificate (certificate
//! mode), merchant API certificates issued by the platform, and reading the
//! certificates merchants bring.

use rcgen::string::{Ia5String, PrintableString};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, PublicKeyData,
    SerialNumber, SignatureAlgorithm, SigningKey, PKCS_RSA_SHA256,
};
use time::OffsetDateTime;

use crate::crypto::{self, RsaPrivateKey, RsaPublicKey};
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

/// Reads a PEM certificate (one `BEGIN CERTIFICATE` block).
pub fn parse_pem(pem: &str) -> Result<CertInfo, CertError> {
    let der = match crypto::pem_decode(pem) {
        Some((label, der)) if label == "CERTIFICATE" => der,
        _ => return Err(CertError::Parse),
    };
    let (rest, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| CertError::Parse)?;
    if !rest.is_empty() {
        return Err(CertError::Parse);
    }
    let public_key = PublicKey::from_der(cert.public_key().raw).map_err(|_| CertError::NotRsa)?;
    Ok(CertInfo {
        serial_hex: koudai_domain::ids::upper_hex(cert.tbs_certificate.raw_serial()),
        public_key,
        not_before_s: cert.validity().not_before.timestamp(),
        not_after_s: cert.validity().not_after.timestamp(),
        pem: pem.trim().to_owned() + "\n",
    })
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

/// Issues a certificate signed by `issuer_key` with sha256WithRSAEncryption.
/// With `issuer_name == None` the certificate is self-signed (`subject_key`
/// must then be `issuer_key`'s) and a CA certificate; otherwise it is an
/// end-entity certificate naming `issuer_name` as its issuer.
pub fn issue(req: &CertRequest<'_>, issuer_key: &PrivateKey, issuer_name: Option<&str>) -> Result<CertInfo, CertError> {
    if req.serial.is_empty() || req.serial.len() > 20 {
        return Err(CertError::Build("the serial number must be 1 to 20 bytes".into()));
    }
    let subject = Subject(req.subject_key.rsa());
    let signer = Signer(issuer_key.rsa());

    let mut params = CertificateParams::default();
    params.distinguished_name = parse_dn(req.subject)?;
    params.serial_number = Some(SerialNumber::from_slice(req.serial));
    params.not_before = unix_time(req.not_before_s)?;
    params.not_after = unix_time(req.not_after_s)?;
    params.key_identifier_method = key_id(&subject);

    let cert = match issuer_name {
        None => {
            params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.signed_by(&subject, &Issuer::from_params(&params, &signer))
        }
        Some(name) => {
            params.is_ca = IsCa::ExplicitNoCa;
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
                KeyUsagePurpose::KeyEncipherment,
            ];
            params.use_authority_key_identifier_extension = true;
            let mut issuer = CertificateParams::default();
            issuer.distinguished_name = parse_dn(name)?;
            issuer.key_identifier_method = key_id(&signer);
            params.signed_by(&subject, &Issuer::new(issuer, &signer))
        }
    }
    .map_err(|e| CertError::Build(e.to_string()))?;

    let info = parse_pem(&crypto::pem_encode("CERTIFICATE", cert.der()))?;
    if info.serial_hex != koudai_domain::ids::upper_hex(req.serial) {
        return Err(CertError::Build("the serial number must be a positive DER integer without leading zeros".into()));
    }
    Ok(info)
}

/// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits.
fn key_id(key: &impl PublicKeyData) -> KeyIdMethod {
    KeyIdMethod::PreSpecified(crypto::sha1(key.der_bytes()).to_vec())
}

fn unix_time(unix_s: i64) -> Result<OffsetDateTime, CertError> {
    if unix_s < 0 {
        return Err(CertError::Build("time before 1970".into()));
    }
    OffsetDateTime::from_unix_timestamp(unix_s).map_err(|e| CertError::Build(e.to_string()))
}

/// The subject's public key, as rcgen writes it into the certificate.
struct Subject<'a>(&'a RsaPublicKey);

impl PublicKeyData for Subject<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0.pkcs1_der()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_RSA_SHA256
    }
}

/// The issuer's key: rcgen signs the TBSCertificate through the facade.
struct Signer<'a>(&'a RsaPrivateKey);

impl PublicKeyData for Signer<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0.public_key().pkcs1_der()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_RSA_SHA256
    }
}

impl SigningKey for Signer<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0.sign_pkcs1_sha256(msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// Parses an RFC 4514 distinguished name (`CN=x,OU=y,O=z,C=CN`). As in
/// RFC 4514 the string lists the most specific RDN first, so the encoded
/// sequence is reversed (`C` first). Single-valued RDNs only, each
/// attribute type at most once.
fn parse_dn(dn: &str) -> Result<DistinguishedName, CertError> {
    let bad = |why: &str| CertError::Build(format!("distinguished name {dn:?}: {why}"));
    let mut rdns = Vec::new();
    for part in split_unescaped(dn, b',').map_err(&bad)? {
        if split_unescaped(part, b'+').map_err(&bad)?.len() != 1 {
            return Err(bad("multi-valued RDNs are not supported"));
        }
        let (key, value) = part.split_once('=').ok_or_else(|| bad("expected TYPE=value"))?;
        let value = unescape(value).map_err(&bad)?;
        rdns.push((dn_type(key.trim()).ok_or_else(|| bad("unknown attribute type"))?, value));
    }
    let mut name = DistinguishedName::new();
    for (ty, value) in rdns.into_iter().rev() {
        if name.get(&ty).is_some() {
            return Err(bad("an attribute type appears twice"));
        }
        let value = match &ty {
            DnType::CountryName => {
                DnValue::PrintableString(PrintableString::try_from(value).map_err(|e| bad(&e.to_string()))?)
            }
            DnType::CustomDnType(oid) if oid.as_slice() == OID_SERIAL_NUMBER => {
                DnValue::PrintableString(PrintableString::try_from(value).map_err(|e| bad(&e.to_string()))?)
            }
            DnType::CustomDnType(oid) if oid.as_slice() == OID_DOMAIN_COMPONENT => {
                DnValue::Ia5String(Ia5String::try_from(value).map_err(|e| bad(&e.to_string()))?)
            }
            _ => DnValue::Utf8String(value),
        };
        name.push(ty, value);
    }
    if name.iter().next().is_none() {
        return Err(bad("empty"));
    }
    Ok(name)
}

const OID_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
const OID_DOMAIN_COMPONENT: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 25];

fn dn_type(key: &str) -> Option<DnType> {
    Some(match key.to_ascii_uppercase().as_str() {
        "CN" => DnType::CommonName,
        "C" => DnType::CountryName,
        "O" => DnType::OrganizationName,
        "OU" => DnType::OrganizationalUnitName,
        "L" => DnType::LocalityName,
        "ST" => DnType::StateOrProvinceName,
        "STREET" => DnType::CustomDnType(vec![2, 5, 4, 9]),
        "SERIALNUMBER" => DnType::CustomDnType(OID_SERIAL_NUMBER.to_vec()),
        "DC" => DnType::CustomDnType(OID_DOMAIN_COMPONENT.to_vec()),
        "UID" => DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
        dotted if dotted.starts_with(|c: char| c.is_ascii_digit()) => {
            let arcs = dotted.split('.').map(|a| a.parse::<u64>().ok()).collect::<Option<Vec<u64>>>()?;
            if arcs.len() < 2 {
                return None;
            }
            DnType::from_oid(&arcs)
        }
        _ => return None,
    })
}

/// Splits `s` at every `sep` not escaped by a backslash.
fn split_unescaped(s: &str, sep: u8) -> Result<Vec<&str>, &'static str> {
    let bytes = s.as_bytes();
    let (mut parts, mut start, mut i) = (Vec::new(), 0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == sep => {
                parts.push(&s[start..i]);
                start = i + 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    if i > bytes.len() {
        return Err("dangling backslash");
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// Undoes RFC 4514 escaping: `\,` and friends, and `\XX` hex pairs.
fn unescape(value: &str) -> Result<String, &'static str> {
    if value.starts_with('#') {
        return Err("hex-encoded values are not supported");
    }
    let bytes = value.as_bytes();
    let (mut out, mut i) = (Vec::with_capacity(bytes.len()), 0);
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
        match (hex(i + 1).zip(hex(i + 2)), bytes.get(i + 1)) {
            (Some((h, l)), _) => {
                out.push(u8::try_from(h * 16 + l).map_err(|_| "bad escape")?);
                i += 3;
            }
            (None, Some(&c)) => {
                out.push(c);
                i += 2;
            }
            (None, None) => return Err("dangling backslash"),
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::{test_key, PKCS1_KEY};
    use x509_parser::certificate::X509Certificate;
    use x509_parser::extensions::ParsedExtension;

    const PLATFORM_DN: &str = "CN=Koudai Platform,OU=Koudai Sandbox,O=Koudai,C=CN";

    /// Parses `pem` and hands the certificate to `check`.
    fn with_cert<T>(pem: &str, check: impl FnOnce(&X509Certificate<'_>) -> T) -> T {
        let der = crypto::pem_decode(pem).map(|(_, der)| der).unwrap_or_default();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        check(&cert)
    }

    /// Whether `cert` carries a sha256WithRSAEncryption signature by `key`.
    fn signed_by(cert: &X509Certificate<'_>, key: &PublicKey) -> bool {
        cert.signature_algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.11"
            && key.rsa().verify_pkcs1_sha256(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
    }

    /// (subject key id, authority key id) extensions.
    fn key_ids(cert: &X509Certificate<'_>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let (mut ski, mut aki) = (None, None);
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => ski = Some(id.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(a) => aki = a.key_identifier.as_ref().map(|id| id.0.to_vec()),
                _ => {}
            }
        }
        (ski, aki)
    }

    fn platform_certificate() -> CertInfo {
        let key = test_key();
        let serial = koudai_domain::ids::certificate_serial(&[0xC3; 20]);
        let req = CertRequest {
            subject: PLATFORM_DN,
            subject_key: &key.public_key(),
            serial: &serial,
            not_before_s: 1_700_000_000,
            not_after_s: 1_900_000_000,
        };
        issue(&req, key, None).unwrap()
    }

    #[test]
    fn a_self_signed_certificate_reads_back() {
        let key = test_key();
        let serial = koudai_domain::ids::certificate_serial(&[0xC3; 20]);
        let info = platform_certificate();
        assert_eq!(info.serial_hex, koudai_domain::ids::upper_hex(&serial));
        assert_eq!(info.serial_hex.len(), 40);
        assert_eq!(info.public_key, key.public_key());
        assert_eq!((info.not_before_s, info.not_after_s), (1_700_000_000, 1_900_000_000));
        assert!(info.pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(info.pem.ends_with("-----END CERTIFICATE-----\n"));
        let again = parse_pem(&info.pem).unwrap();
        assert_eq!(again.serial_hex, info.serial_hex);
        assert!(parse_pem("nope").is_err());

        with_cert(&info.pem, |cert| {
            // RFC 4514 order reversed on the wire, as before: C first.
            assert_eq!(cert.subject().to_string(), "C=CN, O=Koudai, OU=Koudai Sandbox, CN=Koudai Platform");
            assert_eq!(cert.issuer().as_raw(), cert.subject().as_raw());
            assert!(signed_by(cert, &key.public_key()));
            assert!(cert.basic_constraints().ok().flatten().is_some_and(|bc| bc.value.ca));
            assert!(cert.key_usage().ok().flatten().is_some_and(|ku| ku.value.key_cert_sign()));
            let ski = crypto::sha1(key.public_key().rsa().pkcs1_der()).to_vec();
            assert_eq!(key_ids(cert), (Some(ski), None));
        });
    }

    #[test]
    fn a_leaf_certificate_names_and_is_signed_by_its_issuer() {
        let platform = test_key();
        let merchant = PrivateKey::from_pem(PKCS1_KEY).unwrap();
        let serial = koudai_domain::ids::certificate_serial(&[0x5A; 20]);
        let req = CertRequest {
            subject: "CN=1900000001,OU=Tea House 茶馆,O=Koudai Merchant,C=CN",
            subject_key: &merchant.public_key(),
            serial: &serial,
            not_before_s: 1_700_000_000,
            // Past 2049: GeneralizedTime rather than UTCTime.
            not_after_s: 2_600_000_000,
        };
        let info = issue(&req, platform, Some(PLATFORM_DN)).unwrap();
        assert_eq!(info.serial_hex, koudai_domain::ids::upper_hex(&serial));
        assert_eq!(info.public_key, merchant.public_key());
        assert_eq!((info.not_before_s, info.not_after_s), (1_700_000_000, 2_600_000_000));

        let platform_cert = platform_certificate();
        let platform_subject = with_cert(&platform_cert.pem, |c| c.subject().as_raw().to_vec());
        with_cert(&info.pem, |cert| {
            assert_eq!(cert.subject().to_string(), "C=CN, O=Koudai Merchant, OU=Tea House 茶馆, CN=1900000001");
            assert_eq!(cert.issuer().as_raw(), platform_subject.as_slice());
            assert!(signed_by(cert, &platform.public_key()));
            assert!(!signed_by(cert, &merchant.public_key()));
            assert!(cert.basic_constraints().ok().flatten().is_some_and(|bc| !bc.value.ca));
            let ku = cert.key_usage().ok().flatten().map(|ku| ku.value.flags);
            // digitalSignature, nonRepudiation, keyEncipherment.
            assert_eq!(ku, Some(0b111));
            let ski = crypto::sha1(merchant.public_key().rsa().pkcs1_der()).to_vec();
            let aki = crypto::sha1(platform.public_key().rsa().pkcs1_der()).to_vec();
            assert_eq!(key_ids(cert), (Some(ski), Some(aki)));
        });
    }

    /// `openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=x -days 1`.
    const OPENSSL_CERT: &str = r"-----BEGIN CERTIFICATE-----
MIIC+TCCAeGgAwIBAgIUYcU0pho4b5iFDC2sPybsiS9cq5IwDQYJKoZIhvcNAQEL
BQAwDDEKMAgGA1UEAwwBeDAeFw0yNjExMjUxNTQ2MDdaFw0yNjExMjYxNTQ2MDda
MAwxCjAIBgNVBAMMAXgwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQCk
h7lmvrIwTOf8YxBqqFBTEP8ksEBY2nfh4NA2z5+15daXiy4yfBUSt5Q/R32ilLD8
PcrA9R4dH+SusGwlN+wrtZ7YY4FNWAnLzjBSPEVqX8861ZccsEfjABOaFziw+dYV
BV7zoJMJTlOJuuBue8EtCj6ouM5NdrcefvKiFbpnXi429J+tOzy07t2cqUzPsKfo
fZ6M2FM2y3aDVZAAjnBomCzkr4l95+OKyRcwPiW3/X599WY/ItLWBdypJ59VjRZ+
nggwKbzk9qP/8++TCLpnMfUmA4OsBvHsApjMNDy9QQF2sGxVu0AGSTy7XFkVvCdH
QEGxLR+64wkrIcfqFJS7AgMBAAGjUzBRMB0GA1UdDgQWBBTfWJRqslaqpW8K7xOt
87oE5SjTijAfBgNVHSMEGDAWgBTfWJRqslaqpW8K7xOt87oE5SjTijAPBgNVHRMB
Af8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4IBAQBjjO5AQY5DyzJmNR58yfsTjSiQ
JH2g82vubNWYW/pgH6LZRznz4H8PHrfAle4PXx95OPGEFextdMigOYWDEXR5S8Rc
8ffK5zksjldHEmgCvgKfdB+vH9sYdPpgqgzEfR5kt0iYeXy+UMo7OBWUphn2dPET
P4F0kNTEGeaKjh5qhVSz8Dxu3k4a7dx8i3SFXgWMs2Oda4kEZe5k7ClbD6efH0dd
nwRlhLJ+gZtpcagNeaRbbjXGxxOiCoiYx86ZnRB3PjCAGalT1hNdMGSmoEzyrH/M
eoB5laMFcBD+75tnn3gaiz4oqnO6NW5hByjMvo2D8M3gql+xl6Iphj0HynBb
-----END CERTIFICATE-----
";
    /// `openssl x509 -noout -pubkey` of OPENSSL_CERT.
    const OPENSSL_CERT_KEY: &str = r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApIe5Zr6yMEzn/GMQaqhQ
UxD/JLBAWNp34eDQNs+fteXWl4suMnwVEreUP0d9opSw/D3KwPUeHR/krrBsJTfs
K7We2GOBTVgJy84wUjxFal/POtWXHLBH4wATmhc4sPnWFQVe86CTCU5TibrgbnvB
LQo+qLjOTXa3Hn7yohW6Z14uNvSfrTs8tO7dnKlMz7Cn6H2ejNhTNst2g1WQAI5w
aJgs5K+JfefjiskXMD4lt/1+ffVmPyLS1gXcqSefVY0Wfp4IMCm85Paj//Pvkwi6
ZzH1JgODrAbx7AKYzDQ8vUEBdrBsVbtABkk8u1xZFbwnR0BBsS0fuuMJKyHH6hSU
uwIDAQAB
-----END PUBLIC KEY-----
";

    #[test]
    fn openssl_certificates_read() {
        let info = parse_pem(OPENSSL_CERT).unwrap();
        assert_eq!(info.serial_hex, "61C534A61A386F98850C2DAC3F26EC892F5CAB92");
        assert_eq!((info.not_before_s, info.not_after_s), (1_795_621_567, 1_795_707_967));
        assert_eq!(Some(info.public_key), PublicKey::from_pem(OPENSSL_CERT_KEY).ok());
        assert_eq!(info.pem, OPENSSL_CERT);
        // Surrounding whitespace and CRLF are tolerated; the PEM is kept trimmed.
        let crlf = format!("\r\n  {}\r\n", OPENSSL_CERT.replace('\n', "\r\n"));
        assert_eq!(
            parse_pem(&crlf).map(|i| i.serial_hex).ok(),
            Some("61C534A61A386F98850C2DAC3F26EC892F5CAB92".into())
        );
        // A key is not a certificate.
        assert!(matches!(parse_pem(OPENSSL_CERT_KEY), Err(CertError::Parse)));
    }

    #[test]
    fn bad_requests_are_refused() {
        let key = test_key();
        let public = key.public_key();
        let req = |subject, serial| CertRequest {
            subject,
            subject_key: &public,
            serial,
            not_before_s: 1_700_000_000,
            not_after_s: 1_900_000_000,
        };
        let build_err = |r: Result<CertInfo, CertError>| matches!(r, Err(CertError::Build(_)));
        assert!(build_err(issue(&req("CN=x", &[]), key, None)));
        assert!(build_err(issue(&req("CN=x", &[1; 21]), key, None)));
        assert!(build_err(issue(&req("CN=x", &[0, 1, 2]), key, None)), "leading zero would change the serial");
        assert!(build_err(issue(&req("CN=x", &[0x80, 1]), key, None)), "negative serial");
        assert!(build_err(issue(&req("garbage", &[1]), key, None)));
        assert!(build_err(issue(&req("CN=a+O=b", &[1]), key, None)));
        assert!(build_err(issue(&req("CN=a,CN=b", &[1]), key, None)));
        assert!(build_err(issue(&req("XX=a", &[1]), key, None)));
        assert!(build_err(issue(&req("C=中国", &[1]), key, None)));
        assert!(build_err(issue(&req("CN=x", &[1]), key, Some(""))));
    }

    #[test]
    fn distinguished_names_unescape() {
        let dn = parse_dn(r"CN=a\,b\2Bc,2.5.4.10=Org,DC=example").unwrap();
        let entries: Vec<_> = dn.iter().map(|(ty, v)| (ty.clone(), v.clone())).collect();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2], (DnType::CommonName, DnValue::Utf8String("a,b+c".into())));
        assert_eq!(entries[1], (DnType::OrganizationName, DnValue::Utf8String("Org".into())));
        assert!(matches!(&entries[0], (DnType::CustomDnType(_), DnValue::Ia5String(_))));
        assert!(parse_dn(r"CN=a\").is_err());
    }
}
