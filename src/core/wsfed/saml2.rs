//! A SAML 2.0 assertion as a WS-Federation token (Entra with the SAML 2.0 token type, AD FS relying parties set
//! to SAML 2.0), read from its signed bytes. The assertion rules of [`crate::core::saml`] minus the ones that
//! belong to a SAML Response and an AuthnRequest (this logic is a copy of that module's private
//! `read_assertion`, which checks both):
//! - `Version` 2.0, a non-empty `ID`, an `Issuer` = the expected issuer (entity format, if a format is given);
//! - a `Subject` with a non-empty `NameID` and exactly one bearer `SubjectConfirmation` whose
//!   `SubjectConfirmationData` has a `NotOnOrAfter` in the future (with the leeway), no `NotBefore`, **no
//!   `InResponseTo`** (WS-Federation sends no request ID: a confirmation answering some SAML request was issued
//!   for another protocol exchange), and a `Recipient`, if any, equal to the reply URL;
//! - `Conditions` whose `NotBefore`/`NotOnOrAfter` hold with the leeway, with at least one
//!   `AudienceRestriction`, every one of which names the realm, and no condition but those and `OneTimeUse` /
//!   `ProxyRestriction`;
//! - exactly one `AuthnStatement`, whose `SessionNotOnOrAfter`, if any, is in the future.

use super::SAML2_NS;
use super::{
    check_audiences, check_window, one, time_attribute, Claim, Expected, TokenKind, WsFedError, WsFedIdentity,
};
use crate::core::xml::Element;

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const ENTITY_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";

pub(super) fn read(assertion: Element<'_, '_>, expected: &Expected<'_>) -> Result<WsFedIdentity, WsFedError> {
    if assertion.attribute(None, "Version") != Some("2.0") {
        return Err(WsFedError::Invalid("a SAML 2.0 Assertion"));
    }
    let assertion_id = assertion
        .attribute(None, "ID")
        .filter(|id| !id.is_empty())
        .ok_or(WsFedError::Invalid("the Assertion has an ID"))?;
    let issuer = one(assertion.children_named(SAML2_NS, "Issuer"), "the Assertion's Issuer is the IdP")?;
    let format = issuer.attribute(None, "Format");
    if format.is_some_and(|f| f != ENTITY_FORMAT) || issuer.text()?.trim() != expected.issuer {
        return Err(WsFedError::Invalid("the Assertion's Issuer is the IdP"));
    }
    let (now, leeway) = (expected.now, expected.leeway);

    let subject = one(assertion.children_named(SAML2_NS, "Subject"), "one Subject")?;
    let name_id = one(subject.children_named(SAML2_NS, "NameID"), "one NameID")?;
    let name_identifier = name_id.text()?.trim().to_string();
    if name_identifier.is_empty() {
        return Err(WsFedError::Invalid("a NameID"));
    }
    let confirmation = one(subject.children_named(SAML2_NS, "SubjectConfirmation"), "exactly one SubjectConfirmation")?;
    if confirmation.attribute(None, "Method") != Some(BEARER) {
        return Err(WsFedError::Invalid("the SubjectConfirmation is bearer"));
    }
    let data = one(confirmation.children_named(SAML2_NS, "SubjectConfirmationData"), "one SubjectConfirmationData")?;
    if data.attribute(None, "Recipient").is_some_and(|recipient| recipient != expected.reply_url) {
        return Err(WsFedError::Invalid("Recipient, when present, is the reply URL"));
    }
    if data.attribute(None, "InResponseTo").is_some() {
        return Err(WsFedError::Invalid("the confirmation has no InResponseTo"));
    }
    if data.attribute(None, "NotBefore").is_some() {
        return Err(WsFedError::Invalid("a bearer confirmation has no NotBefore"));
    }
    let confirmation_end = time_attribute(data, "NotOnOrAfter", "NotOnOrAfter is a dateTime")?
        .ok_or(WsFedError::Invalid("the confirmation has a NotOnOrAfter"))?;
    if now >= confirmation_end.saturating_add(leeway) {
        return Err(WsFedError::Expired("SubjectConfirmationData NotOnOrAfter"));
    }

    let conditions = one(assertion.children_named(SAML2_NS, "Conditions"), "one Conditions")?;
    let evaluated = ["AudienceRestriction", "OneTimeUse", "ProxyRestriction"];
    if conditions.child_elements().any(|c| !evaluated.iter().any(|name| c.is(SAML2_NS, name))) {
        return Err(WsFedError::Invalid("no condition edge-auth does not evaluate"));
    }
    let conditions_end = check_window(conditions, expected)?;
    check_audiences(conditions.children_named(SAML2_NS, "AudienceRestriction"), SAML2_NS, expected.realm)?;

    let authn = one(assertion.children_named(SAML2_NS, "AuthnStatement"), "exactly one AuthnStatement")?;
    let session_not_on_or_after = time_attribute(authn, "SessionNotOnOrAfter", "SessionNotOnOrAfter is a dateTime")?;
    if session_not_on_or_after.is_some_and(|end| now >= end) {
        return Err(WsFedError::Expired("SessionNotOnOrAfter"));
    }

    let mut claims = Vec::new();
    for statement in assertion.children_named(SAML2_NS, "AttributeStatement") {
        for attribute in statement.children_named(SAML2_NS, "Attribute") {
            let name = attribute.attribute(None, "Name").ok_or(WsFedError::Invalid("an Attribute has a Name"))?;
            let mut values = Vec::new();
            for value in attribute.children_named(SAML2_NS, "AttributeValue") {
                values.push(value.text()?);
            }
            claims.push(Claim { name: name.to_string(), values });
        }
    }
    let valid_until = conditions_end.map_or(confirmation_end, |end| end.min(confirmation_end)).saturating_add(leeway);
    Ok(WsFedIdentity {
        token: TokenKind::Saml2,
        assertion_id: assertion_id.to_string(),
        issuer: expected.issuer.to_string(),
        name_identifier,
        name_identifier_format: name_id.attribute(None, "Format").map(str::to_string),
        claims,
        session_not_on_or_after,
        valid_until,
    })
}
