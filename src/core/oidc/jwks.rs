//! JSON Web Keys: parsing, and choosing the key that may verify a given token.
//!
//! The accepted algorithm comes from our allow-list and must fit the key (`kty`, `crv`, the key's own `alg`,
//! `use`, `key_ops`); the token header only *asks*. Keys that are malformed, too weak (RSA < 2048 bits) or of
//! unknown types are skipped, so one bad key in an IdP's set does not break the others.

use std::borrow::Cow;

use jwt_compact::jwk::JsonWebKey;
use thiserror::Error;

use crate::core::b64;

pub const MAX_JWKS_BYTES: usize = 256 * 1024;
pub const MAX_KEYS: usize = 100;
pub const MIN_RSA_BITS: usize = 2048;
pub const MAX_RSA_BITS: usize = 8192;

/// Signature algorithms accepted for ID tokens. HMAC and `none` are not representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    /// EdDSA with Ed25519 (JOSE `EdDSA`, or the fully specified `Ed25519`).
    EdDSA,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    /// The digest of `data`, computed in Rust (the worker asks WebCrypto for SHA-384/512 instead, see
    /// [`crate::core::ports::SignatureVerifier::long_digest`]).
    pub fn digest_in_software(self, data: &[u8]) -> Vec<u8> {
        use sha2::{Digest, Sha256, Sha384, Sha512};
        match self {
            HashAlg::Sha256 => Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

impl Alg {
    /// Exact, case-sensitive match against the allow-list.
    pub fn from_jose(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "EdDSA" | "Ed25519" => Alg::EdDSA,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The hash used by the signature (and for `at_hash`/`c_hash`).
    pub fn hash(self) -> HashAlg {
        match self {
            Alg::RS256 | Alg::PS256 | Alg::ES256 => HashAlg::Sha256,
            Alg::RS384 | Alg::PS384 | Alg::ES384 => HashAlg::Sha384,
            // OpenID Connect uses SHA-512 for at_hash with Ed25519.
            Alg::RS512 | Alg::PS512 | Alg::EdDSA => HashAlg::Sha512,
        }
    }

    /// Whether a key's own `alg` member permits this algorithm.
    fn permitted_by(self, key_alg: &str) -> bool {
        Alg::from_jose(key_alg) == Some(self)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { curve: EcCurve, x: Vec<u8>, y: Vec<u8> },
    Ed25519 { x: Vec<u8> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcCurve {
    P256,
    P384,
}

impl EcCurve {
    pub fn jwk_name(self) -> &'static str {
        match self {
            EcCurve::P256 => "P-256",
            EcCurve::P384 => "P-384",
        }
    }

    pub fn coordinate_len(self) -> usize {
        match self {
            EcCurve::P256 => 32,
            EcCurve::P384 => 48,
        }
    }
}

/// A public signing key from a JWKS, already checked for shape and strength.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The key's own `alg`, if it declares one.
    pub alg: Option<String>,
    pub material: KeyMaterial,
    /// The key as its public JWK members only, in RFC 7638's canonical form (jwt-compact's [`JsonWebKey`]:
    /// `e`, `kty`, `n` / `crv`, `kty`, `x`, `y`), for WebCrypto import. Private members an IdP might leak by
    /// mistake are never copied.
    pub public_jwk_json: String,
}

impl Jwk {
    pub fn suits(&self, alg: Alg) -> bool {
        if let Some(a) = &self.alg {
            if !alg.permitted_by(a) {
                return false;
            }
        }
        matches!(
            (&self.material, alg),
            (KeyMaterial::Rsa { .. }, Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512)
                | (KeyMaterial::Ec { curve: EcCurve::P256, .. }, Alg::ES256)
                | (KeyMaterial::Ec { curve: EcCurve::P384, .. }, Alg::ES384)
                | (KeyMaterial::Ed25519 { .. }, Alg::EdDSA)
        )
    }

    /// RSA modulus length in bytes (the exact length an RSA signature must have).
    pub fn rsa_modulus_len(&self) -> Option<usize> {
        match &self.material {
            KeyMaterial::Rsa { n, .. } => Some(n.len()),
            _ => None,
        }
    }

    /// A stable identifier of the key material (for caching imported keys).
    pub fn cache_key(&self) -> &str {
        &self.public_jwk_json
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
    /// How many entries were skipped (unknown type, encryption keys, malformed, weak).
    pub skipped: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JwksError {
    #[error("the JWKS is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("the JWKS is not a JSON object with a `keys` array: {0}")]
    Malformed(String),
    #[error("the JWKS has more than {MAX_KEYS} keys")]
    TooManyKeys,
}

/// One entry of `keys`, as read from its object (every member optional but `kty`).
struct RawJwk<'a> {
    kty: &'a str,
    kid: Option<&'a str>,
    use_: Option<&'a str>,
    alg: Option<&'a str>,
    key_ops: Option<Vec<String>>,
    n: Option<&'a str>,
    e: Option<&'a str>,
    crv: Option<&'a str>,
    x: Option<&'a str>,
    y: Option<&'a str>,
}

/// An entry of `keys` that is not an object, or whose members are not of their types, is no key.
fn raw_jwk(value: &serde_json::Value) -> Option<RawJwk<'_>> {
    let m = crate::core::json::Members(value.as_object()?);
    let s = |name: &str| m.opt_string(name).ok();
    Some(RawJwk {
        kty: m.string("kty").ok()?,
        kid: s("kid")?,
        use_: s("use")?,
        alg: s("alg")?,
        key_ops: m.opt_strings("key_ops").ok()?,
        n: s("n")?,
        e: s("e")?,
        crv: s("crv")?,
        x: s("x")?,
        y: s("y")?,
    })
}

pub fn parse_jwks(bytes: &[u8]) -> Result<JwkSet, JwksError> {
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(JwksError::TooLarge);
    }
    let document = crate::core::json::parse_object(bytes).map_err(JwksError::Malformed)?;
    let keys = match crate::core::json::Members(&document).required("keys").map_err(JwksError::Malformed)? {
        serde_json::Value::Array(keys) => keys,
        other => return Err(JwksError::Malformed(crate::core::json::invalid_type("keys", other, "a sequence"))),
    };
    if keys.len() > MAX_KEYS {
        return Err(JwksError::TooManyKeys);
    }
    let mut set = JwkSet::default();
    for value in keys {
        match raw_jwk(value).and_then(parse_key) {
            Some(k) => set.keys.push(k),
            None => set.skipped += 1,
        }
    }
    Ok(set)
}

fn parse_key(raw: RawJwk<'_>) -> Option<Jwk> {
    if let Some(u) = raw.use_ {
        if u != "sig" {
            return None;
        }
    }
    if let Some(ops) = &raw.key_ops {
        if !ops.iter().any(|o| o == "verify") {
            return None;
        }
    }
    let (material, public_jwk_json) = match raw.kty {
        "RSA" => {
            let n = b64::decode(raw.n?)?;
            let e = b64::decode(raw.e?)?;
            rsa_public_key(n, e).ok()?
        }
        "EC" => {
            let curve = match raw.crv? {
                "P-256" => EcCurve::P256,
                "P-384" => EcCurve::P384,
                _ => return None,
            };
            let x = b64::decode(raw.x?)?;
            let y = b64::decode(raw.y?)?;
            ec_public_key(curve, x, y).ok()?
        }
        "OKP" => {
            if raw.crv? != "Ed25519" {
                return None;
            }
            let x = b64::decode(raw.x?)?;
            if x.len() != 32 {
                return None;
            }
            let json =
                public_jwk(JsonWebKey::KeyPair { curve: Cow::Borrowed("Ed25519"), x: Cow::Borrowed(&x), secret: None });
            (KeyMaterial::Ed25519 { x }, json)
        }
        _ => return None,
    };
    if let Some(a) = raw.alg {
        // A key that declares an algorithm outside the allow-list cannot verify ID tokens.
        Alg::from_jose(a)?;
    }
    Some(Jwk { kid: raw.kid.map(str::to_string), alg: raw.alg.map(str::to_string), material, public_jwk_json })
}

/// An RSA public key (big-endian modulus and exponent) if it is strong and usable enough to verify signatures —
/// RSA < 2048 bits, over the maximum, or an unusable exponent refused — with its canonical public JWK text. The
/// one rule for keys from a JWKS and from X.509 certificates (SAML, WS-Federation).
pub fn rsa_public_key(n: Vec<u8>, e: Vec<u8>) -> Result<(KeyMaterial, String), KeySkip> {
    let n = strip_leading_zeros(n);
    let e = strip_leading_zeros(e);
    let bits = bit_len(&n);
    if bits < MIN_RSA_BITS {
        return Err(KeySkip::RsaTooShort(bits));
    }
    if bits > MAX_RSA_BITS {
        return Err(KeySkip::RsaTooLong(bits));
    }
    // e must be odd, > 1, and at most 32 bits (WebCrypto's limit in practice).
    if e.is_empty() || e.len() > 4 || e.last().is_none_or(|b| b & 1 == 0) || (e.len() == 1 && e.first() == Some(&1)) {
        return Err(KeySkip::RsaExponent);
    }
    let json = public_jwk(JsonWebKey::Rsa {
        modulus: Cow::Borrowed(&n),
        public_exponent: Cow::Borrowed(&e),
        private_parts: None,
    });
    Ok((KeyMaterial::Rsa { n, e }, json))
}

/// An EC public key on P-256 or P-384 (its affine coordinates, each of the curve's length), with its canonical
/// public JWK text. (That the point is on the curve is checked by WebCrypto's import.)
pub fn ec_public_key(curve: EcCurve, x: Vec<u8>, y: Vec<u8>) -> Result<(KeyMaterial, String), KeySkip> {
    if x.len() != curve.coordinate_len() || y.len() != curve.coordinate_len() {
        return Err(KeySkip::EcMalformed);
    }
    let json = public_jwk(JsonWebKey::EllipticCurve {
        curve: Cow::Borrowed(curve.jwk_name()),
        x: Cow::Borrowed(&x),
        y: Cow::Borrowed(&y),
        secret: None,
    });
    Ok((KeyMaterial::Ec { curve, x, y }, json))
}

/// A public key's canonical JWK text (RFC 7638 §3.2: the required members, lexicographic order, no whitespace),
/// whose SHA-256 is its thumbprint ([`JsonWebKey::thumbprint`]).
pub fn public_jwk(key: JsonWebKey<'_>) -> String {
    key.to_string()
}

fn strip_leading_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|&&b| b == 0).count();
    v.drain(..zeros);
    v
}

fn bit_len(v: &[u8]) -> usize {
    match v.first() {
        None => 0,
        Some(&first) => (v.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

/// The outcome of choosing a key for a token.
#[derive(Debug, PartialEq, Eq)]
pub enum KeySelection<'a> {
    Found(&'a Jwk),
    /// The token names a `kid` that is not in the set (a refetch may help).
    UnknownKid,
    /// No `kid` and not exactly one suitable key: refuse rather than guess.
    Ambiguous,
    /// No key of the set can verify this algorithm.
    NoSuitableKey,
}

/// Why no key could be chosen for a token (after any refetch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum NoKey {
    #[error("no key with the token's kid, even after a JWKS refetch")]
    UnknownKid,
    #[error("the token has no kid and several keys could verify it")]
    Ambiguous,
    #[error("no key in the JWKS fits the token's algorithm")]
    NoSuitableKey,
}

impl<'a> KeySelection<'a> {
    /// The key chosen, or why none.
    pub fn found(self) -> Result<&'a Jwk, NoKey> {
        match self {
            KeySelection::Found(k) => Ok(k),
            KeySelection::UnknownKid => Err(NoKey::UnknownKid),
            KeySelection::Ambiguous => Err(NoKey::Ambiguous),
            KeySelection::NoSuitableKey => Err(NoKey::NoSuitableKey),
        }
    }
}

pub fn select_key<'a>(set: &'a JwkSet, alg: Alg, kid: Option<&str>) -> KeySelection<'a> {
    match kid {
        Some(kid) => {
            let mut with_kid = set.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).peekable();
            if with_kid.peek().is_none() {
                return KeySelection::UnknownKid;
            }
            match with_kid.find(|k| k.suits(alg)) {
                Some(k) => KeySelection::Found(k),
                None => KeySelection::NoSuitableKey,
            }
        }
        None => {
            let mut suitable = set.keys.iter().filter(|k| k.suits(alg));
            match (suitable.next(), suitable.next()) {
                (Some(k), None) => KeySelection::Found(k),
                (None, _) => KeySelection::NoSuitableKey,
                (Some(_), Some(_)) => KeySelection::Ambiguous,
            }
        }
    }
}

/// Why [`parse_jwks`] skips an entry of a key set, in words for the operator (`edge-auth-check` lists them).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeySkip {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("no kty")]
    NoKty,
    #[error("use is {0:?}, not \"sig\"")]
    NotForSignatures(String),
    #[error("key_ops does not include \"verify\"")]
    NotForVerifying,
    #[error("alg {0:?} is not accepted for ID tokens")]
    AlgRefused(String),
    #[error("n or e is missing or not base64url")]
    RsaMalformed,
    #[error("RSA key of {0} bits; at least {MIN_RSA_BITS} are required")]
    RsaTooShort(usize),
    #[error("RSA key of {0} bits; at most {MAX_RSA_BITS} are accepted")]
    RsaTooLong(usize),
    #[error("the RSA public exponent is unusable (even, 1, or over 32 bits)")]
    RsaExponent,
    #[error("x or y is missing, not base64url, or of the wrong length")]
    EcMalformed,
    #[error("curve {0:?} is not supported (P-256, P-384)")]
    EcCurve(String),
    #[error("curve {0:?} is not supported (Ed25519)")]
    OkpCurve(String),
    #[error("no crv")]
    NoCurve,
    #[error("x is missing, not base64url, or not 32 bytes")]
    OkpMalformed,
    #[error("a symmetric (oct) key: HMAC is never accepted for ID tokens")]
    Symmetric,
    #[error("key type {0:?} is not supported (RSA, EC, OKP)")]
    UnknownKty(String),
    #[error("malformed member (a member has the wrong JSON type)")]
    Malformed,
}

/// Why [`parse_jwks`] skips `entry` (one of a set's `keys`); `None` when it keeps it. The verdict is
/// [`parse_jwks`]'s own; this only names the first rule the entry breaks.
pub fn key_skip(entry: &serde_json::Value) -> Option<KeySkip> {
    if raw_jwk(entry).and_then(parse_key).is_some() {
        return None;
    }
    let Some(obj) = entry.as_object() else { return Some(KeySkip::NotAnObject) };
    let s = |name: &str| obj.get(name).and_then(|v| v.as_str());
    let Some(kty) = s("kty") else { return Some(KeySkip::NoKty) };
    if let Some(u) = s("use").filter(|u| *u != "sig") {
        return Some(KeySkip::NotForSignatures(u.to_string()));
    }
    if let Some(ops) = obj.get("key_ops").and_then(|v| v.as_array()) {
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return Some(KeySkip::NotForVerifying);
        }
    }
    if let Some(a) = s("alg").filter(|a| Alg::from_jose(a).is_none()) {
        return Some(KeySkip::AlgRefused(a.to_string()));
    }
    let decoded = |name: &str| s(name).and_then(b64::decode).map(strip_leading_zeros);
    Some(match (kty, s("crv")) {
        ("RSA", _) => {
            let (Some(n), Some(e)) = (decoded("n"), decoded("e")) else { return Some(KeySkip::RsaMalformed) };
            match bit_len(&n) {
                bits if bits < MIN_RSA_BITS => KeySkip::RsaTooShort(bits),
                bits if bits > MAX_RSA_BITS => KeySkip::RsaTooLong(bits),
                _ if e.len() > 4 || e.last().is_none_or(|b| b & 1 == 0) || e == [1] => KeySkip::RsaExponent,
                _ => KeySkip::Malformed,
            }
        }
        ("EC", Some("P-256" | "P-384")) => KeySkip::EcMalformed,
        ("EC", Some(other)) => KeySkip::EcCurve(other.to_string()),
        ("OKP", Some("Ed25519")) => KeySkip::OkpMalformed,
        ("OKP", Some(other)) => KeySkip::OkpCurve(other.to_string()),
        ("EC" | "OKP", None) => KeySkip::NoCurve,
        ("oct", _) => KeySkip::Symmetric,
        (other, _) => KeySkip::UnknownKty(other.to_string()),
    })
}

#[cfg(test)]
mod key_skip_tests {
    use super::*;

    /// Every entry `parse_jwks` skips has a reason, and no entry it keeps has one.
    #[test]
    fn a_reason_exactly_for_the_skipped_keys() {
        let n2048 = b64::encode([0xc5u8; 256]);
        let n1024 = b64::encode([0xc5u8; 128]);
        let n9000 = b64::encode([0xc5u8; 1125]);
        let p256 = b64::encode([7u8; 32]);
        let cases: Vec<(serde_json::Value, Option<&str>)> = vec![
            (serde_json::json!({"kty": "RSA", "n": n2048, "e": "AQAB"}), None),
            (serde_json::json!({"kty": "EC", "crv": "P-256", "x": p256, "y": p256, "use": "sig"}), None),
            (serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": p256, "key_ops": ["verify"]}), None),
            (serde_json::json!("RSA"), Some("not a JSON object")),
            (serde_json::json!({"n": n2048}), Some("no kty")),
            (
                serde_json::json!({"kty": "RSA", "n": n2048, "e": "AQAB", "use": "enc"}),
                Some("use is \"enc\", not \"sig\""),
            ),
            (
                serde_json::json!({"kty": "RSA", "n": n2048, "e": "AQAB", "key_ops": ["sign"]}),
                Some("key_ops does not include \"verify\""),
            ),
            (
                serde_json::json!({"kty": "RSA", "n": n2048, "e": "AQAB", "alg": "HS256"}),
                Some("alg \"HS256\" is not accepted for ID tokens"),
            ),
            (serde_json::json!({"kty": "RSA", "e": "AQAB"}), Some("n or e is missing or not base64url")),
            (
                serde_json::json!({"kty": "RSA", "n": n1024, "e": "AQAB"}),
                Some("RSA key of 1024 bits; at least 2048 are required"),
            ),
            (
                serde_json::json!({"kty": "RSA", "n": n9000, "e": "AQAB"}),
                Some("RSA key of 9000 bits; at most 8192 are accepted"),
            ),
            (
                serde_json::json!({"kty": "RSA", "n": n2048, "e": "AQ"}),
                Some("the RSA public exponent is unusable (even, 1, or over 32 bits)"),
            ),
            (
                serde_json::json!({"kty": "RSA", "n": n2048, "e": "Ag"}),
                Some("the RSA public exponent is unusable (even, 1, or over 32 bits)"),
            ),
            (
                serde_json::json!({"kty": "EC", "crv": "P-256", "x": p256}),
                Some("x or y is missing, not base64url, or of the wrong length"),
            ),
            (
                serde_json::json!({"kty": "EC", "crv": "P-521", "x": p256, "y": p256}),
                Some("curve \"P-521\" is not supported (P-256, P-384)"),
            ),
            (serde_json::json!({"kty": "EC", "x": p256, "y": p256}), Some("no crv")),
            (
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
                Some("x is missing, not base64url, or not 32 bytes"),
            ),
            (
                serde_json::json!({"kty": "OKP", "crv": "X25519", "x": p256}),
                Some("curve \"X25519\" is not supported (Ed25519)"),
            ),
            (
                serde_json::json!({"kty": "oct", "k": p256}),
                Some("a symmetric (oct) key: HMAC is never accepted for ID tokens"),
            ),
            (
                serde_json::json!({"kty": "RSA-PSS", "n": n2048}),
                Some("key type \"RSA-PSS\" is not supported (RSA, EC, OKP)"),
            ),
            (
                serde_json::json!({"kty": "RSA", "n": n2048, "e": "AQAB", "kid": 7}),
                Some("malformed member (a member has the wrong JSON type)"),
            ),
        ];
        for (entry, reason) in cases {
            let set = serde_json::json!({ "keys": [entry] }).to_string();
            let kept = parse_jwks(set.as_bytes()).unwrap().keys.len() == 1;
            assert_eq!(kept, reason.is_none(), "{entry}");
            assert_eq!(key_skip(&entry).map(|r| r.to_string()).as_deref(), reason, "{entry}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_n(bits: usize) -> String {
        let mut n = vec![0xc5u8; bits / 8];
        n[0] = 0xc5;
        b64::encode(n)
    }

    fn jwks(keys: &[serde_json::Value]) -> Vec<u8> {
        serde_json::json!({ "keys": keys }).to_string().into_bytes()
    }

    fn rsa(kid: &str) -> serde_json::Value {
        serde_json::json!({"kty":"RSA","kid":kid,"n":rsa_n(2048),"e":"AQAB","use":"sig"})
    }

    fn ec(kid: &str, crv: &str, len: usize) -> serde_json::Value {
        serde_json::json!({"kty":"EC","kid":kid,"crv":crv,"x":b64::encode(vec![1u8;len]),"y":b64::encode(vec![2u8;len])})
    }

    fn okp(kid: &str) -> serde_json::Value {
        serde_json::json!({"kty":"OKP","kid":kid,"crv":"Ed25519","x":b64::encode([3u8;32])})
    }

    #[test]
    fn alg_allow_list_is_exact() {
        assert_eq!(Alg::from_jose("RS256"), Some(Alg::RS256));
        assert_eq!(Alg::from_jose("Ed25519"), Some(Alg::EdDSA));
        for refused in
            ["none", "None", "NONE", "nOnE", "HS256", "HS384", "HS512", "rs256", "RS256 ", "", "ES256K", "ES512"]
        {
            assert_eq!(Alg::from_jose(refused), None, "{refused}");
        }
    }

    /// A member named twice inside one key makes the whole set unreadable (the reader refuses the document),
    /// not that key alone: which `n` would be the key's is not for us to guess, and no IdP publishes such a set.
    /// A key of members of the wrong type is skipped, as before.
    #[test]
    fn a_member_named_twice_in_a_key_refuses_the_set() {
        let text = String::from_utf8(jwks(&[rsa("r"), rsa("s")])).unwrap().replacen(
            r#""kid":"s""#,
            r#""kid":"s","kid":"r""#,
            1,
        );
        assert!(
            matches!(parse_jwks(text.as_bytes()), Err(JwksError::Malformed(m)) if m.contains("duplicate field `kid`"))
        );
        let typed = serde_json::json!({"kty":"RSA","kid":"t","n":rsa_n(2048),"e":"AQAB","key_ops":"verify"});
        let set = parse_jwks(&jwks(&[typed, rsa("r")])).unwrap();
        assert_eq!((set.keys.len(), set.skipped), (1, 1));
    }

    /// SHA-1 is a SAML concession (`allow_sha1`, src/core/xml/dsig.rs), never a JOSE algorithm: no name gives it,
    /// and a JWK that declares it is skipped.
    #[test]
    fn sha1_is_no_jose_algorithm() {
        for refused in ["RS1", "rs1", "RSA-SHA1", "rsa-sha1", "SHA1withRSA", "ES1", "PS1", "HS1"] {
            assert_eq!(Alg::from_jose(refused), None, "{refused}");
        }
        let declared = serde_json::json!({"kty":"RSA","kid":"s1","alg":"RS1","n":rsa_n(2048),"e":"AQAB"});
        let set = parse_jwks(&jwks(&[declared, rsa("r")])).unwrap();
        let kids: Vec<_> = set.keys.iter().map(|k| k.kid.clone().unwrap()).collect();
        assert_eq!((kids, set.skipped), (vec!["r".to_string()], 1));
    }

    #[test]
    fn parses_supported_keys_and_skips_the_rest() {
        let set = parse_jwks(&jwks(&[
            rsa("r"),
            ec("e", "P-256", 32),
            ec("e3", "P-384", 48),
            okp("o"),
            serde_json::json!({"kty":"oct","k":"AAAA"}),
            serde_json::json!({"kty":"RSA","kid":"enc","n":rsa_n(2048),"e":"AQAB","use":"enc"}),
            serde_json::json!({"kty":"RSA","kid":"weak","n":rsa_n(1024),"e":"AQAB"}),
            serde_json::json!({"kty":"RSA","kid":"even-e","n":rsa_n(2048),"e":"Ag"}),
            serde_json::json!({"kty":"RSA","kid":"e1","n":rsa_n(2048),"e":"AQ"}),
            ec("bad-len", "P-256", 31),
            ec("secp256k1", "secp256k1", 32),
            serde_json::json!({"kty":"RSA","kid":"hs","alg":"HS256","n":rsa_n(2048),"e":"AQAB"}),
            serde_json::json!({"kty":"RSA","kid":"pad","n":format!("{}=", rsa_n(2048)),"e":"AQAB"}),
            serde_json::json!("not an object"),
        ]))
        .unwrap();
        let kids: Vec<_> = set.keys.iter().map(|k| k.kid.clone().unwrap()).collect();
        assert_eq!(kids, vec!["r", "e", "e3", "o"]);
        assert_eq!(set.skipped, 10);
    }

    #[test]
    fn a_key_written_as_a_json_array_is_skipped_not_read_by_position() {
        // The members of a good RSA key in `RawJwk`'s field order: serde would fill the struct from them.
        let positional = serde_json::json!(["RSA", "arr", null, null, null, rsa_n(2048), "AQAB", null, null, null]);
        let set = parse_jwks(&jwks(&[positional.clone(), rsa("r")])).unwrap();
        let kids: Vec<_> = set.keys.iter().map(|k| k.kid.clone().unwrap()).collect();
        assert_eq!((kids, set.skipped), (vec!["r".to_string()], 1));
        assert_eq!(key_skip(&positional), Some(KeySkip::NotAnObject));
    }

    #[test]
    fn public_jwk_never_carries_private_members() {
        let mut k = rsa("r");
        k["d"] = serde_json::json!("secret-exponent");
        let set = parse_jwks(&jwks(&[k])).unwrap();
        assert!(!set.keys[0].public_jwk_json.contains("secret"));
        assert!(!set.keys[0].public_jwk_json.contains("\"d\""));
    }

    #[test]
    fn malformed_sets_are_errors() {
        assert!(matches!(parse_jwks(b"{}"), Err(JwksError::Malformed(_))));
        assert!(matches!(parse_jwks(b"[]"), Err(JwksError::Malformed(_))));
        assert!(matches!(parse_jwks(b"{\"keys\":{}}"), Err(JwksError::Malformed(_))));
        let many: Vec<_> = (0..=MAX_KEYS).map(|i| okp(&i.to_string())).collect();
        assert_eq!(parse_jwks(&jwks(&many)), Err(JwksError::TooManyKeys));
    }

    #[test]
    fn selection_by_kid_alg_and_kty() {
        let set = parse_jwks(&jwks(&[rsa("r"), ec("e", "P-256", 32), okp("o")])).unwrap();
        assert!(
            matches!(select_key(&set, Alg::RS256, Some("r")), KeySelection::Found(k) if k.kid.as_deref() == Some("r"))
        );
        assert!(matches!(select_key(&set, Alg::PS256, Some("r")), KeySelection::Found(_)));
        assert_eq!(select_key(&set, Alg::ES256, Some("r")), KeySelection::NoSuitableKey, "alg/kty confusion");
        assert_eq!(select_key(&set, Alg::ES384, Some("e")), KeySelection::NoSuitableKey, "curve mismatch");
        assert_eq!(select_key(&set, Alg::RS256, Some("nope")), KeySelection::UnknownKid);
        assert!(matches!(select_key(&set, Alg::EdDSA, None), KeySelection::Found(_)), "one suitable key, no kid");
    }

    #[test]
    fn no_kid_with_several_suitable_keys_is_ambiguous() {
        let set = parse_jwks(&jwks(&[rsa("a"), rsa("b")])).unwrap();
        assert_eq!(select_key(&set, Alg::RS256, None), KeySelection::Ambiguous);
        assert_eq!(select_key(&set, Alg::ES256, None), KeySelection::NoSuitableKey);
    }

    #[test]
    fn a_keys_own_alg_restricts_it() {
        let mut k = rsa("r");
        k["alg"] = serde_json::json!("RS256");
        let set = parse_jwks(&jwks(&[k])).unwrap();
        assert!(matches!(select_key(&set, Alg::RS256, Some("r")), KeySelection::Found(_)));
        assert_eq!(select_key(&set, Alg::PS256, Some("r")), KeySelection::NoSuitableKey);
        let mut k = okp("o");
        k["alg"] = serde_json::json!("Ed25519");
        let set = parse_jwks(&jwks(&[k])).unwrap();
        assert!(matches!(select_key(&set, Alg::EdDSA, None), KeySelection::Found(_)));
    }

    #[test]
    fn rsa_modulus_length_is_exposed_without_leading_zeros() {
        let mut n = vec![0u8];
        n.extend(vec![0xc5u8; 256]);
        let k = serde_json::json!({"kty":"RSA","n":b64::encode(n),"e":"AQAB"});
        let set = parse_jwks(&jwks(&[k])).unwrap();
        assert_eq!(set.keys[0].rsa_modulus_len(), Some(256));
    }
}
