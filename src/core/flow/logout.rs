//! Sign-out, three ways:
//! - `POST /auth/logout` (same-origin only): clears the session and, where the IdP has an
//!   `end_session_endpoint`, continues to it (OpenID Connect RP-Initiated Logout 1.0); a WS-Federation session
//!   continues to its IdP with `wa=wsignout1.0`.
//! - `GET /auth/logout/frontchannel?iss=…&sid=…` (Front-Channel Logout 1.0): the IdP, in an iframe of the
//!   user's browser, ends that IdP session here. Microsoft Entra sends `?sid=` alone: accepted when an
//!   `entra` connector is configured, and it ends the sessions with that `sid` signed in through an `entra`
//!   connector. Unauthenticated, so rate-limited per connector and bounded in count
//!   ([`crate::core::session::revocation_state`]); it clears the visitor's own cookie only when that cookie is
//!   the session it names.
//! - `POST /auth/logout/backchannel` (Back-Channel Logout 1.0): the IdP, server to server, posts a signed
//!   logout token.
//!
//! Session cookies are stateless, so the last two record a revocation (by `sid`, or by `sub` for every
//! session issued before the logout) in the platform's shared store; every session check consults it.

use crate::core::config::{Connector, Protocol};
use crate::core::error::FlowError;
use crate::core::fetch::FetchError;
use crate::core::flow::metadata::KeyLookupError;
use crate::core::flow::{authenticate, Flow, FlowResult};
use crate::core::http::{Outcome, Request, Response};
use crate::core::log::{Event, Kind, Level, FAILURE, SUCCESS};
use crate::core::oidc::id_token::verify_signature;
use crate::core::oidc::issuer::{token_issuer_match, IssuerMatch};
use crate::core::oidc::jws::{TokenType, UntrustedJws};
use crate::core::oidc::logout_token::validate_logout_claims;
use crate::core::ports::Platform;
use crate::core::replay::LOGOUT_JTI_SCOPE;
use crate::core::session::cookies::{delete_cookie, CookieKind, Transport};
use crate::core::session::record::MAX_SID_LEN;
use crate::core::session::revocation::{Revocation, RevocationKind, RevocationList};
use crate::core::session::revocation_state::WriteRefusal;

impl<P: Platform> Flow<'_, P> {
    // ---- POST /auth/logout ---------------------------------------------------------------------------

    pub(super) async fn logout(&self, req: &Request, transport: Transport) -> FlowResult {
        if !is_same_origin(req) {
            return Err((FlowError::Csrf, vec![]));
        }
        let session_name = CookieKind::Session.name(transport);
        let clear = delete_cookie(session_name, transport);
        let signed_out = super::site_uris::post_logout_redirect_uri(&req.origin());
        let session = authenticate(&req.cookie_header, transport, self.keys, self.now());
        if let Some(s) = &session {
            let event = Event::new(Kind::SignOut, Level::Info)
                .outcome(SUCCESS)
                .channel("logout")
                .connector(&s.connector)
                .subject(&s.sub)
                .email(&s.email)
                .session_id(s.sid.as_deref());
            self.platform.event(&event);
            self.record_sign_out(s, "logout").await;
        }
        let mut location = "/auth/signed-out".to_string();
        let oidc_connector = session
            .as_ref()
            .and_then(|s| self.config.connector(&s.connector))
            .filter(|c| matches!(c.protocol, Protocol::OpenIdConnect { .. }));
        if let Some(connector) = oidc_connector {
            match self.metadata(connector).await {
                Ok(metadata) => {
                    if let Some(end) = &metadata.end_session_endpoint {
                        if let Ok(mut u) = url::Url::parse(end) {
                            u.query_pairs_mut()
                                .append_pair("client_id", &connector.client_id)
                                .append_pair("post_logout_redirect_uri", &signed_out);
                            location = u.into();
                        }
                    }
                }
                Err((e, _)) => {
                    let message = format!("no end_session_endpoint (the session ended here only): {}", e.log_detail());
                    self.log_no_idp_sign_out(&connector.id, &e, &message);
                }
            }
        }
        #[cfg(feature = "saml")]
        if let Some(connector) = session.as_ref().and_then(|s| self.config.wsfed_connector(&s.connector)) {
            // WS-Federation: the IdP ends its session (and the other relying parties') and comes back.
            match self.saml_idp(connector).await {
                Ok(idp) => {
                    let realm = connector.audience(&req.origin());
                    if let Some(url) = crate::core::wsfed::wsignout_url(&idp.sso_url, &realm, &signed_out) {
                        location = url;
                    }
                }
                Err((e, _)) => {
                    let message =
                        format!("no WS-Federation sign-out (the session ended here only): {}", e.log_detail());
                    self.log_no_idp_sign_out(&connector.id, &e, &message);
                }
            }
        }
        Ok(Outcome::Respond(Response::redirect(location).with_cookie(clear)))
    }

    /// Stateless cookies outlive a deleted copy: record the sign-out so a copied cookie stops working too (on
    /// this isolate at least when the log cannot be written: logged). Not again when this isolate already holds
    /// it: a copy signed out over and over must not become a stream of requests to the one revocation log. (The
    /// browser that signed out has no cookie left to retry with.)
    pub(super) async fn record_sign_out(&self, session: &crate::core::session::record::Session, channel: &str) {
        if self.providers.revocations.holds(session) {
            return;
        }
        let (reason, message) = match self.revoke(RevocationList::for_session(session, self.now())).await {
            Ok(()) => return,
            Err(RevokeError::Refused(refusal)) => {
                ("refused", format!("sign-out not recorded in the revocation log: {}", refusal.log_detail()))
            }
            Err(RevokeError::Store(e)) => ("store_failed", format!("sign-out not recorded: {}", store_failed(&e))),
        };
        let event = Event::new(Kind::Revocation, Level::Warn)
            .outcome(FAILURE)
            .channel(channel)
            .connector(&session.connector)
            .subject(&session.sub)
            .session_id(session.sid.as_deref())
            .reason(reason)
            .message(&message);
        self.platform.event(&event);
    }

    /// Our sign-out could not continue to the IdP's (its document could not be had): logged.
    fn log_no_idp_sign_out(&self, connector: &str, error: &FlowError, message: &str) {
        let event = Event::new(Kind::SignOut, Level::Warn).channel("logout").connector(connector).reason(error.code());
        let event = error.fetch_failure_fields(event).message(message);
        self.platform.event(&event);
    }
}

/// Why a revocation was not recorded.
enum RevokeError {
    /// A rate or count limit (see [`WriteRefusal`]).
    Refused(WriteRefusal),
    /// The store failed.
    Store(FetchError),
}

/// A channel's name in the log's `channel` field (`front-channel` -> `front_channel`).
fn channel_name(channel: &str) -> &str {
    match channel {
        "front-channel" => "front_channel",
        "back-channel" => "back_channel",
        other => other,
    }
}

/// The operator's words for a failed write to the revocation store.
fn store_failed(e: &FetchError) -> String {
    format!("the revocation log (Durable Object binding REVOCATION_LOG) failed: {e}")
}

/// Answer of the logout channels to the IdP: no page, no caching.
fn channel_response(status: u16, body: &str) -> Response {
    Response::json(status, body.to_string())
}

impl<P: Platform> Flow<'_, P> {
    /// Connectors that may have issued tokens with this `iss` ([`token_issuer_match`]).
    async fn connectors_for_issuer(&self, iss: &str) -> Vec<&Connector> {
        let mut out = Vec::new();
        for c in &self.config.connectors {
            let accepted = match token_issuer_match(c, iss) {
                IssuerMatch::Yes => true,
                IssuerMatch::No => false,
                IssuerMatch::IfDiscovered => self.metadata(c).await.is_ok_and(|m| m.issuer == iss),
            };
            if accepted {
                out.push(c);
            }
        }
        out
    }

    /// Record a revocation in the shared log, then in this isolate. Refused beyond the log's bounds (never
    /// accepted and then forgotten).
    async fn revoke(&self, mut revocation: Revocation) -> Result<(), RevokeError> {
        // Sessions it could end live at most one lifetime (plus leeway) from now.
        revocation.until = self.now().saturating_add(self.config.session.lifetime_seconds).saturating_add(300);
        match self.platform.record_revocation(&revocation).await {
            Ok(recorded) => {
                if let Some(refusal) = WriteRefusal::from_recorded(recorded, &revocation.connector) {
                    return Err(RevokeError::Refused(refusal));
                }
                self.providers.revocations.add(revocation);
                Ok(())
            }
            // Not in the log: this isolate applies it all the same (ending sessions is the safe side); the caller
            // reports the failure (the IdP retries on its error answer).
            Err(e) => {
                self.providers.revocations.add(revocation);
                Err(RevokeError::Store(e))
            }
        }
    }

    /// The answer to the IdP when a revocation could not be recorded (logged for the operator).
    fn channel_refusal(&self, channel: &str, error: RevokeError) -> FlowResult {
        match error {
            RevokeError::Refused(refusal) => {
                if !matches!(refusal, WriteRefusal::RateLimited { log: None, .. }) {
                    let (reason, connector) = match &refusal {
                        WriteRefusal::RateLimited { connector, .. } => ("rate_limited", Some(connector.as_str())),
                        WriteRefusal::ConnectorFull { connector, .. } => ("log_full", Some(connector.as_str())),
                        WriteRefusal::StoreFull { .. } => ("log_full", None),
                    };
                    let message = format!("{channel} logout refused: {}", refusal.log_detail());
                    self.log_channel_failure(channel, reason, connector, &message);
                }
                let unavailable = r#"{"error":"temporarily_unavailable"}"#;
                Ok(Outcome::Respond(match refusal {
                    WriteRefusal::RateLimited { retry_after, .. } => {
                        channel_response(429, unavailable).with_header("retry-after", retry_after.to_string())
                    }
                    _ => channel_response(503, unavailable),
                }))
            }
            RevokeError::Store(e) => {
                let message = format!("{channel} logout not recorded: {}", store_failed(&e));
                self.log_channel_failure(channel, "store_failed", None, &message);
                Ok(Outcome::Respond(channel_response(500, r#"{"error":"server_error"}"#)))
            }
        }
    }

    /// A logout channel's request refused or not recorded: logged.
    fn log_channel_failure(&self, channel: &str, reason: &str, connector: Option<&str>, message: &str) {
        let event = Event::new(Kind::Revocation, Level::Warn)
            .outcome(FAILURE)
            .connector_opt(connector)
            .channel(channel_name(channel))
            .reason(reason)
            .message(message);
        self.platform.event(&event);
    }

    /// A revocation the IdP asked for, recorded.
    fn log_revocation(&self, channel: &str, revocation: &Revocation) {
        let event = Event::new(Kind::Revocation, Level::Info)
            .outcome(SUCCESS)
            .channel(channel)
            .connector(&revocation.connector)
            .issuer(Some(&revocation.iss));
        let event = match revocation.kind {
            RevocationKind::Sub => event.subject(&revocation.value),
            _ => event.session_id(Some(&revocation.value)),
        };
        self.platform.event(&event);
    }

    /// `GET /auth/logout/frontchannel?iss=…&sid=…`, or `?sid=…` alone from Microsoft Entra.
    pub(super) async fn frontchannel_logout(&self, req: &Request, transport: Transport) -> FlowResult {
        let bad = || {
            Ok(Outcome::Respond(channel_response(
                400,
                r#"{"error":"invalid_request","error_description":"iss (a connector's issuer, or none for Entra) and sid (1 to 255 bytes)"}"#,
            )))
        };
        let Some(sid) = req.query_param("sid").filter(|s| !s.is_empty() && s.len() <= MAX_SID_LEN) else {
            return bad();
        };
        let now = self.now();
        let revocations: Vec<Revocation> = match req.query_param("iss") {
            Some(iss) => {
                // Several connectors may share an issuer: the revocation (by iss) covers them all, and is
                // accounted to the first.
                let Some(first) = self.connectors_for_issuer(&iss).await.first().map(|c| c.id.clone()) else {
                    return bad();
                };
                let kind = RevocationKind::Sid;
                vec![Revocation { kind, iss, value: sid, at: now, connector: first, unauthenticated: true, until: 0 }]
            }
            // Entra's issuers differ per tenant and its front-channel request names none: the sid is scoped to
            // the Entra connectors.
            None => self
                .config
                .connectors
                .iter()
                .filter(|c| matches!(c.protocol, Protocol::OpenIdConnect { entra: Some(_), .. }))
                .map(|c| Revocation {
                    kind: RevocationKind::ConnectorSid,
                    iss: String::new(),
                    value: sid.clone(),
                    at: now,
                    connector: c.id.clone(),
                    unauthenticated: true,
                    until: 0,
                })
                .collect(),
        };
        if revocations.is_empty() {
            return bad();
        }
        // Each connector on its own: Entra's `?sid=` alone is written for every `entra` connector, and one whose
        // bucket is empty or whose share of the log is full (anyone can flood it) must not keep the others'
        // logouts from being written. The first refusal is still answered (the IdP may retry), after the rest.
        let mut refused: Option<RevokeError> = None;
        for r in &revocations {
            let outcome = match self.providers.revocations.take_token(&r.connector, now) {
                Ok(()) => self.revoke(r.clone()).await,
                Err(refusal) => Err(RevokeError::Refused(refusal)),
            };
            if let Err(e) = outcome {
                refused.get_or_insert(e);
            }
        }
        if let Some(e) = refused {
            return self.channel_refusal("front-channel", e);
        }
        for r in &revocations {
            self.log_revocation("front_channel", r);
        }
        let mut response = signed_out_frame(&self.pages(req));
        // The visitor's own cookie is cleared only when it is the session named: anyone can make a browser
        // send this GET with a sid of their choosing.
        let named = authenticate(&req.cookie_header, transport, self.keys, now).is_some_and(|session| {
            revocations.iter().any(|r| {
                session.sid.as_ref() == Some(&r.value)
                    && match r.kind {
                        RevocationKind::ConnectorSid => session.connector == r.connector,
                        _ => session.iss == r.iss,
                    }
            })
        });
        if named {
            response = response.with_cookie(delete_cookie(CookieKind::Session.name(transport), transport));
        }
        Ok(Outcome::Respond(response))
    }

    /// `POST /auth/logout/backchannel` with `logout_token`.
    pub(super) async fn backchannel_logout(&self, req: &Request) -> FlowResult {
        let refuse = |why: &str| {
            self.log_channel_failure(
                "back-channel",
                "invalid_logout_token",
                None,
                &format!("back-channel logout refused: {why}"),
            );
            Ok(Outcome::Respond(channel_response(400, r#"{"error":"invalid_request"}"#)))
        };
        let Some(token) = req.form_param("logout_token") else { return refuse("no logout_token") };
        let jws = match UntrustedJws::parse_typed(token, TokenType::LogoutToken) {
            Ok(j) => j,
            Err(e) => return refuse(&e.to_string()),
        };
        let Some(iss) = jws.unverified_string_claim("iss") else { return refuse("no iss") };
        let candidates = self.connectors_for_issuer(&iss).await;
        let Some(first) = candidates.first() else { return refuse("iss is no connector's issuer") };
        let metadata = match self.metadata(first).await {
            Ok(m) => m,
            Err((e, _)) => return refuse(&e.log_detail()),
        };
        let key = match self.signing_key(&metadata, &jws).await {
            Ok(k) => k,
            Err(KeyLookupError::NoKey(_)) => return refuse("no key for the logout token"),
            Err(KeyLookupError::Fetch(e)) => return refuse(&e.log_detail()),
        };
        if let Err(e) = verify_signature(&jws, &key, self.platform).await {
            return refuse(&e.to_string());
        }
        let now = self.now();
        let leeway = self.config.clock_leeway_seconds;
        let mut last_error = String::from("no connector's client_id is in aud");
        for connector in candidates {
            match validate_logout_claims(jws.payload(), &iss, &connector.client_id, now, leeway) {
                Ok(claims) => {
                    // One use per jti (given back when the revocation is not recorded: the IdP may retry).
                    let id = format!("{iss}\0{}", claims.jti);
                    let jti = format!("logout-jti\0{id}");
                    if !self.providers.spend_transaction(&jti, now.saturating_add(3600), now) {
                        return refuse("replayed jti");
                    }
                    let (kind, value) = match (claims.sid, claims.sub) {
                        (Some(sid), _) => (RevocationKind::Sid, sid),
                        (None, Some(sub)) => (RevocationKind::Sub, sub),
                        (None, None) => return refuse("neither sid nor sub"),
                    };
                    let connector = connector.id.clone();
                    let iss = iss.clone();
                    // A `sub` token ends the sessions signed in before the IdP issued it (its `iat`, with the
                    // clock leeway), not before it reached us: recorded again by a replay on another isolate
                    // (below), it ends no session signed in after that — only those it ended already.
                    let at = match kind {
                        RevocationKind::Sub => now.min(claims.iat.saturating_add(leeway)),
                        _ => now,
                    };
                    let revocation = Revocation { kind, iss, value, at, connector, unauthenticated: false, until: 0 };
                    let recorded = revocation.clone();
                    if let Err(e) = self.revoke(revocation).await {
                        self.providers.unspend_transaction(&jti);
                        return self.channel_refusal("back-channel", e);
                    }
                    // Then once network-wide (issue 13). The order is deliberate: a claim in the store cannot be
                    // given back, so claiming first and failing to record would make the IdP's retry "replayed"
                    // and lose the logout. Recording is idempotent; a replay on another isolate records the
                    // same revocation again and is then refused. A store that cannot answer does not undo a
                    // recorded revocation (ending sessions is the safe side): logged, answered 200.
                    return match self.claim_once(LOGOUT_JTI_SCOPE, &id, now.saturating_add(3600)).await {
                        Ok(()) => {
                            self.log_revocation("back_channel", &recorded);
                            Ok(Outcome::Respond(channel_response(200, "{}")))
                        }
                        Err(FlowError::Replayed) => refuse("replayed jti"),
                        Err(e) => {
                            self.log_revocation("back_channel", &recorded);
                            let message = format!(
                                "back-channel logout recorded, its jti not checked network-wide: {}",
                                e.log_detail()
                            );
                            let event = Event::new(Kind::Revocation, Level::Warn)
                                .channel("back_channel")
                                .connector(&recorded.connector)
                                .reason(e.code())
                                .message(&message);
                            self.platform.event(&event);
                            Ok(Outcome::Respond(channel_response(200, "{}")))
                        }
                    };
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        refuse(&last_error)
    }
}

/// A state-changing request must come from our own pages: `Origin` equal to ours, or (browsers that omit
/// `Origin`) `Sec-Fetch-Site: same-origin`.
pub(super) fn is_same_origin(req: &Request) -> bool {
    match (&req.origin_header, &req.sec_fetch_site) {
        (Some(origin), _) => origin == &req.origin(),
        (None, Some(site)) => site == "same-origin",
        (None, None) => false,
    }
}

/// The answer to an IdP's sign-out request made in an iframe or image of its own sign-out page (OpenID Connect
/// front-channel logout, WS-Federation `wsignoutcleanup1.0`): a small page it may frame (no `frame-ancestors`
/// restriction), loading nothing.
pub(super) fn signed_out_frame(pages: &crate::core::pages::Pages<'_>) -> Response {
    let t = pages.text();
    let page = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head><body>{}</body></html>",
        t.lang, t.signed_out_title, t.signed_out_title
    );
    let mut response = pages.response(200, page);
    response.headers.retain(|(k, _)| *k != "content-security-policy");
    response.with_header("content-security-policy", "default-src 'none'")
}

pub(super) fn confirmation_page(pages: &crate::core::pages::Pages<'_>) -> Response {
    pages.response(200, pages.sign_out_confirmation())
}
