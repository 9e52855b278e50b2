//! A test-only SAML 2.0 IdP: reads the `AuthnRequest` out of edge-auth's login redirect (HTTP-Redirect
//! binding: base64 of raw DEFLATE, which edge-auth writes in stored blocks) and answers it with a response from
//! a template, signed at test time as enveloped signatures: edge-auth's own exclusive c14n (checked byte for
//! byte against libxml2 by tests/xml_c14n.rs), SHA-256 digests, RSA-SHA256 with `ring` and the TEST-ONLY keys of
//! tests/fixtures/xml/dsig/ (rsa-key.pem; other-key.pem as a foreign key). For connectors with `allow_sha1` it
//! also signs RSA-SHA1 (with the `rsa` crate: ring does not sign with SHA-1) and digests with SHA-1
//! ([`Reply::signature_method`], [`Reply::digest_method`]).
//!
//! Included with `#[path]` by tests/saml_flow.rs and the `saml_acs_flow` fuzz target. Not a module of
//! testkit/mod.rs: it needs edge-auth's `xml` feature, which most tests that include the kit are built without.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use edge_auth::core::saml::request::format_datetime;
use edge_auth::core::xml::c14n::{canonicalize, Options};
use edge_auth::core::xml::parse;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use sha2::{Digest, Sha256};
use url::Url;

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
pub const TRANSIENT_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
pub const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

const RSA_KEY_PEM: &str = include_str!("../tests/fixtures/xml/dsig/rsa-key.pem");
const OTHER_KEY_PEM: &str = include_str!("../tests/fixtures/xml/dsig/other-key.pem");

/// The IdP's signing certificate (its key: [`signer`]), as connectors name it in `idp_certificates`.
pub const RSA_CERT_PEM: &str = include_str!("../tests/fixtures/xml/dsig/rsa-cert.pem");
/// Another certificate (its key: [`foreign_signer`]).
pub const OTHER_CERT_PEM: &str = include_str!("../tests/fixtures/xml/dsig/other-cert.pem");

/// The base64 body of a PEM text (what metadata's `ds:X509Certificate` holds).
pub fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect::<String>()
}

fn pkcs8_key(pem: &str) -> RsaKeyPair {
    RsaKeyPair::from_pkcs8(&STANDARD.decode(pem_body(pem)).unwrap()).unwrap()
}

/// The TEST-ONLY key of [`RSA_CERT_PEM`] (tests/fixtures/xml/dsig/rsa-key.pem).
pub fn signer() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| pkcs8_key(RSA_KEY_PEM))
}

/// The TEST-ONLY key of [`OTHER_CERT_PEM`] (tests/fixtures/xml/dsig/other-key.pem).
pub fn foreign_signer() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| pkcs8_key(OTHER_KEY_PEM))
}

/// Raw DEFLATE (RFC 1951) of stored blocks only: what edge-auth's encoder writes. Anything else panics.
pub fn inflate_stored(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let header = data[0];
        assert_eq!(header & 0b110, 0, "BTYPE 00 (stored) expected");
        let len = u16::from_le_bytes([data[1], data[2]]);
        let nlen = u16::from_le_bytes([data[3], data[4]]);
        assert_eq!(len, !nlen, "LEN and NLEN disagree");
        out.extend_from_slice(&data[5..5 + usize::from(len)]);
        data = &data[5 + usize::from(len)..];
        if header & 1 == 1 {
            assert!(data.is_empty(), "bytes after the final block");
            return out;
        }
    }
}

/// What the IdP read from the login redirect.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub id: String,
    pub acs_url: String,
    pub sp_entity_id: String,
    pub destination: String,
    pub relay_state: String,
}

/// Read the `AuthnRequest` the login redirect carries (`SAMLRequest`, `RelayState`).
pub fn read_request(location: &Url) -> SeenRequest {
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    let deflated = STANDARD.decode(&q["SAMLRequest"]).unwrap();
    let xml = String::from_utf8(inflate_stored(&deflated)).unwrap();
    let document = parse(&xml).unwrap();
    let root = document.root_element();
    assert!(root.is(PROTOCOL_NS, "AuthnRequest"), "{xml}");
    let attr = |n: &str| root.attribute(None, n).unwrap().to_string();
    let issuer = root.children_named(ASSERTION_NS, "Issuer").next().unwrap().text().unwrap();
    SeenRequest {
        id: attr("ID"),
        acs_url: attr("AssertionConsumerServiceURL"),
        sp_entity_id: issuer,
        destination: attr("Destination"),
        relay_state: q["RelayState"].clone(),
    }
}

/// Which signatures the response carries, and with which key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Assertion,
    Response,
    Both,
    /// The assertion, signed with the foreign key other-key.pem.
    AssertionWithForeignKey,
}

/// The `SignatureMethod` of the IdP's signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureMethod {
    RsaSha256,
    /// `http://www.w3.org/2000/09/xmldsig#rsa-sha1` (accepted only with `allow_sha1`).
    RsaSha1,
}

/// The `DigestMethod` of the IdP's signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestMethod {
    Sha256,
    /// `http://www.w3.org/2000/09/xmldsig#sha1` (accepted only with `allow_sha1`).
    Sha1,
}

/// Every field of a response a test may change. [`Reply::to`] fills them from a request as a
/// well-behaved IdP would.
#[derive(Debug, Clone)]
pub struct Reply {
    pub response_id: String,
    pub destination: String,
    /// `None`: no `InResponseTo` (an IdP-initiated response).
    pub in_response_to: Option<String>,
    pub response_issuer: Option<String>,
    pub status: String,
    pub substatus: Option<String>,
    pub assertion_id: String,
    pub issuer: String,
    pub issue_instant: u64,
    pub name_id: String,
    pub name_id_format: String,
    pub recipient: String,
    pub confirmation_in_response_to: Option<String>,
    pub confirmation_not_on_or_after: u64,
    pub not_before: u64,
    pub not_on_or_after: u64,
    pub audience: String,
    pub session_not_on_or_after: Option<u64>,
    pub attributes: Vec<(String, Vec<String>)>,
    pub signing: Signing,
    pub signature_method: SignatureMethod,
    pub digest_method: DigestMethod,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;")
}

impl Reply {
    /// A well-behaved IdP's answer to `request`, from `idp`, for `email` at `now` (valid 5 minutes).
    pub fn to(request: &SeenRequest, idp: &str, email: &str, now: u64) -> Reply {
        Reply {
            response_id: format!("_resp-{}", &request.id[1..]),
            destination: request.acs_url.clone(),
            in_response_to: Some(request.id.clone()),
            response_issuer: Some(idp.to_string()),
            status: SUCCESS.to_string(),
            substatus: None,
            assertion_id: format!("_assert-{}", &request.id[1..]),
            issuer: idp.to_string(),
            issue_instant: now,
            name_id: email.to_string(),
            name_id_format: EMAIL_FORMAT.to_string(),
            recipient: request.acs_url.clone(),
            confirmation_in_response_to: Some(request.id.clone()),
            confirmation_not_on_or_after: now + 300,
            not_before: now - 30,
            not_on_or_after: now + 300,
            audience: request.sp_entity_id.clone(),
            session_not_on_or_after: None,
            attributes: vec![
                ("displayName".into(), vec!["Alice Example".into()]),
                ("groups".into(), vec!["admins".into(), "staff".into()]),
            ],
            signing: Signing::Assertion,
            signature_method: SignatureMethod::RsaSha256,
            digest_method: DigestMethod::Sha256,
        }
    }

    fn assertion_xml(&self, signature: &str) -> String {
        let irt = self
            .confirmation_in_response_to
            .as_ref()
            .map(|id| format!(" InResponseTo=\"{}\"", esc(id)))
            .unwrap_or_default();
        let session_end = self
            .session_not_on_or_after
            .map(|t| format!(" SessionNotOnOrAfter=\"{}\"", format_datetime(t)))
            .unwrap_or_default();
        let attributes: String = self
            .attributes
            .iter()
            .map(|(name, values)| {
                let values: String =
                    values.iter().map(|v| format!("<saml:AttributeValue>{}</saml:AttributeValue>", esc(v))).collect();
                format!("<saml:Attribute Name=\"{}\">{values}</saml:Attribute>", esc(name))
            })
            .collect();
        let statement = if attributes.is_empty() {
            String::new()
        } else {
            format!("<saml:AttributeStatement>{attributes}</saml:AttributeStatement>")
        };
        format!(
            "<saml:Assertion xmlns:saml=\"{ASSERTION_NS}\" ID=\"{id}\" IssueInstant=\"{instant}\" Version=\"2.0\">\
             <saml:Issuer>{issuer}</saml:Issuer>{signature}\
             <saml:Subject><saml:NameID Format=\"{format}\">{name_id}</saml:NameID>\
             <saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
             <saml:SubjectConfirmationData{irt} NotOnOrAfter=\"{confirmation_end}\" Recipient=\"{recipient}\"/>\
             </saml:SubjectConfirmation></saml:Subject>\
             <saml:Conditions NotBefore=\"{not_before}\" NotOnOrAfter=\"{not_on_or_after}\">\
             <saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>\
             </saml:Conditions>\
             <saml:AuthnStatement AuthnInstant=\"{instant}\" SessionIndex=\"_idp-session-1\"{session_end}>\
             <saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>\
             </saml:AuthnStatement>{statement}</saml:Assertion>",
            id = esc(&self.assertion_id),
            instant = format_datetime(self.issue_instant),
            issuer = esc(&self.issuer),
            format = esc(&self.name_id_format),
            name_id = esc(&self.name_id),
            confirmation_end = format_datetime(self.confirmation_not_on_or_after),
            recipient = esc(&self.recipient),
            not_before = format_datetime(self.not_before),
            not_on_or_after = format_datetime(self.not_on_or_after),
            audience = esc(&self.audience),
        )
    }

    fn response_xml(&self, signature: &str, assertion: &str) -> String {
        let irt = self.in_response_to.as_ref().map(|id| format!(" InResponseTo=\"{}\"", esc(id))).unwrap_or_default();
        let issuer =
            self.response_issuer.as_ref().map(|i| format!("<saml:Issuer>{}</saml:Issuer>", esc(i))).unwrap_or_default();
        let status = match &self.substatus {
            Some(sub) => format!(
                "<samlp:StatusCode Value=\"{}\"><samlp:StatusCode Value=\"{}\"/></samlp:StatusCode>",
                esc(&self.status),
                esc(sub)
            ),
            None => format!("<samlp:StatusCode Value=\"{}\"/>", esc(&self.status)),
        };
        format!(
            "<samlp:Response xmlns:samlp=\"{PROTOCOL_NS}\" xmlns:saml=\"{ASSERTION_NS}\" Destination=\"{destination}\" \
             ID=\"{id}\"{irt} IssueInstant=\"{instant}\" Version=\"2.0\">{issuer}{signature}\
             <samlp:Status>{status}</samlp:Status>{assertion}</samlp:Response>",
            destination = esc(&self.destination),
            id = esc(&self.response_id),
            instant = format_datetime(self.issue_instant),
        )
    }

    /// The assertion alone, signed as [`Reply::signing`] says (unsigned when only the response is), with
    /// [`Reply::signature_method`] and [`Reply::digest_method`]: also the SAML 2.0 token of a WS-Federation
    /// answer (testkit/wsfed.rs).
    pub fn assertion(&self) -> String {
        let methods = (self.signature_method, self.digest_method);
        let key = match self.signing {
            Signing::Assertion | Signing::Both => Key::Idp,
            Signing::AssertionWithForeignKey => Key::Foreign,
            Signing::Response => return self.assertion_xml(""),
        };
        let unsigned = self.assertion_xml("");
        self.assertion_xml(&enveloped_signature_with(&unsigned, &self.assertion_id, key, methods))
    }

    /// The response XML, signed as [`Reply::signing`] says, with [`Reply::signature_method`] and
    /// [`Reply::digest_method`].
    pub fn xml(&self) -> String {
        let (methods, own) = ((self.signature_method, self.digest_method), Key::Idp);
        let assertion = self.assertion();
        match self.signing {
            Signing::Response | Signing::Both => {
                let unsigned = self.response_xml("", &assertion);
                self.response_xml(&enveloped_signature_with(&unsigned, &self.response_id, own, methods), &assertion)
            }
            _ => self.response_xml("", &assertion),
        }
    }

    /// The `SAMLResponse` form field: base64 of the XML.
    pub fn encoded(&self) -> String {
        STANDARD.encode(self.xml())
    }
}

/// The exclusive canonical form of the root element of `xml`. A document that does not parse (a field set to
/// a character XML does not allow, by a fuzzer) is "signed" over its raw bytes: no IdP could sign it, and
/// edge-auth refuses it before any digest is compared.
fn c14n(xml: &str) -> Vec<u8> {
    match parse(xml) {
        Ok(document) => {
            canonicalize(document.root_element(), &Options::default()).unwrap_or_else(|_| xml.as_bytes().to_vec())
        }
        Err(_) => xml.as_bytes().to_vec(),
    }
}

/// An enveloped `ds:Signature` for the element `unsigned` (whose ID is `id`), to be inserted into it.
/// The digest covers the element's canonical form without the signature, which is `unsigned` itself:
/// the signature declares its own namespace, so removing it leaves exactly the unsigned element.
pub fn enveloped_signature(unsigned: &str, id: &str, key: &RsaKeyPair) -> String {
    let digest = STANDARD.encode(Sha256::digest(c14n(unsigned)));
    let signed_info = signed_info(id, (SignatureMethod::RsaSha256, DigestMethod::Sha256), &digest);
    let mut value = vec![0u8; key.public().modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), &c14n(&signed_info), &mut value).unwrap();
    signature_element(&signed_info, &value)
}

/// A TEST-ONLY signing key of the IdP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// rsa-key.pem ([`RSA_CERT_PEM`], [`signer`]).
    Idp,
    /// other-key.pem ([`OTHER_CERT_PEM`], [`foreign_signer`]).
    Foreign,
}

impl Key {
    fn ring(self) -> &'static RsaKeyPair {
        match self {
            Key::Idp => signer(),
            Key::Foreign => foreign_signer(),
        }
    }

    /// The same key for the `rsa` crate (which signs RSA-SHA1: ring does not).
    fn rsa(self) -> &'static rsa::RsaPrivateKey {
        use rsa::pkcs8::DecodePrivateKey;
        static IDP: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
        static FOREIGN: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
        let (cell, pem) = match self {
            Key::Idp => (&IDP, RSA_KEY_PEM),
            Key::Foreign => (&FOREIGN, OTHER_KEY_PEM),
        };
        cell.get_or_init(|| rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap())
    }
}

/// [`enveloped_signature`] with `key` and these methods (RSA-SHA1 signed with the `rsa` crate, RSA-SHA256 with
/// ring).
pub fn enveloped_signature_with(
    unsigned: &str,
    id: &str,
    key: Key,
    (signature_method, digest_method): (SignatureMethod, DigestMethod),
) -> String {
    let canonical = c14n(unsigned);
    let digest = match digest_method {
        DigestMethod::Sha256 => STANDARD.encode(Sha256::digest(&canonical)),
        DigestMethod::Sha1 => STANDARD.encode(sha1::Sha1::digest(&canonical)),
    };
    let signed_info = signed_info(id, (signature_method, digest_method), &digest);
    let signed = c14n(&signed_info);
    let value = match signature_method {
        SignatureMethod::RsaSha256 => {
            let key = key.ring();
            let mut value = vec![0u8; key.public().modulus_len()];
            key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), &signed, &mut value).unwrap();
            value
        }
        SignatureMethod::RsaSha1 => {
            // DigestInfo of SHA-1 (RFC 8017 §9.2, note 1), then the 20-byte hash.
            let prefix = [0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14];
            let padding = rsa::Pkcs1v15Sign { hash_len: Some(20), prefix: Box::new(prefix) };
            key.rsa().sign(padding, &sha1::Sha1::digest(&signed)).unwrap()
        }
    };
    signature_element(&signed_info, &value)
}

fn signed_info(id: &str, (signature_method, digest_method): (SignatureMethod, DigestMethod), digest: &str) -> String {
    let signature_method = match signature_method {
        SignatureMethod::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        SignatureMethod::RsaSha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    };
    let digest_method = match digest_method {
        DigestMethod::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
        DigestMethod::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
    };
    format!(
        "<ds:SignedInfo xmlns:ds=\"{DSIG_NS}\"><ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"/>\
         <ds:SignatureMethod Algorithm=\"{signature_method}\"/>\
         <ds:Reference URI=\"#{id}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
         <ds:Transform Algorithm=\"{EXC_C14N}\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{digest_method}\"/>\
         <ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
    )
}

fn signature_element(signed_info: &str, value: &[u8]) -> String {
    format!(
        "<ds:Signature xmlns:ds=\"{DSIG_NS}\">{signed_info}<ds:SignatureValue>{}</ds:SignatureValue></ds:Signature>",
        STANDARD.encode(value)
    )
}

/// An IdP metadata document (one signing certificate, the HTTP-Redirect SSO URL).
pub fn metadata(entity_id: &str, sso_url: &str, certificate_pem: &str, valid_until: Option<u64>) -> String {
    let valid_until = valid_until.map(|t| format!(" validUntil=\"{}\"", format_datetime(t))).unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" xmlns:ds=\"{DSIG_NS}\" \
         entityID=\"{entity_id}\"{valid_until}>\
         <md:IDPSSODescriptor protocolSupportEnumeration=\"{PROTOCOL_NS}\">\
         <md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate>\
         </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
         <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{sso_url}\"/>\
         </md:IDPSSODescriptor></md:EntityDescriptor>\n",
        cert = pem_body(certificate_pem),
    )
}
