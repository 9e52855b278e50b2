//! Encrypted SAML assertions (src/core/xml/xenc.rs, `saml::verify_response`): decrypted with the SP's
//! TEST-ONLY key pair (tests/fixtures/xml/xenc/), signatures verified with ring, RSA-OAEP unwrapped with the
//! RustCrypto `rsa` crate (the worker uses WebCrypto; tests/webcrypto.rs checks that path).
//!
//! Two sources of ciphertext: fixtures from an independent encryptor and signer (PyPI `cryptography` + signxml,
//! tests/fixtures/xml/xenc/make.py) for responses whose signature covers the EncryptedAssertion, and
//! encryption done here (`rsa` OAEP + `aes-gcm`) around the independently signed assertion of
//! tests/fixtures/xml/dsig/, for every variant an attacker can build without the IdP's key. Each test proves
//! one rule: it fails when the rule is removed.
#![cfg(feature = "saml")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

#[path = "../testkit/resign.rs"]
mod resign;
#[path = "../testkit/mod.rs"]
mod testkit;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use base64::Engine;
use edge_auth::core::oidc::jwks::{Alg, Jwk};
use edge_auth::core::ports::{CryptoError, KeyUnwrapper, OaepHash, SignatureVerifier, UnwrapError};
use edge_auth::core::saml::time::parse_datetime;
use edge_auth::core::saml::{verify_response, Expected, SamlError, SamlIdentity};
use edge_auth::core::x509::parse_certificate;
use edge_auth::core::xml::dsig::{DsigError, Sha1};
use edge_auth::core::xml::xenc::{DecryptionKey, XencError};
use rsa::pkcs8::DecodePrivateKey;

const DSIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xml/dsig/");
const XENC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xml/xenc/");
const ACS: &str = "https://sp.example/auth/saml/acme/acs";
const SP: &str = "https://sp.example/auth/saml/acme/metadata";
const IDP: &str = "https://idp.example/";

fn read(dir: &str, name: &str) -> String {
    std::fs::read_to_string(format!("{dir}{name}")).unwrap()
}

struct Host;

impl SignatureVerifier for Host {
    async fn verify(&self, alg: Alg, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        testkit::idp::ring_verify(alg, key, input, signature).map_err(|e| CryptoError(e.to_string()))
    }

    async fn verify_rsa_sha1(&self, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        testkit::idp::ring_verify_rsa_sha1(key, input, signature).map_err(CryptoError)
    }
}

impl KeyUnwrapper for Host {
    async fn rsa_oaep_decrypt(&self, key: &[u8], hash: OaepHash, encrypted: &[u8]) -> Result<Vec<u8>, UnwrapError> {
        testkit::idp::rsa_oaep_decrypt(key, hash, encrypted)
    }
}

fn sp_key(name: &str) -> DecryptionKey {
    DecryptionKey::from_pem(&read(XENC, name)).unwrap()
}

/// Verify `xml` as the SP holding `key` (None: no decryption key configured).
fn check_with_key(xml: &str, key: Option<&DecryptionKey>) -> Result<SamlIdentity, SamlError> {
    check_with_sha1(xml, key, Sha1::Refused)
}

/// [`check_with_key`] with a SHA-1 policy (a connector's `allow_sha1`).
fn check_with_sha1(xml: &str, key: Option<&DecryptionKey>, sha1: Sha1) -> Result<SamlIdentity, SamlError> {
    let keys = vec![parse_certificate(&read(DSIG, "rsa-cert.pem")).unwrap().key];
    let expected = Expected {
        idp_entity_id: IDP,
        sp_entity_id: SP,
        acs_url: ACS,
        request_id: "_req1",
        keys: &keys,
        now: parse_datetime("2026-12-02T10:00:30Z").unwrap(),
        leeway: 60,
        decryption_key: key,
        sha1,
    };
    pollster::block_on(verify_response(xml, &expected, &Host))
}

fn check(xml: &str) -> Result<SamlIdentity, SamlError> {
    check_with_key(xml, Some(&sp_key("sp-key.pem")))
}

/// The `<saml:Assertion …>…</saml:Assertion>` of a fixture response (it declares its own namespaces).
fn assertion_of(response: &str) -> String {
    let start = response.find("<saml:Assertion").unwrap();
    let end = response.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    response[start..end].to_string()
}

fn signed_assertion() -> String {
    assertion_of(&read(DSIG, "saml-response-signed-assertion.xml"))
}

fn unsigned_assertion() -> String {
    assertion_of(&read(DSIG, "saml-response-unsigned.xml"))
}

/// How this test encrypts: the algorithms it names (any URI, to test refusals) and what it really does.
struct Encryption {
    data_uri: &'static str,
    key_len: usize,
    transport: &'static str,
    /// Extra content of the key's EncryptionMethod (DigestMethod, MGF).
    transport_params: &'static str,
    hash: OaepHash,
    /// Encrypt the content key to this SP key.
    to: &'static str,
}

const GCM256_MGF1P: Encryption = Encryption {
    data_uri: "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    key_len: 32,
    transport: "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    transport_params: "",
    hash: OaepHash::Sha1,
    to: "sp-key.pem",
};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The parts of an encrypted assertion: (EncryptedData's EncryptionMethod, EncryptedKey, CipherValue of the
/// data), so a test can assemble them differently.
fn encrypt_parts(plaintext: &str, how: &Encryption) -> (String, String, String) {
    let content_key: Vec<u8> = (0..how.key_len as u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
    let iv = [7u8; 12];
    let sealed = match how.key_len {
        16 => Aes128Gcm::new_from_slice(&content_key).unwrap().encrypt(Nonce::from_slice(&iv), plaintext.as_bytes()),
        _ => Aes256Gcm::new_from_slice(&content_key).unwrap().encrypt(Nonce::from_slice(&iv), plaintext.as_bytes()),
    }
    .unwrap();
    let public = rsa::RsaPrivateKey::from_pkcs8_pem(&read(XENC, how.to)).unwrap().to_public_key();
    let padding = match how.hash {
        OaepHash::Sha1 => rsa::Oaep::new::<sha1::Sha1>(),
        OaepHash::Sha256 => rsa::Oaep::new::<sha2::Sha256>(),
    };
    let wrapped = public.encrypt(&mut rsa::rand_core::OsRng, padding, &content_key).unwrap();
    let method = format!(r#"<xenc:EncryptionMethod Algorithm="{}"/>"#, how.data_uri);
    let key = format!(
        r#"<xenc:EncryptedKey xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Id="_k1"><xenc:EncryptionMethod Algorithm="{}">{}</xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>"#,
        how.transport,
        how.transport_params,
        b64(&wrapped)
    );
    (method, key, b64(&[iv.as_slice(), &sealed].concat()))
}

/// An `EncryptedAssertion` with the key inside the data's KeyInfo (the common shape).
fn encrypted_assertion(plaintext: &str, how: &Encryption) -> String {
    let (method, key, cipher) = encrypt_parts(plaintext, how);
    format!(
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element">{method}<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{key}</ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{cipher}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#
    )
}

/// The unsigned fixture response with its assertion replaced by `content`.
fn unsigned_response_with(content: &str) -> String {
    let response = read(DSIG, "saml-response-unsigned.xml");
    response.replace(&unsigned_assertion(), content)
}

fn accepted(identity: Result<SamlIdentity, SamlError>, what: &str) {
    let identity = identity.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(identity.assertion_id, "_assert1", "{what}");
    assert_eq!(identity.name_id, "alice@acme.example", "{what}");
    assert_eq!(identity.session_index.as_deref(), Some("_session1"), "{what}");
}

#[test]
fn a_signed_response_with_an_encrypted_unsigned_assertion_is_accepted() {
    // Encrypted by an independent implementation, in both key placements and both OAEP hashes.
    for name in ["signed-response-aes256gcm-mgf1p.xml", "signed-response-aes128gcm-oaep-sha256-sibling.xml"] {
        accepted(check(&read(XENC, name)), name);
    }
}

#[test]
fn an_unsigned_response_with_an_encrypted_signed_assertion_is_accepted() {
    let sha256 = Encryption {
        data_uri: "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        key_len: 16,
        transport: "http://www.w3.org/2009/xmlenc11#rsa-oaep",
        transport_params: r#"<ds:DigestMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/>"#,
        hash: OaepHash::Sha256,
        to: "sp-key.pem",
    };
    for how in [&GCM256_MGF1P, &sha256] {
        accepted(check(&unsigned_response_with(&encrypted_assertion(&signed_assertion(), how))), how.transport);
    }
}

#[test]
fn encryption_is_not_authentication() {
    // Anyone can encrypt to the SP's certificate: an unsigned response carrying an encrypted unsigned assertion
    // is refused, although it decrypts.
    let xml = unsigned_response_with(&encrypted_assertion(&unsigned_assertion(), &GCM256_MGF1P));
    assert_eq!(
        check(&xml).unwrap_err(),
        SamlError::Invalid(
            "an encrypted assertion in an unsigned Response is signed (encryption is not authentication)"
        )
    );
    // And a forged signature on the plaintext is verified like any other (another user, the IdP's signature
    // kept: the digest no longer matches).
    let forged = signed_assertion().replace("alice@acme.example", "mallory@acme.example");
    let xml = unsigned_response_with(&encrypted_assertion(&forged, &GCM256_MGF1P));
    assert_eq!(check(&xml).unwrap_err(), SamlError::Signature(DsigError::DigestMismatch));
}

#[test]
fn the_outer_signature_is_verified_before_anything_is_decrypted() {
    // A byte of the signed ciphertext changed: refused by the response's digest, never reaching AES-GCM.
    let xml = read(XENC, "signed-response-aes256gcm-mgf1p.xml");
    let at = xml.find("<xenc:CipherValue>").unwrap() + "<xenc:CipherValue>".len() + 10;
    let mut tampered = xml.clone();
    let replacement = if &xml[at..at + 1] == "A" { "B" } else { "A" };
    tampered.replace_range(at..at + 1, replacement);
    assert_eq!(check(&tampered).unwrap_err(), SamlError::Signature(DsigError::DigestMismatch));
    // The signature verifies, the SP holds another key: the key does not unwrap.
    assert_eq!(
        check_with_key(&xml, Some(&sp_key("other-sp-key.pem"))).unwrap_err(),
        SamlError::Decryption(XencError::KeyTransport)
    );
}

#[test]
fn tampered_ciphertext_and_the_wrong_key_are_refused() {
    let (method, key, cipher) = encrypt_parts(&signed_assertion(), &GCM256_MGF1P);
    let mut bytes = base64::engine::general_purpose::STANDARD.decode(&cipher).unwrap();
    bytes[40] ^= 1;
    let tampered = format!(
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">{method}<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{key}</ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
        b64(&bytes)
    );
    assert_eq!(check(&unsigned_response_with(&tampered)).unwrap_err(), SamlError::Decryption(XencError::Decryption));
    let to_other = Encryption { to: "other-sp-key.pem", ..GCM256_MGF1P };
    let xml = unsigned_response_with(&encrypted_assertion(&signed_assertion(), &to_other));
    assert_eq!(check(&xml).unwrap_err(), SamlError::Decryption(XencError::KeyTransport));
}

#[test]
fn only_aes_gcm_and_rsa_oaep_are_accepted() {
    type Case = (Encryption, XencError);
    let cases: Vec<Case> = vec![
        (
            Encryption { data_uri: "http://www.w3.org/2001/04/xmlenc#aes256-cbc", ..GCM256_MGF1P },
            XencError::Algorithm("AES-CBC content encryption (unauthenticated; configure the IdP for AES-GCM)"),
        ),
        (
            Encryption { data_uri: "http://www.w3.org/2001/04/xmlenc#aes128-cbc", key_len: 16, ..GCM256_MGF1P },
            XencError::Algorithm("AES-CBC content encryption (unauthenticated; configure the IdP for AES-GCM)"),
        ),
        (
            Encryption { data_uri: "http://www.w3.org/2001/04/xmlenc#tripledes-cbc", ..GCM256_MGF1P },
            XencError::Algorithm("content encryption algorithm"),
        ),
        (
            Encryption { transport: "http://www.w3.org/2001/04/xmlenc#rsa-1_5", ..GCM256_MGF1P },
            XencError::Algorithm("RSA PKCS #1 v1.5 key transport (use RSA-OAEP)"),
        ),
        (
            // mgf1p is SHA-1 by definition: another digest is refused, not silently used.
            Encryption {
                transport_params: r#"<ds:DigestMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>"#,
                hash: OaepHash::Sha256,
                ..GCM256_MGF1P
            },
            XencError::Algorithm("RSA-OAEP digest and MGF (SHA-1/MGF1-SHA-1 or SHA-256/MGF1-SHA-256)"),
        ),
        (
            // OAEP-SHA-256 with MGF1-SHA-1 (WebCrypto takes one hash for both): refused.
            Encryption {
                transport: "http://www.w3.org/2009/xmlenc11#rsa-oaep",
                transport_params: r#"<ds:DigestMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>"#,
                hash: OaepHash::Sha256,
                ..GCM256_MGF1P
            },
            XencError::Algorithm("RSA-OAEP digest and MGF (SHA-1/MGF1-SHA-1 or SHA-256/MGF1-SHA-256)"),
        ),
        (
            Encryption { transport_params: r#"<xenc:OAEPparams>AAAA</xenc:OAEPparams>"#, ..GCM256_MGF1P },
            XencError::Algorithm("an OAEP label (OAEPparams)"),
        ),
        (
            // aes256-gcm announced, a 16-byte key transported.
            Encryption { key_len: 16, ..GCM256_MGF1P },
            XencError::KeyLength,
        ),
    ];
    for (how, error) in cases {
        let xml = unsigned_response_with(&encrypted_assertion(&signed_assertion(), &how));
        assert_eq!(check(&xml).unwrap_err(), SamlError::Decryption(error.clone()), "{error}");
    }
}

#[test]
fn exactly_one_assertion_plain_or_encrypted() {
    let encrypted = encrypted_assertion(&signed_assertion(), &GCM256_MGF1P);
    for content in [format!("{encrypted}{encrypted}"), format!("{}{encrypted}", signed_assertion())] {
        assert_eq!(
            check(&unsigned_response_with(&content)).unwrap_err(),
            SamlError::Invalid("exactly one Assertion or EncryptedAssertion")
        );
    }
    // Not a child of the Response (hidden in an extension).
    let hidden = format!(r#"<samlp:Extensions>{encrypted}</samlp:Extensions>"#);
    assert_eq!(
        check(&unsigned_response_with(&hidden)).unwrap_err(),
        SamlError::Invalid("the Assertion is a child of the Response")
    );
}

#[test]
fn the_plaintext_is_one_assertion_and_nothing_else() {
    // Even under the IdP's signature, a wrapper around an assertion is not an assertion.
    assert_eq!(
        check(&read(XENC, "signed-response-wrapper-plaintext.xml")).unwrap_err(),
        SamlError::Invalid("the EncryptedAssertion decrypts to one saml:Assertion")
    );
    // Two assertions side by side: not one XML element.
    let two = format!("{}{}", signed_assertion(), signed_assertion());
    let xml = unsigned_response_with(&encrypted_assertion(&two, &GCM256_MGF1P));
    assert!(matches!(check(&xml).unwrap_err(), SamlError::Xml(_)));
    // An unsigned assertion hidden inside the signed one's Advice.
    let evil = read(DSIG, "saml-assertion-evil.xml");
    let advice = signed_assertion().replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer><saml:Advice>{}</saml:Advice>", evil.trim()),
        1,
    );
    let xml = unsigned_response_with(&encrypted_assertion(&advice, &GCM256_MGF1P));
    assert_eq!(check(&xml).unwrap_err(), SamlError::Invalid("exactly one Assertion or EncryptedAssertion"));
}

#[test]
fn the_encrypted_structure_is_exact() {
    let (method, key, cipher) = encrypt_parts(&signed_assertion(), &GCM256_MGF1P);
    let data = |key_info: &str, cipher_data: &str| {
        format!(
            r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element">{method}{key_info}<xenc:CipherData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">{cipher_data}</xenc:CipherData></xenc:EncryptedData>"#
        )
    };
    let key_info =
        |inner: &str| format!(r#"<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{inner}</ds:KeyInfo>"#);
    let value = format!("<xenc:CipherValue>\n{cipher}\n</xenc:CipherValue>");
    let retrieval =
        key_info(r##"<ds:RetrievalMethod URI="#_k1" Type="http://www.w3.org/2001/04/xmlenc#EncryptedKey"/>"##);
    let wrap =
        |inner: String| unsigned_response_with(&format!("<saml:EncryptedAssertion>{inner}</saml:EncryptedAssertion>"));
    // Accepted: the key inside KeyInfo (whitespace in the base64), beside the data alone, or pointed at.
    for shape in [
        data(&key_info(&key), &value),
        format!("{}{key}", data("", &value)),
        format!("{}{key}", data(&retrieval, &value)),
    ] {
        accepted(check(&wrap(shape)), "accepted shape");
    }
    let structure = |what| SamlError::Decryption(XencError::Structure(what));
    let cases = [
        // Two keys: inside and beside.
        (format!("{}{key}", data(&key_info(&key), &value)), structure("exactly one EncryptedKey")),
        (format!("{}{key}{key}", data("", &value)), structure("exactly one EncryptedKey")),
        (data("", &value), structure("exactly one EncryptedKey")),
        // A RetrievalMethod that names something else.
        (
            format!("{}{key}", data(&key_info(r##"<ds:RetrievalMethod URI="#_other"/>"##), &value)),
            structure("the KeyInfo's RetrievalMethod names the EncryptedKey"),
        ),
        // Another KeyInfo content (a KeyName) beside the key.
        (
            data(&key_info(&format!("<ds:KeyName>sp</ds:KeyName>{key}")), &value),
            structure("the EncryptedData's KeyInfo holds one EncryptedKey"),
        ),
        // The ciphertext elsewhere.
        (
            data(&key_info(&key), r#"<xenc:CipherReference URI="https://attacker.example/x"/>"#),
            structure("CipherData holds one CipherValue (no CipherReference)"),
        ),
        (
            format!("{}{}", data(&key_info(&key), &value), data(&key_info(&key), &value)),
            structure("one EncryptedData, then EncryptedKey elements"),
        ),
        (
            data(&key_info(&key), &value).replace("#Element", "#Content"),
            structure("the EncryptedData's Type is Element"),
        ),
    ];
    for (shape, error) in cases {
        assert_eq!(check(&wrap(shape)).unwrap_err(), error);
    }
    // Not base64.
    assert_eq!(
        check(&wrap(data(&key_info(&key), "<xenc:CipherValue>*not base64*</xenc:CipherValue>"))).unwrap_err(),
        SamlError::Decryption(XencError::Encoding("the EncryptedData's CipherValue"))
    );
}

#[test]
fn a_signature_inside_the_encrypted_assertion_is_refused() {
    // The document's only signature sits in the EncryptedAssertion's container, where the schema puts none.
    let signed = read(DSIG, "saml-response-signed-assertion.xml");
    let signature_start = signed.find("<ds:Signature").unwrap();
    let signature_end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &signed[signature_start..signature_end];
    let encrypted = encrypted_assertion(&signed_assertion(), &GCM256_MGF1P)
        .replace("</saml:EncryptedAssertion>", &format!("{signature}</saml:EncryptedAssertion>"));
    assert_eq!(
        check(&unsigned_response_with(&encrypted)).unwrap_err(),
        SamlError::Invalid("ds:Signature only on the Response or the Assertion")
    );
}

#[test]
fn without_a_decryption_key_an_encrypted_assertion_is_refused() {
    let xml = read(XENC, "signed-response-aes256gcm-mgf1p.xml");
    assert_eq!(
        check_with_key(&xml, None).unwrap_err(),
        SamlError::Invalid("an EncryptedAssertion needs sp_decryption_key_binding (no SP decryption key)")
    );
    // And a configured key changes nothing for plain assertions.
    accepted(check(&read(DSIG, "saml-response-signed-response.xml")), "plain assertion with a key configured");
}

#[test]
fn the_private_key_must_be_pkcs8_pem() {
    assert!(DecryptionKey::from_pem(&read(XENC, "sp-key.pem")).is_ok());
    let pkcs1 = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n";
    assert!(DecryptionKey::from_pem(pkcs1).unwrap_err().starts_with("is not a PKCS #8 PEM private key"));
    // PEM armour around something that is not an RSA PKCS #8 key: the unwrapper reports the key, not the message.
    let garbage = DecryptionKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").unwrap();
    let xml = read(XENC, "signed-response-aes256gcm-mgf1p.xml");
    assert!(matches!(
        check_with_key(&xml, Some(&garbage)).unwrap_err(),
        SamlError::Decryption(XencError::PrivateKey(_))
    ));
}

/// The connector's SHA-1 policy reaches both signatures of the encrypted path: a signed Response around the
/// encrypted assertion (its signature re-signed with RSA-SHA1 / SHA-1), and the signature of a decrypted assertion
/// in an unsigned Response (saml-response-rsa-sha1.xml's assertion, encrypted here). Accepted with `allow_sha1`,
/// refused by the algorithm without it.
#[test]
fn sha1_signatures_around_and_inside_encrypted_assertions_follow_the_option() {
    let key = sp_key("sp-key.pem");
    let signed_response =
        resign::resign(&read(XENC, "signed-response-aes256gcm-mgf1p.xml"), resign::RSA_SHA1, resign::SHA1);
    let sha1_assertion = assertion_of(&read(DSIG, "saml-response-rsa-sha1.xml"));
    let signed_inside = unsigned_response_with(&encrypted_assertion(&sha1_assertion, &GCM256_MGF1P));
    for (what, xml) in [("signed response", signed_response), ("signed encrypted assertion", signed_inside)] {
        accepted(check_with_sha1(&xml, Some(&key), Sha1::Allowed), what);
        let refused = check_with_sha1(&xml, Some(&key), Sha1::Refused).unwrap_err();
        assert_eq!(refused, SamlError::Signature(DsigError::Algorithm("signature")), "{what}");
    }
}
