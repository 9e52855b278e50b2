//! The session: what a signed-in visitor carries. Only what the session needs, never the IdP's tokens.

use serde::{Deserialize, Serialize};

use crate::core::session::codec::{KeyRing, Purpose};
use crate::core::session::cookies::cookie_values;

/// Bounds that keep the cookie well under 4 KB whatever the IdP sends.
pub const MAX_SUB_LEN: usize = 255;
pub const MAX_NAME_CHARS: usize = 128;
pub const MAX_EMAIL_LEN: usize = 320;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub sub: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Connector id.
    #[serde(rename = "cid")]
    pub connector: String,
    pub iss: String,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Absolute expiry (unix seconds).
    pub exp: u64,
    /// The IdP session id (`sid` claim), for front/back-channel logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl Session {
    pub fn seal(&self, keys: &KeyRing, cookie_name: &str) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        keys.seal(Purpose::Session, cookie_name, &json)
    }

    /// A valid, unexpired session from a `Cookie` header, or `None`.
    pub fn from_cookie_header(header: &str, cookie_name: &str, keys: &KeyRing, now: u64) -> Option<Session> {
        cookie_values(header, cookie_name).find_map(|value| {
            let bytes = keys.open(Purpose::Session, cookie_name, value)?;
            let s: Session = crate::core::json::from_object_slice(&bytes).ok()?;
            (s.exp > now && s.iat <= now.saturating_add(300)).then_some(s)
        })
    }

    /// The `/auth/me` document.
    pub fn to_me_json(&self) -> String {
        serde_json::json!({
            "sub": self.sub,
            "email": self.email,
            "name": self.name,
            "connector": self.connector,
            "iss": self.iss,
            "exp": self.exp,
        })
        .to_string()
    }
}

/// Truncate to at most `max` characters (not bytes), on a character boundary.
pub fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeyRing {
        KeyRing::from_secret("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY").unwrap()
    }

    fn session(exp: u64) -> Session {
        Session {
            sub: "u1".into(),
            email: "alice@acme.example".into(),
            name: Some("Alice".into()),
            connector: "acme".into(),
            iss: "https://idp.acme.example".into(),
            iat: 1000,
            exp,
            sid: None,
        }
    }

    #[test]
    fn round_trip_through_a_cookie_header() {
        let k = keys();
        let v = session(2000).seal(&k, "edge-auth-session");
        let header = format!("other=1; edge-auth-session={v}");
        assert_eq!(Session::from_cookie_header(&header, "edge-auth-session", &k, 1500), Some(session(2000)));
    }

    #[test]
    fn expired_sessions_are_absent() {
        let k = keys();
        let v = session(2000).seal(&k, "n");
        assert!(Session::from_cookie_header(&format!("n={v}"), "n", &k, 2000).is_none());
        assert!(Session::from_cookie_header(&format!("n={v}"), "n", &k, 1999).is_some());
    }

    #[test]
    fn a_valid_cookie_among_forged_ones_is_found() {
        let k = keys();
        let v = session(2000).seal(&k, "n");
        let header = format!("n=v1.forged.sig; n={v}");
        assert!(Session::from_cookie_header(&header, "n", &k, 1500).is_some());
    }

    #[test]
    fn me_json_has_the_contract_fields() {
        let j: serde_json::Value = serde_json::from_str(&session(2000).to_me_json()).unwrap();
        for f in ["sub", "email", "name", "connector", "iss", "exp"] {
            assert!(j.get(f).is_some(), "{f}");
        }
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
    }
}
