//! Origin mode: the identity handed to the origin.
//!
//! Authenticated requests are proxied to the configured origin with `X-Auth-Request-Email`,
//! `X-Auth-Request-User` and `X-Edge-Auth-Assertion`: a short-lived ES256 JWT signed (by WebCrypto) with the
//! key in the Worker secret `ASSERTION_SIGNING_KEY` (an EC P-256 private JWK). The origin verifies it
//! against `GET /auth/jwks.json`. Identity headers sent by the client are always removed first.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::core::b64;
use crate::core::config::ConfigError;
use crate::core::session::record::Session;

pub const ASSERTION_KEY_BINDING: &str = "ASSERTION_SIGNING_KEY";
pub const ASSERTION_HEADER: &str = "x-edge-auth-assertion";
pub const EMAIL_HEADER: &str = "x-auth-request-email";
pub const USER_HEADER: &str = "x-auth-request-user";

/// Headers a client must never be able to set on the way to the origin (case-insensitive prefixes).
pub fn is_identity_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("x-auth-request-")
        || n.starts_with("x-edge-auth-")
        || n == "x-forwarded-user"
        || n == "x-forwarded-email"
}

#[derive(Deserialize)]
struct RawPrivateJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
    d: String,
}

/// The assertion signing key: the private JWK (for WebCrypto import), its public half and its `kid`.
#[derive(Clone)]
pub struct AssertionKey {
    pub private_jwk_json: String,
    pub public_jwk_json: String,
    pub kid: String,
}

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AssertionKey(kid {}, private part redacted)", self.kid)
    }
}

impl AssertionKey {
    pub fn from_secret(text: &str) -> Result<AssertionKey, ConfigError> {
        let bad = |why: &str| ConfigError::top(ASSERTION_KEY_BINDING, why.to_string());
        let raw: RawPrivateJwk = crate::core::json::from_object_slice(text.trim().as_bytes())
            .map_err(|_| bad("must be an EC P-256 private key as a JWK (JSON with kty, crv, x, y, d); see scripts/generate-assertion-key.mjs"))?;
        if raw.kty != "EC" || raw.crv != "P-256" {
            return Err(bad("must be an EC P-256 key (kty \"EC\", crv \"P-256\")"));
        }
        for (name, value) in [("x", &raw.x), ("y", &raw.y), ("d", &raw.d)] {
            if b64::decode(value).map(|v| v.len()) != Some(32) {
                return Err(bad(&format!("member {name} is not 32 bytes of base64url")));
            }
        }
        // RFC 7638 thumbprint: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, raw.x, raw.y);
        let kid = b64::encode(Sha256::digest(canonical.as_bytes()));
        let public_jwk_json = serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": raw.x, "y": raw.y, "kid": kid, "alg": "ES256", "use": "sig"
        })
        .to_string();
        let private_jwk_json =
            serde_json::json!({ "kty": "EC", "crv": "P-256", "x": raw.x, "y": raw.y, "d": raw.d }).to_string();
        Ok(AssertionKey { private_jwk_json, public_jwk_json, kid })
    }
}

/// `GET /auth/jwks.json`.
pub fn jwks_document(key: Option<&AssertionKey>) -> String {
    match key {
        Some(k) => format!(r#"{{"keys":[{}]}}"#, k.public_jwk_json),
        None => r#"{"keys":[]}"#.to_string(),
    }
}

/// The JWS signing input (`header.payload`) of an assertion for `session`, for `audience` (the origin),
/// issued by `issuer` (the site's origin), valid `ttl` seconds.
pub fn signing_input(
    key: &AssertionKey,
    session: &Session,
    issuer: &str,
    audience: &str,
    now: u64,
    ttl: u64,
) -> String {
    let header = serde_json::json!({ "alg": "ES256", "typ": "JWT", "kid": key.kid });
    let claims = serde_json::json!({
        "iss": issuer,
        "aud": audience,
        "sub": session.sub,
        "email": session.email,
        "name": session.name,
        "connector": session.connector,
        "idp": session.iss,
        "groups": session.groups,
        "iat": now,
        "nbf": now.saturating_sub(5),
        "exp": now.saturating_add(ttl),
    });
    format!("{}.{}", b64::encode(header.to_string()), b64::encode(claims.to_string()))
}

/// The identity headers for the origin (values are ASCII-safe: non-ASCII emails are percent-encoded).
pub fn identity_headers(session: &Session) -> [(&'static str, String); 2] {
    let safe = |v: &str| -> String {
        if v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            v.to_string()
        } else {
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
        }
    };
    [(EMAIL_HEADER, safe(&session.email)), (USER_HEADER, safe(&session.sub))]
}

/// The `Cookie` header to forward to the origin: ours removed.
pub fn cookie_header_for_origin(cookie_header: &str) -> String {
    cookie_header
        .split(';')
        .map(str::trim)
        .filter(|c| {
            let name = c.split('=').next().unwrap_or_default().trim();
            !name.is_empty() && !name.starts_with("__Host-edge-auth-") && !name.starts_with("edge-auth-")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // A P-256 key generated (node:crypto) for these tests only.
    const KEY: &str = r#"{"kty":"EC","crv":"P-256","x":"43Dd6lTcSvFzIeWFqLchwX3kXX3FO9ur4j-v-nk-qZI","y":"AOP9xnBcIDhDxKpnYIqeBTLcsVWpswCzP69bEkQYwpk","d":"fw8pLl29Bey6S5sNfeoDZ8hwy7qSxBZVzu-O7HFd0Ag"}"#;

    fn session() -> Session {
        Session {
            sub: "u1".into(),
            email: "jürgen@acme.example".into(),
            name: Some("Jürgen".into()),
            connector: "acme".into(),
            iss: "https://idp.example".into(),
            iat: 1,
            exp: 2,
            sid: None,
            renewed_at: 1,
            groups: vec![],
        }
    }

    #[test]
    fn parses_the_key_and_computes_an_rfc7638_kid() {
        let k = AssertionKey::from_secret(KEY).unwrap();
        // RFC 7638 §3.1 example values differ (RSA); this checks determinism and the public half.
        assert_eq!(k.kid, AssertionKey::from_secret(&format!("  {KEY}\n")).unwrap().kid);
        assert!(!k.public_jwk_json.contains("\"d\""));
        assert!(k.private_jwk_json.contains("\"d\""));
        assert!(!format!("{k:?}").contains("fw8pLl"));
        let doc: serde_json::Value = serde_json::from_str(&jwks_document(Some(&k))).unwrap();
        assert_eq!(doc["keys"][0]["kid"], k.kid);
        assert_eq!(jwks_document(None), r#"{"keys":[]}"#);
    }

    #[test]
    fn refuses_bad_keys_without_echoing_them() {
        for bad in [
            "",
            "not json",
            r#"{"kty":"RSA","crv":"P-256","x":"a","y":"b","d":"c"}"#,
            &KEY.replace("P-256", "P-384"),
            &KEY.replace(r#","d":"fw8pLl29Bey6S5sNfeoDZ8hwy7qSxBZVzu-O7HFd0Ag""#, ""),
        ] {
            let e = AssertionKey::from_secret(bad).unwrap_err();
            assert_eq!(e.field, ASSERTION_KEY_BINDING);
            assert!(!e.to_string().contains("fw8pLl"));
        }
    }

    #[test]
    fn assertion_claims() {
        let k = AssertionKey::from_secret(KEY).unwrap();
        let input = signing_input(&k, &session(), "https://site.example", "https://origin.example", 1000, 60);
        let (h, p) = input.split_once('.').unwrap();
        let header: serde_json::Value = serde_json::from_slice(&b64::decode(h).unwrap()).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&b64::decode(p).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], k.kid);
        assert_eq!(claims["aud"], "https://origin.example");
        assert_eq!(claims["email"], "jürgen@acme.example");
        assert_eq!(claims["exp"], 1060);
    }

    #[test]
    fn identity_headers_cannot_be_spoofed_and_are_ascii() {
        for h in ["X-Auth-Request-Email", "x-auth-request-user", "X-Edge-Auth-Assertion", "X-Forwarded-User"] {
            assert!(is_identity_header(h), "{h}");
        }
        assert!(!is_identity_header("x-request-id"));
        let [(_, email), (_, user)] = identity_headers(&session());
        assert!(email.is_ascii() && email.contains("%C3%BC"));
        assert_eq!(user, "u1");
    }

    #[test]
    fn our_cookies_do_not_reach_the_origin() {
        assert_eq!(cookie_header_for_origin("a=1; __Host-edge-auth-session=v1.x.y; edge-auth-tx=z; b=2"), "a=1; b=2");
        assert_eq!(cookie_header_for_origin(""), "");
    }
}
