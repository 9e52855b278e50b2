//! Origin mode: signed assertions kept per session and reused while more than half their lifetime remains
//! (signing is a WebCrypto call per request otherwise). Bounded: when full, expired entries go first, then
//! everything.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::core::session::record::Session;

/// At most this many assertions are kept.
pub const MAX_CACHED_ASSERTIONS: usize = 2048;

/// Which session an assertion is for, and at which site: (sub, iat, connector, the IdP's issuer, the site's
/// origin). The site is the assertion's `iss`: a Worker serving several hostnames must not hand the origin, for a
/// request to one site, an assertion that names another.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey(String, u64, String, String, String);

impl SessionKey {
    /// A service token's key: its id under the reserved connector id `service-token` (no connector has it while
    /// tokens are configured) and no issuer (a session always has one).
    pub fn of_token(id: &str, site_origin: &str) -> SessionKey {
        SessionKey(
            id.to_string(),
            0,
            crate::core::service_token::SUBJECT_PREFIX.to_string(),
            String::new(),
            site_origin.to_string(),
        )
    }

    pub fn of(session: &Session, site_origin: &str) -> SessionKey {
        SessionKey(
            session.sub.clone(),
            session.iat,
            session.connector.clone(),
            session.iss.clone(),
            site_origin.to_string(),
        )
    }
}

/// Session -> (signed assertion, expires at).
#[derive(Debug, Default)]
pub struct AssertionCache {
    entries: RefCell<HashMap<SessionKey, (String, u64)>>,
}

impl AssertionCache {
    /// The session's assertion, if one was signed and more than half of `ttl` remains of it.
    pub fn get(&self, key: &SessionKey, ttl: u64, now: u64) -> Option<String> {
        let entries = self.entries.borrow();
        let (jwt, expires) = entries.get(key)?;
        (now.saturating_add(ttl / 2) < *expires).then(|| jwt.clone())
    }

    /// Keep `jwt`, signed at `now` for `ttl` seconds, for the session.
    pub fn insert(&self, key: SessionKey, jwt: String, ttl: u64, now: u64) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= MAX_CACHED_ASSERTIONS {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= MAX_CACHED_ASSERTIONS {
                entries.clear();
            }
        }
        entries.insert(key, (jwt, now.saturating_add(ttl)));
    }

    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "https://app.example";

    fn session(sub: &str, iat: u64, connector: &str) -> Session {
        Session {
            sub: sub.into(),
            email: "a@acme.example".into(),
            name: None,
            connector: connector.into(),
            iss: "https://idp.acme.example".into(),
            iat,
            exp: iat + 3600,
            sid: None,
            renewed_at: iat,
            groups: vec![],
        }
    }

    #[test]
    fn reused_while_more_than_half_its_lifetime_remains_per_session() {
        let cache = AssertionCache::default();
        let s = session("u", 100, "acme");
        assert_eq!(cache.get(&SessionKey::of(&s, SITE), 60, 1000), None);
        cache.insert(SessionKey::of(&s, SITE), "jwt-1".into(), 60, 1000);
        assert_eq!(cache.get(&SessionKey::of(&s, SITE), 60, 1000).as_deref(), Some("jwt-1"));
        assert_eq!(cache.get(&SessionKey::of(&s, SITE), 60, 1029).as_deref(), Some("jwt-1"), "31 s of 60 remain");
        assert_eq!(cache.get(&SessionKey::of(&s, SITE), 60, 1030), None, "half its lifetime left: signed anew");
        for other in [session("v", 100, "acme"), session("u", 101, "acme"), session("u", 100, "beta")] {
            assert_eq!(cache.get(&SessionKey::of(&other, SITE), 60, 1000), None, "another session: {other:?}");
        }
    }

    /// Review of issue 12: the assertion names the site the request came to (`iss`), but was kept per session
    /// only, so a Worker serving several hostnames sent the origin, for a request to one site, the assertion it
    /// had signed for another (and one IdP issuer's for another's, for a `sub` both use).
    #[test]
    fn an_assertion_is_reused_only_for_the_same_site_and_issuer() {
        let cache = AssertionCache::default();
        let s = session("u", 100, "acme");
        cache.insert(SessionKey::of(&s, SITE), "jwt-site".into(), 60, 1000);
        assert_eq!(cache.get(&SessionKey::of(&s, SITE), 60, 1000).as_deref(), Some("jwt-site"));
        assert_eq!(cache.get(&SessionKey::of(&s, "https://admin.example"), 60, 1000), None, "another site");
        let mut other_issuer = s.clone();
        other_issuer.iss = "https://idp.other.example".into();
        assert_eq!(cache.get(&SessionKey::of(&other_issuer, SITE), 60, 1000), None, "another issuer");
    }

    #[test]
    fn bounded_expired_first_then_everything() {
        let cache = AssertionCache::default();
        for i in 0..MAX_CACHED_ASSERTIONS as u64 {
            // Half of them expired by t = 2000.
            let now = if i % 2 == 0 { 1000 } else { 1900 };
            cache.insert(SessionKey::of(&session("u", i, "acme"), SITE), format!("jwt-{i}"), 200, now);
        }
        assert_eq!(cache.len(), MAX_CACHED_ASSERTIONS);
        cache.insert(SessionKey::of(&session("new", 0, "acme"), SITE), "jwt-new".into(), 200, 2000);
        assert_eq!(cache.len(), MAX_CACHED_ASSERTIONS / 2 + 1, "the expired ones went");
        assert_eq!(
            cache.get(&SessionKey::of(&session("u", 1, "acme"), SITE), 200, 1950).as_deref(),
            Some("jwt-1"),
            "a live one kept"
        );
        let full = AssertionCache::default();
        for i in 0..MAX_CACHED_ASSERTIONS as u64 {
            full.insert(SessionKey::of(&session("u", i, "acme"), SITE), "jwt".into(), 200, 1000);
        }
        full.insert(SessionKey::of(&session("new", 0, "acme"), SITE), "jwt-new".into(), 200, 1000);
        assert_eq!(full.len(), 1, "nothing expired: everything went");
    }
}
