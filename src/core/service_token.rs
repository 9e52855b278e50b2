//! Service tokens: machine clients (CI jobs, cron, other services) authenticate with a client id and secret
//! pair in two request headers, as Cloudflare Access's service tokens do. `AUTH_CONFIG` holds each token's id,
//! the SHA-256 of its secret (never the secret) and an optional expiry ([`crate::core::config::service_tokens`]).
//!
//! A token is checked only where a path needs an identity, and only when the request carries one of the two
//! headers: a request that does is judged by the token alone (its cookie is not looked at), and a token reaches
//! only the paths whose access policies name it ([`crate::core::policy::allows_token`]). The secret is hashed
//! and compared in constant time. Tokens are never a session: `/auth/*` routes never read these headers, and
//! no cookie is ever set for one.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::core::http::Response;
use crate::core::policy::{self, Requirement};

/// The client id header (our own name: Cloudflare Access's `CF-Access-Client-Id` would be taken by Access
/// itself when the site is also behind Access, and `Cf-Access-*` is an identity family stripped for origins).
pub const ID_HEADER: &str = "edge-auth-client-id";
/// The client secret header.
pub const SECRET_HEADER: &str = "edge-auth-client-secret";
/// The user id of a token, as origins see it: `service-token:<id>`. No connector may have this id while
/// service tokens are configured, so it never names a user (`connector_id:sub`).
pub const SUBJECT_PREFIX: &str = "service-token";
/// Token ids: `a-z 0-9 - _`, at most this long.
pub const MAX_ID_LEN: usize = 64;
/// Secrets are 32 to 256 characters of `A-Z a-z 0-9 - _ . ~ + / =` (`scripts/service-token.mjs` makes 43:
/// 32 random bytes in base64url).
pub const MIN_SECRET_LEN: usize = 32;
pub const MAX_SECRET_LEN: usize = 256;

/// A configured token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceToken {
    pub id: String,
    /// SHA-256 of the secret.
    pub secret_sha256: [u8; 32],
    /// Unix seconds after which the token is refused.
    pub expires: Option<u64>,
}

impl ServiceToken {
    /// `service-token:<id>`: the `sub` of its assertion and its `X-Auth-Request-User`.
    pub fn user_id(&self) -> String {
        format!("{SUBJECT_PREFIX}:{}", self.id)
    }
}

/// A token id as written: `a-z 0-9 - _`, 1 to [`MAX_ID_LEN`] characters.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The two headers as received (`None` when absent). Repeated headers arrive joined by `, `, which neither an
/// id nor a secret may contain: they are refused as malformed.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenHeaders<'a> {
    pub id: Option<&'a str>,
    pub secret: Option<&'a str>,
}

impl TokenHeaders<'_> {
    pub fn present(&self) -> bool {
        self.id.is_some() || self.secret.is_some()
    }
}

/// Why a token was refused (the log line; the client only learns `service_token_invalid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    IdWithoutSecret,
    SecretWithoutId,
    /// Not `a-z 0-9 - _` (also two id headers, joined by the runtime).
    MalformedId,
    /// Too short, too long, or characters outside the secret alphabet (also two secret headers).
    MalformedSecret,
    UnknownId(String),
    WrongSecret(String),
    Expired(String),
}

impl TokenRefusal {
    /// What the operator's log says: the id when it is a well-formed one, never the secret.
    pub fn log_detail(&self) -> String {
        match self {
            TokenRefusal::IdWithoutSecret => format!("{ID_HEADER} without {SECRET_HEADER}"),
            TokenRefusal::SecretWithoutId => format!("{SECRET_HEADER} without {ID_HEADER}"),
            TokenRefusal::MalformedId => format!("{ID_HEADER} is not one well-formed id (a-z 0-9 - _)"),
            TokenRefusal::MalformedSecret => format!(
                "{SECRET_HEADER} is not one secret of {MIN_SECRET_LEN}-{MAX_SECRET_LEN} characters A-Z a-z 0-9 - _ . ~ + / ="
            ),
            TokenRefusal::UnknownId(id) => format!("no service token has the id {id:?}"),
            TokenRefusal::WrongSecret(id) => format!("service token {id:?}: wrong secret"),
            TokenRefusal::Expired(id) => format!("service token {id:?} has expired"),
        }
    }
}

fn is_secret_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

/// The configured token these headers present, or why not. The secret's SHA-256 is compared in constant time
/// (and computed for unknown ids too, so an unknown id costs what a wrong secret costs).
pub fn authenticate<'a>(
    tokens: &'a [ServiceToken],
    headers: TokenHeaders<'_>,
    now: u64,
) -> Result<&'a ServiceToken, TokenRefusal> {
    let (id, secret) = match (headers.id, headers.secret) {
        (Some(id), Some(secret)) => (id, secret),
        (Some(_), None) => return Err(TokenRefusal::IdWithoutSecret),
        (None, _) => return Err(TokenRefusal::SecretWithoutId),
    };
    if !is_valid_id(id) {
        return Err(TokenRefusal::MalformedId);
    }
    if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len()) || !secret.bytes().all(is_secret_char) {
        return Err(TokenRefusal::MalformedSecret);
    }
    let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    let Some(token) = tokens.iter().find(|t| t.id == id) else {
        return Err(TokenRefusal::UnknownId(id.to_string()));
    };
    if !bool::from(digest.ct_eq(&token.secret_sha256)) {
        return Err(TokenRefusal::WrongSecret(token.id.clone()));
    }
    if token.expires.is_some_and(|expires| now >= expires) {
        return Err(TokenRefusal::Expired(token.id.clone()));
    }
    Ok(token)
}

/// What to do with a request that presents a token, for a path that is not public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenGate<'a> {
    /// A valid token that every rule of the path names.
    Allowed(&'a ServiceToken),
    /// No valid token: `401` ([`refused`]).
    Refused(TokenRefusal),
    /// A valid token the path's policy does not name (also a path without a rule): `403` ([`forbidden`]).
    Forbidden(&'a ServiceToken),
}

/// Decide a token request for a path that needs an identity (`requirement` is not public): a token reaches only
/// the paths whose every matching rule names it, never a path that has no rule under some reading ("any
/// signed-in user" is a user, not a machine).
pub fn gate<'a>(
    tokens: &'a [ServiceToken],
    requirement: &Requirement<'_>,
    headers: TokenHeaders<'_>,
    now: u64,
) -> TokenGate<'a> {
    let token = match authenticate(tokens, headers, now) {
        Ok(token) => token,
        Err(why) => return TokenGate::Refused(why),
    };
    let admitted = match requirement {
        Requirement::Public => true,
        Requirement::Session => false,
        // Every reading of the path must fall under a rule that names the token: a reading no rule covers
        // (`/api/..;/docs` under a rule for `/api/*` only) is a path the operator never opened to machines.
        Requirement::Rules(rules) => !rules.unruled && rules.iter().all(|rule| policy::allows_token(rule, &token.id)),
    };
    if admitted {
        TokenGate::Allowed(token)
    } else {
        TokenGate::Forbidden(token)
    }
}

/// `401`: no valid service token (whatever the reason, which only the log says).
pub fn refused() -> Response {
    Response::json(401, r#"{"error":"service_token_invalid"}"#.to_string())
        .with_header("x-edge-auth-error", "service_token_invalid")
}

/// `403`: a valid token that this path's policy does not name.
pub fn forbidden() -> Response {
    Response::json(403, r#"{"error":"forbidden"}"#.to_string()).with_header("x-edge-auth-error", "forbidden")
}

/// The hash in `AUTH_CONFIG`: 64 hex digits (any case) or 43 base64url characters (no padding).
pub fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let bytes = if text.len() == 64 {
        let hex = |b: u8| (b as char).to_digit(16);
        text.as_bytes()
            .chunks(2)
            .map(|pair| match pair {
                [hi, lo] => Some(((hex(*hi)? << 4) | hex(*lo)?) as u8),
                _ => None,
            })
            .collect::<Option<Vec<u8>>>()?
    } else {
        crate::core::b64::decode(text)?
    };
    bytes.try_into().ok()
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339 in UTC, whole seconds) as Unix seconds.
pub fn parse_utc(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') || b.get(19) != Some(&b'Z') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u64> {
        let s = text.get(from..to)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if year < 1970 || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil, for years >= 1970).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hJ3vQ0tq0cR3u3n8Yb1vZk8mV2oX7pL4sW9eA6dF0gI";

    fn token(id: &str, secret: &str, expires: Option<u64>) -> ServiceToken {
        ServiceToken { id: id.into(), secret_sha256: Sha256::digest(secret.as_bytes()).into(), expires }
    }

    fn headers<'a>(id: Option<&'a str>, secret: Option<&'a str>) -> TokenHeaders<'a> {
        TokenHeaders { id, secret }
    }

    #[test]
    fn a_valid_pair_authenticates_and_everything_else_is_refused() {
        let tokens = [token("ci-deploy", SECRET, Some(2_000)), token("other", "o".repeat(40).as_str(), None)];
        assert_eq!(authenticate(&tokens, headers(Some("ci-deploy"), Some(SECRET)), 1_000).unwrap().id, "ci-deploy");
        let refused = |id, secret, now| authenticate(&tokens, headers(id, secret), now).unwrap_err();
        assert_eq!(refused(Some("ci-deploy"), None, 1_000), TokenRefusal::IdWithoutSecret);
        assert_eq!(refused(None, Some(SECRET), 1_000), TokenRefusal::SecretWithoutId);
        assert_eq!(refused(Some("nobody"), Some(SECRET), 1_000), TokenRefusal::UnknownId("nobody".into()));
        let wrong = SECRET.replace('h', "H");
        assert_eq!(refused(Some("ci-deploy"), Some(&wrong), 1_000), TokenRefusal::WrongSecret("ci-deploy".into()));
        assert_eq!(refused(Some("other"), Some(SECRET), 1_000), TokenRefusal::WrongSecret("other".into()));
        assert_eq!(refused(Some("ci-deploy"), Some(SECRET), 2_000), TokenRefusal::Expired("ci-deploy".into()));
        // Repeated headers arrive joined with ", ".
        let twice = format!("{SECRET}, {SECRET}");
        assert_eq!(refused(Some("ci-deploy"), Some(&twice), 1_000), TokenRefusal::MalformedSecret);
        assert_eq!(refused(Some("ci-deploy, ci-deploy"), Some(SECRET), 1_000), TokenRefusal::MalformedId);
        let long_id = "a".repeat(65);
        for bad_id in ["", "CI-deploy", "ci deploy", "ci\u{0}", "é", &long_id] {
            assert_eq!(refused(Some(bad_id), Some(SECRET), 1_000), TokenRefusal::MalformedId, "{bad_id:?}");
        }
        let (long, spaced, del, umlauts) =
            ("a".repeat(257), format!("{SECRET} "), format!("{SECRET}\u{7f}"), "ü".repeat(20));
        for bad in ["", "short", &long, &spaced, &del, &umlauts] {
            assert_eq!(refused(Some("ci-deploy"), Some(bad), 1_000), TokenRefusal::MalformedSecret, "{bad:?}");
        }
        // The log names the id, never the secret.
        for why in [refused(Some("ci-deploy"), Some(&wrong), 1_000), refused(Some("ci-deploy"), Some(SECRET), 3_000)] {
            assert!(why.log_detail().contains("ci-deploy") && !why.log_detail().contains(&SECRET[..10]));
        }
    }

    #[test]
    fn hashes_and_dates_as_written_in_the_config() {
        let digest: [u8; 32] = Sha256::digest(b"x").into();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_sha256(&hex), Some(digest));
        assert_eq!(parse_sha256(&hex.to_ascii_uppercase()), Some(digest));
        assert_eq!(parse_sha256(&crate::core::b64::encode(digest)), Some(digest));
        for bad in ["", &hex[..62], &format!("{hex}00"), &hex.replace('a', "g"), &crate::core::b64::encode([0u8; 31])] {
            assert_eq!(parse_sha256(bad), None, "{bad}");
        }
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2027-06-30T00:00:00Z"), Some(1_814_313_600));
        assert_eq!(parse_utc("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        for bad in [
            "2027-06-30",
            "2027-06-30T00:00:00",
            "2027-06-30T00:00:00+00:00",
            "2027-06-30T00:00:00.5Z",
            "2023-02-29T00:00:00Z",
            "2027-13-01T00:00:00Z",
            "2027-06-31T00:00:00Z",
            "2027-06-30T24:00:00Z",
            "1969-12-31T23:59:59Z",
            "+027-06-30T00:00:00Z",
            "２０２７-06-30T00:00:00Z",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }
}
