//! Property test of the path policy (issue 10 §1): whatever the spelling of a request path, whenever the gate
//! lets a visitor through (signed in without a grant, signed in with it, or anonymous through a public rule),
//! the path it forwards (the canonical path C) reaches no resource that a plain policy check, on the path the
//! origin actually serves, would refuse to that visitor — for several origins that read paths differently.
//!
//! The origin models (in `fuzz/src/paths.rs`, shared with the `path_canonical` fuzz target) are written
//! independently of `core::path` (their own decoder, resolver and asset lookup), from how the servers behave: nginx (decode once, merge slashes, resolve dot segments),
//! Tomcat/Spring (strip `;params` from segments, decode, resolve), IIS/ASP.NET (decode twice, `\` is `/`,
//! letter case ignored, trailing dots and spaces trimmed, a cookieless ticket `(S(…))` after the root dropped), Express/Werkzeug (decode including `%2F`, resolve) and
//! Workers Static Assets with `html_handling = "auto-trailing-slash"` (one file under several URLs).
//!
//! Paths: every sequence of up to 3 segments from an alphabet of tricky spellings, with and without a trailing
//! slash (exhaustive), then 10,000 seeded random sequences of 4 to 6 segments.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use edge_auth::core::path::canonicalize;
use edge_auth::core::policy::{allows, requirement, Access, Policy, Requirement, Site};
use edge_auth::core::session::record::Session;

const SEGMENTS: &[&str] = &[
    "admin",
    "ADMIN",
    "%61dmin",
    "public",
    "..",
    ".",
    "%2e%2e",
    "%2E.",
    "..;",
    "x;y",
    "admin;x",
    "public;x",
    "%2F",
    "%5C",
    "%252F",
    "%252e%252e",
    "",
    "admin.",
    "admin%20",
    "index.html",
    "index",
    "page.html",
    "page",
    "report",
    "x",
    "%3B",
    "..%2F",
    "..%252F",
    "public%5Cx%2F..",
    "admin::$DATA",
    "index.php",
    "admin%3F",
    "%23",
    "admin.json",
    "report.x.y",
    "tools/admin.php",
    "(S(x))",
];

const POLICIES: &str = r#"{"connectors":[{"id":"c","kind":"oidc","issuer":"https://idp.example","client_id":"x",
  "client_secret_binding":"S","domains":["acme.example"]}],
  "policies":[{"path":"/public/*","public":true},{"path":"/admin/*","emails":["boss@acme.example"]},
  {"path":"/index.html","emails":["boss@acme.example"]},{"path":"/page.html","emails":["boss@acme.example"]},
  {"path":"/report","emails":["boss@acme.example"]},{"path":"/tools/admin.php","emails":["boss@acme.example"]}]}"#;

/// What the gate does with the canonical path `c` (the request path canonicalised; a path that cannot be is
/// refused with a 400) for `visitor` (None: anonymous): Some(C) when it lets the request through (C is what it
/// forwards), None when it refuses (401/302 or 403).
fn gate(needs: &Requirement<'_>, c: &str, visitor: Option<&Session>) -> Option<String> {
    let admitted = match (needs, visitor) {
        (Requirement::Public, _) => true,
        (_, None) => false,
        (Requirement::Session, Some(_)) => true,
        (Requirement::Rules(rules), Some(s)) => rules.iter().all(|r| allows(r, s)),
    };
    admitted.then(|| c.to_string())
}

// ---- the origin models (independent of core::path) ----------------------------------------------------------

/// The origin models, the plain policy check and the test session, shared with the `path_canonical` fuzz
/// target's oracle (one set of models, so the property test and the fuzzer check the same origins).
#[allow(dead_code)]
#[path = "../fuzz/src/paths.rs"]
mod models;
use models::{
    assets, decode, decoded_proxy, express, format_suffix, iis, nginx, php, plain_check, resolve, session, tomcat,
    Model, MODELS,
};

/// Origin mode (the origin models) and static mode (the asset server, and the origin models as well).
fn check(policies: &[Policy], visitors: &[(&str, Option<Session>)], raw: &str) -> Result<(), String> {
    let Ok(c) = canonicalize(raw) else { return Ok(()) };
    for (site, models) in [(Site::Origin, &MODELS[..MODELS.len() - 1]), (Site::Assets, &MODELS[..])] {
        check_site(policies, visitors, &c, raw, site, models)?;
    }
    Ok(())
}

fn check_site(
    policies: &[Policy],
    visitors: &[(&str, Option<Session>)],
    c: &str,
    raw: &str,
    site: Site,
    models: &[(&str, Model)],
) -> Result<(), String> {
    let needs = requirement(policies, c, site);
    for (who, visitor) in visitors {
        let Some(forwarded) = gate(&needs, c, visitor.as_ref()) else { continue };
        for (model, read) in models {
            for served in read(&forwarded) {
                if !plain_check(policies, &served, visitor.as_ref()) {
                    return Err(format!(
                        "{who} got through with {raw:?} (forwarded {forwarded:?}); {model} serves {served:?}, which \
                         the policy refuses to {who}"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn setup() -> (Vec<Policy>, Vec<(&'static str, Option<Session>)>) {
    let config = edge_auth::core::config::Config::from_json(POLICIES).expect("config");
    let visitors = vec![
        ("anonymous", None),
        ("eve", Some(session("eve@acme.example"))),
        ("boss", Some(session("boss@acme.example"))),
    ];
    (config.policies, visitors)
}

#[test]
fn the_models_see_the_tricky_spellings() {
    // The models are not vacuous: on the path as received (what main forwarded), they reach /admin.
    assert_eq!(nginx("/public/..%2Fadmin"), ["/admin"]);
    assert_eq!(tomcat("/public/..;/admin"), ["/admin"]);
    assert_eq!(iis("/ADMIN./x"), ["/admin/x"]);
    assert_eq!(iis("/public%252F..%252Fadmin"), ["/admin"]);
    assert_eq!(express("/admin%2Fx"), ["/admin/x"]);
    assert!(assets("/").contains(&"/index.html".to_string()));
    assert!(assets("/page").contains(&"/page.html".to_string()));
    assert!(assets("/dir/").contains(&"/dir/index.html".to_string()));
    // And the property fails for main's behaviour (the path forwarded as received, decided on a decoded
    // reading whose rule wins): the gate's answer on "/admin;x" for eve under the plain check on the raw path
    // is "any session", while Tomcat serves /admin.
    let (policies, _) = setup();
    let eve = session("eve@acme.example");
    assert!(plain_check(&policies, "/admin;x", Some(&eve)));
    assert!(!plain_check(&policies, &tomcat("/admin;x")[0], Some(&eve)));
}

#[test]
fn no_spelling_reaches_what_the_policy_refuses_exhaustive() {
    let (policies, visitors) = setup();
    let mut checked = 0usize;
    let mut failures = Vec::new();
    let n = SEGMENTS.len();
    for len in 1..=3u32 {
        for mut code in 0..n.pow(len) {
            let mut segs = Vec::with_capacity(len as usize);
            for _ in 0..len {
                segs.push(SEGMENTS[code % n]);
                code /= n;
            }
            for trailing in ["", "/"] {
                let raw = format!("/{}{trailing}", segs.join("/"));
                checked += 1;
                if let Err(e) = check(&policies, &visitors, &raw) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(checked > 40_000, "{checked}");
    assert!(
        failures.is_empty(),
        "{} of {checked} paths:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}

#[test]
fn no_spelling_reaches_what_the_policy_refuses_seeded() {
    let (policies, visitors) = setup();
    // xorshift64*, fixed seed: the same 10,000 paths on every run.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut failures = Vec::new();
    for _ in 0..10_000 {
        let len = 4 + (next() % 3) as usize;
        let segs: Vec<&str> = (0..len).map(|_| SEGMENTS[(next() % SEGMENTS.len() as u64) as usize]).collect();
        let trailing = if next() % 2 == 0 { "" } else { "/" };
        let raw = format!("/{}{trailing}", segs.join("/"));
        if let Err(e) = check(&policies, &visitors, &raw) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{} paths:\n{}", failures.len(), failures[..failures.len().min(20)].join("\n"));
}

/// main's decision before issue 10 (the path matched as received and once decoded, the decoded reading's rule
/// winning, the path forwarded as received), run through the same property: it must fail it.
fn mains_requirement<'a>(policies: &'a [Policy], path: &str) -> Option<Option<&'a Policy>> {
    // None: public; Some(None): any session; Some(Some(rule)).
    let first = |p: &str| match policies.iter().find(|r| r.path.matches(p)) {
        Some(Policy { access: Access::Public, .. }) => None,
        Some(rule) => Some(Some(rule)),
        None => Some(None),
    };
    let raw = first(path);
    if !path.contains('%') {
        return raw;
    }
    let decoded = decode(path);
    let suspicious =
        decoded.contains('\\') || decoded.contains("//") || decoded.split('/').any(|s| s == "." || s == "..");
    let resolved = first(&resolve(&decoded.replace('\\', "/")));
    match (raw, resolved) {
        (_, Some(Some(rule))) | (Some(Some(rule)), _) => Some(Some(rule)),
        (None, None) if !suspicious => None,
        _ => Some(None),
    }
}

#[test]
fn mains_decision_fails_the_property() {
    let (policies, visitors) = setup();
    let mut failures = Vec::new();
    for raw in
        ["/admin;x", "//admin", "/public/..;/admin", "/ADMIN", "/admin./x", "/", "/page", "/public%252F..%252Fadmin"]
    {
        for (who, visitor) in &visitors {
            let admitted = match (mains_requirement(&policies, raw), visitor) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(None), Some(_)) => true,
                (Some(Some(rule)), Some(s)) => allows(rule, s),
            };
            if !admitted {
                continue;
            }
            for (model, read) in MODELS {
                for served in read(raw) {
                    if !plain_check(&policies, &served, visitor.as_ref()) {
                        failures.push(format!("{who} {raw} -> {model} {served}"));
                    }
                }
            }
        }
    }
    for expected in [
        "eve /admin;x -> tomcat /admin",
        "eve //admin -> nginx /admin",
        "anonymous /public/..;/admin -> tomcat /admin",
        "eve /ADMIN -> iis /admin",
        "eve /admin./x -> iis /admin/x",
        "eve / -> assets /index.html",
        "eve /page -> assets /page.html",
        "eve /public%252F..%252Fadmin -> iis /admin",
    ] {
        assert!(failures.iter().any(|f| f == expected), "{expected} not in {failures:#?}");
    }
}

#[test]
fn decoded_query_and_php_path_info_do_not_reach_admin() {
    // A decoded `?`/`#` ends the path for a proxy that forwards the decoded path; a PHP front controller routes
    // on the path info after the script, wherever the script's segment is (Symfony's base-URL detection).
    let (policies, visitors) = setup();
    for raw in ["/admin%3F", "/admin%3Fx", "/admin%23x", "/admin%253F", "/index.php/admin", "/public/index.php/admin"] {
        let c = canonicalize(raw).unwrap();
        for site in [Site::Origin, Site::Assets] {
            for (who, visitor) in &visitors[..2] {
                assert_eq!(gate(&requirement(&policies, &c, site), &c, visitor.as_ref()), None, "{who} {raw} {site:?}");
            }
        }
    }
    assert_eq!(decoded_proxy("/admin%3Fx"), ["/admin"]);
    assert_eq!(format_suffix("/admin.json")[0], "/admin");
    assert!(php("/public/index.php/admin").contains(&"/admin".to_string()), "the front controller's route");
}

#[test]
fn a_format_extension_does_not_reach_admin() {
    // Rails and Spring MVC (suffix pattern match) serve /admin.json and /report.x.y from /admin and /report.
    let (policies, visitors) = setup();
    for raw in ["/admin.json", "/ADMIN.json", "/report.pdf", "/report.x.y", "/public/..%2Fadmin.json", "/report.json/"]
    {
        let c = canonicalize(raw).unwrap();
        for (who, visitor) in &visitors[..2] {
            assert_eq!(gate(&requirement(&policies, &c, Site::Origin), &c, visitor.as_ref()), None, "{who} {raw}");
        }
    }
    // Still public: a public file's own name, and a public prefix's files.
    assert_eq!(requirement(&policies, "/public/app.js", Site::Origin), Requirement::Public);
}

#[test]
fn a_script_serves_the_paths_below_it() {
    // PATH_INFO: /tools/admin.php/x runs /tools/admin.php (Apache, nginx + PHP-FPM, IIS).
    let (policies, visitors) = setup();
    for raw in ["/tools/admin.php/x", "/tools/ADMIN.PHP/", "/tools/admin.php%2Fx", "/tools/admin.php;x/y"] {
        let c = canonicalize(raw).unwrap();
        for (who, visitor) in &visitors[..2] {
            assert_eq!(gate(&requirement(&policies, &c, Site::Origin), &c, visitor.as_ref()), None, "{who} {raw}");
        }
    }
    assert!(php("/tools/admin.php/x").contains(&"/tools/admin.php".to_string()), "the script runs");
}

#[test]
fn an_aspnet_cookieless_ticket_does_not_hide_admin() {
    // IIS's aspnet_filter drops `(S(…))` segments (session, forms, anonymous-id tickets), static files included.
    let (policies, visitors) = setup();
    for raw in ["/(S(x))/admin", "/(X(1)S(abc))/admin/users", "/%28S%28x%29%29/admin", "/(F(t))/REPORT"] {
        let c = canonicalize(raw).unwrap();
        for (who, visitor) in &visitors[..2] {
            assert_eq!(gate(&requirement(&policies, &c, Site::Origin), &c, visitor.as_ref()), None, "{who} {raw}");
        }
    }
    assert_eq!(iis("/(S(x))/admin"), ["/admin"]);
}

#[test]
fn next_js_data_routes_need_their_page_rule() {
    // Next.js serves a page's server-side props at /_next/data/<build id>/<page>.json.
    let (policies, visitors) = setup();
    for raw in ["/_next/data/b1/admin.json", "/_next/data/b1/admin/users.json", "/_next/data/b1/report.json"] {
        let c = canonicalize(raw).unwrap();
        for (who, visitor) in &visitors[..2] {
            assert_eq!(gate(&requirement(&policies, &c, Site::Origin), &c, visitor.as_ref()), None, "{who} {raw}");
        }
    }
    // A public page's data stays public with the Next.js assets public.
    let config = edge_auth::core::config::Config::from_json(&POLICIES.replace(
        r#"{"path":"/public/*","public":true}"#,
        r#"{"path":"/public/*","public":true},{"path":"/_next/*","public":true},{"path":"/login","public":true}"#,
    ))
    .unwrap();
    assert_eq!(requirement(&config.policies, "/_next/data/b1/login.json", Site::Origin), Requirement::Public);
    assert_eq!(requirement(&config.policies, "/_next/data/b1/public/x.json", Site::Origin), Requirement::Public);
    assert_ne!(requirement(&config.policies, "/_next/data/b1/report.json", Site::Origin), Requirement::Public);
}
