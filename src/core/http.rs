//! The core's view of an incoming request and of what to answer.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Other,
}

impl Method {
    pub fn parse(m: &str) -> Method {
        match m {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            _ => Method::Other,
        }
    }
}

/// An incoming request to an `/auth/*` route, as the platform hands it to the core.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: url::Url,
    pub cookie_header: String,
    pub origin_header: Option<String>,
    pub sec_fetch_site: Option<String>,
    /// `Accept-Language`: the language of the visitor pages.
    pub accept_language: Option<String>,
    /// `application/x-www-form-urlencoded` body fields of a POST (empty otherwise).
    pub form: Vec<(String, String)>,
}

impl Request {
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    pub fn form_param(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `scheme://host[:port]` of this request.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

/// Largest request body the worker reads (form posts to `/auth/*`: the `form_post` callback, back-channel
/// logout). Bigger bodies are refused with `413` before they are read (`Content-Length`) or as soon as the
/// stream passes the limit (no `Content-Length`, or a lying one).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Whether a request's `Content-Length` already says its body is larger than `limit`. A header that is not a
/// plain decimal number is left to the capped read (the runtime refuses malformed lengths itself).
pub fn declared_length_exceeds(content_length: Option<&str>, limit: usize) -> bool {
    let Some(value) = content_length.map(str::trim) else { return false };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    // More digits than any length we accept: too large, without parsing (no overflow).
    value.trim_start_matches('0').len() > 20 || value.parse::<u128>().is_ok_and(|n| n > limit as u128)
}

/// Whether an unauthenticated request is a top-level page navigation (gets the login page) rather than an
/// API or subresource call (gets `401` JSON).
pub fn is_navigation(method: Method, sec_fetch_mode: Option<&str>, accept: Option<&str>) -> bool {
    if !matches!(method, Method::Get | Method::Head) {
        return false;
    }
    match sec_fetch_mode {
        Some(mode) => mode == "navigate",
        None => accept.is_some_and(|a| a.contains("text/html")),
    }
}

/// A response produced by the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// Content-Security-Policy of the pages the worker renders (no script at all). No `form-action`: browsers
/// apply it to redirects too, and the sign-out form redirects to the IdP's end-session endpoint.
pub const PAGE_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

impl Response {
    fn new(status: u16, content_type: &str, body: String) -> Response {
        Response {
            status,
            headers: vec![
                ("content-type", content_type.to_string()),
                ("cache-control", "no-store".to_string()),
                ("x-content-type-options", "nosniff".to_string()),
                ("referrer-policy", "no-referrer".to_string()),
            ],
            body,
        }
    }

    pub fn html(status: u16, body: String) -> Response {
        let mut r = Response::new(status, "text/html; charset=utf-8", body);
        r.headers.push(("content-security-policy", PAGE_CSP.to_string()));
        r
    }

    pub fn json(status: u16, body: String) -> Response {
        Response::new(status, "application/json", body)
    }

    pub fn redirect(location: impl Into<String>) -> Response {
        let mut r = Response::new(302, "text/plain; charset=utf-8", String::new());
        r.headers.push(("location", location.into()));
        r
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with_cookie(self, set_cookie: String) -> Response {
        self.with_header("set-cookie", set_cookie)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

/// What the platform should do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send this response.
    Respond(Response),
    /// Let the original request through to the site (static assets or origin).
    PassThrough,
    /// Let the original request through to edge-auth's own public files (`/auth/static/*`: the login page's
    /// script, the stylesheet, the icon), adding these headers
    /// to the asset server's answer: the login pages' security headers, so that a page is never framed or
    /// sniffed at its static URL either.
    ServeAuthStatic { headers: Vec<(&'static str, String)> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_lengths_are_checked_before_reading() {
        let limit = MAX_FORM_BYTES;
        assert!(!declared_length_exceeds(None, limit));
        assert!(!declared_length_exceeds(Some("0"), limit));
        assert!(!declared_length_exceeds(Some("65536"), limit), "exactly the limit");
        assert!(declared_length_exceeds(Some("65537"), limit));
        assert!(declared_length_exceeds(Some(" 10485760 "), limit));
        assert!(declared_length_exceeds(Some("99999999999999999999999999999"), limit), "no overflow");
        assert!(!declared_length_exceeds(Some("00000000000000000000000000012"), limit), "leading zeros");
        for odd in ["", "-1", "1e9", "12 34", "0x10000"] {
            assert!(!declared_length_exceeds(Some(odd), limit), "{odd:?}: left to the capped read");
        }
    }

    #[test]
    fn navigation_detection() {
        assert!(is_navigation(Method::Get, Some("navigate"), None));
        assert!(!is_navigation(Method::Get, Some("cors"), Some("text/html")));
        assert!(is_navigation(Method::Get, None, Some("text/html,application/xhtml+xml")));
        assert!(!is_navigation(Method::Get, None, Some("application/json")));
        assert!(!is_navigation(Method::Get, None, None));
        assert!(!is_navigation(Method::Post, Some("navigate"), Some("text/html")));
    }
}
