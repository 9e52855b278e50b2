//! Session cookies this isolate has already verified, by their exact value.
//!
//! A visitor's browser sends the same session cookie with every request of a page (the document, its styles,
//! scripts and images). The first request verifies the seal (HMAC or AES-GCM), decodes and parses the
//! session; the following ones find the identical value here and skip that work. Only values whose seal
//! verified are remembered, keyed by the cookie's exact value and checked against the cookie's name, so that
//! nothing unverified can be looked up into a session. Everything that depends on time or on the IdP —
//! expiry, idle timeout, revocation, policies — is still checked on every request by the caller. The keys cannot change during
//! an isolate's life (they are read once with the configuration), so a remembered seal stays valid.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::core::session::codec::KeyRing;
use crate::core::session::cookies::cookie_values;
use crate::core::session::record::Session;

/// At most this many cookie values are remembered (about 0.5 MB at the largest cookie size); when full,
/// the memory starts over.
pub const MAX_REMEMBERED_SESSIONS: usize = 512;

/// Cookie value -> (the cookie's name, the session it seals).
type ByValue = HashMap<Box<str>, (Box<str>, Session)>;

#[derive(Debug, Default)]
pub struct VerifiedSessions {
    /// The key ring the remembered values were verified with, and the values.
    remembered: RefCell<(u64, ByValue)>,
}

impl VerifiedSessions {
    /// The first current session among the cookies named `cookie_name` in `header` (as
    /// [`Session::from_cookie_header`]), verifying only values not seen before.
    pub fn authenticate(&self, header: &str, cookie_name: &str, keys: &KeyRing, now: u64) -> Option<Session> {
        if self.remembered.borrow().0 != keys.id() {
            // Another key ring (not in a running worker, whose keys are read once): start over.
            *self.remembered.borrow_mut() = (keys.id(), HashMap::new());
        }
        for value in cookie_values(header, cookie_name) {
            let remembered = self
                .remembered
                .borrow()
                .1
                .get(value)
                .filter(|(name, _)| **name == *cookie_name)
                .map(|(_, session)| session.clone());
            let session = match remembered {
                Some(session) => session,
                None => {
                    let Some(session) = Session::open(value, cookie_name, keys) else { continue };
                    self.remember(cookie_name, value, &session);
                    session
                }
            };
            if session.is_current(now) {
                return Some(session);
            }
        }
        None
    }

    fn remember(&self, cookie_name: &str, value: &str, session: &Session) {
        let map = &mut self.remembered.borrow_mut().1;
        if map.len() >= MAX_REMEMBERED_SESSIONS {
            map.clear();
        }
        map.insert(value.into(), (cookie_name.into(), session.clone()));
    }

    pub fn len(&self) -> usize {
        self.remembered.borrow().1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::SessionSettings;
    use crate::core::ports::{CryptoError, Rng};

    struct CountingRng;
    impl Rng for CountingRng {
        fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
            buf.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
            Ok(())
        }
    }

    const NOW: u64 = 1_700_000_000;
    const NAME: &str = "__Host-edge-auth-session";

    fn keys(secret: &str) -> KeyRing {
        KeyRing::from_secret(&crate::core::b64::encode(secret)).unwrap()
    }

    fn session(exp: u64) -> Session {
        Session {
            sub: "u1".into(),
            email: "alice@acme.example".into(),
            name: None,
            connector: "acme".into(),
            iss: "https://idp.example".into(),
            iat: NOW,
            exp,
            sid: None,
            renewed_at: NOW,
            groups: vec![],
        }
    }

    fn sealed(keys: &KeyRing, s: &Session) -> String {
        let settings = SessionSettings { lifetime_seconds: 3600, idle_timeout_seconds: None, encrypt: false };
        s.clone().seal_within_budget(keys, NAME, &settings, &CountingRng).unwrap().1
    }

    #[test]
    fn a_verified_value_is_remembered_and_answers_like_the_full_check() {
        let k = keys("k1-0123456789abcdef0123456789abcdef");
        let value = sealed(&k, &session(NOW + 3600));
        let header = format!("other=1; {NAME}={value}");
        let memo = VerifiedSessions::default();
        for _ in 0..3 {
            assert_eq!(memo.authenticate(&header, NAME, &k, NOW), Session::from_cookie_header(&header, NAME, &k, NOW));
            assert!(memo.authenticate(&header, NAME, &k, NOW).is_some());
        }
        assert_eq!(memo.len(), 1);
    }

    #[test]
    fn unverified_values_are_never_remembered_or_accepted() {
        let k = keys("k1-0123456789abcdef0123456789abcdef");
        let other = keys("k2-0123456789abcdef0123456789abcdef");
        let forged = sealed(&other, &session(NOW + 3600));
        let memo = VerifiedSessions::default();
        assert_eq!(memo.authenticate(&format!("{NAME}={forged}"), NAME, &k, NOW), None);
        assert_eq!(memo.authenticate(&format!("{NAME}=v1.garbage.garbage"), NAME, &k, NOW), None);
        assert!(memo.is_empty());
    }

    #[test]
    fn time_is_checked_on_every_request() {
        let k = keys("k1-0123456789abcdef0123456789abcdef");
        let value = sealed(&k, &session(NOW + 60));
        let header = format!("{NAME}={value}");
        let memo = VerifiedSessions::default();
        assert!(memo.authenticate(&header, NAME, &k, NOW).is_some());
        assert_eq!(memo.authenticate(&header, NAME, &k, NOW + 60), None, "expired while remembered");
        assert_eq!(memo.authenticate(&header, NAME, &k, NOW - 301), None, "issued in the future");
    }

    #[test]
    fn a_value_is_only_good_under_the_name_it_was_verified_for() {
        let k = keys("k1-0123456789abcdef0123456789abcdef");
        let value = sealed(&k, &session(NOW + 3600));
        let memo = VerifiedSessions::default();
        assert!(memo.authenticate(&format!("{NAME}={value}"), NAME, &k, NOW).is_some());
        // The same value under the loopback name: its MAC names the other cookie, so it is refused.
        assert_eq!(memo.authenticate(&format!("edge-auth-session={value}"), "edge-auth-session", &k, NOW), None);
    }

    #[test]
    fn another_key_ring_verifies_afresh() {
        let k = keys("k1-0123456789abcdef0123456789abcdef");
        let value = sealed(&k, &session(NOW + 3600));
        let header = format!("{NAME}={value}");
        let memo = VerifiedSessions::default();
        assert!(memo.authenticate(&header, NAME, &k, NOW).is_some());
        let without_that_key = keys("k2-0123456789abcdef0123456789abcdef");
        assert_eq!(memo.authenticate(&header, NAME, &without_that_key, NOW), None);
    }

    #[test]
    fn memory_is_bounded() {
        let k = keys("k1-0123456789abcdef0123456789abcdef");
        let memo = VerifiedSessions::default();
        for i in 0..(MAX_REMEMBERED_SESSIONS as u64 + 10) {
            let value = sealed(&k, &session(NOW + 3600 + i));
            assert!(memo.authenticate(&format!("{NAME}={value}"), NAME, &k, NOW).is_some());
            assert!(memo.len() <= MAX_REMEMBERED_SESSIONS);
        }
    }
}
