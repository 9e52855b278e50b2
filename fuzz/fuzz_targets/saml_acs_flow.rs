//! The SAML sign-in flow (`Flow::handle`: `/auth/login` → `POST /auth/saml/{id}/acs`) with the fake platform and
//! the test-only SAML IdP of testkit/saml.rs, driven by a structured input: edits to the IdP's well-behaved
//! response (every field the profile rules look at), a raw splice into the signed XML, the cookie and
//! RelayState the browser sends, the time the post takes, the verifier (`ring`, or one that accepts every
//! signature so the rules behind it are reached). An empty input is a complete, successful sign-in.
//!
//! Oracles (they panic on purpose): a session is only ever created for this connector's IdP, an email of its
//! domains, this browser's transaction and RelayState, within the transaction's lifetime and the session's
//! caps, and only once; with no splice, only for a response that satisfies every rule of the profile (the
//! fields as the IdP wrote them); with real signatures, only for the NameID the IdP signed (whatever the
//! splice: comments, wrappers, siblings) and never for a foreign key's signature. Every answer to the ACS
//! clears the SAML transaction cookie.
#![no_main]

use arbitrary::Arbitrary;
use edge_auth::core::config::Config;
use edge_auth::core::flow::{authenticate, Flow, IsolateCache};
use edge_auth::core::http::{Method, Outcome, Request, Response};
use edge_auth::core::session::codec::KeyRing;
use edge_auth::core::session::cookies::Transport;
use edge_auth_fuzz::testkit::{FakePlatform, Verifier};
use edge_auth_fuzz::{fixtures, Text};
use libfuzzer_sys::fuzz_target;
use url::Url;

#[path = "../../testkit/saml.rs"]
mod saml_idp;

use saml_idp::{Reply, Signing};

const SITE: &str = "https://site.example";
const CORP_IDP: &str = "https://idp.corp.example/saml";
const OPEN_IDP: &str = "https://idp.open.example/saml";
const SESSION_COOKIE: &str = "__Host-edge-auth-session";
const SAML_TX_COOKIE: &str = "__Host-edge-auth-saml-tx";
const LIFETIME: u64 = 8 * 3600;
const LEEWAY: u64 = 60;
const TX_TTL: u64 = 600;
/// 2026-12-02T10:00:00Z.
const NOW: u64 = 1_796_205_600;

#[derive(Arbitrary, Debug)]
struct Input {
    /// `ring` checks the signatures (only the IdP's own signatures pass); otherwise every signature passes.
    ring: bool,
    /// Seconds between the login and the post.
    delay: u16,
    cookie: CookieChoice,
    /// `None`: the login's RelayState.
    relay_state: Option<Text>,
    /// Post to the `open` connector's ACS (idp_initiated) instead of `corp`'s.
    to_open: bool,
    edits: Vec<Edit>,
    /// Insert this text at this byte offset (modulo the length, on a character boundary) of the final XML.
    splice: Option<(u16, Text)>,
}

#[derive(Arbitrary, Debug)]
enum CookieChoice {
    Own,
    None,
    /// The transaction of a login at the `open` connector.
    OtherConnector,
}

#[derive(Arbitrary, Debug)]
enum Edit {
    InResponseTo(Option<Text>),
    ConfirmationInResponseTo(Option<Text>),
    Destination(Text),
    Recipient(Text),
    Audience(Text),
    Issuer(Text),
    ResponseIssuer(Option<Text>),
    Status(Text, Option<Text>),
    NameId(Text),
    EmailFormat(bool),
    AssertionId(Text),
    ResponseId(Text),
    NotBefore(i16),
    NotOnOrAfter(i16),
    ConfirmationEnd(i16),
    SessionEnd(Option<i32>),
    Attribute(Text, Vec<Text>),
    Signing(u8),
}

fn offset(now: u64, by: i64) -> u64 {
    now.saturating_add_signed(by)
}

fn apply(reply: &mut Reply, edit: &Edit, now: u64) {
    let s = |t: &Text| t.as_str().to_string();
    match edit {
        Edit::InResponseTo(v) => reply.in_response_to = v.as_ref().map(s),
        Edit::ConfirmationInResponseTo(v) => reply.confirmation_in_response_to = v.as_ref().map(s),
        Edit::Destination(v) => reply.destination = s(v),
        Edit::Recipient(v) => reply.recipient = s(v),
        Edit::Audience(v) => reply.audience = s(v),
        Edit::Issuer(v) => reply.issuer = s(v),
        Edit::ResponseIssuer(v) => reply.response_issuer = v.as_ref().map(s),
        Edit::Status(code, sub) => {
            reply.status = s(code);
            reply.substatus = sub.as_ref().map(s);
        }
        Edit::NameId(v) => reply.name_id = s(v),
        Edit::EmailFormat(email) => {
            reply.name_id_format = if *email { saml_idp::EMAIL_FORMAT } else { saml_idp::TRANSIENT_FORMAT }.into()
        }
        Edit::AssertionId(v) => reply.assertion_id = s(v),
        Edit::ResponseId(v) => reply.response_id = s(v),
        Edit::NotBefore(by) => reply.not_before = offset(now, i64::from(*by)),
        Edit::NotOnOrAfter(by) => reply.not_on_or_after = offset(now, i64::from(*by)),
        Edit::ConfirmationEnd(by) => reply.confirmation_not_on_or_after = offset(now, i64::from(*by)),
        Edit::SessionEnd(by) => reply.session_not_on_or_after = by.map(|by| offset(now, i64::from(by))),
        Edit::Attribute(name, values) => reply.attributes.push((s(name), values.iter().map(s).collect())),
        Edit::Signing(which) => {
            reply.signing = match which % 4 {
                0 => Signing::Assertion,
                1 => Signing::Response,
                2 => Signing::Both,
                _ => Signing::AssertionWithForeignKey,
            }
        }
    }
}

fn config() -> &'static Config {
    static CONFIG: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
    CONFIG.get_or_init(|| {
        let cert = saml_idp::RSA_CERT_PEM;
        let json = serde_json::json!({
            "connectors": [
                { "id": "corp", "kind": "saml", "domains": ["corp.example"], "idp_entity_id": CORP_IDP,
                  "idp_sso_url": "https://idp.corp.example/sso", "idp_certificates": [cert] },
                { "id": "open", "kind": "saml", "domains": ["open.example"], "idp_initiated": true,
                  "idp_entity_id": OPEN_IDP, "idp_sso_url": "https://idp.open.example/sso",
                  "idp_certificates": [cert] }
            ],
            "session": { "lifetime_seconds": LIFETIME, "idle_timeout_seconds": 3600, "encrypt": true },
            "clock_leeway_seconds": LEEWAY
        });
        Config::from_json(&json.to_string()).expect("the fuzz configuration")
    })
}

fn respond(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Respond(r) => r,
        other => panic!("the ACS answered with {other:?}"),
    }
}

fn set_cookie_value(r: &Response, name: &str) -> Option<String> {
    r.headers.iter().filter(|(k, _)| *k == "set-cookie").find_map(|(_, line)| {
        let (k, rest) = line.split_once('=')?;
        (k == name).then(|| rest.split(';').next().unwrap_or_default().to_string())
    })
}

struct Login {
    request: saml_idp::SeenRequest,
    cookie: String,
}

fn login(flow: &Flow<'_, FakePlatform<'_>>, email: &str) -> Login {
    let url = Url::parse_with_params(&format!("{SITE}/auth/login"), [("email", email), ("return_to", "/docs")])
        .expect("the login URL");
    let req = Request {
        method: Method::Get,
        url,
        cookie_header: String::new(),
        origin_header: None,
        sec_fetch_site: None,
        accept_language: None,
        form: Vec::new(),
    };
    let r = respond(pollster::block_on(flow.handle(&req)));
    assert_eq!(r.status, 302, "the login redirects to the IdP");
    let location = Url::parse(r.header("location").expect("location")).expect("the SSO URL");
    let tx = set_cookie_value(&r, SAML_TX_COOKIE).expect("the SAML transaction cookie");
    Login { request: saml_idp::read_request(&location), cookie: format!("{SAML_TX_COOKIE}={tx}") }
}

fn run(input: &Input) {
    let p = FakePlatform::at(NOW).with_verifier(if input.ring { Verifier::Ring } else { Verifier::AcceptAll });
    let keys = KeyRing::from_secret(&fixtures::session_keys_secret()).expect("the fixture keys");
    let providers = IsolateCache::default();
    let config = config();
    let flow = Flow { config, keys: &keys, platform: &p, providers: &providers };

    let own = login(&flow, "alice@corp.example");
    let other = login(&flow, "bob@open.example");
    let mut reply = Reply::to(&own.request, CORP_IDP, "alice@corp.example", NOW);
    for edit in &input.edits {
        apply(&mut reply, edit, NOW);
    }
    let mut xml = reply.xml();
    let spliced = input.splice.as_ref().map(|(at, text)| {
        let mut at = usize::from(*at) % (xml.len() + 1);
        while !xml.is_char_boundary(at) {
            at -= 1;
        }
        xml.insert_str(at, text.as_str());
    });
    p.advance(u64::from(input.delay));

    let connector = if input.to_open { "open" } else { "corp" };
    let cookie = match input.cookie {
        CookieChoice::Own => own.cookie.clone(),
        CookieChoice::None => String::new(),
        CookieChoice::OtherConnector => other.cookie.clone(),
    };
    let relay_state = input.relay_state.as_ref().map_or(own.request.relay_state.clone(), |t| t.as_str().to_string());
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&xml)
    };
    let post = Request {
        method: Method::Post,
        url: Url::parse(&format!("{SITE}/auth/saml/{connector}/acs")).expect("the ACS URL"),
        cookie_header: cookie,
        origin_header: Some("https://idp.corp.example".into()),
        sec_fetch_site: Some("cross-site".into()),
        accept_language: None,
        form: vec![("SAMLResponse".into(), encoded), ("RelayState".into(), relay_state.clone())],
    };
    let r = respond(pollster::block_on(flow.handle(&post)));
    let tx = set_cookie_value(&r, SAML_TX_COOKIE);
    assert_eq!(tx.as_deref(), Some(""), "every ACS answer clears the SAML transaction: {}", r.status);
    let Some(session_cookie) = set_cookie_value(&r, SESSION_COOKIE).filter(|v| !v.is_empty()) else { return };

    // A session was created: every rule held.
    let now = p.now.get();
    let session = authenticate(&format!("{SESSION_COOKIE}={session_cookie}"), Transport::Https, &keys, now)
        .expect("the session cookie authenticates");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/docs"), "to this transaction's return_to");
    assert!(!input.to_open, "a session at the idp_initiated connector (no transaction of its own)");
    assert!(matches!(input.cookie, CookieChoice::Own), "a session without this browser's transaction");
    assert_eq!(relay_state, own.request.relay_state, "a session with another RelayState");
    assert!(input.delay < TX_TTL as u16, "a session after the transaction expired");
    assert_eq!(session.connector, "corp");
    assert_eq!(session.iss, CORP_IDP);
    assert!(session.email.ends_with("@corp.example"), "an email of another domain: {}", session.email);
    assert_eq!(session.iat, now);
    assert!(session.exp <= now + LIFETIME);
    if input.ring {
        assert_ne!(reply.signing, Signing::AssertionWithForeignKey, "a foreign key's signature was accepted");
        // Claims come from signed bytes only: the NameID is the one the IdP signed, whatever the splice did.
        let plain = reply.name_id.len() <= 256 && reply.name_id.chars().all(|c| c.is_ascii_graphic() || c == ' ');
        if plain {
            assert_eq!(session.sub, reply.name_id.trim(), "the session's NameID is not the signed one");
        }
    }
    if spliced.is_none() {
        let request_id = Some(own.request.id.clone());
        assert_eq!(reply.in_response_to, request_id, "InResponseTo");
        assert_eq!(reply.confirmation_in_response_to, request_id, "the confirmation's InResponseTo");
        assert_eq!(reply.destination, own.request.acs_url, "Destination");
        assert_eq!(reply.recipient, own.request.acs_url, "Recipient");
        assert_eq!(reply.audience.trim(), own.request.sp_entity_id, "Audience");
        assert_eq!(reply.issuer.trim(), CORP_IDP, "the Assertion's Issuer");
        assert!(reply.response_issuer.as_deref().is_none_or(|i| i.trim() == CORP_IDP), "the Response's Issuer");
        assert_eq!(reply.status, saml_idp::SUCCESS, "Status");
        assert!(now < reply.confirmation_not_on_or_after + LEEWAY, "the confirmation's NotOnOrAfter");
        assert!(now < reply.not_on_or_after + LEEWAY, "Conditions NotOnOrAfter");
        assert!(now + LEEWAY >= reply.not_before, "Conditions NotBefore");
        if let Some(end) = reply.session_not_on_or_after {
            assert!(now < end && session.exp <= end, "SessionNotOnOrAfter caps the session");
        }
    }

    // Once: the same post again (same isolate, then another isolate on the same network) is refused.
    let again = respond(pollster::block_on(flow.handle(&post)));
    assert!(set_cookie_value(&again, SESSION_COOKIE).is_none_or(|v| v.is_empty()), "replayed in this isolate");
    let elsewhere = IsolateCache::default();
    let flow = Flow { config, keys: &keys, platform: &p, providers: &elsewhere };
    let again = respond(pollster::block_on(flow.handle(&post)));
    assert!(set_cookie_value(&again, SESSION_COOKIE).is_none_or(|v| v.is_empty()), "replayed in another isolate");
}

fuzz_target!(init: edge_auth_fuzz::known::install(), |input: Input| {
    edge_auth_fuzz::known::guard(|| run(&input));
});
