//! The core's view of an incoming request and of what to answer.

use crate::core::config::is_loopback_host;
use crate::core::session::cookies::Transport;

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

/// How the site is reached: https, plain http on loopback (development), or plain http elsewhere (to be
/// upgraded).
pub fn transport_of(url: &url::Url) -> Option<Transport> {
    match url.scheme() {
        "https" => Some(Transport::Https),
        "http" if is_loopback_host(url.host()) => Some(Transport::LoopbackHttp),
        _ => None,
    }
}

/// The transport and path of a URL as the runtime hands it over (absolute, normalised: lowercase scheme and
/// host, dot segments resolved), split without the URL parser, for the hot path. `None` when that is not
/// certain at a glance (then the caller parses the URL in full): only `https://`, and `http://` to
/// `localhost`, `127.0.0.1` or `[::1]` (with an optional port), are taken.
pub fn split_runtime_url(url: &str) -> Option<(Transport, &str)> {
    let (transport, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Transport::Https, rest)
    } else {
        (Transport::LoopbackHttp, url.strip_prefix("http://")?)
    };
    let slash = rest.find('/')?;
    let (authority, path_and_more) = rest.split_at(slash);
    if transport == Transport::LoopbackHttp {
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        };
        if !matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
            return None;
        }
    }
    let path = path_and_more.split(['?', '#']).next().unwrap_or("/");
    Some((transport, path))
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

/// Bounds on how long an IdP's metadata (discovery document, key set) is fresh, whatever its `Cache-Control`
/// says: in the location's cache and in isolate memory alike.
pub const MIN_CACHE_SECONDS: u64 = 300;
pub const MAX_CACHE_SECONDS: u64 = 86_400;
pub const DEFAULT_CACHE_SECONDS: u64 = 3_600;

/// The header stored beside an IdP answer in the location's Cache API: until when (Unix seconds) it is fresh.
pub const FRESH_UNTIL_HEADER: &str = "x-edge-auth-fresh-until";

/// How long an IdP answer with this `Cache-Control` may be kept in the location's cache: its `max-age`
/// bounded to 5 min – 24 h, 1 h when it says nothing, `None` with `no-store` or `private`.
pub fn cache_lifetime(cache_control: Option<&str>) -> Option<u64> {
    let Some(cc) = cache_control.map(str::to_ascii_lowercase) else { return Some(DEFAULT_CACHE_SECONDS) };
    if cc.contains("no-store") || cc.contains("private") {
        return None;
    }
    let max_age = cc
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim_matches('"').parse::<u64>().ok());
    Some(max_age.unwrap_or(DEFAULT_CACHE_SECONDS).clamp(MIN_CACHE_SECONDS, MAX_CACHE_SECONDS))
}

/// What remains of a Cache API copy's freshness, from its [`FRESH_UNTIL_HEADER`]: `None` — to be treated as a
/// miss — when the header is absent, is not a number of seconds, or is not in the future. At most
/// [`MAX_CACHE_SECONDS`]. (The remaining lifetime is not raised to [`MIN_CACHE_SECONDS`]: the copy was stored
/// for at least that long, and this is what is left of it.)
pub fn remaining_lifetime(fresh_until: Option<&str>, now: u64) -> Option<u64> {
    let until = parse_fresh_until(fresh_until)?;
    until.checked_sub(now).filter(|left| *left > 0).map(|left| left.min(MAX_CACHE_SECONDS))
}

/// The Unix time in a [`FRESH_UNTIL_HEADER`] (`None` when absent or not a number of seconds).
pub fn parse_fresh_until(fresh_until: Option<&str>) -> Option<u64> {
    fresh_until?.trim().parse().ok()
}

/// The header stored beside an IdP document in the location's Cache API: its MAC (see
/// [`KeyRing::document_mac`](crate::core::session::codec::KeyRing::document_mac)). A copy without a valid one
/// is a miss.
pub const DOCUMENT_MAC_HEADER: &str = "x-edge-auth-mac";

/// A copy in the location's Cache API, judged by its [`FRESH_UNTIL_HEADER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachedCopy {
    /// Fresh for this many more seconds (see [`remaining_lifetime`]): used instead of asking the IdP.
    Fresh(u64),
    /// Past its freshness but within the stale window: the IdP is asked, and the copy is used only if the IdP
    /// cannot answer (stale-if-error, also for an isolate that has never seen the document).
    Stale,
    /// No usable expiry, or past the stale window: a miss.
    Unusable,
}

pub fn cached_copy(fresh_until: Option<&str>, now: u64) -> CachedCopy {
    if let Some(left) = remaining_lifetime(fresh_until, now) {
        return CachedCopy::Fresh(left);
    }
    match parse_fresh_until(fresh_until) {
        Some(until) if now < until.saturating_add(crate::core::flow::STALE_WHILE_REVALIDATE_SECONDS) => {
            CachedCopy::Stale
        }
        _ => CachedCopy::Unusable,
    }
}

/// How long an answer stays fresh in isolate memory, given the platform's `fresh_for` (see
/// [`HttpResponse::fresh_for`](crate::core::platform::HttpResponse::fresh_for)): that, at most
/// [`MAX_CACHE_SECONDS`]; an answer the IdP marked `no-store` or `private` (`None`) for [`MIN_CACHE_SECONDS`].
/// Isolate memory is no shared cache, and refetching discovery and keys on every sign-in would only slow
/// sign-ins and load the IdP; five minutes bounds how long a change there goes unseen.
pub fn memory_lifetime(fresh_for: Option<u64>) -> u64 {
    fresh_for.map_or(MIN_CACHE_SECONDS, |seconds| seconds.min(MAX_CACHE_SECONDS))
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
    /// Serve this public file from the static assets (login page, signed-out page, IdP error pages) with
    /// this status and these headers (cookies included); `fallback` if the file is missing.
    ServePublicAsset { path: String, status: u16, headers: Vec<(&'static str, String)>, fallback: Response },
    /// Let the original request through to the site (static assets or origin).
    PassThrough,
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

    #[test]
    fn cache_lifetimes_follow_cache_control_within_bounds() {
        assert_eq!(cache_lifetime(None), Some(3_600));
        assert_eq!(cache_lifetime(Some("public, max-age=7200")), Some(7_200));
        assert_eq!(cache_lifetime(Some("max-age=10")), Some(300), "not less than 5 min");
        assert_eq!(cache_lifetime(Some("Public, Max-Age=9999999")), Some(86_400), "not more than a day");
        assert_eq!(cache_lifetime(Some("no-store")), None);
        assert_eq!(cache_lifetime(Some("private, max-age=60")), None);
        assert_eq!(cache_lifetime(Some("max-age=oops")), Some(3_600));
    }

    #[test]
    fn runtime_urls_split_like_the_parser() {
        for u in [
            "https://site.example/",
            "https://site.example/a/b?x=1#f",
            "https://site.example:8443/p%2Fq?",
            "http://127.0.0.1:8787/docs/",
            "http://localhost:8787/?a=b",
            "http://localhost/",
            "http://[::1]:8787/x",
        ] {
            let parsed = url::Url::parse(u).unwrap();
            assert_eq!(split_runtime_url(u), Some((transport_of(&parsed).unwrap(), parsed.path())), "{u}");
        }
        // Not certain at a glance: left to the full parser (which refuses or decides).
        for u in [
            "http://site.example/",
            "http://127.0.0.2/",
            "http://localhost:/",
            "http://localhost:80x/",
            "http://user@localhost/",
            "https://site.example",
            "ftp://site.example/",
            "",
        ] {
            assert_eq!(split_runtime_url(u), None, "{u}");
        }
    }

    #[test]
    fn remaining_lifetime_of_a_cache_api_copy() {
        let now = 1_750_000_000;
        assert_eq!(remaining_lifetime(Some("1750000600"), now), Some(600));
        assert_eq!(remaining_lifetime(Some(" 1750000001 "), now), Some(1), "one second left");
        assert_eq!(remaining_lifetime(Some("1750000042"), now), Some(42), "not raised to the 5 min floor");
        assert_eq!(remaining_lifetime(Some("1750000000"), now), None, "expired now: a miss");
        assert_eq!(remaining_lifetime(Some("1749999999"), now), None, "expired: a miss");
        assert_eq!(remaining_lifetime(Some("99999999999"), now), Some(86_400), "never more than a day");
        assert_eq!(remaining_lifetime(None, now), None, "stored without the header: a miss");
        for junk in ["", "soon", "-5", "1750000600.5", "1e10", "18446744073709551616"] {
            assert_eq!(remaining_lifetime(Some(junk), now), None, "{junk:?}");
        }
    }

    #[test]
    fn cached_copies_fresh_stale_or_unusable() {
        let now = 1_750_000_000;
        assert_eq!(cached_copy(Some("1750000600"), now), CachedCopy::Fresh(600));
        assert_eq!(cached_copy(Some("1750000000"), now), CachedCopy::Stale, "just expired");
        assert_eq!(cached_copy(Some("1749913601"), now), CachedCopy::Stale, "within a day of expiring");
        assert_eq!(cached_copy(Some("1749913600"), now), CachedCopy::Unusable, "a day past its freshness");
        assert_eq!(cached_copy(None, now), CachedCopy::Unusable, "stored without the header");
        assert_eq!(cached_copy(Some("soon"), now), CachedCopy::Unusable);
    }

    #[test]
    fn memory_lifetimes() {
        assert_eq!(memory_lifetime(Some(600)), 600);
        assert_eq!(memory_lifetime(Some(42)), 42, "what remains of a Cache API copy");
        assert_eq!(memory_lifetime(Some(10_000_000)), 86_400);
        assert_eq!(memory_lifetime(None), 300, "no-store: the 5 min floor");
        assert_eq!(memory_lifetime(cache_lifetime(None)), 3_600, "no Cache-Control: 1 h");
    }

    #[test]
    fn transports() {
        let t = |u: &str| transport_of(&url::Url::parse(u).unwrap());
        assert_eq!(t("https://site.example/"), Some(Transport::Https));
        assert_eq!(t("http://127.0.0.1:8787/"), Some(Transport::LoopbackHttp));
        assert_eq!(t("http://localhost:8787/"), Some(Transport::LoopbackHttp));
        assert_eq!(t("http://site.example/"), None);
    }
}
