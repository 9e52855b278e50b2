//! Fixed, realistic inputs shared by the host tests, the fuzz targets and the seed generator.

use std::sync::OnceLock;

use edge_auth::core::b64;
use edge_auth::core::config::Config;
use edge_auth::core::session::codec::KeyRing;
use edge_auth::core::session::record::Session;
use edge_auth::core::session::transaction::LoginTransaction;
use serde_json::{json, Value};

/// The fixed clock: 2023-11-14T22:13:20Z.
pub const NOW: u64 = 1_700_000_000;

/// Two 32-byte keys (the first signs, both verify), as in the crate's own tests.
pub const SESSION_KEY_1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";
pub const SESSION_KEY_2: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA";
/// A third key, in no fixture ring (a key rotated out, or another deployment's).
pub const SESSION_KEY_3: &str = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIzNDU";

pub fn session_keys_secret() -> String {
    format!("{SESSION_KEY_1},{SESSION_KEY_2}")
}

pub const ACME_ISSUER: &str = "https://idp.acme.example";
pub const PARTNER_ISSUER: &str = "https://login.partner.example/tenant-1/v2.0/";
pub const LOOPBACK_ISSUER: &str = "http://127.0.0.1:9000";

/// Client secrets the fake platform hands out. The flow oracle checks they never appear in a response or a
/// log line.
pub const ACME_SECRET: &str = "acme-client-secret-8d1f0c6b2e7a4935";
pub const PARTNER_SECRET: &str = "partner-client-secret-3c9e5a71f0b24d68";

/// `AUTH_CONFIG` exactly as the README shows it.
pub const README_CONFIG: &str = r#"{
  "connectors": [
    { "id": "acme", "kind": "oidc", "display_name": "Acme Corp",
      "issuer": "https://idp.acme.example",
      "client_id": "edge", "client_secret_binding": "ACME_CLIENT_SECRET",
      "domains": ["acme.example", "acme.co.example"],
      "scopes": ["groups"],
      "token_endpoint_auth_method": "client_secret_basic" }
  ],
  "session": { "lifetime_seconds": 28800, "idle_timeout_seconds": 3600, "encrypt": true },
  "clock_leeway_seconds": 60,
  "origin": { "url": "https://app.internal.example", "assertion_ttl_seconds": 60 },
  "policies": [
    { "path": "/public/*", "public": true },
    { "path": "/admin/*", "emails": ["boss@acme.example"], "groups": ["acme:f2b7c1d0-admins"] },
    { "path": "/partners/*", "domains": ["acme.co.example"] }
  ]
}"#;

/// The flow target's configuration: one connector of each kind and option the flow distinguishes.
/// - `acme`: the README's connector (client_secret_basic).
/// - `partner`: issuer with a path and a trailing slash, `form_post`, `prompt`, `max_age`, auth method from
///   discovery, a punycode (IDN) domain.
/// - `contoso`: Entra ID, multi-tenant (`organizations`) with one allowed tenant.
/// - `gws`: Google Workspace with a hosted domain.
/// - `fb`: Facebook (OAuth 2.0 + Graph API, no ID token).
/// - `mapped`: claim mapping (`mail`, `display_name`), client_secret_post.
/// - `nosecret`: loopback issuer whose client secret is not set.
///
/// Sessions are encrypted with an idle timeout; the README's access policies apply.
pub const FLOW_CONFIG: &str = r#"{
  "connectors": [
    { "id": "acme", "kind": "oidc", "display_name": "Acme Corp",
      "issuer": "https://idp.acme.example",
      "client_id": "edge", "client_secret_binding": "ACME_CLIENT_SECRET",
      "domains": ["acme.example", "acme.co.example"],
      "scopes": ["groups"],
      "token_endpoint_auth_method": "client_secret_basic" },
    { "id": "partner", "kind": "oidc", "display_name": "Partner Inc",
      "issuer": "https://login.partner.example/tenant-1/v2.0/",
      "client_id": "0f3c2a9e-edge", "client_secret_binding": "PARTNER_SECRET",
      "domains": ["partner.example", "xn--bcher-kva.example"],
      "response_mode": "form_post", "prompt": "login", "max_age": 3600 },
    { "id": "contoso", "kind": "entra", "display_name": "Contoso",
      "tenant": "organizations", "allowed_tenants": ["72f988bf-86f1-41af-91ab-2d7cd011db47"],
      "client_id": "6731de76-14a6-49ae-97bc-6eba6914391e", "client_secret_binding": "ENTRA_SECRET",
      "domains": ["contoso.example"] },
    { "id": "gws", "kind": "google", "client_id": "1234-abc.apps.googleusercontent.com",
      "client_secret_binding": "GOOGLE_SECRET", "domains": ["gws.example"], "hosted_domains": ["gws.example"] },
    { "id": "fb", "kind": "facebook", "client_id": "1234567890", "client_secret_binding": "FB_SECRET",
      "domains": ["fb.example"] },
    { "id": "mapped", "kind": "oidc", "issuer": "https://idp.mapped.example", "client_id": "edge-mapped",
      "client_secret_binding": "MAPPED_SECRET", "domains": ["mapped.example"],
      "claims": { "email": "mail", "name": "display_name" }, "token_endpoint_auth_method": "client_secret_post" },
    { "id": "nosecret", "kind": "oidc",
      "issuer": "http://127.0.0.1:9000/.well-known/openid-configuration",
      "client_id": "edge", "client_secret_binding": "UNSET_SECRET",
      "domains": ["nosecret.example"], "token_endpoint_auth_method": "client_secret_post" }
  ],
  "session": { "lifetime_seconds": 28800, "idle_timeout_seconds": 3600, "encrypt": true },
  "clock_leeway_seconds": 60,
  "policies": [
    { "path": "/public/*", "public": true },
    { "path": "/admin/*", "emails": ["boss@acme.example"], "groups": ["acme:f2b7c1d0-admins"] },
    { "path": "/partners/*", "domains": ["acme.co.example"] }
  ]
}"#;

/// The Entra tenant the `contoso` connector allows.
pub const ENTRA_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// Every client secret the fake platform hands out (binding, value). The flow oracle checks none of them
/// appears in a response or a log line.
pub const CLIENT_SECRETS: [(&str, &str); 6] = [
    ("ACME_CLIENT_SECRET", ACME_SECRET),
    ("PARTNER_SECRET", PARTNER_SECRET),
    ("ENTRA_SECRET", "entra-client-secret-Q~4f9a1c7e2b8d6035"),
    ("GOOGLE_SECRET", "GOCSPX-google-client-secret-5e1a7c"),
    ("FB_SECRET", "facebook-app-secret-0b9c2d4e6f8a1357"),
    ("MAPPED_SECRET", "mapped-client-secret-9a8b7c6d5e4f3210"),
];

pub fn key_ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| KeyRing::from_secret(&session_keys_secret()).expect("fixture SESSION_KEYS"))
}

/// A key ring with only the second key: what a cookie sealed before a rotation is checked against.
pub fn old_key_ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| KeyRing::from_secret(SESSION_KEY_2).expect("fixture key"))
}

pub fn flow_config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| Config::from_json(FLOW_CONFIG).expect("fixture FLOW_CONFIG"))
}

/// One signing key from `tests/fixtures/jws.json` (generated with npm `jose`), with a token it signed.
pub struct FixtureKey {
    pub alg: String,
    pub kid: String,
    pub jwk: Value,
    pub token: String,
    /// Signature length for this key: RSA modulus bytes, 64 (ES256, EdDSA) or 96 (ES384).
    pub signature_len: usize,
}

pub fn fixture_keys() -> &'static [FixtureKey] {
    static KEYS: OnceLock<Vec<FixtureKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let all: Vec<Value> =
            serde_json::from_str(include_str!("../tests/fixtures/jws.json")).expect("tests/fixtures/jws.json");
        all.into_iter()
            .map(|f| {
                let alg = f["alg"].as_str().expect("alg").to_string();
                let jwk = f["jwk"].clone();
                let kid = jwk["kid"].as_str().expect("kid").to_string();
                let signature_len = match alg.as_str() {
                    "ES256" | "EdDSA" => 64,
                    "ES384" => 96,
                    _ => b64::decode(jwk["n"].as_str().expect("n")).expect("n").len(),
                };
                FixtureKey { alg, kid, jwk, token: f["token"].as_str().expect("token").to_string(), signature_len }
            })
            .collect()
    })
}

/// The fixture key as an IdP publishes it: with `use` and `alg`.
pub fn published_jwk(key: &FixtureKey) -> Value {
    let mut jwk = key.jwk.clone();
    jwk["use"] = json!("sig");
    jwk["alg"] = json!(key.alg);
    jwk
}

/// A realistic JWKS: every fixture key.
pub fn realistic_jwks() -> String {
    static JWKS: OnceLock<String> = OnceLock::new();
    JWKS.get_or_init(|| {
        let keys: Vec<Value> = fixture_keys().iter().map(published_jwk).collect();
        json!({ "keys": keys }).to_string()
    })
    .clone()
}

/// A discovery document shaped like the one the dev IdP (`oidc-provider`) serves.
pub fn discovery_doc_value(issuer: &str) -> Value {
    let base = issuer.trim_end_matches('/');
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/auth"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "userinfo_endpoint": format!("{base}/me"),
        "end_session_endpoint": format!("{base}/session/end"),
        "registration_endpoint": format!("{base}/reg"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["form_post", "fragment", "query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_jwt", "client_secret_post", "private_key_jwt", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "offline_access", "profile", "email", "groups"],
        "claims_supported": ["sub", "email", "email_verified", "name", "sid", "auth_time", "iss"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true
    })
}

pub fn discovery_doc(issuer: &str) -> String {
    serde_json::to_string_pretty(&discovery_doc_value(issuer)).expect("json")
}

/// ID-token claims a real IdP would send for `alice@acme.example`, valid at [`NOW`].
pub fn realistic_claims(issuer: &str, client_id: &str, nonce: &str) -> Value {
    json!({
        "iss": issuer, "sub": "248289761001", "aud": client_id, "exp": NOW + 3600, "iat": NOW - 5,
        "auth_time": NOW - 30, "nonce": nonce, "email": "alice@acme.example", "email_verified": true,
        "name": "Alice Example", "sid": "f2b0c6e4-sid", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ"
    })
}

/// A compact JWS with the given header and payload and a signature of `sig`.
pub fn compact_jws(header: &str, payload: &[u8], sig: &[u8]) -> String {
    format!("{}.{}.{}", b64::encode(header), b64::encode(payload), b64::encode(sig))
}

pub const SESSION_COOKIE: &str = "__Host-edge-auth-session";
pub const TX_COOKIE: &str = "__Host-edge-auth-tx";

/// The session a successful login as alice@acme.example yields.
pub fn realistic_session() -> Session {
    Session {
        sub: "248289761001".into(),
        email: "alice@acme.example".into(),
        name: Some("Alice Example".into()),
        connector: "acme".into(),
        iss: ACME_ISSUER.into(),
        iat: NOW - 60,
        exp: NOW - 60 + 28800,
        sid: Some("f2b0c6e4-sid".into()),
        renewed_at: NOW - 60,
        groups: vec!["f2b7c1d0-admins".into()],
    }
}

pub fn realistic_transaction() -> LoginTransaction {
    LoginTransaction {
        connector: "acme".into(),
        state: "k3Jq0m2ZpX9vYwR7tU5sN1bC8dE4fG6hI0jK2lM3nO4".into(),
        nonce: "Tz8yX1wV2uS3rQ4pO5nM6lK7jI8hG9fE0dC1bA2zY3x".into(),
        pkce_verifier: edge_auth::core::secret::Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into()),
        return_to: "/docs/report?q=annual%20report#top".into(),
        redirect_uri: "https://site.example/auth/callback".into(),
        expires_at: NOW + 570,
    }
}

/// A real sealed session cookie value (`v1.<payload>.<tag>`) under the fixture key ring.
pub fn sealed_session_cookie() -> String {
    realistic_session().seal(key_ring(), SESSION_COOKIE)
}

pub fn sealed_transaction_cookie() -> String {
    realistic_transaction().seal(key_ring(), TX_COOKIE)
}
