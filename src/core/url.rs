//! URLs as the worker meets them: how the site is reached (https, loopback http) and the runtime URL split
//! without the parser, for the hot path.

use crate::core::session::cookies::Transport;

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

/// Whether a URL host is the local machine (`localhost`, `127.0.0.0/8`, `::1`): the one place plain `http://`
/// is accepted (development).
pub fn is_loopback_host(host: Option<url::Host<&str>>) -> bool {
    match host {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether the URL's host is an IP address or a DNS name of letters, digits, `-` and `.` only: what may be
/// written into a header list (a CSP source, a CORS origin). The URL parser also takes `;`, `,`, `'` and `*` in
/// a host, which would end or split such a list.
pub fn has_plain_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
        Some(_) => true,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn transports() {
        let t = |u: &str| transport_of(&url::Url::parse(u).unwrap());
        assert_eq!(t("https://site.example/"), Some(Transport::Https));
        assert_eq!(t("http://127.0.0.1:8787/"), Some(Transport::LoopbackHttp));
        assert_eq!(t("http://localhost:8787/"), Some(Transport::LoopbackHttp));
        assert_eq!(t("http://site.example/"), None);
    }
}
