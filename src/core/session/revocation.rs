//! Sessions ended by the IdP (front- and back-channel logout): by IdP session id (`sid`), or every session
//! of a subject (`sub`) issued before the logout. The list is shared through the platform's store (Workers
//! KV) and held in isolate memory, so the per-request check is a hash lookup.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::core::session::record::Session;

/// What was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// `"sid"` or `"sub"`.
    #[serde(rename = "k")]
    pub kind: RevocationKind,
    /// The issuer the `sid`/`sub` belongs to.
    #[serde(rename = "i")]
    pub iss: String,
    #[serde(rename = "v")]
    pub value: String,
    /// When the logout happened; sessions of a revoked `sub` issued after it stay valid.
    #[serde(rename = "a")]
    pub at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationKind {
    Sid,
    Sub,
    /// One session, by `sub` and sign-in time (our own sign-out, when the session has no `sid`).
    Session,
}

impl Revocation {
    /// A stable key for the store (no raw identifiers in key names).
    pub fn store_key(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(match self.kind {
            RevocationKind::Sid => b"sid\0".as_slice(),
            RevocationKind::Sub => b"sub\0".as_slice(),
            RevocationKind::Session => b"session\0".as_slice(),
        });
        h.update(self.iss.as_bytes());
        h.update(b"\0");
        h.update(self.value.as_bytes());
        format!("rev:{}", crate::core::b64::encode(h.finalize()))
    }
}

/// issuer -> value -> revoked at. Nested so that a lookup borrows the session's strings (no allocation).
type ByIssuer = HashMap<String, HashMap<String, u64>>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    /// iss -> sid
    sids: ByIssuer,
    /// iss -> sub -> revoked at
    subs: ByIssuer,
    /// iss -> "sub\0iat"
    sessions: ByIssuer,
    len: usize,
}

impl RevocationList {
    pub fn from_entries(entries: impl IntoIterator<Item = Revocation>) -> RevocationList {
        let mut list = RevocationList::default();
        for e in entries {
            list.insert(e);
        }
        list
    }

    pub fn insert(&mut self, r: Revocation) {
        let map = match r.kind {
            RevocationKind::Sid => &mut self.sids,
            RevocationKind::Sub => &mut self.subs,
            RevocationKind::Session => &mut self.sessions,
        };
        let by_value = map.entry(r.iss).or_default();
        match by_value.get_mut(&r.value) {
            Some(at) => *at = (*at).max(r.at),
            None => {
                by_value.insert(r.value, r.at);
                self.len += 1;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The revocation of exactly this session (used by our own sign-out).
    pub fn for_session(session: &Session, at: u64) -> Revocation {
        match &session.sid {
            Some(sid) => Revocation { kind: RevocationKind::Sid, iss: session.iss.clone(), value: sid.clone(), at },
            None => Revocation {
                kind: RevocationKind::Session,
                iss: session.iss.clone(),
                value: format!("{}\0{}", session.sub, session.iat),
                at,
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the IdP ended this session. Cheap when the list is empty (the common case).
    pub fn is_revoked(&self, session: &Session) -> bool {
        if self.is_empty() {
            return false;
        }
        let iss = session.iss.as_str();
        if let Some(sid) = &session.sid {
            if self.sids.get(iss).is_some_and(|m| m.contains_key(sid)) {
                return true;
            }
        }
        if let Some(m) = self.sessions.get(iss) {
            if m.contains_key(&format!("{}\0{}", session.sub, session.iat)) {
                return true;
            }
        }
        self.subs.get(iss).and_then(|m| m.get(&session.sub)).is_some_and(|&at| session.iat <= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(sid: Option<&str>, iat: u64) -> Session {
        Session {
            sub: "u1".into(),
            email: "a@b.example".into(),
            name: None,
            connector: "c".into(),
            iss: "https://idp.example".into(),
            iat,
            exp: iat + 100,
            sid: sid.map(str::to_string),
            renewed_at: iat,
            groups: vec![],
        }
    }

    fn rev(kind: RevocationKind, iss: &str, value: &str, at: u64) -> Revocation {
        Revocation { kind, iss: iss.into(), value: value.into(), at }
    }

    #[test]
    fn by_sid_and_by_sub_before_the_logout() {
        let list = RevocationList::from_entries([
            rev(RevocationKind::Sid, "https://idp.example", "s1", 50),
            rev(RevocationKind::Sub, "https://idp.example", "u1", 100),
        ]);
        assert!(list.is_revoked(&session(Some("s1"), 500)), "sid");
        assert!(list.is_revoked(&session(None, 100)), "sub, issued before the logout");
        assert!(!list.is_revoked(&session(None, 101)), "sub, signed in again after the logout");
        assert!(!list.is_revoked(&session(Some("s2"), 101)));
        let other_issuer = RevocationList::from_entries([rev(RevocationKind::Sid, "https://evil.example", "s1", 50)]);
        assert!(!other_issuer.is_revoked(&session(Some("s1"), 10)), "an issuer can only end its own sessions");
        assert!(!RevocationList::default().is_revoked(&session(Some("s1"), 10)));
        let one = RevocationList::from_entries([RevocationList::for_session(&session(None, 42), 50)]);
        assert!(one.is_revoked(&session(None, 42)), "exactly that session");
        assert!(!one.is_revoked(&session(None, 43)), "not the same user's other sessions");
    }

    #[test]
    fn store_keys_do_not_expose_identifiers() {
        let k = rev(RevocationKind::Sub, "https://idp.example", "alice@acme.example", 1).store_key();
        assert!(k.starts_with("rev:") && !k.contains("alice"));
        assert_ne!(k, rev(RevocationKind::Sid, "https://idp.example", "alice@acme.example", 1).store_key());
    }
}
