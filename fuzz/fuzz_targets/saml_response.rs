//! Arbitrary bytes -> `saml::verify_response` (the whole SAML 2.0 response path: the XML parser, the ID index,
//! the enveloped-signature checks, canonicalisation, re-parsing of the signed bytes, the XML Encryption reader,
//! the profile rules, the dateTime reader), once with a verifier that accepts every signature — so that inputs
//! reach the profile rules behind the signature — and once with one that accepts none. SHA-1 is allowed (as
//! `allow_sha1` does), so the `rsa-sha1` and `sha1` paths are reached too. Never panics. Oracles: with no valid
//! signature nothing is ever accepted; what is accepted was read from exactly one Assertion that answers
//! this request (its ID and name non-empty, a validity end to claim it until).
#![no_main]

use edge_auth::core::oidc::jwks::{Alg, Jwk};
use edge_auth::core::ports::{CryptoError, KeyUnwrapper, OaepHash, SignatureVerifier, UnwrapError};
use edge_auth::core::saml::{verify_response, Expected};
use edge_auth::core::x509::parse_certificate;
use edge_auth::core::xml::dsig::Sha1;
use edge_auth::core::xml::xenc::DecryptionKey;
use libfuzzer_sys::fuzz_target;

struct Answer(bool);

impl SignatureVerifier for Answer {
    async fn verify(&self, _: Alg, _: &Jwk, _: &[u8], _: &[u8]) -> Result<bool, CryptoError> {
        Ok(self.0)
    }

    async fn verify_rsa_sha1(&self, _: &Jwk, _: &[u8], _: &[u8]) -> Result<bool, CryptoError> {
        Ok(self.0)
    }
}

// A decryption key is configured, so EncryptedAssertions reach the XML Encryption reader (src/core/xml/xenc.rs);
// the unwrapper answers a fixed AES-256 key when signatures are accepted (the AES-GCM tag then refuses what the
// fuzzer wrote) and a wrong-key refusal otherwise.
impl KeyUnwrapper for Answer {
    async fn rsa_oaep_decrypt(&self, _: &[u8], _: OaepHash, _: &[u8]) -> Result<Vec<u8>, UnwrapError> {
        if self.0 {
            Ok(vec![7; 32])
        } else {
            Err(UnwrapError::Decrypt)
        }
    }
}

const CERT: &str = include_str!("../../tests/fixtures/xml/dsig/rsa-cert.pem");

fuzz_target!(init: edge_auth_fuzz::known::install(), |data: &[u8]| {
    edge_auth_fuzz::known::guard(|| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        let keys = [parse_certificate(CERT).expect("the fixture certificate").key];
        let decryption_key = DecryptionKey::from_der(vec![0x30]);
        let expected = Expected {
            idp_entity_id: "https://idp.example/",
            sp_entity_id: "https://sp.example/auth/saml/acme/metadata",
            acs_url: "https://sp.example/auth/saml/acme/acs",
            request_id: "_req1",
            keys: &keys,
            now: 1_796_205_630, // 2026-12-02T10:00:30Z, inside the seeds' windows
            leeway: 60,
            decryption_key: Some(&decryption_key),
            sha1: Sha1::Allowed,
        };
        let refused = pollster::block_on(verify_response(text, &expected, &Answer(false)));
        assert!(refused.is_err(), "accepted without a valid signature: {refused:?}");
        if let Ok(identity) = pollster::block_on(verify_response(text, &expected, &Answer(true))) {
            assert!(!identity.assertion_id.is_empty() && !identity.name_id.is_empty());
            assert!(identity.valid_until > 0);
        }
    });
});
