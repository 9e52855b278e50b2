//! `edge-auth-check` end to end: the binary against a tiny OpenID Provider served from this test process
//! (discovery document + JWKS over plain HTTP on 127.0.0.1).
//!
//! `cargo test --features cli --test check_cli`
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_edge-auth-check");

/// A provider on 127.0.0.1: `route(base, path)` answers each GET with a status and a JSON body.
struct Provider {
    base: String,
    hits: Arc<AtomicUsize>,
}

fn provider(route: impl Fn(&str, &str) -> (u16, String) + Send + 'static) -> Provider {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let hits = Arc::new(AtomicUsize::new(0));
    let (b, h) = (base.clone(), hits.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if header == "\r\n" || header == "\n" => break,
                    Ok(_) => {}
                }
            }
            h.fetch_add(1, Ordering::SeqCst);
            let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, body) = route(&b, &path);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Provider { base, hits }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_key(kid: &str, bits: usize) -> serde_json::Value {
    json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&vec![0xc5; bits / 8]), "e": "AQAB"})
}

fn ec_key(kid: &str) -> serde_json::Value {
    json!({"kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256", "x": b64(&[1; 32]), "y": b64(&[2; 32])})
}

fn discovery(issuer: &str) -> serde_json::Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "jwks_uri": format!("{issuer}/jwks"),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "HS256"],
        "response_modes_supported": ["query", "form_post"],
    })
}

/// A provider whose issuer is `{base}/acme`, with the given discovery tweak and key set.
fn acme_provider(
    tweak: impl Fn(&str, &mut serde_json::Value) + Send + 'static,
    keys: Vec<serde_json::Value>,
) -> Provider {
    provider(move |base, path| {
        let issuer = format!("{base}/acme");
        if path == "/acme/.well-known/openid-configuration" {
            let mut doc = discovery(&issuer);
            tweak(base, &mut doc);
            (200, doc.to_string())
        } else if path == "/acme/jwks" {
            (200, json!({ "keys": keys }).to_string())
        } else {
            (404, "{}".into())
        }
    })
}

fn connector(id: &str, issuer: &str, domain: &str) -> serde_json::Value {
    json!({"id": id, "kind": "oidc", "issuer": issuer, "client_id": "edge",
           "client_secret_binding": format!("{}_SECRET", id.to_uppercase()), "domains": [domain]})
}

fn config(connectors: &[serde_json::Value]) -> String {
    json!({ "connectors": connectors }).to_string()
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "check_cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// Runs the binary; (exit code, stdout + stderr).
fn check(args: &[&str]) -> (i32, String) {
    let output = Command::new(BIN).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

fn check_config(json: &str, extra: &[&str]) -> (i32, String) {
    let path = temp_file("auth-config.json", json);
    let mut args = vec![path.to_str().unwrap()];
    args.extend_from_slice(extra);
    check(&args)
}

const SESSION_KEY: &str = "c2Vzc2lvbi1rZXktMzItYnl0ZXMtb2YtcmFuZG9tbmVzcw"; // 35 bytes
const CLIENT_SECRET: &str = "client-secret-value-never-printed";

#[test]
fn a_good_config_lists_endpoints_algorithms_and_keys() {
    let idp = acme_provider(
        |_, _| {},
        vec![
            rsa_key("rsa-1", 2048),
            ec_key("ec-1"),
            rsa_key("weak", 1024),
            json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
            json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": b64(&[0xc5; 256]), "e": "AQAB"}),
        ],
    );
    let issuer = format!("{}/acme", idp.base);
    let facebook = json!({"id": "fb", "kind": "facebook", "client_id": "app", "client_secret_binding": "FB_SECRET",
                          "domains": ["fb.example"]});
    let secrets = temp_file(
        ".dev.vars",
        &format!("# local\nSESSION_KEYS={SESSION_KEY}\nACME_SECRET=\"{CLIENT_SECRET}\"\nFB_SECRET=x\n"),
    );
    let (code, out) = check_config(
        &config(&[connector("acme", &issuer, "Acme.Example"), facebook]),
        &["--secrets", secrets.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    for expected in [
        "connector \"acme\" (kind oidc)",
        "domains routed:       acme.example",
        &format!("discovery:            {issuer}/.well-known/openid-configuration"),
        &format!("issuer:               {issuer} (as configured)"),
        &format!("authorization:        {issuer}/authorize"),
        &format!("token:                {issuer}/token"),
        &format!("userinfo:             {issuer}/userinfo"),
        &format!("end_session:          {issuer}/logout"),
        "PKCE S256:            yes",
        "will use client_secret_post (chosen from discovery)",
        "id_token algs:        RS256, ES256 (refused by edge-auth: HS256)",
        "5 keys: 2 usable, 3 skipped",
        "usable   kid \"rsa-1\", RSA 2048 bits, alg -: verifies RS256",
        "usable   kid \"ec-1\", EC P-256, alg ES256: verifies ES256",
        "skipped  kid \"weak\", RSA 1024 bits, alg -: RSA key of 1024 bits; at least 2048 are required",
        "skipped  kid \"hmac\", oct, alg -: a symmetric (oct) key",
        "skipped  kid \"enc\", RSA 2048 bits, alg -: use is \"enc\"",
        "binding ACME_SECRET set in",
        "SESSION_KEYS has 1 key",
        // Facebook has no discovery: its endpoints are printed.
        "connector \"fb\" (kind facebook)",
        "authorization:        https://www.facebook.com/",
        "graph /me:            https://graph.facebook.com/",
        "result: ok: 2 connectors usable",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(out.contains("warning: connector \"acme\", field `issuer`"), "http issuer is for development: {out}");
    assert!(!out.contains(CLIENT_SECRET) && !out.contains(SESSION_KEY), "a secret was printed:\n{out}");
    assert_eq!(idp.hits.load(Ordering::SeqCst), 2, "one discovery fetch and one JWKS fetch");
}

#[test]
fn a_config_error_names_the_connector_and_field() {
    let json = config(&[connector("acme", "http://idp.acme.example", "acme.example")]);
    let (code, out) = check_config(&json, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("connector \"acme\", field `issuer`"), "{out}");
    assert!(out.contains("must use https://"), "{out}");

    let mut typo = connector("acme", "https://idp.acme.example", "acme.example");
    typo["domian"] = json!(["x.example"]);
    let (code, out) = check_config(&config(&[typo]), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("connector \"acme\"") && out.contains("unknown field `domian`"), "{out}");

    let (code, out) = check_config("{not json", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("AUTH_CONFIG"), "{out}");
}

#[test]
fn an_unreachable_issuer_exits_2() {
    // A port freed at once, on a loopback address no provider of this test process binds (they all use
    // 127.0.0.1), so a test running in parallel cannot pick it up again: connections are refused.
    let port = {
        let l = TcpListener::bind("127.0.0.2:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let issuer = format!("http://127.0.0.2:{port}");
    let (code, out) = check_config(&config(&[connector("acme", &issuer, "acme.example")]), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("error: connector \"acme\", field `issuer`: the discovery document could not be fetched"),
        "{out}"
    );
    assert!(out.contains("unreachable"), "{out}");
    assert!(out.contains("status: UNUSABLE"), "{out}");
}

#[test]
fn a_discovery_issuer_mismatch_exits_2() {
    let idp =
        acme_provider(|base, doc| doc["issuer"] = json!(format!("{base}/someone-else")), vec![rsa_key("rsa-1", 2048)]);
    let issuer = format!("{}/acme", idp.base);
    let (code, out) = check_config(&config(&[connector("acme", &issuer, "acme.example")]), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("error: connector \"acme\", field `issuer`"), "{out}");
    assert!(out.contains("differs from the configured issuer"), "{out}");
    assert!(out.contains(&format!("{}/someone-else", idp.base)), "the issuer found is shown: {out}");
}

#[test]
fn a_provider_without_usable_keys_or_methods_exits_2() {
    let idp = acme_provider(|_, _| {}, vec![rsa_key("weak", 1024)]);
    let (code, out) = check_config(&config(&[connector("acme", &format!("{}/acme", idp.base), "a.example")]), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("field `jwks_uri`: no key in"), "{out}");

    let idp = acme_provider(
        |_, doc| doc["token_endpoint_auth_methods_supported"] = json!(["private_key_jwt"]),
        vec![rsa_key("k", 2048)],
    );
    let (code, out) = check_config(&config(&[connector("acme", &format!("{}/acme", idp.base), "a.example")]), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("field `token_endpoint_auth_methods_supported`"), "{out}");

    let idp = acme_provider(|_, doc| doc["code_challenge_methods_supported"] = json!(["plain"]), vec![]);
    let (code, out) = check_config(&config(&[connector("acme", &format!("{}/acme", idp.base), "a.example")]), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("field `code_challenge_methods_supported`"), "{out}");

    let idp = provider(|_, _| (404, "{}".into()));
    let (code, out) = check_config(&config(&[connector("acme", &format!("{}/acme", idp.base), "a.example")]), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("answered HTTP 404"), "{out}");
}

#[test]
fn warnings_do_not_fail_the_check() {
    let idp = acme_provider(
        |_, doc| {
            doc.as_object_mut().unwrap().remove("end_session_endpoint");
        },
        vec![rsa_key("rsa-1", 2048)],
    );
    let (code, out) = check_config(&config(&[connector("acme", &format!("{}/acme", idp.base), "a.example")]), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning: connector \"acme\", field `end_session_endpoint`"), "{out}");
    assert!(out.contains("warning: connector \"acme\", field `jwks_uri`: no key for ES256"), "{out}");
}

/// The single-use store's binding and migration, as wrangler.toml declares them.
const REPLAY_GUARD: &str = "\n[[durable_objects.bindings]]\nname = \"REPLAY_GUARD\"\nclass_name = \"ReplayGuard\"\n\n[[migrations]]\ntag = \"v1\"\nnew_sqlite_classes = [\"ReplayGuard\"]\n";
/// The revocation log's binding and migration.
const REVOCATION_LOG: &str = "\n[[durable_objects.bindings]]\nname = \"REVOCATION_LOG\"\nclass_name = \"RevocationLog\"\n\n[[migrations]]\ntag = \"v2\"\nnew_sqlite_classes = [\"RevocationLog\"]\n";

#[test]
fn wrangler_toml_vars_as_string_or_table() {
    let as_string = "name = \"x\"\n[vars]\nAUTH_CONFIG = '''\n{\"connectors\":[{\"id\":\"acme\",\"kind\":\"oidc\",\"issuer\":\"https://idp.acme.example\",\"client_id\":\"edge\",\"client_secret_binding\":\"ACME_SECRET\",\"domains\":[\"acme.example\"]}]}\n'''\n";
    let path = temp_file("wrangler.toml", &format!("{as_string}{REPLAY_GUARD}{REVOCATION_LOG}"));
    let (code, out) = check(&["--wrangler", path.to_str().unwrap(), "--offline"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[vars] AUTH_CONFIG"), "{out}");
    assert!(out.contains("discovery:            https://idp.acme.example/.well-known/openid-configuration"), "{out}");
    assert!(out.contains("(not fetched: --offline)"), "{out}");

    let as_table = r#"
[env.production.vars.AUTH_CONFIG]
clock_leeway_seconds = 30
[[env.production.vars.AUTH_CONFIG.connectors]]
id = "acme"
kind = "oidc"
issuer = "https://idp.acme.example"
client_id = "edge"
client_secret_binding = "ACME_SECRET"
domains = ["acme.example"]
[[env.production.durable_objects.bindings]]
name = "REPLAY_GUARD"
class_name = "ReplayGuard"
[[env.production.durable_objects.bindings]]
name = "REVOCATION_LOG"
class_name = "RevocationLog"
[[migrations]]
tag = "v1"
new_sqlite_classes = ["ReplayGuard", "RevocationLog"]
"#;
    let path = temp_file("wrangler.toml", as_table);
    let (code, out) = check(&["--wrangler", path.to_str().unwrap(), "--env", "production", "--offline"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("clock leeway 30 s"), "{out}");

    let (code, out) = check(&["--wrangler", path.to_str().unwrap(), "--offline"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("[vars] has no AUTH_CONFIG"), "{out}");
}

#[test]
fn single_page_application_assets_with_file_rules_are_a_warning() {
    let config = r#"[vars]
AUTH_CONFIG = '{"connectors":[{"id":"acme","kind":"oidc","issuer":"https://idp.acme.example","client_id":"edge","client_secret_binding":"ACME_SECRET","domains":["acme.example"]}],"policies":[{"path":"/index.html","emails":["boss@acme.example"]}]}'
"#;
    let spa = temp_file(
        "wrangler.toml",
        &format!("{config}{REPLAY_GUARD}{REVOCATION_LOG}[assets]\nnot_found_handling = \"single-page-application\"\n"),
    );
    let (code, out) = check(&["--wrangler", spa.to_str().unwrap(), "--offline"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning: field `policies`") && out.contains("single-page-application"), "{out}");
    let plain = temp_file(
        "wrangler.toml",
        &format!("{config}{REPLAY_GUARD}{REVOCATION_LOG}[assets]\nnot_found_handling = \"404-page\"\n"),
    );
    let (code, out) = check(&["--wrangler", plain.to_str().unwrap(), "--offline"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("single-page-application"), "{out}");
}

#[test]
fn wrangler_toml_without_the_replay_guard_is_a_configuration_error() {
    let config = "[vars]\nAUTH_CONFIG = '{\"connectors\":[{\"id\":\"acme\",\"kind\":\"oidc\",\"issuer\":\"https://idp.acme.example\",\"client_id\":\"edge\",\"client_secret_binding\":\"ACME_SECRET\",\"domains\":[\"acme.example\"]}]}'\n";
    let good = temp_file("wrangler.toml", &format!("{config}{REPLAY_GUARD}{REVOCATION_LOG}"));
    let (code, out) = check(&["--wrangler", good.to_str().unwrap(), "--offline"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("replay:      REPLAY_GUARD → Durable Object ReplayGuard (SQLite)"), "{out}");
    for (toml, why) in [
        (config.to_string(), "no Durable Object binding REPLAY_GUARD"),
        (
            format!("{config}{}", REPLAY_GUARD.replace("\"ReplayGuard\"\n\n", "\"Other\"\n\n")),
            "must name class_name = \"ReplayGuard\"",
        ),
        (format!("{config}{}", REPLAY_GUARD.replace("new_sqlite_classes", "new_classes")), "needs SQLite storage"),
        (
            format!("{config}{}", REPLAY_GUARD.replace("new_sqlite_classes = [\"ReplayGuard\"]", "")),
            "no [[migrations]] entry creates ReplayGuard",
        ),
    ] {
        let path = temp_file("wrangler.toml", &toml);
        let (code, out) = check(&["--wrangler", path.to_str().unwrap(), "--offline"]);
        assert_eq!(code, 1, "{why}: {out}");
        assert!(
            out.contains(why) && out.contains("every sign-in would be refused (503 replay_store_unavailable)"),
            "{why}: {out}"
        );
    }
    // The repository's own wrangler.toml declares both objects.
    let ours = concat!(env!("CARGO_MANIFEST_DIR"), "/wrangler.toml");
    let (_, out) = check(&["--wrangler", ours, "--offline"]);
    assert!(out.contains("replay:      REPLAY_GUARD → Durable Object ReplayGuard (SQLite)"), "{out}");
    assert!(out.contains("revocations: REVOCATION_LOG → Durable Object RevocationLog (SQLite)"), "{out}");
    assert!(!out.contains("REVOCATIONS"), "{out}");
}

#[test]
fn wrangler_toml_without_the_revocation_log_is_a_configuration_error_and_the_old_kv_store_a_warning() {
    let config = "[vars]\nAUTH_CONFIG = '{\"connectors\":[{\"id\":\"acme\",\"kind\":\"oidc\",\"issuer\":\"https://idp.acme.example\",\"client_id\":\"edge\",\"client_secret_binding\":\"ACME_SECRET\",\"domains\":[\"acme.example\"]}]}'\n";
    // A deployment of an earlier version: the KV revocation store, no revocation log.
    let old_kv = "\n[[kv_namespaces]]\nbinding = \"REVOCATIONS\"\nid = \"0123\"\n";
    let old = temp_file("wrangler.toml", &format!("{config}{REPLAY_GUARD}{old_kv}"));
    let (code, out) = check(&["--wrangler", old.to_str().unwrap(), "--offline"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no Durable Object binding REVOCATION_LOG"), "{out}");
    assert!(out.contains("every session would be refused (the revocations cannot be read)"), "{out}");
    assert!(out.contains("the KV namespace REVOCATIONS is no longer read"), "{out}");
    assert!(out.contains("Upgrading from the KV revocation store"), "{out}");
    for (toml, why) in [
        (
            format!("{config}{REPLAY_GUARD}{}", REVOCATION_LOG.replace("new_sqlite_classes", "new_classes")),
            "RevocationLog is created with new_classes (key-value storage): it needs SQLite storage",
        ),
        (
            format!("{config}{REPLAY_GUARD}{}", REVOCATION_LOG.replace("\"RevocationLog\"\n\n", "\"ReplayGuard\"\n\n")),
            "the binding REVOCATION_LOG must name class_name = \"RevocationLog\"",
        ),
    ] {
        let path = temp_file("wrangler.toml", &toml);
        let (code, out) = check(&["--wrangler", path.to_str().unwrap(), "--offline"]);
        assert_eq!(code, 1, "{why}: {out}");
        assert!(out.contains(why), "{why}: {out}");
    }
    let both = temp_file("wrangler.toml", &format!("{config}{REPLAY_GUARD}{REVOCATION_LOG}{old_kv}"));
    let (code, out) = check(&["--wrangler", both.to_str().unwrap(), "--offline"]);
    assert_eq!(code, 0, "a leftover namespace is a warning only: {out}");
    assert!(out.contains("revocations: REVOCATION_LOG → Durable Object RevocationLog (SQLite)"), "{out}");
    assert!(out.contains("the KV namespace REVOCATIONS is no longer read"), "{out}");
}

#[test]
fn secrets_are_checked_but_never_printed() {
    let json = config(&[connector("acme", "https://idp.acme.example", "acme.example")]);
    let short = temp_file(".dev.vars", "SESSION_KEYS=dG9vLXNob3J0\n");
    let (code, out) = check_config(&json, &["--offline", "--secrets", short.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("field `SESSION_KEYS`: key 1 is 9 bytes"), "{out}");
    assert!(out.contains("warning: connector \"acme\", field `client_secret_binding`: ACME_SECRET is not in"), "{out}");
    assert!(!out.contains("dG9vLXNob3J0"), "{out}");

    let empty = temp_file(".dev.vars", &format!("SESSION_KEYS={SESSION_KEY}\nACME_SECRET=\n"));
    let (code, out) = check_config(&json, &["--offline", "--secrets", empty.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("connector \"acme\", field `client_secret_binding`: the secret ACME_SECRET is empty"),
        "{out}"
    );

    let missing = temp_file(".dev.vars", "OTHER=1\n");
    let (code, out) = check_config(&json, &["--offline", "--secrets", missing.to_str().unwrap()]);
    assert_eq!(code, 0, "missing secrets may be set with wrangler secret put: {out}");
    assert!(out.contains("warning: field `SESSION_KEYS`: not in"), "{out}");
}

/// The secrets are judged by the worker's own start-up checks (`core::deployment`), in its words: a deployment
/// the worker would refuse to start is an error here too — also an unusable assertion key outside origin mode,
/// which the worker refuses and the check once passed in silence.
#[test]
fn secrets_are_judged_by_the_checks_the_worker_starts_with() {
    let json = config(&[connector("acme", "https://idp.acme.example", "acme.example")]);
    let bad_key =
        temp_file(".dev.vars", &format!("SESSION_KEYS={SESSION_KEY}\nACME_SECRET=s\nASSERTION_SIGNING_KEY=nope\n"));
    let (code, out) = check_config(&json, &["--offline", "--secrets", bad_key.to_str().unwrap()]);
    assert_eq!(code, 1, "the worker refuses to start with this key: {out}");
    assert!(out.contains("error: field `ASSERTION_SIGNING_KEY`: must be an EC P-256 private key"), "{out}");

    let missing = temp_file(".dev.vars", "OTHER=1\n");
    let (code, out) = check_config(&json, &["--offline", "--secrets", missing.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    for worker_words in [
        "the Worker secret SESSION_KEYS is not set (run: bash scripts/wrangler.sh secret put SESSION_KEYS)",
        "the Worker secret \"ACME_SECRET\" is not set (run: bash scripts/wrangler.sh secret put ACME_SECRET)",
    ] {
        assert!(out.contains(worker_words), "missing {worker_words:?} in:\n{out}");
    }
}

#[test]
fn usage_errors_exit_1() {
    let (code, out) = check(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("usage: edge-auth-check"), "{out}");
    let (code, out) = check(&["--nope"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unknown option --nope"), "{out}");
    let (code, out) = check(&["/nonexistent/auth-config.json"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cannot read /nonexistent/auth-config.json"), "{out}");
    let (code, _) = check(&["--help"]);
    assert_eq!(code, 0);
}

#[test]
fn entra_discovery_issuers_follow_the_worker_rules() {
    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let idp = provider(|base, path| {
        let tenant = path.split('/').nth(1).unwrap_or("");
        let issuer = match tenant {
            "organizations" => format!("{base}/{{tenantid}}/v2.0"),
            // The connectors' domains (multi.example, single.example) are verified in TENANT.
            "contoso.onmicrosoft.com" | "multi.example" | "single.example" => format!("{base}/{TENANT}/v2.0"),
            other => format!("{base}/{other}/v2.0"),
        };
        if path.ends_with("/.well-known/openid-configuration") {
            let mut doc = discovery(&issuer);
            doc["jwks_uri"] = json!(format!("{base}/common/discovery/v2.0/keys"));
            doc["id_token_signing_alg_values_supported"] = json!(["RS256"]);
            doc.as_object_mut().unwrap().remove("code_challenge_methods_supported");
            (200, doc.to_string())
        } else if path == "/common/discovery/v2.0/keys" {
            (200, json!({ "keys": [rsa_key("entra-1", 2048)] }).to_string())
        } else {
            (404, "{}".into())
        }
    });
    let entra = |id: &str, tenant: &str, allowed: &[&str]| {
        let mut c = json!({"id": id, "kind": "entra", "tenant": tenant, "authority": idp.base, "client_id": "c",
                           "client_secret_binding": "ENTRA", "domains": [format!("{id}.example")]});
        if !allowed.is_empty() {
            c["allowed_tenants"] = json!(allowed);
        }
        c
    };
    let json = config(&[entra("multi", "organizations", &[TENANT]), entra("single", "contoso.onmicrosoft.com", &[])]);
    let (code, out) = check_config(&json, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("issuer:               {}/{{tenantid}}/v2.0 (accepted as", idp.base)), "{out}");
    assert!(out.contains(&format!("tenant id:            {TENANT}")), "{out}");
    assert!(out.contains("PKCE S256:            not advertised"), "{out}");
    assert!(out.contains("usable   kid \"entra-1\""), "{out}");
    assert!(out.contains(&format!("domain owner:         multi.example -> tenant {TENANT}")), "{out}");

    // A single-tenant connector whose allow-list does not hold the tenant the discovery document reveals.
    let other = "00000000-0000-4000-8000-000000000000";
    let (code, out) = check_config(&config(&[entra("single", "contoso.onmicrosoft.com", &[other])]), &[]);
    assert_eq!(code, 1, "the domain's owner is not pinned: a configuration error\n{out}");
    assert!(out.contains("error: connector \"single\", field `tenant`"), "{out}");
    assert!(out.contains(&format!("field `allowed_tenants`: single.example is verified in tenant {TENANT}")), "{out}");
}

#[test]
fn entra_domains_are_resolved_to_their_owning_tenants() {
    const TENANT_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
    const TENANT_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
    let idp = provider(|base, path| {
        let tenant = path.split('/').nth(1).unwrap_or("");
        let issuer = match tenant {
            "organizations" => format!("{base}/{{tenantid}}/v2.0"),
            "a.example" => format!("{base}/{TENANT_A}/v2.0"),
            "b.example" => format!("{base}/{TENANT_B}/v2.0"),
            "common" => String::new(),
            // Verified in no tenant: Entra answers 400 (AADSTS90002).
            _ if path.ends_with("/.well-known/openid-configuration") => {
                return (400, json!({"error": "invalid_tenant"}).to_string())
            }
            _ => return (404, "{}".into()),
        };
        if path.ends_with("/.well-known/openid-configuration") {
            let mut doc = discovery(&issuer);
            doc["jwks_uri"] = json!(format!("{base}/common/discovery/v2.0/keys"));
            doc["id_token_signing_alg_values_supported"] = json!(["RS256"]);
            (200, doc.to_string())
        } else if path == "/common/discovery/v2.0/keys" {
            (200, json!({ "keys": [rsa_key("entra-1", 2048)] }).to_string())
        } else {
            (404, "{}".into())
        }
    });
    let partners = |domains: &[&str]| {
        config(&[json!({"id": "partners", "kind": "entra", "tenant": "organizations", "authority": idp.base,
                        "client_id": "c", "client_secret_binding": "ENTRA", "allowed_tenants": [TENANT_A],
                        "domains": domains})])
    };
    let (code, out) = check_config(&partners(&["a.example"]), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("domain owner:         a.example -> tenant {TENANT_A}")), "{out}");

    // b.example is verified in a tenant the connector does not list; c.example in none.
    let (code, out) = check_config(&partners(&["a.example", "b.example", "c.example"]), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("domain owner:         b.example -> tenant {TENANT_B}")), "{out}");
    assert!(
        out.contains(&format!(
            "error: connector \"partners\", field `allowed_tenants`: b.example is verified in tenant {TENANT_B}, which the connector does not accept"
        )),
        "{out}"
    );
    assert!(out.contains("domain owner:         c.example -> no tenant"), "{out}");
    assert!(out.contains("field `domains`: c.example is verified in no Entra tenant"), "{out}");
}

#[test]
fn origin_mode_policies_and_the_assertion_key() {
    let mut json: serde_json::Value =
        serde_json::from_str(&config(&[connector("acme", "https://idp.acme.example", "acme.example")])).unwrap();
    json["origin"] = json!({"url": "https://app.internal.example"});
    json["session"] = json!({"idle_timeout_seconds": 1800, "encrypt": true});
    json["policies"] = json!([
        {"path": "/public/*", "public": true},
        {"path": "/admin/*", "domains": ["acme.example", "elsewhere.example"], "groups": ["admins"]},
    ]);
    let json = json.to_string();
    let d = b64(&[7; 32]);
    let key = json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32]), "d": d}).to_string();
    let secrets =
        temp_file(".dev.vars", &format!("SESSION_KEYS={SESSION_KEY}\nACME_SECRET=s\nASSERTION_SIGNING_KEY={key}\n"));
    let (code, out) = check_config(&json, &["--offline", "--secrets", secrets.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    for expected in [
        "idle timeout 1800 s, cookies encrypted",
        "origin:   https://app.internal.example/",
        "policy:   /public/*: public",
        "policy:   /admin/*: domains acme.example, elsewhere.example; groups acme:admins",
        "warning: field `policies[1].domains`: \"elsewhere.example\" is not routed to any connector",
        "ASSERTION_SIGNING_KEY is an EC P-256 key, kid ",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains(&d), "the private key was printed:\n{out}");

    let bad =
        temp_file(".dev.vars", &format!("SESSION_KEYS={SESSION_KEY}\nACME_SECRET=s\nASSERTION_SIGNING_KEY=nope\n"));
    let (code, out) = check_config(&json, &["--offline", "--secrets", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error: field `ASSERTION_SIGNING_KEY`: must be an EC P-256 private key"), "{out}");
}

// SAML 2.0 connectors (`kind: "saml"`): the IdP inline or from its metadata, each signing certificate, and what to
// register at the IdP.

/// The IdP certificate of the signed SAML fixtures (CN=idp.example, RSA 2048, 2026-12-02 to 2126-11-08).
const IDP_CERT: &str = include_str!("fixtures/xml/dsig/rsa-cert.pem");
/// The same subject with an EC P-256 key.
const IDP_EC_CERT: &str = include_str!("fixtures/xml/dsig/ec-cert.pem");
/// CN=expired-idp.example, RSA 2048, valid only in 2020 (tests/fixtures/x509/make-expired.py).
const EXPIRED_CERT: &str = include_str!("fixtures/x509/expired.pem");

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn saml_inline(id: &str, domain: &str, certificates: &[&str]) -> serde_json::Value {
    json!({"id": id, "kind": "saml", "domains": [domain], "idp_entity_id": "https://idp.example/",
           "idp_sso_url": "https://idp.example/saml/sso", "idp_certificates": certificates})
}

fn saml_by_metadata(id: &str, domain: &str, url: &str) -> serde_json::Value {
    json!({"id": id, "kind": "saml", "domains": [domain], "idp_metadata_url": url})
}

/// An IdP's metadata document (one signing KeyDescriptor per certificate, as IdPs publish a rollover).
fn idp_metadata(base: &str, certificates: &[&str]) -> String {
    let keys: String = certificates
        .iter()
        .map(|c| {
            format!(
                "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}\
                 </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
                pem_body(c)
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?>\n<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" \
         xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"{base}/idp\" validUntil=\"2126-01-01T00:00:00Z\" \
         cacheDuration=\"PT6H\"><md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
         {keys}<md:KeyDescriptor use=\"encryption\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>not read\
         </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
         <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"{base}/sso-post\"/>\
         <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{base}/sso\"/>\
         </md:IDPSSODescriptor></md:EntityDescriptor>"
    )
}

/// A port nothing listens on (see `an_unreachable_issuer_exits_2`).
fn refused_base() -> String {
    let port = {
        let l = TcpListener::bind("127.0.0.2:0").unwrap();
        l.local_addr().unwrap().port()
    };
    format!("http://127.0.0.2:{port}")
}

/// An inline IdP: entity ID, SSO URL and each certificate (subject, key, validity) are printed; a SAML connector
/// counts among the usable ones, and a policy on its domain is not "routed to no connector".
#[test]
fn a_saml_connector_with_an_inline_idp_lists_its_certificates() {
    let idp = acme_provider(|_, _| {}, vec![rsa_key("rsa-1", 2048)]);
    let mut json: serde_json::Value = serde_json::from_str(&config(&[
        connector("acme", &format!("{}/acme", idp.base), "acme.example"),
        saml_inline("partner", "partner.example", &[IDP_CERT, &pem_body(IDP_EC_CERT)]),
    ]))
    .unwrap();
    json["policies"] = json!([{"path": "/*", "domains": ["partner.example"]}]);
    let (code, out) = check_config(&json.to_string(), &[]);
    assert_eq!(code, 0, "{out}");
    for expected in [
        "2 connectors (1 SAML)",
        "connector \"partner\" (kind saml)",
        "domains routed:       partner.example",
        "IdP entity ID:        https://idp.example/",
        "IdP SSO URL:          https://idp.example/saml/sso (HTTP-Redirect)",
        "certificate #1: CN=idp.example, RSA 2048 bits, valid 2026-12-02 to 2126-11-08",
        "certificate #2: CN=idp.example, EC P-256, valid 2026-12-02 to 2126-11-08",
        "result: ok: 2 connectors usable",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains("warning: connector \"partner\""), "{out}");
    assert!(!out.contains("policies[0].domains"), "the SAML connector owns partner.example: {out}");
}

/// `allow_sha1` works (the connector stays usable) but is a warning naming the connector and the field, and the
/// algorithms line and the registration hint say so; a connector without it says SHA-1 is refused, warning-free.
#[test]
fn a_saml_connector_with_allow_sha1_is_a_warning() {
    let mut sha1 = saml_inline("legacy", "legacy.example", &[IDP_CERT]);
    sha1["allow_sha1"] = json!(true);
    let json = config(&[sha1, saml_inline("modern", "modern.example", &[IDP_CERT])]);
    let (code, out) = check_config(&json, &[]);
    assert_eq!(code, 0, "a warning only: {out}");
    for expected in [
        "signature algorithms: RSA-SHA256/384/512, ECDSA-SHA256/384; digests SHA-256/384/512, and RSA-SHA1 / SHA-1 \
         (allow_sha1)",
        "warning: connector \"legacy\", field `allow_sha1`: SHA-1 signatures and digests are accepted from this IdP: \
         SHA-1 is deprecated",
        "SHA-256 or stronger (SHA-1 accepted: allow_sha1, deprecated)",
        "signature algorithms: RSA-SHA256/384/512, ECDSA-SHA256/384; digests SHA-256/384/512 (SHA-1 refused)",
        "SHA-256 or stronger (SHA-1 is refused)",
        "result: ok: 2 connectors usable; 1 warning",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains("warning: connector \"modern\""), "{out}");
}

/// An expired inline certificate is a warning (the worker still verifies with it), naming the certificate, its end
/// and what to do; it does not fail the check.
#[test]
fn an_expired_inline_certificate_is_a_warning() {
    let (code, out) = check_config(&config(&[saml_inline("partner", "p.example", &[IDP_CERT, EXPIRED_CERT])]), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("certificate #2: CN=expired-idp.example, RSA 2048 bits, valid 2020-01-01 to 2021-01-01"),
        "{out}"
    );
    assert!(
        out.contains(
            "warning: connector \"partner\", field `idp_certificates[1]`: certificate #2 (CN=expired-idp.example) \
             expired on 2021-01-01"
        ),
        "{out}"
    );
    assert!(out.contains("add the one it signs with now to idp_certificates"), "{out}");
    assert!(out.contains("result: ok: 1 connector usable; 1 warning"), "{out}");
}

/// Metadata: fetched once, read by the worker's parser (only signing keys, only the HTTP-Redirect SSO URL); its
/// entity ID, SSO URL, certificates (an expired one warned about), validUntil and cacheDuration are printed.
#[test]
fn a_saml_connector_with_idp_metadata_lists_what_the_metadata_says() {
    let idp = provider(|base, path| match path {
        "/saml/metadata" => (200, idp_metadata(base, &[IDP_CERT, EXPIRED_CERT])),
        _ => (404, String::new()),
    });
    let url = format!("{}/saml/metadata", idp.base);
    let (code, out) = check_config(&config(&[saml_by_metadata("partner", "partner.example", &url)]), &[]);
    assert_eq!(code, 0, "{out}");
    for expected in [
        format!("IdP metadata:         {url}"),
        format!("IdP entity ID:        {}/idp", idp.base),
        format!("IdP SSO URL:          {}/sso (HTTP-Redirect)", idp.base),
        "metadata validUntil:  2126-01-01T00:00:00Z".to_string(),
        "cacheDuration 6 hours".to_string(),
        "certificate #1: CN=idp.example, RSA 2048 bits, valid 2026-12-02 to 2126-11-08".to_string(),
        "certificate #2: CN=expired-idp.example, RSA 2048 bits".to_string(),
        "warning: connector \"partner\", field `idp_metadata_url`: certificate #2 (CN=expired-idp.example) expired on \
         2021-01-01"
            .to_string(),
        // The other warning: the test IdP's http:// (loopback) metadata URL.
        "result: ok: 1 connector usable; 2 warnings".to_string(),
    ] {
        assert!(out.contains(&expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains("certificate #3"), "the encryption key is not a signing certificate: {out}");
    assert_eq!(idp.hits.load(Ordering::SeqCst), 1, "one metadata fetch");
}

/// Metadata that cannot be had or read: an error naming the connector, the field and the URL, with the reason (the
/// fetcher's, or the worker's parser's); exit 2.
#[test]
fn unreachable_or_invalid_idp_metadata_is_an_error_naming_connector_and_url() {
    let url = format!("{}/saml/metadata", refused_base());
    let (code, out) = check_config(&config(&[saml_by_metadata("partner", "partner.example", &url)]), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "error: connector \"partner\", field `idp_metadata_url`: the IdP metadata could not be fetched: {url} is \
             unreachable"
        )),
        "{out}"
    );
    assert!(out.contains("status: UNUSABLE"), "{out}");

    let idp = provider(|base, path| match path {
        "/aggregate" => (200, "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\"/>".into()),
        "/html" => (200, "<html><body>Sign in</body>".into()),
        "/no-redirect" => (200, idp_metadata(base, &[IDP_CERT]).replace("bindings:HTTP-Redirect", "bindings:SOAP")),
        _ => (404, String::new()),
    });
    for (path, reason) in [
        ("/aggregate", "an aggregate of several entities is not read"),
        ("/html", "the SAML metadata is not XML edge-auth reads"),
        ("/no-redirect", "a SingleSignOnService with the HTTP-Redirect binding"),
        ("/missing", "answered HTTP 404"),
    ] {
        let url = format!("{}{path}", idp.base);
        let (code, out) = check_config(&config(&[saml_by_metadata("partner", "partner.example", &url)]), &[]);
        assert_eq!(code, 2, "{path}: {out}");
        let error = out.lines().find(|l| l.contains("error: connector \"partner\", field `idp_metadata_url`"));
        let error = error.unwrap_or_else(|| panic!("{path}: no error line in:\n{out}"));
        assert!(error.contains(reason) && error.contains(&url), "{path}: {error}");
    }
}

/// `--site`: what to register at the IdP, with the site's URLs (the SP entity ID defaults to the metadata URL, or is
/// the configured `sp_entity_id`); without it, a placeholder and a hint; a site with a path is a usage error.
#[test]
fn site_prints_what_to_register_at_the_idp() {
    let mut custom = saml_inline("corp", "corp.example", &[IDP_CERT]);
    custom["sp_entity_id"] = json!("urn:edge-auth:corp");
    custom["email_attribute"] = json!("mail");
    let json = config(&[saml_inline("partner", "partner.example", &[IDP_CERT]), custom]);
    let (code, out) = check_config(&json, &["--site", "https://App.Example/"]);
    assert_eq!(code, 0, "{out}");
    for expected in [
        "SP entity ID:       https://app.example/auth/saml/partner/metadata (the SP metadata URL)",
        "ACS URL:            https://app.example/auth/saml/partner/acs (binding HTTP-POST)",
        "SP metadata:        https://app.example/auth/saml/partner/metadata",
        "NameID format:      emailAddress (urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress) recommended",
        "SP entity ID:       urn:edge-auth:corp (sp_entity_id)",
        "ACS URL:            https://app.example/auth/saml/corp/acs (binding HTTP-POST)",
        "or any format with the email in attribute \"mail\"",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains("https://SITE"), "{out}");

    let (code, out) = check_config(&json, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("register at the IdP (give --site https://your.site for the full URLs)"), "{out}");
    assert!(out.contains("ACS URL:            https://SITE/auth/saml/partner/acs"), "{out}");

    for bad in ["https://app.example/app", "http://app.example", "app.example"] {
        let (code, out) = check_config(&json, &["--site", bad]);
        assert_eq!(code, 1, "{bad}: {out}");
        assert!(out.contains("--site: "), "{bad}: {out}");
    }
}

/// `--offline`: the metadata is not fetched, and the connector is still listed with what to register.
#[test]
fn offline_does_not_fetch_idp_metadata() {
    let idp = provider(|base, _| (200, idp_metadata(base, &[IDP_CERT])));
    let url = format!("{}/saml/metadata", idp.base);
    let (code, out) = check_config(&config(&[saml_by_metadata("partner", "partner.example", &url)]), &["--offline"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("IdP:                  (not fetched: --offline)"), "{out}");
    assert!(out.contains("ACS URL:            https://SITE/auth/saml/partner/acs"), "{out}");
    assert_eq!(idp.hits.load(Ordering::SeqCst), 0, "nothing fetched");
}

/// A certificate the worker cannot use is a configuration error (the SAML build reads them at start-up), naming
/// the connector, the certificate's position and the worker's reason.
#[test]
fn an_unusable_inline_certificate_is_a_configuration_error() {
    let weak = include_str!("fixtures/x509/rsa1024.pem");
    let (code, out) = check_config(&config(&[saml_inline("partner", "p.example", &[IDP_CERT, weak])]), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("connector \"partner\", field `idp_certificates[1]`: RSA key of 1024 bits"), "{out}");
}

/// Encrypted assertions: the SP encryption certificate (subject, end) and the decryption key's secret, read as
/// the worker reads it (a PEM written on one line with `\n` escapes, as .dev.vars holds it); a missing or
/// unreadable key is a warning naming the binding, never printing the key. A connector without it says
/// encryption is off.
#[test]
fn a_saml_connector_with_encryption_reports_its_certificate_and_key() {
    let sp_cert = include_str!("fixtures/xml/xenc/sp-cert.pem");
    let sp_key = include_str!("fixtures/xml/xenc/sp-key.pem");
    let mut encrypted = saml_inline("partner", "partner.example", &[IDP_CERT]);
    encrypted["sp_encryption_certificate"] = json!(sp_cert);
    encrypted["sp_decryption_key_binding"] = json!("SAML_SP_KEY");
    let json = config(&[encrypted, saml_inline("plain", "plain.example", &[IDP_CERT])]);
    let one_line = sp_key.trim().replace('\n', "\\n");
    let good = temp_file(".dev.vars", &format!("SESSION_KEYS={SESSION_KEY}\nSAML_SP_KEY=\"{one_line}\"\n"));
    let (code, out) = check_config(&json, &["--offline", "--secrets", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("assertion encryption: RSA-OAEP + AES-GCM to sp_encryption_certificate (CN=edge-auth TEST-ONLY SP encryption key, valid to "),
        "{out}"
    );
    assert!(out.contains("decryption key:       binding SAML_SP_KEY set in"), "{out}");
    assert!(out.contains("assertion encryption: off (an EncryptedAssertion is refused)"), "{out}");
    assert!(out.contains("0 warnings") && !out.contains("warning:"), "{out}");

    let pkcs1 = one_line.replace("PRIVATE KEY", "RSA PRIVATE KEY");
    for (vars, why) in [
        (format!("SESSION_KEYS={SESSION_KEY}\n"), "SAML_SP_KEY is not in"),
        (
            format!("SESSION_KEYS={SESSION_KEY}\nSAML_SP_KEY=\"{pkcs1}\"\n"),
            "the secret SAML_SP_KEY is not a PKCS #8 PEM private key",
        ),
    ] {
        let file = temp_file(".dev.vars", &vars);
        let (code, out) = check_config(&json, &["--offline", "--secrets", file.to_str().unwrap()]);
        assert_eq!(code, 0, "a warning: {out}");
        assert!(
            out.contains(&format!("warning: connector \"partner\", field `sp_decryption_key_binding`: {why}")),
            "{out}"
        );
        assert!(!out.contains(&sp_key.lines().nth(1).unwrap()[..20]), "no key material: {out}");
    }
}

// WS-Federation connectors (`kind: "wsfed"`): the same IdP report in WS-Fed words, and what to register at
// AD FS or Entra (realm, reply URL, sign-out URL, claims).

fn wsfed_inline(id: &str, domain: &str, certificates: &[&str]) -> serde_json::Value {
    json!({"id": id, "kind": "wsfed", "domains": [domain], "issuer": "http://adfs.example/adfs/services/trust",
           "sso_url": "https://adfs.example/adfs/ls/", "certificates": certificates})
}

#[test]
fn a_wsfed_connector_prints_its_idp_and_what_to_register() {
    let mut custom = wsfed_inline("fabrikam", "fabrikam.example", &[IDP_CERT]);
    custom["realm"] = json!("urn:edge-auth:fabrikam");
    custom["email_claim"] = json!("http://schemas.xmlsoap.org/claims/EmailAddress");
    let json = config(&[
        wsfed_inline("contoso", "contoso.example", &[IDP_CERT, EXPIRED_CERT]),
        saml_inline("partner", "partner.example", &[IDP_CERT]),
        custom,
    ]);
    let (code, out) = check_config(&json, &["--site", "https://app.example"]);
    assert_eq!(code, 0, "{out}");
    for expected in [
        "3 connectors (1 SAML, 2 WS-Federation)",
        "connector \"contoso\" (kind wsfed)",
        "IdP:                  inline (issuer, sso_url, certificates)",
        "IdP issuer:           http://adfs.example/adfs/services/trust",
        "IdP passive endpoint: https://adfs.example/adfs/ls/ (wa=wsignin1.0)",
        "certificate #1: CN=idp.example, RSA 2048 bits",
        "connector \"contoso\", field `certificates[1]`: certificate #2 (CN=expired-idp.example) expired on 2021-01-01",
        "add the one it signs with now to certificates",
        "realm (wtrealm):    https://app.example/auth/wsfed/contoso (the default: the reply URL)",
        "reply URL:          https://app.example/auth/wsfed/contoso (WS-Federation passive endpoint)",
        "sign-out URL:       https://app.example/auth/wsfed/contoso?wa=wsignoutcleanup1.0",
        "subject from:         http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID",
        "realm (wtrealm):    urn:edge-auth:fabrikam (realm)",
        "email from:           claim \"http://schemas.xmlsoap.org/claims/EmailAddress\" (email_claim), and no other",
        // The SAML connector beside them keeps its own words.
        "connector \"partner\" (kind saml)",
        "ACS URL:            https://app.example/auth/saml/partner/acs (binding HTTP-POST)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains("to idp_certificates"), "WS-Fed fields are named as configured:\n{out}");
}

/// WS-Fed field names in configuration errors: the connector and the field as the operator wrote them.
#[test]
fn wsfed_configuration_errors_name_the_field() {
    let mut both = wsfed_inline("contoso", "contoso.example", &[IDP_CERT]);
    both["metadata_url"] = json!("https://adfs.example/FederationMetadata/2007-06/FederationMetadata.xml");
    let (code, out) = check_config(&config(&[both]), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("contoso") && out.contains("metadata_url") && out.contains("not both"), "{out}");

    let mut saml_field = wsfed_inline("contoso", "contoso.example", &[IDP_CERT]);
    saml_field["idp_initiated"] = json!(true);
    let (code, out) = check_config(&config(&[saml_field]), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("idp_initiated"), "a SAML-only field on a WS-Fed connector is refused:\n{out}");
}

/// WS-Fed federation metadata (an AD FS-shaped document: ~220 namespace declarations, an STS role beside SAML
/// roles): fetched, read by the worker's federation metadata parser; the issuer (its entityID), the passive
/// endpoint of the STS role and its signing certificate are printed.
#[test]
fn a_wsfed_connector_with_federation_metadata_lists_what_it_says() {
    const ADFS: &str = include_str!("fixtures/xml/wsfed-metadata/adfs.xml");
    let idp = provider(|_, path| match path {
        "/FederationMetadata/2007-06/FederationMetadata.xml" => (200, ADFS.to_string()),
        _ => (404, String::new()),
    });
    let url = format!("{}/FederationMetadata/2007-06/FederationMetadata.xml", idp.base);
    let wsfed = json!({"id": "contoso", "kind": "wsfed", "domains": ["contoso.example"], "metadata_url": url});
    let (code, out) = check_config(&config(&[wsfed]), &[]);
    assert_eq!(code, 0, "{out}");
    for expected in [
        "connector \"contoso\" (kind wsfed)",
        "IdP issuer:           http://adfs.contoso.example/adfs/services/trust",
        "IdP passive endpoint: https://adfs.contoso.example/adfs/ls/ (wa=wsignin1.0)",
        "certificate #1: CN=idp.example, RSA 2048 bits",
        "status: usable",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // The same document read as SAML metadata is a different IdP (its IDPSSODescriptor), never mixed in: a SAML
    // connector on it reports its own HTTP-Redirect endpoint, not the passive one.
    let saml = saml_by_metadata("corp", "corp.example", &url);
    let (_, out) = check_config(&config(&[saml]), &[]);
    assert!(!out.contains("(wa=wsignin1.0)"), "{out}");
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/check/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Every configuration error at once, numbered, each naming the connector and field and why; the schema's
/// refusals alongside, by JSON pointer; exit 1.
#[test]
fn every_configuration_error_is_reported_numbered_with_the_schemas() {
    let mut bad_issuer = connector("acme", "http://idp.acme.example", "acme.example");
    bad_issuer["display_name"] = json!("Acme");
    let mut typo = connector("beta", "https://idp.beta.example", "beta.example");
    typo["domian"] = json!(["x.example"]);
    let twin = connector("gamma", "https://idp.gamma.example", "Beta.Example");
    let json = json!({"connectors": [bad_issuer, typo, twin, connector("gamma", "https://idp.g.example", "g.example")],
                      "session": {"lifetime_seconds": "long"}, "polices": []})
    .to_string();
    let (code, out) = check_config(&json, &["--offline"]);
    assert_eq!(code, 1, "{out}");
    for expected in [
        "AUTH_CONFIG: 5 errors (each connector and section is read on its own; inside one, its first error):",
        "  1. field `polices`: unknown field `polices`",
        "  2. field `session.lifetime_seconds`: invalid type: a string",
        "  3. connector \"acme\", field `issuer`: \"http://idp.acme.example\" must use https://",
        "  4. connector \"beta\", field `domian`: unknown field `domian`",
        // beta is in error: gamma's domain is its own, but its id is taken twice.
        "  5. connector \"gamma\", field `id`: another connector has the same id",
        "schema/auth-config.schema.json: 3 errors:",
        "  1. /connectors/1/domian: unknown field \"domian\"",
        "  2. /polices: unknown field \"polices\"",
        "  3. /session/lifetime_seconds: string is not of type integer",
        "8 errors:",
        "result: configuration errors",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // A duplicate domain between connectors that read is found alongside the other errors.
    let json = config(&[
        connector("acme", "http://idp.acme.example", "acme.example"),
        connector("beta", "https://idp.beta.example", "beta.example"),
        connector("gamma", "https://idp.gamma.example", "Beta.Example."),
    ]);
    let (code, out) = check_config(&json, &["--offline"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("  1. connector \"acme\", field `issuer`"), "{out}");
    assert!(
        out.contains(
            "  2. connector \"gamma\", field `domains[0]`: \"beta.example\" is already owned by connector \"beta\""
        ),
        "{out}"
    );
}

/// What the worker accepts and the schema refuses (a `null` the reader takes as absent) is a warning, not an
/// error: the worker decides.
#[test]
fn a_schema_refusal_the_worker_accepts_is_a_warning() {
    let mut acme = connector("acme", "https://idp.acme.example", "acme.example");
    acme["display_name"] = serde_json::Value::Null;
    let (code, out) = check_config(&config(&[acme]), &["--offline"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: field `(schema)`: schema/auth-config.schema.json refuses /connectors/0/display_name: null is not of type string, which the worker accepts"),
        "{out}"
    );
    let (code, out) =
        check_config(&config(&[connector("acme", "https://idp.acme.example", "acme.example")]), &["--offline"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("schema:   valid (schema/auth-config.schema.json)"), "{out}");
}

/// `--site`: for every kind, the URIs to register, computed by the functions the worker's flow uses (not
/// strings written twice).
#[test]
fn site_prints_the_uris_to_register_for_every_kind() {
    use edge_auth::core::config::Config;
    use edge_auth::core::flow::site_uris::{
        backchannel_logout_uri, frontchannel_logout_uri, post_logout_redirect_uri, redirect_uri,
    };
    let site = "https://app.example";
    let (code, out) = check(&[&fixture("auth-config.json"), "--offline", "--site", "https://App.Example"]);
    assert_eq!(code, 0, "{out}");
    let config = Config::from_json(&std::fs::read_to_string(fixture("auth-config.json")).unwrap()).unwrap();
    // The block of one connector.
    let block = |id: &str| -> String {
        let start = out.find(&format!("connector {id:?} (kind")).unwrap_or_else(|| panic!("no {id} in:\n{out}"));
        let rest = &out[start..];
        rest[..rest.find("status:").unwrap()].to_string()
    };
    let expect = |id: &str, lines: &[String]| {
        let b = block(id);
        for line in lines {
            assert!(b.contains(line.as_str()), "{id}: missing {line:?} in:\n{b}");
        }
    };
    expect(
        "acme",
        &[
            format!("redirect URI:             {}", redirect_uri(site)),
            format!("post-logout redirect URI: {} (sent as post_logout_redirect_uri", post_logout_redirect_uri(site)),
            format!("front-channel logout URL: {} (with iss and sid", frontchannel_logout_uri(site)),
            format!("back-channel logout URL:  {}", backchannel_logout_uri(site)),
        ],
    );
    expect(
        "contoso",
        &[
            format!("redirect URI (Web):       {}", redirect_uri(site)),
            format!("redirect URI (Web):       {} (the post-logout redirect URI", post_logout_redirect_uri(site)),
            format!("front-channel logout URL: {} (Entra sends ?sid= alone)", frontchannel_logout_uri(site)),
            "back-channel logout:      (Entra ID sends none)".to_string(),
        ],
    );
    expect("gws", &[format!("authorized redirect URI:  {} (a \"Web application\"", redirect_uri(site))]);
    expect("fb", &[format!("valid OAuth redirect URI: {} (Facebook Login settings)", redirect_uri(site))]);
    let saml = config.saml_connector("fabrikam").unwrap();
    expect(
        "fabrikam",
        &[
            format!("SP entity ID:       {}", saml.sp_entity_id(site)),
            format!("ACS URL:            {} (binding HTTP-POST)", saml.acs_url(site)),
            format!("SP metadata:        {}", saml.metadata_url(site)),
        ],
    );
    let wsfed = config.wsfed_connector("corp").unwrap();
    expect(
        "corp",
        &[
            format!("realm (wtrealm):    {} (realm)", wsfed.audience(site)),
            format!("reply URL:          {}", wsfed.reply_url(site)),
            format!("sign-out URL:       {}?wa=wsignoutcleanup1.0", wsfed.reply_url(site)),
            format!("after sign-out:     {} (the wreply of sign-out)", post_logout_redirect_uri(site)),
        ],
    );
    assert!(!out.contains("https://SITE"), "{out}");
    // And what those functions give is what the worker answers on (tests/flow.rs goes through them too).
    assert_eq!(redirect_uri(site), "https://app.example/auth/callback");
    assert_eq!(post_logout_redirect_uri(site), "https://app.example/auth/signed-out");
}

/// `--wrangler-secrets`: `wrangler secret list`'s output (names only) against the secrets the configuration
/// names; each missing one an error naming connector and field, with the command that sets it.
#[test]
fn wrangler_secrets_report_each_missing_secret_by_connector_and_field() {
    let config_file = fixture("auth-config.json");
    let (code, out) = check(&[&config_file, "--offline", "--wrangler-secrets", &fixture("wrangler-secret-list.json")]);
    assert_eq!(code, 1, "{out}");
    for expected in [
        "error: connector \"contoso\", field `client_secret_binding`: the Worker secret ENTRA_CLIENT_SECRET is not deployed",
        "error: connector \"fabrikam\", field `sp_decryption_key_binding`: the Worker secret FABRIKAM_SP_KEY is not deployed",
        "error: field `origin`: the Worker secret ASSERTION_SIGNING_KEY is not deployed",
        "run: bash scripts/wrangler.sh secret put ENTRA_CLIENT_SECRET",
        "4 of 7 named secrets deployed (see the errors)",
        "deployed: also OLD_UNUSED_SECRET (not named by AUTH_CONFIG)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    for present in ["ACME_CLIENT_SECRET is not", "SESSION_KEYS is not", "GOOGLE_CLIENT_SECRET is not"] {
        assert!(!out.contains(present), "{present}: {out}");
    }
    let (code, out) =
        check(&[&config_file, "--offline", "--wrangler-secrets", &fixture("wrangler-secret-list-complete.json")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("7 of 7 named secrets deployed"), "{out}");

    // SESSION_KEYS is needed by every deployment; with --env the command names it; a file that is not the
    // list is a configuration error.
    let toml = temp_file(
        "wrangler.toml",
        &format!(
            "[env.production.vars]\nAUTH_CONFIG = '{}'\n",
            config(&[connector("acme", "https://idp.acme.example", "acme.example")])
        ),
    );
    let listed =
        temp_file("secrets.json", "wrangler 4 banner\n[{\"name\": \"ACME_SECRET\", \"type\": \"secret_text\"}]\n");
    let (code, out) = check(&[
        "--wrangler",
        toml.to_str().unwrap(),
        "--env",
        "production",
        "--offline",
        "--wrangler-secrets",
        listed.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: field `SESSION_KEYS`: the Worker secret SESSION_KEYS is not deployed")
            && out.contains("secret put SESSION_KEYS --env production"),
        "{out}"
    );
    let not_a_list = temp_file("secrets.json", "{\"name\": \"X\"}");
    let (code, out) = check(&[&config_file, "--offline", "--wrangler-secrets", not_a_list.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not the JSON output of `wrangler secret list`"), "{out}");
}
