//! Re-signing of an XML document that an independent signer signed (tests/fixtures/xml/dsig/ and wsfed/, PyPI
//! signxml) with other algorithms — SHA-1 for the `allow_sha1` tests, which signxml no longer writes — and the
//! same TEST-ONLY key (tests/fixtures/xml/dsig/rsa-key.pem). Only the `SignatureMethod`, `DigestMethod`,
//! `DigestValue` and `SignatureValue` change: the digest is of the signed element's exclusive canonical form
//! without the signature (edge-auth's c14n, checked byte for byte against libxml2 by tests/xml_c14n.rs), the
//! signature of the new `SignedInfo`'s canonical form (RSA-SHA1 with the `rsa` crate — ring does not sign with
//! SHA-1 — RSA-SHA256 with ring).
//!
//! Included with `#[path]` by the tests that need it (it needs edge-auth's `xml` feature).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use edge_auth::core::xml::c14n::{canonicalize, Options};
use edge_auth::core::xml::{normalize_line_ends, parse};
use sha2::Digest;

pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const RSA_KEY_PEM: &str = include_str!("../tests/fixtures/xml/dsig/rsa-key.pem");

/// RSASSA-PKCS1-v1_5 with SHA-1 of `data` by the PKCS #8 key `key_pem` (the `rsa` crate).
pub fn rsa_sha1_sign(key_pem: &str, data: &[u8]) -> Vec<u8> {
    use rsa::pkcs8::DecodePrivateKey;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(key_pem).unwrap();
    // The DER DigestInfo prefix of SHA-1 (RFC 8017 §9.2, note 1); the 20-byte hash follows.
    let prefix = [0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14];
    let padding = rsa::Pkcs1v15Sign { hash_len: Some(20), prefix: Box::new(prefix) };
    key.sign(padding, &sha1::Sha1::digest(data)).unwrap()
}

fn rsa_sha256_sign(key_pem: &str, data: &[u8]) -> Vec<u8> {
    use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
    let body: String = key_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let key = RsaKeyPair::from_pkcs8(&STANDARD.decode(body).unwrap()).unwrap();
    let mut value = vec![0u8; key.public().modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), data, &mut value).unwrap();
    value
}

/// `text` with the value between the first `start` after `from` and the next `end` replaced by `value`.
fn replace_between(text: &str, start: &str, end: &str, value: &str) -> String {
    let at = text.find(start).unwrap_or_else(|| panic!("no {start}")) + start.len();
    let until = at + text[at..].find(end).unwrap();
    format!("{}{value}{}", &text[..at], &text[until..])
}

/// `xml`, whose first `ds:Signature` is an enveloped one (no `InclusiveNamespaces`), signed again by
/// rsa-key.pem with `signature_method` ([`RSA_SHA1`] or [`RSA_SHA256`]) and `digest_method` ([`SHA1`] or
/// [`SHA256`]).
pub fn resign(xml: &str, signature_method: &str, digest_method: &str) -> String {
    let text = normalize_line_ends(xml).into_owned();
    assert!(!text.contains("InclusiveNamespaces"), "re-signing without a PrefixList only");
    let digest = {
        let document = parse(&text).unwrap();
        let signature = document.elements().find(|e| e.is(DSIG_NS, "Signature")).unwrap();
        let element = signature.parent_element().unwrap();
        let canonical = canonicalize(element, &Options { inclusive_prefixes: &[], exclude: Some(signature) }).unwrap();
        match digest_method {
            SHA1 => STANDARD.encode(sha1::Sha1::digest(&canonical)),
            SHA256 => STANDARD.encode(sha2::Sha256::digest(&canonical)),
            other => panic!("digest {other}"),
        }
    };
    let text = replace_between(&text, "SignatureMethod Algorithm=\"", "\"", signature_method);
    let text = replace_between(&text, "DigestMethod Algorithm=\"", "\"", digest_method);
    let text = replace_between(&text, "DigestValue>", "<", &digest);
    let signed_info = {
        let document = parse(&text).unwrap();
        let signed_info = document.elements().find(|e| e.is(DSIG_NS, "SignedInfo")).unwrap();
        canonicalize(signed_info, &Options { inclusive_prefixes: &[], exclude: None }).unwrap()
    };
    let value = match signature_method {
        RSA_SHA1 => rsa_sha1_sign(RSA_KEY_PEM, &signed_info),
        RSA_SHA256 => rsa_sha256_sign(RSA_KEY_PEM, &signed_info),
        other => panic!("signature {other}"),
    };
    replace_between(&text, "SignatureValue>", "<", &STANDARD.encode(value))
}
