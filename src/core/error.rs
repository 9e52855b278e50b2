//! Flow errors, and the one place where each maps to an HTTP status, a machine-readable code and the words
//! a visitor sees. Internal detail (`log_detail`) goes to the operator log only.

use thiserror::Error;

use crate::core::config::ConfigError;
use crate::core::facebook::FacebookError;
use crate::core::fetch::FetchError;
use crate::core::http::Response;
use crate::core::log::Event;
use crate::core::oidc::discovery::DiscoveryError;
use crate::core::oidc::id_token::IdTokenError;
use crate::core::oidc::issuer::DomainAnswerError;
use crate::core::oidc::jwks::{JwksError, NoKey};
use crate::core::oidc::token::TokenError;
use crate::core::oidc::userinfo::UserInfoError;
use crate::core::pages::catalog::{Refusal, EN};
use crate::core::pages::{Lang, PageSettings, Pages};
use crate::core::ports::CryptoError;
use crate::core::replay::ReplayStoreError;
use crate::core::routing::EmailError;
use crate::core::session::record::{SealError, MAX_SID_LEN};

/// Why a flow request was refused. Each variant is one kind of refusal for the visitor (one code, one status,
/// one page: [`FlowError::to_html_response`]); its cause, when there is one, is a typed source (the protocol
/// layer's error), which the operator log spells out ([`FlowError::log_detail`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FlowError {
    #[error("invalid email address")]
    InvalidEmail(#[source] EmailError),
    #[error("no connector owns the domain {0:?}")]
    UnknownDomain(String),
    #[error("no connector has the id {0:?}")]
    UnknownConnector(String),
    #[error("no valid login transaction cookie (expired, absent or tampered)")]
    LoginExpired,
    #[error("the login transaction was already used (replayed callback)")]
    Replayed,
    #[error("the state parameter does not match the login transaction")]
    StateMismatch,
    #[error("the callback has no code")]
    InvalidCallback,
    /// The IdP's `error` (already reduced by [`sanitize_idp_error_code`]).
    #[error("the IdP returned error {0:?}")]
    Idp(String),
    #[error("the authorization response iss {found:?} is not the issuer {expected:?} (RFC 9207)")]
    IssuerMismatch { expected: String, found: Option<String> },
    #[error("token exchange failed")]
    TokenExchange(#[from] ExchangeError),
    #[error("ID token refused")]
    IdToken(#[from] IdTokenRefusal),
    #[error("the ID token has no email")]
    EmailMissing,
    #[error("the IdP says the email {0:?} is not verified")]
    EmailUnverified(String),
    #[error("the email domain {domain:?} is not one of connector {connector:?}'s domains")]
    EmailDomainMismatch { domain: String, connector: String },
    #[error("the Entra tenant {0:?} is not allowed for this connector")]
    TenantNotAllowed(String),
    /// Entra: the address's domain is not verified in the tenant that signed the user in (another tenant owns
    /// it, or none does) — the "nOAuth" class. `owner`: the tenant where it is verified.
    #[error("Entra: connector {connector:?}: {domain} is verified in {}: {why}", owner_text(.owner))]
    DomainNotOwned { connector: String, domain: String, owner: Option<String>, why: &'static str },
    #[error("the Google hosted domain (hd) {0:?} is not one of the connector's hosted_domains")]
    HostedDomainMismatch(String),
    /// The ID token names the `groups` claim by reference (`_claim_names`, Entra's `hasgroups`: the user is in
    /// more groups than a token carries) and an access policy grants this connector's groups.
    #[error("connector {0:?}: the ID token carries no groups, only a reference to them (groups overage: Entra sends `_claim_names`/`hasgroups` instead of `groups` beyond 200 groups), and a policy grants this connector's groups. Send fewer: filter the groups claim to the groups assigned to the application (Entra: Token configuration, groups claim, \"Groups assigned to the application\")")]
    GroupsOverage(String),
    #[error("the user's profile could not be read")]
    UserInfo(#[from] ProfileError),
    #[error("the IdP could not be reached or answered unusably")]
    IdpUnreachable(#[source] IdpFailure),
    #[error("configuration error")]
    Config(#[from] ConfigProblem),
    /// The list of ended sessions cannot be read completely (the store fails, or holds too much): no session
    /// is issued (it would be refused at once).
    #[error("the revocation list is unreadable: sign-ins are refused")]
    RevocationsUnavailable,
    /// The identity (with its `sid`) does not fit a session cookie, even without the name and groups.
    #[error("the identity (with its session id) is too large for a session cookie")]
    SessionTooLarge,
    /// A failure of this worker's own machinery (not the IdP's, not the configuration's).
    #[error("internal error")]
    Internal(#[from] InternalError),
    #[error("cross-site request refused")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request path refused: {0}")]
    BadPath(&'static str),
    /// The single-use store (the `ReplayGuard` Durable Object) did not answer: the sign-in fails closed.
    #[error("the single-use store could not be reached")]
    ReplayStoreUnavailable(#[source] ReplayStoreError),
    /// A SAML response the connector's rules refuse (signature, XML, profile): the detail names the rule.
    #[cfg(feature = "saml")]
    #[error("SAML response refused: connector {connector:?}: {detail}")]
    SamlResponse { connector: String, detail: String },
    /// A WS-Federation `wresult` (or its form) refused by a rule of [`crate::core::wsfed`].
    #[cfg(feature = "saml")]
    #[error("WS-Federation token refused: connector {connector:?}: {detail}")]
    WsFedToken { connector: String, detail: String },
}

fn owner_text(owner: &Option<String>) -> String {
    match owner {
        Some(tenant) => format!("tenant {tenant}"),
        None => "no tenant".to_string(),
    }
}

/// Why the token endpoint's answer was refused (`token_exchange_failed`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExchangeError {
    #[error(transparent)]
    Oidc(#[from] TokenError),
    #[error(transparent)]
    Facebook(FacebookError),
}

/// Why the ID token (or a claim the session takes from it) was refused (`id_token_invalid`). The connector's
/// verifier ([`crate::core::oidc::verifier::IdTokenVerifier`]) says why in an [`IdTokenError`], except the
/// refusals with pages of their own (the tenant, the hosted domain: see `callback::id_token_refusal`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdTokenRefusal {
    #[error(transparent)]
    Claims(#[from] IdTokenError),
    /// No key of the IdP may verify the token (after the refetch, when one was due).
    #[error(transparent)]
    Key(#[from] NoKey),
    #[error("email claim: {0}")]
    Email(EmailError),
    #[error("email claim too long")]
    EmailTooLong,
    #[error("the sid claim is {0} bytes, over {MAX_SID_LEN}: logout could not reach this session")]
    SidTooLong(usize),
}

/// Why the user's profile (UserInfo, Facebook's Graph API `/me`) was refused (`userinfo_failed`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProfileError {
    #[error(transparent)]
    UserInfo(#[from] UserInfoError),
    #[error(transparent)]
    Facebook(FacebookError),
}

/// An IdP request that gave no usable answer, or an IdP document that is unusable (`idp_unreachable`; a
/// request the runtime refused to build becomes [`ConfigProblem::Request`]: see `From<IdpFailure>`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdpFailure {
    #[error("{endpoint}: {error}")]
    Fetch { endpoint: Endpoint, error: FetchError },
    #[error("connector {connector:?}: {error}")]
    Discovery { connector: String, error: DiscoveryError },
    #[error("jwks_uri: {0}")]
    Jwks(JwksError),
    /// The SAML IdP's metadata document is not usable.
    #[cfg(feature = "saml")]
    #[error("connector {connector:?}: SAML metadata {url}: {detail}")]
    SamlMetadata { connector: String, url: String, detail: String },
    #[error("domain discovery {url}: {error}")]
    EntraDomain { url: String, error: DomainAnswerError },
    /// The request leading a shared fetch was dropped before it finished.
    #[error("{0}: the fetch was abandoned")]
    Abandoned(&'static str),
    /// A shared fetch outlived the in-flight limit.
    #[error("{0}: the fetch in flight did not finish")]
    Stalled(&'static str),
}

/// The IdP endpoint a request went to, as the operator log names it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Endpoint {
    #[error("discovery {0}")]
    Discovery(String),
    #[error("jwks_uri")]
    Jwks,
    #[error("token endpoint")]
    Token,
    #[error("userinfo")]
    UserInfo,
    #[error("facebook token endpoint")]
    FacebookToken,
    #[error("facebook graph api")]
    FacebookGraph,
    #[error("domain discovery {0}")]
    EntraDomain(String),
    #[cfg(feature = "saml")]
    #[error("SAML metadata {0}")]
    SamlMetadata(String),
}

/// A configuration (or deployment) problem the operator must fix (`config_error`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// `AUTH_CONFIG` (or a deployment binding) was refused at load.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("connector {connector:?}: the secret {binding:?} named by client_secret_binding is not set")]
    MissingSecret { connector: String, binding: String },
    /// A SAML connector's `sp_decryption_key_binding` names a secret that is not set, or does not hold a PKCS #8
    /// PEM private key (`reason`; never the key).
    #[error("connector {connector:?}: the secret {binding:?} named by sp_decryption_key_binding {reason}")]
    DecryptionKey { connector: String, binding: String, reason: &'static str },
    #[error("connector {0:?}: the provider supports neither client_secret_basic nor client_secret_post")]
    NoClientAuthMethod(String),
    /// An endpoint that is not a usable URL.
    #[error("connector {connector:?}: bad {field}: {error}")]
    BadEndpoint { connector: String, field: &'static str, error: url::ParseError },
    /// The runtime refused to build a request to this endpoint (a URL or header it does not take): not the
    /// IdP's failure, and not one retrying mends.
    #[error("{endpoint}: {error}")]
    Request { endpoint: Endpoint, error: FetchError },
}

/// A failure of this worker's own machinery (`internal_error`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InternalError {
    #[error("no randomness: {0}")]
    Randomness(CryptoError),
    #[error("the session could not be sealed: {0}")]
    Seal(SealError),
}

impl FlowError {
    /// A failed request to an IdP endpoint (see `From<IdpFailure>`).
    pub fn fetch(endpoint: Endpoint, error: FetchError) -> FlowError {
        IdpFailure::Fetch { endpoint, error }.into()
    }
}

/// The IdP's failure (`idp_unreachable`), except a request the runtime refused to build, which is ours
/// (`config_error`: retrying does not mend it, and the IdP was never asked).
impl From<IdpFailure> for FlowError {
    fn from(e: IdpFailure) -> Self {
        match e {
            IdpFailure::Fetch { endpoint, error: error @ FetchError::InvalidRequest(_) } => {
                FlowError::Config(ConfigProblem::Request { endpoint, error })
            }
            e => FlowError::IdpUnreachable(e),
        }
    }
}

impl From<TokenError> for FlowError {
    fn from(e: TokenError) -> Self {
        FlowError::TokenExchange(e.into())
    }
}

impl From<IdTokenError> for FlowError {
    fn from(e: IdTokenError) -> Self {
        FlowError::IdToken(e.into())
    }
}

impl From<NoKey> for FlowError {
    fn from(e: NoKey) -> Self {
        FlowError::IdToken(e.into())
    }
}

impl From<UserInfoError> for FlowError {
    fn from(e: UserInfoError) -> Self {
        FlowError::UserInfo(e.into())
    }
}

impl From<ConfigError> for FlowError {
    fn from(e: ConfigError) -> Self {
        FlowError::Config(e.into())
    }
}

impl From<SealError> for FlowError {
    fn from(e: SealError) -> Self {
        match e {
            SealError::TooLarge => FlowError::SessionTooLarge,
            other => FlowError::Internal(InternalError::Seal(other)),
        }
    }
}

struct Public {
    status: u16,
    code: &'static str,
    /// The page's texts, in the catalogues ([`crate::core::pages::catalog`]).
    refusal: Refusal,
    action_href: &'static str,
}

const LOGIN: &str = "/auth/login";

impl FlowError {
    /// The machine-readable code (also sent as `X-Edge-Auth-Error`).
    pub fn code(&self) -> &'static str {
        self.public().code
    }

    pub fn status(&self) -> u16 {
        self.public().status
    }

    fn public(&self) -> Public {
        const fn p(status: u16, code: &'static str, refusal: Refusal, action_href: &'static str) -> Public {
            Public { status, code, refusal, action_href }
        }
        match self {
            FlowError::InvalidEmail(_) => p(400, "invalid_email", Refusal::InvalidEmail, LOGIN),
            FlowError::UnknownDomain(_) => p(403, "unknown_domain", Refusal::UnknownDomain, LOGIN),
            FlowError::UnknownConnector(_) => p(404, "unknown_connector", Refusal::UnknownConnector, LOGIN),
            FlowError::LoginExpired => p(400, "login_expired", Refusal::LoginExpired, LOGIN),
            FlowError::Replayed => p(400, "login_expired", Refusal::Replayed, LOGIN),
            FlowError::StateMismatch => p(400, "state_mismatch", Refusal::StateMismatch, LOGIN),
            FlowError::InvalidCallback => p(400, "invalid_callback", Refusal::InvalidCallback, LOGIN),
            FlowError::Idp(code) => idp_error_public(code),
            FlowError::IssuerMismatch { .. } => p(400, "issuer_mismatch", Refusal::IssuerMismatch, LOGIN),
            FlowError::TokenExchange(_) => p(502, "token_exchange_failed", Refusal::TokenExchange, LOGIN),
            FlowError::IdToken(_) => p(400, "id_token_invalid", Refusal::IdToken, LOGIN),
            FlowError::EmailMissing => p(403, "email_missing", Refusal::EmailMissing, LOGIN),
            FlowError::EmailUnverified(_) => p(403, "email_unverified", Refusal::EmailUnverified, LOGIN),
            FlowError::EmailDomainMismatch { .. } => {
                p(403, "email_domain_mismatch", Refusal::EmailDomainMismatch, LOGIN)
            }
            FlowError::TenantNotAllowed(_) => p(403, "tenant_not_allowed", Refusal::TenantNotAllowed, LOGIN),
            FlowError::DomainNotOwned { .. } => p(403, "domain_not_owned", Refusal::DomainNotOwned, LOGIN),
            FlowError::HostedDomainMismatch(_) => {
                p(403, "hosted_domain_mismatch", Refusal::HostedDomainMismatch, LOGIN)
            }
            FlowError::GroupsOverage(_) => p(403, "groups_overage", Refusal::GroupsOverage, LOGIN),
            FlowError::UserInfo(_) => p(502, "userinfo_failed", Refusal::UserInfo, LOGIN),
            FlowError::IdpUnreachable(_) => p(502, "idp_unreachable", Refusal::IdpUnreachable, LOGIN),
            FlowError::Config(_) => p(500, "config_error", Refusal::Config, LOGIN),
            FlowError::RevocationsUnavailable => p(503, "revocations_unavailable", Refusal::Revocations, LOGIN),
            FlowError::SessionTooLarge => p(500, "session_too_large", Refusal::SessionTooLarge, LOGIN),
            FlowError::Internal(_) => p(500, "internal_error", Refusal::Internal, LOGIN),
            FlowError::Csrf => p(403, "csrf", Refusal::Csrf, "/"),
            FlowError::NotFound => p(404, "not_found", Refusal::NotFound, "/"),
            FlowError::MethodNotAllowed => p(405, "method_not_allowed", Refusal::MethodNotAllowed, "/"),
            FlowError::PayloadTooLarge { .. } => p(413, "payload_too_large", Refusal::PayloadTooLarge, LOGIN),
            FlowError::BadPath(_) => p(400, "bad_path", Refusal::BadPath, "/"),
            #[cfg(feature = "saml")]
            FlowError::SamlResponse { .. } => p(400, "saml_response_invalid", Refusal::IdToken, LOGIN),
            #[cfg(feature = "saml")]
            FlowError::WsFedToken { .. } => p(400, "wsfed_token_invalid", Refusal::IdToken, LOGIN),
            FlowError::ReplayStoreUnavailable(_) => p(503, "replay_store_unavailable", Refusal::ReplayStore, LOGIN),
        }
    }

    /// The visitor's page, in English with the default branding (where no configuration is at hand).
    pub fn to_html_response(&self) -> Response {
        self.to_page(&Pages { settings: &PageSettings::default(), lang: Lang::En })
    }

    /// The visitor's page in the visitor's language, branded. IdP errors also name the IdP's error page
    /// (`<meta name="edge-auth-idp-error">`: one per OAuth 2.0 / OIDC Core error code, `other` for the rest).
    pub fn to_page(&self, pages: &Pages<'_>) -> Response {
        let p = self.public();
        // For IdP errors, the provider's code (already reduced to [A-Za-z0-9_]) is what an admin needs.
        // A code OAuth 2.0 / OIDC Core does not register is not shown (nothing the IdP chose is reflected): the
        // operator log has it.
        let (shown_code, idp_page) = match self {
            FlowError::Idp(idp_code) => match idp_page_name(idp_code) {
                "other" => (p.code.to_string(), Some("other")),
                page => (format!("{} ({idp_code})", p.code), Some(page)),
            },
            _ => (p.code.to_string(), None),
        };
        let mut meta = vec![("edge-auth-error", p.code)];
        if let Some(page) = idp_page {
            meta.push(("edge-auth-idp-error", page));
        }
        let domain = match self {
            FlowError::UnknownDomain(domain) => Some(domain.as_str()),
            _ => None,
        };
        let body = pages.refusal(p.refusal, &meta, domain, p.action_href, &shown_code);
        pages.response(p.status, body).with_header("x-edge-auth-error", p.code)
    }

    /// For API-style callers.
    pub fn to_json_response(&self) -> Response {
        let p = self.public();
        let (_, message, _) = EN.refusals.get(p.refusal as usize).copied().unwrap_or_default();
        let message = match self {
            FlowError::UnknownDomain(domain) => message.replace("{domain}", domain),
            _ => message.to_string(),
        };
        let body = serde_json::json!({ "error": p.code, "message": message }).to_string();
        Response::json(p.status, body).with_header("x-edge-auth-error", p.code)
    }

    /// The `status` and `error_class` of the failed IdP fetch in this error on a log event (a request the
    /// runtime refused to build: `invalid_request`; an answer that is no usable document: `invalid_document`);
    /// the event unchanged for other errors. (Here, not in `core::log`: the log depends on no error type.)
    pub fn fetch_failure_fields(&self, event: Event) -> Event {
        match self {
            FlowError::IdpUnreachable(failure) => match failure {
                IdpFailure::Fetch { error, .. } => event.fetch_error(error),
                IdpFailure::Abandoned(_) => event.error_class("abandoned"),
                IdpFailure::Stalled(_) => event.error_class("stalled"),
                _ => event.error_class("invalid_document"),
            },
            FlowError::Config(ConfigProblem::Request { error, .. }) => event.fetch_error(error),
            _ => event,
        }
    }

    /// What the operator log gets: the code, then the error and its sources (never secrets or tokens: the
    /// variants and their sources hold none).
    pub fn log_detail(&self) -> String {
        // The error and its typed source (whose words are complete: the chain is two deep), without `dyn
        // Error`, whose vtables would link every error's `Debug` into the worker (~6 KB gzipped).
        let source: Option<&dyn std::fmt::Display> = match self {
            FlowError::InvalidEmail(e) => Some(e),
            FlowError::TokenExchange(e) => Some(e),
            FlowError::IdToken(e) => Some(e),
            FlowError::UserInfo(e) => Some(e),
            FlowError::IdpUnreachable(e) => Some(e),
            FlowError::Config(e) => Some(e),
            FlowError::Internal(e) => Some(e),
            FlowError::ReplayStoreUnavailable(e) => Some(e),
            _ => None,
        };
        match source {
            Some(source) => format!("{} ({self}: {source})", self.code()),
            None => format!("{} ({self})", self.code()),
        }
    }
}

/// The codes an IdP error page is for (`<meta name="edge-auth-idp-error">`, as the former static pages named
/// them): the IdP's code when OAuth 2.0 / OIDC Core registers it, `other` otherwise.
fn idp_page_name(code: &str) -> &'static str {
    match code {
        "access_denied" => "access_denied",
        "server_error" => "server_error",
        "temporarily_unavailable" => "temporarily_unavailable",
        "invalid_request" => "invalid_request",
        "unauthorized_client" => "unauthorized_client",
        "unsupported_response_type" => "unsupported_response_type",
        "invalid_resource" => "invalid_resource",
        "invalid_scope" => "invalid_scope",
        "login_required" | "interaction_required" | "consent_required" | "account_selection_required" => {
            "login_required interaction_required consent_required account_selection_required"
        }
        _ => "other",
    }
}

/// IdP authorization error codes (OAuth 2.0 §4.1.2.1, OIDC Core §3.1.2.6) -> what a person can do.
fn idp_error_public(code: &str) -> Public {
    let (status, refusal) = match code {
        "access_denied" => (403, Refusal::IdpAccessDenied),
        "server_error" => (502, Refusal::IdpServerError),
        "temporarily_unavailable" => (503, Refusal::IdpBusy),
        "login_required" | "interaction_required" | "consent_required" | "account_selection_required" => {
            (401, Refusal::IdpSignInRequired)
        }
        "invalid_request"
        | "unauthorized_client"
        | "unsupported_response_type"
        | "invalid_scope"
        | "invalid_resource" => (502, Refusal::IdpMisconfigured),
        _ => (502, Refusal::IdpOther),
    };
    Public { status, code: "idp_error", refusal, action_href: LOGIN }
}

/// The IdP's error code as we show and log it: registered-looking characters only, bounded.
pub fn sanitize_idp_error_code(raw: &str) -> String {
    raw.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_idp_error_has_its_own_advice() {
        let transient = FlowError::Idp("temporarily_unavailable".into()).to_html_response();
        assert_eq!(transient.status, 503);
        assert!(transient.body.contains("try again in a few minutes"));
        let config = FlowError::Idp("unauthorized_client".into()).to_html_response();
        assert!(config.body.contains("Contact your administrator"));
        let denied = FlowError::Idp("access_denied".into()).to_html_response();
        assert_eq!(denied.status, 403);
        assert!(denied.body.contains("start again"));
        for r in [transient, config, denied] {
            assert_eq!(r.header("x-edge-auth-error"), Some("idp_error"));
        }
    }

    /// An error and its sources (the standard chain), as one line: `outer: inner: innermost`.
    fn error_chain(e: &dyn std::error::Error) -> String {
        let mut out = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            out.push_str(": ");
            out.push_str(&s.to_string());
            source = s.source();
        }
        out
    }

    #[test]
    fn the_log_line_is_the_typed_source_chain() {
        for (e, _, code) in every_kind() {
            assert_eq!(e.log_detail(), format!("{code} ({})", error_chain(&e)), "{e:?}");
        }
    }

    /// Detail that belongs in the operator log only.
    const SECRETISH: &str = "kid-7f3a";

    fn fetch(source: FetchError) -> FlowError {
        FlowError::fetch(Endpoint::Discovery(format!("https://idp.example/{SECRETISH}")), source)
    }

    /// One of each kind of refusal (and each source that decides the code), with the status and code the
    /// visitor gets. The `match` has no wildcard: a new variant does not compile until it is listed here.
    fn every_kind() -> Vec<(FlowError, u16, &'static str)> {
        use crate::core::oidc::issuer::IssuerError;
        use crate::core::oidc::jws::JwsError;
        let all = vec![
            (FlowError::InvalidEmail(EmailError::MissingAt), 400, "invalid_email"),
            (FlowError::UnknownDomain("nowhere.example".into()), 403, "unknown_domain"),
            (FlowError::UnknownConnector(SECRETISH.into()), 404, "unknown_connector"),
            (FlowError::LoginExpired, 400, "login_expired"),
            (FlowError::Replayed, 400, "login_expired"),
            (FlowError::StateMismatch, 400, "state_mismatch"),
            (FlowError::InvalidCallback, 400, "invalid_callback"),
            (FlowError::Idp("access_denied".into()), 403, "idp_error"),
            (FlowError::Idp("server_error".into()), 502, "idp_error"),
            (FlowError::Idp("temporarily_unavailable".into()), 503, "idp_error"),
            (FlowError::Idp("login_required".into()), 401, "idp_error"),
            (FlowError::Idp("invalid_scope".into()), 502, "idp_error"),
            (
                FlowError::IssuerMismatch { expected: "https://idp.example".into(), found: Some(SECRETISH.into()) },
                400,
                "issuer_mismatch",
            ),
            (TokenError::Refused { status: 400, error: SECRETISH.into() }.into(), 502, "token_exchange_failed"),
            (ExchangeError::Facebook(FacebookError::Refused(SECRETISH.into())).into(), 502, "token_exchange_failed"),
            (IdTokenError::Jws(JwsError::BadHeader(SECRETISH.into())).into(), 400, "id_token_invalid"),
            (IdTokenError::AzpMismatch(SECRETISH.into()).into(), 400, "id_token_invalid"),
            (IdTokenError::Issuer(IssuerError::NoTid).into(), 400, "id_token_invalid"),
            (IdTokenError::AuthTimeTooOld { auth_time: 1, max_age: 60 }.into(), 400, "id_token_invalid"),
            (NoKey::UnknownKid.into(), 400, "id_token_invalid"),
            (IdTokenRefusal::Email(EmailError::InvalidLocalPart).into(), 400, "id_token_invalid"),
            (IdTokenRefusal::EmailTooLong.into(), 400, "id_token_invalid"),
            (IdTokenRefusal::SidTooLong(300).into(), 400, "id_token_invalid"),
            (FlowError::EmailMissing, 403, "email_missing"),
            (FlowError::EmailUnverified(SECRETISH.into()), 403, "email_unverified"),
            (
                FlowError::EmailDomainMismatch { domain: SECRETISH.into(), connector: "acme".into() },
                403,
                "email_domain_mismatch",
            ),
            (FlowError::TenantNotAllowed(SECRETISH.into()), 403, "tenant_not_allowed"),
            (
                FlowError::DomainNotOwned {
                    connector: "entra".into(),
                    domain: "contoso.example".into(),
                    owner: Some(SECRETISH.into()),
                    why: "not the tenant that signed in",
                },
                403,
                "domain_not_owned",
            ),
            (FlowError::HostedDomainMismatch(SECRETISH.into()), 403, "hosted_domain_mismatch"),
            (FlowError::GroupsOverage(SECRETISH.into()), 403, "groups_overage"),
            (UserInfoError::Malformed(SECRETISH.into()).into(), 502, "userinfo_failed"),
            (ProfileError::Facebook(FacebookError::Malformed(SECRETISH.into())).into(), 502, "userinfo_failed"),
            (fetch(FetchError::Timeout { seconds: 10 }), 502, "idp_unreachable"),
            (fetch(FetchError::Status(503)), 502, "idp_unreachable"),
            (fetch(FetchError::TooLarge { limit: 1024 }), 502, "idp_unreachable"),
            (fetch(FetchError::Network(SECRETISH.into())), 502, "idp_unreachable"),
            (
                IdpFailure::Discovery { connector: "acme".into(), error: DiscoveryError::Malformed(SECRETISH.into()) }
                    .into(),
                502,
                "idp_unreachable",
            ),
            (IdpFailure::Jwks(JwksError::Malformed(SECRETISH.into())).into(), 502, "idp_unreachable"),
            (
                IdpFailure::EntraDomain { url: SECRETISH.into(), error: DomainAnswerError::NotJson }.into(),
                502,
                "idp_unreachable",
            ),
            (IdpFailure::Abandoned("discovery").into(), 502, "idp_unreachable"),
            (IdpFailure::Stalled("jwks_uri").into(), 502, "idp_unreachable"),
            // A request the runtime refuses to build is ours to fix, not the IdP being away.
            (fetch(FetchError::InvalidRequest(SECRETISH.into())), 500, "config_error"),
            (ConfigError::top("connectors[0].issuer", SECRETISH).into(), 500, "config_error"),
            (
                ConfigProblem::MissingSecret { connector: "acme".into(), binding: SECRETISH.into() }.into(),
                500,
                "config_error",
            ),
            (ConfigProblem::NoClientAuthMethod(SECRETISH.into()).into(), 500, "config_error"),
            (
                ConfigProblem::BadEndpoint {
                    connector: SECRETISH.into(),
                    field: "authorization_endpoint",
                    error: url::ParseError::EmptyHost,
                }
                .into(),
                500,
                "config_error",
            ),
            (FlowError::RevocationsUnavailable, 503, "revocations_unavailable"),
            (SealError::TooLarge.into(), 500, "session_too_large"),
            (InternalError::Randomness(CryptoError(SECRETISH.into())).into(), 500, "internal_error"),
            (SealError::Randomness(CryptoError(SECRETISH.into())).into(), 500, "internal_error"),
            (SealError::Encryption.into(), 500, "internal_error"),
            (FlowError::Csrf, 403, "csrf"),
            (FlowError::NotFound, 404, "not_found"),
            (FlowError::MethodNotAllowed, 405, "method_not_allowed"),
            (FlowError::PayloadTooLarge { limit: 65536 }, 413, "payload_too_large"),
            (FlowError::BadPath("an encoded control character"), 400, "bad_path"),
            (FlowError::ReplayStoreUnavailable(ReplayStoreError(SECRETISH.into())), 503, "replay_store_unavailable"),
            #[cfg(feature = "saml")]
            (
                FlowError::SamlResponse { connector: "corp".into(), detail: SECRETISH.into() },
                400,
                "saml_response_invalid",
            ),
            #[cfg(feature = "saml")]
            (FlowError::WsFedToken { connector: "corp".into(), detail: SECRETISH.into() }, 400, "wsfed_token_invalid"),
            #[cfg(feature = "saml")]
            (
                IdpFailure::SamlMetadata { connector: "corp".into(), url: SECRETISH.into(), detail: SECRETISH.into() }
                    .into(),
                502,
                "idp_unreachable",
            ),
        ];
        for (e, _, _) in &all {
            match e {
                FlowError::InvalidEmail(_)
                | FlowError::UnknownDomain(_)
                | FlowError::UnknownConnector(_)
                | FlowError::LoginExpired
                | FlowError::Replayed
                | FlowError::StateMismatch
                | FlowError::InvalidCallback
                | FlowError::Idp(_)
                | FlowError::IssuerMismatch { .. }
                | FlowError::TokenExchange(_)
                | FlowError::IdToken(_)
                | FlowError::EmailMissing
                | FlowError::EmailUnverified(_)
                | FlowError::EmailDomainMismatch { .. }
                | FlowError::TenantNotAllowed(_)
                | FlowError::DomainNotOwned { .. }
                | FlowError::HostedDomainMismatch(_)
                | FlowError::GroupsOverage(_)
                | FlowError::UserInfo(_)
                | FlowError::IdpUnreachable(_)
                | FlowError::Config(_)
                | FlowError::RevocationsUnavailable
                | FlowError::SessionTooLarge
                | FlowError::Internal(_)
                | FlowError::Csrf
                | FlowError::NotFound
                | FlowError::MethodNotAllowed
                | FlowError::PayloadTooLarge { .. }
                | FlowError::BadPath(_)
                | FlowError::ReplayStoreUnavailable(_) => {}
                #[cfg(feature = "saml")]
                FlowError::SamlResponse { .. } | FlowError::WsFedToken { .. } => {}
            }
        }
        all
    }

    #[test]
    fn every_refusal_maps_to_its_status_code_and_page() {
        for (e, status, code) in every_kind() {
            assert_eq!((e.status(), e.code()), (status, code), "{e:?}");
            let page = e.to_html_response();
            assert_eq!(page.status, status, "{e:?}");
            assert_eq!(page.header("x-edge-auth-error"), Some(code), "{e:?}");
            assert!(page.body.contains(&format!(r#"<meta name="edge-auth-error" content="{code}">"#)), "{e:?}");
            let json = e.to_json_response();
            assert_eq!(json.status, status, "{e:?}");
            assert_eq!(json.header("x-edge-auth-error"), Some(code), "{e:?}");
            let body: serde_json::Value = serde_json::from_str(&json.body).unwrap();
            assert_eq!(body["error"], code, "{e:?}");
            assert!(e.log_detail().starts_with(&format!("{code} (")), "{}", e.log_detail());
        }
    }

    #[test]
    fn kinds_of_refusal_do_not_share_a_code() {
        // The variants a visitor (and a monitoring rule) must tell apart have codes of their own: two kinds
        // mapped to one code (or a code moved to another kind) fail here. Only an expired and a replayed login
        // transaction share theirs (the visitor does the same: start again).
        let mut seen: Vec<(&'static str, std::mem::Discriminant<FlowError>)> = Vec::new();
        for (e, _, _) in every_kind() {
            let code = e.code();
            let kind = std::mem::discriminant(&e);
            let kind = if e == FlowError::Replayed { std::mem::discriminant(&FlowError::LoginExpired) } else { kind };
            match seen.iter().find(|(c, _)| *c == code) {
                Some((_, k)) => assert_eq!(*k, kind, "{code} is used by two kinds of refusal: {e:?}"),
                None => seen.push((code, kind)),
            }
        }
        assert_eq!(seen.len(), if cfg!(feature = "saml") { 31 } else { 29 }, "{seen:?}");
    }

    #[test]
    fn visitor_pages_never_contain_internal_detail() {
        for (e, _, _) in every_kind() {
            let page = e.to_html_response();
            assert!(!page.body.contains(SECRETISH), "{e:?}: {}", page.body);
            assert!(!e.to_json_response().body.contains(SECRETISH), "{e:?}");
            let shows_detail = matches!(
                e,
                FlowError::InvalidEmail(_)
                    | FlowError::UnknownDomain(_)
                    | FlowError::LoginExpired
                    | FlowError::Replayed
                    | FlowError::StateMismatch
                    | FlowError::InvalidCallback
                    | FlowError::Idp(_)
                    | FlowError::EmailMissing
                    | FlowError::RevocationsUnavailable
                    | FlowError::SessionTooLarge
                    | FlowError::Csrf
                    | FlowError::NotFound
                    | FlowError::MethodNotAllowed
                    | FlowError::PayloadTooLarge { .. }
                    | FlowError::BadPath(_)
                    | FlowError::IdToken(
                        IdTokenRefusal::Key(_)
                            | IdTokenRefusal::SidTooLong(_)
                            | IdTokenRefusal::Email(_)
                            | IdTokenRefusal::EmailTooLong
                            | IdTokenRefusal::Claims(IdTokenError::Issuer(_) | IdTokenError::AuthTimeTooOld { .. })
                    )
                    | FlowError::Internal(InternalError::Seal(SealError::Encryption))
                    | FlowError::IdpUnreachable(
                        IdpFailure::Abandoned(_)
                            | IdpFailure::Stalled(_)
                            | IdpFailure::Fetch {
                                error: FetchError::Timeout { .. } | FetchError::Status(_) | FetchError::TooLarge { .. },
                                ..
                            }
                    )
            );
            if !shows_detail {
                assert!(e.log_detail().contains(SECRETISH), "the operator gets the detail: {}", e.log_detail());
            }
        }
    }

    #[test]
    fn the_log_line_spells_out_the_cause_chain() {
        let cases: Vec<(FlowError, &str)> = vec![
            (
                FlowError::fetch(Endpoint::Discovery("https://idp.example/d".into()), FetchError::Network("refused".into())),
                "idp_unreachable (the IdP could not be reached or answered unusably: discovery https://idp.example/d: refused)",
            ),
            (
                FlowError::fetch(Endpoint::Token, FetchError::Timeout { seconds: 10 }),
                "idp_unreachable (the IdP could not be reached or answered unusably: token endpoint: no answer within 10 s)",
            ),
            (
                FlowError::fetch(Endpoint::Jwks, FetchError::TooLarge { limit: 524288 }),
                "idp_unreachable (the IdP could not be reached or answered unusably: jwks_uri: response larger than 524288 bytes)",
            ),
            (
                FlowError::fetch(Endpoint::UserInfo, FetchError::InvalidRequest("bad header".into())),
                "config_error (configuration error: userinfo: the request cannot be built: bad header)",
            ),
            (IdTokenError::BadSignature.into(), "id_token_invalid (ID token refused: the signature is invalid)"),
            (
                NoKey::UnknownKid.into(),
                "id_token_invalid (ID token refused: no key with the token's kid, even after a JWKS refetch)",
            ),
            (
                IdTokenRefusal::Email(EmailError::MissingAt).into(),
                "id_token_invalid (ID token refused: email claim: the email address has no @)",
            ),
            (
                TokenError::Refused { status: 401, error: "invalid_client".into() }.into(),
                "token_exchange_failed (token exchange failed: the token endpoint refused the code: invalid_client (HTTP 401))",
            ),
            (
                FlowError::DomainNotOwned {
                    connector: "entra".into(),
                    domain: "nowhere.example".into(),
                    owner: None,
                    why: "no tenant, so its addresses are refused",
                },
                "domain_not_owned (Entra: connector \"entra\": nowhere.example is verified in no tenant: no tenant, so its addresses are refused)",
            ),
            (
                SealError::TooLarge.into(),
                "session_too_large (the identity (with its session id) is too large for a session cookie)",
            ),
            (
                InternalError::Randomness(CryptoError("getrandom: unavailable".into())).into(),
                "internal_error (internal error: no randomness: getrandom: unavailable)",
            ),
        ];
        for (e, log) in cases {
            assert_eq!(e.log_detail(), log);
        }
    }

    #[test]
    fn idp_error_codes_are_sanitized() {
        assert_eq!(sanitize_idp_error_code("access_denied<script>"), "access_deniedscript");
        assert_eq!(sanitize_idp_error_code(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn unknown_domain_page_names_the_domain_escaped() {
        let r = FlowError::UnknownDomain("<b>.example".into()).to_html_response();
        assert_eq!(r.status, 403);
        assert!(r.body.contains("&lt;b&gt;.example"));
    }
}
