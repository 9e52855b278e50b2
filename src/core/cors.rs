//! CORS for API paths (`cors` in `AUTH_CONFIG`, read by [`crate::core::config::cors`]): the worker answers a
//! browser's preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) for a configured path
//! itself — a preflight carries no cookie, so it would otherwise get `401` — and adds
//! `Access-Control-Allow-Origin` (the exact origin) to the actual responses, the `401`/`403` JSON included, so a
//! web app on another origin can read them. CORS grants no access: every actual request still passes the
//! session (or service token) and the path's policy.

use crate::core::http::Response;
use crate::core::path;
use crate::core::policy::PathPattern;

/// One `cors` entry, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsRule {
    pub paths: Vec<PathPattern>,
    /// Serialised origins (`https://app.example`, `http://localhost:3000`), or `*` (never with credentials).
    pub allowed_origins: Vec<String>,
    /// Method tokens, as browsers send them (`GET`, `POST`, `PUT`: compared exactly).
    pub allowed_methods: Vec<String>,
    /// Header names, lower case (compared case-insensitively).
    pub allowed_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age_seconds: Option<u64>,
}

impl CorsRule {
    /// The `Access-Control-Allow-Origin` value for `origin`, when this rule allows it.
    fn allow_origin(&self, origin: &str) -> Option<&str> {
        self.allowed_origins.iter().find_map(|o| match o.as_str() {
            "*" if !self.allow_credentials => Some("*"),
            o if o == origin => Some(o),
            _ => None,
        })
    }
}

/// The first rule one of whose paths matches the canonical `path` — a plain path only ([`path::is_plain`]: no
/// escapes, `;`, empty or dot segments), whose every reading an origin could take is the path itself. A path
/// such as `/api/..;/admin` or `/api/x/..%2F..%2Fadmin` reads as `/admin` on some origins: a grant for `/api/*`
/// must not let another origin read it with the visitor's cookie.
pub fn rule_for<'a>(rules: &'a [CorsRule], path: &str) -> Option<&'a CorsRule> {
    if !path::is_plain(path) {
        return None;
    }
    rules.iter().find(|r| r.paths.iter().any(|p| p.matches(path)))
}

/// Whether a rule covers the canonical `path` (then the worker alone speaks CORS for it: an origin's own
/// `Access-Control-*` headers are dropped).
pub fn covers(rules: &[CorsRule], path: &str) -> bool {
    rules.iter().any(|r| r.paths.iter().any(|p| p.matches(path)))
}

/// The answer to a preflight for the canonical `path`: `None` when no rule names the path (the request is then
/// handled as any other); a `204` grant when the origin, the method and every requested header are allowed;
/// otherwise a `403` without any grant. Neither is forwarded.
pub fn preflight(
    rules: &[CorsRule],
    path: &str,
    origin: &str,
    method: &str,
    request_headers: Option<&str>,
) -> Option<Response> {
    let rule = rule_for(rules, path)?;
    let refused = || {
        Response::json(403, r#"{"error":"cors_refused"}"#.to_string())
            .with_header("x-edge-auth-error", "cors_refused")
            .with_header("vary", "Origin")
    };
    let Some(allow_origin) = rule.allow_origin(origin) else { return Some(refused()) };
    if !rule.allowed_methods.iter().any(|m| m == method) {
        return Some(refused());
    }
    let headers_allowed = request_headers
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim_matches([' ', '\t']))
        .all(|h| h.is_empty() || rule.allowed_headers.iter().any(|a| a.eq_ignore_ascii_case(h)));
    if !headers_allowed {
        return Some(refused());
    }
    let mut headers = vec![
        ("access-control-allow-origin", allow_origin.to_string()),
        ("access-control-allow-methods", rule.allowed_methods.join(", ")),
    ];
    if !rule.allowed_headers.is_empty() {
        headers.push(("access-control-allow-headers", rule.allowed_headers.join(", ")));
    }
    if rule.allow_credentials {
        headers.push(("access-control-allow-credentials", "true".to_string()));
    }
    if let Some(age) = rule.max_age_seconds {
        headers.push(("access-control-max-age", age.to_string()));
    }
    headers.push(("vary", "Origin".to_string()));
    headers.push(("cache-control", "no-store".to_string()));
    Some(Response { status: 204, headers, body: String::new() })
}

/// The headers to add to the actual response for a request to the canonical `path` from `origin`: the grant for
/// an allowed origin, `Vary: Origin` whenever a rule names the path (the answer depends on the origin), nothing
/// otherwise.
pub fn response_headers(rules: &[CorsRule], path: &str, origin: Option<&str>) -> Vec<(&'static str, String)> {
    let Some(rule) = rule_for(rules, path) else { return Vec::new() };
    let mut out = Vec::with_capacity(3);
    if let Some(allow) = origin.and_then(|o| rule.allow_origin(o)) {
        out.push(("access-control-allow-origin", allow.to_string()));
        if rule.allow_credentials {
            out.push(("access-control-allow-credentials", "true".to_string()));
        }
    }
    out.push(("vary", "Origin".to_string()));
    out
}

/// Whether `name` is an HTTP token (RFC 9110 §5.6.2): what methods and header names are made of.
pub fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<CorsRule> {
        crate::core::config::cors::read_cors(Some(&serde_json::from_str(json).unwrap())).unwrap()
    }

    const API: &str = r#"[{"paths":["/api/*"],"allowed_origins":["https://app.example"],
        "allowed_methods":["GET","POST"],"allowed_headers":["content-type","x-requested-with"],
        "allow_credentials":true,"max_age_seconds":600}]"#;

    #[test]
    fn a_preflight_from_an_allowed_origin_is_granted_exactly() {
        let r = rules(API);
        let ok =
            preflight(&r, "/api/items", "https://app.example", "POST", Some("Content-Type, X-Requested-With")).unwrap();
        assert_eq!(ok.status, 204);
        assert_eq!(ok.header("access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(ok.header("access-control-allow-methods"), Some("GET, POST"));
        assert_eq!(ok.header("access-control-allow-headers"), Some("content-type, x-requested-with"));
        assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(ok.header("access-control-max-age"), Some("600"));
        assert_eq!(ok.header("vary"), Some("Origin"));
        assert!(preflight(&r, "/api", "https://app.example", "GET", None).is_some_and(|r| r.status == 204));
        assert!(preflight(&r, "/other", "https://app.example", "GET", None).is_none(), "no rule: not ours");
        assert!(preflight(&r, "/apix", "https://app.example", "GET", None).is_none());
    }

    #[test]
    fn anything_not_allowed_gets_no_grant() {
        let r = rules(API);
        for (origin, method, headers) in [
            ("https://evil.example", "GET", None),
            ("https://app.example.evil.example", "GET", None),
            ("https://APP.example", "GET", None),
            ("http://app.example", "GET", None),
            ("https://app.example:443", "GET", None),
            ("https://app.example/", "GET", None),
            ("null", "GET", None),
            ("*", "GET", None),
            ("", "GET", None),
            ("https://app.example", "DELETE", None),
            ("https://app.example", "get", None),
            ("https://app.example", "GET", Some("authorization")),
            ("https://app.example", "GET", Some("content-type, authorization")),
            ("https://app.example", "GET", Some("content-type,\u{0}")),
        ] {
            let refused = preflight(&r, "/api/x", origin, method, headers).unwrap();
            assert_eq!(refused.status, 403, "{origin} {method} {headers:?}");
            assert!(refused.header("access-control-allow-origin").is_none());
            assert!(refused.header("access-control-allow-credentials").is_none());
        }
    }

    #[test]
    fn actual_responses_name_the_exact_origin() {
        let r = rules(API);
        let h = response_headers(&r, "/api/x", Some("https://app.example"));
        assert_eq!(
            h,
            vec![
                ("access-control-allow-origin", "https://app.example".to_string()),
                ("access-control-allow-credentials", "true".to_string()),
                ("vary", "Origin".to_string())
            ]
        );
        assert_eq!(response_headers(&r, "/api/x", Some("https://evil.example")), vec![("vary", "Origin".to_string())]);
        assert_eq!(response_headers(&r, "/api/x", None), vec![("vary", "Origin".to_string())]);
        assert!(response_headers(&r, "/site", Some("https://app.example")).is_empty());
        // `*` only without credentials, and then it is sent as `*`.
        let any = rules(r#"[{"paths":["/pub/*"],"allowed_origins":["*"],"allowed_methods":["GET"]}]"#);
        assert_eq!(
            response_headers(&any, "/pub/a", Some("https://x.example")),
            vec![("access-control-allow-origin", "*".to_string()), ("vary", "Origin".to_string())],
            "no credentials unless allowed"
        );
        assert_eq!(preflight(&any, "/pub/a", "https://x.example", "GET", None).unwrap().status, 204);
    }

    #[test]
    fn a_path_that_reads_as_another_gets_no_grant() {
        // Each reads as /admin/x on some origin (`..;` on Tomcat/Spring, decoded separators, IIS's trimmed
        // spaces): a grant for /api/* must not let app.example read it with the visitor's cookie.
        let r = rules(API);
        for path in ["/api/..;/admin/x", "/api/x/..%2F..%2Fadmin/x", "/api/x/..%5C..%5Cadmin", "/api/x;y", "/api/%61"] {
            assert!(response_headers(&r, path, Some("https://app.example")).is_empty(), "{path}");
            assert!(preflight(&r, path, "https://app.example", "GET", None).is_none(), "{path}");
            assert!(covers(&r, path), "{path}: the origin's own CORS headers are still dropped there");
        }
    }

    #[test]
    fn tokens() {
        assert!(is_token("GET") && is_token("x-custom_1") && is_token("M-SEARCH"));
        assert!(!is_token("") && !is_token("GET POST") && !is_token("a,b") && !is_token("é") && !is_token("a:b"));
    }
}
