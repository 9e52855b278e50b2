//! The oracle of the `path_canonical` target: independent models of how origins read a request path (nginx,
//! Tomcat/Spring, IIS/ASP.NET (with NTFS stream suffixes and cookieless tickets), Express/Werkzeug, a proxy
//! forwarding the decoded path, PHP (front controller, PATH_INFO), Rails/Spring format suffixes, Workers Static Assets with `html_handling =
//! "auto-trailing-slash"`), written without `edge_auth::core::path`, and the plain policy check on what they
//! serve. Mirrors the models of the property test in `tests/paths.rs`.

use edge_auth::core::policy::{allows, Access, Policy};
use edge_auth::core::session::record::Session;

/// The fixed policies the oracle checks.
pub const CONFIG: &str = r#"{"connectors":[{"id":"c","kind":"oidc","issuer":"https://idp.example","client_id":"x",
  "client_secret_binding":"S","domains":["acme.example"]}],
  "policies":[{"path":"/public/*","public":true},{"path":"/admin/*","emails":["boss@acme.example"]},
  {"path":"/index.html","emails":["boss@acme.example"]},{"path":"/page.html","emails":["boss@acme.example"]},
  {"path":"/report","emails":["boss@acme.example"]},{"path":"/tools/admin.php","emails":["boss@acme.example"]}]}"#;

pub fn session(email: &str) -> Session {
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

/// The first rule whose pattern matches the path as it is decides; no rule: any session.
pub fn plain_check(policies: &[Policy], path: &str, visitor: Option<&Session>) -> bool {
    match policies.iter().find(|p| p.path.matches(path)) {
        Some(Policy { access: Access::Public, .. }) => true,
        None => visitor.is_some(),
        Some(rule) => visitor.is_some_and(|s| allows(rule, s)),
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

pub fn decode(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            if let (Some(h), Some(l)) = (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Merge slashes, resolve `.` and `..`, keep a trailing slash.
pub fn resolve(path: &str) -> String {
    let mut stack: Vec<&str> = vec![];
    let parts: Vec<&str> = path.split('/').collect();
    let mut trailing = false;
    for (i, s) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
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

pub fn nginx(c: &str) -> Vec<String> {
    vec![resolve(&decode(c))]
}

pub fn tomcat(c: &str) -> Vec<String> {
    let stripped: Vec<&str> = c.split('/').map(|s| s.split(';').next().unwrap_or_default()).collect();
    vec![resolve(&decode(&resolve(&stripped.join("/"))))]
}

pub fn iis(c: &str) -> Vec<String> {
    let twice = decode(&decode(c)).replace('\\', "/").to_lowercase();
    // aspnet_filter drops a cookieless ticket (`(S(...))`) after the application root (the site's, here).
    let first = twice.get(1..).and_then(|rest| rest.split('/').next()).unwrap_or_default().as_bytes();
    let ticket = first.len() >= 5
        && first.first() == Some(&b'(')
        && first.get(1).is_some_and(|c| c.is_ascii_alphabetic())
        && first.get(2) == Some(&b'(')
        && first.ends_with(b"))");
    let twice = match twice.get(1 + first.len()..) {
        Some(rest) if ticket => {
            if rest.is_empty() {
                "/".to_string()
            } else {
                rest.to_string()
            }
        }
        _ => twice,
    };
    let trimmed: Vec<String> = resolve(&twice)
        .split('/')
        .map(|s| s.split(':').next().unwrap_or_default())
        .map(|s| if s.chars().all(|ch| ch == '.') { s.to_string() } else { s.trim_end_matches(['.', ' ']).to_string() })
        .collect();
    vec![resolve(&trimmed.join("/"))]
}

pub fn express(c: &str) -> Vec<String> {
    vec![resolve(&decode(c).replace('\\', "/"))]
}

/// The files the asset server may serve for a URL: the file itself, `X/index.html` for `X/`, `X.html` for `X`.
pub fn assets(c: &str) -> Vec<String> {
    let x = resolve(&decode(c));
    let mut files = vec![x.clone()];
    if x.ends_with('/') {
        files.push(format!("{x}index.html"));
    } else {
        files.push(format!("{x}.html"));
    }
    files
}

/// A proxy forwarding the decoded path (nginx `proxy_pass …$uri`): a decoded `?` or `#` ends it for the next server.
pub fn decoded_proxy(c: &str) -> Vec<String> {
    let d = resolve(&decode(c));
    vec![d.split(['?', '#']).next().unwrap_or_default().to_string()]
}

/// A PHP front controller at `/index.php` (Symfony: wherever `/index.php/` appears) and PATH_INFO (the script
/// serves every path below it).
pub fn php(c: &str) -> Vec<String> {
    let d = resolve(&decode(c));
    let mut out = vec![d.clone()];
    if let Some(i) = d.find("/index.php/") {
        out.push(d.get(i + "/index.php".len()..).unwrap_or_default().to_string());
    }
    if let Some(i) = d.find(".php/") {
        out.push(d.get(..i + ".php".len()).unwrap_or_default().to_string());
    }
    out
}

/// Rails `(.:format)` and Spring's suffix pattern: the last segment's extension, from its first dot, is a format.
pub fn format_suffix(c: &str) -> Vec<String> {
    let d = resolve(&decode(c));
    let d = if d.len() > 1 { d.trim_end_matches('/').to_string() } else { d };
    let last = d.rfind('/').unwrap_or_default();
    match d.get(last..).and_then(|l| l.find('.')) {
        Some(dot) if dot > 1 && last + dot + 1 < d.len() => {
            vec![d.get(..last + dot).unwrap_or_default().to_string(), d]
        }
        _ => vec![d],
    }
}

pub type Model = fn(&str) -> Vec<String>;
/// The origin models (origin mode), then the asset server (static mode: checked with all of them).
pub const MODELS: [(&str, Model); 8] = [
    ("nginx", nginx),
    ("tomcat", tomcat),
    ("iis", iis),
    ("express", express),
    ("decoded-proxy", decoded_proxy),
    ("php", php),
    ("format-suffix", format_suffix),
    ("assets", assets),
];
