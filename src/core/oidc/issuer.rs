//! Every issuer rule of the connector kinds, in one place: which discovery document's `issuer` a connector
//! accepts, which exact `iss` its ID tokens must carry, which tenant may sign in (Microsoft Entra), Google's two
//! issuer spellings, which connectors a logout token's `iss` may come from, and Entra's answer to "which tenant
//! owns this domain?".
//!
//! - **`oidc`**: the configured issuer, exactly.
//! - **`google`**: the configured issuer; tokens may also spell it without `https://` (Google documents both
//!   `https://accounts.google.com` and `accounts.google.com`).
//! - **`entra`** (`{authority}/{tenant id}/v2.0`): multi-tenant (`common`, `organizations`) discovery names the
//!   template `{authority}/{tenantid}/v2.0`, resolved with the token's `tid`, which must be in
//!   `allowed_tenants`; `consumers` is the personal-accounts tenant [`ENTRA_CONSUMERS_TENANT_ID`]; a single
//!   tenant (by id or by domain) is the tenant its discovery document names (and `allowed_tenants`, if given,
//!   must contain it).

use thiserror::Error;

use crate::core::config::ENTRA_CONSUMERS_TENANT_ID;
use crate::core::config::{is_guid, Connector, ConnectorKind, EntraSettings, EntraTenancy, Protocol};

/// Whether `connector` accepts a discovery document whose `issuer` is `found`.
pub fn accepts_discovery_issuer(connector: &Connector, found: &str) -> bool {
    let Protocol::OpenIdConnect { entra: Some(entra), .. } = &connector.protocol else {
        return found == connector.issuer;
    };
    let authority = entra.authority.as_str();
    match &entra.tenancy {
        EntraTenancy::Multi { .. } => {
            found.strip_prefix(authority).and_then(|rest| rest.strip_prefix('/')) == Some("{tenantid}/v2.0")
        }
        EntraTenancy::Consumers => entra_tenant_of_issuer(authority, found) == Some(ENTRA_CONSUMERS_TENANT_ID),
        EntraTenancy::Single { tenant, allowed_tenants } => match entra_tenant_of_issuer(authority, found) {
            Some(id) => {
                (!is_guid(tenant) || id == tenant.as_str())
                    && (allowed_tenants.is_empty() || allowed_tenants.iter().any(|t| t == id))
            }
            None => false,
        },
    }
}

/// The discovery document's `issuer` `connector` expects, as errors describe it.
pub fn expected_discovery_issuer(connector: &Connector) -> String {
    let Protocol::OpenIdConnect { entra: Some(entra), .. } = &connector.protocol else {
        return connector.issuer.clone();
    };
    let authority = entra.authority.as_str();
    match &entra.tenancy {
        EntraTenancy::Multi { .. } => format!("{authority}/{{tenantid}}/v2.0"),
        EntraTenancy::Consumers => format!("{authority}/{ENTRA_CONSUMERS_TENANT_ID}/v2.0"),
        EntraTenancy::Single { tenant, .. } => format!("{authority}/<tenant id of {tenant}>/v2.0"),
    }
}

/// A predicate over the discovery document's `issuer`.
pub type IssuerPredicate<'a> = Box<dyn Fn(&str) -> bool + 'a>;

/// The discovery document's `issuer` a connector accepts ([`accepts_discovery_issuer`]), and a description for
/// errors ([`expected_discovery_issuer`]), as one value (for `edge-auth-check`).
pub fn discovery_issuer_rule(connector: &Connector) -> (String, IssuerPredicate<'_>) {
    (expected_discovery_issuer(connector), Box::new(move |found: &str| accepts_discovery_issuer(connector, found)))
}

/// The tenant id in an Entra issuer `{authority}/{tenant id}/v2.0`.
pub fn entra_tenant_of_issuer<'a>(authority: &str, issuer: &'a str) -> Option<&'a str> {
    let id = issuer.strip_prefix(authority)?.strip_prefix('/')?.strip_suffix("/v2.0")?;
    is_guid(id).then_some(id)
}

/// Why no `iss` could be expected of a token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IssuerError {
    /// An Entra multi-tenant token without `tid`: the template cannot be resolved.
    #[error("no tid claim")]
    NoTid,
    /// An Entra token's `tid` is not a tenant the connector accepts.
    #[error("the tenant {0:?} is not allowed")]
    TenantNotAllowed(String),
}

/// The exact `iss` an ID token of `connector` must carry, given the discovered issuer. For Entra multi-tenant
/// authorities the discovered issuer is a `{tenantid}` template, resolved with the token's `tid`; for Google the
/// token may spell the issuer without `https://`. `unverified` reads a claim of the token *before* its signature
/// is checked: only to build this expectation, which the verified token must then match exactly (and its `tid`
/// is checked again after, [`tenant_may_sign_in`]).
pub fn expected_token_issuer(
    connector: &Connector,
    discovered_issuer: &str,
    unverified: impl Fn(&str) -> Option<String>,
) -> Result<String, IssuerError> {
    match &connector.protocol {
        Protocol::OpenIdConnect { entra: Some(entra), .. } => match &entra.tenancy {
            EntraTenancy::Multi { allowed_tenants } => {
                let tid = unverified("tid").ok_or(IssuerError::NoTid)?;
                if !allowed_tenants.contains(&tid) {
                    return Err(IssuerError::TenantNotAllowed(tid));
                }
                Ok(discovered_issuer.replace("{tenantid}", &tid))
            }
            EntraTenancy::Consumers | EntraTenancy::Single { .. } => Ok(discovered_issuer.to_string()),
        },
        Protocol::OpenIdConnect { .. } if connector.kind == ConnectorKind::Google => {
            let bare = google_bare_issuer(discovered_issuer);
            match unverified("iss") {
                Some(iss) if iss == bare => Ok(bare.to_string()),
                _ => Ok(discovered_issuer.to_string()),
            }
        }
        _ => Ok(discovered_issuer.to_string()),
    }
}

/// Google's second spelling of its issuer: without `https://`.
fn google_bare_issuer(issuer: &str) -> &str {
    issuer.strip_prefix("https://").unwrap_or(issuer)
}

/// Entra: whether the tenant `tid` of a verified ID token may sign in through this connector (`discovered_issuer`:
/// the connector's discovery document's issuer, which names a single tenant's id).
pub fn tenant_may_sign_in(entra: &EntraSettings, discovered_issuer: &str, tid: &str) -> bool {
    match &entra.tenancy {
        EntraTenancy::Multi { allowed_tenants } => allowed_tenants.iter().any(|t| t == tid),
        EntraTenancy::Consumers => tid == ENTRA_CONSUMERS_TENANT_ID,
        EntraTenancy::Single { allowed_tenants, .. } => {
            entra_tenant_of_issuer(&entra.authority, discovered_issuer) == Some(tid)
                && (allowed_tenants.is_empty() || allowed_tenants.iter().any(|t| t == tid))
        }
    }
}

/// Whether a token whose `iss` is `iss` (a logout token, say) may come from `connector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerMatch {
    Yes,
    No,
    /// Only if the connector's discovery document names exactly this issuer (an Entra single tenant named by
    /// domain: its id is known from discovery only).
    IfDiscovered,
}

/// See [`IssuerMatch`].
pub fn token_issuer_match(connector: &Connector, iss: &str) -> IssuerMatch {
    let yes = |b: bool| if b { IssuerMatch::Yes } else { IssuerMatch::No };
    match &connector.protocol {
        Protocol::Facebook { .. } => IssuerMatch::No,
        Protocol::OpenIdConnect { entra: Some(entra), .. } => {
            match (entra_tenant_of_issuer(&entra.authority, iss), &entra.tenancy) {
                (Some(tid), EntraTenancy::Multi { allowed_tenants }) => yes(allowed_tenants.iter().any(|t| t == tid)),
                (Some(tid), EntraTenancy::Consumers) => yes(tid == ENTRA_CONSUMERS_TENANT_ID),
                (Some(_), EntraTenancy::Single { .. }) => IssuerMatch::IfDiscovered,
                (None, _) => IssuerMatch::No,
            }
        }
        Protocol::OpenIdConnect { .. } => yes(connector.issuer == iss
            || (connector.kind == ConnectorKind::Google && connector.issuer.strip_prefix("https://") == Some(iss))),
    }
}

/// Entra ("nOAuth"): why the tenant `tid` may not sign in addresses of a domain whose owner (from Entra's
/// discovery for the domain) is `owner`, or `None` when it may. Only the tenant where a domain is verified signs
/// in its addresses, whichever claim supplied them: otherwise any accepted tenant could give a user another
/// tenant's address. An owner the connector's pins (`tenant`, `allowed_tenants`) leave out is a configuration
/// error (edge-auth-check reports it).
pub fn entra_domain_refusal(entra: &EntraSettings, owner: Option<&str>, tid: &str) -> Option<&'static str> {
    let Some(owner) = owner else { return Some("no tenant, so its addresses are refused") };
    let pinned = match &entra.tenancy {
        EntraTenancy::Multi { allowed_tenants } => allowed_tenants.iter().any(|t| t == owner),
        EntraTenancy::Single { tenant, allowed_tenants } => {
            (!is_guid(tenant) || tenant == owner)
                && (allowed_tenants.is_empty() || allowed_tenants.iter().any(|t| t == owner))
        }
        EntraTenancy::Consumers => true,
    };
    if !pinned {
        return Some("configuration error: a tenant the connector does not accept");
    }
    (owner != tid).then_some("not the tenant that signed in")
}

/// What Entra's discovery for a domain (`{authority}/{domain}/v2.0/.well-known/openid-configuration`) says:
/// the id of the tenant where the domain is verified, or `None` when Entra knows no such tenant (HTTP 400/404:
/// the domain is verified nowhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainOwner {
    pub tenant: Option<String>,
}

/// Entra's discovery URL for a domain: its issuer names the tenant where the domain is verified.
pub fn entra_domain_discovery_url(authority: &str, domain: &str) -> String {
    format!("{authority}/{domain}/v2.0/.well-known/openid-configuration")
}

/// Why Entra's answer about a domain's owner is not one (neither a tenant's document nor "no such tenant").
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DomainAnswerError {
    #[error("HTTP {0}")]
    Status(u16),
    #[error("the document is not JSON")]
    NotJson,
    #[error("the issuer is not {{authority}}/{{tenant id}}/v2.0")]
    NotATenantIssuer,
}

/// Read Entra's answer to a domain's discovery: `Ok(owner)` for a definite answer (200 with a tenant issuer,
/// or 400/404: no tenant), `Err` for anything else (an outage or an unusable document).
pub fn parse_domain_owner(authority: &str, status: u16, body: &[u8]) -> Result<DomainOwner, String> {
    let issuer = domain_owner_issuer(authority, status, body).map_err(|e| e.to_string())?;
    Ok(DomainOwner { tenant: entra_tenant_of_issuer(authority, &issuer).map(str::to_string) })
}

/// [`parse_domain_owner`], as the issuer of the owning tenant (`{authority}/{tenant id}/v2.0`), or `""` for no
/// tenant.
pub fn domain_owner_issuer(authority: &str, status: u16, body: &[u8]) -> Result<String, DomainAnswerError> {
    match status {
        200 => {
            let doc = crate::core::json::parse(body).map_err(|_| DomainAnswerError::NotJson)?;
            let issuer = doc.get("issuer").and_then(|v| v.as_str()).unwrap_or_default();
            match entra_tenant_of_issuer(authority, issuer) {
                Some(_) => Ok(issuer.to_string()),
                None => Err(DomainAnswerError::NotATenantIssuer),
            }
        }
        400 | 404 => Ok(String::new()),
        other => Err(DomainAnswerError::Status(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTHORITY: &str = "https://login.microsoftonline.com";
    const T1: &str = "4f1a2b3c-1111-4111-8111-11111111111a";
    const T2: &str = "22222222-2222-2222-2222-222222222222";

    fn entra(tenancy: EntraTenancy) -> EntraSettings {
        EntraSettings { authority: AUTHORITY.into(), tenancy }
    }

    #[test]
    fn tenant_of_issuer_is_exact() {
        assert_eq!(entra_tenant_of_issuer(AUTHORITY, &format!("{AUTHORITY}/{T1}/v2.0")), Some(T1));
        for odd in [
            format!("{AUTHORITY}/{T1}/v2.0/"),
            format!("{AUTHORITY}/{}/v2.0", T1.to_uppercase()),
            format!("{AUTHORITY}/{{tenantid}}/v2.0"),
            format!("https://evil.example/{T1}/v2.0"),
            format!("{AUTHORITY}/{T1}/v2.0?x"),
        ] {
            assert_eq!(entra_tenant_of_issuer(AUTHORITY, &odd), None, "{odd}");
        }
    }

    #[test]
    fn tenants_that_may_sign_in() {
        let single = format!("{AUTHORITY}/{T1}/v2.0");
        let multi = entra(EntraTenancy::Multi { allowed_tenants: vec![T1.into()] });
        assert!(tenant_may_sign_in(&multi, "", T1));
        assert!(!tenant_may_sign_in(&multi, "", T2));
        assert!(!tenant_may_sign_in(&multi, "", ""));
        let consumers = entra(EntraTenancy::Consumers);
        assert!(tenant_may_sign_in(&consumers, "", ENTRA_CONSUMERS_TENANT_ID));
        assert!(!tenant_may_sign_in(&consumers, "", T1));
        let by_domain = entra(EntraTenancy::Single { tenant: "contoso.example".into(), allowed_tenants: vec![] });
        assert!(tenant_may_sign_in(&by_domain, &single, T1));
        assert!(!tenant_may_sign_in(&by_domain, &single, T2), "the discovered tenant only");
        let pinned = entra(EntraTenancy::Single { tenant: "contoso.example".into(), allowed_tenants: vec![T2.into()] });
        assert!(!tenant_may_sign_in(&pinned, &single, T1), "allowed_tenants must contain it");
    }

    #[test]
    fn domain_owner_must_be_a_tenant_the_connector_accepts_and_the_signer() {
        let multi = entra(EntraTenancy::Multi { allowed_tenants: vec![T1.into(), T2.into()] });
        assert_eq!(entra_domain_refusal(&multi, Some(T1), T1), None);
        assert_eq!(entra_domain_refusal(&multi, Some(T2), T1), Some("not the tenant that signed in"));
        assert!(entra_domain_refusal(&multi, None, T1).is_some());
        let pinned = entra(EntraTenancy::Single { tenant: T1.into(), allowed_tenants: vec![] });
        assert_eq!(
            entra_domain_refusal(&pinned, Some(T2), T2),
            Some("configuration error: a tenant the connector does not accept")
        );
    }

    #[test]
    fn domain_owner_answers() {
        let doc = |iss: &str| serde_json::json!({ "issuer": iss }).to_string().into_bytes();
        let owner = parse_domain_owner(AUTHORITY, 200, &doc(&format!("{AUTHORITY}/{T1}/v2.0"))).unwrap();
        assert_eq!(owner.tenant.as_deref(), Some(T1));
        assert_eq!(parse_domain_owner(AUTHORITY, 404, b"").unwrap().tenant, None);
        assert_eq!(parse_domain_owner(AUTHORITY, 400, b"").unwrap().tenant, None);
        assert!(parse_domain_owner(AUTHORITY, 500, b"").is_err());
        assert!(parse_domain_owner(AUTHORITY, 200, b"not json").is_err());
        assert!(parse_domain_owner(AUTHORITY, 200, &doc("https://evil.example/x/v2.0")).is_err());
    }
}
