//! The session: what a signed-in visitor carries. Only what the session needs, never the IdP's tokens.

use serde::Serialize;

use crate::core::config::session::SessionSettings;
use crate::core::ports::{CryptoError, Rng};
use crate::core::session::codec::{KeyRing, Purpose, NONCE_BYTES};
use crate::core::session::cookies::cookie_values;
use crate::core::session::revocation::RevocableSession;
pub use crate::core::session::revocation::{MAX_SID_LEN, MAX_SUB_LEN};

/// Bounds on what an IdP can put into the session.
pub const MAX_NAME_CHARS: usize = 128;
pub const MAX_EMAIL_LEN: usize = 320;
/// The session cookie's value stays under this, whatever the IdP sends (the name and groups are dropped, in
/// that order, before a login is refused for being too large; the `sid` is never dropped: a session without
/// it could not be ended by the IdP's logout).
pub const MAX_SESSION_COOKIE_VALUE: usize = 1000;

/// Why a session could not be sealed into its cookie.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Over [`MAX_SESSION_COOKIE_VALUE`] even without the name and groups (the identity itself is too large).
    #[error("the identity (with its session id) is too large for a session cookie")]
    TooLarge,
    /// No random nonce for the encryption.
    #[error("no randomness for the cookie's nonce: {0}")]
    Randomness(CryptoError),
    /// The encryption itself failed (no session key).
    #[error("the session could not be encrypted")]
    Encryption,
}

/// Written as JSON with serde (`Serialize`), read back by [`Session::read`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub sub: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Connector id.
    #[serde(rename = "cid")]
    pub connector: String,
    pub iss: String,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Absolute expiry (unix seconds).
    pub exp: u64,
    /// The IdP session id (`sid` claim), for front/back-channel logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Last renewal (unix seconds), for the idle timeout. Defaults to `iat`.
    #[serde(rename = "ra", default)]
    pub renewed_at: u64,
    /// Groups that some access policy mentions (never the IdP's whole list).
    #[serde(rename = "g", default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// How a session cookie stands at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    Valid(Session),
    /// Valid, and due for a sliding renewal (at most once per half idle timeout).
    ValidRenew(Session),
}

impl SessionState {
    pub fn session(&self) -> &Session {
        match self {
            SessionState::Valid(s) | SessionState::ValidRenew(s) => s,
        }
    }

    pub fn into_session(self) -> Session {
        match self {
            SessionState::Valid(s) | SessionState::ValidRenew(s) => s,
        }
    }
}

impl RevocableSession for Session {
    fn iss(&self) -> &str {
        &self.iss
    }
    fn connector(&self) -> &str {
        &self.connector
    }
    fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    fn sub(&self) -> &str {
        &self.sub
    }
    fn iat(&self) -> u64 {
        self.iat
    }
}

impl Session {
    /// Signed (not encrypted) cookie value.
    pub fn seal(&self, keys: &KeyRing, cookie_name: &str) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        keys.seal(Purpose::Session, cookie_name, &json)
    }

    /// The cookie value as configured: encrypted (AES-256-GCM, fresh random nonce) or signed.
    pub fn seal_as_configured(
        &self,
        keys: &KeyRing,
        cookie_name: &str,
        settings: &SessionSettings,
        rng: &dyn Rng,
    ) -> Result<String, SealError> {
        if !settings.encrypt {
            return Ok(self.seal(keys, cookie_name));
        }
        let mut nonce = [0u8; NONCE_BYTES];
        rng.fill(&mut nonce).map_err(SealError::Randomness)?;
        let json = serde_json::to_vec(self).map_err(|_| SealError::Encryption)?;
        keys.seal_encrypted(Purpose::Session, cookie_name, &json, nonce).ok_or(SealError::Encryption)
    }

    /// Seal within [`MAX_SESSION_COOKIE_VALUE`]: drops the display name first, then groups one at a time
    /// (those some policy needs are all that is kept anyway). The identity itself (`sub`, email, connector,
    /// issuer, times) and the IdP's session id (`sid`, which front- and back-channel logout match) are never
    /// dropped: if they do not fit, [`SealError::TooLarge`].
    pub fn seal_within_budget(
        mut self,
        keys: &KeyRing,
        cookie_name: &str,
        settings: &SessionSettings,
        rng: &dyn Rng,
    ) -> Result<(Session, String), SealError> {
        loop {
            let value = self.seal_as_configured(keys, cookie_name, settings, rng)?;
            if value.len() <= MAX_SESSION_COOKIE_VALUE {
                return Ok((self, value));
            }
            if self.name.take().is_some() || self.groups.pop().is_some() {
                continue;
            }
            return Err(SealError::TooLarge);
        }
    }

    /// Idle timeout and sliding renewal on top of the absolute expiry checked when decoding.
    pub fn state(self, settings: &SessionSettings, now: u64) -> Option<SessionState> {
        // At most one lifetime of the current settings from the sign-in, whatever `exp` the cookie carries (sealed
        // under a longer lifetime the operator has lowered since): a revocation lasts one current lifetime from
        // the logout (core::flow::logout), and a session must not outlive the revocation that ended it.
        if now >= self.iat.saturating_add(settings.lifetime_seconds) {
            return None;
        }
        let Some(idle) = settings.idle_timeout_seconds else { return Some(SessionState::Valid(self)) };
        let last = self.renewed_at.max(self.iat);
        if now >= last.saturating_add(idle) {
            return None;
        }
        if now >= last.saturating_add(idle / 2) && self.exp > now.saturating_add(60) {
            Some(SessionState::ValidRenew(self))
        } else {
            Some(SessionState::Valid(self))
        }
    }

    /// A valid, unexpired session from a `Cookie` header, or `None`.
    pub fn from_cookie_header(header: &str, cookie_name: &str, keys: &KeyRing, now: u64) -> Option<Session> {
        cookie_values(header, cookie_name)
            .find_map(|value| Session::open(value, cookie_name, keys).filter(|s| s.is_current(now)))
    }

    /// The session sealed in one cookie value, if its seal is ours (whatever its times say).
    pub fn open(value: &str, cookie_name: &str, keys: &KeyRing) -> Option<Session> {
        let bytes = keys.open(Purpose::Session, cookie_name, value)?;
        Session::read(&crate::core::json::parse_object(&bytes).ok()?).ok()
    }

    /// The session from its sealed JSON's members (the names `Serialize` writes).
    fn read(document: &crate::core::json::Object) -> Result<Session, String> {
        let m = crate::core::json::Members(document);
        let string = |name: &str| m.string(name).map(str::to_string);
        let optional = |name: &str| m.opt_string(name).map(|v| v.map(str::to_string));
        Ok(Session {
            sub: string("sub")?,
            email: string("email")?,
            name: optional("name")?,
            connector: string("cid")?,
            iss: string("iss")?,
            iat: m.u64("iat")?,
            exp: m.u64("exp")?,
            sid: optional("sid")?,
            renewed_at: m.opt_u64("ra")?.unwrap_or(0),
            groups: m.opt_strings("g")?.unwrap_or_default(),
        })
    }

    /// Unexpired, and not issued in the future (beyond 5 minutes of clock skew).
    pub fn is_current(&self, now: u64) -> bool {
        self.exp > now && self.iat <= now.saturating_add(300)
    }

    /// The user id shown to the origin and in `/auth/me`: `connector_id:sub`. Two IdPs can assert the same
    /// `sub` for different people; the connector id (which cannot contain `:`) makes it unique. The IdP's own
    /// `sub` stays in the session, for logout-token and revocation matching.
    pub fn user_id(&self) -> String {
        format!("{}:{}", self.connector, self.sub)
    }

    /// The session's groups as shown to the origin: `connector_id:group`, so that the same group name
    /// asserted by two IdPs never reads as one group.
    pub fn qualified_groups(&self) -> Vec<String> {
        self.groups.iter().map(|g| format!("{}:{g}", self.connector)).collect()
    }

    /// The `/auth/me` document (`sub` is [`Session::user_id`]).
    pub fn to_me_json(&self) -> String {
        serde_json::json!({
            "sub": self.user_id(),
            "email": self.email,
            "name": self.name,
            "connector": self.connector,
            "iss": self.iss,
            "exp": self.exp,
            // The groups the access policies name for this connector (as `X-Auth-Request-Groups` carries them).
            "groups": self.groups,
        })
        .to_string()
    }
}

/// Truncate to at most `max` characters (not bytes), on a character boundary.
pub fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeyRing {
        KeyRing::from_secret("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY").unwrap()
    }

    fn session(exp: u64) -> Session {
        Session {
            sub: "u1".into(),
            email: "alice@acme.example".into(),
            name: Some("Alice".into()),
            connector: "acme".into(),
            iss: "https://idp.acme.example".into(),
            iat: 1000,
            exp,
            sid: None,
            renewed_at: 1000,
            groups: vec![],
        }
    }

    fn settings(idle: Option<u64>, encrypt: bool) -> SessionSettings {
        SessionSettings { lifetime_seconds: 28800, idle_timeout_seconds: idle, encrypt }
    }

    struct Counter(std::cell::Cell<u8>);
    impl Rng for Counter {
        fn fill(&self, buf: &mut [u8]) -> Result<(), crate::core::ports::CryptoError> {
            for b in buf {
                self.0.set(self.0.get().wrapping_add(1));
                *b = self.0.get();
            }
            Ok(())
        }
    }

    struct NoEntropy;
    impl Rng for NoEntropy {
        fn fill(&self, _: &mut [u8]) -> Result<(), CryptoError> {
            Err(CryptoError("no entropy".into()))
        }
    }

    #[test]
    fn a_seal_says_why_it_failed() {
        // An encrypted session needs a nonce: without randomness that is not a too-large identity.
        let k = keys();
        let s = session(50_000);
        assert_eq!(
            s.clone().seal_within_budget(&k, "n", &settings(None, true), &NoEntropy),
            Err(SealError::Randomness(CryptoError("no entropy".into())))
        );
        // A signed session needs none.
        assert!(s.seal_within_budget(&k, "n", &settings(None, false), &NoEntropy).is_ok());
    }

    #[test]
    fn idle_timeout_and_sliding_renewal() {
        let s = settings(Some(600), false);
        let fresh = session(50_000);
        assert!(matches!(fresh.clone().state(&s, 1000), Some(SessionState::Valid(_))));
        assert!(
            matches!(fresh.clone().state(&s, 1299), Some(SessionState::Valid(_))),
            "no rewrite before half the idle time"
        );
        assert!(matches!(fresh.clone().state(&s, 1300), Some(SessionState::ValidRenew(_))));
        assert_eq!(fresh.clone().state(&s, 1600), None, "idle too long");
        let mut renewed = fresh.clone();
        renewed.renewed_at = 1500;
        assert!(matches!(renewed.state(&s, 1600), Some(SessionState::Valid(_))));
        assert!(matches!(fresh.state(&settings(None, false), 29_000), Some(SessionState::Valid(_))), "no idle timeout");
    }

    /// Review of issue 13: a revocation lasts one lifetime of the current settings from the logout
    /// (core::flow::logout: until = now + lifetime + 300), and isolates and the log drop it then. A session sealed
    /// under a longer lifetime (30 days, lowered to 8 hours since) carried its own `exp` and so outlived the
    /// revocation that ended it: logged out by its IdP, it worked again from the revocation's `until` to its `exp`.
    /// It now ends one current lifetime after its sign-in, before any revocation of it expires.
    #[test]
    fn a_session_never_outlives_the_revocation_that_ended_it() {
        use crate::core::session::revocation::{RevocationKind, RevocationList};
        let lowered = settings(None, false);
        let mut old = session(1000 + 30 * 86_400);
        old.sid = Some("s1".into());
        let logout = 2000;
        let mut revocation = RevocationList::for_session(&old, logout);
        assert_eq!(revocation.kind, RevocationKind::Sid);
        revocation.until = logout + lowered.lifetime_seconds + 300;
        let mut list = RevocationList::from_entries([revocation.clone()]);
        assert!(list.is_revoked(&old));
        list.prune(revocation.until);
        assert!(!list.is_revoked(&old), "the revocation is gone at its until");
        assert!(old.is_current(revocation.until), "the cookie's own exp is 30 days away");
        assert_eq!(old.clone().state(&lowered, revocation.until), None, "ended by the current lifetime");
        assert!(old.clone().state(&lowered, 1000 + lowered.lifetime_seconds - 1).is_some(), "not before it");
        assert_eq!(old.state(&lowered, 1000 + lowered.lifetime_seconds), None);
    }

    #[test]
    fn the_cookie_stays_under_budget_whatever_the_idp_sends() {
        let k = keys();
        let rng = Counter(Default::default());
        let mut huge = session(50_000);
        huge.name = Some("N".repeat(MAX_NAME_CHARS));
        huge.sub = "s".repeat(MAX_SUB_LEN);
        huge.sid = Some("i".repeat(MAX_SID_LEN));
        huge.groups = (0..16).map(|i| format!("group-{i:02}-{}", "x".repeat(40))).collect();
        for encrypt in [false, true] {
            let (kept, value) = huge
                .clone()
                .seal_within_budget(&k, "__Host-edge-auth-session", &settings(None, encrypt), &rng)
                .unwrap();
            assert!(value.len() <= MAX_SESSION_COOKIE_VALUE, "{}", value.len());
            assert_eq!(kept.sub, huge.sub, "the identity itself is never dropped");
            assert_eq!(kept.email, huge.email);
            assert_eq!(kept.sid, huge.sid, "nor the sid, which logout needs");
        }
        // An identity that only fits without its sid is refused, not sealed without it (the IdP's logout could
        // not reach that session).
        let mut too_big = huge.clone();
        too_big.email = format!("{}@acme.example", "e".repeat(300));
        for encrypt in [false, true] {
            let s = settings(None, encrypt);
            let mut without_sid = too_big.clone();
            without_sid.sid = None;
            assert!(without_sid.seal_within_budget(&k, "__Host-edge-auth-session", &s, &rng).is_ok());
            assert_eq!(
                too_big.clone().seal_within_budget(&k, "__Host-edge-auth-session", &s, &rng),
                Err(SealError::TooLarge)
            );
        }
        let typical = session(50_000);
        let (kept, value) = typical.clone().seal_within_budget(&k, "n", &settings(None, true), &rng).unwrap();
        assert_eq!(kept, typical, "nothing dropped when it fits");
        assert!(value.len() < 400, "{}", value.len());
    }

    #[test]
    fn round_trip_through_a_cookie_header() {
        let k = keys();
        let v = session(2000).seal(&k, "edge-auth-session");
        let header = format!("other=1; edge-auth-session={v}");
        assert_eq!(Session::from_cookie_header(&header, "edge-auth-session", &k, 1500), Some(session(2000)));
    }

    #[test]
    fn expired_sessions_are_absent() {
        let k = keys();
        let v = session(2000).seal(&k, "n");
        assert!(Session::from_cookie_header(&format!("n={v}"), "n", &k, 2000).is_none());
        assert!(Session::from_cookie_header(&format!("n={v}"), "n", &k, 1999).is_some());
    }

    #[test]
    fn a_valid_cookie_among_forged_ones_is_found() {
        let k = keys();
        let v = session(2000).seal(&k, "n");
        let header = format!("n=v1.forged.sig; n={v}");
        assert!(Session::from_cookie_header(&header, "n", &k, 1500).is_some());
    }

    #[test]
    fn me_json_has_the_contract_fields() {
        let j: serde_json::Value = serde_json::from_str(&session(2000).to_me_json()).unwrap();
        for f in ["sub", "email", "name", "connector", "iss", "exp", "groups"] {
            assert!(j.get(f).is_some(), "{f}");
        }
        assert_eq!(j["groups"], serde_json::json!([]));
        let mut admin = session(2000);
        admin.groups = vec!["admins".into()];
        let j: serde_json::Value = serde_json::from_str(&admin.to_me_json()).unwrap();
        assert_eq!(j["groups"], serde_json::json!(["admins"]), "the session's (policy-scoped) groups");
        assert_eq!(j["sub"], "acme:u1", "the user id is qualified by the connector");
    }

    #[test]
    fn the_same_sub_from_two_connectors_is_two_users() {
        let a = session(2000);
        let mut b = session(2000);
        b.connector = "partner".into();
        assert_ne!(a.user_id(), b.user_id());
        assert_ne!(a.to_me_json(), b.to_me_json());
        let mut g = a.clone();
        g.groups = vec!["admins".into()];
        assert_eq!(g.qualified_groups(), vec!["acme:admins"]);
        assert_eq!(a.sub, "u1", "the IdP's sub itself is kept for logout and revocation matching");
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
    }
}
