//! ID-token validation (OpenID Connect Core §3.1.3.7), numbered by the spec's steps.
//!
//! [`verify`] is the only way to obtain a [`VerifiedIdToken`]: it checks the signature through the platform's
//! [`SignatureVerifier`] (WebCrypto in the worker) with a key chosen by [`crate::core::oidc::jwks::select_key`],
//! then every claim rule.

use thiserror::Error;

use crate::core::b64;
use crate::core::oidc::issuer::IssuerError;
use crate::core::oidc::jwks::{Alg, HashAlg, Jwk};
use crate::core::oidc::jws::{JwsError, UntrustedJws};
use crate::core::ports::SignatureVerifier;
use crate::core::secret::constant_time_eq;

/// Latest representable time we accept in a claim (9999-12-31T23:59:59Z).
pub const MAX_NUMERIC_DATE: u64 = 253_402_300_799;
/// How old an ID token's `iat` may be when it reaches us.
pub const MAX_ID_TOKEN_AGE_SECONDS: u64 = 600;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdTokenError {
    #[error("the signing key does not fit the token's algorithm {0}")]
    KeyAlgorithmMismatch(&'static str),
    #[error("the signature has the wrong length or encoding for {0}")]
    MalformedSignature(&'static str),
    #[error("the signature is invalid")]
    BadSignature,
    #[error("the signature could not be checked: {0}")]
    CryptoFailure(String),
    #[error("the claims are malformed: {0}")]
    MalformedClaims(String),
    #[error("iss {found:?} is not the issuer {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error("aud does not contain the client_id")]
    AudienceMismatch,
    #[error("the token has several audiences but no azp")]
    AzpMissing,
    #[error("azp {0:?} is not the client_id")]
    AzpMismatch(String),
    #[error("the token expired at {exp} (now {now})")]
    Expired { exp: u64, now: u64 },
    #[error("the token is not valid before {nbf} (now {now})")]
    NotYetValid { nbf: u64, now: u64 },
    #[error("the token was issued in the future ({iat}, now {now})")]
    IssuedInFuture { iat: u64, now: u64 },
    #[error("the token was issued too long ago ({iat}, now {now})")]
    TooOld { iat: u64, now: u64 },
    #[error("the token has no nonce")]
    NonceMissing,
    #[error("the nonce does not match this login")]
    NonceMismatch,
    #[error("at_hash does not match the access token")]
    AtHashMismatch,
    #[error("c_hash does not match the authorization code")]
    CHashMismatch,
    #[error("sub is empty or longer than 255 characters")]
    BadSubject,
    // The connector's rules (see `crate::core::oidc::verifier`), with the wording the flow has always logged.
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// Entra: no `tid`, or a tenant the connector does not accept.
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    #[error("max_age requested but no auth_time")]
    AuthTimeMissing,
    #[error("auth_time {auth_time} is older than max_age {max_age}")]
    AuthTimeTooOld { auth_time: u64, max_age: u64 },
    /// Google Workspace: `hd` (the claim as sent, if any) is not one of the connector's hosted domains.
    #[error("the hosted domain (hd) {0:?} is not one of the connector's")]
    HostedDomainMismatch(Option<String>),
}

/// What the token must match.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: u64,
    pub leeway: u64,
    /// The access token returned with the ID token, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// The authorization code, for `c_hash`.
    pub code: Option<&'a str>,
}

/// A JSON numeric date: a non-negative number of seconds (fractions truncated), bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumericDate(pub u64);

impl NumericDate {
    /// The member `name` as a numeric date.
    pub fn read(name: &str, v: &serde_json::Value) -> Result<NumericDate, String> {
        let serde_json::Value::Number(n) = v else {
            return Err(crate::core::json::invalid_type(name, v, "a numeric date"));
        };
        let secs = if let Some(u) = n.as_u64() {
            u
        } else if let Some(f) = n.as_f64() {
            if !(f.is_finite() && f >= 0.0 && f <= MAX_NUMERIC_DATE as f64) {
                return Err("a numeric date must be a non-negative number of seconds".into());
            }
            f as u64
        } else {
            return Err("a numeric date must be a non-negative number of seconds".into());
        };
        if secs > MAX_NUMERIC_DATE {
            return Err("the numeric date is after the year 9999".into());
        }
        Ok(NumericDate(secs))
    }
}

/// `aud`: one string, or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// `aud` as read from the claims.
    pub fn read(v: &serde_json::Value) -> Result<Audience, String> {
        match v {
            serde_json::Value::String(s) => Ok(Audience::One(s.clone())),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| "aud must contain only strings".to_string()))
                .collect::<Result<Vec<_>, _>>()
                .map(Audience::Many),
            _ => Err("aud must be a string or a list of strings".into()),
        }
    }

    fn contains(&self, client_id: &str) -> bool {
        match self {
            Audience::One(a) => a == client_id,
            Audience::Many(v) => v.iter().any(|a| a == client_id),
        }
    }

    fn is_multiple(&self) -> bool {
        matches!(self, Audience::Many(v) if v.len() > 1)
    }
}

/// `email_verified` as IdPs send it: a boolean, or (some IdPs) the strings "true"/"false".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailVerified(pub bool);

impl EmailVerified {
    /// `email_verified` as read from the claims or the UserInfo response.
    pub fn read(v: &serde_json::Value) -> Result<EmailVerified, String> {
        match v {
            serde_json::Value::Bool(b) => Ok(EmailVerified(*b)),
            serde_json::Value::String(s) if s == "true" => Ok(EmailVerified(true)),
            serde_json::Value::String(s) if s == "false" => Ok(EmailVerified(false)),
            _ => Err("email_verified must be a boolean".into()),
        }
    }
}

/// The claims we read. Duplicate members are refused by the reader (core::json); unknown claims are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: NumericDate,
    pub iat: NumericDate,
    pub nbf: Option<NumericDate>,
    pub nonce: Option<String>,
    pub azp: Option<String>,
    pub at_hash: Option<String>,
    pub c_hash: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<EmailVerified>,
    pub name: Option<String>,
    pub sid: Option<String>,
    pub auth_time: Option<NumericDate>,
    /// Entra: the tenant id.
    pub tid: Option<String>,
    /// Entra: the sign-in name (often the UPN).
    pub preferred_username: Option<String>,
    pub upn: Option<String>,
    /// Google Workspace: the hosted domain.
    pub hd: Option<String>,
}

impl IdTokenClaims {
    /// The claims we read, from the payload's members.
    pub fn read(claims: &crate::core::json::Object) -> Result<IdTokenClaims, String> {
        let m = crate::core::json::Members(claims);
        let string = |name: &str| m.string(name).map(str::to_string);
        let optional = |name: &str| m.opt_string(name).map(|v| v.map(str::to_string));
        let date = |name: &str| NumericDate::read(name, m.required(name)?);
        let opt_date = |name: &str| m.get(name).map(|v| NumericDate::read(name, v)).transpose();
        Ok(IdTokenClaims {
            iss: string("iss")?,
            sub: string("sub")?,
            aud: Audience::read(m.required("aud")?)?,
            exp: date("exp")?,
            iat: date("iat")?,
            nbf: opt_date("nbf")?,
            nonce: optional("nonce")?,
            azp: optional("azp")?,
            at_hash: optional("at_hash")?,
            c_hash: optional("c_hash")?,
            email: optional("email")?,
            email_verified: m.get("email_verified").map(EmailVerified::read).transpose()?,
            name: optional("name")?,
            sid: optional("sid")?,
            auth_time: opt_date("auth_time")?,
            tid: optional("tid")?,
            preferred_username: optional("preferred_username")?,
            upn: optional("upn")?,
            hd: optional("hd")?,
        })
    }
}

/// Claims of an ID token whose signature and claims have been validated.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedIdToken {
    claims: IdTokenClaims,
    all_claims: serde_json::Map<String, serde_json::Value>,
}

impl VerifiedIdToken {
    pub fn claims(&self) -> &IdTokenClaims {
        &self.claims
    }

    /// Any claim by name, as a string (for configured claim mappings).
    pub fn string_claim(&self, name: &str) -> Option<&str> {
        self.all_claims.get(name).and_then(|v| v.as_str())
    }

    /// Any claim by name.
    pub fn claim(&self, name: &str) -> Option<&serde_json::Value> {
        self.all_claims.get(name)
    }
}

/// Check the signature of `jws` with `key` through `verifier`, then the claims against `expect`.
pub async fn verify<V: SignatureVerifier>(
    jws: &UntrustedJws,
    key: &Jwk,
    verifier: &V,
    expect: &Expectations<'_>,
) -> Result<VerifiedIdToken, IdTokenError> {
    let alg = jws.alg();
    verify_signature(jws, key, verifier).await?;
    let hashes = ExpectedHashes::through(verifier, alg.hash(), expect).await?;
    // One reading of the payload for the checked claims and the rest (claim mappings, groups).
    let (claims, all_claims) = validate_claims_with(jws.payload(), expect, &hashes)?;
    Ok(VerifiedIdToken { claims, all_claims })
}

/// Steps 6-7 alone (signature with an allow-listed algorithm that fits the key), for other signed tokens
/// from the IdP (back-channel logout tokens), whose claims have their own rules.
pub async fn verify_signature<V: SignatureVerifier>(
    jws: &UntrustedJws,
    key: &Jwk,
    verifier: &V,
) -> Result<(), IdTokenError> {
    let alg = jws.alg();
    // Step 7: the algorithm is our allow-list's and fits the key (never taken from the key in the header).
    if !key.suits(alg) {
        return Err(IdTokenError::KeyAlgorithmMismatch(alg.name()));
    }
    check_signature_shape(alg, key, jws.signature())?;
    // Step 6: the signature.
    match verifier.verify(alg, key, jws.signing_input(), jws.signature()).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(IdTokenError::BadSignature),
        Err(e) => Err(IdTokenError::CryptoFailure(e.0)),
    }
}

/// Structural checks before handing a signature to WebCrypto: exact lengths; ECDSA `r` and `s` non-zero.
fn check_signature_shape(alg: Alg, key: &Jwk, sig: &[u8]) -> Result<(), IdTokenError> {
    let bad = || IdTokenError::MalformedSignature(alg.name());
    match alg {
        Alg::ES256 | Alg::ES384 => {
            let half = if alg == Alg::ES256 { 32 } else { 48 };
            if sig.len() != 2 * half {
                return Err(bad());
            }
            let (r, s) = sig.split_at(half);
            if r.iter().all(|&b| b == 0) || s.iter().all(|&b| b == 0) {
                return Err(bad());
            }
        }
        Alg::EdDSA => {
            if sig.len() != 64 {
                return Err(bad());
            }
        }
        Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
            if Some(sig.len()) != key.rsa_modulus_len() {
                return Err(bad());
            }
        }
    }
    Ok(())
}

/// Claim rules, in the order of OIDC Core §3.1.3.7. Public for host tests and fuzzing; the flow calls it
/// only through [`verify`].
/// The `at_hash` and `c_hash` values this login's access token and code give (base64url of the left half
/// of their digest with the token's hash), computed before the claims are read.
#[derive(Debug, Default)]
pub struct ExpectedHashes {
    at_hash: Option<String>,
    c_hash: Option<String>,
}

impl ExpectedHashes {
    /// Computed in Rust.
    pub fn software(hash: HashAlg, expect: &Expectations<'_>) -> ExpectedHashes {
        ExpectedHashes {
            at_hash: expect.access_token.map(|t| half_hash(hash, t)),
            c_hash: expect.code.map(|c| half_hash(hash, c)),
        }
    }

    /// SHA-256 in Rust, SHA-384/512 through the platform (WebCrypto in the worker).
    async fn through<V: SignatureVerifier>(
        verifier: &V,
        hash: HashAlg,
        expect: &Expectations<'_>,
    ) -> Result<ExpectedHashes, IdTokenError> {
        if hash == HashAlg::Sha256 {
            // Not `software(hash, ..)`: that one is generic over the hash and would bring SHA-384/512's code
            // into the worker, which asks WebCrypto for them below.
            let half_sha256 = |value: &str| left_half_b64(&<sha2::Sha256 as sha2::Digest>::digest(value.as_bytes()));
            return Ok(ExpectedHashes {
                at_hash: expect.access_token.map(half_sha256),
                c_hash: expect.code.map(half_sha256),
            });
        }
        let mut out = ExpectedHashes::default();
        for (value, slot) in [(expect.access_token, &mut out.at_hash), (expect.code, &mut out.c_hash)] {
            if let Some(value) = value {
                let digest = verifier
                    .long_digest(hash, value.as_bytes())
                    .await
                    .map_err(|e| IdTokenError::CryptoFailure(e.to_string()))?;
                *slot = Some(left_half_b64(&digest));
            }
        }
        Ok(out)
    }
}

/// Steps 2-11 and the hash claims, with the hashes computed in Rust (see [`verify`] for the whole check).
pub fn validate_claims(payload: &[u8], alg: Alg, expect: &Expectations<'_>) -> Result<IdTokenClaims, IdTokenError> {
    validate_claims_with(payload, expect, &ExpectedHashes::software(alg.hash(), expect)).map(|(claims, _)| claims)
}

fn validate_claims_with(
    payload: &[u8],
    expect: &Expectations<'_>,
    hashes: &ExpectedHashes,
) -> Result<(IdTokenClaims, crate::core::json::Object), IdTokenError> {
    let all_claims = crate::core::json::parse_object(payload).map_err(IdTokenError::MalformedClaims)?;
    let claims = IdTokenClaims::read(&all_claims).map_err(IdTokenError::MalformedClaims)?;
    // Step 2: iss exactly equals the discovered issuer.
    if claims.iss != expect.issuer {
        return Err(IdTokenError::IssuerMismatch { expected: expect.issuer.into(), found: claims.iss });
    }
    if claims.sub.is_empty() || claims.sub.len() > 255 {
        return Err(IdTokenError::BadSubject);
    }
    // Step 3: aud contains our client_id.
    if !claims.aud.contains(expect.client_id) {
        return Err(IdTokenError::AudienceMismatch);
    }
    // Steps 4-5: with several audiences, azp is required; when present it must be us.
    match &claims.azp {
        Some(azp) if azp != expect.client_id => return Err(IdTokenError::AzpMismatch(azp.clone())),
        None if claims.aud.is_multiple() => return Err(IdTokenError::AzpMissing),
        _ => {}
    }
    let now = expect.now;
    let leeway = expect.leeway;
    // Step 9: exp in the future.
    if now >= claims.exp.0.saturating_add(leeway) {
        return Err(IdTokenError::Expired { exp: claims.exp.0, now });
    }
    if let Some(nbf) = claims.nbf {
        if nbf.0 > now.saturating_add(leeway) {
            return Err(IdTokenError::NotYetValid { nbf: nbf.0, now });
        }
    }
    // Step 10: iat not in the future, not too old.
    if claims.iat.0 > now.saturating_add(leeway) {
        return Err(IdTokenError::IssuedInFuture { iat: claims.iat.0, now });
    }
    if now.saturating_sub(claims.iat.0) > MAX_ID_TOKEN_AGE_SECONDS.saturating_add(leeway) {
        return Err(IdTokenError::TooOld { iat: claims.iat.0, now });
    }
    // Step 11: nonce equals the one this login sent.
    match &claims.nonce {
        None => return Err(IdTokenError::NonceMissing),
        Some(n) if !constant_time_eq(n.as_bytes(), expect.nonce.as_bytes()) => return Err(IdTokenError::NonceMismatch),
        Some(_) => {}
    }
    // §3.1.3.8 / §3.3.2.11: at_hash and c_hash when present.
    if let (Some(at_hash), Some(expected)) = (&claims.at_hash, &hashes.at_hash) {
        if !constant_time_eq(at_hash.as_bytes(), expected.as_bytes()) {
            return Err(IdTokenError::AtHashMismatch);
        }
    }
    if let (Some(c_hash), Some(expected)) = (&claims.c_hash, &hashes.c_hash) {
        if !constant_time_eq(c_hash.as_bytes(), expected.as_bytes()) {
            return Err(IdTokenError::CHashMismatch);
        }
    }
    Ok((claims, all_claims))
}

fn left_half_b64(digest: &[u8]) -> String {
    b64::encode(digest.get(..digest.len() / 2).unwrap_or_default())
}

/// base64url of the left-most half of the hash of `value` (the `at_hash`/`c_hash` construction).
pub fn half_hash(hash: HashAlg, value: &str) -> String {
    left_half_b64(&hash.digest_in_software(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn expect() -> Expectations<'static> {
        Expectations {
            issuer: "https://idp.example",
            client_id: "edge",
            nonce: "n-123",
            now: NOW,
            leeway: 60,
            access_token: Some("at-xyz"),
            code: Some("code-1"),
        }
    }

    fn base() -> serde_json::Value {
        json!({
            "iss": "https://idp.example", "sub": "u1", "aud": "edge", "exp": NOW + 300, "iat": NOW - 5,
            "nonce": "n-123", "email": "alice@acme.example", "email_verified": true
        })
    }

    fn check(claims: &serde_json::Value) -> Result<IdTokenClaims, IdTokenError> {
        validate_claims(claims.to_string().as_bytes(), Alg::RS256, &expect())
    }

    fn with(key: &str, value: serde_json::Value) -> serde_json::Value {
        let mut c = base();
        c[key] = value;
        c
    }

    fn without(key: &str) -> serde_json::Value {
        let mut c = base();
        c.as_object_mut().unwrap().remove(key);
        c
    }

    #[test]
    fn a_valid_token_passes() {
        let c = check(&base()).unwrap();
        assert_eq!(c.email.as_deref(), Some("alice@acme.example"));
        assert_eq!(c.email_verified, Some(EmailVerified(true)));
    }

    #[test]
    fn issuer_must_match_exactly() {
        assert!(matches!(check(&with("iss", json!("https://evil.example"))), Err(IdTokenError::IssuerMismatch { .. })));
        assert!(matches!(check(&with("iss", json!("https://idp.example/"))), Err(IdTokenError::IssuerMismatch { .. })));
        assert!(matches!(check(&without("iss")), Err(IdTokenError::MalformedClaims(_))));
    }

    #[test]
    fn audience_and_azp() {
        assert_eq!(check(&with("aud", json!("other"))), Err(IdTokenError::AudienceMismatch));
        assert_eq!(check(&with("aud", json!([]))), Err(IdTokenError::AudienceMismatch));
        assert!(matches!(check(&without("aud")), Err(IdTokenError::MalformedClaims(_))));
        assert!(check(&with("aud", json!(["edge"]))).is_ok(), "a single audience in an array needs no azp");
        assert_eq!(check(&with("aud", json!(["edge", "other"]))), Err(IdTokenError::AzpMissing));
        let mut c = with("aud", json!(["edge", "other"]));
        c["azp"] = json!("other");
        assert_eq!(check(&c), Err(IdTokenError::AzpMismatch("other".into())));
        c["azp"] = json!("edge");
        assert!(check(&c).is_ok());
        assert_eq!(check(&with("azp", json!("other"))), Err(IdTokenError::AzpMismatch("other".into())));
    }

    #[test]
    fn expiry_with_leeway() {
        assert!(check(&with("exp", json!(NOW - 59))).is_ok(), "inside leeway");
        assert!(matches!(check(&with("exp", json!(NOW - 60))), Err(IdTokenError::Expired { .. })));
        assert!(matches!(check(&with("exp", json!(NOW - 3600))), Err(IdTokenError::Expired { .. })));
        assert!(matches!(check(&without("exp")), Err(IdTokenError::MalformedClaims(_))));
    }

    #[test]
    fn not_before_with_leeway() {
        assert!(check(&with("nbf", json!(NOW + 60))).is_ok());
        assert!(matches!(check(&with("nbf", json!(NOW + 61))), Err(IdTokenError::NotYetValid { .. })));
    }

    #[test]
    fn issued_at_bounds() {
        assert!(matches!(check(&without("iat")), Err(IdTokenError::MalformedClaims(_))));
        assert!(check(&with("iat", json!(NOW + 60))).is_ok());
        assert!(matches!(check(&with("iat", json!(NOW + 61))), Err(IdTokenError::IssuedInFuture { .. })));
        assert!(check(&with("iat", json!(NOW - MAX_ID_TOKEN_AGE_SECONDS - 60))).is_ok());
        assert!(matches!(
            check(&with("iat", json!(NOW - MAX_ID_TOKEN_AGE_SECONDS - 61))),
            Err(IdTokenError::TooOld { .. })
        ));
    }

    #[test]
    fn time_claims_must_be_sane_numbers() {
        for bad in [
            json!("1700000000"),
            json!(-1),
            json!(true),
            json!(null),
            json!(1e300),
            json!(MAX_NUMERIC_DATE + 1),
            json!([1]),
        ] {
            assert!(matches!(check(&with("exp", bad.clone())), Err(IdTokenError::MalformedClaims(_))), "{bad}");
        }
        assert!(check(&with("exp", json!((NOW + 300) as f64 + 0.5))).is_ok(), "fractions are allowed");
    }

    #[test]
    fn nonce_must_match() {
        assert_eq!(check(&with("nonce", json!("n-124"))), Err(IdTokenError::NonceMismatch));
        assert_eq!(check(&with("nonce", json!(""))), Err(IdTokenError::NonceMismatch));
        assert_eq!(check(&without("nonce")), Err(IdTokenError::NonceMissing));
    }

    #[test]
    fn subject_required_and_bounded() {
        assert!(matches!(check(&without("sub")), Err(IdTokenError::MalformedClaims(_))));
        assert_eq!(check(&with("sub", json!(""))), Err(IdTokenError::BadSubject));
        assert_eq!(check(&with("sub", json!("x".repeat(256)))), Err(IdTokenError::BadSubject));
    }

    #[test]
    fn at_hash_and_c_hash() {
        let good = half_hash(HashAlg::Sha256, "at-xyz");
        assert!(check(&with("at_hash", json!(good))).is_ok());
        assert_eq!(check(&with("at_hash", json!("AAAAAAAAAAAAAAAAAAAAAA"))), Err(IdTokenError::AtHashMismatch));
        assert!(check(&with("c_hash", json!(half_hash(HashAlg::Sha256, "code-1")))).is_ok());
        assert_eq!(
            check(&with("c_hash", json!(half_hash(HashAlg::Sha256, "code-2")))),
            Err(IdTokenError::CHashMismatch)
        );
        // Known vector from OIDC Core A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" -> at_hash "77QmUPtjPfzWtF2AnpK9RQ"
        assert_eq!(half_hash(HashAlg::Sha256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
    }

    #[test]
    fn duplicate_claims_are_refused() {
        let payload = br#"{"iss":"https://idp.example","sub":"u1","sub":"admin","aud":"edge","exp":1700000300,"iat":1699999995,"nonce":"n-123"}"#;
        assert!(matches!(validate_claims(payload, Alg::RS256, &expect()), Err(IdTokenError::MalformedClaims(_))));
        // Claims we do not type (groups, mapped claims) and members of nested objects too: two readers of the
        // signed bytes must never see different values.
        for twice in [r#""groups":[],"groups":["admins"]"#, r#""ext":{"role":"user","role":"admin"}"#] {
            let payload = format!(
                r#"{{"iss":"https://idp.example","sub":"u1","aud":"edge","exp":1700000300,"iat":1699999995,"nonce":"n-123",{twice}}}"#
            );
            let e = validate_claims(payload.as_bytes(), Alg::RS256, &expect()).unwrap_err();
            assert!(matches!(&e, IdTokenError::MalformedClaims(m) if m.contains("duplicate field")), "{e:?}");
        }
    }

    #[test]
    fn email_verified_forms() {
        assert_eq!(check(&with("email_verified", json!("false"))).unwrap().email_verified, Some(EmailVerified(false)));
        assert!(matches!(check(&with("email_verified", json!(1))), Err(IdTokenError::MalformedClaims(_))));
        assert_eq!(check(&without("email_verified")).unwrap().email_verified, None);
    }

    #[test]
    fn payload_that_is_not_an_object_is_refused() {
        let positional = br#"["https://idp.example","u1","edge",1700000300,1699999995,null,"n-123"]"#;
        for p in [&b"[]"[..], b"null", b"", b"\xff", &positional[..]] {
            assert!(matches!(validate_claims(p, Alg::RS256, &expect()), Err(IdTokenError::MalformedClaims(_))));
        }
    }
}
