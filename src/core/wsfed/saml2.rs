//! A SAML 2.0 assertion as a WS-Federation token (Entra with the SAML 2.0 token type, AD FS relying parties set
//! to SAML 2.0), read from its signed bytes. The assertion rules of [`crate::core::saml`] minus the ones that
//! belong to a SAML Response and an AuthnRequest: [`crate::core::saml::assertion::read_assertion`] with the
//! WS-Federation confirmation binding, which means:
//! - `Version` 2.0, a non-empty `ID`, an `Issuer` = the expected issuer (entity format, if a format is given);
//! - a `Subject` with a non-empty `NameID` and exactly one bearer `SubjectConfirmation` whose
//!   `SubjectConfirmationData` has a `NotOnOrAfter` in the future (with the leeway), no `NotBefore`, **no
//!   `InResponseTo`** (WS-Federation sends no request ID: a confirmation answering some SAML request was issued
//!   for another protocol exchange), and a `Recipient`, if any, equal to the reply URL;
//! - `Conditions` whose `NotBefore`/`NotOnOrAfter` hold with the leeway, with at least one
//!   `AudienceRestriction`, every one of which names the realm, and no condition but those and `OneTimeUse` /
//!   `ProxyRestriction`;
//! - exactly one `AuthnStatement`, whose `SessionNotOnOrAfter`, if any, is in the future.

use super::{Expected, TokenKind, WsFedError, WsFedIdentity};
use crate::core::saml::assertion::{read_assertion, AssertionRules, Confirmation};
use crate::core::xml::Element;

pub(super) fn read(assertion: Element<'_, '_>, expected: &Expected<'_>) -> Result<WsFedIdentity, WsFedError> {
    let rules = AssertionRules {
        issuer: expected.issuer,
        audience: expected.realm,
        confirmation: Confirmation::WsFederation { reply_url: expected.reply_url },
        now: expected.now,
        leeway: expected.leeway,
    };
    let identity = read_assertion(assertion, &rules)?;
    Ok(WsFedIdentity {
        token: TokenKind::Saml2,
        assertion_id: identity.assertion_id,
        issuer: expected.issuer.to_string(),
        name_identifier: identity.name_id,
        name_identifier_format: identity.name_id_format,
        claims: identity.attributes,
        session_not_on_or_after: identity.session_not_on_or_after,
        valid_until: identity.valid_until,
    })
}
