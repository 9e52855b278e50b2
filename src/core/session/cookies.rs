//! Cookie names, `Cookie` header parsing and `Set-Cookie` construction.
//!
//! On https every cookie is `__Host-`-prefixed, `Secure`, `HttpOnly`, `Path=/`, without `Domain`; on
//! plain-http loopback (development) the prefix and `Secure` are dropped because browsers refuse them there.

/// Whether the site is served over https (production) or plain-http loopback (development).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Https,
    LoopbackHttp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieKind {
    Session,
    LoginTransaction,
    /// A SAML sign-in in progress (`SameSite=None`: the IdP answers with a cross-site POST).
    SamlTransaction,
}

impl CookieKind {
    pub fn name(self, transport: Transport) -> &'static str {
        match (self, transport) {
            (CookieKind::Session, Transport::Https) => "__Host-edge-auth-session",
            (CookieKind::Session, Transport::LoopbackHttp) => "edge-auth-session",
            (CookieKind::LoginTransaction, Transport::Https) => "__Host-edge-auth-tx",
            (CookieKind::LoginTransaction, Transport::LoopbackHttp) => "edge-auth-tx",
            (CookieKind::SamlTransaction, Transport::Https) => "__Host-edge-auth-saml-tx",
            (CookieKind::SamlTransaction, Transport::LoopbackHttp) => "edge-auth-saml-tx",
        }
    }
}

/// `SameSite` attribute values we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    /// `SameSite=None; Secure`: sent on cross-site POSTs (the `form_post` response). Browsers require
    /// `Secure` with `None`, and accept it on `localhost`/`127.0.0.1` even over http.
    NoneSecure,
}

/// Build a `Set-Cookie` value. `max_age = 0` deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: u64, transport: Transport, same_site: SameSite) -> String {
    let mut s = format!("{name}={value}; Path=/; HttpOnly; Max-Age={max_age}");
    match same_site {
        SameSite::Lax => {
            s.push_str("; SameSite=Lax");
            if transport == Transport::Https {
                s.push_str("; Secure");
            }
        }
        SameSite::NoneSecure => s.push_str("; SameSite=None; Secure"),
    }
    s
}

pub fn delete_cookie(name: &str, transport: Transport) -> String {
    set_cookie(name, "", 0, transport, SameSite::Lax)
}

/// All values of cookie `name` in a `Cookie` header (a browser can send several with the same name).
pub fn cookie_values<'a>(header: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    header.split(';').filter_map(move |pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_cookies_are_host_prefixed_and_secure() {
        let name = CookieKind::Session.name(Transport::Https);
        assert_eq!(name, "__Host-edge-auth-session");
        let c = set_cookie(name, "v", 60, Transport::Https, SameSite::Lax);
        assert_eq!(c, "__Host-edge-auth-session=v; Path=/; HttpOnly; Max-Age=60; SameSite=Lax; Secure");
        assert!(!c.contains("Domain"));
    }

    #[test]
    fn loopback_http_cookies_are_not_secure() {
        let name = CookieKind::LoginTransaction.name(Transport::LoopbackHttp);
        let c = set_cookie(name, "v", 60, Transport::LoopbackHttp, SameSite::Lax);
        assert_eq!(c, "edge-auth-tx=v; Path=/; HttpOnly; Max-Age=60; SameSite=Lax");
        assert_eq!(
            delete_cookie(name, Transport::LoopbackHttp),
            "edge-auth-tx=; Path=/; HttpOnly; Max-Age=0; SameSite=Lax"
        );
    }

    #[test]
    fn form_post_transaction_cookie_is_samesite_none_secure() {
        let c = set_cookie("edge-auth-tx", "v", 60, Transport::LoopbackHttp, SameSite::NoneSecure);
        assert_eq!(c, "edge-auth-tx=v; Path=/; HttpOnly; Max-Age=60; SameSite=None; Secure");
    }

    #[test]
    fn parses_cookie_headers() {
        let h = "a=1; edge-auth-session=v1.x.y;b=2; edge-auth-session=\"v1.z.w\"";
        let v: Vec<_> = cookie_values(h, "edge-auth-session").collect();
        assert_eq!(v, vec!["v1.x.y", "v1.z.w"]);
        assert_eq!(cookie_values("", "a").count(), 0);
        assert_eq!(cookie_values("garbage;;=;a", "a").count(), 0);
        assert_eq!(cookie_values("xa=1", "a").count(), 0);
    }
}
