//! Origin mode: the identity handed to the origin.
//!
//! Authenticated requests are proxied to the configured origin with `X-Auth-Request-Email`,
//! `X-Auth-Request-User` (`connector_id:sub`), `X-Auth-Request-Groups`, `X-Edge-Auth-Connector`,
//! `X-Edge-Auth-Issuer` and `X-Edge-Auth-Assertion`: a short-lived ES256 JWT signed (by WebCrypto) with the
//! key in the Worker secret `ASSERTION_SIGNING_KEY` (an EC P-256 private JWK). The origin verifies it
//! against `GET /auth/jwks.json`. Identity headers sent by the client — of every auth-proxy family an origin
//! may trust, see [`is_identity_header`] — are always removed first.

use std::borrow::Cow;

use jwt_compact::jwk::JsonWebKey;
use sha2::Sha256;

use crate::core::b64;
use crate::core::config::error::ConfigError;
use crate::core::secret::Secret;
use crate::core::session::record::Session;

pub const ASSERTION_KEY_BINDING: &str = "ASSERTION_SIGNING_KEY";
pub const ASSERTION_HEADER: &str = "x-edge-auth-assertion";
pub const EMAIL_HEADER: &str = "x-auth-request-email";
pub const USER_HEADER: &str = "x-auth-request-user";
pub const GROUPS_HEADER: &str = "x-auth-request-groups";
pub const CONNECTOR_HEADER: &str = "x-edge-auth-connector";
pub const ISSUER_HEADER: &str = "x-edge-auth-issuer";
/// The id of the service token a machine client presented (its only identity header besides the user id).
pub const SERVICE_TOKEN_HEADER: &str = "x-edge-auth-service-token";

/// Header-name prefixes of the identity families that auth proxies hand to their origins. Compared
/// case-insensitively with `_` (and any other character but a letter or digit) read as `-` (CGI, Apache, nginx,
/// PHP, WSGI and Rack all map `Remote_User` and `Remote-User` to the same `REMOTE_USER`/`HTTP_REMOTE_USER`;
/// lighttpd also `Remote.User`). A name is stripped when it starts with one
/// of these (space-separated: one string is smaller in the wasm than a table of them). Keep README.md
/// (Origin mode) in step.
pub const STRIPPED_HEADER_PREFIXES: &str = concat!(
    // edge-auth; oauth2-proxy (X-Auth-Request-*); Keycloak Gatekeeper / Louketo (X-Auth-Email, -Userid, -Roles…)
    "x-auth- ",
    "x-edge-auth- ",
    // edge-auth's service-token credentials (Edge-Auth-Client-Id, Edge-Auth-Client-Secret): never to the origin
    "edge-auth- ",
    // oauth2-proxy (GAP-Auth, GAP-Signature)
    "gap- ",
    // Authelia, Apache REMOTE_USER setups (Remote-User, -Email, -Groups, -Name)
    "remote- ",
    // Apache / OpenShift / Kubernetes request-header authentication (X-Remote-User, -Group, -Extra-*)
    "x-remote- ",
    "x-pomerium- ",
    "cf-access- ",
    // Grafana auth proxy and friends
    "x-webauth- ",
    // Google IAP
    "x-goog-authenticated- ",
    "x-goog-iap- ",
    // AWS ALB
    "x-amzn-oidc- ",
    // Azure App Service authentication (Easy Auth)
    "x-ms-client-principal ",
    "x-ms-token- ",
    "x-authentik- ",
    "x-vouch- ",
    // X-Authenticated-User, -Groups, -Userid, -Scope (Kong, ICAP, hand-written proxies)
    "x-authenticated- ",
    // Kong
    "x-consumer- ",
    "x-credential- ",
    "x-anonymous-consumer ",
    // Apache mod_auth_openidc (OIDC_CLAIM_*, OIDC_access_token…)
    "oidc- ",
    // Shibboleth SP
    "shib- ",
    "tailscale-user- ",
    "ngrok-auth- ",
    "teleport- ",
    // caddy-security (X-Token-User-Email, -Subject, -Roles)
    "x-token- ",
    // Client-certificate identities (nginx, HAProxy, Azure ARR)
    "x-ssl-client- ",
    "ssl-client- ",
    "x-client-cert ",
    "x-client-verify ",
    "x-client-dn ",
    "x-arr-clientcert ",
    // API gateways: Envoy/Istio jwt_authn (x-jwt-payload, x-jwt-claim-*), WSO2 API Manager (X-JWT-Assertion)
    "x-jwt- ",
    // Request-target overrides: frameworks behind IIS and some proxies route by these instead of the request
    // line (Symfony/Zend X-Original-URL and X-Rewrite-URL, nginx auth_request X-Original-URI, Envoy's
    // X-Envoy-Original-Path). A client could name /admin in one while the path edge-auth decided on is public.
    "x-original- ",
    "x-rewrite- ",
    "x-envoy-original- ",
);

/// Whole header names of the ad-hoc identity family (`auth_request_set` / forward-auth examples).
pub const STRIPPED_HEADER_NAMES: &str = concat!(
    "x-user ",
    "x-user-id ",
    "x-userid ",
    "x-username ",
    "x-user-email ",
    "x-user-name ",
    "x-user-groups ",
    "x-user-roles ",
    "x-email ",
    "x-groups ",
    "x-roles ",
    "x-preferred-username ",
    // APISIX openid-connect and kong-oidc: the userinfo and the ID token's claims as base64 JSON, unsigned
    "x-userinfo ",
    "x-id-token ",
    // Google Cloud Endpoints, Google API Gateway
    "x-endpoint-api-userinfo ",
    "x-apigateway-api-userinfo ",
    // RFC 7239: host, proto and client address as a proxy saw them (edge-auth sets X-Forwarded-Host/-Proto).
    "forwarded ",
    // Client addresses a proxy would vouch for (origins allow-list by them); the client cannot be the one to say.
    // Cloudflare's own CF-Connecting-IP (and its X-Forwarded-For) stay.
    "x-real-ip ",
    "x-client-ip ",
    "x-cluster-client-ip ",
    "true-client-ip ",
);

/// `X-Forwarded-*` is stripped except these (exact lowercase spellings with `-`): oauth2-proxy, Traefik and
/// Envoy put identities there (`-User`, `-Email`, `-Groups`, `-Preferred-Username`, `-Access-Token`,
/// `-Client-Cert`, `-Tls-Client-Cert`). `-Host` and `-Proto` are then set by edge-auth itself.
const KEPT_FORWARDED: &[&str] = &["x-forwarded-for", "x-forwarded-port", "x-forwarded-prefix"];

/// `name` starts with `prefix` (lowercase, with `-`), case-insensitively and reading every character but a
/// letter or digit as `-`: CGI gateways map `-` and `_` to `_`, and lighttpd (CGI, FastCGI, SCGI) maps every
/// other one too, so `Remote.User`, `Remote+User` and `Remote~User` all arrive as `HTTP_REMOTE_USER` there.
fn starts_with_folded(name: &[u8], prefix: &str) -> bool {
    let prefix = prefix.as_bytes();
    name.len() >= prefix.len()
        && name.iter().zip(prefix).all(
            |(&n, &p)| {
                if n.is_ascii_alphanumeric() {
                    n.to_ascii_lowercase() == p
                } else {
                    p == b'-'
                }
            },
        )
}

/// Headers a client must never be able to set on the way to the origin: the identity families above.
pub fn is_identity_header(name: &str) -> bool {
    let n = name.as_bytes();
    if starts_with_folded(n, "x-forwarded-") {
        return !KEPT_FORWARDED.iter().any(|k| name.eq_ignore_ascii_case(k));
    }
    STRIPPED_HEADER_PREFIXES.split_ascii_whitespace().any(|p| starts_with_folded(n, p))
        || STRIPPED_HEADER_NAMES.split_ascii_whitespace().any(|x| x.len() == n.len() && starts_with_folded(n, x))
}

/// Whether a client's request header goes on to the origin as received: not an identity header, not `Host`
/// (the origin's own), not `Cookie` (forwarded without ours: [`cookie_header_for_origin`]). Any case.
pub fn forwarded_as_received(name: &str) -> bool {
    !(is_identity_header(name) || name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("cookie"))
}

/// Encode a header value so that it is ASCII and unambiguous: everything but letters, digits and
/// `- . _ ~ @ : /` becomes `%XX` (UTF-8 bytes, upper-case hex), `%` itself included. So a literal `%C3%BC`
/// arrives as `%25C3%25BC` and `ü` as `%C3%BC`; `,` (the list separator), `+` (a space to form decoders),
/// quotes, `;` and `=` never appear raw. Decoding with any percent-decoder gives back exactly the input.
pub fn encode_header_value(value: &str) -> String {
    let hex = |n: u8| char::from(if n < 10 { b'0' + n } else { b'A' + n - 10 });
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@' | b':' | b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex(b >> 4));
            out.push(hex(b & 0xf));
        }
    }
    out
}

/// The assertion signing key: the private JWK (for WebCrypto import), its public half and its `kid`.
pub struct AssertionKey {
    /// The private JWK: only ever handed to WebCrypto's `importKey` (`expose` is the place to audit).
    pub private_jwk_json: Secret<String>,
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
        let not_a_jwk = || {
            bad("must be an EC P-256 private key as a JWK (JSON with kty, crv, x, y, d); see scripts/generate-assertion-key.mjs")
        };
        let document = crate::core::json::parse_object(text.trim().as_bytes()).map_err(|_| not_a_jwk())?;
        let m = crate::core::json::Members(&document);
        let member = |name: &str| m.string(name).map_err(|_| not_a_jwk());
        let (kty, crv, x, y, d) = (member("kty")?, member("crv")?, member("x")?, member("y")?, member("d")?);
        if kty != "EC" || crv != "P-256" {
            return Err(bad("must be an EC P-256 key (kty \"EC\", crv \"P-256\")"));
        }
        for (name, value) in [("x", x), ("y", y), ("d", d)] {
            if b64::decode(value).map(|v| v.len()) != Some(32) {
                return Err(bad(&format!("member {name} is not 32 bytes of base64url")));
            }
        }
        // The kid is the public key's RFC 7638 thumbprint (jwt-compact's JWK model computes it).
        let (x_bytes, y_bytes) = (b64::decode(x).unwrap_or_default(), b64::decode(y).unwrap_or_default());
        let public = JsonWebKey::EllipticCurve {
            curve: Cow::Borrowed("P-256"),
            x: Cow::Borrowed(&x_bytes),
            y: Cow::Borrowed(&y_bytes),
            secret: None,
        };
        let kid = b64::encode(public.thumbprint::<Sha256>());
        let public_jwk_json = serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"
        })
        .to_string();
        let private_jwk_json =
            Secret::new(serde_json::json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "d": d }).to_string());
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
        "sub": session.user_id(),
        "email": session.email,
        "name": session.name,
        "connector": session.connector,
        "idp": session.iss,
        "groups": session.qualified_groups(),
        "iat": now,
        "nbf": now.saturating_sub(5),
        "exp": now.saturating_add(ttl),
    });
    format!("{}.{}", b64::encode(header.to_string()), b64::encode(claims.to_string()))
}

/// Who a request forwarded to the origin is for: a signed-in user, or a machine client's service token.
#[derive(Debug, Clone, Copy)]
pub enum Principal<'a> {
    User(&'a Session),
    ServiceToken(&'a str),
}

impl Principal<'_> {
    /// The assertion's signing input ([`signing_input`] for a user, [`token_signing_input`] for a token).
    pub fn signing_input(&self, key: &AssertionKey, issuer: &str, audience: &str, now: u64, ttl: u64) -> String {
        match self {
            Principal::User(session) => signing_input(key, session, issuer, audience, now, ttl),
            Principal::ServiceToken(id) => token_signing_input(key, id, issuer, audience, now, ttl),
        }
    }

    /// The identity headers ([`identity_headers`], [`token_identity_headers`]).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Principal::User(session) => identity_headers(session),
            Principal::ServiceToken(id) => token_identity_headers(id),
        }
    }
}

/// The assertion for a service token: `sub` = `service-token:<id>` and `service_token` = the id; no `email`,
/// `name`, `connector`, `idp` or `groups`, so no origin can take it for a user.
pub fn token_signing_input(key: &AssertionKey, id: &str, issuer: &str, audience: &str, now: u64, ttl: u64) -> String {
    // Written out rather than with `json!` (1.8 KB less wasm); every string goes through serde_json's escaping.
    let s = |v: &str| serde_json::Value::from(v).to_string();
    let header = format!(r#"{{"alg":"ES256","typ":"JWT","kid":{}}}"#, s(&key.kid));
    let claims = format!(
        r#"{{"iss":{},"aud":{},"sub":{},"service_token":{},"iat":{now},"nbf":{},"exp":{}}}"#,
        s(issuer),
        s(audience),
        s(&format!("{}:{id}", crate::core::service_token::SUBJECT_PREFIX)),
        s(id),
        now.saturating_sub(5),
        now.saturating_add(ttl),
    );
    format!("{}.{}", b64::encode(header), b64::encode(claims))
}

/// The identity headers for a service token: `X-Auth-Request-User: service-token:<id>` and
/// `X-Edge-Auth-Service-Token: <id>` (no email, groups, connector or issuer).
pub fn token_identity_headers(id: &str) -> Vec<(&'static str, String)> {
    let user = format!("{}:{id}", crate::core::service_token::SUBJECT_PREFIX);
    vec![(USER_HEADER, encode_header_value(&user)), (SERVICE_TOKEN_HEADER, encode_header_value(id))]
}

/// The identity headers for the origin, every value encoded by [`encode_header_value`].
/// `X-Auth-Request-Groups` (oauth2-proxy's convention: a comma-separated list) is sent when the session has
/// groups; each element is `connector_id:group`, encoded, so that a `,` inside a group cannot split it.
pub fn identity_headers(session: &Session) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(5);
    out.push((EMAIL_HEADER, encode_header_value(&session.email)));
    out.push((USER_HEADER, encode_header_value(&session.user_id())));
    if !session.groups.is_empty() {
        let groups: Vec<String> = session.qualified_groups().iter().map(|g| encode_header_value(g)).collect();
        out.push((GROUPS_HEADER, groups.join(",")));
    }
    out.push((CONNECTOR_HEADER, encode_header_value(&session.connector)));
    out.push((ISSUER_HEADER, encode_header_value(&session.iss)));
    out
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
        assert!(k.private_jwk_json.expose().contains("\"d\""));
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
        let mut s = session();
        s.groups = vec!["admins".into()];
        let input = signing_input(&k, &s, "https://site.example", "https://origin.example", 1000, 60);
        let (h, p) = input.split_once('.').unwrap();
        let header: serde_json::Value = serde_json::from_slice(&b64::decode(h).unwrap()).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&b64::decode(p).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], k.kid);
        assert_eq!(claims["aud"], "https://origin.example");
        assert_eq!(claims["email"], "jürgen@acme.example");
        assert_eq!(claims["exp"], 1060);
        // Identifiers unique across connectors: the user id and the groups carry the connector.
        assert_eq!(claims["sub"], "acme:u1");
        assert_eq!(claims["groups"], serde_json::json!(["acme:admins"]));
        assert_eq!(claims["connector"], "acme");
        assert_eq!(claims["idp"], "https://idp.example");
    }

    #[test]
    fn a_service_token_is_never_a_user() {
        let k = AssertionKey::from_secret(KEY).unwrap();
        let input = token_signing_input(&k, "ci-deploy", "https://site.example", "https://origin.example", 1000, 60);
        let (_, p) = input.split_once('.').unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&b64::decode(p).unwrap()).unwrap();
        assert_eq!(claims["sub"], "service-token:ci-deploy");
        assert_eq!(claims["service_token"], "ci-deploy");
        assert_eq!(
            (claims["iss"].as_str(), claims["aud"].as_str()),
            (Some("https://site.example"), Some("https://origin.example"))
        );
        assert_eq!(
            (claims["iat"].as_u64(), claims["nbf"].as_u64(), claims["exp"].as_u64()),
            (Some(1000), Some(995), Some(1060))
        );
        let (h, _) = input.split_once('.').unwrap();
        let header: serde_json::Value = serde_json::from_slice(&b64::decode(h).unwrap()).unwrap();
        assert_eq!((header["alg"].as_str(), header["kid"].as_str()), (Some("ES256"), Some(k.kid.as_str())));
        let odd = token_signing_input(&k, "x", "https://a\"b", "o", 1, 1);
        let (_, p) = odd.split_once('.').unwrap();
        let odd: serde_json::Value = serde_json::from_slice(&b64::decode(p).unwrap()).unwrap();
        assert_eq!(odd["iss"], "https://a\"b", "escaped");
        for user_claim in ["email", "name", "connector", "idp", "groups"] {
            assert!(claims.get(user_claim).is_none(), "{user_claim}");
        }
        assert_eq!(
            token_identity_headers("ci-deploy"),
            vec![(USER_HEADER, "service-token:ci-deploy".to_string()), (SERVICE_TOKEN_HEADER, "ci-deploy".to_string())]
        );
        let session = session();
        assert!(Principal::User(&session).headers().iter().all(|(name, _)| *name != SERVICE_TOKEN_HEADER));
    }

    /// One header of every stripped family, in the spellings clients use (any case, `_` for `-`).
    const SPOOFABLE: &[&str] = &[
        // API gateways' OIDC/JWT plugins: APISIX and kong-oidc (X-Userinfo, X-ID-Token: claims as base64 JSON,
        // unsigned), Envoy/Istio jwt_authn (x-jwt-payload, claim_to_headers), WSO2 (X-JWT-Assertion), Google
        // Cloud Endpoints and API Gateway
        "X-Userinfo",
        "X-ID-Token",
        "x-jwt-payload",
        "X-Jwt-Claim-Sub",
        "X-JWT-Assertion",
        "X-Endpoint-API-UserInfo",
        "X-Apigateway-Api-Userinfo",
        // request-target overrides and RFC 7239
        "X-Original-URL",
        "X-Original-URI",
        "X-Rewrite-URL",
        "X-Envoy-Original-Path",
        "Forwarded",
        "X-Real-IP",
        "X-Client-IP",
        "X-Cluster-Client-IP",
        "True-Client-IP",
        // ours
        "X-Auth-Request-Email",
        "x-auth-request-user",
        "X-Auth-Request-Groups",
        "X-Auth-Request-Preferred-Username",
        "X-Auth-Request-Access-Token",
        "X-Edge-Auth-Assertion",
        "Edge-Auth-Client-Id",
        "edge_auth_client_secret",
        "X-Edge-Auth-Service-Token",
        "X-Edge-Auth-Connector",
        "x-edge-auth-issuer",
        // oauth2-proxy
        "X-Forwarded-User",
        "X-Forwarded-Email",
        "X-Forwarded-Groups",
        "X-Forwarded-Preferred-Username",
        "X-Forwarded-Access-Token",
        "GAP-Auth",
        "Gap-Signature",
        // Keycloak Gatekeeper / Louketo
        "X-Auth-Email",
        "X-Auth-Userid",
        "X-Auth-Username",
        "X-Auth-Roles",
        "X-Auth-Groups",
        "X-Auth-Subject",
        // Authelia / Apache REMOTE_USER
        "Remote-User",
        "Remote-Email",
        "Remote-Groups",
        "Remote-Name",
        "REMOTE_USER",
        "Remote_User",
        "remote-anything",
        "X-Remote-User",
        "X-Remote-Group",
        "X-Remote-Extra-Scopes",
        "X_REMOTE_USER",
        // Pomerium
        "X-Pomerium-Jwt-Assertion",
        "X-Pomerium-Claim-Email",
        "x-pomerium-claim-groups",
        // Cloudflare Access
        "Cf-Access-Authenticated-User-Email",
        "Cf-Access-Jwt-Assertion",
        "CF_ACCESS_CLIENT_ID",
        // Grafana
        "X-WEBAUTH-USER",
        "X-WebAuth-Email",
        "x_webauth_user",
        // Google IAP
        "X-Goog-Authenticated-User-Email",
        "X-Goog-Authenticated-User-Id",
        "X-Goog-Iap-Jwt-Assertion",
        // AWS ALB
        "X-Amzn-Oidc-Data",
        "x-amzn-oidc-identity",
        "X-Amzn-Oidc-Accesstoken",
        // Azure App Service
        "X-MS-CLIENT-PRINCIPAL",
        "X-MS-CLIENT-PRINCIPAL-NAME",
        "X-MS-CLIENT-PRINCIPAL-ID",
        "X-MS-CLIENT-PRINCIPAL-IDP",
        "X-MS-TOKEN-AAD-ID-TOKEN",
        "X-ARR-ClientCert",
        // authentik, Vouch
        "X-authentik-username",
        "X-Authentik-Email",
        "X-Authentik-Groups",
        "X-Vouch-User",
        "X-Vouch-IdP-Claims-Email",
        // X-Authenticated-*, Kong
        "X-Authenticated-User",
        "X-Authenticated-Groups",
        "X-Authenticated-Userid",
        "X-Consumer-Username",
        "X-Consumer-ID",
        "X-Credential-Identifier",
        "X-Anonymous-Consumer",
        // mod_auth_openidc, Shibboleth, Tailscale, ngrok, Teleport, caddy-security
        "OIDC_CLAIM_email",
        "OIDC-Claim-Sub",
        "OIDC_access_token",
        "Shib-Identity-Provider",
        "Shib-Session-ID",
        "Tailscale-User-Login",
        "Tailscale-User-Name",
        "ngrok-auth-user-email",
        "Teleport-Jwt-Assertion",
        "X-Token-User-Email",
        "X-Token-Subject",
        // client certificates
        "X-SSL-Client-Cert",
        "X-SSL-Client-S-DN",
        "SSL_CLIENT_S_DN",
        "X-Client-Cert",
        "X-Client-Certificate",
        "X-Client-Verify",
        "X-Client-DN",
        "X-Forwarded-Client-Cert",
        "X-Forwarded-Tls-Client-Cert",
        // the ad-hoc family
        "X-User",
        "x_user",
        "X-User-Id",
        "X-Userid",
        "X-Username",
        "X-User-Email",
        "X-Email",
        "X-Groups",
        "X-Roles",
        "X-Preferred-Username",
        // X-Forwarded-Host/Proto are edge-auth's to set; their `_` spellings would merge with ours in CGI
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "X_Forwarded_Host",
        "X_FORWARDED_PROTO",
        "X_Forwarded_For",
    ];

    #[test]
    fn every_identity_family_is_stripped_in_every_spelling() {
        for h in SPOOFABLE {
            assert!(is_identity_header(h), "{h} must be stripped");
            assert!(is_identity_header(&h.to_ascii_uppercase()), "{h} upper case");
            assert!(is_identity_header(&h.to_ascii_lowercase().replace('-', "_")), "{h} with _");
            // lighttpd's CGI/FastCGI/SCGI variable names turn every other header-name character into `_` too.
            for c in [".", "+", "~", "!", "#", "$", "%", "&", "'", "*", "^", "`", "|"] {
                assert!(is_identity_header(&h.replace('-', c)), "{h} with {c}");
            }
        }
        for kept in [
            "x-request-id",
            "accept-language",
            "authorization",
            "x-forwarded-for",
            "cf-connecting-ip",
            "X-Forwarded-Port",
            "x-forwarded-prefix",
            "user-agent",
            "x-user-agent",
            "x-usernames-page",
            "x-emailer",
            "remoteaddr",
            "content-type",
            "cookie",
            "x-csrf-token",
            "x-authorization-hint",
            "x-remote",
            "sec-fetch-site",
        ] {
            assert!(!is_identity_header(kept), "{kept} is not an identity header");
        }
        // Prefixes and names are lowercase with `-`, as the folding expects.
        for p in STRIPPED_HEADER_PREFIXES.split_ascii_whitespace().chain(STRIPPED_HEADER_NAMES.split_ascii_whitespace())
        {
            assert_eq!(p, p.to_ascii_lowercase().replace('_', "-"), "{p}");
        }
        assert!(STRIPPED_HEADER_PREFIXES.split_ascii_whitespace().count() > 30);
    }

    #[test]
    fn identity_headers_are_ascii_qualified_and_unambiguous() {
        let mut s = session();
        s.groups = vec!["admins".into(), "a,b".into(), "Domain Users".into()];
        let headers = identity_headers(&s);
        let get = |n: &str| headers.iter().find(|(h, _)| *h == n).map(|(_, v)| v.as_str());
        assert_eq!(get(EMAIL_HEADER), Some("j%C3%BCrgen@acme.example"));
        assert_eq!(get(USER_HEADER), Some("acme:u1"));
        assert_eq!(get(GROUPS_HEADER), Some("acme:admins,acme:a%2Cb,acme:Domain%20Users"));
        assert_eq!(get(CONNECTOR_HEADER), Some("acme"));
        assert_eq!(get(ISSUER_HEADER), Some("https://idp.example"));
        for (name, value) in &headers {
            assert!(is_identity_header(name), "a client can never send {name}");
            assert!(value.bytes().all(|b| b.is_ascii_graphic()), "{name}: {value}");
        }
        // A literal %C3%BC and a ü are two different addresses, and arrive as two different values.
        let mut literal = session();
        literal.email = "j%C3%BCrgen@acme.example".into();
        let literal_email = identity_headers(&literal).swap_remove(0).1;
        assert_eq!(literal_email, "j%25C3%25BCrgen@acme.example");
        assert_ne!(literal_email, get(EMAIL_HEADER).unwrap());
        // No groups, no groups header.
        assert!(identity_headers(&session()).iter().all(|(h, _)| *h != GROUPS_HEADER));
    }

    fn percent_decode(v: &str) -> Vec<u8> {
        percent_encoding::percent_decode_str(v).collect()
    }

    /// Property: over generated values from an alphabet of the tricky characters, the encoding is ASCII from
    /// the safe set, decodes back to exactly the input (so it is injective), and a list element never
    /// contains the separator.
    #[test]
    fn header_encoding_is_injective() {
        const ALPHABET: &[&str] = &[
            "a",
            "Z",
            "0",
            "%",
            "%2",
            "%C3%BC",
            "%25",
            "ü",
            "\u{0}",
            "\r\n",
            "\t",
            " ",
            "+",
            ",",
            ";",
            "=",
            "\"",
            "'",
            "\\",
            "@",
            ":",
            "/",
            "?",
            "#",
            "&",
            ".",
            "-",
            "_",
            "~",
            "\u{7f}",
            "\u{80}",
            "\u{202E}",
            "\u{FEFF}",
            "\u{10FFFF}",
            "李",
            "<",
            ">",
            "(",
            ")",
            "*",
            "!",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut seen = std::collections::HashMap::new();
        let mut inputs: Vec<String> = ALPHABET.iter().map(|s| s.to_string()).collect();
        for a in ALPHABET {
            for b in ALPHABET {
                inputs.push(format!("{a}{b}"));
            }
        }
        for _ in 0..20_000 {
            let len = (next() % 12) as usize;
            inputs.push((0..len).map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize]).collect());
        }
        for input in inputs {
            let encoded = encode_header_value(&input);
            assert!(
                encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~@:/%".contains(&b)),
                "{input:?} -> {encoded}"
            );
            assert_eq!(percent_decode(&encoded), input.as_bytes(), "{input:?} -> {encoded}");
            assert!(!encoded.contains(','), "a list element never holds the separator");
            if let Some(other) = seen.insert(encoded.clone(), input.clone()) {
                assert_eq!(other, input, "two inputs encode as {encoded}");
            }
        }
    }

    #[test]
    fn our_cookies_do_not_reach_the_origin() {
        assert_eq!(cookie_header_for_origin("a=1; __Host-edge-auth-session=v1.x.y; edge-auth-tx=z; b=2"), "a=1; b=2");
        assert_eq!(cookie_header_for_origin(""), "");
    }

    #[test]
    fn what_reaches_the_origin_as_received() {
        for name in ["accept", "Content-Type", "x-forwarded-for", "authorization", "x-custom"] {
            assert!(forwarded_as_received(name), "{name}");
        }
        for name in ["host", "HOST", "cookie", "Cookie", "x-edge-auth-assertion", "X-Forwarded-User", "remote-user"] {
            assert!(!forwarded_as_received(name), "{name}");
        }
    }
}
