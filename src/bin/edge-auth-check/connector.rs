//! One connector: what it is configured with, its discovery document (fetched and judged by the core), its
//! client authentication and ID-token algorithms, and (Entra) who owns each routed domain.

use edge_auth::core::config::{Connector, ConnectorKind, EntraSettings, EntraTenancy, Protocol, ResponseMode};
use edge_auth::core::flow::site_uris::{
    backchannel_logout_uri, frontchannel_logout_uri, post_logout_redirect_uri, redirect_uri,
};
use edge_auth::core::flow::{
    discovery_issuer_rule, entra_domain_discovery_url, entra_tenant_of_issuer, parse_domain_owner,
};
use edge_auth::core::oidc::discovery::{parse_provider_metadata_accepting, DiscoveryError, ProviderMetadata};
use edge_auth::core::oidc::jwks::Alg;
use edge_auth::core::oidc::token::choose_auth_method;

use crate::fetcher::Fetcher;
use crate::keys::check_jwks;
use crate::report::{locate, Report};
use crate::secrets::{client_secret, SecretsFile};

/// Prints one connector; `false` when logins through it would fail.
pub fn check_connector(
    report: &mut Report,
    fetcher: &mut Fetcher,
    c: &Connector,
    secrets: Option<&SecretsFile>,
    site: Option<&str>,
) -> bool {
    let id = c.id.as_str();
    report.begin_connector();
    let name = if c.display_name == c.id { String::new() } else { format!(": {}", c.display_name) };
    report.line(0, format!("connector {id:?} (kind {}){name}", c.kind.as_str()));
    report.item("domains routed", c.domains.join(", "));
    report.item("client_id", &c.client_id);
    client_secret(report, secrets, c);
    if !c.extra_scopes.is_empty() {
        report.item("extra scopes", c.extra_scopes.join(" "));
    }
    if let Some(p) = c.prompt {
        report.item("prompt", p.as_str());
    }
    if let Some(m) = c.max_age {
        report.item("max_age", format!("{m} s"));
    }
    let usable = match &c.protocol {
        Protocol::Facebook { authorization_endpoint, token_endpoint, graph_me_endpoint } => {
            report.item("protocol", "OAuth 2.0 + Graph API (no discovery, no ID token)");
            report.item("authorization", authorization_endpoint);
            report.item("token", token_endpoint);
            report.item("graph /me", graph_me_endpoint);
            report.item("token auth", "client_secret in the token request (Facebook's only method)");
            report.item("PKCE S256", "sent (code_challenge_method=S256)");
            report.item("end_session", "(none: signing out ends the edge session only)");
            for (field, url) in [
                ("authorization_endpoint", authorization_endpoint),
                ("token_endpoint", token_endpoint),
                ("graph_me_endpoint", graph_me_endpoint),
            ] {
                if url.starts_with("http:") {
                    report.warning(2, Some(id), field, "http:// is accepted only for loopback hosts: development only");
                }
            }
            true
        }
        Protocol::OpenIdConnect { claims, hosted_domains, entra } => {
            if claims.email != "email" || claims.name != "name" {
                report.item("claims", format!("email from {:?}, name from {:?}", claims.email, claims.name));
            }
            if !hosted_domains.is_empty() {
                report.item("hosted domains (hd)", hosted_domains.join(", "));
            }
            if let Some(e) = entra {
                let tenancy = match &e.tenancy {
                    EntraTenancy::Multi { allowed_tenants } => {
                        format!("multi-tenant; allowed tenants {}", allowed_tenants.join(", "))
                    }
                    EntraTenancy::Consumers => "personal Microsoft accounts (consumers)".to_string(),
                    EntraTenancy::Single { tenant, allowed_tenants } if allowed_tenants.is_empty() => {
                        format!("single tenant {tenant}")
                    }
                    EntraTenancy::Single { tenant, allowed_tenants } => {
                        format!("single tenant {tenant}; allowed tenants {}", allowed_tenants.join(", "))
                    }
                };
                report.item("entra", format!("{tenancy}; authority {}", e.authority));
            }
            report.item(
                "response mode",
                match c.response_mode {
                    ResponseMode::Query => "query (GET /auth/callback)",
                    ResponseMode::FormPost => "form_post (POST /auth/callback)",
                },
            );
            let usable = check_oidc(report, fetcher, c);
            match entra {
                Some(e) => check_entra_domains(report, fetcher, c, e) && usable,
                None => usable,
            }
        }
    };
    report_registration(report, c, site);
    report.end_connector();
    report.line(2, if usable { "status: usable" } else { "status: UNUSABLE" });
    usable
}

/// What the operator registers at the IdP for this connector, per kind: the URIs the worker sends and answers
/// on ([`edge_auth::core::flow::site_uris`], the very functions the flow uses), on `--site`'s origin.
fn report_registration(report: &mut Report, c: &Connector, site: Option<&str>) {
    let origin = site.unwrap_or("https://SITE");
    let heading = match site {
        Some(_) => "register at the IdP:",
        None => "register at the IdP (give --site https://your.site for the full URLs):",
    };
    report.line(2, heading);
    let line = |report: &mut Report, label: &str, value: String| report.line(4, format!("{label:<26}{value}"));
    let redirect = redirect_uri(origin);
    let signed_out = post_logout_redirect_uri(origin);
    match c.kind {
        ConnectorKind::Entra => {
            line(report, "redirect URI (Web):", redirect);
            line(
                report,
                "redirect URI (Web):",
                format!("{signed_out} (the post-logout redirect URI: Entra takes it only among the redirect URIs)"),
            );
            line(
                report,
                "front-channel logout URL:",
                format!("{} (Entra sends ?sid= alone)", frontchannel_logout_uri(origin)),
            );
            line(report, "back-channel logout:", "(Entra ID sends none)".to_string());
            line(
                report,
                "ID token claims:",
                "email, upn and auth_time as optional claims; groups if policies use them".to_string(),
            );
        }
        ConnectorKind::Google => {
            line(report, "authorized redirect URI:", format!("{redirect} (a \"Web application\" OAuth client)"));
            line(report, "logout:", "(Google offers no logout endpoints: nothing else to register)".to_string());
        }
        ConnectorKind::Facebook => {
            line(report, "valid OAuth redirect URI:", format!("{redirect} (Facebook Login settings)"));
            line(report, "logout:", "(Facebook has no logout endpoints: nothing else to register)".to_string());
        }
        // `oidc` (and any OpenID Connect kind): every URI it may use.
        _ => {
            line(report, "redirect URI:", redirect);
            line(
                report,
                "post-logout redirect URI:",
                format!("{signed_out} (sent as post_logout_redirect_uri when the IdP has an end_session_endpoint)"),
            );
            line(
                report,
                "front-channel logout URL:",
                format!("{} (with iss and sid: frontchannel_logout_session_required)", frontchannel_logout_uri(origin)),
            );
            line(report, "back-channel logout URL:", backchannel_logout_uri(origin));
        }
    }
}

/// The config field a connector's discovery URL comes from.
fn issuer_field(c: &Connector) -> &'static str {
    if c.kind == ConnectorKind::Entra {
        "tenant"
    } else {
        "issuer"
    }
}

fn check_oidc(report: &mut Report, fetcher: &mut Fetcher, c: &Connector) -> bool {
    let id = c.id.as_str();
    let discovery_url = c.discovery_url();
    report.item("discovery", &discovery_url);
    if c.issuer.starts_with("http:") {
        report.warning(
            2,
            Some(id),
            issuer_field(c),
            format!("{:?} uses http://, accepted only for loopback hosts: for local development only", c.issuer),
        );
    }
    if !fetcher.online() {
        report.item("provider", "(not fetched: --offline)");
        return true;
    }
    let body = match fetcher.get(&discovery_url) {
        Ok(b) => b,
        Err(e) => {
            report.provider_error(id, issuer_field(c), format!("the discovery document could not be fetched: {e}"));
            return false;
        }
    };
    // Members the core does not keep, shown for the operator.
    let raw: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let (expected, accept) = discovery_issuer_rule(c);
    let metadata = match parse_provider_metadata_accepting(&body, &expected, accept) {
        Ok(m) => m,
        Err(e) => {
            let field = match &e {
                DiscoveryError::IssuerMismatch { .. } => issuer_field(c),
                DiscoveryError::BadEndpoint { field, .. } => field,
                DiscoveryError::NoS256 => "code_challenge_methods_supported",
                _ => "discovery",
            };
            if let DiscoveryError::IssuerMismatch { found, .. } = &e {
                report.item("issuer", format!("{found} (the connector expects {expected})"));
            }
            report.provider_error(id, field, format!("{e} (from {discovery_url})"));
            return false;
        }
    };
    report_metadata(report, c, &metadata, &raw, &expected);
    let mut usable = true;
    // Client authentication at the token endpoint.
    let supported = &metadata.token_endpoint_auth_methods_supported;
    match choose_auth_method(c.token_endpoint_auth_method, &metadata) {
        None => {
            report.item("token auth methods", format!("{} -> none usable", supported.join(", ")));
            report.provider_error(
                id,
                "token_endpoint_auth_methods_supported",
                format!(
                    "the provider offers {} but edge-auth authenticates with client_secret_basic or client_secret_post",
                    supported.join(", ")
                ),
            );
            usable = false;
        }
        Some(m) => {
            let how = if c.token_endpoint_auth_method.is_some() { "configured" } else { "chosen from discovery" };
            report.item("token auth methods", format!("{} -> will use {} ({how})", supported.join(", "), m.as_str()));
            if c.token_endpoint_auth_method.is_some() && !supported.iter().any(|s| s == m.as_str()) {
                report.warning(
                    2,
                    Some(id),
                    "token_endpoint_auth_method",
                    format!(
                        "{} is not among the provider's token_endpoint_auth_methods_supported ({}); the token exchange may fail",
                        m.as_str(),
                        supported.join(", ")
                    ),
                );
            }
        }
    }
    // ID-token signing algorithms.
    let advertised = &metadata.id_token_signing_alg_values_supported;
    let (accepted, refused): (Vec<&String>, Vec<&String>) =
        advertised.iter().partition(|a| Alg::from_jose(a).is_some());
    let mut algs: Vec<Alg> = Vec::new();
    for alg in accepted.iter().filter_map(|a| Alg::from_jose(a)) {
        if !algs.contains(&alg) {
            algs.push(alg);
        }
    }
    if advertised.is_empty() {
        report.item("id_token algs", "(not advertised; OpenID Connect's default RS256 assumed)");
        report.warning(
            2,
            Some(id),
            "id_token_signing_alg_values_supported",
            "the discovery document does not list ID-token signing algorithms; RS256 is assumed",
        );
        algs.push(Alg::RS256);
    } else if refused.is_empty() {
        report.item("id_token algs", join(&accepted));
    } else {
        report.item("id_token algs", format!("{} (refused by edge-auth: {})", join(&accepted), join(&refused)));
    }
    if !advertised.is_empty() && accepted.is_empty() {
        report.provider_error(
            id,
            "id_token_signing_alg_values_supported",
            format!(
                "the provider signs ID tokens only with {}; edge-auth accepts RS/PS 256-512, ES256/384 and EdDSA",
                join(&refused)
            ),
        );
        usable = false;
    }
    check_jwks(report, fetcher, id, &metadata.jwks_uri, &algs) && usable
}

fn join(items: &[&String]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn report_metadata(report: &mut Report, c: &Connector, m: &ProviderMetadata, raw: &serde_json::Value, expected: &str) {
    let id = c.id.as_str();
    let issuer_note =
        if m.issuer == c.issuer { "as configured".to_string() } else { format!("accepted as {expected}") };
    report.item("issuer", format!("{} ({issuer_note})", m.issuer));
    if let Some(tid) = entra_settings(c).and_then(|e| entra_tenant_of_issuer(&e.authority, &m.issuer)) {
        report.item("tenant id", tid);
    }
    report.item("authorization", &m.authorization_endpoint);
    report.item("token", &m.token_endpoint);
    report.item("userinfo", m.userinfo_endpoint.as_deref().unwrap_or("(none)"));
    report.item("end_session", m.end_session_endpoint.as_deref().unwrap_or("(none)"));
    report.item("jwks_uri", &m.jwks_uri);
    let strings = |name: &str| -> Option<Vec<String>> {
        raw.get(name)?.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
    };
    report.item(
        "PKCE S256",
        match strings("code_challenge_methods_supported") {
            Some(list) => format!("yes (advertised: {})", list.join(", ")),
            None => "not advertised (edge-auth sends S256 regardless)".to_string(),
        },
    );
    report.item(
        "RFC 9207 iss",
        if m.authorization_response_iss_parameter_supported { "yes (checked on the callback)" } else { "no" },
    );
    if m.end_session_endpoint.is_none() {
        report.warning(
            2,
            Some(id),
            "end_session_endpoint",
            "the provider has none: signing out ends the edge session but not the IdP's",
        );
    }
    let http: Vec<&str> = [
        ("authorization_endpoint", Some(&m.authorization_endpoint)),
        ("token_endpoint", Some(&m.token_endpoint)),
        ("jwks_uri", Some(&m.jwks_uri)),
        ("userinfo_endpoint", m.userinfo_endpoint.as_ref()),
        ("end_session_endpoint", m.end_session_endpoint.as_ref()),
    ]
    .into_iter()
    .filter(|(_, u)| u.is_some_and(|u| u.starts_with("http:")))
    .map(|(f, _)| f)
    .collect();
    if !http.is_empty() && !c.issuer.starts_with("http:") {
        report.warning(
            2,
            Some(id),
            "discovery",
            format!("{} use http:// (loopback only): development only", http.join(", ")),
        );
    }
    if let Some(modes) = strings("response_modes_supported") {
        let wanted = match c.response_mode {
            ResponseMode::Query => "query",
            ResponseMode::FormPost => "form_post",
        };
        if !modes.iter().any(|m| m == wanted) {
            report.warning(
                2,
                Some(id),
                "response_mode",
                format!("{wanted:?} is not among the provider's response_modes_supported ({})", modes.join(", ")),
            );
        }
    }
    if let Some(scopes) = strings("scopes_supported") {
        for s in &c.extra_scopes {
            if !scopes.contains(s) {
                report.warning(
                    2,
                    Some(id),
                    "scopes",
                    format!("{s:?} is not among the provider's scopes_supported (it may still be accepted)"),
                );
            }
        }
    }
}

/// Entra: each routed domain's owning tenant, as the worker resolves it (Entra's discovery for the domain).
/// Only that tenant may sign in the domain's addresses; a domain verified in no tenant, or in one the
/// connector's `tenant`/`allowed_tenants` leave out, is a configuration error (the worker refuses its addresses).
fn check_entra_domains(report: &mut Report, fetcher: &mut Fetcher, c: &Connector, e: &EntraSettings) -> bool {
    let id = c.id.as_str();
    if e.tenancy == EntraTenancy::Consumers {
        report.item("domain owners", "(not pinned: personal Microsoft accounts)");
        return true;
    }
    if !fetcher.online() {
        report.item("domain owners", "(not resolved: --offline)");
        return true;
    }
    let mut usable = true;
    for domain in &c.domains {
        let url = entra_domain_discovery_url(&e.authority, domain);
        let owner = fetcher.get_any(&url).and_then(|(status, body)| parse_domain_owner(&e.authority, status, &body));
        let owner = match owner {
            Ok(o) => o,
            Err(why) => {
                report.item("domain owner", format!("{domain} -> ? ({why})"));
                report.provider_error(
                    id,
                    "domains",
                    format!("the owner of {domain} could not be resolved: {why} (from {url})"),
                );
                usable = false;
                continue;
            }
        };
        let Some(owner) = owner.tenant else {
            report.item("domain owner", format!("{domain} -> no tenant"));
            report.config_error(
                2,
                format!(
                    "{}: {domain} is verified in no Entra tenant: the worker refuses its addresses (verify it in its tenant, or remove it)",
                    locate(Some(id), "domains")
                ),
            );
            continue;
        };
        report.item("domain owner", format!("{domain} -> tenant {owner}"));
        let (field, pinned) = match &e.tenancy {
            EntraTenancy::Multi { allowed_tenants } => ("allowed_tenants", allowed_tenants.contains(&owner)),
            EntraTenancy::Single { tenant, allowed_tenants } => (
                if allowed_tenants.is_empty() { "tenant" } else { "allowed_tenants" },
                (!edge_auth::core::config::is_guid(tenant) || *tenant == owner)
                    && (allowed_tenants.is_empty() || allowed_tenants.contains(&owner))
                    && discovered_single_tenant(fetcher, c, e).is_none_or(|t| t == owner),
            ),
            EntraTenancy::Consumers => ("tenant", true),
        };
        if !pinned {
            report.config_error(
                2,
                format!(
                    "{}: {domain} is verified in tenant {owner}, which the connector does not accept: the worker refuses its addresses",
                    locate(Some(id), field)
                ),
            );
        }
    }
    usable
}

/// The tenant id a single-tenant connector's discovery document names (already fetched by `check_oidc`).
fn discovered_single_tenant(fetcher: &mut Fetcher, c: &Connector, e: &EntraSettings) -> Option<String> {
    let body = fetcher.get(&c.discovery_url()).ok()?;
    let doc: serde_json::Value = serde_json::from_slice(&body).ok()?;
    entra_tenant_of_issuer(&e.authority, doc.get("issuer")?.as_str()?).map(str::to_string)
}

fn entra_settings(c: &Connector) -> Option<&EntraSettings> {
    match &c.protocol {
        Protocol::OpenIdConnect { entra: Some(e), .. } => Some(e),
        _ => None,
    }
}
