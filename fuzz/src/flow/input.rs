//! The structured input of `callback_flow`: up to five requests (route, method, site, parameters, body,
//! cookies, headers, clock moves) and the IdP's scripted replies. Variant 0 / empty is the realistic choice.

use arbitrary::Arbitrary;

use crate::{Bytes, Text};

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
