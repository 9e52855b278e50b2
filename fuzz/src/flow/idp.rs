//! The fuzzer's identity provider: what a realistic IdP of each connector kind says (discovery, JWKS, token
//! response with an ID token, UserInfo / Graph API, back-channel logout tokens), mutated as the input scripts.

use std::cell::RefCell;

use edge_auth::core::b64;
use edge_auth::core::config::{Config, Connector, EntraTenancy, Protocol, ENTRA_CONSUMERS_TENANT_ID};
use edge_auth::core::fetch::{HttpRequest, HttpResponse};
use edge_auth::core::flow::entra_domain_discovery_url;
use edge_auth::core::oidc::id_token::half_hash;
use edge_auth::core::oidc::jwks::{Alg, HashAlg};
use edge_auth::core::oidc::logout_token::BACKCHANNEL_LOGOUT_EVENT;
use serde_json::{json, Value};
use url::form_urlencoded;

use super::driver::connector_named;
use super::input::*;
use super::json::Obj;
use super::{DEFAULT_ACCESS_TOKEN, MAX_REPEAT};
use crate::fixtures::{self, fixture_keys, FixtureKey, ENTRA_TENANT};
use crate::platform::{fetch_failure, Answer};
use crate::Text;

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
pub(super) struct IdpCtx {
    pub(super) connector: usize,
    pub(super) nonce: String,
    pub(super) now: u64,
    pub(super) counts: [usize; 4],
    pub(super) last_token_body: Option<Vec<u8>>,
    pub(super) last_id_token_sub: Option<String>,
}

fn pick<T>(list: &[Reply<T>], n: usize) -> Option<&Reply<T>> {
    list.get(n).or(list.last())
}

fn reply<T>(r: Option<&Reply<T>>, body: impl FnOnce(Option<&T>) -> Vec<u8>) -> Answer {
    match r {
        None => Ok(HttpResponse::new(200, body(None))),
        Some(Reply::Ok(t)) => Ok(HttpResponse::new(200, body(Some(t)))),
        Some(Reply::Status { status, body: t }) => Ok(HttpResponse::new(*status, body(Some(t)))),
        // Each way a fetch fails (the text's length picks one), so every mapping of a fetch error is reached.
        Some(Reply::Fail(t)) => Err(fetch_failure(t.0.len(), t.0.clone())),
    }
}

pub(super) fn respond(script: &IdpScript, config: &Config, ctx: &RefCell<IdpCtx>, req: &HttpRequest) -> Answer {
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
    // Entra's discovery for a sign-in domain (who owns `contoso.example`?): the allowed tenant does.
    for c in &config.connectors {
        if let Protocol::OpenIdConnect { entra: Some(e), .. } = &c.protocol {
            if c.domains.iter().any(|d| entra_domain_discovery_url(&e.authority, d) == req.url) {
                let tenant = idp_profile(c).tid.unwrap_or_else(|| ENTRA_TENANT.to_string());
                let doc = fixtures::discovery_doc(&format!("{}/{tenant}/v2.0", e.authority));
                return Ok(HttpResponse::new(200, doc.into_bytes()));
            }
        }
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
    let (key, alg, header) = jose_header(j.key, &j.alg, &j.kid, &j.typ, j.header_extra.as_ref(), "JWT");
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
    aud_claim(&mut o, &c.aud, &connector.client_id);
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

pub(super) fn logout_token(spec: &LogoutSpec, config: &Config, now: u64, step_no: usize) -> String {
    let id = connector_named(config, &spec.connector);
    let connector = config.connector(&id).or(config.connectors.first()).expect("connectors");
    let profile = idp_profile(connector);
    let (key, alg, header) =
        jose_header(spec.key, &spec.alg, &spec.kid, &spec.typ, spec.header_extra.as_ref(), "logout+jwt");
    let now = now as i64;
    let mut o = Obj::default();
    o.claim("iss", &spec.iss, Some(&profile.token_iss), &profile.token_iss);
    aud_claim(&mut o, &spec.aud, &connector.client_id);
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

/// A token's JOSE header as the input asks (algorithm, `kid`, `typ`, extra members), with the fixture key it
/// names: `(key, alg, header JSON)`.
fn jose_header(
    key: u8,
    alg: &AlgChoice,
    kid: &KidTweak,
    typ: &Member,
    extra: Option<&Text>,
    default_typ: &str,
) -> (&'static FixtureKey, String, String) {
    let keys = fixture_keys();
    let key = &keys[usize::from(key) % keys.len()];
    let alg: String = match alg {
        AlgChoice::FromKey => key.alg.clone(),
        AlgChoice::Named(i) => ALG_NAMES[usize::from(*i) % ALG_NAMES.len()].to_string(),
        AlgChoice::Raw(t) => t.0.clone(),
    };
    let mut h = Obj::default();
    h.string("alg", &alg);
    match kid {
        KidTweak::Keep => h.string("kid", &key.kid),
        KidTweak::Absent => {}
        KidTweak::Raw(t) => h.string("kid", t.as_str()),
        KidTweak::Of(i) => h.string("kid", &keys[usize::from(*i) % keys.len()].kid),
    }
    h.member("typ", typ, Some(json!(default_typ)));
    (key, alg, h.finish(extra))
}

/// The `aud` claim as the input asks: the client id, absent, a list (with or without the client id first), or
/// raw JSON.
fn aud_claim(o: &mut Obj, aud: &AudClaim, client_id: &str) {
    match aud {
        AudClaim::Default => o.string("aud", client_id),
        AudClaim::Absent => {}
        AudClaim::List { others, with_client } => {
            let mut l: Vec<Value> = others.iter().map(|s| json!(s.0)).collect();
            if *with_client {
                l.insert(0, json!(client_id));
            }
            o.value("aud", &Value::Array(l));
        }
        AudClaim::RawJson(t) => o.raw("aud", t.as_str()),
    }
}
