//! Who a verified WS-Federation token names: the email address (the key to the connector's domains and to the
//! policies), a stable subject, and the groups — read from a [`WsFedIdentity`] (itself read from signed bytes).
//!
//! The email: when the connector names an `email_claim`, that claim and nothing else (the operator said where
//! the address is; falling back to another claim would take an address the operator did not choose). Otherwise,
//! in this order: the `emailaddress` claim (which must then be an address); the `upn` claim, then the `name`
//! claim, each only when it parses as an address (a UPN often is one, but need not be); the `NameIdentifier`
//! when its format is `emailAddress`. A claim with several values, or given twice, is never taken (which
//! value would it be?). That the domain belongs to the connector is the flow's check, as for OIDC and SAML.
//!
//! The stable subject: the first claim of [`STABLE_SUBJECT_CLAIMS`] the token carries — Entra's and Microsoft
//! 365's `ImmutableID` (the on-premises `objectGUID`, base64), Entra's `objectidentifier`, AD FS's
//! `primarysid` — which must then hold one non-empty value (else the sign-in is refused: [`AmbiguousSubject`]);
//! without any, the `NameIdentifier`.

use super::WsFedIdentity;
use crate::core::routing::{parse_email, Email};
use crate::core::saml::identity::{groups_named, IdentityError, GROUP_ATTRIBUTES};
use crate::core::saml::EMAIL_ADDRESS_FORMAT;

pub const EMAIL_CLAIM: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
pub const UPN_CLAIM: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";
pub const NAME_CLAIM: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
/// AD FS's "Token-Groups as Roles" and Entra's app roles.
pub const ROLE_CLAIM: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";

/// The claims read as the stable subject, in order.
pub const STABLE_SUBJECT_CLAIMS: [&str; 3] = [
    "http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID",
    "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/primarysid",
];

/// The single value of the claim `name`; `None` when it is absent, repeated, or has zero or several values.
fn single_value<'a>(identity: &'a WsFedIdentity, name: &str) -> Option<&'a str> {
    let mut claims = identity.claims.iter().filter(|c| c.name == name);
    let (Some(claim), None) = (claims.next(), claims.next()) else { return None };
    match claim.values.as_slice() {
        [value] => Some(value.as_str()),
        _ => None,
    }
}

/// The email of a verified token (see the module documentation).
pub fn email_of(identity: &WsFedIdentity, email_claim: Option<&str>) -> Result<Email, IdentityError> {
    if let Some(name) = email_claim {
        let value = single_value(identity, name).ok_or(IdentityError::NoEmail)?;
        return parse_email(value).map_err(|_| IdentityError::NotAnEmail);
    }
    if let Some(value) = single_value(identity, EMAIL_CLAIM) {
        return parse_email(value).map_err(|_| IdentityError::NotAnEmail);
    }
    for name in [UPN_CLAIM, NAME_CLAIM] {
        if let Some(email) = single_value(identity, name).and_then(|value| parse_email(value).ok()) {
            return Ok(email);
        }
    }
    if identity.name_identifier_format.as_deref() == Some(EMAIL_ADDRESS_FORMAT) {
        return parse_email(&identity.name_identifier).map_err(|_| IdentityError::NotAnEmail);
    }
    Err(IdentityError::NoEmail)
}

/// A stable-identifier claim is there but does not name one subject (given twice, with several values, or
/// empty): the sign-in is refused rather than fall back to a weaker identifier — the same person would then be
/// another user of the origin whenever the claim is repeated by a misconfigured rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmbiguousSubject(pub &'static str);

/// The stable subject of a verified token (see the module documentation): the first stable-identifier claim
/// present, which must then hold exactly one non-empty value; else the `NameIdentifier`.
pub fn stable_subject(identity: &WsFedIdentity) -> Result<&str, AmbiguousSubject> {
    for name in STABLE_SUBJECT_CLAIMS {
        let mut claims = identity.claims.iter().filter(|c| c.name == name);
        let Some(claim) = claims.next() else { continue };
        return match (claims.next(), claim.values.as_slice()) {
            (None, [value]) if !value.trim().is_empty() => Ok(value.trim()),
            _ => Err(AmbiguousSubject(name)),
        };
    }
    Ok(&identity.name_identifier)
}

/// The groups a verified token asserts (values of the SAML group claims and of [`ROLE_CLAIM`], in order,
/// without repeats and empties), at most [`MAX_GROUPS`](crate::core::saml::identity::MAX_GROUPS); `None` when there are more (the caller refuses the
/// sign-in rather than keep an arbitrary part of them, as for OIDC and SAML).
pub fn groups_of(identity: &WsFedIdentity) -> Option<Vec<String>> {
    let claims = identity.claims.iter().map(|c| (c.name.as_str(), c.values.as_slice()));
    groups_named(claims, GROUP_ATTRIBUTES.iter().copied().chain([ROLE_CLAIM]))
}

#[cfg(test)]
mod tests {
    //! Each test proves one choice of the module documentation; changing the order or the rule fails it.
    use super::*;
    use crate::core::wsfed::{Claim, TokenKind};

    fn identity(name_identifier: &str, format: Option<&str>, claims: &[(&str, &[&str])]) -> WsFedIdentity {
        WsFedIdentity {
            token: TokenKind::Saml11,
            assertion_id: "_a".into(),
            issuer: "https://idp.example/".into(),
            name_identifier: name_identifier.into(),
            name_identifier_format: format.map(str::to_string),
            claims: claims
                .iter()
                .map(|(n, v)| Claim { name: n.to_string(), values: v.iter().map(|s| s.to_string()).collect() })
                .collect(),
            session_not_on_or_after: None,
            valid_until: 0,
        }
    }

    #[test]
    fn the_email_claim_then_upn_then_name_then_an_email_name_identifier() {
        let all = [
            (NAME_CLAIM, &["n@acme.example"][..]),
            (UPN_CLAIM, &["u@acme.example"]),
            (EMAIL_CLAIM, &["e@acme.example"]),
        ];
        assert_eq!(email_of(&identity("x", None, &all), None).unwrap().address(), "e@acme.example");
        assert_eq!(email_of(&identity("x", None, &all[..2]), None).unwrap().address(), "u@acme.example");
        assert_eq!(email_of(&identity("x", None, &all[..1]), None).unwrap().address(), "n@acme.example");
        // A UPN that is not an address is skipped, not an error; the name claim is next.
        let upn_not_address = [(UPN_CLAIM, &["ACME\\alice"][..]), (NAME_CLAIM, &["alice@acme.example"])];
        assert_eq!(email_of(&identity("x", None, &upn_not_address), None).unwrap().address(), "alice@acme.example");
        let by_name_id = identity("Bob@Acme.Example", Some(EMAIL_ADDRESS_FORMAT), &[(UPN_CLAIM, &["ACME\\bob"])]);
        assert_eq!(email_of(&by_name_id, None).unwrap().address(), "Bob@acme.example");
        // An emailaddress claim that is not an address is an error, never skipped for a weaker source.
        let bad = identity("x", None, &[(EMAIL_CLAIM, &["not an address"]), (UPN_CLAIM, &["u@acme.example"])]);
        assert_eq!(email_of(&bad, None), Err(IdentityError::NotAnEmail));
    }

    #[test]
    fn a_configured_claim_is_the_only_source() {
        let id = identity("x", None, &[(EMAIL_CLAIM, &["e@acme.example"]), ("mailPrimary", &["p@acme.example"])]);
        assert_eq!(email_of(&id, Some("mailPrimary")).unwrap().address(), "p@acme.example");
        assert_eq!(email_of(&id, Some("absent")), Err(IdentityError::NoEmail));
    }

    #[test]
    fn no_email_is_guessed() {
        assert_eq!(email_of(&identity("eve@acme.example", None, &[]), None), Err(IdentityError::NoEmail));
        let several = identity("x", None, &[(EMAIL_CLAIM, &["a@acme.example", "b@acme.example"])]);
        assert_eq!(email_of(&several, None), Err(IdentityError::NoEmail));
        let twice = identity("x", None, &[(EMAIL_CLAIM, &["a@acme.example"]), (EMAIL_CLAIM, &["b@acme.example"])]);
        assert_eq!(email_of(&twice, None), Err(IdentityError::NoEmail));
    }

    #[test]
    fn the_stable_subject_prefers_immutable_ids_to_the_name_identifier() {
        let [immutable, object_id, sid] = STABLE_SUBJECT_CLAIMS;
        let id = identity(
            "alice@acme.example",
            None,
            &[(sid, &["S-1-5-21-1"]), (object_id, &["oid"]), (immutable, &["imm=="])],
        );
        assert_eq!(stable_subject(&id), Ok("imm=="));
        let id = identity("alice@acme.example", None, &[(sid, &["S-1-5-21-1"]), (object_id, &["oid"])]);
        assert_eq!(stable_subject(&id), Ok("oid"));
        let id = identity("alice@acme.example", None, &[]);
        assert_eq!(stable_subject(&id), Ok("alice@acme.example"), "no stable claim: the NameIdentifier");
        // Present but not one subject: refused, never a fall-back to a weaker identifier.
        let id = identity("alice@acme.example", None, &[(immutable, &[" "]), (sid, &["S-1-5-21-1"])]);
        assert_eq!(stable_subject(&id), Err(AmbiguousSubject(immutable)), "an empty ImmutableID");
        let id = identity("alice@acme.example", None, &[(immutable, &["a", "b"])]);
        assert_eq!(stable_subject(&id), Err(AmbiguousSubject(immutable)), "several values");
        let id = identity("alice@acme.example", None, &[(object_id, &["a"]), (object_id, &["a"])]);
        assert_eq!(stable_subject(&id), Err(AmbiguousSubject(object_id)), "the claim twice");
    }

    #[test]
    fn groups_from_group_and_role_claims_bounded() {
        let id = identity("x", None, &[(ROLE_CLAIM, &["Finance", "staff"]), ("groups", &["staff", " "])]);
        assert_eq!(groups_of(&id), Some(vec!["staff".to_string(), "Finance".into()]));
        let many: Vec<String> = (0..=crate::core::saml::identity::MAX_GROUPS).map(|i| format!("g{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(groups_of(&identity("x", None, &[(ROLE_CLAIM, &refs)])), None);
    }
}
