//! A SAML 1.1 assertion (OASIS SAML 1.1 Assertions and Protocol, `urn:oasis:names:tc:SAML:1.0:assertion`), the
//! token AD FS and Entra send by default for `wsignin1.0`, read from its signed bytes. The rules:
//! - `MajorVersion` 1, `MinorVersion` 1, a non-empty `AssertionID`, the `Issuer` attribute = the expected
//!   issuer, an `IssueInstant` that is a dateTime;
//! - its children are only `Conditions` (exactly one), `AuthenticationStatement` (exactly one),
//!   `AttributeStatement`s and the signature (removed from the signed bytes): no `Advice`, no other statement
//!   (an `AuthorizationDecisionStatement` or an extension statement says something edge-auth does not read);
//! - `Conditions` has `NotBefore` (if any) and `NotOnOrAfter` (required: a bearer token of SAML 1.1 has no other
//!   end) holding with the leeway, at least one `AudienceRestrictionCondition`, every one of which has the realm
//!   as an `Audience`, and no condition but those and `DoNotCacheCondition` (a condition not understood makes
//!   the assertion Indeterminate, SAML 1.1 §2.3.2.1);
//! - every statement has a `Subject` with the same `NameIdentifier` (value and format: one subject per token)
//!   and exactly one `SubjectConfirmation` whose only `ConfirmationMethod` is `bearer`;
//! - claims are `Attribute`s named `AttributeNamespace` + `/` + `AttributeName` (both required), each value
//!   the text of an `AttributeValue`.

use super::SAML11_NS;
use super::{Claim, Expected, TokenKind, WsFedError, WsFedIdentity};
use crate::core::saml::assertion::{attribute_values, check_audiences, check_window};
use crate::core::saml::time::time_attribute;
use crate::core::xml::{exactly_one as one, Element};

const BEARER: &str = "urn:oasis:names:tc:SAML:1.0:cm:bearer";

/// The subject of one statement: its `NameIdentifier` value and format.
type Subject = (String, Option<String>);

fn subject_of(statement: Element<'_, '_>) -> Result<Subject, WsFedError> {
    let subject = one(statement.children_named(SAML11_NS, "Subject"), "every statement has one Subject")?;
    let name = one(subject.children_named(SAML11_NS, "NameIdentifier"), "the Subject has one NameIdentifier")?;
    let value = name.text()?.trim().to_string();
    if value.is_empty() {
        return Err(WsFedError::Invalid("the Subject has one NameIdentifier"));
    }
    let confirmation =
        one(subject.children_named(SAML11_NS, "SubjectConfirmation"), "the Subject has one SubjectConfirmation")?;
    let method = one(
        confirmation.children_named(SAML11_NS, "ConfirmationMethod"),
        "the SubjectConfirmation has one ConfirmationMethod",
    )?;
    if method.text()?.trim() != BEARER {
        return Err(WsFedError::Invalid("the ConfirmationMethod is bearer"));
    }
    Ok((value, name.attribute(None, "Format").map(str::to_string)))
}

pub(super) fn read(assertion: Element<'_, '_>, expected: &Expected<'_>) -> Result<WsFedIdentity, WsFedError> {
    if assertion.attribute(None, "MajorVersion") != Some("1") || assertion.attribute(None, "MinorVersion") != Some("1")
    {
        return Err(WsFedError::Invalid("a SAML 1.1 Assertion"));
    }
    let assertion_id = assertion
        .attribute(None, "AssertionID")
        .filter(|id| !id.is_empty())
        .ok_or(WsFedError::Invalid("the Assertion has an AssertionID"))?;
    if assertion.attribute(None, "Issuer") != Some(expected.issuer) {
        return Err(WsFedError::Invalid("the Assertion's Issuer is the IdP"));
    }
    time_attribute(assertion, "IssueInstant", "IssueInstant is a dateTime")?
        .ok_or(WsFedError::Invalid("IssueInstant is a dateTime"))?;

    let known = ["Conditions", "AuthenticationStatement", "AttributeStatement"];
    if assertion.child_elements().any(|c| !known.iter().any(|name| c.is(SAML11_NS, name))) {
        return Err(WsFedError::Invalid("no Assertion content edge-auth does not read"));
    }

    let conditions = one(assertion.children_named(SAML11_NS, "Conditions"), "one Conditions")?;
    let evaluated = ["AudienceRestrictionCondition", "DoNotCacheCondition"];
    if conditions.child_elements().any(|c| !evaluated.iter().any(|name| c.is(SAML11_NS, name))) {
        return Err(WsFedError::Invalid("no condition edge-auth does not evaluate"));
    }
    let end = check_window(conditions, expected.now, expected.leeway)?
        .ok_or(WsFedError::Invalid("Conditions has a NotOnOrAfter"))?;
    let restrictions = conditions.children_named(SAML11_NS, "AudienceRestrictionCondition");
    check_audiences(restrictions, SAML11_NS, expected.realm, "every audience restriction names the realm")?;

    let authentication =
        one(assertion.children_named(SAML11_NS, "AuthenticationStatement"), "exactly one AuthenticationStatement")?;
    let subject = subject_of(authentication)?;
    let mut claims = Vec::new();
    for statement in assertion.children_named(SAML11_NS, "AttributeStatement") {
        if subject_of(statement)? != subject {
            return Err(WsFedError::Invalid("every statement names the same subject"));
        }
        for attribute in statement.children_named(SAML11_NS, "Attribute") {
            let (Some(namespace), Some(name)) =
                (attribute.attribute(None, "AttributeNamespace"), attribute.attribute(None, "AttributeName"))
            else {
                return Err(WsFedError::Invalid("an Attribute has an AttributeNamespace and an AttributeName"));
            };
            let values = attribute_values(attribute, SAML11_NS)?;
            claims.push(Claim { name: format!("{namespace}/{name}"), values });
        }
    }
    let (name_identifier, name_identifier_format) = subject;
    Ok(WsFedIdentity {
        token: TokenKind::Saml11,
        assertion_id: assertion_id.to_string(),
        issuer: expected.issuer.to_string(),
        name_identifier,
        name_identifier_format,
        claims,
        session_not_on_or_after: None,
        valid_until: end.saturating_add(expected.leeway),
    })
}
