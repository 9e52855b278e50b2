//! The X.509 certificates SAML 2.0 and WS-Federation IdPs publish (in metadata, or configured inline as
//! `idp_certificates` / `certificates`): only their public key and validity are used. A certificate is a
//! container for the IdP's key, configured by the operator or taken from signed-for metadata; its issuer chain,
//! extensions and self-signature are not checked (as in every SAML SP: trust comes from the configuration, never
//! from a `KeyInfo` in a message). The key goes through the same rules as a JWKS key
//! ([`rsa_public_key`], [`ec_public_key`]: RSA < 2048 bits refused) and is verified with WebCrypto like one.

use der::asn1::ObjectIdentifier;
use der::Decode;
use thiserror::Error;
use x509_cert::Certificate;

use crate::core::b64;
use crate::core::oidc::jwks::{ec_public_key, rsa_public_key, EcCurve, Jwk, KeySkip};

/// The largest certificate accepted (a real one is 1–2 KB; a 16384-bit RSA key with long names stays below).
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// An IdP certificate, read.
#[derive(Debug, Clone)]
pub struct IdpCertificate {
    /// Its public key, ready for [`crate::core::ports::SignatureVerifier`].
    pub key: Jwk,
    /// Its validity, in seconds since the epoch (reported by `edge-auth-check`; an expired IdP certificate is
    /// still the key the operator configured, as SAML deployments treat it).
    pub not_before: u64,
    pub not_after: u64,
    /// The subject, as RFC 4514 text (for the operator).
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertificateError {
    #[error("not base64 or PEM")]
    Encoding,
    #[error("larger than {MAX_CERTIFICATE_BYTES} bytes")]
    TooLarge,
    #[error("not an X.509 certificate: {0}")]
    Malformed(String),
    #[error("its key is not RSA or EC (P-256, P-384)")]
    UnsupportedKey,
    #[error("{0}")]
    Key(KeySkip),
}

/// Read a certificate given as base64 DER (as in metadata's `ds:X509Certificate`: whitespace allowed) or as PEM
/// (`-----BEGIN CERTIFICATE-----`).
pub fn parse_certificate(text: &str) -> Result<IdpCertificate, CertificateError> {
    let text = text.trim();
    let body = match text.strip_prefix("-----BEGIN CERTIFICATE-----") {
        Some(rest) => rest.trim_end().strip_suffix("-----END CERTIFICATE-----").ok_or(CertificateError::Encoding)?,
        None => text,
    };
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() > MAX_CERTIFICATE_BYTES.div_ceil(3) * 4 {
        return Err(CertificateError::TooLarge);
    }
    let der = b64::decode_lenient(&compact).ok_or(CertificateError::Encoding)?;
    certificate_from_der(&der)
}

/// Read a DER certificate.
pub fn certificate_from_der(der: &[u8]) -> Result<IdpCertificate, CertificateError> {
    if der.len() > MAX_CERTIFICATE_BYTES {
        return Err(CertificateError::TooLarge);
    }
    let cert = Certificate::from_der(der).map_err(|e| CertificateError::Malformed(e.to_string()))?;
    let tbs = &cert.tbs_certificate;
    let spki = &tbs.subject_public_key_info;
    let key_bits = spki.subject_public_key.as_bytes().ok_or_else(|| CertificateError::Malformed("key bits".into()))?;
    let (material, public_jwk_json) = if spki.algorithm.oid == RSA_ENCRYPTION {
        let key = RsaPublicKey::from_der(key_bits).map_err(|e| CertificateError::Malformed(e.to_string()))?;
        rsa_public_key(key.modulus.as_bytes().to_vec(), key.public_exponent.as_bytes().to_vec())
            .map_err(CertificateError::Key)?
    } else if spki.algorithm.oid == EC_PUBLIC_KEY {
        let curve_oid = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
            .ok_or(CertificateError::UnsupportedKey)?;
        let curve = match curve_oid {
            oid if oid == P256 => EcCurve::P256,
            oid if oid == P384 => EcCurve::P384,
            _ => return Err(CertificateError::UnsupportedKey),
        };
        // An uncompressed point: 0x04 ‖ x ‖ y.
        let len = curve.coordinate_len();
        let point = key_bits
            .strip_prefix(&[0x04])
            .filter(|p| p.len() == 2 * len)
            .ok_or(CertificateError::Key(KeySkip::EcMalformed))?;
        let (x, y) = point.split_at(len);
        ec_public_key(curve, x.to_vec(), y.to_vec()).map_err(CertificateError::Key)?
    } else {
        return Err(CertificateError::UnsupportedKey);
    };
    let seconds = |t: &x509_cert::time::Time| t.to_unix_duration().as_secs();
    Ok(IdpCertificate {
        key: Jwk { kid: None, alg: None, material, public_jwk_json },
        not_before: seconds(&tbs.validity.not_before),
        not_after: seconds(&tbs.validity.not_after),
        subject: tbs.subject.to_string(),
    })
}

/// PKCS #1 `RSAPublicKey`, the content of an RSA certificate's key bits.
#[derive(der::Sequence)]
struct RsaPublicKey<'a> {
    modulus: der::asn1::UintRef<'a>,
    public_exponent: der::asn1::UintRef<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oidc::jwks::KeyMaterial;

    /// A self-signed RSA-2048 certificate (openssl req -x509 -newkey rsa:2048 -subj /CN=idp.example -days 3650).
    const RSA_2048: &str = include_str!("../../tests/fixtures/x509/rsa2048.pem");
    /// The same for an EC P-256 key, and two refused: RSA-1024 (too weak) and EC P-521 (not supported).
    const EC_P256: &str = include_str!("../../tests/fixtures/x509/ec-p256.pem");
    const RSA_1024: &str = include_str!("../../tests/fixtures/x509/rsa1024.pem");
    const EC_P521: &str = include_str!("../../tests/fixtures/x509/ec-p521.pem");

    #[test]
    fn rsa_and_ec_certificates_give_their_key_as_pem_or_bare_base64() {
        let rsa = parse_certificate(RSA_2048).unwrap();
        assert!(matches!(&rsa.key.material, KeyMaterial::Rsa { n, e } if n.len() == 256 && e == &[1, 0, 1]));
        assert!(rsa.key.public_jwk_json.starts_with(r#"{"e":"AQAB","kty":"RSA","n":""#), "{}", rsa.key.public_jwk_json);
        assert_eq!(rsa.subject, "CN=idp.example");
        assert!(rsa.not_after > rsa.not_before);
        // Metadata carries the base64 body alone, wrapped over lines.
        let body: String = RSA_2048.lines().filter(|l| !l.starts_with("-----")).collect::<Vec<_>>().join("\n  ");
        assert_eq!(parse_certificate(&body).unwrap().key.public_jwk_json, rsa.key.public_jwk_json);
        let ec = parse_certificate(EC_P256).unwrap();
        assert!(
            matches!(&ec.key.material, KeyMaterial::Ec { curve: EcCurve::P256, x, y } if x.len() == 32 && y.len() == 32)
        );
    }

    #[test]
    fn weak_or_unsupported_keys_and_non_certificates_are_refused() {
        assert_eq!(parse_certificate(RSA_1024).unwrap_err(), CertificateError::Key(KeySkip::RsaTooShort(1024)));
        assert_eq!(parse_certificate(EC_P521).unwrap_err(), CertificateError::UnsupportedKey);
        assert_eq!(parse_certificate("not base64 !").unwrap_err(), CertificateError::Encoding);
        assert!(matches!(parse_certificate("AAAA").unwrap_err(), CertificateError::Malformed(_)));
        assert_eq!(parse_certificate("-----BEGIN CERTIFICATE-----\nAAAA").unwrap_err(), CertificateError::Encoding);
        assert_eq!(parse_certificate(&"A".repeat(40_000)).unwrap_err(), CertificateError::TooLarge);
    }
}
