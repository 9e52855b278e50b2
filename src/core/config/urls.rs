//! The URLs and names connectors are configured with: issuers and endpoints (https, or http on loopback
//! only), email domain lists, tenant ids.

use crate::core::config::error::ConfigError;
use crate::core::routing::normalize_domain;
use crate::core::url::is_loopback_host;

/// Trim, drop a `/.well-known/openid-configuration` suffix, require https (or loopback http), no query.
pub(crate) fn normalize_issuer(text: &str) -> Result<String, String> {
    let issuer = text.trim();
    let issuer = issuer.strip_suffix("/.well-known/openid-configuration").unwrap_or(issuer).to_string();
    let u = check_endpoint_url(&issuer)?;
    if u.query().is_some() || u.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(issuer)
}

pub(crate) fn normalize_domain_list(list: &[String], field: &str, label: &str) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, d) in list.iter().enumerate() {
        let n = normalize_domain(d).ok_or_else(|| {
            ConfigError::new(Some(label), format!("{field}[{i}]"), format!("{d:?} is not a valid domain name"))
        })?;
        if out.contains(&n) {
            return Err(ConfigError::new(Some(label), format!("{field}[{i}]"), format!("{d:?} is listed twice")));
        }
        out.push(n);
    }
    Ok(out)
}

/// A GUID in its canonical lowercase 8-4-4-4-12 form.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// An issuer or endpoint URL must be `https://`, or `http://` on a loopback host (development only).
pub fn check_endpoint_url(text: &str) -> Result<url::Url, String> {
    // ASCII only (internationalised hosts in their xn-- form): the URL parser's IDNA step is ASCII-only here
    // and must never see anything else (fuzzing found a debug assertion in it for `https://Aé.example/`).
    // Nothing risky reaches the URL parser: its IDNA step is ASCII-only here and has a debug assertion that
    // fuzzing reached four ways (non-ASCII, a percent-encoded host, `https:/host`, `http:////HOST`). So: ASCII,
    // an exact `https://` or `http://` prefix followed by a non-empty authority without `%` or `\`, and the
    // authority lowercased.
    if !text.is_ascii() || text.contains('\\') {
        return Err(format!("{text:?} must be ASCII (write internationalised host names in their xn-- form)"));
    }
    let lower = text.to_ascii_lowercase();
    let scheme_len = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return Err(format!("{text:?} must start with https://"));
    };
    let rest = text.get(scheme_len..).unwrap_or_default();
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len).unwrap_or_default();
    if authority.contains('%') {
        return Err(format!("{text:?} has a percent-encoded host"));
    }
    // `https:///host`: the URL parser skips the extra slashes and would take the rest, unchecked, as the host.
    if authority.is_empty() {
        return Err(format!("{text:?} has no host after the scheme's //"));
    }
    let normalised = format!(
        "{}{}{}",
        lower.get(..scheme_len).unwrap_or_default(),
        authority.to_ascii_lowercase(),
        rest.get(authority_len..).unwrap_or_default()
    );
    let text = normalised.as_str();
    let u = url::Url::parse(text).map_err(|e| format!("{text:?} is not a valid URL ({e})"))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not contain credentials".into());
    }
    match u.scheme() {
        "https" => Ok(u),
        "http" if is_loopback_host(u.host()) => Ok(u),
        "http" => Err(format!("{text:?} must use https:// (http:// is accepted only for loopback hosts)")),
        other => Err(format!("{text:?} has scheme {other:?}; https:// is required")),
    }
}
