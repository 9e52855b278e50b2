//! Arbitrary bytes -> `wsfed::verify_wresult` (the whole WS-Federation `wresult` path: the XML parser, the
//! envelope rules, the ID index, the enveloped-signature checks, canonicalisation, re-parsing of the signed
//! bytes, the SAML 1.1 and SAML 2.0 assertion rules, the dateTime reader) and the identity helpers, once with a
//! verifier that accepts every signature — so that inputs reach the assertion rules behind the signature — and
//! once with one that accepts none. Never panics. Oracles: with no valid signature nothing is ever accepted;
//! what is accepted names this issuer, a non-empty assertion ID and subject, and a validity end to claim the
//! ID until.
#![no_main]

use edge_auth::core::oidc::jwks::{Alg, Jwk};
use edge_auth::core::ports::{CryptoError, SignatureVerifier};
use edge_auth::core::wsfed::identity::{email_of, groups_of, stable_subject};
use edge_auth::core::wsfed::{verify_wresult, Expected};
use edge_auth::core::x509::parse_certificate;
use libfuzzer_sys::fuzz_target;

struct Answer(bool);

impl SignatureVerifier for Answer {
    async fn verify(&self, _: Alg, _: &Jwk, _: &[u8], _: &[u8]) -> Result<bool, CryptoError> {
        Ok(self.0)
    }
}

const CERT: &str = include_str!("../../tests/fixtures/xml/dsig/rsa-cert.pem");
const ISSUER: &str = "http://adfs.contoso.example/adfs/services/trust";

fuzz_target!(init: edge_auth_fuzz::known::install(), |data: &[u8]| {
    edge_auth_fuzz::known::guard(|| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        let keys = [parse_certificate(CERT).expect("the fixture certificate").key];
        let expected = Expected {
            issuer: ISSUER,
            realm: "https://app.example/auth/wsfed/adfs",
            reply_url: "https://app.example/auth/wsfed/adfs",
            keys: &keys,
            now: 1_796_205_630, // 2026-12-02T10:00:30Z, inside the seeds' windows
            leeway: 60,
        };
        let refused = pollster::block_on(verify_wresult(text, &expected, &Answer(false)));
        assert!(refused.is_err(), "accepted without a valid signature: {refused:?}");
        if let Ok(identity) = pollster::block_on(verify_wresult(text, &expected, &Answer(true))) {
            assert!(!identity.assertion_id.is_empty() && !identity.name_identifier.is_empty());
            assert_eq!(identity.issuer, ISSUER);
            assert!(identity.valid_until > expected.now);
            if let Ok(subject) = stable_subject(&identity) {
                assert!(!subject.trim().is_empty());
            }
            let _ = email_of(&identity, None);
            let _ = groups_of(&identity);
        }
    });
});
