//! Compact JWS parsing into an *untrusted* token.
//!
//! The compact structure (three segments, the typed header) is jwt-compact's [`UntrustedToken`]; its header's
//! `other_fields` ([`RefusedMembers`]) carry the members we refuse. jwt-compact is laxer than we are in places,
//! so our checks run around it: the size limit, exactly three non-empty segments of canonical base64url (one
//! byte string, one encoding), a header that is a JSON object with no repeated JOSE member (jwt-compact's
//! flattened header keeps the first of two `kid`s), the exact `typ` rules and the algorithm allow-list.
//!
//! An [`UntrustedJws`] can be inspected (header, to pick a key) but its claims are only reachable through
//! [`crate::core::oidc::id_token::verify`], after the signature has been checked (by WebCrypto: jwt-compact's
//! `Algorithm` trait is synchronous). Header members that carry keys or key locations (`jwk`, `jku`, `x5u`,
//! `x5c`) are never read; `crit` is refused because we implement no extension; `none` and HMAC algorithms
//! cannot be represented by [`Alg`].

use jwt_compact::UntrustedToken;
use serde::de::IgnoredAny;
use serde::Deserialize;
use thiserror::Error;

use crate::core::b64;
use crate::core::oidc::jwks::Alg;

/// ID tokens larger than this are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JwsError {
    #[error("the token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("the token is not a compact JWS of three base64url segments")]
    Malformed,
    #[error("the token header is not valid JSON: {0}")]
    BadHeader(String),
    #[error("the token's alg {0:?} is not accepted for ID tokens")]
    AlgorithmNotAllowed(String),
    #[error("the token marks header parameters {0:?} as critical; none are supported")]
    Critical(Vec<String>),
    #[error("the token is a JWE or has an unexpected typ {0:?}")]
    UnexpectedType(String),
}

/// The header members we refuse, as the `other_fields` of jwt-compact's typed header: `crit` (we implement no
/// extension), `enc` (a JWE is not a signed token), `b64` (RFC 7797 unencoded payloads).
/// (Their presence only: the names `crit` lists are read by our own strict pass, [`OnceEach`].)
#[derive(Debug, Default, Deserialize)]
pub struct RefusedMembers {
    #[serde(default)]
    crit: Option<IgnoredAny>,
    #[serde(default)]
    enc: Option<IgnoredAny>,
    #[serde(default)]
    b64: Option<IgnoredAny>,
}

/// The JOSE members the header may name at most once (serde's derived visitor refuses a repeated field; a
/// flattened header, as jwt-compact's, does not). Checked before jwt-compact reads the header.
#[derive(Deserialize)]
#[allow(dead_code)]
struct OnceEach {
    alg: IgnoredAny,
    kid: Option<IgnoredAny>,
    typ: Option<IgnoredAny>,
    crit: Option<serde_json::Value>,
    enc: Option<IgnoredAny>,
    b64: Option<IgnoredAny>,
}

/// A parsed but unverified compact JWS.
#[derive(Debug)]
pub struct UntrustedJws {
    alg: Alg,
    kid: Option<String>,
    signing_input: String,
    signature: Vec<u8>,
    payload: Vec<u8>,
}

/// Which `typ` header values a token may carry (absent is always accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// ID tokens: `JWT` (or `application/jwt`).
    IdToken,
    /// Back-channel logout tokens: `logout+jwt` (recommended) or `JWT`.
    LogoutToken,
}

impl UntrustedJws {
    /// Parse an ID token (see [`UntrustedJws::parse_typed`]).
    pub fn parse(token: &str) -> Result<UntrustedJws, JwsError> {
        Self::parse_typed(token, TokenType::IdToken)
    }

    pub fn parse_typed(token: &str, expected: TokenType) -> Result<UntrustedJws, JwsError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwsError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JwsError::Malformed);
        };
        if h.is_empty() || p.is_empty() || s.is_empty() {
            return Err(JwsError::Malformed);
        }
        let header_bytes = b64::decode(h).ok_or(JwsError::Malformed)?;
        let payload = b64::decode(p).ok_or(JwsError::Malformed)?;
        let signature = b64::decode(s).ok_or(JwsError::Malformed)?;
        let once: OnceEach = crate::core::json::from_object_slice(&header_bytes).map_err(JwsError::BadHeader)?;
        let parsed: UntrustedToken<'_, RefusedMembers> =
            UntrustedToken::try_from(token).map_err(|e| JwsError::BadHeader(e.to_string()))?;
        let header = parsed.header();
        let refused = &header.other_fields;
        if refused.enc.is_some() {
            return Err(JwsError::UnexpectedType("JWE".into()));
        }
        if refused.crit.is_some() {
            let names = match once.crit.unwrap_or_default() {
                serde_json::Value::Array(a) => a.iter().map(|v| v.to_string()).collect(),
                other => vec![other.to_string()],
            };
            return Err(JwsError::Critical(names));
        }
        if refused.b64.is_some() {
            // RFC 7797 unencoded payloads must be marked critical; without crit it is still not ours to honour.
            return Err(JwsError::Critical(vec!["b64".into()]));
        }
        if let Some(typ) = &header.token_type {
            let t = typ.to_ascii_lowercase();
            let t = t.strip_prefix("application/").unwrap_or(&t);
            let accepted = match expected {
                TokenType::IdToken => t == "jwt",
                TokenType::LogoutToken => t == "jwt" || t == "logout+jwt",
            };
            if !accepted {
                return Err(JwsError::UnexpectedType(typ.clone()));
            }
        }
        let alg = parsed.algorithm();
        let alg = Alg::from_jose(alg).ok_or_else(|| JwsError::AlgorithmNotAllowed(alg.to_string()))?;
        if parsed.signature_bytes() != signature.as_slice() {
            return Err(JwsError::Malformed);
        }
        // jwt-compact keeps the signed data private: the signing input is the token up to the last '.'.
        let signing_input_len = h.len() + 1 + p.len();
        let signing_input = token.get(..signing_input_len).ok_or(JwsError::Malformed)?.to_string();
        Ok(UntrustedJws { alg, kid: header.key_id.clone(), signing_input, signature, payload })
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The payload, for the verification step only.
    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// A string claim read *before* verification. Only for choosing what to expect (Entra's `tid` picks the
    /// issuer the token must then match exactly); never for a decision on its own.
    pub fn unverified_string_claim(&self, name: &str) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.payload).ok()?;
        value.get(name)?.as_str().map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(json: &str) -> String {
        b64::encode(json)
    }

    fn token(header: &str) -> String {
        format!("{}.{}.{}", seg(header), seg(r#"{"sub":"x"}"#), b64::encode([7u8; 64]))
    }

    #[test]
    fn parses_a_token() {
        let t = UntrustedJws::parse(&token(r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#)).unwrap();
        assert_eq!(t.alg(), Alg::ES256);
        assert_eq!(t.kid(), Some("k1"));
        assert_eq!(t.signature().len(), 64);
        assert_eq!(t.payload(), br#"{"sub":"x"}"#);
        assert!(t.signing_input().ends_with(seg(r#"{"sub":"x"}"#).as_bytes()));
    }

    #[test]
    fn refuses_none_and_hmac_in_every_spelling() {
        for alg in ["none", "None", "NONE", "nOnE", "HS256", "HS512", "", "RS256\u{0}"] {
            let h = serde_json::json!({ "alg": alg }).to_string();
            assert!(matches!(UntrustedJws::parse(&token(&h)), Err(JwsError::AlgorithmNotAllowed(_))), "{alg:?}");
        }
        let unsigned = format!("{}.{}.", seg(r#"{"alg":"none"}"#), seg("{}"));
        assert_eq!(UntrustedJws::parse(&unsigned).unwrap_err(), JwsError::Malformed);
    }

    #[test]
    fn refuses_crit_jwe_b64_and_foreign_typ() {
        assert!(matches!(
            UntrustedJws::parse(&token(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#)),
            Err(JwsError::Critical(_))
        ));
        assert!(matches!(UntrustedJws::parse(&token(r#"{"alg":"RS256","crit":[]}"#)), Err(JwsError::Critical(_))));
        assert!(matches!(
            UntrustedJws::parse(&token(r#"{"alg":"RS256","enc":"A256GCM"}"#)),
            Err(JwsError::UnexpectedType(_))
        ));
        assert!(matches!(UntrustedJws::parse(&token(r#"{"alg":"RS256","b64":false}"#)), Err(JwsError::Critical(_))));
        assert!(matches!(
            UntrustedJws::parse(&token(r#"{"alg":"RS256","typ":"logout+jwt"}"#)),
            Err(JwsError::UnexpectedType(_))
        ));
        assert!(UntrustedJws::parse(&token(r#"{"alg":"RS256","typ":"application/jwt"}"#)).is_ok());
        let logout = token(r#"{"alg":"RS256","typ":"logout+jwt"}"#);
        assert!(UntrustedJws::parse_typed(&logout, TokenType::LogoutToken).is_ok());
        assert!(UntrustedJws::parse(&logout).is_err(), "a logout token is not an ID token");
    }

    #[test]
    fn embedded_keys_are_ignored_not_trusted() {
        let t = UntrustedJws::parse(&token(
            r#"{"alg":"RS256","jwk":{"kty":"oct","k":"AAAA"},"jku":"https://evil.example/k","x5u":"https://evil.example/c","x5c":["MIIB"]}"#,
        ))
        .unwrap();
        // The parsed token exposes no key: selection uses the IdP's JWKS only.
        assert_eq!(t.kid(), None);
    }

    #[test]
    fn refuses_malformed_serialisations() {
        let good = token(r#"{"alg":"RS256"}"#);
        let (h, rest) = good.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        for bad in [
            String::new(),
            "a.b".into(),
            format!("{h}.{p}.{s}.x"),
            format!("{h}.{p}.{s}.x.y"),
            format!("{h}..{s}"),
            format!(".{p}.{s}"),
            format!("{h}={p}.{s}"),
            format!("{h}.{p}.{s}="),
            format!("{h}.{p}.+{}", &s[1..]),
            format!("{}.{p}.{s}", seg("[]")),
            format!("{}.{p}.{s}", seg("not json")),
            format!("{}.{p}.{s}", seg(r#"{"alg":"RS256","alg":"none"}"#)),
            format!(" {good}"),
            format!("{}.{p}.{s}", seg(r#"["RS256","k1"]"#)),
        ] {
            assert!(UntrustedJws::parse(&bad).is_err(), "{bad:?}");
        }
        let huge = format!("{h}.{}.{s}", "A".repeat(MAX_TOKEN_BYTES));
        assert_eq!(UntrustedJws::parse(&huge).unwrap_err(), JwsError::TooLarge);
    }
}
