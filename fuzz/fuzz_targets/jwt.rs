//! Arbitrary text -> `UntrustedJws::parse` (then key selection and `id_token::verify` with a verifier that
//! accepts, so the claims of a well-formed token are checked); the same as a back-channel logout token
//! (`parse_typed`); arbitrary bytes -> `validate_claims` and `validate_logout_claims`.
#![no_main]

use edge_auth::core::oidc::id_token::{self, validate_claims, Expectations};
use edge_auth::core::oidc::jwks::{parse_jwks, select_key, Alg, JwkSet, KeySelection};
use edge_auth::core::oidc::jws::{TokenType, UntrustedJws};
use edge_auth::core::oidc::logout_token::validate_logout_claims;
use edge_auth_fuzz::fixtures::{realistic_jwks, ACME_ISSUER, NOW};
use edge_auth_fuzz::flow::oracle::model::key_fits;
use edge_auth_fuzz::flow::{DEFAULT_ACCESS_TOKEN, DEFAULT_CODE};
use edge_auth_fuzz::platform::FakePlatform;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The nonce the seeds use (the fixture transaction's).
pub const NONCE: &str = "Tz8yX1wV2uS3rQ4pO5nM6lK7jI8hG9fE0dC1bA2zY3x";

fn expectations(with_hashes: bool) -> Expectations<'static> {
    Expectations {
        issuer: ACME_ISSUER,
        client_id: "edge",
        nonce: NONCE,
        now: NOW,
        leeway: 60,
        access_token: with_hashes.then_some(DEFAULT_ACCESS_TOKEN),
        code: with_hashes.then_some(DEFAULT_CODE),
    }
}

fn key_set() -> &'static JwkSet {
    static SET: OnceLock<JwkSet> = OnceLock::new();
    SET.get_or_init(|| parse_jwks(realistic_jwks().as_bytes()).expect("fixture JWKS"))
}

fuzz_target!(init: edge_auth_fuzz::known::install(), |data: &[u8]| {
    edge_auth_fuzz::known::guard(|| {
        let text = String::from_utf8_lossy(data);
        if let Ok(jws) = UntrustedJws::parse(&text) {
            let _ = (jws.signing_input(), jws.signature());
            for claim in ["tid", "iss", "sub"] {
                let _ = jws.unverified_string_claim(claim);
            }
            assert!(jws.signing_input().len() < text.len());
            let set = key_set();
            let platform = FakePlatform::offline(NOW);
            for kid in [jws.kid(), None] {
                if let KeySelection::Found(key) = select_key(set, jws.alg(), kid) {
                    assert!(key_fits(jws.alg(), key));
                    for with_hashes in [true, false] {
                        let verified =
                            edge_auth_fuzz::block_on(id_token::verify(&jws, key, &platform, &expectations(with_hashes)));
                        if let Ok(t) = verified {
                            let c = t.claims();
                            assert_eq!(c.iss, ACME_ISSUER);
                            assert_eq!(c.nonce.as_deref(), Some(NONCE));
                            assert!(c.exp.0 + 60 > NOW);
                        }
                    }
                }
            }
        }
        if let Ok(jws) = UntrustedJws::parse_typed(&text, TokenType::LogoutToken) {
            let _ = (jws.alg(), jws.kid(), jws.unverified_string_claim("iss"));
        }
        if let Ok(c) = validate_logout_claims(data, ACME_ISSUER, "edge", NOW, 60) {
            assert_eq!(c.iss, ACME_ISSUER);
            assert!(c.sid.is_some() || c.sub.is_some());
            assert!(!c.jti.is_empty() && c.jti.len() <= 256);
        }
        for (alg, with_hashes) in [(Alg::RS256, true), (Alg::ES384, true), (Alg::EdDSA, true), (Alg::PS256, false)] {
            if let Ok(c) = validate_claims(data, alg, &expectations(with_hashes)) {
                assert_eq!(c.iss, ACME_ISSUER);
                assert!(!c.sub.is_empty() && c.sub.len() <= 255);
                assert!(c.exp.0 + 60 > NOW && c.iat.0 <= NOW + 60);
            }
        }
    });
});
