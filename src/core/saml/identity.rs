//! Who a verified SAML response names: the email address (the key to the connector's domains and to the
//! policies) and the groups, read from a [`SamlIdentity`] (itself read from signed bytes only).
//!
//! The email is, in this order: the `NameID` when its format is `emailAddress`; else the attribute named by the
//! connector's `email_attribute`; else the first of the common claim names — the WS-Federation/ADFS/Entra
//! `…/claims/emailaddress`, `IDPEmail` (SAML SP-Lite, the federation guide), `email`, `mail` — whose single
//! value is an address. An attribute with several values is never taken as the email (which one would it be?).
//! The address must parse as one ([`parse_email`]); that its domain belongs to the connector is the flow's
//! check, as for OIDC.

use super::{SamlIdentity, EMAIL_ADDRESS_FORMAT};
use crate::core::routing::{parse_email, Email};

/// The attribute names read as the email when the connector names none, in order.
pub const EMAIL_ATTRIBUTES: [&str; 4] =
    ["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "IDPEmail", "email", "mail"];

/// The attribute names read as groups (Entra and ADFS claim URIs, then the usual short names).
pub const GROUP_ATTRIBUTES: [&str; 4] = [
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    "http://schemas.xmlsoap.org/claims/Group",
    "groups",
    "memberOf",
];

/// The most groups a session keeps (as for OIDC's `groups` claim, a bound on the cookie).
pub const MAX_GROUPS: usize = 100;

/// Why no email could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityError {
    /// No NameID of the email format and no attribute with a single address.
    NoEmail,
    /// The value found is not an email address.
    NotAnEmail,
}

/// The email of a verified response (see the module documentation).
pub fn email_of(identity: &SamlIdentity, email_attribute: Option<&str>) -> Result<Email, IdentityError> {
    if identity.name_id_format.as_deref() == Some(EMAIL_ADDRESS_FORMAT) {
        return parse_email(&identity.name_id).map_err(|_| IdentityError::NotAnEmail);
    }
    let names: Vec<&str> = match email_attribute {
        Some(name) => vec![name],
        None => EMAIL_ATTRIBUTES.to_vec(),
    };
    for name in names {
        let mut attributes = identity.attributes.iter().filter(|a| a.name == name);
        let (Some(attribute), None) = (attributes.next(), attributes.next()) else { continue };
        if let [value] = attribute.values.as_slice() {
            return parse_email(value).map_err(|_| IdentityError::NotAnEmail);
        }
    }
    Err(IdentityError::NoEmail)
}

/// The groups a verified response asserts (values of [`GROUP_ATTRIBUTES`], in order, without repeats and
/// empties), at most [`MAX_GROUPS`]; `None` when there are more (the caller refuses the sign-in rather than
/// keep an arbitrary part of them, as for OIDC).
pub fn groups_of(identity: &SamlIdentity) -> Option<Vec<String>> {
    let attributes = identity.attributes.iter().map(|a| (a.name.as_str(), a.values.as_slice()));
    groups_named(attributes, GROUP_ATTRIBUTES)
}

/// The values of the attributes (or claims) named `names`, in the order of `names`, without repeats and
/// empties, at most [`MAX_GROUPS`]; `None` when there are more. Shared by SAML and WS-Federation.
pub fn groups_named<'a, I>(attributes: I, names: impl IntoIterator<Item = &'a str>) -> Option<Vec<String>>
where
    I: Iterator<Item = (&'a str, &'a [String])> + Clone,
{
    let mut groups: Vec<String> = Vec::new();
    for name in names {
        for (_, values) in attributes.clone().filter(|(n, _)| *n == name) {
            for value in values {
                let value = value.trim();
                if !value.is_empty() && !groups.iter().any(|g| g == value) {
                    groups.push(value.to_string());
                }
            }
        }
    }
    (groups.len() <= MAX_GROUPS).then_some(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::saml::Attribute;

    fn identity(name_id: &str, format: Option<&str>, attributes: &[(&str, &[&str])]) -> SamlIdentity {
        SamlIdentity {
            assertion_id: "_a".into(),
            name_id: name_id.into(),
            name_id_format: format.map(str::to_string),
            attributes: attributes
                .iter()
                .map(|(n, v)| Attribute { name: n.to_string(), values: v.iter().map(|s| s.to_string()).collect() })
                .collect(),
            session_index: None,
            session_not_on_or_after: None,
            valid_until: 0,
        }
    }

    const TRANSIENT: Option<&str> = Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient");

    #[test]
    fn the_email_from_the_name_id_then_the_configured_then_the_common_attributes() {
        let by_name_id = identity("Alice@Acme.Example", Some(EMAIL_ADDRESS_FORMAT), &[("email", &["other@x.example"])]);
        assert_eq!(email_of(&by_name_id, None).unwrap().address(), "Alice@acme.example");
        let upn = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";
        let configured = identity("x1", TRANSIENT, &[(upn, &["bob@acme.example"]), ("email", &["b@other.example"])]);
        assert_eq!(email_of(&configured, Some(upn)).unwrap().address(), "bob@acme.example");
        assert_eq!(email_of(&configured, None).unwrap().address(), "b@other.example");
        let claim =
            identity("x1", TRANSIENT, &[(EMAIL_ATTRIBUTES[0], &["carol@acme.example"]), ("mail", &["c@x.example"])]);
        assert_eq!(email_of(&claim, None).unwrap().address(), "carol@acme.example", "in order");
        let sp_lite = identity("x1", None, &[("IDPEmail", &["dave@acme.example"])]);
        assert_eq!(email_of(&sp_lite, None).unwrap().address(), "dave@acme.example");
    }

    #[test]
    fn no_email_is_guessed() {
        // A NameID that looks like an address but is not said to be one.
        assert_eq!(email_of(&identity("eve@acme.example", TRANSIENT, &[]), None), Err(IdentityError::NoEmail));
        // Several values, or the attribute twice: which one?
        let several = identity("x", TRANSIENT, &[("email", &["a@acme.example", "b@acme.example"])]);
        assert_eq!(email_of(&several, None), Err(IdentityError::NoEmail));
        let twice = identity("x", TRANSIENT, &[("email", &["a@acme.example"]), ("email", &["b@acme.example"])]);
        assert_eq!(email_of(&twice, None), Err(IdentityError::NoEmail));
        // The configured attribute only, when one is configured.
        let other = identity("x", TRANSIENT, &[("email", &["a@acme.example"])]);
        assert_eq!(email_of(&other, Some("mailPrimary")), Err(IdentityError::NoEmail));
        // Not an address.
        let bad = identity("not an address", Some(EMAIL_ADDRESS_FORMAT), &[]);
        assert_eq!(email_of(&bad, None), Err(IdentityError::NotAnEmail));
        let bad = identity("x", TRANSIENT, &[("email", &["a@b@c"])]);
        assert_eq!(email_of(&bad, None), Err(IdentityError::NotAnEmail));
    }

    #[test]
    fn groups_from_the_usual_attributes_bounded() {
        let id = identity(
            "x",
            None,
            &[(GROUP_ATTRIBUTES[0], &["g1", "g2"]), ("groups", &["g2", " ", "admins"]), ("department", &["sales"])],
        );
        assert_eq!(groups_of(&id), Some(vec!["g1".to_string(), "g2".into(), "admins".into()]));
        let many: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(groups_of(&identity("x", None, &[("groups", &refs)])), None, "more than a session keeps");
        assert_eq!(groups_of(&identity("x", None, &[])), Some(vec![]));
    }
}
