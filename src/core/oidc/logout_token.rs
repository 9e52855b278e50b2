//! Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4, §2.6): a signed JWT from the
//! IdP saying that a session (`sid`) or every session of a user (`sub`) has ended.
//!
//! Checks, in the spec's order: signature with the IdP's keys (as for ID tokens: allow-listed `alg`, key
//! from the JWKS), `iss` exact, `aud` contains our `client_id`, `iat` recent, `exp` (if present) not passed,
//! `jti` present (replays refused by the caller), `events` has the back-channel-logout member as an object,
//! no `nonce`, and `sid` or `sub` present. `typ` may be `logout+jwt` (recommended) or absent/`JWT`.

use thiserror::Error;

use crate::core::oidc::id_token::{Audience, NumericDate};

pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token older than this is refused.
pub const MAX_LOGOUT_TOKEN_AGE_SECONDS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LogoutTokenError {
    #[error("the logout token's claims are malformed: {0}")]
    Malformed(String),
    #[error("iss is not the issuer")]
    Issuer,
    #[error("aud does not contain the client_id")]
    Audience,
    #[error("iat is in the future or too old")]
    IssuedAt,
    #[error("the token has expired")]
    Expired,
    #[error("the token has no jti")]
    NoJti,
    #[error("events lacks the back-channel logout event")]
    NoEvent,
    #[error("a logout token must not contain a nonce")]
    Nonce,
    #[error("the token has neither sid nor sub")]
    NoSubject,
}

/// The validated content of a logout token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    pub iss: String,
    pub jti: String,
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub iat: u64,
}

pub fn validate_logout_claims(
    payload: &[u8],
    issuer: &str,
    client_id: &str,
    now: u64,
    leeway: u64,
) -> Result<LogoutClaims, LogoutTokenError> {
    let claims = crate::core::json::parse_object(payload).map_err(LogoutTokenError::Malformed)?;
    let c = RawClaims::read(&claims).map_err(LogoutTokenError::Malformed)?;
    if c.iss != issuer {
        return Err(LogoutTokenError::Issuer);
    }
    let aud_ok = match &c.aud {
        Audience::One(a) => a == client_id,
        Audience::Many(v) => v.iter().any(|a| a == client_id),
    };
    if !aud_ok {
        return Err(LogoutTokenError::Audience);
    }
    if c.iat.0 > now.saturating_add(leeway)
        || now.saturating_sub(c.iat.0) > MAX_LOGOUT_TOKEN_AGE_SECONDS.saturating_add(leeway)
    {
        return Err(LogoutTokenError::IssuedAt);
    }
    if c.exp.is_some_and(|exp| now >= exp.0.saturating_add(leeway)) {
        return Err(LogoutTokenError::Expired);
    }
    let jti = c.jti.filter(|j| !j.is_empty() && j.len() <= 256).ok_or(LogoutTokenError::NoJti)?.to_string();
    let has_event = c.events.and_then(|e| e.get(BACKCHANNEL_LOGOUT_EVENT)).is_some_and(|v| v.is_object());
    if !has_event {
        return Err(LogoutTokenError::NoEvent);
    }
    if c.nonce.is_some() {
        return Err(LogoutTokenError::Nonce);
    }
    let sid = c.sid.filter(|s| !s.is_empty() && s.len() <= 255).map(str::to_string);
    let sub = c.sub.filter(|s| !s.is_empty() && s.len() <= 255).map(str::to_string);
    if sid.is_none() && sub.is_none() {
        return Err(LogoutTokenError::NoSubject);
    }
    Ok(LogoutClaims { iss: c.iss.to_string(), jti, sid, sub, iat: c.iat.0 })
}

/// The claims a logout token is judged by, read (and so type-checked) before any is judged.
struct RawClaims<'a> {
    iss: &'a str,
    aud: Audience,
    iat: NumericDate,
    exp: Option<NumericDate>,
    jti: Option<&'a str>,
    events: Option<&'a crate::core::json::Object>,
    nonce: Option<&'a serde_json::Value>,
    sid: Option<&'a str>,
    sub: Option<&'a str>,
}

impl<'a> RawClaims<'a> {
    fn read(claims: &'a crate::core::json::Object) -> Result<RawClaims<'a>, String> {
        let m = crate::core::json::Members(claims);
        Ok(RawClaims {
            iss: m.string("iss")?,
            aud: Audience::read(m.required("aud")?)?,
            iat: NumericDate::read("iat", m.required("iat")?)?,
            exp: m.get("exp").map(|v| NumericDate::read("exp", v)).transpose()?,
            jti: m.opt_string("jti")?,
            events: m.opt_object("events")?,
            // "MUST NOT contain a nonce Claim": present at all, `null` included.
            nonce: m.0.get("nonce"),
            sid: m.opt_string("sid")?,
            sub: m.opt_string("sub")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn base() -> serde_json::Value {
        json!({ "iss": "https://idp.example", "aud": "edge", "iat": NOW - 5, "jti": "j1", "sid": "s1",
                "events": { BACKCHANNEL_LOGOUT_EVENT: {} } })
    }

    fn check(c: &serde_json::Value) -> Result<LogoutClaims, LogoutTokenError> {
        validate_logout_claims(c.to_string().as_bytes(), "https://idp.example", "edge", NOW, 60)
    }

    fn with(k: &str, v: serde_json::Value) -> serde_json::Value {
        let mut c = base();
        c[k] = v;
        c
    }

    fn without(k: &str) -> serde_json::Value {
        let mut c = base();
        c.as_object_mut().unwrap().remove(k);
        c
    }

    #[test]
    fn a_valid_token() {
        let c = check(&base()).unwrap();
        assert_eq!((c.sid.as_deref(), c.sub.as_deref(), c.jti.as_str()), (Some("s1"), None, "j1"));
        assert!(check(&with("sub", json!("u1"))).is_ok());
        assert!(check(&with("aud", json!(["x", "edge"]))).is_ok());
    }

    #[test]
    fn every_rule_refuses() {
        assert_eq!(check(&with("iss", json!("https://evil.example"))), Err(LogoutTokenError::Issuer));
        assert_eq!(check(&with("aud", json!("other"))), Err(LogoutTokenError::Audience));
        assert_eq!(check(&with("iat", json!(NOW + 61))), Err(LogoutTokenError::IssuedAt));
        assert_eq!(check(&with("iat", json!(NOW - 361))), Err(LogoutTokenError::IssuedAt));
        assert_eq!(check(&with("exp", json!(NOW - 61))), Err(LogoutTokenError::Expired));
        assert_eq!(check(&without("jti")), Err(LogoutTokenError::NoJti));
        assert_eq!(check(&without("events")), Err(LogoutTokenError::NoEvent));
        assert_eq!(check(&with("events", json!({ BACKCHANNEL_LOGOUT_EVENT: "yes" }))), Err(LogoutTokenError::NoEvent));
        assert_eq!(check(&with("events", json!({ "http://other/event": {} }))), Err(LogoutTokenError::NoEvent));
        assert_eq!(check(&with("nonce", json!("n"))), Err(LogoutTokenError::Nonce));
        assert_eq!(check(&with("nonce", json!(null))), Err(LogoutTokenError::Nonce), "present as null is present");
        // A claim named twice, at the top or inside `events`: refused whole, never read as its last value.
        for text in [
            format!(
                r#"{{"iss":"https://idp.example","aud":"edge","iat":{},"jti":"j1","sid":"s1","sid":"s2","events":{{"{BACKCHANNEL_LOGOUT_EVENT}":{{}}}}}}"#,
                NOW - 5
            ),
            format!(
                r#"{{"iss":"https://idp.example","aud":"edge","iat":{},"jti":"j1","sid":"s1","events":{{"{BACKCHANNEL_LOGOUT_EVENT}":{{}},"{BACKCHANNEL_LOGOUT_EVENT}":1}}}}"#,
                NOW - 5
            ),
        ] {
            let e = validate_logout_claims(text.as_bytes(), "https://idp.example", "edge", NOW, 60).unwrap_err();
            assert!(matches!(&e, LogoutTokenError::Malformed(m) if m.contains("duplicate field")), "{e:?}");
        }
        assert_eq!(check(&without("sid")), Err(LogoutTokenError::NoSubject));
        assert!(matches!(check(&without("iat")), Err(LogoutTokenError::Malformed(_))));
        assert!(matches!(
            validate_logout_claims(b"[]", "https://idp.example", "edge", NOW, 60),
            Err(LogoutTokenError::Malformed(_))
        ));
    }
}
