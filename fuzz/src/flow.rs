//! The `callback_flow` target's structured input, the driver that plays it through `Flow::handle` (and the
//! platform's hot path for non-`/auth/` paths), and the oracles checked after every step.
//!
//! Design rule: variant 0 / `false` / empty is always the *realistic* choice, so an all-zero (or empty)
//! input is a complete, successful callback: a genuine login-transaction cookie, `state`/`code`/`iss`
//! that match it, a real discovery document and JWKS, and a token response whose ID token passes every
//! claim check. The fuzzer then mutates away from a working login instead of searching for one.

use std::cell::RefCell;

use arbitrary::Arbitrary;
use edge_auth::core::b64;
use edge_auth::core::config::{Config, Connector, ConnectorKind, EntraTenancy, Protocol, ENTRA_CONSUMERS_TENANT_ID};
use edge_auth::core::flow::{
    forbidden, gate, is_auth_path, unauthenticated, upgrade_to_https, Flow, Gate, GateRequest, IsolateCache,
};
use edge_auth::core::http::{is_navigation, Method, Outcome, Request, Response};
use edge_auth::core::url::transport_of;
use edge_auth::core::oidc::authorize::pkce_challenge;
use edge_auth::core::oidc::id_token::half_hash;
use edge_auth::core::oidc::jwks::{Alg, HashAlg, Jwk};
use edge_auth::core::oidc::logout_token::BACKCHANNEL_LOGOUT_EVENT;
use edge_auth::core::fetch::{FetchError, HttpRequest, HttpResponse};
use edge_auth::core::routing::{normalize_domain, parse_email};
use edge_auth::core::session::codec::Purpose;
use edge_auth::core::session::cookies::{CookieKind, Transport};
use edge_auth::core::session::record::Session;
use edge_auth::core::session::return_to::{return_to_or_root, safe_return_to};
use edge_auth::core::session::revocation::Revocation;
use edge_auth::core::session::transaction::LoginTransaction;
use serde_json::{json, Value};
use url::form_urlencoded;

use crate::fixtures::{
    self, fixture_keys, flow_config, key_ring, old_key_ring, CLIENT_SECRETS, ENTRA_TENANT, NOW, SESSION_KEY_1,
    SESSION_KEY_2,
};
use crate::platform::FakePlatform;
use crate::{Bytes, Text};

/// Steps after the first are capped so one input stays cheap.
pub const MAX_STEPS: usize = 5;
pub const DEFAULT_CODE: &str = "SplxlOBeZQQYbYS6WxSbIA";
/// Generated long values stay above every limit in the code (16 KiB tokens, 4 KiB codes) but below the
/// sizes where each input costs milliseconds of per-byte instrumentation.
pub const MAX_REPEAT: usize = 20_001;
/// OIDC Core A.3's access token; its SHA-256 `at_hash` is `77QmUPtjPfzWtF2AnpK9RQ`.
pub const DEFAULT_ACCESS_TOKEN: &str = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";

// ---- the input -------------------------------------------------------------------------------------

#[derive(Arbitrary, Debug)]
pub struct FlowInput {
    pub first: Step,
    pub idp: IdpScript,
    pub more: Vec<Step>,
    pub rng_seed: u8,
}

#[derive(Arbitrary, Debug)]
pub struct Step {
    pub route: Route,
    pub method: MethodChoice,
    pub site: SiteChoice,
    pub params: Params,
    pub body: BodyChoice,
    pub cookies: Cookies,
    pub origin: OriginChoice,
    pub sec_fetch_site: Option<Text>,
    pub sec_fetch_mode: Option<Text>,
    pub accept: Option<Text>,
    /// Seconds the clock moves before this step (caches expire, transactions and sessions age).
    pub advance: u16,
    /// The back-channel logout token of the standard `/auth/logout/backchannel` request.
    pub logout: LogoutSpec,
}

/// A back-channel logout token (OIDC Back-Channel Logout 1.0 §2.4), realistic by default: signed by the
/// connector's key, `iss`/`aud` of the connector, `iat` now, a fresh `jti`, the logout event and the `sid`
/// of the fixture session.
#[derive(Arbitrary, Debug, Default)]
pub struct LogoutSpec {
    pub connector: ConnectorChoice,
    pub key: u8,
    pub alg: AlgChoice,
    pub kid: KidTweak,
    pub typ: Member,
    pub header_extra: Option<Text>,
    pub iss: StrClaim,
    pub aud: AudClaim,
    pub iat: TimeClaim,
    pub exp: TimeClaim,
    pub jti: StrClaim,
    pub events: Member,
    pub sid: StrClaim,
    pub sub: StrClaim,
    pub nonce: StrClaim,
    pub extra: Option<Text>,
    pub sig: SigChoice,
}

#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Callback,
    Login,
    Me,
    Logout,
    SignedOut,
    /// `/TEXT`: protected content (the platform's hot path, not `Flow::handle`).
    Protected(Text),
    /// `/auth/static/TEXT`
    Static(Text),
    /// `/auth/TEXT`
    Auth(Text),
    /// `/auth`
    AuthBare,
    FrontchannelLogout,
    BackchannelLogout,
    JwksJson,
    /// `TEXT` verbatim after the origin (may carry its own query).
    Raw(Text),
}
pub const ROUTE_VARIANTS: u32 = 13;

#[derive(Arbitrary, Debug)]
pub enum MethodChoice {
    Get,
    Post,
    Head,
    Put,
    Raw(Text),
}
pub const METHOD_VARIANTS: u32 = 5;

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum SiteChoice {
    Https,
    LoopbackHttp,
    PlainHttp,
    HttpsPort,
    Localhost,
}
pub const SITE_VARIANTS: u32 = 5;

impl SiteChoice {
    pub fn origin(self) -> &'static str {
        match self {
            SiteChoice::Https => "https://site.example",
            SiteChoice::LoopbackHttp => "http://127.0.0.1:8787",
            SiteChoice::PlainHttp => "http://site.example",
            SiteChoice::HttpsPort => "https://site.example:8443",
            SiteChoice::Localhost => "http://localhost:8787",
        }
    }
}

#[derive(Arbitrary, Debug)]
pub struct Params {
    pub mode: ParamMode,
    pub extra: Vec<Param>,
}

/// `Standard`: what a browser sends on this route (callback: `state`, `code`, `iss`; login: `email`,
/// `return_to`), then `extra`. `Custom`: `extra` only. `Twice`: the standard ones twice, then `extra`.
#[derive(Arbitrary, Debug)]
pub enum ParamMode {
    Standard,
    Custom,
    Twice,
}

#[derive(Arbitrary, Debug)]
pub struct Param {
    pub key: Key,
    pub value: ParamValue,
}

#[derive(Arbitrary, Debug)]
pub enum Key {
    State,
    Code,
    Iss,
    Error,
    ErrorDescription,
    Email,
    Connector,
    ReturnTo,
    Sid,
    LogoutToken,
    Raw(Text),
}
pub const KEY_VARIANTS: u32 = 11;

#[derive(Arbitrary, Debug)]
pub enum ParamValue {
    Raw(Text),
    /// The `state` of the login transaction the request carries.
    TxState,
    /// The issuer of the transaction's connector.
    Issuer,
    OtherIssuer,
    Empty,
    Repeat {
        byte: u8,
        count: u16,
    },
}

/// For POST: `Standard` sends the parameters as an `application/x-www-form-urlencoded` body; `Raw` is
/// parsed the way the platform parses a form body.
#[derive(Arbitrary, Debug)]
pub enum BodyChoice {
    Standard,
    Raw(Bytes),
}

#[derive(Arbitrary, Debug)]
pub struct Cookies {
    pub mode: CookieMode,
    pub extra: Vec<CookiePart>,
}

/// `Standard`: the cookie jar (what earlier steps set), plus a genuine transaction cookie on the callback
/// and a genuine session cookie on `/auth/me`, logout and protected paths when the jar has none; then
/// `extra`. `Custom`: `extra` only.
#[derive(Arbitrary, Debug)]
pub enum CookieMode {
    Standard,
    Custom,
}

#[derive(Arbitrary, Debug)]
pub enum CookiePart {
    Tx(TxSpec),
    Session(SessionSpec),
    /// Any payload, sealed with the real key under a chosen purpose and name: reaches the JSON decoding
    /// of a cookie that passed the MAC.
    Sealed {
        transaction: bool,
        name: NameChoice,
        payload: Bytes,
    },
    Raw(Text),
    Jar,
}

#[derive(Arbitrary, Debug, Default)]
pub enum NameChoice {
    #[default]
    ForTransport,
    Https,
    Loopback,
    Raw(Text),
}

#[derive(Arbitrary, Debug, Default)]
pub struct TxSpec {
    pub name: NameChoice,
    pub connector: ConnectorChoice,
    pub state: Option<Text>,
    pub nonce: Option<Text>,
    pub verifier: Option<Text>,
    pub return_to: Option<Text>,
    pub redirect_uri: Option<Text>,
    pub expires: TimeChoice,
    /// Sealed with the rotated-out key only (still accepted: it is the ring's second key).
    pub old_key: bool,
}

#[derive(Arbitrary, Debug, Default)]
pub struct SessionSpec {
    pub name: NameChoice,
    pub sub: Option<Text>,
    pub email: Option<Text>,
    pub display_name: Option<Text>,
    pub connector: ConnectorChoice,
    pub iss: Option<Text>,
    pub iat: TimeChoice,
    pub exp: TimeChoice,
    pub sid: Option<Text>,
    pub renewed_at: TimeChoice,
    /// `None`: the fixture session's groups.
    pub groups: Option<Vec<Text>>,
    pub old_key: bool,
}

/// `Default` = `acme`; `Known(i)` = the i-th connector of the configuration (mod their number).
#[derive(Arbitrary, Debug, Default)]
pub enum ConnectorChoice {
    #[default]
    Default,
    Known(u8),
    Raw(Text),
}

#[derive(Arbitrary, Debug, Default, Clone, Copy)]
pub enum TimeChoice {
    #[default]
    Default,
    Rel(i32),
    Abs(u64),
}

#[derive(Arbitrary, Debug)]
pub enum OriginChoice {
    Same,
    Absent,
    Null,
    OtherSite,
    Raw(Text),
}

// ---- the IdP -----------------------------------------------------------------------------------------

/// Replies of the IdP, in order; past the end of a list the last one repeats, and an empty list means
/// "the realistic reply".
#[derive(Arbitrary, Debug, Default)]
pub struct IdpScript {
    pub discovery: Vec<Reply<DiscoverySpec>>,
    pub jwks: Vec<Reply<JwksSpec>>,
    /// Token endpoint replies (OIDC token response, or Facebook's access token).
    pub token: Vec<Reply<TokenSpec>>,
    /// UserInfo (OIDC) or Graph API `/me` (Facebook) replies.
    pub profile: Vec<Reply<ProfileSpec>>,
}

#[derive(Arbitrary, Debug)]
pub enum ProfileSpec {
    Realistic(ProfileTweaks),
    Raw(Bytes),
}

impl Default for ProfileSpec {
    fn default() -> Self {
        ProfileSpec::Realistic(ProfileTweaks::default())
    }
}

#[derive(Arbitrary, Debug, Default)]
pub struct ProfileTweaks {
    /// `sub` (UserInfo) or `id` (Graph API); `Expected` = the ID token's subject.
    pub sub: StrClaim,
    pub email: StrClaim,
    pub email_verified: EvClaim,
    pub name: StrClaim,
    pub extra: Option<Text>,
}

#[derive(Arbitrary, Debug)]
pub enum Reply<T> {
    Ok(T),
    Status { status: u16, body: T },
    Fail(Text),
}

#[derive(Arbitrary, Debug)]
pub enum DiscoverySpec {
    Realistic(DiscoveryTweaks),
    Raw(Bytes),
}

impl Default for DiscoverySpec {
    fn default() -> Self {
        DiscoverySpec::Realistic(DiscoveryTweaks::default())
    }
}

#[derive(Arbitrary, Debug, Default)]
pub struct DiscoveryTweaks {
    pub issuer: IssuerChoice,
    pub authorization_endpoint: Member,
    pub token_endpoint: Member,
    pub jwks_uri: Member,
    pub userinfo_endpoint: Member,
    pub end_session_endpoint: Member,
    pub auth_methods: Option<Vec<Text>>,
    pub pkce_methods: Option<Vec<Text>>,
    pub iss_parameter: Member,
    pub extra: Option<Text>,
}

#[derive(Arbitrary, Debug, Default)]
pub enum IssuerChoice {
    #[default]
    Expected,
    TrailingSlash,
    Other,
    Raw(Text),
    RawJson(Text),
}

/// A JSON member: the realistic value, absent, a string, or raw JSON text.
#[derive(Arbitrary, Debug, Default)]
pub enum Member {
    #[default]
    Default,
    Absent,
    Raw(Text),
    RawJson(Text),
}

#[derive(Arbitrary, Debug)]
pub enum JwksSpec {
    /// The listed keys; empty = every fixture key, as published.
    Realistic(Vec<KeySpec>),
    Raw(Bytes),
}

impl Default for JwksSpec {
    fn default() -> Self {
        JwksSpec::Realistic(Vec::new())
    }
}

#[derive(Arbitrary, Debug)]
pub enum KeySpec {
    Fixture { index: u8, kid: KidTweak, alg: Member, use_: Member, key_ops: Option<Vec<Text>> },
    Rsa { n: Bytes, e: Bytes, kid: Option<Text> },
    Ec { crv: Text, x: Bytes, y: Bytes, kid: Option<Text> },
    Okp { crv: Text, x: Bytes, kid: Option<Text> },
    RawJson(Text),
}

#[derive(Arbitrary, Debug, Default)]
pub enum KidTweak {
    #[default]
    Keep,
    Absent,
    Raw(Text),
    /// The kid of another fixture key.
    Of(u8),
}

#[derive(Arbitrary, Debug)]
pub enum TokenSpec {
    Realistic(TokenTweaks),
    Raw(Bytes),
}

impl Default for TokenSpec {
    fn default() -> Self {
        TokenSpec::Realistic(TokenTweaks::default())
    }
}

#[derive(Arbitrary, Debug, Default)]
pub struct TokenTweaks {
    pub id_token: IdTokenSpec,
    pub access_token: Member,
    pub token_type: Member,
    pub extra: Option<Text>,
}

#[derive(Arbitrary, Debug)]
pub enum IdTokenSpec {
    Jws(JwsSpec),
    /// A token from `tests/fixtures/jws.json` (real signature, claims that fail the checks).
    Fixture(u8),
    Raw(Text),
    Absent,
    RawJson(Text),
}

impl Default for IdTokenSpec {
    fn default() -> Self {
        IdTokenSpec::Jws(JwsSpec::default())
    }
}

#[derive(Arbitrary, Debug, Default)]
pub struct JwsSpec {
    /// Fixture key index (mod 9): 0 = RS256.
    pub key: u8,
    pub alg: AlgChoice,
    pub kid: KidTweak,
    pub typ: Member,
    pub header_extra: Option<Text>,
    pub claims: ClaimsSpec,
    pub sig: SigChoice,
}

#[derive(Arbitrary, Debug, Default)]
pub enum AlgChoice {
    #[default]
    FromKey,
    Named(u8),
    Raw(Text),
}

pub const ALG_NAMES: [&str; 15] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519", "none", "HS256",
    "ES512", "RSA-OAEP", "rs256",
];

#[derive(Arbitrary, Debug, Default)]
pub enum SigChoice {
    /// The right length for the algorithm and key, filled with this byte (forced odd, so never zero).
    #[default]
    Fit,
    FitWith(u8),
    Raw(Bytes),
    Zeros,
}

#[derive(Arbitrary, Debug)]
pub enum ClaimsSpec {
    Realistic(ClaimsTweaks),
    Raw(Bytes),
}

impl Default for ClaimsSpec {
    fn default() -> Self {
        ClaimsSpec::Realistic(ClaimsTweaks::default())
    }
}

#[derive(Arbitrary, Debug, Default)]
pub struct ClaimsTweaks {
    pub iss: StrClaim,
    pub sub: StrClaim,
    pub aud: AudClaim,
    pub exp: TimeClaim,
    pub iat: TimeClaim,
    pub nbf: TimeClaim,
    pub nonce: StrClaim,
    pub azp: StrClaim,
    pub at_hash: HashClaim,
    pub c_hash: HashClaim,
    pub email: StrClaim,
    pub email_verified: EvClaim,
    pub name: StrClaim,
    pub sid: StrClaim,
    pub auth_time: TimeClaim,
    /// Entra's tenant id (default: the allowed tenant for Entra, absent otherwise).
    pub tid: StrClaim,
    /// Google's hosted domain (default: the connector's first hosted domain, absent otherwise).
    pub hd: StrClaim,
    pub preferred_username: StrClaim,
    pub upn: StrClaim,
    pub extra: Option<Text>,
}

/// `Expected` = what the checks expect (issuer, nonce, client_id for `azp`).
#[derive(Arbitrary, Debug, Default)]
pub enum StrClaim {
    #[default]
    Default,
    Absent,
    Expected,
    Raw(Text),
    RawJson(Text),
    Long(u16),
}

#[derive(Arbitrary, Debug, Default)]
pub enum AudClaim {
    #[default]
    Default,
    Absent,
    List {
        others: Vec<Text>,
        with_client: bool,
    },
    RawJson(Text),
}

#[derive(Arbitrary, Debug, Default)]
pub enum TimeClaim {
    #[default]
    Default,
    Absent,
    Rel(i32),
    Float {
        rel: i32,
        frac: u8,
    },
    RawJson(Text),
}

#[derive(Arbitrary, Debug, Default)]
pub enum HashClaim {
    #[default]
    Default,
    Correct,
    Absent,
    Raw(Text),
}

#[derive(Arbitrary, Debug, Default)]
pub enum EvClaim {
    #[default]
    Default,
    False,
    StringTrue,
    StringFalse,
    Absent,
    RawJson(Text),
}

// ---- JSON text with holes --------------------------------------------------------------------------

/// A JSON object written member by member, so raw (possibly invalid) JSON can be spliced in.
#[derive(Default)]
struct Obj {
    members: Vec<(String, String)>,
}

impl Obj {
    fn raw(&mut self, key: &str, json_text: impl Into<String>) {
        self.members.push((key.to_string(), json_text.into()));
    }

    fn value(&mut self, key: &str, v: &Value) {
        self.raw(key, v.to_string());
    }

    fn string(&mut self, key: &str, s: &str) {
        self.value(key, &Value::String(s.to_string()));
    }

    /// A member with a realistic default (`None` = absent by default).
    fn member(&mut self, key: &str, m: &Member, default: Option<Value>) {
        match m {
            Member::Default => {
                if let Some(v) = default {
                    self.value(key, &v);
                }
            }
            Member::Absent => {}
            Member::Raw(t) => self.string(key, t.as_str()),
            Member::RawJson(t) => self.raw(key, t.as_str()),
        }
    }

    /// A string claim: `default` when `Default`, `expected` when `Expected`.
    fn claim(&mut self, key: &str, claim: &StrClaim, default: Option<&str>, expected: &str) {
        match claim {
            StrClaim::Default => {
                if let Some(d) = default {
                    self.string(key, d)
                }
            }
            StrClaim::Absent => {}
            StrClaim::Expected => self.string(key, expected),
            StrClaim::Raw(t) => self.string(key, t.as_str()),
            StrClaim::RawJson(t) => self.raw(key, t.as_str()),
            StrClaim::Long(n) => self.string(key, &"x".repeat(usize::from(*n) % MAX_REPEAT)),
        }
    }

    fn email_verified(&mut self, claim: &EvClaim) {
        match claim {
            EvClaim::Default => self.raw("email_verified", "true"),
            EvClaim::False => self.raw("email_verified", "false"),
            EvClaim::StringTrue => self.raw("email_verified", "\"true\""),
            EvClaim::StringFalse => self.raw("email_verified", "\"false\""),
            EvClaim::Absent => {}
            EvClaim::RawJson(t) => self.raw("email_verified", t.as_str()),
        }
    }

    fn finish(self, extra: Option<&Text>) -> String {
        let mut parts: Vec<String> =
            self.members.into_iter().map(|(k, v)| format!("{}:{v}", Value::String(k))).collect();
        if let Some(e) = extra {
            parts.push(e.0.clone());
        }
        format!("{{{}}}", parts.join(","))
    }
}

// ---- the IdP ---------------------------------------------------------------------------------------

/// What a realistic IdP for `connector` says.
pub struct IdpProfile {
    /// `issuer` in its discovery document (Entra multi-tenant: the `{tenantid}` template).
    pub discovery_issuer: String,
    /// `iss` in its ID tokens.
    pub token_iss: String,
    /// Whether it sends RFC 9207 `iss` on the authorization response.
    pub iss_param: bool,
    pub tid: Option<String>,
    pub hd: Option<String>,
    pub email: String,
    pub email_claim: String,
    pub name_claim: String,
    pub facebook: bool,
}

pub fn idp_profile(connector: &Connector) -> IdpProfile {
    let user = match connector.id.as_str() {
        "acme" => "alice",
        "partner" => "bob",
        "contoso" => "dana",
        "gws" => "gwen",
        "fb" => "finn",
        _ => "carol",
    };
    let email = format!("{user}@{}", connector.domains.first().map(String::as_str).unwrap_or("example.com"));
    let mut p = IdpProfile {
        discovery_issuer: connector.issuer.clone(),
        token_iss: connector.issuer.clone(),
        iss_param: true,
        tid: None,
        hd: None,
        email,
        email_claim: "email".into(),
        name_claim: "name".into(),
        facebook: false,
    };
    match &connector.protocol {
        Protocol::OpenIdConnect { claims, hosted_domains, entra } => {
            p.email_claim = claims.email.clone();
            p.name_claim = claims.name.clone();
            p.hd = hosted_domains.first().cloned();
            if let Some(e) = entra {
                p.iss_param = false;
                let tenant = match &e.tenancy {
                    EntraTenancy::Multi { allowed_tenants } => {
                        p.discovery_issuer = format!("{}/{{tenantid}}/v2.0", e.authority);
                        allowed_tenants.first().cloned().unwrap_or_else(|| ENTRA_TENANT.to_string())
                    }
                    EntraTenancy::Consumers => ENTRA_CONSUMERS_TENANT_ID.to_string(),
                    EntraTenancy::Single { .. } => ENTRA_TENANT.to_string(),
                };
                if !matches!(e.tenancy, EntraTenancy::Multi { .. }) {
                    p.discovery_issuer = format!("{}/{tenant}/v2.0", e.authority);
                }
                p.token_iss = format!("{}/{tenant}/v2.0", e.authority);
                p.tid = Some(tenant);
            }
        }
        Protocol::Facebook { .. } => {
            p.iss_param = false;
            p.facebook = true;
        }
    }
    p
}

/// What the IdP knows about the login in progress (set by the driver before each step).
#[derive(Default)]
struct IdpCtx {
    connector: usize,
    nonce: String,
    now: u64,
    counts: [usize; 4],
    last_token_body: Option<Vec<u8>>,
    last_id_token_sub: Option<String>,
}

fn pick<T>(list: &[Reply<T>], n: usize) -> Option<&Reply<T>> {
    list.get(n).or(list.last())
}

fn reply<T>(r: Option<&Reply<T>>, body: impl FnOnce(Option<&T>) -> Vec<u8>) -> Result<HttpResponse, FetchError> {
    match r {
        None => Ok(HttpResponse::new(200, body(None))),
        Some(Reply::Ok(t)) => Ok(HttpResponse::new(200, body(Some(t)))),
        Some(Reply::Status { status, body: t }) => Ok(HttpResponse::new(*status, body(Some(t)))),
        Some(Reply::Fail(t)) => Err(FetchError(t.0.clone())),
    }
}

fn respond(
    script: &IdpScript,
    config: &Config,
    ctx: &RefCell<IdpCtx>,
    req: &HttpRequest,
) -> Result<HttpResponse, FetchError> {
    let mut ctx = ctx.borrow_mut();
    let connector = config.connectors.get(ctx.connector).or(config.connectors.first()).expect("connectors");
    let profile = idp_profile(connector);
    if req.method == "POST" {
        let n = ctx.counts[2];
        ctx.counts[2] += 1;
        let code = req
            .body
            .as_deref()
            .and_then(|b| form_urlencoded::parse(b.as_bytes()).find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()))
            .unwrap_or_default();
        let mut sub = None;
        let r = reply(pick(&script.token, n), |t| token_body(t, connector, &profile, &ctx, &code, &mut sub));
        ctx.last_id_token_sub = sub;
        if let Ok(resp) = &r {
            ctx.last_token_body = Some(resp.body.clone());
        }
        return r;
    }
    if let Some(c) = config.connectors.iter().find(|c| c.discovery_url() == req.url) {
        let n = ctx.counts[0];
        ctx.counts[0] += 1;
        return reply(pick(&script.discovery, n), |d| discovery_body(d, c));
    }
    if req.headers.iter().any(|(k, _)| *k == "authorization") {
        let n = ctx.counts[3];
        ctx.counts[3] += 1;
        let sub = ctx.last_id_token_sub.clone().unwrap_or_else(|| "248289761001".into());
        return reply(pick(&script.profile, n), |p| profile_body(p, &profile, &sub));
    }
    let n = ctx.counts[1];
    ctx.counts[1] += 1;
    reply(pick(&script.jwks, n), jwks_body)
}

fn discovery_body(spec: Option<&DiscoverySpec>, connector: &Connector) -> Vec<u8> {
    let default = DiscoveryTweaks::default();
    let t = match spec {
        Some(DiscoverySpec::Raw(b)) => return b.0.clone(),
        Some(DiscoverySpec::Realistic(t)) => t,
        None => &default,
    };
    let profile = idp_profile(connector);
    let issuer = profile.discovery_issuer.as_str();
    let mut doc = fixtures::discovery_doc_value(&connector.issuer);
    if !profile.iss_param {
        doc["authorization_response_iss_parameter_supported"] = Value::Null;
    }
    let mut o = Obj::default();
    match &t.issuer {
        IssuerChoice::Expected => o.string("issuer", issuer),
        IssuerChoice::TrailingSlash => o.string("issuer", &format!("{issuer}/")),
        IssuerChoice::Other => o.string("issuer", "https://evil.example"),
        IssuerChoice::Raw(s) => o.string("issuer", s.as_str()),
        IssuerChoice::RawJson(s) => o.raw("issuer", s.as_str()),
    }
    for (key, m) in [
        ("authorization_endpoint", &t.authorization_endpoint),
        ("token_endpoint", &t.token_endpoint),
        ("jwks_uri", &t.jwks_uri),
        ("userinfo_endpoint", &t.userinfo_endpoint),
        ("end_session_endpoint", &t.end_session_endpoint),
        ("authorization_response_iss_parameter_supported", &t.iss_parameter),
    ] {
        o.member(key, m, doc.get(key).filter(|v| !v.is_null()).cloned());
    }
    let list = |l: &Vec<Text>| Value::Array(l.iter().map(|s| Value::String(s.0.clone())).collect());
    match &t.auth_methods {
        None => o.value("token_endpoint_auth_methods_supported", &doc["token_endpoint_auth_methods_supported"]),
        Some(l) => o.value("token_endpoint_auth_methods_supported", &list(l)),
    }
    match &t.pkce_methods {
        None => o.value("code_challenge_methods_supported", &doc["code_challenge_methods_supported"]),
        Some(l) => o.value("code_challenge_methods_supported", &list(l)),
    }
    for key in ["response_types_supported", "id_token_signing_alg_values_supported", "scopes_supported"] {
        o.value(key, &doc[key]);
    }
    o.finish(t.extra.as_ref()).into_bytes()
}

fn jwks_body(spec: Option<&JwksSpec>) -> Vec<u8> {
    let keys = match spec {
        Some(JwksSpec::Raw(b)) => return b.0.clone(),
        Some(JwksSpec::Realistic(keys)) if !keys.is_empty() => keys,
        _ => return fixtures::realistic_jwks().into_bytes(),
    };
    let fixtures = fixture_keys();
    let fixture = |i: u8| &fixtures[usize::from(i) % fixtures.len()];
    let kid_member = |o: &mut Obj, kid: &Option<Text>| {
        if let Some(k) = kid {
            o.string("kid", k.as_str());
        }
    };
    let rendered: Vec<String> = keys
        .iter()
        .map(|k| match k {
            KeySpec::Fixture { index, kid, alg, use_, key_ops } => {
                let f = fixture(*index);
                let mut o = Obj::default();
                if let Some(map) = f.jwk.as_object() {
                    for (name, v) in map {
                        if name != "kid" {
                            o.value(name, v);
                        }
                    }
                }
                match kid {
                    KidTweak::Keep => o.string("kid", &f.kid),
                    KidTweak::Absent => {}
                    KidTweak::Raw(t) => o.string("kid", t.as_str()),
                    KidTweak::Of(i) => o.string("kid", &fixture(*i).kid),
                }
                o.member("alg", alg, Some(json!(f.alg)));
                o.member("use", use_, Some(json!("sig")));
                if let Some(ops) = key_ops {
                    o.value("key_ops", &Value::Array(ops.iter().map(|s| json!(s.0)).collect()));
                }
                o.finish(None)
            }
            KeySpec::Rsa { n, e, kid } => {
                let mut o = Obj::default();
                o.string("kty", "RSA");
                o.string("n", &b64::encode(&n.0));
                o.string("e", &b64::encode(&e.0));
                kid_member(&mut o, kid);
                o.finish(None)
            }
            KeySpec::Ec { crv, x, y, kid } => {
                let mut o = Obj::default();
                o.string("kty", "EC");
                o.string("crv", crv.as_str());
                o.string("x", &b64::encode(&x.0));
                o.string("y", &b64::encode(&y.0));
                kid_member(&mut o, kid);
                o.finish(None)
            }
            KeySpec::Okp { crv, x, kid } => {
                let mut o = Obj::default();
                o.string("kty", "OKP");
                o.string("crv", crv.as_str());
                o.string("x", &b64::encode(&x.0));
                kid_member(&mut o, kid);
                o.finish(None)
            }
            KeySpec::RawJson(t) => t.0.clone(),
        })
        .collect();
    format!("{{\"keys\":[{}]}}", rendered.join(",")).into_bytes()
}

fn token_body(
    spec: Option<&TokenSpec>,
    connector: &Connector,
    profile: &IdpProfile,
    ctx: &IdpCtx,
    code: &str,
    sub_out: &mut Option<String>,
) -> Vec<u8> {
    let default = TokenTweaks::default();
    let t = match spec {
        Some(TokenSpec::Raw(b)) => return b.0.clone(),
        Some(TokenSpec::Realistic(t)) => t,
        None => &default,
    };
    let access_token: Option<String> = match &t.access_token {
        Member::Default => Some(DEFAULT_ACCESS_TOKEN.to_string()),
        Member::Raw(s) => Some(s.0.clone()),
        Member::Absent | Member::RawJson(_) => None,
    };
    let mut o = Obj::default();
    o.member("access_token", &t.access_token, Some(json!(DEFAULT_ACCESS_TOKEN)));
    if profile.facebook {
        o.member("token_type", &t.token_type, Some(json!("bearer")));
        o.raw("expires_in", "5183944");
        return o.finish(t.extra.as_ref()).into_bytes();
    }
    o.raw("expires_in", "3600");
    o.member("token_type", &t.token_type, Some(json!("Bearer")));
    o.string("scope", "openid profile email groups");
    match &t.id_token {
        IdTokenSpec::Jws(j) => {
            let (token, sub) = build_jws(j, connector, profile, ctx, code, access_token.as_deref());
            *sub_out = sub;
            o.string("id_token", &token)
        }
        IdTokenSpec::Fixture(i) => {
            let f = fixture_keys();
            o.string("id_token", &f[usize::from(*i) % f.len()].token)
        }
        IdTokenSpec::Raw(s) => o.string("id_token", s.as_str()),
        IdTokenSpec::Absent => {}
        IdTokenSpec::RawJson(s) => o.raw("id_token", s.as_str()),
    }
    o.finish(t.extra.as_ref()).into_bytes()
}

fn profile_body(spec: Option<&ProfileSpec>, profile: &IdpProfile, sub: &str) -> Vec<u8> {
    let default = ProfileTweaks::default();
    let t = match spec {
        Some(ProfileSpec::Raw(b)) => return b.0.clone(),
        Some(ProfileSpec::Realistic(t)) => t,
        None => &default,
    };
    let mut o = Obj::default();
    if profile.facebook {
        o.claim("id", &t.sub, Some("10229384756102938"), sub);
    } else {
        o.claim("sub", &t.sub, Some(sub), sub);
    }
    o.claim("name", &t.name, Some("Alice Example"), "");
    o.claim("email", &t.email, Some(&profile.email), &profile.email);
    if !profile.facebook {
        o.email_verified(&t.email_verified);
    }
    o.finish(t.extra.as_ref()).into_bytes()
}

fn signature_len(alg: &str, rsa_len: usize) -> usize {
    match alg {
        "ES256" | "EdDSA" | "Ed25519" => 64,
        "ES384" => 96,
        _ => rsa_len,
    }
}

/// The compact ID token, and its `sub` when the claims were built here.
fn build_jws(
    j: &JwsSpec,
    connector: &Connector,
    profile: &IdpProfile,
    ctx: &IdpCtx,
    code: &str,
    access_token: Option<&str>,
) -> (String, Option<String>) {
    let keys = fixture_keys();
    let key = &keys[usize::from(j.key) % keys.len()];
    let alg: String = match &j.alg {
        AlgChoice::FromKey => key.alg.clone(),
        AlgChoice::Named(i) => ALG_NAMES[usize::from(*i) % ALG_NAMES.len()].to_string(),
        AlgChoice::Raw(t) => t.0.clone(),
    };
    let mut h = Obj::default();
    h.string("alg", &alg);
    match &j.kid {
        KidTweak::Keep => h.string("kid", &key.kid),
        KidTweak::Absent => {}
        KidTweak::Raw(t) => h.string("kid", t.as_str()),
        KidTweak::Of(i) => h.string("kid", &keys[usize::from(*i) % keys.len()].kid),
    }
    h.member("typ", &j.typ, Some(json!("JWT")));
    let header = h.finish(j.header_extra.as_ref());
    let hash = Alg::from_jose(&alg).map(Alg::hash).unwrap_or(HashAlg::Sha256);
    let (payload, sub) = match &j.claims {
        ClaimsSpec::Raw(b) => (b.0.clone(), None),
        ClaimsSpec::Realistic(c) => {
            let (json, sub) = claims_json(c, connector, profile, ctx, code, access_token, hash);
            (json.into_bytes(), sub)
        }
    };
    let sig = match &j.sig {
        SigChoice::Fit => vec![0x5a; signature_len(&alg, key.signature_len)],
        SigChoice::FitWith(b) => vec![*b | 1; signature_len(&alg, key.signature_len)],
        SigChoice::Raw(b) => b.0.clone(),
        SigChoice::Zeros => vec![0; signature_len(&alg, key.signature_len)],
    };
    (fixtures::compact_jws(&header, &payload, &sig), sub)
}

fn claims_json(
    c: &ClaimsTweaks,
    connector: &Connector,
    profile: &IdpProfile,
    ctx: &IdpCtx,
    code: &str,
    access_token: Option<&str>,
    hash: HashAlg,
) -> (String, Option<String>) {
    let mut o = Obj::default();
    let now = ctx.now as i64;
    o.claim("iss", &c.iss, Some(&profile.token_iss), &profile.token_iss);
    let sub = match &c.sub {
        StrClaim::Default | StrClaim::Expected => Some("248289761001".to_string()),
        StrClaim::Raw(t) => Some(t.0.clone()),
        StrClaim::Long(n) => Some("x".repeat(usize::from(*n) % MAX_REPEAT)),
        StrClaim::Absent | StrClaim::RawJson(_) => None,
    };
    o.claim("sub", &c.sub, Some("248289761001"), "248289761001");
    match &c.aud {
        AudClaim::Default => o.string("aud", &connector.client_id),
        AudClaim::Absent => {}
        AudClaim::List { others, with_client } => {
            let mut l: Vec<Value> = others.iter().map(|s| json!(s.0)).collect();
            if *with_client {
                l.insert(0, json!(connector.client_id));
            }
            o.value("aud", &Value::Array(l));
        }
        AudClaim::RawJson(t) => o.raw("aud", t.as_str()),
    }
    let time = |o: &mut Obj, key: &str, claim: &TimeClaim, default: Option<i64>| match claim {
        TimeClaim::Default => {
            if let Some(d) = default {
                o.raw(key, (now + d).to_string())
            }
        }
        TimeClaim::Absent => {}
        TimeClaim::Rel(r) => o.raw(key, (now + i64::from(*r)).to_string()),
        TimeClaim::Float { rel, frac } => o.raw(key, format!("{}.{frac}", now + i64::from(*rel))),
        TimeClaim::RawJson(t) => o.raw(key, t.as_str()),
    };
    time(&mut o, "exp", &c.exp, Some(3600));
    time(&mut o, "iat", &c.iat, Some(-5));
    time(&mut o, "nbf", &c.nbf, None);
    time(&mut o, "auth_time", &c.auth_time, Some(-30));
    o.claim("nonce", &c.nonce, Some(&ctx.nonce), &ctx.nonce);
    o.claim("azp", &c.azp, None, &connector.client_id);
    let hash_claim = |o: &mut Obj, key: &str, claim: &HashClaim, value: Option<&str>, default_on: bool| match claim {
        HashClaim::Default if default_on => {
            if let Some(v) = value {
                o.string(key, &half_hash(hash, v))
            }
        }
        HashClaim::Default => {}
        HashClaim::Correct => o.string(key, &half_hash(hash, value.unwrap_or(""))),
        HashClaim::Absent => {}
        HashClaim::Raw(t) => o.string(key, t.as_str()),
    };
    hash_claim(&mut o, "at_hash", &c.at_hash, access_token, true);
    hash_claim(&mut o, "c_hash", &c.c_hash, Some(code), false);
    o.claim(&profile.email_claim, &c.email, Some(&profile.email), &profile.email);
    o.email_verified(&c.email_verified);
    o.claim(&profile.name_claim, &c.name, Some("Alice Example"), "");
    o.claim("sid", &c.sid, Some("f2b0c6e4-sid"), "");
    let tid = profile.tid.clone().unwrap_or_else(|| ENTRA_TENANT.to_string());
    o.claim("tid", &c.tid, profile.tid.as_deref(), &tid);
    let hd = profile.hd.clone().unwrap_or_else(|| "gws.example".to_string());
    o.claim("hd", &c.hd, profile.hd.as_deref(), &hd);
    o.claim("preferred_username", &c.preferred_username, None, &profile.email);
    o.claim("upn", &c.upn, None, &profile.email);
    (o.finish(c.extra.as_ref()), sub)
}

// ---- driving the flow ------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct StepReport {
    pub url: Option<String>,
    pub outcome: Option<Outcome>,
}

/// Status, headers and body of what the visitor gets (for a static page: its status and headers, with the
/// rendered fallback's body).
pub fn visible(outcome: &Outcome) -> Option<Response> {
    match outcome {
        Outcome::Respond(r) => Some(r.clone()),
        Outcome::ServePublicAsset { status, headers, fallback, .. } => {
            Some(Response { status: *status, headers: headers.clone(), body: fallback.body.clone() })
        }
        Outcome::PassThrough => None,
    }
}

impl StepReport {
    pub fn response(&self) -> Option<Response> {
        self.outcome.as_ref().and_then(visible)
    }

    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            Some(Outcome::PassThrough) => Some(0),
            Some(o) => visible(o).map(|r| r.status),
            None => None,
        }
    }

    pub fn error_code(&self) -> Option<String> {
        self.response().and_then(|r| r.header("x-edge-auth-error").map(str::to_string))
    }

    pub fn location(&self) -> Option<String> {
        self.response().and_then(|r| r.header("location").map(str::to_string))
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.response()
            .map(|r| r.headers.iter().filter(|(k, _)| *k == "set-cookie").map(|(_, v)| v.clone()).collect())
            .unwrap_or_default()
    }

    /// Whether this step issued a session cookie.
    pub fn signed_in(&self) -> bool {
        self.set_cookies()
            .iter()
            .any(|c| cookie_pair(c).is_some_and(|(n, v)| n.ends_with("edge-auth-session") && !v.is_empty()))
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub steps: Vec<StepReport>,
    pub log: Vec<String>,
    pub fetches: Vec<String>,
}

fn cookie_pair(set_cookie: &str) -> Option<(&str, &str)> {
    set_cookie.split(';').next()?.split_once('=')
}

fn connector_named(config: &Config, c: &ConnectorChoice) -> String {
    match c {
        ConnectorChoice::Default => "acme".into(),
        ConnectorChoice::Known(i) => {
            let n = config.connectors.len().max(1);
            config.connectors.get(usize::from(*i) % n).map(|c| c.id.clone()).unwrap_or_default()
        }
        ConnectorChoice::Raw(t) => t.0.clone(),
    }
}

fn time_of(t: TimeChoice, now: u64, default_rel: i64) -> u64 {
    match t {
        TimeChoice::Default => now.saturating_add_signed(default_rel),
        TimeChoice::Rel(r) => now.saturating_add_signed(i64::from(r)),
        TimeChoice::Abs(a) => a,
    }
}

fn name_of(n: &NameChoice, transport: Transport, kind: CookieKind) -> String {
    match n {
        NameChoice::ForTransport => kind.name(transport).to_string(),
        NameChoice::Https => kind.name(Transport::Https).to_string(),
        NameChoice::Loopback => kind.name(Transport::LoopbackHttp).to_string(),
        NameChoice::Raw(t) => t.0.clone(),
    }
}

fn seal_tx(spec: &TxSpec, config: &Config, origin: &str, transport: Transport, now: u64) -> String {
    let d = fixtures::realistic_transaction();
    let text = |t: &Option<Text>, default: String| t.as_ref().map(|t| t.0.clone()).unwrap_or(default);
    let tx = LoginTransaction {
        connector: connector_named(config, &spec.connector),
        state: text(&spec.state, d.state),
        nonce: text(&spec.nonce, d.nonce),
        pkce_verifier: edge_auth::core::secret::Secret::new(text(&spec.verifier, d.pkce_verifier.expose().clone())),
        return_to: text(&spec.return_to, d.return_to),
        redirect_uri: text(&spec.redirect_uri, format!("{origin}/auth/callback")),
        expires_at: time_of(spec.expires, now, 570),
    };
    let name = name_of(&spec.name, transport, CookieKind::LoginTransaction);
    let ring = if spec.old_key { old_key_ring() } else { key_ring() };
    format!("{name}={}", tx.seal(ring, &name))
}

fn seal_session(spec: &SessionSpec, config: &Config, transport: Transport, now: u64) -> String {
    let d = fixtures::realistic_session();
    let text = |t: &Option<Text>, default: String| t.as_ref().map(|t| t.0.clone()).unwrap_or(default);
    let s = Session {
        sub: text(&spec.sub, d.sub),
        email: text(&spec.email, d.email),
        name: Some(text(&spec.display_name, d.name.unwrap_or_default())),
        connector: connector_named(config, &spec.connector),
        iss: text(&spec.iss, d.iss),
        iat: time_of(spec.iat, now, -60),
        exp: time_of(spec.exp, now, 28800 - 60),
        sid: spec.sid.as_ref().map(|t| t.0.clone()).or(d.sid),
        renewed_at: time_of(spec.renewed_at, now, -60),
        groups: spec.groups.as_ref().map(|g| g.iter().map(|t| t.0.clone()).collect()).unwrap_or(d.groups),
    };
    let name = name_of(&spec.name, transport, CookieKind::Session);
    let ring = if spec.old_key { old_key_ring() } else { key_ring() };
    format!("{name}={}", s.seal(ring, &name))
}

fn method_str(m: &MethodChoice) -> &str {
    match m {
        MethodChoice::Get => "GET",
        MethodChoice::Post => "POST",
        MethodChoice::Head => "HEAD",
        MethodChoice::Put => "PUT",
        MethodChoice::Raw(t) => t.as_str(),
    }
}

/// Play `input` through the flow, checking the oracles after each step. Panics when an oracle fails.
pub fn run(input: &FlowInput) -> Report {
    let config = flow_config();
    let ring = key_ring();
    let ctx = RefCell::new(IdpCtx { now: NOW, ..IdpCtx::default() });
    let platform =
        FakePlatform::new(Box::new(|req| respond(&input.idp, config, &ctx, req))).with_rng_seed(input.rng_seed);
    let providers = IsolateCache::default();
    let flow = Flow { config, keys: ring, platform: &platform, providers: &providers };
    let mut jar: Vec<(String, String)> = Vec::new();
    let mut report = Report::default();
    let mut now = NOW;
    for (step_no, step) in std::iter::once(&input.first).chain(input.more.iter().take(MAX_STEPS - 1)).enumerate() {
        now = now.saturating_add(u64::from(step.advance));
        platform.now.set(now);
        {
            let mut c = ctx.borrow_mut();
            c.now = now;
            c.last_token_body = None;
            c.last_id_token_sub = None;
        }
        let log_start = platform.log.borrow().len();
        let verified_start = platform.verified.borrow().len();
        let revocations_start = platform.revocations.borrow().len();
        let r = run_step(step, step_no, &flow, &ctx, &mut jar, now);
        // What the Workers shell does after answering: the background refreshes of stale documents (their
        // log lines are checked with the step's).
        crate::block_on(flow.refresh_due());
        if let (Some(outcome), Some(url)) = (&r.outcome, &r.url) {
            let log = platform.log.borrow();
            let verified = platform.verified.borrow();
            let revocations = platform.revocations.borrow();
            let oracle = Oracle {
                revocations: revocations.get(revocations_start..).unwrap_or_default(),
                input,
                config,
                url,
                step,
                now,
                log: log.get(log_start..).unwrap_or_default(),
                verified: verified.get(verified_start..).unwrap_or_default(),
                tx: r.tx_seen.as_ref(),
                last_token_body: ctx.borrow().last_token_body.clone(),
            };
            oracle.check(outcome);
        }
        report.steps.push(StepReport { url: r.url, outcome: r.outcome });
    }
    report.log = platform.log.borrow().clone();
    report.fetches = platform.sent.borrow().iter().map(|r| format!("{} {}", r.method, r.url)).collect();
    report
}

struct StepRun {
    url: Option<String>,
    outcome: Option<Outcome>,
    tx_seen: Option<LoginTransaction>,
}

fn run_step(
    step: &Step,
    step_no: usize,
    flow: &Flow<'_, FakePlatform<'_>>,
    ctx: &RefCell<IdpCtx>,
    jar: &mut Vec<(String, String)>,
    now: u64,
) -> StepRun {
    let config = flow.config;
    let origin = step.site.origin();
    let transport = url::Url::parse(origin).ok().as_ref().and_then(transport_of).unwrap_or(Transport::Https);
    let tx_name = CookieKind::LoginTransaction.name(transport);
    let session_name = CookieKind::Session.name(transport);

    // Cookies.
    let mut parts: Vec<String> = Vec::new();
    let jar_pairs = |jar: &Vec<(String, String)>| jar.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>();
    if let CookieMode::Standard = step.cookies.mode {
        parts.extend(jar_pairs(jar));
        let has = |name: &str| jar.iter().any(|(n, _)| n == name);
        if step.route == Route::Callback && !has(tx_name) {
            parts.push(seal_tx(&TxSpec::default(), config, origin, transport, now));
        }
        if matches!(step.route, Route::Me | Route::Logout | Route::Protected(_)) && !has(session_name) {
            parts.push(seal_session(&SessionSpec::default(), config, transport, now));
        }
    }
    for part in &step.cookies.extra {
        match part {
            CookiePart::Tx(spec) => parts.push(seal_tx(spec, config, origin, transport, now)),
            CookiePart::Session(spec) => parts.push(seal_session(spec, config, transport, now)),
            CookiePart::Sealed { transaction, name, payload } => {
                let (purpose, kind) = if *transaction {
                    (Purpose::LoginTransaction, CookieKind::LoginTransaction)
                } else {
                    (Purpose::Session, CookieKind::Session)
                };
                let name = name_of(name, transport, kind);
                parts.push(format!("{name}={}", key_ring().seal(purpose, &name, &payload.0)));
            }
            CookiePart::Raw(t) => parts.push(t.0.clone()),
            CookiePart::Jar => parts.extend(jar_pairs(jar)),
        }
    }
    let cookie_header = parts.join("; ");

    // The transaction the flow will see decides what the IdP puts in its tokens.
    let tx_seen = LoginTransaction::from_cookie_header(&cookie_header, tx_name, key_ring(), now);
    let connector_index =
        tx_seen.as_ref().and_then(|tx| config.connectors.iter().position(|c| c.id == tx.connector)).unwrap_or(0);
    let connector = config.connectors.get(connector_index).expect("connector");
    let profile = idp_profile(connector);
    let default_tx = fixtures::realistic_transaction();
    let state = tx_seen.as_ref().map(|t| t.state.clone()).unwrap_or(default_tx.state);
    {
        let mut c = ctx.borrow_mut();
        c.connector = connector_index;
        c.nonce = tx_seen.as_ref().map(|t| t.nonce.clone()).unwrap_or(default_tx.nonce);
    }

    // Parameters.
    let standard: Vec<(String, String)> = match step.route {
        Route::Callback => {
            let mut p = vec![("state".to_string(), state.clone()), ("code".to_string(), DEFAULT_CODE.to_string())];
            if profile.iss_param {
                p.push(("iss".into(), profile.discovery_issuer.clone()));
            }
            p
        }
        Route::Login => vec![
            ("email".into(), "alice@acme.example".into()),
            ("return_to".into(), "/docs/report?q=annual%20report".into()),
        ],
        Route::FrontchannelLogout => {
            vec![("iss".into(), profile.token_iss.clone()), ("sid".into(), "f2b0c6e4-sid".into())]
        }
        Route::BackchannelLogout => vec![("logout_token".into(), logout_token(&step.logout, config, now, step_no))],
        _ => Vec::new(),
    };
    let mut params: Vec<(String, String)> = match step.params.mode {
        ParamMode::Standard => standard,
        ParamMode::Custom => Vec::new(),
        ParamMode::Twice => standard.iter().chain(standard.iter()).cloned().collect(),
    };
    for p in &step.params.extra {
        let key = match &p.key {
            Key::State => "state",
            Key::Code => "code",
            Key::Iss => "iss",
            Key::Error => "error",
            Key::ErrorDescription => "error_description",
            Key::Email => "email",
            Key::Connector => "connector",
            Key::ReturnTo => "return_to",
            Key::Sid => "sid",
            Key::LogoutToken => "logout_token",
            Key::Raw(t) => t.as_str(),
        };
        let value = match &p.value {
            ParamValue::Raw(t) => t.0.clone(),
            ParamValue::TxState => state.clone(),
            ParamValue::Issuer => profile.discovery_issuer.clone(),
            ParamValue::OtherIssuer => "https://evil.example".into(),
            ParamValue::Empty => String::new(),
            ParamValue::Repeat { byte, count } => {
                String::from_utf8_lossy(&vec![*byte; usize::from(*count) % MAX_REPEAT]).into_owned()
            }
        };
        params.push((key.to_string(), value));
    }
    let encode = |pairs: &[(String, String)]| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        s.finish()
    };
    let method = Method::parse(method_str(&step.method));
    let (query, form) = if method == Method::Post {
        let form: Vec<(String, String)> = match &step.body {
            BodyChoice::Standard => params,
            BodyChoice::Raw(b) => form_urlencoded::parse(&b.0).into_owned().collect(),
        };
        (String::new(), form)
    } else {
        (encode(&params), Vec::new())
    };

    // URL.
    let path = match &step.route {
        Route::Callback => "/auth/callback".to_string(),
        Route::Login => "/auth/login".to_string(),
        Route::Me => "/auth/me".to_string(),
        Route::Logout => "/auth/logout".to_string(),
        Route::SignedOut => "/auth/signed-out".to_string(),
        Route::Protected(t) => format!("/{}", t.0),
        Route::Static(t) => format!("/auth/static/{}", t.0),
        Route::Auth(t) => format!("/auth/{}", t.0),
        Route::AuthBare => "/auth".to_string(),
        Route::FrontchannelLogout => "/auth/logout/frontchannel".to_string(),
        Route::BackchannelLogout => "/auth/logout/backchannel".to_string(),
        Route::JwksJson => "/auth/jwks.json".to_string(),
        // The runtime hands the worker a parsed URL: the origin is fixed, the fuzzer picks the rest.
        Route::Raw(t) if t.0.starts_with('/') => t.0.clone(),
        Route::Raw(t) => format!("/{}", t.0),
    };
    let mut text = format!("{origin}{path}");
    if !query.is_empty() {
        text.push(if path.contains('?') { '&' } else { '?' });
        text.push_str(&query);
    }
    let Ok(url) = url::Url::parse(&text) else {
        return StepRun { url: None, outcome: None, tx_seen };
    };
    let origin_header = match &step.origin {
        OriginChoice::Same => Some(url.origin().ascii_serialization()),
        OriginChoice::Absent => None,
        OriginChoice::Null => Some("null".to_string()),
        OriginChoice::OtherSite => Some("https://evil.example".to_string()),
        OriginChoice::Raw(t) => Some(t.0.clone()),
    };
    let request = Request {
        method,
        url: url.clone(),
        cookie_header,
        origin_header,
        sec_fetch_site: step.sec_fetch_site.as_ref().map(|t| t.0.clone()),
        form,
    };

    // What the platform shell does (src/platform/mod.rs `handle`), then the flow.
    let outcome = match transport_of(&url) {
        None => Outcome::Respond(upgrade_to_https(&url)),
        Some(transport) if !is_auth_path(url.path()) => {
            let navigation = is_navigation(
                method,
                step.sec_fetch_mode.as_ref().map(Text::as_str),
                step.accept.as_ref().map(Text::as_str),
            );
            let g = GateRequest { path: url.path(), cookie_header: &request.cookie_header, transport, now };
            match gate(config, flow.keys, flow.providers, flow.platform, g) {
                Gate::Public => Outcome::PassThrough,
                Gate::Allowed { session, renew, .. } => {
                    if let Some(cookie) = renew {
                        check_renewal(&cookie, &session, transport, now);
                    }
                    Outcome::PassThrough
                }
                Gate::Unauthenticated => {
                    let path_and_query = match url.query() {
                        Some(q) => format!("{}?{q}", url.path()),
                        None => url.path().to_string(),
                    };
                    Outcome::Respond(unauthenticated(&path_and_query, navigation))
                }
                Gate::Forbidden(session) => Outcome::Respond(forbidden(&session, navigation)),
            }
        }
        Some(_) => crate::block_on(flow.handle(&request)),
    };

    // The browser's cookie jar.
    if let Some(r) = visible(&outcome) {
        for (_, c) in r.headers.iter().filter(|(k, _)| *k == "set-cookie") {
            if let Some((name, value)) = cookie_pair(c) {
                jar.retain(|(n, _)| n != name);
                if !c.contains("Max-Age=0") && !value.is_empty() {
                    jar.push((name.to_string(), value.to_string()));
                }
            }
        }
    }
    StepRun { url: Some(url.to_string()), outcome: Some(outcome), tx_seen }
}

fn logout_token(spec: &LogoutSpec, config: &Config, now: u64, step_no: usize) -> String {
    let id = connector_named(config, &spec.connector);
    let connector = config.connector(&id).or(config.connectors.first()).expect("connectors");
    let profile = idp_profile(connector);
    let keys = fixture_keys();
    let key = &keys[usize::from(spec.key) % keys.len()];
    let alg: String = match &spec.alg {
        AlgChoice::FromKey => key.alg.clone(),
        AlgChoice::Named(i) => ALG_NAMES[usize::from(*i) % ALG_NAMES.len()].to_string(),
        AlgChoice::Raw(t) => t.0.clone(),
    };
    let mut h = Obj::default();
    h.string("alg", &alg);
    match &spec.kid {
        KidTweak::Keep => h.string("kid", &key.kid),
        KidTweak::Absent => {}
        KidTweak::Raw(t) => h.string("kid", t.as_str()),
        KidTweak::Of(i) => h.string("kid", &keys[usize::from(*i) % keys.len()].kid),
    }
    h.member("typ", &spec.typ, Some(json!("logout+jwt")));
    let header = h.finish(spec.header_extra.as_ref());
    let now = now as i64;
    let mut o = Obj::default();
    o.claim("iss", &spec.iss, Some(&profile.token_iss), &profile.token_iss);
    match &spec.aud {
        AudClaim::Default => o.string("aud", &connector.client_id),
        AudClaim::Absent => {}
        AudClaim::List { others, with_client } => {
            let mut l: Vec<Value> = others.iter().map(|s| json!(s.0)).collect();
            if *with_client {
                l.insert(0, json!(connector.client_id));
            }
            o.value("aud", &Value::Array(l));
        }
        AudClaim::RawJson(t) => o.raw("aud", t.as_str()),
    }
    for (key, claim, default) in [("iat", &spec.iat, Some(0)), ("exp", &spec.exp, None)] {
        match claim {
            TimeClaim::Default => {
                if let Some(d) = default {
                    o.raw(key, (now + d).to_string())
                }
            }
            TimeClaim::Absent => {}
            TimeClaim::Rel(r) => o.raw(key, (now + i64::from(*r)).to_string()),
            TimeClaim::Float { rel, frac } => o.raw(key, format!("{}.{frac}", now + i64::from(*rel))),
            TimeClaim::RawJson(t) => o.raw(key, t.as_str()),
        }
    }
    let jti = format!("bcl-jti-{step_no}");
    o.claim("jti", &spec.jti, Some(&jti), &jti);
    o.member("events", &spec.events, Some(json!({ BACKCHANNEL_LOGOUT_EVENT: {} })));
    o.claim("sid", &spec.sid, Some("f2b0c6e4-sid"), "f2b0c6e4-sid");
    o.claim("sub", &spec.sub, None, "248289761001");
    o.claim("nonce", &spec.nonce, None, "n");
    let payload = o.finish(spec.extra.as_ref());
    let sig = match &spec.sig {
        SigChoice::Fit => vec![0x5a; signature_len(&alg, key.signature_len)],
        SigChoice::FitWith(b) => vec![*b | 1; signature_len(&alg, key.signature_len)],
        SigChoice::Raw(b) => b.0.clone(),
        SigChoice::Zeros => vec![0; signature_len(&alg, key.signature_len)],
    };
    fixtures::compact_jws(&header, payload.as_bytes(), &sig)
}

/// A sliding renewal rewrites the same session with `renewed_at = now`.
fn check_renewal(set_cookie: &str, session: &Session, transport: Transport, now: u64) {
    let name = CookieKind::Session.name(transport);
    let (n, value) = cookie_pair(set_cookie).expect("oracle: renewal cookie without name=value");
    assert_eq!(n, name, "oracle: renewal of another cookie");
    let renewed = Session::from_cookie_header(&format!("{name}={value}"), name, key_ring(), now)
        .expect("oracle: the renewed session cookie does not decode");
    assert_eq!(renewed.renewed_at, now, "oracle: renewal without renewed_at = now");
    assert_eq!(
        (&renewed.sub, &renewed.email, &renewed.connector, &renewed.iss, renewed.iat, renewed.exp),
        (&session.sub, &session.email, &session.connector, &session.iss, session.iat, session.exp),
        "oracle: renewal changed the identity or the expiry"
    );
}

// ---- oracles -----------------------------------------------------------------------------------------

struct Oracle<'a> {
    input: &'a FlowInput,
    config: &'a Config,
    url: &'a str,
    step: &'a Step,
    now: u64,
    log: &'a [String],
    verified: &'a [(Alg, Jwk)],
    tx: Option<&'a LoginTransaction>,
    last_token_body: Option<Vec<u8>>,
    revocations: &'a [Revocation],
}

fn secrets() -> impl Iterator<Item = &'static str> {
    CLIENT_SECRETS.iter().map(|(_, v)| *v).chain([SESSION_KEY_1, SESSION_KEY_2])
}

impl Oracle<'_> {
    fn check(&self, outcome: &Outcome) {
        let url = url::Url::parse(self.url).expect("url was parsed before");
        match outcome {
            Outcome::PassThrough => {
                assert!(
                    !is_auth_path(url.path()) || url.path().starts_with("/auth/static/"),
                    "oracle: PassThrough for an /auth/ route {}",
                    url.path()
                );
            }
            Outcome::ServePublicAsset { path, status, headers, fallback } => {
                assert!(path.starts_with("/auth/static/"), "oracle: public asset outside /auth/static/: {path}");
                if path.starts_with("/auth/static/errors/") {
                    // An error page and the rendered page it replaces agree (a public page's fallback is a 404).
                    assert_eq!(
                        *status, fallback.status,
                        "oracle: an error page and its fallback disagree on the status"
                    );
                }
                let fallback_cookies: Vec<_> = fallback.headers.iter().filter(|(k, _)| *k == "set-cookie").collect();
                let page_cookies: Vec<_> = headers.iter().filter(|(k, _)| *k == "set-cookie").collect();
                assert_eq!(fallback_cookies, page_cookies, "oracle: a static page and its fallback set other cookies");
                self.check_response(&url, &Response { status: *status, headers: headers.clone(), body: String::new() });
                self.check_response(&url, fallback);
            }
            Outcome::Respond(r) => self.check_response(&url, r),
        }
    }

    fn check_response(&self, url: &url::Url, r: &Response) {
        let transport = transport_of(url);
        assert!((100..=599).contains(&r.status), "oracle: status {}", r.status);

        // Secrets never reach a visitor or the log.
        let mut texts: Vec<&str> = vec![r.body.as_str()];
        texts.extend(r.headers.iter().map(|(_, v)| v.as_str()));
        texts.extend(self.log.iter().map(String::as_str));
        for secret in secrets() {
            if texts.iter().any(|t| t.contains(secret)) && !format!("{:?}", self.input).contains(secret) {
                panic!("oracle: secret {secret:?} leaked into a response or log line: {texts:?}");
            }
        }

        // Pages we render carry no markup from outside.
        let is_html = r.header("content-type").is_some_and(|c| c.starts_with("text/html"));
        if is_html {
            assert!(!r.body.to_ascii_lowercase().contains("<script"), "oracle: <script in a rendered page");
        }

        let set_cookies: Vec<&str> =
            r.headers.iter().filter(|(k, _)| *k == "set-cookie").map(|(_, v)| v.as_str()).collect();
        if transport == Some(Transport::Https) {
            for c in &set_cookies {
                assert!(
                    c.starts_with("__Host-")
                        && c.contains("; Secure")
                        && c.contains("HttpOnly")
                        && c.contains("Path=/"),
                    "oracle: https cookie without __Host-/Secure/HttpOnly/Path=/: {c}"
                );
                assert!(!c.contains("Domain"), "oracle: cookie with Domain: {c}");
            }
        }

        let Some(transport) = transport else { return };
        let tx_name = CookieKind::LoginTransaction.name(transport);
        let session_name = CookieKind::Session.name(transport);
        let path = url.path();
        let method = Method::parse(method_str(&self.step.method));

        // The callback always spends the transaction.
        if path == "/auth/callback" && matches!(method, Method::Get | Method::Post) {
            assert!(
                set_cookies.iter().any(|c| c.starts_with(&format!("{tx_name}=;")) && c.contains("Max-Age=0")),
                "oracle: a callback response does not clear the login transaction: {set_cookies:?}"
            );
        }

        // A logout the IdP asked for, and accepted, is recorded in the revocation store.
        if matches!(path, "/auth/logout/frontchannel" | "/auth/logout/backchannel") && r.status == 200 {
            assert!(!self.revocations.is_empty(), "oracle: channel logout accepted without a revocation");
        }

        for c in &set_cookies {
            let Some((name, value)) = cookie_pair(c) else { continue };
            if value.is_empty() {
                continue;
            }
            if name == session_name {
                self.check_new_session(path, name, value, r);
            } else if name == tx_name {
                self.check_new_transaction(url, name, value, r);
            } else {
                panic!("oracle: unexpected cookie {name:?} set");
            }
        }

        // An unauthenticated navigation goes to the login page with a safe return_to only.
        if !is_auth_path(path) && r.status == 302 {
            let location = r.header("location").unwrap_or_default();
            if location != "/auth/login" {
                let rest = location
                    .strip_prefix("/auth/login?return_to=")
                    .unwrap_or_else(|| panic!("oracle: unauthenticated redirect to {location:?}"));
                let decoded: String = form_urlencoded::parse(format!("r={rest}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                assert_eq!(
                    safe_return_to(&decoded).as_deref(),
                    Some(decoded.as_str()),
                    "oracle: unsafe return_to in {location:?}"
                );
            }
        }
    }

    fn check_new_session(&self, path: &str, name: &str, value: &str, r: &Response) {
        assert_eq!(path, "/auth/callback", "oracle: a session cookie set outside the callback");
        let s = Session::from_cookie_header(&format!("{name}={value}"), name, key_ring(), self.now)
            .expect("oracle: the issued session cookie does not decode");
        let tx = self.tx.expect("oracle: a session was issued without a valid login transaction");
        assert_eq!(s.connector, tx.connector, "oracle: session connector differs from the transaction's");
        let connector = self.config.connector(&s.connector).expect("oracle: session for an unknown connector");
        let email = parse_email(&s.email).expect("oracle: session email does not parse");
        assert!(connector.owns_domain(&email.domain), "oracle: session email domain not owned by the connector");
        assert_eq!(s.exp, self.now + self.config.session.lifetime_seconds, "oracle: session lifetime");
        // The sealed return_to is checked (and encoded) again: a value no login would have sealed lands on `/`.
        let expected = return_to_or_root(Some(&tx.return_to));
        assert_eq!(r.header("location"), Some(expected.as_str()), "oracle: callback redirect is not return_to");

        let Protocol::OpenIdConnect { entra, hosted_domains, .. } = &connector.protocol else {
            assert_eq!(s.iss, connector.issuer, "oracle: Facebook session iss");
            return;
        };
        // Re-check the ID token the IdP sent, independently of the crate's parser.
        assert!(!self.verified.is_empty(), "oracle: signed in without a signature check");
        for (alg, key) in self.verified {
            assert!(key.suits(*alg), "oracle: verified with a key that does not suit {alg:?}");
        }
        let body = self.last_token_body.as_ref().expect("oracle: signed in without a token response");
        let tokens: Value = serde_json::from_slice(body).expect("oracle: token response is not JSON");
        let id_token = tokens["id_token"].as_str().expect("oracle: no id_token string");
        let payload = id_token.split('.').nth(1).and_then(b64::decode).expect("oracle: id_token payload");
        let claims: Value = serde_json::from_slice(&payload).expect("oracle: claims are not JSON");
        let iss = claims["iss"].as_str().expect("oracle: iss");
        assert_eq!(s.iss, iss, "oracle: session iss is not the token's");
        match entra {
            Some(e) => {
                let tid = claims["tid"].as_str().expect("oracle: Entra token without tid");
                if let EntraTenancy::Multi { allowed_tenants } = &e.tenancy {
                    assert!(allowed_tenants.iter().any(|t| t == tid), "oracle: Entra tenant {tid:?} not allowed");
                }
                assert_eq!(iss, format!("{}/{tid}/v2.0", e.authority), "oracle: Entra iss");
            }
            None if connector.kind == ConnectorKind::Google => {
                let bare = connector.issuer.strip_prefix("https://").unwrap_or(&connector.issuer);
                assert!(iss == connector.issuer || iss == bare, "oracle: Google iss {iss:?}");
            }
            None => assert_eq!(iss, connector.issuer, "oracle: iss is not the connector's issuer"),
        }
        if !hosted_domains.is_empty() {
            let hd =
                claims["hd"].as_str().and_then(normalize_domain).expect("oracle: Google Workspace token without hd");
            assert!(hosted_domains.contains(&hd), "oracle: hd {hd:?} not a hosted domain");
        }
        assert_eq!(claims["nonce"].as_str(), Some(tx.nonce.as_str()), "oracle: nonce");
        let aud_ok = match &claims["aud"] {
            Value::String(a) => a == &connector.client_id,
            Value::Array(l) => l.iter().any(|a| a.as_str() == Some(connector.client_id.as_str())),
            _ => false,
        };
        assert!(aud_ok, "oracle: aud does not contain the client_id");
        let leeway = self.config.clock_leeway_seconds as f64;
        let exp = claims["exp"].as_f64().expect("oracle: exp");
        assert!(exp + leeway > self.now as f64, "oracle: expired token accepted");
        if let Some(max_age) = connector.max_age {
            let auth_time = claims["auth_time"].as_f64().expect("oracle: max_age without auth_time");
            assert!(
                self.now as f64 - auth_time <= max_age as f64 + leeway + 1.0,
                "oracle: auth_time older than max_age"
            );
        }
        // email_verified false in the token, about the address the session got from the token, must refuse.
        // (Without an email claim the address comes from UserInfo, whose own email_verified then applies.)
        let unverified = claims["email_verified"] == json!(false) || claims["email_verified"] == json!("false");
        if unverified {
            let email_claims: Vec<&str> = match (entra, &connector.protocol) {
                (Some(_), _) => vec!["email", "preferred_username", "upn"],
                (None, Protocol::OpenIdConnect { claims: mapping, .. }) => vec![mapping.email.as_str()],
                _ => vec![],
            };
            let names_session_email = email_claims
                .iter()
                .any(|c| claims[*c].as_str().is_some_and(|v| parse_email(v).is_ok_and(|e| e.address() == s.email)));
            assert!(!names_session_email, "oracle: signed in with an email the token marks unverified");
        }
    }

    fn check_new_transaction(&self, url: &url::Url, name: &str, value: &str, r: &Response) {
        assert_eq!(url.path(), "/auth/login", "oracle: a transaction cookie set outside the login");
        let tx = LoginTransaction::from_cookie_header(&format!("{name}={value}"), name, key_ring(), self.now)
            .expect("oracle: the issued transaction cookie does not decode");
        assert_eq!(
            safe_return_to(&tx.return_to).as_deref(),
            Some(tx.return_to.as_str()),
            "oracle: unsafe return_to sealed"
        );
        assert!(self.config.connector(&tx.connector).is_some(), "oracle: transaction for an unknown connector");
        let expected_redirect = format!("{}/auth/callback", url.origin().ascii_serialization());
        assert_eq!(tx.redirect_uri, expected_redirect, "oracle: redirect_uri");
        let location = r.header("location").expect("oracle: login sets a transaction without redirecting");
        let authorize = url::Url::parse(location).expect("oracle: authorization URL does not parse");
        let q =
            |k: &str| authorize.query_pairs().filter(|(n, _)| n == k).map(|(_, v)| v.into_owned()).collect::<Vec<_>>();
        assert_eq!(q("state"), vec![tx.state.clone()], "oracle: state");
        assert_eq!(q("nonce"), vec![tx.nonce.clone()], "oracle: nonce");
        assert_eq!(q("code_challenge"), vec![pkce_challenge(tx.pkce_verifier.expose())], "oracle: code_challenge");
        assert_eq!(q("code_challenge_method"), vec!["S256".to_string()], "oracle: S256");
        assert_eq!(q("redirect_uri"), vec![tx.redirect_uri.clone()], "oracle: redirect_uri in the request");
        assert!(q("code_verifier").is_empty(), "oracle: PKCE verifier in the front channel");
    }
}
