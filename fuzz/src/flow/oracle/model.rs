//! The oracles' reference model, written from the specification (README "Sessions", "Access policies",
//! "Security") rather than by calling the code under test: the configuration as the operator wrote it (read
//! from `FLOW_CONFIG` with `serde_json`, not the crate's parser), cookies opened with the fixture key ring and
//! decoded with `serde_json` (the MAC/AEAD layer `KeyRing::open` is the only crate code used: a forged seal is
//! out of reach anyway), the session rules (lifetime, idle timeout, revocations), the access policies on plain
//! prefixes, same-origin redirect targets, and PKCE S256.
//!
//! The model is deliberately *smaller* than the code (it may leave a case undecided), never stricter: an
//! oracle built on it fails only when the code did something the specification forbids.

use std::sync::OnceLock;

use edge_auth::core::oidc::jwks::{Alg, EcCurve, Jwk, KeyMaterial};
use edge_auth::core::session::codec::Purpose;
use edge_auth::core::session::record::Session;
use edge_auth::core::session::revocation::{Revocation, RevocationKind};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fixtures::{key_ring, FLOW_CONFIG};
use crate::testkit::b64url;

/// Seconds a session may claim to be issued in the future (clock skew between isolates).
pub const ISSUED_AT_SKEW_SECONDS: u64 = 300;

/// One connector, as written in `FLOW_CONFIG`.
#[derive(Debug)]
pub struct ConnectorModel {
    pub id: String,
    pub domains: Vec<String>,
    /// `form_post` connectors take the authorization response as a POST, the others as a GET.
    pub form_post: bool,
}

/// One access policy, as written: a path prefix (`/admin/*` → `/admin/`) and its grants.
#[derive(Debug)]
pub struct PolicyModel {
    pub prefix: String,
    pub public: bool,
    pub emails: Vec<String>,
    pub domains: Vec<String>,
    /// (connector, group) from `connector:group`.
    pub groups: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct ConfigModel {
    pub connectors: Vec<ConnectorModel>,
    pub lifetime: u64,
    pub idle: Option<u64>,
    pub leeway: u64,
    pub policies: Vec<PolicyModel>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|l| l.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

pub fn config() -> &'static ConfigModel {
    static MODEL: OnceLock<ConfigModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let v: Value = serde_json::from_str(FLOW_CONFIG).expect("FLOW_CONFIG is JSON");
        let connectors = v["connectors"]
            .as_array()
            .expect("connectors")
            .iter()
            .map(|c| ConnectorModel {
                id: c["id"].as_str().expect("id").to_string(),
                domains: strings(&c["domains"]),
                form_post: c["response_mode"] == "form_post",
            })
            .collect();
        let policies = v["policies"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|p| {
                        let path = p["path"].as_str().expect("policy path");
                        PolicyModel {
                            prefix: path.strip_suffix('*').expect("the fixture policies are prefixes").to_string(),
                            public: p["public"] == true,
                            emails: strings(&p["emails"]),
                            domains: strings(&p["domains"]),
                            groups: strings(&p["groups"])
                                .iter()
                                .filter_map(|g| g.split_once(':').map(|(c, g)| (c.to_string(), g.to_string())))
                                .collect(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        ConfigModel {
            connectors,
            lifetime: v["session"]["lifetime_seconds"].as_u64().expect("lifetime"),
            idle: v["session"]["idle_timeout_seconds"].as_u64(),
            leeway: v["clock_leeway_seconds"].as_u64().unwrap_or(0),
            policies,
        }
    })
}

impl ConfigModel {
    pub fn connector(&self, id: &str) -> Option<&ConnectorModel> {
        self.connectors.iter().find(|c| c.id == id)
    }
}

// ---- cookies -------------------------------------------------------------------------------------------

/// Every value of cookie `name` in a `Cookie` header (RFC 6265 pairs; a quoted value also unquoted).
pub fn cookie_values<'a>(header: &'a str, name: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    for pair in header.split(';') {
        if let Some((k, v)) = pair.trim().split_once('=') {
            if k.trim() == name {
                out.push(v.trim());
                out.push(v.trim().trim_matches('"'));
            }
        }
    }
    out
}

/// The JSON payloads under our seal among the values of cookie `name`.
pub fn opened(header: &str, name: &str, purpose: Purpose) -> Vec<Value> {
    cookie_values(header, name)
        .into_iter()
        .filter_map(|v| key_ring().open(purpose, name, v))
        .filter_map(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .filter(Value::is_object)
        .collect()
}

/// A session record as the model reads it (field names of the sealed JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionModel {
    pub sub: String,
    pub email: String,
    pub connector: String,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
    pub sid: Option<String>,
    pub renewed_at: u64,
    pub groups: Vec<String>,
}

impl SessionModel {
    pub fn from_json(v: &Value) -> Option<SessionModel> {
        Some(SessionModel {
            sub: v["sub"].as_str()?.to_string(),
            email: v["email"].as_str()?.to_string(),
            connector: v["cid"].as_str()?.to_string(),
            iss: v["iss"].as_str()?.to_string(),
            iat: v["iat"].as_u64()?,
            exp: v["exp"].as_u64()?,
            sid: v.get("sid").and_then(Value::as_str).map(str::to_string),
            renewed_at: v.get("ra").and_then(Value::as_u64).unwrap_or(0),
            groups: strings(&v["g"]),
        })
    }

    /// The record the crate handed back (its public fields; no crate logic).
    pub fn of(s: &Session) -> SessionModel {
        SessionModel {
            sub: s.sub.clone(),
            email: s.email.clone(),
            connector: s.connector.clone(),
            iss: s.iss.clone(),
            iat: s.iat,
            exp: s.exp,
            sid: s.sid.clone(),
            renewed_at: s.renewed_at,
            groups: s.groups.clone(),
        }
    }

    /// The last moment of activity the idle timeout counts from.
    pub fn last_active(&self) -> u64 {
        self.renewed_at.max(self.iat)
    }

    /// Why this session must not pass the gate at `now` (lifetime, clock skew, idle timeout), if it must not.
    pub fn dead_at(&self, now: u64, idle: Option<u64>) -> Option<&'static str> {
        if self.exp <= now {
            return Some("expired (exp <= now)");
        }
        if self.iat > now.saturating_add(ISSUED_AT_SKEW_SECONDS) {
            return Some("issued in the future");
        }
        if let Some(idle) = idle {
            if now >= self.last_active().saturating_add(idle) {
                return Some("idle longer than idle_timeout_seconds");
            }
        }
        None
    }

    /// The revocation (front/back-channel logout, our own sign-out) that ended this session, if any.
    pub fn revoked_by<'r>(&self, revocations: &'r [Revocation]) -> Option<&'r Revocation> {
        revocations.iter().find(|r| match r.kind {
            RevocationKind::Sid => r.iss == self.iss && self.sid.as_deref() == Some(r.value.as_str()),
            RevocationKind::ConnectorSid => {
                r.connector == self.connector && self.sid.as_deref() == Some(r.value.as_str())
            }
            RevocationKind::Session => r.iss == self.iss && r.value == format!("{}\0{}", self.sub, self.iat),
            RevocationKind::Sub => r.iss == self.iss && r.value == self.sub && self.iat <= r.at,
        })
    }

    pub fn email_domain(&self) -> String {
        self.email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default()
    }
}

/// A login transaction as the model reads it (the sealed JSON's one-letter names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxModel {
    pub connector: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    pub redirect_uri: String,
    pub expires_at: u64,
}

impl TxModel {
    pub fn from_json(v: &Value) -> Option<TxModel> {
        let s = |k: &str| v[k].as_str().map(str::to_string);
        Some(TxModel {
            connector: s("c")?,
            state: s("s")?,
            nonce: s("n")?,
            pkce_verifier: s("v")?,
            return_to: s("r")?,
            redirect_uri: s("u")?,
            expires_at: v["e"].as_u64()?,
        })
    }
}

/// The unexpired login transactions a `Cookie` header carries under `name`.
pub fn live_transactions(header: &str, name: &str, now: u64) -> Vec<TxModel> {
    opened(header, name, Purpose::LoginTransaction)
        .iter()
        .filter_map(TxModel::from_json)
        .filter(|t| t.expires_at > now)
        .collect()
}

/// The sessions a `Cookie` header carries under `name` (whatever their times say).
pub fn carried_sessions(header: &str, name: &str) -> Vec<SessionModel> {
    opened(header, name, Purpose::Session).iter().filter_map(SessionModel::from_json).collect()
}

// ---- access policies -----------------------------------------------------------------------------------

/// The policies whose prefix plainly names `path` (ASCII case-insensitive: some origins are). The code also
/// reads other spellings; the model only claims the plain ones.
pub fn policies_naming(path: &str) -> impl Iterator<Item = &'static PolicyModel> + '_ {
    let lower = path.to_ascii_lowercase();
    config().policies.iter().filter(move |p| lower.starts_with(&p.prefix.to_ascii_lowercase()))
}

/// Whether a restricted policy's grants admit this session.
pub fn grants(p: &PolicyModel, s: &SessionModel) -> bool {
    if p.emails.is_empty() && p.domains.is_empty() && p.groups.is_empty() {
        return true;
    }
    let email = s.email.to_ascii_lowercase();
    let domain = s.email_domain();
    p.emails.iter().any(|e| e.to_ascii_lowercase() == email)
        || p.domains.iter().any(|d| d.to_ascii_lowercase() == domain)
        || p.groups.iter().any(|(c, g)| *c == s.connector && s.groups.iter().any(|sg| sg == g))
}

// ---- redirects and PKCE ----------------------------------------------------------------------------------

/// A redirect target that stays on this site however it is read: a path (not `//host`, not `/\host`, even
/// after browsers drop tabs and newlines), no raw whitespace, control characters or backslashes, and the
/// same after up to three rounds of percent-decoding (an origin or a second redirect may decode it).
pub fn is_local_target(target: &str) -> bool {
    if target.is_empty() || target.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
        return false;
    }
    let mut current = target.to_string();
    for _ in 0..4 {
        let squeezed: String = current.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
        let b = squeezed.as_bytes();
        if b.first() != Some(&b'/') || matches!(b.get(1), Some(b'/') | Some(b'\\')) {
            return false;
        }
        let decoded = percent_decode(&current);
        if decoded == current {
            break;
        }
        current = decoded;
    }
    let base = url::Url::parse("https://site.invalid/").expect("base");
    base.join(target).is_ok_and(|u| u.origin() == base.origin())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Two redirect targets that name the same place (one may be the other percent-encoded).
pub fn same_target(a: &str, b: &str) -> bool {
    a == b || percent_decode(a) == percent_decode(b)
}

/// Whether a key of this type can check this algorithm (RFC 7518 §3, RFC 8037).
pub fn key_fits(alg: Alg, key: &Jwk) -> bool {
    match &key.material {
        KeyMaterial::Rsa { .. } => {
            matches!(alg, Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512)
        }
        KeyMaterial::Ec { curve: EcCurve::P256, .. } => alg == Alg::ES256,
        KeyMaterial::Ec { curve: EcCurve::P384, .. } => alg == Alg::ES384,
        KeyMaterial::Ed25519 { .. } => alg == Alg::EdDSA,
    }
}

/// RFC 7636 S256: `BASE64URL(SHA256(verifier))`.
pub fn pkce_s256(verifier: &str) -> String {
    b64url(Sha256::digest(verifier.as_bytes()))
}
