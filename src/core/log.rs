//! The operator log's events: one JSON object a line, for Workers Logs and Logpush (which index the fields of
//! a JSON line). The core says what happened ([`Event`]: its [`Kind`], its [`Level`] and typed fields); the
//! platform writes the line ([`crate::core::ports::Log::event`]), adding the request's id. See docs/logging.md.
//!
//! Never in an event: tokens, authorization codes, cookies, client secrets, keys, assertion XML, an IdP's
//! `error_description` (attacker-chosen text). Every string is JSON-escaped and capped ([`MAX_FIELD_CHARS`],
//! [`MAX_MESSAGE_CHARS`]), so no field can forge another line or another field.
//!
//! Adding an event: a [`Kind`] variant (and its name in [`Kind::name`]); adding a field: an `Option` in
//! [`Event`], a builder method and one line in [`Event::to_json`].

use crate::core::fetch::FetchError;

/// The longest value of a field (characters): connector ids, subjects, addresses, paths, URLs.
pub const MAX_FIELD_CHARS: usize = 512;
/// The longest `message` (characters): the human detail.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// How the line is written (`console.log`, `console.warn`, `console.error`): Workers Logs' level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// What happened (the `event` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A sign-in ended: `outcome` `success` (a session was issued) or `failure` (refused: `reason`).
    SignIn,
    /// A visitor signed out here (`POST /auth/logout`).
    SignOut,
    /// A session ended by the IdP (front-channel, back-channel, WS-Federation sign-out), or such a request
    /// refused or not recorded.
    Revocation,
    /// An IdP document (discovery, key set, SAML metadata, Entra domain owner) could not be fetched or used;
    /// `stale`: whether an older copy was used instead.
    IdpFetchFailed,
    /// The IdP answered a sign-in with an error status of its own protocol (SAML `StatusCode`).
    IdpStatus,
    /// The configuration (or a deployment binding or file) is unusable.
    ConfigError,
    /// A request refused before or outside a sign-in (oversized body, bad path, wrong method, CSRF...).
    RequestRefused,
    /// The revocation log (Durable Object) failed or was read incompletely.
    RevocationStore,
    /// The location's cache of IdP documents could not be written, or held a copy without a valid MAC.
    Cache,
    /// The platform itself failed (an answer of 500).
    InternalError,
    /// A request that presented a service token: `outcome` `allowed`, `forbidden` (a valid token this path's
    /// policies do not name) or `refused` (no valid token: `message` says why); `token_id` as sent when known.
    ServiceToken,
    /// Free text without a more precise event ([`crate::core::ports::Log::warn`]).
    Warning,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::SignIn => "sign_in",
            Kind::SignOut => "sign_out",
            Kind::Revocation => "revocation",
            Kind::IdpFetchFailed => "idp_fetch_failed",
            Kind::IdpStatus => "idp_status",
            Kind::ConfigError => "config_error",
            Kind::RequestRefused => "request_refused",
            Kind::RevocationStore => "revocation_store",
            Kind::Cache => "cache",
            Kind::InternalError => "internal_error",
            Kind::ServiceToken => "service_token",
            Kind::Warning => "warning",
        }
    }
}

/// `outcome` values.
pub const SUCCESS: &str = "success";
pub const FAILURE: &str = "failure";

/// One event, written as it is built: [`Event::new`], then the field methods in the order the fields should
/// appear (`message` last by convention); absent (`None`) fields are left out of the line. The platform adds
/// the request's id ([`Event::to_json`]). (A JSON writer rather than a struct of optional fields: a struct
/// of twenty fields moved through every builder call cost the worker 2 KB gzipped.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Event {
    pub level: Level,
    /// The line so far, without its closing `}`.
    out: String,
}

impl Event {
    #[inline(never)]
    pub fn new(kind: Kind, level: Level) -> Event {
        let mut out = String::with_capacity(192);
        out.push_str("{\"event\":\"");
        out.push_str(kind.name());
        out.push_str("\",\"level\":\"");
        out.push_str(level.name());
        out.push('"');
        Event { level, out }
    }

    /// A `warning` with free text (the former `edge-auth: ` prefix dropped).
    pub fn warning(message: &str) -> Event {
        Event::new(Kind::Warning, Level::Warn).message(message.strip_prefix("edge-auth: ").unwrap_or(message))
    }

    /// A string field (escaped, capped at [`MAX_FIELD_CHARS`]); nothing for `None`.
    #[inline(never)]
    pub fn text(mut self, name: &str, value: Option<&str>) -> Self {
        if let Some(value) = value {
            field(&mut self.out, name, value, MAX_FIELD_CHARS);
        }
        self
    }

    /// `success` or `failure` ([`SUCCESS`], [`FAILURE`]).
    pub fn outcome(self, outcome: &'static str) -> Self {
        self.text("outcome", Some(outcome))
    }
    pub fn connector(self, connector: &str) -> Self {
        self.text("connector", Some(connector))
    }
    pub fn connector_opt(self, connector: Option<&str>) -> Self {
        self.text("connector", connector)
    }
    pub fn subject(self, subject: &str) -> Self {
        self.text("subject", Some(subject))
    }
    pub fn email(self, email: &str) -> Self {
        self.text("email", Some(email))
    }
    /// The IdP's session id (`sid`) of the session.
    pub fn session_id(self, sid: Option<&str>) -> Self {
        self.text("session_id", sid)
    }
    /// The machine code of a refusal ([`crate::core::error::FlowError::code`]) or of a failure.
    pub fn reason(self, reason: &str) -> Self {
        self.text("reason", Some(reason))
    }
    /// The IdP's `error` code (already reduced to `[A-Za-z0-9_]`, at most 64 characters).
    pub fn idp_error(self, code: Option<&str>) -> Self {
        self.text("idp_error", code)
    }
    /// Which logout channel: `logout`, `front_channel`, `back_channel`, `wsfed_signout`.
    pub fn channel(self, channel: &str) -> Self {
        self.text("channel", Some(channel))
    }
    /// Which IdP document: `discovery`, `jwks`, `saml_metadata`, `entra_domain_owner`.
    pub fn document(self, document: &str) -> Self {
        self.text("document", Some(document))
    }
    pub fn issuer(self, issuer: Option<&str>) -> Self {
        self.text("issuer", issuer.filter(|i| !i.is_empty()))
    }
    pub fn url(self, url: Option<&str>) -> Self {
        self.text("url", url)
    }
    /// The request's method and path (never its query, which may hold an authorization code).
    pub fn request(self, method: &str, path: &str) -> Self {
        self.text("method", Some(method)).text("path", Some(path))
    }
    /// Whether an older copy of the document was used instead.
    pub fn stale(mut self, stale: bool) -> Self {
        self.out.push_str(if stale { ",\"stale\":true" } else { ",\"stale\":false" });
        self
    }
    /// Human detail for the operator (capped at [`MAX_MESSAGE_CHARS`]).
    pub fn message(mut self, message: &str) -> Self {
        field(&mut self.out, "message", message, MAX_MESSAGE_CHARS);
        self
    }

    /// A failed fetch's `status` (when the answer had one) and `error_class`: `status`, `timeout`,
    /// `too_large`, `network`, `invalid_request`, `invalid_document`, `abandoned`, `stalled`.
    pub fn fetch_error(mut self, error: &FetchError) -> Self {
        let (status, class) = fetch_error_class(error);
        if let Some(status) = status {
            self.out.push_str(",\"status\":");
            self.out.push_str(&status.to_string());
        }
        self.text("error_class", Some(class))
    }

    /// An `error_class` without a fetch error (`invalid_document`, `abandoned`, `stalled`: see
    /// [`FlowError::fetch_failure_fields`](crate::core::error::FlowError::fetch_failure_fields)).
    pub fn error_class(self, class: &'static str) -> Self {
        self.text("error_class", Some(class))
    }

    /// The JSON line, with the request's id when there is one.
    pub fn to_json(&self, request_id: Option<&str>) -> String {
        let mut out = self.out.clone();
        if let Some(id) = request_id {
            field(&mut out, "request_id", id, MAX_FIELD_CHARS);
        }
        out.push('}');
        out
    }
}

/// A failed fetch as a status (when the answer had one) and a class.
pub fn fetch_error_class(error: &FetchError) -> (Option<u16>, &'static str) {
    match error {
        FetchError::Status(status) => (Some(*status), "status"),
        FetchError::Timeout { .. } => (None, "timeout"),
        FetchError::TooLarge { .. } => (None, "too_large"),
        FetchError::Network(_) => (None, "network"),
        FetchError::InvalidRequest(_) => (None, "invalid_request"),
    }
}

/// `,"name":"value"`, the value escaped and cut at `max` characters (a cut value ends with `…`).
fn field(out: &mut String, name: &str, value: &str, max: usize) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":\"");
    for (n, c) in value.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Other control characters, and the line and paragraph separators (some log viewers break lines
            // on them): escaped.
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_json_object_with_only_its_fields() {
        let line = Event::new(Kind::SignIn, Level::Info)
            .outcome(SUCCESS)
            .connector("acme")
            .subject("u1")
            .email("a@acme.example")
            .session_id(None)
            .to_json(Some("8f0c-AMS"));
        assert_eq!(
            line,
            r#"{"event":"sign_in","level":"info","outcome":"success","connector":"acme","subject":"u1","email":"a@acme.example","request_id":"8f0c-AMS"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "sign_in");
    }

    #[test]
    fn values_cannot_break_out_of_their_field_or_line() {
        let evil = "x\",\"event\":\"sign_in\"}\n{\"level\":\"info\u{2028}\u{1b}[31m\\";
        let line = Event::new(Kind::RequestRefused, Level::Warn).reason(evil).message(evil).to_json(None);
        assert!(!line.contains('\n') && !line.contains('\u{2028}') && !line.contains('\u{1b}'), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "request_refused");
        assert_eq!(v["reason"], evil);
        assert_eq!(v["message"], evil);
        assert_eq!(v.as_object().unwrap().len(), 4);
    }

    #[test]
    fn long_values_are_capped() {
        let long = "é".repeat(5000);
        let line = Event::new(Kind::Warning, Level::Warn).request("GET", &long).message(&long).to_json(None);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["path"].as_str().unwrap().chars().count(), MAX_FIELD_CHARS + 1);
        assert_eq!(v["message"].as_str().unwrap().chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn fetch_failures_have_a_status_or_a_class() {
        let line = Event::new(Kind::IdpFetchFailed, Level::Warn)
            .document("discovery")
            .stale(false)
            .fetch_error(&FetchError::Status(503))
            .to_json(None);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (v["status"].as_u64(), v["error_class"].as_str(), v["stale"].as_bool()),
            (Some(503), Some("status"), Some(false))
        );
        let line = Event::new(Kind::IdpFetchFailed, Level::Warn)
            .fetch_error(&FetchError::Timeout { seconds: 5 })
            .to_json(None);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!((v.get("status"), v["error_class"].as_str()), (None, Some("timeout")));
    }
}
