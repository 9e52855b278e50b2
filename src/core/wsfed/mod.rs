//! WS-Federation passive requestor profile, the relying party's side of `wa=wsignin1.0` (WS-Federation 1.2
//! §13): from the posted `wresult` XML to a [`WsFedIdentity`], or a [`WsFedError`] that says which rule refused
//! it. Sans-IO: the caller passes the keys, the clock and a [`SignatureVerifier`].
//!
//! It stands on the XML core the SAML code uses ([`crate::core::xml`]: one parser, one canonicaliser, the
//! enveloped-signature rules of [`crate::core::xml::dsig`]) and keeps the same rule: claims are read only from
//! the **signed bytes** of the assertion (its canonical form, parsed again), never from the posted document, so
//! nothing the browser adds around, beside or inside the token can reach a claim.
//!
//! The envelope (the posted document), each rule refused with its own [`WsFedError::Invalid`]:
//! - the document is one `wst:RequestSecurityTokenResponse` — WS-Trust 2005/02, as AD FS and Entra send for
//!   `wsignin1.0`, or WS-Trust 1.3 — or a WS-Trust 1.3 `RequestSecurityTokenResponseCollection` holding exactly
//!   one response and nothing else; no other response anywhere in the document;
//! - exactly one `RequestedSecurityToken` in the whole document, a child of the response, holding exactly one
//!   element: the token, a SAML 1.1 or SAML 2.0 `Assertion` (an encrypted token is refused, not skipped);
//! - exactly one assertion (of either version) in the whole document — none in `AppliesTo`, in `Advice`, in an
//!   extension — and `ds:Signature` only as a child of that assertion, exactly once;
//! - `Lifetime`, `TokenType` and `AppliesTo` are unsigned: never read for a decision, except that an
//!   `AppliesTo` address, when there is one, must name the realm (an IdP that says the token is for another
//!   relying party is believed; one that says it is for us proves nothing).
//!
//! The assertion, from its signed bytes ([`saml11`] and [`saml2`] list their rules): issued by the expected
//! issuer, for the realm (every audience restriction names it), inside its validity window with the clock
//! leeway, about one subject confirmed by `bearer`, with one authentication statement.

use crate::core::oidc::jwks::Jwk;
use crate::core::ports::SignatureVerifier;
use crate::core::saml::SamlError;
use crate::core::xml::dsig::{check_enveloped, DsigError, DSIG_NS};
use crate::core::xml::{exactly_one as one, normalize_line_ends, parse, BrokenRule, Element, XmlError};

pub mod identity;
pub mod metadata;
mod saml11;
mod saml2;

/// WS-Trust February 2005: what AD FS and Entra send for `wsignin1.0`.
pub const TRUST_2005_NS: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust";
/// WS-Trust 1.3 (OASIS): AD FS with `wsignin1.0` and a 1.3 relying party trust, and other STSes.
pub const TRUST_13_NS: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";
/// SAML 1.x assertions (1.0 and 1.1 share the namespace; only 1.1 is accepted).
pub const SAML11_NS: &str = "urn:oasis:names:tc:SAML:1.0:assertion";
pub use crate::core::saml::ASSERTION_NS as SAML2_NS;

/// WS-Policy 2004/09 and 1.5 (`AppliesTo`) and WS-Addressing 2004/08 and 1.0 (`EndpointReference/Address`).
const POLICY_NS: [&str; 2] = ["http://schemas.xmlsoap.org/ws/2004/09/policy", "http://www.w3.org/ns/ws-policy"];
const ADDRESSING_NS: [&str; 2] =
    ["http://www.w3.org/2005/08/addressing", "http://schemas.xmlsoap.org/ws/2004/08/addressing"];
const XML_ENCRYPTION_NS: &str = "http://www.w3.org/2001/04/xmlenc#";

/// `wa` of a sign-in request and of its answer.
pub const WSIGNIN: &str = "wsignin1.0";
/// `wa` of a sign-out request (the IdP's, or ours to the IdP).
pub const WSIGNOUT: &str = "wsignout1.0";
/// `wa` of the IdP's request to clean up this relying party's session after a sign-out elsewhere.
pub const WSIGNOUT_CLEANUP: &str = "wsignoutcleanup1.0";

/// The IdP's passive endpoint with a sign-out request: `wa=wsignout1.0`, this relying party's realm, and where to
/// come back (`wreply`: the signed-out page of this origin).
pub fn wsignout_url(sso_url: &str, realm: &str, signed_out: &str) -> Option<String> {
    let mut url = url::Url::parse(sso_url).ok()?;
    url.query_pairs_mut().append_pair("wa", WSIGNOUT).append_pair("wtrealm", realm).append_pair("wreply", signed_out);
    Some(url.into())
}

/// What the token must match: this relying party, this IdP, the time.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The IdP's issuer (Entra `https://sts.windows.net/{tenant}/`, AD FS `http://{host}/adfs/services/trust`):
    /// SAML 1.1 `Issuer` attribute, SAML 2.0 `Issuer` element.
    pub issuer: &'a str,
    /// The realm (`wtrealm`): the audience every restriction must name.
    pub realm: &'a str,
    /// The reply URL (`wreply`, where the token was posted): a SAML 2.0 confirmation's `Recipient`, when it has
    /// one, must be it.
    pub reply_url: &'a str,
    /// The IdP's signing keys (from its certificates: rollover allowed). `KeyInfo` is never read.
    pub keys: &'a [Jwk],
    pub now: u64,
    pub leeway: u64,
}

/// Which token the response carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Saml11,
    Saml2,
}

/// A claim: its name (SAML 1.1: `AttributeNamespace` + `/` + `AttributeName`; SAML 2.0: `Name`) and values —
/// a SAML attribute by another name.
pub type Claim = crate::core::saml::Attribute;

/// What a verified `wresult` says, all of it read from the assertion's signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsFedIdentity {
    pub token: TokenKind,
    /// SAML 1.1 `AssertionID` / SAML 2.0 `ID`: single use across the network until [`WsFedIdentity::valid_until`].
    pub assertion_id: String,
    /// The assertion's issuer (equal to [`Expected::issuer`]).
    pub issuer: String,
    /// SAML 1.1 `NameIdentifier` / SAML 2.0 `NameID`, and its `Format` when given.
    pub name_identifier: String,
    pub name_identifier_format: Option<String>,
    pub claims: Vec<Claim>,
    /// SAML 2.0 `AuthnStatement/@SessionNotOnOrAfter`, the IdP's cap on the session (SAML 1.1 has none).
    pub session_not_on_or_after: Option<u64>,
    /// The time after which the assertion can no longer be used (its `NotOnOrAfter`s, the earliest, plus the
    /// leeway): how long its ID must stay claimed.
    pub valid_until: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFedError {
    Xml(XmlError),
    Signature(DsigError),
    /// A rule of the module documentation (or of [`saml11`] / [`saml2`]), named.
    Invalid(&'static str),
    /// The assertion is no longer valid at this time.
    Expired(&'static str),
    /// The assertion is not valid yet.
    NotYetValid(&'static str),
}

impl From<XmlError> for WsFedError {
    fn from(e: XmlError) -> WsFedError {
        WsFedError::Xml(e)
    }
}

impl From<BrokenRule> for WsFedError {
    fn from(BrokenRule(rule): BrokenRule) -> WsFedError {
        WsFedError::Invalid(rule)
    }
}

/// The assertion rules shared with SAML ([`crate::core::saml::assertion`]) refuse with the SAML error type; a
/// WS-Federation token breaks the same rule under the same name.
impl From<SamlError> for WsFedError {
    fn from(e: SamlError) -> WsFedError {
        match e {
            SamlError::Xml(e) => WsFedError::Xml(e),
            SamlError::Signature(e) => WsFedError::Signature(e),
            SamlError::Invalid(rule) => WsFedError::Invalid(rule),
            SamlError::Expired(what) => WsFedError::Expired(what),
            SamlError::NotYetValid(what) => WsFedError::NotYetValid(what),
            // Not produced by the assertion rules (no status, no encryption in a wresult).
            SamlError::Status { .. } | SamlError::Decryption(_) => WsFedError::Invalid("a SAML 2.0 Assertion"),
        }
    }
}

impl From<DsigError> for WsFedError {
    fn from(e: DsigError) -> WsFedError {
        match e {
            DsigError::Xml(e) => WsFedError::Xml(e),
            e => WsFedError::Signature(e),
        }
    }
}

impl std::fmt::Display for WsFedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsFedError::Xml(e) => write!(f, "the WS-Federation token is not XML edge-auth reads: {e}"),
            WsFedError::Signature(e) => write!(f, "the WS-Federation token's signature: {e}"),
            WsFedError::Invalid(rule) => write!(f, "the WS-Federation token breaks a rule: {rule}"),
            WsFedError::Expired(what) => write!(f, "the WS-Federation token has expired: {what}"),
            WsFedError::NotYetValid(what) => write!(f, "the WS-Federation token is not valid yet: {what}"),
        }
    }
}

impl std::error::Error for WsFedError {}

fn is_response(element: &Element<'_, '_>) -> bool {
    element.is(TRUST_2005_NS, "RequestSecurityTokenResponse") || element.is(TRUST_13_NS, "RequestSecurityTokenResponse")
}

fn is_assertion(element: &Element<'_, '_>) -> bool {
    element.is(SAML11_NS, "Assertion") || element.is(SAML2_NS, "Assertion")
}

/// Verify a `wresult` (the form field's value: raw XML) against what is expected. See the module documentation.
pub async fn verify_wresult<V: SignatureVerifier>(
    wresult: &str,
    expected: &Expected<'_>,
    verifier: &V,
) -> Result<WsFedIdentity, WsFedError> {
    let text = normalize_line_ends(wresult);
    let document = parse(&text)?;
    let root = document.root_element();

    // Exactly one response: the document itself, or the only child of a WS-Trust 1.3 collection.
    let response = if root.is(TRUST_13_NS, "RequestSecurityTokenResponseCollection") {
        one(root.child_elements(), "the collection holds exactly one RequestSecurityTokenResponse")?
    } else {
        root
    };
    if !is_response(&response) {
        return Err(WsFedError::Invalid("the wresult is a RequestSecurityTokenResponse"));
    }
    let trust = response.namespace().unwrap_or_default();
    if root != response && !response.is(TRUST_13_NS, "RequestSecurityTokenResponse") {
        return Err(WsFedError::Invalid("the collection holds exactly one RequestSecurityTokenResponse"));
    }
    if document.elements().filter(is_response).count() != 1 {
        return Err(WsFedError::Invalid("exactly one RequestSecurityTokenResponse"));
    }

    // Exactly one token container, a child of the response, holding exactly one element: the assertion.
    let containers = document.elements().filter(|e| e.local_name() == "RequestedSecurityToken");
    let container = one(containers, "exactly one RequestedSecurityToken")?;
    if !container.is(trust, "RequestedSecurityToken") || container.parent_element() != Some(response) {
        return Err(WsFedError::Invalid("the RequestedSecurityToken is a child of the response"));
    }
    let token = one(container.child_elements(), "the RequestedSecurityToken holds exactly one token")?;
    let encrypted =
        |e: &Element<'_, '_>| e.is(XML_ENCRYPTION_NS, "EncryptedData") || e.is(SAML2_NS, "EncryptedAssertion");
    if document.elements().any(|e| encrypted(&e)) {
        return Err(WsFedError::Invalid("no encrypted token (not supported)"));
    }
    if !is_assertion(&token) {
        return Err(WsFedError::Invalid("the token is a SAML 1.1 or SAML 2.0 Assertion"));
    }
    let assertion = one(document.elements().filter(is_assertion), "exactly one Assertion")?;
    if assertion != token {
        return Err(WsFedError::Invalid("exactly one Assertion"));
    }
    for signature in document.elements().filter(|e| e.is(DSIG_NS, "Signature")) {
        if signature.parent_element() != Some(assertion) {
            return Err(WsFedError::Invalid("ds:Signature only on the Assertion"));
        }
    }
    let signature = one(assertion.children_named(DSIG_NS, "Signature"), "the Assertion is signed")?;

    // AppliesTo is not signed: it can refuse (an IdP naming another relying party), never accept.
    for applies_to in response.child_elements().filter(|e| POLICY_NS.iter().any(|ns| e.is(ns, "AppliesTo"))) {
        let mut addresses = applies_to
            .descendant_elements()
            .filter(|e| ADDRESSING_NS.iter().any(|ns| e.is(ns, "Address")))
            .map(|address| address.text());
        if !addresses.any(|address| address.is_ok_and(|a| a.trim() == expected.realm)) {
            return Err(WsFedError::Invalid("AppliesTo, when present, names the realm"));
        }
    }

    let signed = check_enveloped(&document, signature)?.verify(expected.keys, verifier).await?;
    let signed_document = parse(signed.as_str())?;
    let signed_assertion = signed_document.root_element();
    if signed_assertion.is(SAML11_NS, "Assertion") {
        saml11::read(signed_assertion, expected)
    } else if signed_assertion.is(SAML2_NS, "Assertion") {
        saml2::read(signed_assertion, expected)
    } else {
        Err(WsFedError::Invalid("the token is a SAML 1.1 or SAML 2.0 Assertion"))
    }
}
