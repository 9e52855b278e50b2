//! Plays a [`FlowInput`] through the flow as the Workers shell would (`Flow::handle` for `/auth/`, the session
//! gate for everything else), with a cookie jar, the fuzzer's IdP and the fake platform, and runs the oracles
//! after every step.

use std::cell::RefCell;

use edge_auth::core::config::Config;
use edge_auth::core::flow::{
    forbidden, gate, is_auth_path, unauthenticated, upgrade_to_https, Flow, Gate, GateRequest, IsolateCache,
};
use edge_auth::core::http::{is_navigation, Method, Outcome, Request, Response};
use edge_auth::core::path::canonicalize;
use edge_auth::core::session::codec::Purpose;
use edge_auth::core::session::cookies::{CookieKind, Transport};
use edge_auth::core::session::record::Session;
use edge_auth::core::session::transaction::LoginTransaction;
use edge_auth::core::url::transport_of;
use url::form_urlencoded;

use super::idp::{idp_profile, logout_token, respond, IdpCtx};
use super::input::*;
use super::oracle::{self, Oracle};
use super::{DEFAULT_CODE, MAX_REPEAT, MAX_STEPS};
use crate::fixtures::{self, flow_config, key_ring, old_key_ring, CLIENT_SECRETS, NOW};
use crate::platform::{FakePlatform, Verifier};
use crate::Text;

#[derive(Debug, Clone)]
pub struct StepReport {
    pub url: Option<String>,
    pub outcome: Option<Outcome>,
}

/// Status, headers and body of what the visitor gets (`None` for what the asset server answers).
pub fn visible(outcome: &Outcome) -> Option<Response> {
    match outcome {
        Outcome::Respond(r) => Some(r.clone()),
        Outcome::PassThrough | Outcome::ServeAuthStatic { .. } => None,
    }
}

impl StepReport {
    pub fn response(&self) -> Option<Response> {
        self.outcome.as_ref().and_then(visible)
    }

    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            Some(Outcome::PassThrough | Outcome::ServeAuthStatic { .. }) => Some(0),
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

pub(super) fn cookie_pair(set_cookie: &str) -> Option<(&str, &str)> {
    set_cookie.split(';').next()?.split_once('=')
}

pub(super) fn connector_named(config: &Config, c: &ConnectorChoice) -> String {
    match c {
        ConnectorChoice::Default => "acme".into(),
        ConnectorChoice::Known(i) => {
            let n = config.connectors.len().max(1);
            config.connectors.get(usize::from(*i) % n).map(|c| c.id.clone()).unwrap_or_default()
        }
        ConnectorChoice::Raw(t) => t.0.clone(),
    }
}

pub(super) fn time_of(t: TimeChoice, now: u64, default_rel: i64) -> u64 {
    match t {
        TimeChoice::Default => now.saturating_add_signed(default_rel),
        TimeChoice::Rel(r) => now.saturating_add_signed(i64::from(r)),
        TimeChoice::Abs(a) => a,
    }
}

pub(super) fn name_of(n: &NameChoice, transport: Transport, kind: CookieKind) -> String {
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

pub(super) fn method_str(m: &MethodChoice) -> &str {
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
    let platform = FakePlatform::at(NOW)
        .with_verifier(Verifier::AcceptAll)
        .with_secrets(CLIENT_SECRETS)
        .with_responder(Box::new(|req| respond(&input.idp, config, &ctx, req)))
        .with_rng_seed(input.rng_seed);
    let providers = IsolateCache::default();
    let flow = Flow { config, keys: ring, platform: &platform, providers: &providers };
    let mut jar: Vec<(String, String)> = Vec::new();
    let mut report = Report::default();
    let mut now = NOW;
    let mut history = oracle::History::default();
    for (step_no, step) in std::iter::once(&input.first).chain(input.more.iter().take(MAX_STEPS - 1)).enumerate() {
        now = now.saturating_add(u64::from(step.advance));
        platform.now.set(now);
        {
            let mut c = ctx.borrow_mut();
            c.now = now;
            c.last_token_body = None;
            c.last_id_token_sub = None;
        }
        let log_start = platform.lines.borrow().len();
        let verified_start = platform.verified.borrow().len();
        let revocations_start = platform.revocations.borrow().len();
        let r = run_step(step, step_no, &flow, &ctx, &mut jar, now);
        // What the Workers shell does after answering: the background refreshes of stale documents (their
        // log lines are checked with the step's).
        crate::block_on(flow.refresh_due());
        if let (Some(outcome), Some(request)) = (&r.outcome, &r.request) {
            let log = platform.lines.borrow();
            let verified = platform.verified.borrow();
            let revocations = platform.recorded_revocations();
            let oracle = Oracle {
                new_revocations: revocations.len().saturating_sub(revocations_start),
                revocations: &revocations,
                input,
                config,
                url: &request.url,
                step,
                request,
                now,
                log: log.get(log_start..).unwrap_or_default(),
                verified: verified.get(verified_start..).unwrap_or_default(),
                last_token_body: ctx.borrow().last_token_body.clone(),
                gate: r.gate.as_ref().map(|(path, decision)| (path.as_str(), decision)),
            };
            oracle.check(outcome, &mut history);
        }
        report.steps.push(StepReport { url: r.request.map(|r| r.url.to_string()), outcome: r.outcome });
    }
    report.log = platform.logs();
    report.fetches = platform.requests.borrow().iter().map(|r| format!("{} {}", r.method, r.url)).collect();
    report
}

struct StepRun {
    request: Option<Request>,
    outcome: Option<Outcome>,
    /// For protected content: the canonical path and the gate's decision on it.
    gate: Option<(String, Gate)>,
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
        return StepRun { request: None, outcome: None, gate: None };
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
        accept_language: None,
        form,
    };

    // What the platform shell does (src/platform/mod.rs `handle`), then the flow.
    let mut decided = None;
    let outcome = match transport_of(&url) {
        None => Outcome::Respond(upgrade_to_https(&url)),
        Some(transport) if !is_auth_path(url.path()) => {
            // The shell decides on the canonical path (and refuses the request when there is none).
            let path = match canonicalize(url.path()) {
                Ok(canonical) if !is_auth_path(&canonical) => canonical.into_owned(),
                _ => return StepRun { request: None, outcome: None, gate: None },
            };
            let navigation = is_navigation(
                method,
                step.sec_fetch_mode.as_ref().map(Text::as_str),
                step.accept.as_ref().map(Text::as_str),
            );
            let g = GateRequest { path: &path, cookie_header: &request.cookie_header, transport, now };
            let decision = gate(config, flow.keys, flow.providers, flow.platform, g);
            let outcome = match &decision {
                Gate::Public | Gate::Allowed { .. } => Outcome::PassThrough,
                Gate::Unauthenticated => {
                    let path_and_query = match url.query() {
                        Some(q) => format!("{path}?{q}"),
                        None => path.clone(),
                    };
                    Outcome::Respond(unauthenticated(&path_and_query, navigation))
                }
                Gate::Forbidden(session) => Outcome::Respond(forbidden(&config.pages, None, session, navigation)),
            };
            decided = Some((path, decision));
            outcome
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
    StepRun { request: Some(request), outcome: Some(outcome), gate: decided }
}
