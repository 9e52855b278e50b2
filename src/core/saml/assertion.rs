//! A SAML 2.0 `saml:Assertion`, read from its signed bytes: the rules both protocols that carry one apply — the
//! Web Browser SSO profile (a `samlp:Response` to this SP's `AuthnRequest`, [`crate::core::saml`]) and
//! WS-Federation (a token in a `wresult`, [`crate::core::wsfed`]). They differ only in how the bearer
//! confirmation is bound to the exchange ([`Confirmation`]); everything else is one function:
//! - `Version` 2.0, a non-empty `ID`, an `Issuer` = the IdP (entity format, if a format is given);
//! - a `Subject` with a non-empty `NameID` and exactly one bearer `SubjectConfirmation` whose
//!   `SubjectConfirmationData` has a `NotOnOrAfter` in the future (with the leeway), no `NotBefore`, and the
//!   binding's `Recipient` and `InResponseTo` ([`Confirmation`]);
//! - `Conditions` whose `NotBefore`/`NotOnOrAfter` hold with the leeway, with at least one
//!   `AudienceRestriction`, every one of which names the audience, and no condition but those and
//!   `OneTimeUse` / `ProxyRestriction` (a condition not understood makes the assertion Indeterminate, Core
//!   §2.5.1.1; those two ask nothing of a relying party whose assertion IDs are single use and which never
//!   proxies);
//! - exactly one `AuthnStatement`, whose `SessionNotOnOrAfter`, if any, is in the future;
//! - attributes: each `Attribute` has a `Name`; a value that is an element (Shibboleth's eduPersonTargetedID is
//!   a NameID) is not a string, so that attribute is kept with no values — counted, so an email attribute given
//!   twice stays ambiguous, but never read as an email or a group.

use super::time::time_attribute;
use super::{Attribute, SamlError, SamlIdentity, ASSERTION_NS};
use crate::core::xml::{exactly_one as one, Element, XmlError};

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const ENTITY_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";

/// How the bearer confirmation is bound to the exchange that asked for the assertion.
#[derive(Debug, Clone, Copy)]
pub enum Confirmation<'a> {
    /// SAML Web Browser SSO (Profiles §4.1.4.2): `Recipient` is the ACS URL, `InResponseTo` is the ID of this
    /// browser's `AuthnRequest`.
    WebSso { acs_url: &'a str, request_id: &'a str },
    /// WS-Federation passive requestor: there is no SAML request, so **no** `InResponseTo` (a confirmation
    /// answering some SAML request was issued for another exchange); `Recipient`, when present, is the reply URL.
    WsFederation { reply_url: &'a str },
}

impl Confirmation<'_> {
    fn audience_rule(&self) -> &'static str {
        match self {
            Confirmation::WebSso { .. } => "every AudienceRestriction names this SP",
            Confirmation::WsFederation { .. } => "every audience restriction names the realm",
        }
    }

    fn check(&self, data: Element<'_, '_>) -> Result<(), SamlError> {
        let recipient = data.attribute(None, "Recipient");
        let in_response_to = data.attribute(None, "InResponseTo");
        match *self {
            Confirmation::WebSso { acs_url, request_id } => {
                if recipient != Some(acs_url) {
                    return Err(SamlError::Invalid("Recipient is the ACS URL"));
                }
                if in_response_to != Some(request_id) {
                    return Err(SamlError::Invalid("the confirmation's InResponseTo is this browser's request"));
                }
            }
            Confirmation::WsFederation { reply_url } => {
                if recipient.is_some_and(|recipient| recipient != reply_url) {
                    return Err(SamlError::Invalid("Recipient, when present, is the reply URL"));
                }
                if in_response_to.is_some() {
                    return Err(SamlError::Invalid("the confirmation has no InResponseTo"));
                }
            }
        }
        Ok(())
    }
}

/// What the assertion must match.
#[derive(Debug, Clone, Copy)]
pub struct AssertionRules<'a> {
    /// The IdP's entity ID (or WS-Federation issuer): the assertion's `Issuer`.
    pub issuer: &'a str,
    /// This relying party (the SP's entity ID, or the WS-Federation realm): every audience restriction names it.
    pub audience: &'a str,
    pub confirmation: Confirmation<'a>,
    pub now: u64,
    pub leeway: u64,
}

/// The assertion's `Issuer`: present when `required`, the entity format if a format is given, the IdP's.
pub(super) fn issuer_is(
    parent: Element<'_, '_>,
    idp: &str,
    required: bool,
    rule: &'static str,
) -> Result<(), SamlError> {
    match crate::core::xml::at_most_one(parent.children_named(ASSERTION_NS, "Issuer"), rule)? {
        Some(issuer) => {
            // The entity format is the only one an Issuer may name here (Profiles §4.1.4.2).
            if issuer.attribute(None, "Format").is_some_and(|f| f != ENTITY_FORMAT) || issuer.text()?.trim() != idp {
                return Err(SamlError::Invalid(rule));
            }
            Ok(())
        }
        None if required => Err(SamlError::Invalid(rule)),
        None => Ok(()),
    }
}

/// The `Conditions` time window (SAML 2.0 and SAML 1.1 name its attributes alike), checked with the leeway;
/// its `NotOnOrAfter`, when it has one.
pub fn check_window(conditions: Element<'_, '_>, now: u64, leeway: u64) -> Result<Option<u64>, SamlError> {
    if let Some(not_before) = time_attribute(conditions, "NotBefore", "NotBefore is a dateTime")? {
        if now.saturating_add(leeway) < not_before {
            return Err(SamlError::NotYetValid("Conditions NotBefore"));
        }
    }
    let end = time_attribute(conditions, "NotOnOrAfter", "NotOnOrAfter is a dateTime")?;
    if end.is_some_and(|end| now >= end.saturating_add(leeway)) {
        return Err(SamlError::Expired("Conditions NotOnOrAfter"));
    }
    Ok(end)
}

/// Every audience restriction (there must be at least one) has an `Audience` (in `namespace`) that is
/// `audience`; `rule` names the refusal.
pub fn check_audiences<'a, 'input: 'a>(
    restrictions: impl Iterator<Item = Element<'a, 'input>>,
    namespace: &str,
    audience: &str,
    rule: &'static str,
) -> Result<(), SamlError> {
    let mut restrictions = restrictions.peekable();
    if restrictions.peek().is_none() {
        return Err(SamlError::Invalid("an audience restriction"));
    }
    for restriction in restrictions {
        let mut audiences = restriction.children_named(namespace, "Audience");
        if !audiences.any(|a| a.text().is_ok_and(|t| t.trim() == audience)) {
            return Err(SamlError::Invalid(rule));
        }
    }
    Ok(())
}

/// The text of each `AttributeValue` (in `namespace`) of `attribute`; none when one of them is an element (see
/// the module documentation).
pub fn attribute_values(attribute: Element<'_, '_>, namespace: &str) -> Result<Vec<String>, XmlError> {
    let mut values = Vec::new();
    for value in attribute.children_named(namespace, "AttributeValue") {
        match value.text() {
            Ok(text) => values.push(text),
            Err(XmlError::UnexpectedChildElement) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    }
    Ok(values)
}

/// The assertion's rules and claims. `assertion` must be the root of a document parsed from the assertion's
/// **signed** canonical bytes: nothing outside them can then reach a claim.
pub fn read_assertion(assertion: Element<'_, '_>, rules: &AssertionRules<'_>) -> Result<SamlIdentity, SamlError> {
    if !assertion.is(ASSERTION_NS, "Assertion") || assertion.attribute(None, "Version") != Some("2.0") {
        return Err(SamlError::Invalid("a SAML 2.0 Assertion"));
    }
    let assertion_id = assertion
        .attribute(None, "ID")
        .filter(|id| !id.is_empty())
        .ok_or(SamlError::Invalid("the Assertion has an ID"))?;
    issuer_is(assertion, rules.issuer, true, "the Assertion's Issuer is the IdP")?;
    let (now, leeway) = (rules.now, rules.leeway);

    // Subject: the NameID and one bearer confirmation for this relying party and this exchange.
    let subject = one(assertion.children_named(ASSERTION_NS, "Subject"), "one Subject")?;
    let name_id = one(subject.children_named(ASSERTION_NS, "NameID"), "one NameID")?;
    let name_id_value = name_id.text()?.trim().to_string();
    if name_id_value.is_empty() {
        return Err(SamlError::Invalid("a NameID"));
    }
    let confirmation =
        one(subject.children_named(ASSERTION_NS, "SubjectConfirmation"), "exactly one SubjectConfirmation")?;
    if confirmation.attribute(None, "Method") != Some(BEARER) {
        return Err(SamlError::Invalid("the SubjectConfirmation is bearer"));
    }
    let data =
        one(confirmation.children_named(ASSERTION_NS, "SubjectConfirmationData"), "one SubjectConfirmationData")?;
    rules.confirmation.check(data)?;
    if data.attribute(None, "NotBefore").is_some() {
        return Err(SamlError::Invalid("a bearer confirmation has no NotBefore"));
    }
    let confirmation_end = time_attribute(data, "NotOnOrAfter", "NotOnOrAfter is a dateTime")?
        .ok_or(SamlError::Invalid("the confirmation has a NotOnOrAfter"))?;
    if now >= confirmation_end.saturating_add(leeway) {
        return Err(SamlError::Expired("SubjectConfirmationData NotOnOrAfter"));
    }

    // Conditions: only what is evaluated, the time window and the audience.
    let conditions = one(assertion.children_named(ASSERTION_NS, "Conditions"), "one Conditions")?;
    let evaluated = ["AudienceRestriction", "OneTimeUse", "ProxyRestriction"];
    if conditions.child_elements().any(|c| !evaluated.iter().any(|name| c.is(ASSERTION_NS, name))) {
        return Err(SamlError::Invalid("no condition edge-auth does not evaluate"));
    }
    let conditions_end = check_window(conditions, now, leeway)?;
    let restrictions = conditions.children_named(ASSERTION_NS, "AudienceRestriction");
    check_audiences(restrictions, ASSERTION_NS, rules.audience, rules.confirmation.audience_rule())?;

    let authn = one(assertion.children_named(ASSERTION_NS, "AuthnStatement"), "exactly one AuthnStatement")?;
    let session_not_on_or_after = time_attribute(authn, "SessionNotOnOrAfter", "SessionNotOnOrAfter is a dateTime")?;
    if session_not_on_or_after.is_some_and(|end| now >= end) {
        return Err(SamlError::Expired("SessionNotOnOrAfter"));
    }

    let mut attributes = Vec::new();
    for statement in assertion.children_named(ASSERTION_NS, "AttributeStatement") {
        for attribute in statement.children_named(ASSERTION_NS, "Attribute") {
            let name = attribute.attribute(None, "Name").ok_or(SamlError::Invalid("an Attribute has a Name"))?;
            attributes.push(Attribute { name: name.to_string(), values: attribute_values(attribute, ASSERTION_NS)? });
        }
    }
    let valid_until = conditions_end.map_or(confirmation_end, |end| end.min(confirmation_end)).saturating_add(leeway);
    Ok(SamlIdentity {
        assertion_id: assertion_id.to_string(),
        name_id: name_id_value,
        name_id_format: name_id.attribute(None, "Format").map(str::to_string),
        attributes,
        session_index: authn.attribute(None, "SessionIndex").map(str::to_string),
        session_not_on_or_after,
        valid_until,
    })
}
