//! SAML 2.0 Web Browser SSO, the Service Provider's side of the HTTP-POST response (SAML Profiles §4.1.4): from
//! the `SAMLResponse` XML to a [`SamlIdentity`], or a [`SamlError`] that says which rule refused it.
//!
//! Everything goes through the XML core ([`crate::core::xml`]: one parser, one canonicaliser, the enveloped
//! signature rules of [`crate::core::xml::dsig`]). Claims are read only from **signed bytes**: the canonical
//! form of the assertion whose signature verified (or of the signed response, the assertion then taken from
//! *those* bytes), parsed again — never from the document the browser posted. So a wrapper, a sibling, a second
//! assertion or a comment cannot change what is read (XSW1–8 and their relatives).
//!
//! The rules (each refused with its own [`SamlError`]):
//! - the document is one `samlp:Response` (Version 2.0) whose `Destination` is the ACS URL and whose
//!   `InResponseTo` is the request this browser sent; its `Issuer`, when present, is the IdP; its status is
//!   Success (otherwise the IdP's status code is reported);
//! - exactly one `saml:Assertion` or `saml:EncryptedAssertion` in the whole document, a child of the Response
//!   (none in `Advice`); `ds:Signature` only as a child of the Response or of the Assertion, and at least one
//!   of them (an assertion signature is required when the response is unsigned; both are verified when both
//!   are there);
//! - an `EncryptedAssertion` needs the SP's decryption key ([`Expected::decryption_key`]) and is read by
//!   [`crate::core::xml::xenc`] (RSA-OAEP + AES-GCM only). A signed Response is verified before anything is
//!   decrypted, and the ciphertext is taken from its verified bytes; with an unsigned Response the decrypted
//!   assertion must be signed itself (encryption is not authentication). The plaintext is parsed alone, must
//!   be exactly one `saml:Assertion` (no other assertion inside it, signatures only on it), and then goes
//!   through the same rules, from signed bytes;
//! - the assertion (from signed bytes): Version 2.0, an `ID`, `Issuer` = the IdP; a `Subject` with a `NameID`
//!   and exactly one `SubjectConfirmation`, bearer, whose data has `Recipient` = the ACS URL, `InResponseTo` =
//!   the request, a `NotOnOrAfter` in the future and no `NotBefore`; `Conditions` whose `NotBefore` /
//!   `NotOnOrAfter` hold (with the clock leeway), with at least one `AudienceRestriction`, every one of which
//!   names the SP's entity ID, and no condition but those and `OneTimeUse` / `ProxyRestriction`; exactly one
//!   `AuthnStatement`, whose `SessionNotOnOrAfter`, if any, caps the session.

use crate::core::oidc::jwks::Jwk;
use crate::core::ports::{KeyUnwrapper, SignatureVerifier};
use crate::core::xml::dsig::{check_enveloped_with, index_ids, DsigError, Sha1, VerifiedBytes, DSIG_NS};
use crate::core::xml::xenc::{self, DecryptionKey, XencError};
use crate::core::xml::{
    at_most_one as optional_one, exactly_one as one, normalize_line_ends, parse, BrokenRule, Document, Element,
    XmlError,
};
use assertion::{issuer_is, read_assertion, AssertionRules, Confirmation};

pub mod assertion;
pub mod identity;
pub mod metadata;
pub mod request;
pub mod time;

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const EMAIL_ADDRESS_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// What the response must match: this SP, this IdP, this browser's request, the time.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The IdP's entity ID (its `Issuer`).
    pub idp_entity_id: &'a str,
    /// The SP's entity ID (the audience).
    pub sp_entity_id: &'a str,
    /// The Assertion Consumer Service URL the response was posted to (`Destination`, `Recipient`).
    pub acs_url: &'a str,
    /// The ID of the AuthnRequest this browser's transaction cookie carries.
    pub request_id: &'a str,
    /// The IdP's signing keys (from its certificates: rollover allowed).
    pub keys: &'a [Jwk],
    pub now: u64,
    pub leeway: u64,
    /// The SP's private key for encrypted assertions (`sp_decryption_key_binding`); `None`: an
    /// `EncryptedAssertion` is refused.
    pub decryption_key: Option<&'a DecryptionKey>,
    /// SHA-1 signatures and digests: [`Sha1::Allowed`] only for a connector with `allow_sha1` (deprecated).
    pub sha1: Sha1,
}

/// A SAML attribute: its `Name` and its values (text of each `AttributeValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub values: Vec<String>,
}

/// What a verified response says, all of it read from signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlIdentity {
    /// The assertion's `ID` (single use across the network until [`SamlIdentity::valid_until`]).
    pub assertion_id: String,
    /// The `NameID` and its `Format` (if given).
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub attributes: Vec<Attribute>,
    /// The IdP session (`AuthnStatement/@SessionIndex`), for logout.
    pub session_index: Option<String>,
    /// `SessionNotOnOrAfter`: the IdP's cap on the session, if it sets one.
    pub session_not_on_or_after: Option<u64>,
    /// The time after which the assertion can no longer be used (the earlier of `Conditions/@NotOnOrAfter` and
    /// the bearer confirmation's `NotOnOrAfter`, plus the leeway): how long its ID must stay claimed.
    pub valid_until: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamlError {
    Xml(XmlError),
    Signature(DsigError),
    /// The `EncryptedAssertion` could not be read or decrypted.
    Decryption(XencError),
    /// The IdP answered with a status other than Success (its top-level and second-level codes).
    Status {
        code: String,
        subcode: Option<String>,
    },
    /// A rule of the module documentation, named.
    Invalid(&'static str),
    /// The response or assertion is not (or no longer) valid at this time.
    Expired(&'static str),
    NotYetValid(&'static str),
}

impl From<XmlError> for SamlError {
    fn from(e: XmlError) -> SamlError {
        SamlError::Xml(e)
    }
}

impl From<BrokenRule> for SamlError {
    fn from(BrokenRule(rule): BrokenRule) -> SamlError {
        SamlError::Invalid(rule)
    }
}

impl From<XencError> for SamlError {
    fn from(e: XencError) -> SamlError {
        match e {
            XencError::Xml(e) => SamlError::Xml(e),
            e => SamlError::Decryption(e),
        }
    }
}

impl From<DsigError> for SamlError {
    fn from(e: DsigError) -> SamlError {
        match e {
            DsigError::Xml(e) => SamlError::Xml(e),
            e => SamlError::Signature(e),
        }
    }
}

impl std::fmt::Display for SamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SamlError::Xml(e) => write!(f, "the SAML response is not XML edge-auth reads: {e}"),
            SamlError::Signature(e) => write!(f, "the SAML response's signature: {e}"),
            SamlError::Decryption(e) => write!(f, "the SAML response's encrypted assertion: {e}"),
            SamlError::Status { code, subcode } => match subcode {
                Some(sub) => write!(f, "the IdP answered with status {code} ({sub})"),
                None => write!(f, "the IdP answered with status {code}"),
            },
            SamlError::Invalid(rule) => write!(f, "the SAML response breaks a rule: {rule}"),
            SamlError::Expired(what) => write!(f, "the SAML response has expired: {what}"),
            SamlError::NotYetValid(what) => write!(f, "the SAML response is not valid yet: {what}"),
        }
    }
}

impl std::error::Error for SamlError {}

/// Verify a `SAMLResponse` (the XML, base64-decoded by the caller) against what is expected. See the module
/// documentation.
pub async fn verify_response<V: SignatureVerifier + KeyUnwrapper>(
    xml: &str,
    expected: &Expected<'_>,
    verifier: &V,
) -> Result<SamlIdentity, SamlError> {
    let text = normalize_line_ends(xml);
    let document = parse(&text)?;
    let response = document.root_element();
    if !response.is(PROTOCOL_NS, "Response") {
        return Err(SamlError::Invalid("the document is a samlp:Response"));
    }
    if response.attribute(None, "Version") != Some("2.0") {
        return Err(SamlError::Invalid("Version is 2.0"));
    }
    if response.attribute(None, "Destination") != Some(expected.acs_url) {
        return Err(SamlError::Invalid("Destination is the ACS URL"));
    }
    if response.attribute(None, "InResponseTo") != Some(expected.request_id) {
        return Err(SamlError::Invalid("InResponseTo is this browser's request"));
    }
    issuer_is(response, expected.idp_entity_id, false, "the Response's Issuer is the IdP")?;
    let status = one(response.children_named(PROTOCOL_NS, "Status"), "one Status")?;
    let code = one(status.children_named(PROTOCOL_NS, "StatusCode"), "one StatusCode")?;
    let value = code.attribute(None, "Value").unwrap_or_default();
    if value != SUCCESS {
        let subcode = code.children_named(PROTOCOL_NS, "StatusCode").next().and_then(|c| c.attribute(None, "Value"));
        return Err(SamlError::Status { code: value.to_string(), subcode: subcode.map(str::to_string) });
    }

    // Exactly one assertion (plain or encrypted) in the whole document, a child of the Response; signatures
    // only where the schema puts them.
    let assertion = one(
        document.elements().filter(|e| e.is(ASSERTION_NS, "Assertion") || e.is(ASSERTION_NS, "EncryptedAssertion")),
        "exactly one Assertion or EncryptedAssertion",
    )?;
    if assertion.parent_element() != Some(response) {
        return Err(SamlError::Invalid("the Assertion is a child of the Response"));
    }
    let encrypted = assertion.is(ASSERTION_NS, "EncryptedAssertion");
    for signature in document.elements().filter(|e| e.is(DSIG_NS, "Signature")) {
        let parent = signature.parent_element();
        if parent != Some(response) && (encrypted || parent != Some(assertion)) {
            return Err(SamlError::Invalid("ds:Signature only on the Response or the Assertion"));
        }
    }
    let response_signature = optional_one(response.children_named(DSIG_NS, "Signature"), "one Response signature")?;
    if encrypted {
        return verify_encrypted(&document, response_signature, assertion, expected, verifier).await;
    }
    let assertion_signature = optional_one(assertion.children_named(DSIG_NS, "Signature"), "one Assertion signature")?;

    let signed_assertion: VerifiedBytes = match (response_signature, assertion_signature) {
        (_, Some(signature)) => {
            if let Some(response_signature) = response_signature {
                check_enveloped_with(&document, response_signature, expected.sha1)?
                    .verify(expected.keys, verifier)
                    .await?;
            }
            check_enveloped_with(&document, signature, expected.sha1)?.verify(expected.keys, verifier).await?
        }
        (Some(signature), None) => {
            let response_bytes =
                check_enveloped_with(&document, signature, expected.sha1)?.verify(expected.keys, verifier).await?;
            // The assertion as the signed response carries it.
            response_bytes.child(ASSERTION_NS, "Assertion")?
        }
        (None, None) => return Err(SamlError::Invalid("the Response or the Assertion is signed")),
    };
    read_signed_assertion(signed_assertion.as_str(), expected)
}

/// An `EncryptedAssertion` (the Response's checks done). A signed Response is verified *first*, and the
/// encrypted assertion decrypted from its verified bytes: the ciphertext is then what the IdP signed, and so is
/// the plaintext (which may be signed itself too: then that signature must verify as well). An unsigned Response
/// proves nothing about its ciphertext — anyone can encrypt to the SP's certificate — so the decrypted assertion
/// must then carry a valid signature of its own: encryption is never taken as authentication.
async fn verify_encrypted<V: SignatureVerifier + KeyUnwrapper>(
    document: &Document<'_>,
    response_signature: Option<Element<'_, '_>>,
    encrypted: Element<'_, '_>,
    expected: &Expected<'_>,
    verifier: &V,
) -> Result<SamlIdentity, SamlError> {
    let key = expected
        .decryption_key
        .ok_or(SamlError::Invalid("an EncryptedAssertion needs sp_decryption_key_binding (no SP decryption key)"))?;
    let plaintext = match response_signature {
        Some(signature) => {
            let response_bytes =
                check_enveloped_with(document, signature, expected.sha1)?.verify(expected.keys, verifier).await?;
            let signed = response_bytes.child(ASSERTION_NS, "EncryptedAssertion")?;
            let signed_document = parse(signed.as_str())?;
            xenc::read_encrypted(signed_document.root_element())?.decrypt(key, verifier).await?
        }
        None => xenc::read_encrypted(encrypted)?.decrypt(key, verifier).await?,
    };
    // The plaintext is parsed alone, by the same parser, as one saml:Assertion with its namespaces declared.
    let text = normalize_line_ends(&plaintext);
    let decrypted = parse(&text)?;
    let assertion = decrypted.root_element();
    if !assertion.is(ASSERTION_NS, "Assertion") {
        return Err(SamlError::Invalid("the EncryptedAssertion decrypts to one saml:Assertion"));
    }
    if decrypted
        .elements()
        .any(|e| e != assertion && (e.is(ASSERTION_NS, "Assertion") || e.is(ASSERTION_NS, "EncryptedAssertion")))
    {
        return Err(SamlError::Invalid("exactly one Assertion or EncryptedAssertion"));
    }
    if decrypted.elements().any(|e| e.is(DSIG_NS, "Signature") && e.parent_element() != Some(assertion)) {
        return Err(SamlError::Invalid("ds:Signature only on the Response or the Assertion"));
    }
    index_ids(&decrypted)?;
    let signature = optional_one(assertion.children_named(DSIG_NS, "Signature"), "one Assertion signature")?;
    let canonical = match (signature, response_signature) {
        (Some(signature), _) => {
            check_enveloped_with(&decrypted, signature, expected.sha1)?.verify(expected.keys, verifier).await?
        }
        // Decrypted from the signed response's bytes: its canonical form is what the IdP signed, encrypted.
        (None, Some(_)) => VerifiedBytes::decrypted_from_signed(&decrypted)?,
        (None, None) => {
            return Err(SamlError::Invalid(
                "an encrypted assertion in an unsigned Response is signed (encryption is not authentication)",
            ))
        }
    };
    read_signed_assertion(canonical.as_str(), expected)
}

/// The assertion's rules and claims ([`assertion::read_assertion`], Web Browser SSO binding), from its signed
/// canonical text.
fn read_signed_assertion(text: &str, expected: &Expected<'_>) -> Result<SamlIdentity, SamlError> {
    let document = parse(text)?;
    let rules = AssertionRules {
        issuer: expected.idp_entity_id,
        audience: expected.sp_entity_id,
        confirmation: Confirmation::WebSso { acs_url: expected.acs_url, request_id: expected.request_id },
        now: expected.now,
        leeway: expected.leeway,
    };
    read_assertion(document.root_element(), &rules)
}
