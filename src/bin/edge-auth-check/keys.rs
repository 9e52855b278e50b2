//! A key set: every key, whether the worker uses it and for which algorithms, or why it skips it (the core's
//! own reason, [`key_skip`]).

use edge_auth::core::b64;
use edge_auth::core::oidc::jwks::{key_skip, parse_jwks, Alg, EcCurve, Jwk, KeyMaterial};

use crate::fetcher::Fetcher;
use crate::report::{plural, Report};

/// Lists every key with whether the worker will use it, and why not. `false` when no key can verify any of
/// the provider's ID-token algorithms.
pub fn check_jwks(report: &mut Report, fetcher: &mut Fetcher, id: &str, jwks_uri: &str, algs: &[Alg]) -> bool {
    let body = match fetcher.get(jwks_uri) {
        Ok(b) => b,
        Err(e) => {
            report.item("jwks", "(unavailable)");
            report.provider_error(id, "jwks_uri", format!("the key set could not be fetched: {e}"));
            return false;
        }
    };
    let set = match parse_jwks(&body) {
        Ok(s) => s,
        Err(e) => {
            report.item("jwks", "(unusable)");
            report.provider_error(id, "jwks_uri", format!("{e} (from {jwks_uri})"));
            return false;
        }
    };
    let entries: Vec<serde_json::Value> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("keys").and_then(|k| k.as_array()).cloned())
        .unwrap_or_default();
    report.item(
        "jwks",
        format!(
            "{} key{}: {} usable, {} skipped",
            set.keys.len() + set.skipped,
            plural(set.keys.len() + set.skipped),
            set.keys.len(),
            set.skipped
        ),
    );
    let mut covered: Vec<Alg> = Vec::new();
    for entry in &entries {
        // The core decides, one key at a time; this file only explains.
        let single = serde_json::json!({ "keys": [entry] }).to_string();
        let parsed = parse_jwks(single.as_bytes()).ok().and_then(|s| s.keys.into_iter().next());
        let desc = describe_raw_key(entry);
        match parsed {
            Some(key) => {
                let verifies: Vec<Alg> = algs.iter().copied().filter(|a| key.suits(*a)).collect();
                covered.extend(verifies.iter().copied());
                let what = if verifies.is_empty() {
                    "usable, but for none of the provider's ID-token algorithms".to_string()
                } else {
                    format!("verifies {}", verifies.iter().map(|a| a.name()).collect::<Vec<_>>().join(", "))
                };
                report.line(4, format!("usable   {}: {what}", describe_key(&key, &desc)));
            }
            None => {
                let why = key_skip(entry).map_or_else(|| "skipped".to_string(), |reason| reason.to_string());
                report.line(4, format!("skipped  {}: {why}", desc.summary()))
            }
        }
    }
    let missing: Vec<&str> = algs.iter().filter(|a| !covered.contains(a)).map(|a| a.name()).collect();
    if covered.is_empty() {
        report.provider_error(
            id,
            "jwks_uri",
            format!(
                "no key in {jwks_uri} can verify the provider's ID-token algorithms ({})",
                algs.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
            ),
        );
        return false;
    }
    if !missing.is_empty() {
        report.warning(
            2,
            Some(id),
            "jwks_uri",
            format!("no key for {}: ID tokens signed with it would be refused", missing.join(", ")),
        );
    }
    let without_kid = set.keys.iter().filter(|k| k.kid.is_none()).count();
    if without_kid > 0 && set.keys.len() > 1 {
        report.warning(
            2,
            Some(id),
            "jwks_uri",
            format!(
                "{without_kid} usable key{} without a kid: a token without a kid is refused when several keys fit",
                plural(without_kid)
            ),
        );
    }
    true
}

/// What a JWKS entry says about itself (for printing).
struct RawKeyDesc {
    kid: String,
    kty: String,
    alg: String,
}

impl RawKeyDesc {
    fn summary(&self) -> String {
        format!("kid {}, {}, alg {}", self.kid, self.kty, self.alg)
    }
}

fn describe_raw_key(entry: &serde_json::Value) -> RawKeyDesc {
    let s = |name: &str| entry.get(name).and_then(|v| v.as_str());
    let kty = match (s("kty"), s("crv")) {
        (Some(k), Some(c)) => format!("{k} {c}"),
        (Some("RSA"), None) => match s("n").and_then(b64::decode) {
            Some(n) => format!("RSA {} bits", bit_len(&n)),
            None => "RSA".to_string(),
        },
        (Some(k), None) => k.to_string(),
        (None, _) => "(no kty)".to_string(),
    };
    RawKeyDesc {
        kid: s("kid").map(|k| format!("{k:?}")).unwrap_or_else(|| "(none)".to_string()),
        kty,
        alg: s("alg").unwrap_or("-").to_string(),
    }
}

fn describe_key(key: &Jwk, desc: &RawKeyDesc) -> String {
    format!("kid {}, {}, alg {}", desc.kid, key_type(key), key.alg.as_deref().unwrap_or("-"))
}

/// A key's type and size (`RSA 2048 bits`, `EC P-256`), as the worker read it.
pub fn key_type(key: &Jwk) -> String {
    match &key.material {
        KeyMaterial::Rsa { n, .. } => format!("RSA {} bits", bit_len(n)),
        KeyMaterial::Ec { curve: EcCurve::P256, .. } => "EC P-256".to_string(),
        KeyMaterial::Ec { curve: EcCurve::P384, .. } => "EC P-384".to_string(),
        KeyMaterial::Ed25519 { .. } => "OKP Ed25519".to_string(),
    }
}

fn bit_len(n: &[u8]) -> usize {
    let n: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
    match n.first() {
        None => 0,
        Some(&first) => (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}
