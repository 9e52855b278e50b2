//! Flow errors, and the one place where each maps to an HTTP status, a machine-readable code and the words
//! a visitor sees. Internal detail (`log_detail`) goes to the operator log only.

use thiserror::Error;

use crate::core::html::ErrorPage;
use crate::core::http::Response;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FlowError {
    #[error("invalid email address: {0}")]
    InvalidEmail(String),
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
    #[error("the IdP returned error {0:?}")]
    Idp(String),
    #[error("the authorization response iss {found:?} is not the issuer {expected:?} (RFC 9207)")]
    IssuerMismatch { expected: String, found: Option<String> },
    #[error("token exchange failed: {0}")]
    TokenExchange(String),
    #[error("ID token refused: {0}")]
    IdToken(String),
    #[error("the ID token has no email")]
    EmailMissing,
    #[error("the IdP says the email {0:?} is not verified")]
    EmailUnverified(String),
    #[error("the email domain {domain:?} is not one of connector {connector:?}'s domains")]
    EmailDomainMismatch { domain: String, connector: String },
    #[error("the Entra tenant {0:?} is not allowed for this connector")]
    TenantNotAllowed(String),
    /// Entra: the address's domain is not verified in the tenant that signed the user in (another tenant owns
    /// it, or none does) — the "nOAuth" class.
    #[error("Entra: {0}")]
    DomainNotOwned(String),
    #[error("the Google hosted domain (hd) {0:?} is not one of the connector's hosted_domains")]
    HostedDomainMismatch(String),
    #[error("the user's profile could not be read: {0}")]
    UserInfo(String),
    #[error("the IdP could not be reached or answered unusably: {0}")]
    IdpUnreachable(String),
    #[error("configuration error: {0}")]
    Config(String),
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
    #[error("the single-use store could not be reached: {0}")]
    ReplayStoreUnavailable(String),
}

struct Public {
    status: u16,
    code: &'static str,
    title: &'static str,
    message: String,
    action_label: &'static str,
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
        let p = |status, code, title, message: &str, action_label, action_href| Public {
            status,
            code,
            title,
            message: message.to_string(),
            action_label,
            action_href,
        };
        match self {
            FlowError::InvalidEmail(_) => p(400, "invalid_email", "That is not an email address",
                "Enter your full work email address, like name@company.com.", "Try again", LOGIN),
            FlowError::UnknownDomain(domain) => Public {
                status: 403,
                code: "unknown_domain",
                title: "Your organisation is not set up here",
                message: format!(
                    "Sign-in for {domain} is not configured on this site. Check the address you typed, or ask your administrator to add your organisation."
                ),
                action_label: "Use another email",
                action_href: LOGIN,
            },
            FlowError::UnknownConnector(_) => p(404, "unknown_connector", "Unknown sign-in option",
                "This sign-in link names an identity provider this site does not know.", "Sign in", LOGIN),
            FlowError::LoginExpired => p(400, "login_expired", "Your sign-in expired",
                "The sign-in took too long, or it was started in another browser or tab. Please start again.", "Sign in again", LOGIN),
            FlowError::Replayed => p(400, "login_expired", "Your sign-in expired",
                "This sign-in link was already used. Please start again.", "Sign in again", LOGIN),
            FlowError::StateMismatch => p(400, "state_mismatch", "This sign-in does not belong to this browser",
                "The answer from your identity provider does not match the sign-in started here. Please start again.", "Sign in again", LOGIN),
            FlowError::InvalidCallback => p(400, "invalid_callback", "Incomplete answer from your identity provider",
                "The identity provider sent this browser back without a result. Please start again.", "Sign in again", LOGIN),
            FlowError::Idp(code) => idp_error_public(code),
            FlowError::IssuerMismatch { .. } => p(400, "issuer_mismatch", "Unexpected identity provider",
                "The answer came from a different identity provider than the one this sign-in was sent to. Please start again; if it keeps happening, contact your administrator.", "Sign in again", LOGIN),
            FlowError::TokenExchange(_) => p(502, "token_exchange_failed", "Your identity provider refused the sign-in",
                "Your identity provider did not accept this sign-in. Please try again; if it keeps happening, contact your administrator.", "Try again", LOGIN),
            FlowError::IdToken(_) => p(400, "id_token_invalid", "Your sign-in could not be verified",
                "The identity provider's answer failed our security checks, so you were not signed in. Please try again; if it keeps happening, contact your administrator.", "Try again", LOGIN),
            FlowError::EmailMissing => p(403, "email_missing", "No email address was shared",
                "Your identity provider did not tell us your email address, which this site needs. Contact your administrator.", "Sign in with another account", LOGIN),
            FlowError::EmailUnverified(_) => p(403, "email_unverified", "Your email address is not verified",
                "Your identity provider says your email address has not been verified. Verify it with your provider, then sign in again.", "Sign in again", LOGIN),
            FlowError::EmailDomainMismatch { .. } => p(403, "email_domain_mismatch", "That account belongs to another organisation",
                "You signed in with an account whose email domain is not served by the identity provider you were sent to. Sign in with your work account for the email you entered.", "Sign in again", LOGIN),
            FlowError::TenantNotAllowed(_) => p(403, "tenant_not_allowed", "Your organisation's directory is not allowed here",
                "You signed in with an account from a Microsoft Entra tenant this site does not accept. Sign in with your work account for the email you entered, or ask your administrator to allow your organisation.", "Sign in again", LOGIN),
            FlowError::DomainNotOwned { .. } => p(403, "domain_not_owned", "Your address belongs to another organisation",
                "Your address's domain is not verified in your organisation's Microsoft Entra directory.", "Sign in again", LOGIN),
            FlowError::HostedDomainMismatch(_) => p(403, "hosted_domain_mismatch", "Use your organisation's Google account",
                "You signed in with a Google account that does not belong to your organisation's Google Workspace. Sign in with your work account.", "Sign in again", LOGIN),
            FlowError::UserInfo(_) => p(502, "userinfo_failed", "Your profile could not be read",
                "Your identity provider did not let us read your email address. Please try again; if it keeps happening, contact your administrator.", "Try again", LOGIN),
            FlowError::IdpUnreachable(_) => p(502, "idp_unreachable", "Your identity provider is not answering",
                "We could not reach your organisation's identity provider. Please try again in a few minutes.", "Try again", LOGIN),
            FlowError::Config(_) => p(500, "config_error", "Sign-in is not configured correctly",
                "This site's sign-in configuration has a problem. The site operator has the details in the logs.", "Try again", LOGIN),
            FlowError::Csrf => p(403, "csrf", "Request refused",
                "This request did not come from this site, so it was refused.", "Go to the home page", "/"),
            FlowError::NotFound => p(404, "not_found", "Page not found", "There is nothing at this address.", "Go to the home page", "/"),
            FlowError::MethodNotAllowed => p(405, "method_not_allowed", "Method not allowed",
                "This address does not accept that kind of request.", "Go to the home page", "/"),
            FlowError::PayloadTooLarge { .. } => p(413, "payload_too_large", "Request too large",
                "This request carried more data than a sign-in ever needs, so it was refused. Please start again.", "Sign in again", LOGIN),
            FlowError::BadPath(_) => p(400, "bad_path", "This address cannot be served",
                "The address contains characters that are not allowed in a path here (for example an encoded control character or a malformed %-escape). Check the link you followed.", "Go to the home page", "/"),
            FlowError::ReplayStoreUnavailable(_) => p(503, "replay_store_unavailable", "Sign-in is temporarily unavailable",
                "This site could not make sure that this sign-in is used only once, so it was refused for your safety. Please start again in a minute.", "Sign in again", LOGIN),
        }
    }

    /// The visitor-facing page, with the code in a header.
    pub fn to_html_response(&self) -> Response {
        let p = self.public();
        // For IdP errors, the provider's code (already reduced to [A-Za-z0-9_]) is what an admin needs.
        let shown_code = match self {
            FlowError::Idp(idp_code) if !idp_code.is_empty() => format!("{} ({idp_code})", p.code),
            _ => p.code.to_string(),
        };
        let body = ErrorPage {
            code: p.code,
            shown_code: &shown_code,
            title: p.title,
            message: &p.message,
            action_label: p.action_label,
            action_href: p.action_href,
        }
        .render();
        Response::html(p.status, body).with_header("x-edge-auth-error", p.code)
    }

    /// A page in `www/auth/static/` that replaces the rendered page for this error (operators can restyle
    /// it), or `None`. One page per IdP error code of OAuth 2.0 / OIDC Core.
    pub fn static_page(&self) -> Option<&'static str> {
        let FlowError::Idp(code) = self else { return None };
        Some(match code.as_str() {
            "access_denied" => "/auth/static/errors/access-denied",
            "server_error" => "/auth/static/errors/server-error",
            "temporarily_unavailable" => "/auth/static/errors/temporarily-unavailable",
            "invalid_request" => "/auth/static/errors/invalid-request",
            "unauthorized_client" => "/auth/static/errors/unauthorized-client",
            "unsupported_response_type" => "/auth/static/errors/unsupported-response-type",
            "invalid_resource" => "/auth/static/errors/invalid-resource",
            "invalid_scope" => "/auth/static/errors/invalid-scope",
            "login_required" | "interaction_required" | "consent_required" | "account_selection_required" => {
                "/auth/static/errors/sign-in-required"
            }
            _ => "/auth/static/errors/idp-error",
        })
    }

    /// For API-style callers.
    pub fn to_json_response(&self) -> Response {
        let p = self.public();
        let body = serde_json::json!({ "error": p.code, "message": p.message }).to_string();
        Response::json(p.status, body).with_header("x-edge-auth-error", p.code)
    }

    /// What the operator log gets (never secrets or tokens: the variants hold none).
    pub fn log_detail(&self) -> String {
        format!("{} ({})", self.code(), self)
    }
}

/// IdP authorization error codes (OAuth 2.0 §4.1.2.1, OIDC Core §3.1.2.6) -> what a person can do.
fn idp_error_public(code: &str) -> Public {
    let (status, title, message, action_label): (u16, &'static str, &'static str, &'static str) = match code {
        "access_denied" => (403, "Sign-in was cancelled",
            "You or your identity provider declined the sign-in. If that was a mistake, start again.", "Start again"),
        "server_error" => (502, "Your identity provider had a problem",
            "Your organisation's identity provider reported an internal error. Please try again in a moment.", "Try again"),
        "temporarily_unavailable" => (503, "Your identity provider is busy",
            "Your organisation's identity provider is temporarily unavailable. Please try again in a few minutes.", "Try again"),
        "login_required" | "interaction_required" | "consent_required" | "account_selection_required" => (401,
            "Please sign in again", "Your identity provider needs you to sign in again.", "Sign in"),
        "invalid_request" | "unauthorized_client" | "unsupported_response_type" | "invalid_scope" | "invalid_resource" => (502, "Sign-in is misconfigured",
            "Your identity provider rejected this site's sign-in request. Contact your administrator and mention the error code below.", "Try again"),
        _ => (502, "Your identity provider returned an error",
            "Your identity provider could not complete the sign-in. Please try again; if it keeps happening, contact your administrator.", "Try again"),
    };
    Public { status, code: "idp_error", title, message: message.to_string(), action_label, action_href: LOGIN }
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

    #[test]
    fn visitor_pages_never_contain_internal_detail() {
        let e = FlowError::IdToken("signature invalid for kid=abc".into());
        let r = e.to_html_response();
        assert!(!r.body.contains("kid=abc"));
        assert!(e.log_detail().contains("kid=abc"));
        let e = FlowError::Config("connector acme, field issuer".into());
        assert!(!e.to_html_response().body.contains("acme"));
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
