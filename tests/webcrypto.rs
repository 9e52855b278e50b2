//! The WebCrypto shell verifies what an independent JOSE implementation (npm `jose`) signed, for every
//! supported algorithm, and refuses tampered signatures, tampered content and the wrong key.
//! RSA-OAEP key transport (encrypted SAML assertions) unwraps what PyPI `cryptography` wrapped, and only that;
//! with `--features saml`, a whole encrypted SAML response goes through WebCrypto, and so does an RSA-SHA1
//! signature (a SAML connector's `allow_sha1`).
//! Runs in Node under wasm-bindgen-test: `cargo test --target wasm32-unknown-unknown --test webcrypto`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use edge_auth::core::oidc::jwks::{parse_jwks, select_key, Alg, HashAlg, JwkSet, KeySelection};
use edge_auth::core::oidc::jws::UntrustedJws;
use edge_auth::platform::webcrypto;
use serde::Deserialize;
use wasm_bindgen_test::wasm_bindgen_test;

#[derive(Deserialize)]
struct Fixture {
    alg: String,
    jwk: serde_json::Value,
    token: String,
}

fn fixtures() -> Vec<Fixture> {
    serde_json::from_str(include_str!("fixtures/jws.json")).unwrap()
}

fn key_set(jwk: &serde_json::Value) -> JwkSet {
    parse_jwks(serde_json::json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap()
}

#[wasm_bindgen_test]
async fn every_algorithm_verifies_a_good_signature() {
    let all = fixtures();
    assert_eq!(all.len(), 9);
    for f in &all {
        let jws = UntrustedJws::parse(&f.token).unwrap();
        assert_eq!(jws.alg(), Alg::from_jose(&f.alg).unwrap());
        let set = key_set(&f.jwk);
        let KeySelection::Found(key) = select_key(&set, jws.alg(), jws.kid()) else { panic!("{}: no key", f.alg) };
        let ok = webcrypto::verify(jws.alg(), key, jws.signing_input(), jws.signature()).await;
        assert_eq!(ok, Ok(true), "{}", f.alg);
        // A second verification uses the cached CryptoKey.
        let again = webcrypto::verify(jws.alg(), key, jws.signing_input(), jws.signature()).await;
        assert_eq!(again, Ok(true), "{} (cached key)", f.alg);
    }
}

#[wasm_bindgen_test]
async fn tampered_signatures_and_content_are_refused() {
    for f in fixtures() {
        let jws = UntrustedJws::parse(&f.token).unwrap();
        let set = key_set(&f.jwk);
        let KeySelection::Found(key) = select_key(&set, jws.alg(), jws.kid()) else { panic!() };
        for position in [0, jws.signature().len() / 2, jws.signature().len() - 1] {
            let mut sig = jws.signature().to_vec();
            sig[position] ^= 0x01;
            let r = webcrypto::verify(jws.alg(), key, jws.signing_input(), &sig).await;
            assert_ne!(r, Ok(true), "{}: flipped bit at {position} accepted", f.alg);
        }
        let mut input = jws.signing_input().to_vec();
        let last = input.len() - 1;
        input[last] ^= 0x01;
        let r = webcrypto::verify(jws.alg(), key, &input, jws.signature()).await;
        assert_ne!(r, Ok(true), "{}: tampered content accepted", f.alg);
        let r = webcrypto::verify(jws.alg(), key, jws.signing_input(), &[]).await;
        assert_ne!(r, Ok(true), "{}: empty signature accepted", f.alg);
    }
}

/// A second, valid key of each type, and a token it signed (`fixtures/jws-other.json`, made with Node's crypto).
fn other_keys() -> Vec<Fixture> {
    serde_json::from_str(include_str!("fixtures/jws-other.json")).unwrap()
}

#[wasm_bindgen_test]
async fn the_wrong_key_of_the_right_type_is_refused() {
    let all = fixtures();
    let others = other_keys();
    let by_alg = |a: &str| all.iter().find(|f| f.alg == a).unwrap();
    let other_by_alg = |a: &str| others.iter().find(|f| f.alg == a).unwrap();
    // Each wrong key is a working key: it imports and verifies its own token, so a refusal below is WebCrypto
    // saying "not this key" (Ok(false)), not an import or shape error that would hide an acceptance.
    for o in &others {
        let jws = UntrustedJws::parse(&o.token).unwrap();
        let set = key_set(&o.jwk);
        assert_eq!(set.keys.len(), 1, "{}: the other key parses", o.alg);
        let ok = webcrypto::verify(jws.alg(), &set.keys[0], jws.signing_input(), jws.signature()).await;
        assert_eq!(ok, Ok(true), "{}: the other key verifies its own token", o.alg);
    }
    let cases: [(&str, JwkSet); 4] = [
        ("RS256", key_set(&by_alg("RS384").jwk)),
        ("PS256", key_set(&by_alg("RS256").jwk)),
        ("ES256", key_set(&other_by_alg("ES256").jwk)),
        ("EdDSA", key_set(&other_by_alg("EdDSA").jwk)),
    ];
    let mut checked = 0;
    for (token_alg, set) in &cases {
        let fixture = by_alg(token_alg);
        let jws = UntrustedJws::parse(&fixture.token).unwrap();
        assert_eq!(set.keys.len(), 1, "{token_alg}: the wrong key parses");
        let wrong = &set.keys[0];
        assert_ne!(wrong.material, key_set(&fixture.jwk).keys[0].material, "{token_alg}: the key is another one");
        let r = webcrypto::verify(jws.alg(), wrong, jws.signing_input(), jws.signature()).await;
        assert_eq!(r, Ok(false), "{token_alg} token checked against another key of its type");
        checked += 1;
    }
    assert_eq!(checked, 4, "every wrong-key case ran");
}

#[wasm_bindgen_test]
async fn ecdsa_zero_and_out_of_range_values_are_refused() {
    let all = fixtures();
    let f = all.iter().find(|f| f.alg == "ES256").unwrap();
    let jws = UntrustedJws::parse(&f.token).unwrap();
    let set = key_set(&f.jwk);
    let key = &set.keys[0];
    let zero = [0u8; 64];
    assert_ne!(webcrypto::verify(Alg::ES256, key, jws.signing_input(), &zero).await, Ok(true));
    let ones = [0xffu8; 64]; // r, s >= n
    assert_ne!(webcrypto::verify(Alg::ES256, key, jws.signing_input(), &ones).await, Ok(true));
    let mut der_like = jws.signature().to_vec();
    der_like.insert(0, 0x30);
    assert_ne!(webcrypto::verify(Alg::ES256, key, jws.signing_input(), &der_like).await, Ok(true));
}

#[wasm_bindgen_test]
async fn webcrypto_digests_match_the_rust_ones() {
    // at_hash / c_hash of SHA-384/512 tokens are computed by WebCrypto in the worker.
    for hash in [HashAlg::Sha384, HashAlg::Sha512] {
        for data in [&b""[..], b"abc", &[0xffu8; 1000][..]] {
            assert_eq!(webcrypto::digest(hash, data).await.unwrap(), hash.digest_in_software(data), "{hash:?}");
        }
    }
}

/// The base64 `CipherValue` of the `EncryptedKey` in an encrypted-assertion fixture (made by PyPI
/// `cryptography`, tests/fixtures/xml/xenc/make.py), decoded.
fn encrypted_key_of(xml: &str) -> Vec<u8> {
    let key = &xml[xml.find("<xenc:EncryptedKey").unwrap()..];
    let start = key.find("<xenc:CipherValue>").unwrap() + "<xenc:CipherValue>".len();
    let end = key.find("</xenc:CipherValue>").unwrap();
    let compact: String = key[start..end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(compact).unwrap()
}

fn pkcs8_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

const SP_KEY: &str = include_str!("fixtures/xml/xenc/sp-key.pem");
const OTHER_SP_KEY: &str = include_str!("fixtures/xml/xenc/other-sp-key.pem");
const MGF1P_AES256: &str = include_str!("fixtures/xml/xenc/signed-response-aes256gcm-mgf1p.xml");
const OAEP256_AES128: &str = include_str!("fixtures/xml/xenc/signed-response-aes128gcm-oaep-sha256-sibling.xml");

#[wasm_bindgen_test]
async fn rsa_oaep_unwraps_what_an_independent_implementation_wrapped() {
    use edge_auth::core::ports::{OaepHash, UnwrapError};
    // SHA-1 (rsa-oaep-mgf1p) wrapping an AES-256 key, SHA-256 (xmlenc11 rsa-oaep + mgf1sha256) an AES-128 one.
    for (xml, hash, len) in [(MGF1P_AES256, OaepHash::Sha1, 32), (OAEP256_AES128, OaepHash::Sha256, 16)] {
        let key = webcrypto::rsa_oaep_decrypt(&pkcs8_der(SP_KEY), hash, &encrypted_key_of(xml)).await.unwrap();
        assert_eq!(key.len(), len, "{hash:?}");
        // The other hash, another private key, a changed byte: no key.
        let other_hash = if hash == OaepHash::Sha1 { OaepHash::Sha256 } else { OaepHash::Sha1 };
        let refused = webcrypto::rsa_oaep_decrypt(&pkcs8_der(SP_KEY), other_hash, &encrypted_key_of(xml)).await;
        assert_eq!(refused, Err(UnwrapError::Decrypt));
        let refused = webcrypto::rsa_oaep_decrypt(&pkcs8_der(OTHER_SP_KEY), hash, &encrypted_key_of(xml)).await;
        assert_eq!(refused, Err(UnwrapError::Decrypt));
        let mut tampered = encrypted_key_of(xml);
        tampered[5] ^= 1;
        let refused = webcrypto::rsa_oaep_decrypt(&pkcs8_der(SP_KEY), hash, &tampered).await;
        assert_eq!(refused, Err(UnwrapError::Decrypt));
    }
    // Not a PKCS #8 key: the private key is reported, not the message.
    let refused = webcrypto::rsa_oaep_decrypt(b"not a key", OaepHash::Sha1, &encrypted_key_of(MGF1P_AES256)).await;
    assert!(matches!(refused, Err(UnwrapError::PrivateKey(_))), "{refused:?}");
}

/// The whole encrypted-assertion path with WebCrypto doing both the signature and the key transport, as in the
/// worker.
#[cfg(feature = "saml")]
#[wasm_bindgen_test]
async fn an_encrypted_assertion_verifies_and_decrypts_through_webcrypto() {
    use edge_auth::core::oidc::jwks::Jwk;
    use edge_auth::core::ports::{CryptoError, KeyUnwrapper, OaepHash, SignatureVerifier, UnwrapError};
    use edge_auth::core::saml::{time::parse_datetime, verify_response, Expected};
    use edge_auth::core::xml::xenc::DecryptionKey;

    struct WebCrypto;
    impl SignatureVerifier for WebCrypto {
        async fn verify(&self, alg: Alg, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
            webcrypto::verify(alg, key, input, signature).await
        }
    }
    impl KeyUnwrapper for WebCrypto {
        async fn rsa_oaep_decrypt(&self, key: &[u8], hash: OaepHash, data: &[u8]) -> Result<Vec<u8>, UnwrapError> {
            webcrypto::rsa_oaep_decrypt(key, hash, data).await
        }
    }
    let keys =
        vec![edge_auth::core::x509::parse_certificate(include_str!("fixtures/xml/dsig/rsa-cert.pem")).unwrap().key];
    let sp_key = DecryptionKey::from_pem(SP_KEY).unwrap();
    for xml in [MGF1P_AES256, OAEP256_AES128] {
        let expected = Expected {
            idp_entity_id: "https://idp.example/",
            sp_entity_id: "https://sp.example/auth/saml/acme/metadata",
            acs_url: "https://sp.example/auth/saml/acme/acs",
            request_id: "_req1",
            keys: &keys,
            now: parse_datetime("2026-12-02T10:00:30Z").unwrap(),
            leeway: 60,
            decryption_key: Some(&sp_key),
            sha1: edge_auth::core::xml::dsig::Sha1::Refused,
        };
        let identity = verify_response(xml, &expected, &WebCrypto).await.unwrap();
        assert_eq!(identity.name_id, "alice@acme.example");
    }
}

/// RSA-SHA1 (XML-DSig `rsa-sha1`, SAML connectors with `allow_sha1` only) through WebCrypto: the signature of
/// tests/fixtures/xml/dsig/saml-response-rsa-sha1.xml (RSA-SHA1 and a SHA-1 digest; its bytes are checked by
/// tests/saml_response.rs) verifies, directly and as the whole response with the option; tampered input, another
/// key, an EC key and the SHA-256 scheme are refused; the JOSE key cache and the SHA-1 path never share an
/// imported key (the same RSA key imported for RS256 hashes with SHA-256).
#[cfg(feature = "saml")]
#[wasm_bindgen_test]
async fn an_rsa_sha1_signature_verifies_through_webcrypto() {
    use edge_auth::core::oidc::jwks::Jwk;
    use edge_auth::core::ports::{CryptoError, KeyUnwrapper, OaepHash, SignatureVerifier, UnwrapError};
    use edge_auth::core::saml::{time::parse_datetime, verify_response, Expected, SamlError};
    use edge_auth::core::x509::parse_certificate;
    use edge_auth::core::xml::c14n::{canonicalize, Options};
    use edge_auth::core::xml::dsig::{DsigError, Sha1, DSIG_NS};
    use edge_auth::core::xml::parse;

    struct WebCrypto;
    impl SignatureVerifier for WebCrypto {
        async fn verify(&self, alg: Alg, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
            webcrypto::verify(alg, key, input, signature).await
        }
        async fn verify_rsa_sha1(&self, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
            webcrypto::verify_rsa_sha1(key, input, signature).await
        }
    }
    impl KeyUnwrapper for WebCrypto {
        async fn rsa_oaep_decrypt(&self, key: &[u8], hash: OaepHash, data: &[u8]) -> Result<Vec<u8>, UnwrapError> {
            webcrypto::rsa_oaep_decrypt(key, hash, data).await
        }
    }

    const XML: &str = include_str!("fixtures/xml/dsig/saml-response-rsa-sha1.xml");
    let key = parse_certificate(include_str!("fixtures/xml/dsig/rsa-cert.pem")).unwrap().key;
    let other = parse_certificate(include_str!("fixtures/xml/dsig/other-cert.pem")).unwrap().key;
    let ec = parse_certificate(include_str!("fixtures/xml/dsig/ec-cert.pem")).unwrap().key;

    // The signature alone: the canonical SignedInfo and the SignatureValue.
    let document = parse(XML).unwrap();
    let signed_info = document.elements().find(|e| e.is(DSIG_NS, "SignedInfo")).unwrap();
    let signed = canonicalize(signed_info, &Options::default()).unwrap();
    let value = document.elements().find(|e| e.is(DSIG_NS, "SignatureValue")).unwrap().text().unwrap();
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    use base64::Engine;
    let signature = base64::engine::general_purpose::STANDARD.decode(compact).unwrap();
    assert_eq!(webcrypto::verify_rsa_sha1(&key, &signed, &signature).await, Ok(true));
    assert_eq!(webcrypto::verify_rsa_sha1(&key, &signed, &signature).await, Ok(true), "again");
    let mut tampered = signed.clone();
    tampered[10] ^= 1;
    assert_eq!(webcrypto::verify_rsa_sha1(&key, &tampered, &signature).await, Ok(false));
    let mut flipped = signature.clone();
    flipped[0] ^= 1;
    assert_ne!(webcrypto::verify_rsa_sha1(&key, &signed, &flipped).await, Ok(true));
    assert_eq!(webcrypto::verify_rsa_sha1(&other, &signed, &signature).await, Ok(false), "another RSA key");
    assert!(webcrypto::verify_rsa_sha1(&ec, &signed, &signature).await.is_err(), "an EC key is no RSA-SHA1 key");
    // The same key imported (and cached) for RS256 does not verify the SHA-1 signature, and does not replace the
    // SHA-1 import after it.
    assert_eq!(webcrypto::verify(Alg::RS256, &key, &signed, &signature).await, Ok(false));
    assert_eq!(webcrypto::verify_rsa_sha1(&key, &signed, &signature).await, Ok(true));

    // The whole response: accepted with the connector's option, refused by its algorithm without it.
    let keys = vec![key];
    let expected = |sha1| Expected {
        idp_entity_id: "https://idp.example/",
        sp_entity_id: "https://sp.example/auth/saml/acme/metadata",
        acs_url: "https://sp.example/auth/saml/acme/acs",
        request_id: "_req1",
        keys: &keys,
        now: parse_datetime("2026-12-02T10:00:30Z").unwrap(),
        leeway: 60,
        decryption_key: None,
        sha1,
    };
    let identity = verify_response(XML, &expected(Sha1::Allowed), &WebCrypto).await.unwrap();
    assert_eq!(identity.name_id, "alice@acme.example");
    let refused = verify_response(XML, &expected(Sha1::Refused), &WebCrypto).await;
    assert_eq!(refused.unwrap_err(), SamlError::Signature(DsigError::Algorithm("signature")));
}
