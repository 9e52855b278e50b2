//! Writes the seed corpora in `fuzz/seeds/TARGET/` and checks that each `callback_flow` seed does what its
//! name says (which also proves the harness reaches a successful login for every connector kind).
//!
//!     cargo +nightly run --manifest-path fuzz/Cargo.toml --example gen_seeds
//!
//! Deterministic: running it again rewrites the same files.

use std::fs;
use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};
use edge_auth::core::oidc::id_token::half_hash;
use edge_auth::core::oidc::jwks::Alg;
use edge_auth::core::session::codec::{KeyRing, Purpose};
use edge_auth_fuzz::fixtures::{
    self, compact_jws, discovery_doc, fixture_keys, key_ring, realistic_claims, realistic_jwks, session_keys_secret,
    ACME_ISSUER, LOOPBACK_ISSUER, NOW, PARTNER_ISSUER, README_CONFIG, SESSION_COOKIE, TX_COOKIE,
};
use edge_auth_fuzz::flow::{self, FlowInput, IdpScript, Report, DEFAULT_ACCESS_TOKEN};
use edge_auth_fuzz::seedwriter::{default_len, SeedWriter};
use serde_json::json;

/// The transaction nonce the fixtures use (what `jwt`'s expectations expect).
const NONCE: &str = "Tz8yX1wV2uS3rQ4pO5nM6lK7jI8hG9fE0dC1bA2zY3x";

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds")
}

fn write(target: &str, name: &str, bytes: impl AsRef<[u8]>) {
    let dir = seeds_dir().join(target);
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join(name), bytes).expect("write seed");
}

// ---- callback_flow: a hand-written encoder of the structured input ------------------------------------

const ROUTES: u32 = flow::ROUTE_VARIANTS;
const METHODS: u32 = flow::METHOD_VARIANTS;
const SITES: u32 = flow::SITE_VARIANTS;

mod route {
    pub const LOGIN: u32 = 1;
    pub const ME: u32 = 2;
    pub const LOGOUT: u32 = 3;
    pub const PROTECTED: u32 = 5;
    pub const FRONTCHANNEL: u32 = 9;
    pub const BACKCHANNEL: u32 = 10;
    pub const JWKS_JSON: u32 = 11;
}
mod method {
    pub const GET: u32 = 0;
    pub const POST: u32 = 1;
}
mod site {
    pub const LOOPBACK: u32 = 1;
    pub const PLAIN_HTTP: u32 = 2;
}
/// `Key` variants.
mod key {
    pub const STATE: u32 = 0;
    pub const CODE: u32 = 1;
    pub const ISS: u32 = 2;
    pub const ERROR: u32 = 3;
    pub const CONNECTOR: u32 = 6;
    pub const COUNT: u32 = edge_auth_fuzz::flow::KEY_VARIANTS;
}

#[derive(Default)]
struct StepSeed {
    route: u32,
    route_text: Option<&'static str>,
    method: u32,
    site: u32,
    /// `ParamMode`: 0 standard, 1 custom.
    param_mode: u32,
    /// (key variant, raw value)
    params: Vec<(u32, &'static str)>,
    /// `CookieMode`: 0 standard, 1 custom.
    cookie_mode: u32,
    /// `Some(state)`: one extra `CookiePart::Tx` with this state.
    tx_with_state: Option<&'static str>,
    sec_fetch_mode: Option<&'static str>,
    advance: u16,
    /// One extra `CookiePart::Session` (a forged-but-sealed session with chosen times and grants).
    session: Option<SessionSeed>,
}

/// A `SessionSpec`: the fixture session (alice@acme.example, acme, its sid and groups) with these changes.
#[derive(Default, Clone, Copy)]
struct SessionSeed {
    /// Seconds from now (`None`: the fixture's).
    iat: Option<i32>,
    exp: Option<i32>,
    renewed_at: Option<i32>,
    /// No groups at all (the fixture has the admins group).
    no_groups: bool,
}

impl SessionSeed {
    fn write(&self, w: &mut SeedWriter) {
        let time = |w: &mut SeedWriter, t: Option<i32>| match t {
            None => {
                w.variant(0, 3);
            }
            Some(rel) => {
                w.variant(1, 3).bytes.extend_from_slice(&rel.to_le_bytes());
            }
        };
        w.variant(1, 5); // CookiePart::Session(SessionSpec {
        w.variant(0, 4); // name: ForTransport
        w.bool(false).bool(false).bool(false); // sub, email, display_name: the fixture's
        w.variant(0, 3); // connector: Default (acme)
        w.bool(false); // iss
        time(w, self.iat);
        time(w, self.exp);
        w.bool(false); // sid
        time(w, self.renewed_at);
        if self.no_groups {
            w.bool(true).bool(false); // groups: Some([])
        } else {
            w.bool(false);
        }
        w.bool(false); // old_key })
    }
}

impl StepSeed {
    fn write(&self, w: &mut SeedWriter) {
        w.variant(self.route, ROUTES);
        if let Some(t) = self.route_text {
            w.text(t);
        }
        w.variant(self.method, METHODS);
        w.variant(self.site, SITES);
        w.variant(self.param_mode, 3);
        for (k, v) in &self.params {
            w.bool(true).variant(*k, key::COUNT).variant(0, 6).text(v); // ParamValue::Raw
        }
        w.bool(false);
        w.variant(0, 2); // BodyChoice::Standard
        w.variant(self.cookie_mode, 2);
        if let Some(state) = self.tx_with_state {
            // CookiePart::Tx(TxSpec { name: ForTransport, connector: Default, state: Some(..), rest default })
            w.bool(true).variant(0, 5).variant(0, 4).variant(0, 3).bool(true).text(state);
            w.bool(false).bool(false).bool(false).bool(false).variant(0, 3).bool(false);
        }
        if let Some(session) = &self.session {
            w.bool(true);
            session.write(w);
        }
        w.bool(false);
        w.variant(0, 5); // OriginChoice::Same
        w.bool(false); // sec_fetch_site
        match self.sec_fetch_mode {
            Some(m) => w.bool(true).text(m),
            None => w.bool(false),
        };
        w.bool(false); // accept
        w.u16(self.advance);
        w.default_of::<flow::LogoutSpec>();
    }
}

/// An input: the first step, the IdP script's bytes (None = realistic everywhere), more steps.
fn flow_input(first: StepSeed, idp: Option<Vec<u8>>, more: Vec<StepSeed>) -> Vec<u8> {
    let mut w = SeedWriter::new();
    first.write(&mut w);
    match idp {
        Some(b) => w.bytes.extend(b),
        None => {
            w.default_of::<IdpScript>();
        }
    }
    for s in &more {
        w.bool(true);
        s.write(&mut w);
    }
    w.finish()
}

fn decode(bytes: &[u8]) -> FlowInput {
    FlowInput::arbitrary_take_rest(Unstructured::new(bytes)).expect("seed decodes")
}

fn login_with_connector(id: &'static str) -> StepSeed {
    StepSeed { route: route::LOGIN, param_mode: 1, params: vec![(key::CONNECTOR, id)], ..Default::default() }
}

fn check(name: &str, bytes: &[u8], expect: impl Fn(&Report) -> bool) {
    let input = decode(bytes);
    let report = flow::run(&input);
    let ok = expect(&report);
    let summary: Vec<String> = report
        .steps
        .iter()
        .map(|s| format!("{:?} {:?} signed_in={}", s.status(), s.error_code(), s.signed_in()))
        .collect();
    println!("  {name:<34} {} {}", if ok { "ok  " } else { "FAIL" }, summary.join(" | "));
    if !ok {
        eprintln!("input: {input:#?}\nreport: {report:#?}");
        std::process::exit(1);
    }
    write("callback_flow", name, bytes);
}

fn flow_seeds() {
    println!("callback_flow:");
    assert_eq!(default_len::<IdpScript>(), 4, "IdpScript's default is four empty lists");
    let signed_in = |i: usize| move |r: &Report| r.steps.get(i).is_some_and(|s| s.signed_in());

    // The default input: a complete, successful callback.
    let default = vec![0u8; default_len::<FlowInput>()];
    check("callback_acme_get", &default, signed_in(0));
    check(
        "callback_post_to_query_connector_refused",
        &flow_input(StepSeed { method: method::POST, ..Default::default() }, None, vec![]),
        |r| r.steps[0].error_code().as_deref() == Some("invalid_callback"),
    );
    check(
        "callback_loopback_http",
        &flow_input(StepSeed { site: site::LOOPBACK, ..Default::default() }, None, vec![]),
        |r| {
            r.steps[0].signed_in()
                && r.steps[0]
                    .set_cookies()
                    .iter()
                    .any(|c| c.starts_with("edge-auth-session=") && !c.starts_with("edge-auth-session=;"))
        },
    );
    check(
        "login_email_then_callback",
        &flow_input(StepSeed { route: route::LOGIN, ..Default::default() }, None, vec![StepSeed::default()]),
        |r| r.steps[0].status() == Some(302) && r.steps[1].signed_in(),
    );
    for (name, id, post) in [
        ("login_partner_form_post", "partner", true),
        ("login_entra_then_callback", "contoso", false),
        ("login_google_then_callback", "gws", false),
        ("login_facebook_then_callback", "fb", false),
        ("login_mapped_claims_then_callback", "mapped", false),
    ] {
        let callback = StepSeed { method: if post { method::POST } else { method::GET }, ..Default::default() };
        check(name, &flow_input(login_with_connector(id), None, vec![callback]), |r| {
            r.steps[0].status() == Some(302) && r.steps[1].signed_in()
        });
    }
    check(
        "login_nosecret_then_callback",
        &flow_input(login_with_connector("nosecret"), None, vec![StepSeed::default()]),
        |r| r.steps[1].error_code().as_deref() == Some("config_error"),
    );

    // The ID token has no email: UserInfo supplies it.
    {
        let mut w = SeedWriter::new();
        StepSeed::default().write(&mut w);
        w.bool(false); // discovery: realistic
        w.bool(false); // jwks: realistic
        w.bool(true).variant(0, 3).variant(0, 2); // token: [Ok(Realistic(
        w.variant(0, 5); // id_token: Jws(
        w.u8(0).variant(0, 3).variant(0, 4).variant(0, 4).bool(false).variant(0, 2); // key..claims: Realistic(
        for _ in 0..10 {
            w.variant(0, 6); // iss .. c_hash: default (aud, times and hashes have other counts but 0 is 0)
        }
        w.variant(1, 6); // email: Absent -- the rest decodes as defaults
        check("callback_userinfo_supplies_email", &w.finish(), |r| {
            r.steps[0].signed_in() && r.fetches.iter().any(|f| f.ends_with("/me"))
        });
    }

    // The token's kid is not in the cached JWKS: one refetch finds it.
    {
        let mut w = SeedWriter::new();
        StepSeed::default().write(&mut w);
        w.bool(false); // discovery
        w.bool(true).variant(0, 3).variant(0, 2); // jwks: [Ok(Realistic([
        w.bool(true).variant(0, 5).u8(0).variant(2, 4).text("rotated-out").variant(0, 4).variant(0, 4).bool(false);
        w.bool(false); // ])),
        w.bool(true).variant(0, 3).variant(0, 2).bool(false); // Ok(Realistic([]))]
        w.bool(false);
        w.bool(false).bool(false); // token, profile
                                   // The first fetch may be the location cache's older copy: the unknown kid is refetched
                                   // once at step 1, which signs in; step 2 finds the kid in the refetched set.
        w.bool(true);
        StepSeed { cookie_mode: 1, tx_with_state: Some("second-login-state"), advance: 5, ..Default::default() }
            .write(&mut w);
        check("callback_unknown_kid_refetch", &w.finish(), |r| {
            r.steps[0].signed_in()
                && r.steps[1].signed_in()
                && r.fetches.iter().filter(|f| f.ends_with("/jwks")).count() == 2
        });
    }

    // Discovery fails after the cache expired: the stale document is used.
    {
        let mut w = SeedWriter::new();
        StepSeed::default().write(&mut w);
        w.bool(true).variant(0, 3).variant(0, 2).default_of::<flow::DiscoveryTweaks>(); // [Ok(default),
        w.bool(true).variant(2, 3).text("connection reset"); // Fail]
        w.bool(false);
        w.bool(false).bool(false).bool(false); // jwks, token, profile
        w.bool(true);
        StepSeed { cookie_mode: 1, tx_with_state: Some("second-login-state"), advance: 4000, ..Default::default() }
            .write(&mut w);
        check("callback_stale_discovery", &w.finish(), |r| {
            r.steps[0].signed_in()
                && r.steps[1].signed_in()
                && r.log.iter().any(|l| l.contains("using cached discovery"))
        });
    }

    check("callback_replayed", &flow_input(StepSeed::default(), None, vec![StepSeed::default()]), |r| {
        r.steps[0].signed_in() && !r.steps[1].signed_in() && r.steps[1].error_code().as_deref() == Some("login_expired")
    });
    check(
        "callback_idp_error_access_denied",
        &flow_input(StepSeed { params: vec![(key::ERROR, "access_denied")], ..Default::default() }, None, vec![]),
        |r| r.steps[0].error_code().as_deref() == Some("idp_error") && r.steps[0].status() == Some(403),
    );
    check("me_with_session", &flow_input(StepSeed { route: route::ME, ..Default::default() }, None, vec![]), |r| {
        r.steps[0].status() == Some(200)
    });
    check(
        "logout_post_same_origin",
        &flow_input(StepSeed { route: route::LOGOUT, method: method::POST, ..Default::default() }, None, vec![]),
        |r| r.steps[0].location().is_some_and(|l| l.starts_with("https://idp.acme.example/session/end?")),
    );
    check(
        "logout_get_confirmation",
        &flow_input(StepSeed { route: route::LOGOUT, ..Default::default() }, None, vec![]),
        |r| r.steps[0].status() == Some(200),
    );
    check(
        "protected_with_session",
        &flow_input(
            StepSeed { route: route::PROTECTED, route_text: Some("docs/report"), ..Default::default() },
            None,
            vec![],
        ),
        |r| r.steps[0].status() == Some(0),
    );
    check(
        "protected_navigation_without_session",
        &flow_input(
            StepSeed {
                route: route::PROTECTED,
                route_text: Some("docs/report?q=annual%20report"),
                cookie_mode: 1,
                sec_fetch_mode: Some("navigate"),
                ..Default::default()
            },
            None,
            vec![],
        ),
        |r| r.steps[0].location().is_some_and(|l| l.starts_with("/auth/login?return_to=%2Fdocs%2Freport")),
    );
    check(
        "frontchannel_logout_then_me",
        &flow_input(
            StepSeed { route: route::FRONTCHANNEL, ..Default::default() },
            None,
            vec![StepSeed { route: route::ME, ..Default::default() }],
        ),
        |r| r.steps[0].status() == Some(200) && r.steps[1].status() == Some(401),
    );
    check(
        "backchannel_logout_then_me",
        &flow_input(
            StepSeed { route: route::BACKCHANNEL, method: method::POST, ..Default::default() },
            None,
            vec![StepSeed { route: route::ME, ..Default::default() }],
        ),
        |r| r.steps[0].status() == Some(200) && r.steps[1].status() == Some(401),
    );
    check("jwks_json", &flow_input(StepSeed { route: route::JWKS_JSON, ..Default::default() }, None, vec![]), |r| {
        r.steps[0].status() == Some(200)
    });
    check(
        "protected_public_path",
        &flow_input(
            StepSeed {
                route: route::PROTECTED,
                route_text: Some("public/logo.svg"),
                cookie_mode: 1,
                ..Default::default()
            },
            None,
            vec![],
        ),
        |r| r.steps[0].status() == Some(0),
    );
    check(
        "protected_policy_forbidden",
        &flow_input(
            StepSeed {
                route: route::PROTECTED,
                route_text: Some("partners/contracts"),
                sec_fetch_mode: Some("navigate"),
                ..Default::default()
            },
            None,
            vec![],
        ),
        |r| r.steps[0].status() == Some(403) && r.steps[0].error_code().as_deref() == Some("forbidden"),
    );
    check(
        "sign_in_then_idle_renewal",
        &flow_input(
            StepSeed::default(),
            None,
            vec![StepSeed {
                route: route::PROTECTED,
                route_text: Some("docs/report"),
                advance: 2000,
                ..Default::default()
            }],
        ),
        |r| r.steps[0].signed_in() && r.steps[1].status() == Some(0),
    );

    // The session gate's decisions (oracle/gate.rs): each refuses a session the model says is dead or not
    // admitted; with the rule removed from the code, the gate oracle fires on the seed.
    let protected = |path: &'static str, session: SessionSeed| StepSeed {
        route: route::PROTECTED,
        route_text: Some(path),
        cookie_mode: 1,
        session: Some(session),
        ..Default::default()
    };
    let unauthenticated = |r: &Report| r.steps[0].error_code().as_deref() == Some("unauthenticated");
    check(
        "gate_expired_session",
        &flow_input(
            protected("docs/report", SessionSeed { iat: Some(-28800), exp: Some(0), ..Default::default() }),
            None,
            vec![],
        ),
        unauthenticated,
    );
    check(
        "gate_idle_session",
        &flow_input(
            protected("docs/report", SessionSeed { iat: Some(-3600), renewed_at: Some(-3600), ..Default::default() }),
            None,
            vec![],
        ),
        unauthenticated,
    );
    check(
        "gate_session_from_the_future",
        &flow_input(
            protected("docs/report", SessionSeed { iat: Some(400), renewed_at: Some(400), ..Default::default() }),
            None,
            vec![],
        ),
        unauthenticated,
    );
    check(
        "gate_admin_without_grant",
        &flow_input(protected("admin/users", SessionSeed { no_groups: true, ..Default::default() }), None, vec![]),
        |r| r.steps[0].error_code().as_deref() == Some("forbidden"),
    );
    check(
        "gate_after_backchannel_logout",
        &flow_input(
            StepSeed { route: route::BACKCHANNEL, method: method::POST, ..Default::default() },
            None,
            vec![StepSeed { route: route::PROTECTED, route_text: Some("docs/report"), ..Default::default() }],
        ),
        |r| r.steps[0].status() == Some(200) && r.steps[1].error_code().as_deref() == Some("unauthenticated"),
    );
    check(
        "gate_after_frontchannel_logout",
        &flow_input(
            StepSeed { route: route::FRONTCHANNEL, ..Default::default() },
            None,
            vec![StepSeed { route: route::PROTECTED, route_text: Some("docs/report"), ..Default::default() }],
        ),
        |r| r.steps[0].status() == Some(200) && r.steps[1].error_code().as_deref() == Some("unauthenticated"),
    );

    // The callback's binding to its transaction (oracle/callback.rs).
    check(
        "callback_state_mismatch",
        &flow_input(
            StepSeed {
                param_mode: 1,
                // Everything else as the IdP sends it: only the state is wrong.
                params: vec![(key::STATE, "forged-state"), (key::CODE, flow::DEFAULT_CODE), (key::ISS, ACME_ISSUER)],
                ..Default::default()
            },
            None,
            vec![],
        ),
        |r| r.steps[0].error_code().as_deref() == Some("state_mismatch") && !r.steps[0].signed_in(),
    );
    check(
        "login_partner_then_get_callback",
        &flow_input(login_with_connector("partner"), None, vec![StepSeed::default()]),
        |r| r.steps[1].error_code().as_deref() == Some("invalid_callback") && !r.steps[1].signed_in(),
    );
    check(
        "callback_then_replay",
        &flow_input(StepSeed::default(), None, vec![StepSeed { cookie_mode: 0, ..Default::default() }]),
        |r| r.steps[0].signed_in() && !r.steps[1].signed_in(),
    );
    check(
        "plain_http_upgrade",
        &flow_input(StepSeed { site: site::PLAIN_HTTP, ..Default::default() }, None, vec![]),
        |r| r.steps[0].location().is_some_and(|l| l.starts_with("https://site.example/")),
    );
}

// ---- the other targets: plain realistic documents ----------------------------------------------------

fn cookie_seeds() {
    let session = fixtures::sealed_session_cookie();
    let tx = fixtures::sealed_transaction_cookie();
    write("cookie_decode", "session_cookie_header", format!("theme=dark; {SESSION_COOKIE}={session}; _ga=GA1.2.3"));
    write("cookie_decode", "transaction_cookie_header", format!("{TX_COOKIE}={tx}"));
    write("cookie_decode", "both_cookies_quoted", format!("{SESSION_COOKIE}=\"{session}\"; {TX_COOKIE}={tx}"));
    let loopback = fixtures::realistic_session().seal(key_ring(), "edge-auth-session");
    write("cookie_decode", "loopback_session_cookie", format!("edge-auth-session={loopback}"));
    write("cookie_decode", "session_payload_json", serde_json::to_vec(&fixtures::realistic_session()).expect("json"));
    write(
        "cookie_decode",
        "transaction_payload_json",
        serde_json::to_vec(&fixtures::realistic_transaction()).expect("json"),
    );
    write("cookie_decode", "session_keys_secret", session_keys_secret());
    // A cookie sealed by the second (rotated-out) key.
    let old = KeyRing::from_secret(fixtures::SESSION_KEY_2).expect("key").seal(Purpose::Session, SESSION_COOKIE, b"{}");
    write("cookie_decode", "rotated_key_cookie", format!("{SESSION_COOKIE}={old}"));
    println!("cookie_decode: 8 seeds");
}

fn jwt_seeds() {
    let mut n = 0;
    for k in fixture_keys() {
        write("jwt", &format!("fixture_{}", k.alg.to_lowercase()), &k.token);
        n += 1;
    }
    let mut claims = realistic_claims(ACME_ISSUER, "edge", NONCE);
    claims["at_hash"] = json!(half_hash(Alg::RS256.hash(), DEFAULT_ACCESS_TOKEN));
    let payload = claims.to_string();
    write("jwt", "claims_realistic", &payload);
    let header = json!({"alg": "RS256", "kid": "rs256-1", "typ": "JWT"}).to_string();
    write("jwt", "id_token_rs256_realistic", compact_jws(&header, payload.as_bytes(), &[0x5a; 256]));
    let header = json!({"alg": "ES256", "kid": "es256-1"}).to_string();
    claims["at_hash"] = json!(half_hash(Alg::ES256.hash(), DEFAULT_ACCESS_TOKEN));
    write("jwt", "id_token_es256_realistic", compact_jws(&header, claims.to_string().as_bytes(), &[0x5a; 64]));
    println!("jwt: {} seeds", n + 3);
}

fn idp_document_seeds() {
    write("jwks_discovery", "jwks_realistic", realistic_jwks());
    write("jwks_discovery", "discovery_acme", discovery_doc(ACME_ISSUER));
    write("jwks_discovery", "discovery_partner", discovery_doc(PARTNER_ISSUER));
    write("jwks_discovery", "discovery_loopback", discovery_doc(LOOPBACK_ISSUER));
    let claims = realistic_claims(ACME_ISSUER, "edge", NONCE).to_string();
    let id_token = compact_jws(r#"{"alg":"RS256","kid":"rs256-1"}"#, claims.as_bytes(), &[0x5a; 256]);
    let tokens = json!({"access_token": DEFAULT_ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600,
        "scope": "openid profile email", "id_token": id_token});
    write("jwks_discovery", "token_response", tokens.to_string());
    write("jwks_discovery", "token_error", r#"{"error":"invalid_grant","error_description":"code expired"}"#);
    write(
        "jwks_discovery",
        "userinfo",
        json!({"sub": "248289761001", "email": "alice@acme.example", "email_verified": true, "name": "Alice"})
            .to_string(),
    );
    write(
        "jwks_discovery",
        "facebook_token",
        r#"{"access_token":"EAAB-fb-token","token_type":"bearer","expires_in":5183944}"#,
    );
    write("jwks_discovery", "facebook_me", r#"{"id":"10229384756102938","name":"Finn","email":"finn@fb.example"}"#);
    write("jwks_discovery", "graph_error", r#"{"error":{"message":"bad code","type":"OAuthException","code":100}}"#);
    println!("jwks_discovery: 10 seeds");
}

fn config_seeds() {
    write("config", "readme_config", README_CONFIG);
    write("config", "flow_config_all_kinds", fixtures::FLOW_CONFIG);
    write("config", "email", "alice@acme.example");
    write("config", "email_idn", " Bob@B\u{dc}CHER.example. ");
    write("config", "domain_idn", "b\u{fc}cher.example");
    write("config", "return_to", "/docs/report?q=annual%20report#top");
    write("config", "return_to_encoded_slash", "/a/%2F/b?r=%2F");
    println!("config: 7 seeds");
}

/// Request paths: the spellings of issue 10 §1 (`//`, `;params`, `..;`, encoded letters, separators and dots,
/// double encoding, case, trailing dots and slashes, asset-server URLs, non-ASCII, encoded controls).
fn path_seeds() {
    let paths = [
        "/admin",
        "//admin",
        "/admin;x",
        "/public/..;/admin",
        "/%61dmin",
        "/admin%2Fx",
        "/public%2F..%2Fadmin",
        "/public%252F..%252Fadmin",
        "/ADMIN",
        "/Admin/",
        "/admin./x",
        "/report/",
        "/index.html",
        "/",
        "/page",
        "/page/",
        "/public/%2e%2e/admin",
        "/public%5C..%5Cadmin",
        "/caf%C3%A9",
        "/a%2500",
        "/%C5%BFettings",
        "/admin%3Fx",
        "/public/index.php/admin",
        "/tools/admin.php/x",
        "/report.json/",
        "/(S(x))/admin",
        "/_next/data/b1/admin.json",
        "/public%25C0%25AE%25C0%25AE/admin",
    ];
    for (i, p) in paths.iter().enumerate() {
        write("path_canonical", &format!("path_{i:02}"), p);
    }
    println!("path_canonical: {} seeds", paths.len());
}

/// The XML corpus of the c14n oracle test (IdP-shaped SAML responses, a WS-Fed RSTR, edge cases).
fn xml_seeds() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/xml");
    let mut n = 0;
    let mut entries: Vec<_> =
        fs::read_dir(&fixtures).expect("tests/fixtures/xml").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.extension().is_some_and(|e| e == "xml") {
            let name = path.file_stem().expect("name").to_string_lossy().into_owned();
            write("xml_c14n", &name, fs::read(&path).expect("read fixture"));
            n += 1;
        }
    }
    write("xml_c14n", "tiny", "<p:a xmlns:p=\"urn:p\" xmlns=\"urn:d\"><b xmlns=\"\" p:x=\"&#9;&lt;\">t\r\n&#13;<![CDATA[<]]><!--c--></b></p:a>");
    println!("xml_c14n: {} seeds", n + 1);
}

fn main() {
    let _ = NOW;
    let dir = seeds_dir();
    if dir.exists() {
        for target in
            ["cookie_decode", "jwt", "jwks_discovery", "config", "path_canonical", "callback_flow", "xml_c14n"]
        {
            let _ = fs::remove_dir_all(dir.join(target));
        }
    }
    cookie_seeds();
    jwt_seeds();
    idp_document_seeds();
    config_seeds();
    path_seeds();
    flow_seeds();
    xml_seeds();
    println!("seeds written to {}", dir.display());
}
