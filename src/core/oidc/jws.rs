//! Compact JWS parsing into an *untrusted* token.
//!
//! Our own strict reader, not jwt-compact's `UntrustedToken`: its flattened typed header costs 8 KB of the
//! gzipped worker (serde's buffered `flatten` path, a second base64 decoder) for members we do not use, and every
//! check around it had to be ours anyway (three canonical segments, no repeated member, `typ`, the algorithm
//! allow-list). The header checks it added are kept here: `cty` must be JSON, `jku`/`x5u` strings, `x5t` and
//! `x5t#S256` base64url thumbprints ([`thumbprint_is_well_formed`]).
//!
//! An [`UntrustedJws`] can be inspected (header, to pick a key) but its claims are only reachable through
//! [`crate::core::oidc::id_token::verify`], after the signature has been checked. Header members that carry
//! keys or key locations (`jwk`, `jku`, `x5u`, `x5c`) are never read; `crit` is refused because we implement
//! no extension; `none` and HMAC algorithms cannot be represented by [`Alg`].

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

/// An `x5t` (SHA-1, `len` 20) or `x5t#S256` (SHA-256, `len` 32) value as jwt-compact reads it: base64url (up to two
/// trailing `=` tolerated) of exactly `len` bytes, or of more bytes that are UTF-8 text (issuers that put a hex
/// digest there).
fn thumbprint_is_well_formed(value: &str, len: usize) -> bool {
    let v = value.strip_suffix('=').unwrap_or(value);
    let v = v.strip_suffix('=').unwrap_or(v);
    b64::decode(v).is_some_and(|b| b.len() == len || (b.len() > len && std::str::from_utf8(&b).is_ok()))
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
        // Duplicate members are refused by the reader, at any depth (core::json).
        let header = crate::core::json::parse_object(&header_bytes).map_err(JwsError::BadHeader)?;
        let header = crate::core::json::Members(&header);
        let alg_name = header.string("alg").map_err(JwsError::BadHeader)?;
        let kid = header.opt_string("kid").map_err(JwsError::BadHeader)?;
        let typ = header.opt_string("typ").map_err(JwsError::BadHeader)?;
        let string = |name: &str| header.opt_string(name).map_err(JwsError::BadHeader);
        // `jku` and `x5u` are never used, but refused when malformed (as jwt-compact's typed header did).
        let (cty, _, _) = (string("cty")?, string("jku")?, string("x5u")?);
        let (x5t, x5t_s256) = (string("x5t")?, string("x5t#S256")?);
        if cty.is_some_and(|c| !c.eq_ignore_ascii_case("json")) {
            return Err(JwsError::BadHeader("unsupported content type (cty)".into()));
        }
        if [(x5t, 20), (x5t_s256, 32)].iter().any(|(t, len)| t.is_some_and(|t| !thumbprint_is_well_formed(t, *len))) {
            return Err(JwsError::BadHeader("malformed certificate thumbprint (x5t)".into()));
        }
        // Present at all, `null` included: these members have no `null` form, and we implement none of them.
        if header.has("enc") {
            return Err(JwsError::UnexpectedType("JWE".into()));
        }
        if let Some(crit) = header.0.get("crit") {
            let names = match crit {
                serde_json::Value::Array(a) => a.iter().map(|v| v.to_string()).collect(),
                other => vec![other.to_string()],
            };
            return Err(JwsError::Critical(names));
        }
        if header.has("b64") {
            // RFC 7797 unencoded payloads must be marked critical; without crit it is still not ours to honour.
            return Err(JwsError::Critical(vec!["b64".into()]));
        }
        if let Some(typ) = typ {
            let t = typ.to_ascii_lowercase();
            let t = t.strip_prefix("application/").unwrap_or(&t);
            let accepted = match expected {
                TokenType::IdToken => t == "jwt",
                TokenType::LogoutToken => t == "jwt" || t == "logout+jwt",
            };
            if !accepted {
                return Err(JwsError::UnexpectedType(typ.to_string()));
            }
        }
        let alg = Alg::from_jose(alg_name).ok_or_else(|| JwsError::AlgorithmNotAllowed(alg_name.to_string()))?;
        let signing_input_len = h.len() + 1 + p.len();
        let signing_input = token.get(..signing_input_len).ok_or(JwsError::Malformed)?.to_string();
        Ok(UntrustedJws { alg, kid: kid.map(str::to_string), signing_input, signature, payload })
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
        let claims = crate::core::json::parse_object(&self.payload).ok()?;
        claims.get(name)?.as_str().map(str::to_string)
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
        // RS1 (RSA-SHA1): a SAML connector's `allow_sha1` never reaches a JWS.
        for alg in ["none", "None", "NONE", "nOnE", "HS256", "HS512", "", "RS256\u{0}", "RS1"] {
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
        // Present as `null` is present: none of them has a `null` form.
        for (header, critical) in [(r#"{"alg":"RS256","crit":null}"#, true), (r#"{"alg":"RS256","b64":null}"#, true)] {
            assert_eq!(matches!(UntrustedJws::parse(&token(header)), Err(JwsError::Critical(_))), critical, "{header}");
        }
        assert!(matches!(
            UntrustedJws::parse(&token(r#"{"alg":"RS256","enc":null}"#)),
            Err(JwsError::UnexpectedType(_))
        ));
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
    fn malformed_members_we_never_read_are_still_refused() {
        // The header checks jwt-compact's typed header made, kept by our reader: `cty` JSON only, `jku`/`x5u` strings,
        // `x5t`/`x5t#S256` base64url thumbprints of 20/32 bytes (longer ones must be text). Accepted and refused
        // alike by both readers.
        let with = |member: &str| UntrustedJws::parse(&token(&format!(r#"{{"alg":"RS256",{member}}}"#)));
        let (sha1, sha256, text) =
            (b64::encode([1u8; 20]), b64::encode([2u8; 32]), b64::encode("65:AF:69:09:B1:B0:75:8E:06:C6:E0:48:C4:60"));
        for ok in [
            r#""cty":"JSON""#.to_string(),
            r#""cty":null"#.into(),
            r#""jku":"https://idp.example/k""#.into(),
            format!(r#""x5t":"{sha1}""#),
            format!(r#""x5t":"{sha1}=""#),
            format!(r#""x5t":"{text}""#),
            format!(r#""x5t#S256":"{sha256}""#),
        ] {
            assert!(with(&ok).is_ok(), "{ok}");
        }
        for bad in [
            r#""cty":"JWT""#.to_string(),
            r#""jku":7"#.into(),
            r#""x5u":{}"#.into(),
            r#""x5t":"AAAA""#.into(),
            r#""x5t":"not base64!""#.into(),
            format!(r#""x5t#S256":"{sha1}""#),
            format!(r#""x5t":"{}""#, b64::encode([0xffu8; 30])),
        ] {
            assert!(matches!(with(&bad), Err(JwsError::BadHeader(_))), "{bad}");
        }
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
