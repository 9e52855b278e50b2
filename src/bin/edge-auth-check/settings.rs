//! Settings outside the connectors: session, origin mode, path policies.

use edge_auth::core::assertion::ASSERTION_KEY_BINDING;
use edge_auth::core::config::{Config, XmlProtocol};
use edge_auth::core::policy::Access;

use crate::report::{plural, Report};

/// Settings outside the connectors: session, origin mode, path policies.
pub fn report_settings(report: &mut Report, config: &Config) {
    let session = &config.session;
    let idle = match session.idle_timeout_seconds {
        Some(idle) => format!(", idle timeout {idle} s"),
        None => String::new(),
    };
    let cookies = if session.encrypt { "encrypted (AES-256-GCM)" } else { "signed (HMAC)" };
    let connectors = config.connectors.len() + config.saml_connectors.len();
    let wsfed = config.saml_connectors.iter().filter(|c| c.protocol == XmlProtocol::WsFederation).count();
    let saml = config.saml_connectors.len() - wsfed;
    let saml = match (saml, wsfed) {
        (0, 0) => String::new(),
        (n, 0) => format!(" ({n} SAML)"),
        (0, m) => format!(" ({m} WS-Federation)"),
        (n, m) => format!(" ({n} SAML, {m} WS-Federation)"),
    };
    report.line(
        0,
        format!(
            "session:  lifetime {} s{idle}, cookies {cookies}, clock leeway {} s; {connectors} connector{}{saml}",
            session.lifetime_seconds,
            config.clock_leeway_seconds,
            plural(connectors)
        ),
    );
    if let Some(origin) = &config.origin {
        report.line(
            0,
            format!(
                "origin:   {} (identity headers + an ES256 assertion valid {} s, key {ASSERTION_KEY_BINDING})",
                origin.url, origin.assertion_ttl_seconds
            ),
        );
    }
    // A connector of either family (OAuth or SAML).
    let owned = |domain: &str| config.connector_owning(domain).is_some();
    for (i, policy) in config.policies.iter().enumerate() {
        let path = policy.path.as_str();
        let access = match &policy.access {
            Access::Public => "public (no sign-in)".to_string(),
            Access::Restricted { emails, domains, groups, service_tokens } => {
                let mut parts = Vec::new();
                for (what, list) in
                    [("emails", emails), ("domains", domains), ("groups", groups), ("service tokens", service_tokens)]
                {
                    if !list.is_empty() {
                        parts.push(format!("{what} {}", list.join(", ")));
                    }
                }
                if parts.is_empty() {
                    "any signed-in user".to_string()
                } else {
                    parts.join("; ")
                }
            }
        };
        report.line(0, format!("policy:   {path}: {access}"));
        // A session's email domain is always one a connector owns: other domains can never match.
        if let Access::Restricted { emails, domains, .. } = &policy.access {
            for d in domains.iter().filter(|d| !owned(d)) {
                report.warning(
                    2,
                    None,
                    &format!("policies[{i}].domains"),
                    format!("{d:?} is not routed to any connector, so nobody from it can sign in"),
                );
            }
            for e in emails.iter().filter(|e| !e.rsplit_once('@').is_some_and(|(_, d)| owned(d))) {
                report.warning(
                    2,
                    None,
                    &format!("policies[{i}].emails"),
                    format!("{e:?} is not in a domain routed to any connector, so it can never sign in"),
                );
            }
        }
    }
}
