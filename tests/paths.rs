//! Property test of the path policy (issue 10 §1): whatever the spelling of a request path, whenever the gate
//! lets a visitor through (signed in without a grant, signed in with it, or anonymous through a public rule),
//! the path it forwards (the canonical path C) reaches no resource that a plain policy check, on the path the
//! origin actually serves, would refuse to that visitor — for several origins that read paths differently.
//!
//! The origin models below are written here, independently of `core::path` (their own decoder, resolver and
//! asset lookup), from how the servers behave: nginx (decode once, merge slashes, resolve dot segments),
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

fn session(email: &str) -> Session {
    Session {
        sub: email.into(),
        email: email.into(),
        name: None,
        connector: "c".into(),
        iss: "https://idp.example".into(),
        iat: 0,
        exp: 1,
        sid: None,
        renewed_at: 0,
        groups: vec![],
    }
}

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

/// The plain policy check: the first rule whose pattern matches the path as it is decides.
fn plain_check(policies: &[Policy], path: &str, visitor: Option<&Session>) -> bool {
    match policies.iter().find(|p| p.path.matches(path)) {
        Some(Policy { access: Access::Public, .. }) => true,
        None => visitor.is_some(),
        Some(rule) => visitor.is_some_and(|s| allows(rule, s)),
    }
}

// ---- the origin models (independent of core::path) ----------------------------------------------------------

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn decode(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Merge slashes, resolve `.` and `..` (RFC 3986 §5.2.4 with empty segments dropped), keep a trailing slash.
fn resolve(path: &str) -> String {
    let mut stack: Vec<&str> = vec![];
    let parts: Vec<&str> = path.split('/').collect();
    let mut trailing = false;
    for (i, s) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        match *s {
            "" | "." => trailing = last && i > 0,
            ".." => {
                stack.pop();
                trailing = last;
            }
            s => {
                stack.push(s);
                trailing = false;
            }
        }
    }
    let mut out = format!("/{}", stack.join("/"));
    if trailing && !stack.is_empty() {
        out.push('/');
    }
    out
}

fn nginx(c: &str) -> Vec<String> {
    vec![resolve(&decode(c))]
}

fn tomcat(c: &str) -> Vec<String> {
    let stripped: Vec<&str> = c.split('/').map(|s| s.split(';').next().unwrap()).collect();
    vec![resolve(&decode(&resolve(&stripped.join("/"))))]
}

fn iis(c: &str) -> Vec<String> {
    let twice = decode(&decode(c)).replace('\\', "/").to_lowercase();
    // aspnet_filter drops cookieless tickets (`(S(...))`) after an application root (the site's, here).
    let twice = match twice.strip_prefix("/(s(x))") {
        Some(rest) => rest.to_string(),
        None => twice,
    };
    let trimmed: Vec<String> = resolve(&twice)
        .split('/')
        .map(|s| s.split(':').next().unwrap())
        .map(|s| if s.chars().all(|ch| ch == '.') { s.to_string() } else { s.trim_end_matches(['.', ' ']).to_string() })
        .collect();
    vec![resolve(&trimmed.join("/"))]
}

fn express(c: &str) -> Vec<String> {
    vec![resolve(&decode(c).replace('\\', "/"))]
}

/// Workers Static Assets, `html_handling = "auto-trailing-slash"` (as Miniflare's asset worker does it): each
/// segment percent-decoded (`%2F` included), slashes merged; then the file itself, `X/index.html` for `X/`, or
/// `X.html` for `X` is *served* (the other spellings — `/index.html`, `/page.html`, `/page/`, `/dir` —
/// answer a redirect, which the gate then sees as a request of its own). Any of them may exist.
fn assets(c: &str) -> Vec<String> {
    let x = resolve(&decode(c));
    let mut files = vec![x.clone()];
    if x.ends_with('/') {
        files.push(format!("{x}index.html"));
    } else {
        files.push(format!("{x}.html"));
    }
    files
}

/// A proxy that forwards the decoded path (nginx `proxy_pass http://app$uri`, a mod_rewrite back-reference in a
/// `[P]` rule): the next server reads a decoded `?` or `#` as the start of the query or fragment.
fn decoded_proxy(c: &str) -> Vec<String> {
    let d = resolve(&decode(c));
    vec![d.split(['?', '#']).next().unwrap().to_string()]
}

/// A PHP front controller at `/index.php` (Symfony, Laravel): the route is the path info after the script name,
/// wherever `/index.php/` appears in the path (Symfony's base-URL detection takes `/public/index.php` as the
/// base of `/public/index.php/admin`, whose path info is `/admin`).
fn php_front_controller(c: &str) -> Vec<String> {
    let d = resolve(&decode(c));
    match d.find("/index.php/") {
        Some(i) => vec![d[i + "/index.php".len()..].to_string()],
        None => vec![d],
    }
}

/// Rails (every route has an optional `(.:format)`) and Spring MVC's suffix pattern match (`/admin.*`): the last
/// segment's extension, from its first dot, names the format, not the route.
fn format_suffix(c: &str) -> Vec<String> {
    let d = resolve(&decode(c));
    let d = if d.len() > 1 { d.trim_end_matches('/').to_string() } else { d };
    let last = d.rfind('/').unwrap();
    match d[last..].find('.') {
        Some(dot) if dot > 1 && last + dot + 1 < d.len() => vec![d[..last + dot].to_string(), d],
        _ => vec![d],
    }
}

/// Apache (`AcceptPathInfo`), nginx with `fastcgi_split_path_info ^(.+\.php)(/.+)$`, IIS: a script serves every
/// path below it (`/tools/admin.php/x` runs `/tools/admin.php` with `PATH_INFO` `/x`).
fn path_info(c: &str) -> Vec<String> {
    let d = resolve(&decode(c));
    match d.find(".php/") {
        Some(i) => vec![d[..i + ".php".len()].to_string(), d],
        None => vec![d],
    }
}

type Model = fn(&str) -> Vec<String>;
const MODELS: &[(&str, Model)] = &[
    ("nginx", nginx),
    ("tomcat", tomcat),
    ("iis", iis),
    ("express", express),
    ("decoded-proxy", decoded_proxy),
    ("php", php_front_controller),
    ("format-suffix", format_suffix),
    ("path-info", path_info),
    ("assets", assets),
];

/// Origin mode (the origin models) and static mode (the asset server, and the origin models as well).
fn check(policies: &[Policy], visitors: &[(&str, Option<Session>)], raw: &str) -> Result<(), String> {
    let Ok(c) = canonicalize(raw) else { return Ok(()) };
    for (site, models) in [(Site::Origin, &MODELS[..MODELS.len() - 1]), (Site::Assets, MODELS)] {
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
    assert_eq!(php_front_controller("/public/index.php/admin"), ["/admin"]);
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
    assert_eq!(path_info("/tools/admin.php/x")[0], "/tools/admin.php");
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
