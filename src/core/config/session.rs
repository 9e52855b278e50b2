//! `session` and `origin` settings of `AUTH_CONFIG`: read, bounded, validated.

use serde_json::Value;

use crate::core::config::error::ConfigError;
use crate::core::config::fields::Fields;
use crate::core::config::urls::check_endpoint_url;

/// Default absolute session lifetime: 8 hours.
pub const DEFAULT_SESSION_LIFETIME_SECONDS: u64 = 8 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// Absolute lifetime from sign-in.
    pub lifetime_seconds: u64,
    /// Sign out after this long without a request; renewed (cookie rewritten) at most every half of it.
    pub idle_timeout_seconds: Option<u64>,
    /// Encrypt session cookies (AES-256-GCM) so the email is not readable in the browser.
    pub encrypt: bool,
}

/// Origin mode: authenticated requests are proxied to `url` with identity headers and a signed assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginSettings {
    pub url: url::Url,
    pub assertion_ttl_seconds: u64,
}

/// The fields of `session`.
pub(crate) const SESSION_FIELDS: &[&str] = &["lifetime_seconds", "idle_timeout_seconds", "encrypt"];

/// The fields of `origin`.
pub(crate) const ORIGIN_FIELDS: &[&str] = &["url", "assertion_ttl_seconds"];

/// `session`: lifetime 1 min – 30 days (default 8 h), idle timeout 2 min – lifetime, optional encryption.
pub(crate) fn read_session(value: Option<&Value>) -> Result<SessionSettings, ConfigError> {
    let (lifetime_seconds, idle_timeout_seconds, encrypt) = match value {
        None => (None, None, false),
        Some(v) => {
            let s = Fields::of(v, "session.", None, SESSION_FIELDS)?;
            (s.opt_u64("lifetime_seconds")?, s.opt_u64("idle_timeout_seconds")?, s.bool("encrypt")?)
        }
    };
    Ok(SessionSettings {
        lifetime_seconds: lifetime_seconds.unwrap_or(DEFAULT_SESSION_LIFETIME_SECONDS),
        idle_timeout_seconds,
        encrypt,
    })
}

/// Bounds checked once every part is read (so that a type error anywhere is reported first, as before).
pub(crate) fn check_session(session: &SessionSettings) -> Result<(), ConfigError> {
    let lifetime = session.lifetime_seconds;
    if !(60..=30 * 24 * 3600).contains(&lifetime) {
        return Err(ConfigError::top("session.lifetime_seconds", "must be between 60 seconds and 30 days"));
    }
    if let Some(idle) = session.idle_timeout_seconds {
        if !(120..=lifetime).contains(&idle) {
            return Err(ConfigError::top(
                "session.idle_timeout_seconds",
                "must be between 120 seconds and session.lifetime_seconds",
            ));
        }
    }
    Ok(())
}

/// `origin`, as written (checked by [`check_origin`] once every part is read).
#[derive(Debug)]
pub(crate) struct RawOrigin {
    url: String,
    assertion_ttl_seconds: Option<u64>,
}

pub(crate) fn read_origin(value: Option<&Value>) -> Result<Option<RawOrigin>, ConfigError> {
    let Some(v) = value else { return Ok(None) };
    let o = Fields::of(v, "origin.", None, ORIGIN_FIELDS)?;
    Ok(Some(RawOrigin { url: o.str("url")?, assertion_ttl_seconds: o.opt_u64("assertion_ttl_seconds")? }))
}

/// `origin.url` https (or loopback http) without query or fragment; assertions live 10 s – 1 h (default 60 s).
pub(crate) fn check_origin(raw: Option<RawOrigin>) -> Result<Option<OriginSettings>, ConfigError> {
    let Some(o) = raw else { return Ok(None) };
    let url = check_endpoint_url(o.url.trim()).map_err(|r| ConfigError::top("origin.url", r))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::top("origin.url", "must not have a query or fragment"));
    }
    let ttl = o.assertion_ttl_seconds.unwrap_or(60);
    if !(10..=3600).contains(&ttl) {
        return Err(ConfigError::top("origin.assertion_ttl_seconds", "must be between 10 and 3600"));
    }
    Ok(Some(OriginSettings { url, assertion_ttl_seconds: ttl }))
}
