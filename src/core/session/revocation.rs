//! Sessions ended by the IdP (front- and back-channel logout): by IdP session id (`sid`) of an issuer, by
//! `sid` within a connector (Microsoft Entra's front-channel logout names no issuer), or every session of a
//! subject (`sub`) issued before the logout. The list is shared through the platform's store (Workers KV) and
//! held in isolate memory ([`super::revocation_state`]), so the per-request check is a hash lookup.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Longest IdP session id (`sid`) and subject (`sub`) a session keeps, and so a revocation names.
pub const MAX_SID_LEN: usize = 255;
pub const MAX_SUB_LEN: usize = 255;

/// What a revocation is matched against: the identity of a session (implemented by
/// [`crate::core::session::record::Session`]; a trait so that this module stays below the session record).
pub trait RevocableSession {
    fn iss(&self) -> &str;
    fn connector(&self) -> &str;
    fn sid(&self) -> Option<&str>;
    fn sub(&self) -> &str;
    fn iat(&self) -> u64;
}

/// What was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    #[serde(rename = "k")]
    pub kind: RevocationKind,
    /// The issuer the `sid`/`sub` belongs to (empty for [`RevocationKind::ConnectorSid`]).
    #[serde(rename = "i")]
    pub iss: String,
    #[serde(rename = "v")]
    pub value: String,
    /// When the logout happened; sessions of a revoked `sub` issued after it stay valid.
    #[serde(rename = "a")]
    pub at: u64,
    /// The connector it is accounted to (the per-connector count limit); for
    /// [`RevocationKind::ConnectorSid`] also its scope. Empty in entries written before it existed.
    #[serde(rename = "c", default)]
    pub connector: String,
    /// Written through the unauthenticated front-channel logout (anyone can send it): such entries have a
    /// smaller share of the store, so a flood of them cannot use up the room the signed back-channel and our
    /// own sign-out need ([`crate::core::session::revocation_state`]).
    #[serde(rename = "u", default, skip_serializing_if = "std::ops::Not::not")]
    pub unauthenticated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationKind {
    /// One IdP session (`iss` + `sid`).
    Sid,
    /// Every session of `iss` + `sub` issued up to `at`.
    Sub,
    /// One session, by `sub` and sign-in time (our own sign-out, when the session has no `sid`).
    Session,
    /// One IdP session by `sid` alone, for sessions signed in through `connector` (Entra's front-channel
    /// logout: `?sid=` without `iss`, while Entra's issuers vary per tenant).
    #[serde(rename = "csid")]
    ConnectorSid,
}

/// Longest `iss` and connector id an entry read back from the store may carry (longer: unreadable).
const MAX_STORED_ISS_LEN: usize = 512;
const MAX_STORED_CONNECTOR_LEN: usize = 128;

impl Revocation {
    /// A stable key for the store (no raw identifiers in key names).
    pub fn store_key(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(match self.kind {
            RevocationKind::Sid => b"sid\0".as_slice(),
            RevocationKind::Sub => b"sub\0".as_slice(),
            RevocationKind::Session => b"session\0".as_slice(),
            RevocationKind::ConnectorSid => b"csid\0".as_slice(),
        });
        h.update(self.scope().as_bytes());
        h.update(b"\0");
        h.update(self.value.as_bytes());
        format!("rev:{}", crate::core::b64::encode(h.finalize()))
    }

    /// What the value is looked up under: the connector for [`RevocationKind::ConnectorSid`], else the issuer.
    pub fn scope(&self) -> &str {
        match self.kind {
            RevocationKind::ConnectorSid => &self.connector,
            _ => &self.iss,
        }
    }

    /// Whether an entry read back from the store has the shape edge-auth writes (bounded sizes), so that
    /// what a reload holds in memory is bounded per entry.
    pub fn is_well_formed(&self) -> bool {
        let max_value = match self.kind {
            RevocationKind::Sid | RevocationKind::ConnectorSid => MAX_SID_LEN,
            RevocationKind::Sub => MAX_SUB_LEN,
            // "sub\0iat"
            RevocationKind::Session => MAX_SUB_LEN + 21,
        };
        !self.value.is_empty()
            && self.value.len() <= max_value
            && self.iss.len() <= MAX_STORED_ISS_LEN
            && self.connector.len() <= MAX_STORED_CONNECTOR_LEN
            && !self.scope().is_empty()
    }
}

/// scope (issuer or connector) -> value -> revoked at. Nested so that a lookup borrows the session's strings
/// (no allocation).
type ByScope = HashMap<String, HashMap<String, u64>>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    /// iss -> sid
    sids: ByScope,
    /// iss -> sub -> revoked at
    subs: ByScope,
    /// iss -> "sub\0iat"
    sessions: ByScope,
    /// connector -> sid
    connector_sids: ByScope,
    /// How many entries each connector is accounted (the count limit). (`u64`, the inner maps' value type:
    /// one hash map instantiation less in the wasm.)
    per_connector: HashMap<String, u64>,
    /// The same for the [`Revocation::unauthenticated`] entries alone.
    unauthenticated_per_connector: HashMap<String, u64>,
    len: usize,
    unauthenticated_len: usize,
}

/// One more entry accounted to `connector` (get_mut + insert: the code the inner maps already use, no entry API
/// instantiation).
fn count(counts: &mut HashMap<String, u64>, connector: String) {
    match counts.get_mut(&connector) {
        Some(n) => *n += 1,
        None => {
            counts.insert(connector, 1);
        }
    }
}

impl RevocationList {
    pub fn from_entries(entries: impl IntoIterator<Item = Revocation>) -> RevocationList {
        let mut list = RevocationList::default();
        for e in entries {
            list.insert(e);
        }
        list
    }

    fn map(&self, kind: RevocationKind) -> &ByScope {
        match kind {
            RevocationKind::Sid => &self.sids,
            RevocationKind::Sub => &self.subs,
            RevocationKind::Session => &self.sessions,
            RevocationKind::ConnectorSid => &self.connector_sids,
        }
    }

    /// Add an entry; `true` if it is new (not just a later time for a known one).
    pub fn insert(&mut self, r: Revocation) -> bool {
        let map = match r.kind {
            RevocationKind::Sid => &mut self.sids,
            RevocationKind::Sub => &mut self.subs,
            RevocationKind::Session => &mut self.sessions,
            RevocationKind::ConnectorSid => &mut self.connector_sids,
        };
        let scope = match r.kind {
            RevocationKind::ConnectorSid => r.connector.clone(),
            _ => r.iss,
        };
        let by_value = map.entry(scope).or_default();
        match by_value.get_mut(&r.value) {
            Some(at) => {
                *at = (*at).max(r.at);
                false
            }
            None => {
                by_value.insert(r.value, r.at);
                if r.unauthenticated {
                    count(&mut self.unauthenticated_per_connector, r.connector.clone());
                    self.unauthenticated_len += 1;
                }
                count(&mut self.per_connector, r.connector);
                self.len += 1;
                true
            }
        }
    }

    /// Whether this entry (kind, scope, value) is in the list.
    pub fn contains(&self, r: &Revocation) -> bool {
        self.map(r.kind).get(r.scope()).is_some_and(|m| m.contains_key(&r.value))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// How many entries are accounted to this connector.
    pub fn count_for(&self, connector: &str) -> usize {
        self.per_connector.get(connector).map_or(0, |&n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// How many [`Revocation::unauthenticated`] entries are accounted to this connector, and in all.
    pub fn unauthenticated_counts(&self, connector: &str) -> (usize, usize) {
        let n = self.unauthenticated_per_connector.get(connector);
        (n.map_or(0, |&n| usize::try_from(n).unwrap_or(usize::MAX)), self.unauthenticated_len)
    }

    /// The revocation of exactly this session (used by our own sign-out).
    pub fn for_session(session: &impl RevocableSession, at: u64) -> Revocation {
        let connector = session.connector().to_string();
        let iss = session.iss().to_string();
        match session.sid() {
            Some(sid) => Revocation {
                kind: RevocationKind::Sid,
                iss,
                value: sid.to_string(),
                at,
                connector,
                unauthenticated: false,
            },
            None => Revocation {
                kind: RevocationKind::Session,
                iss,
                value: format!("{}\0{}", session.sub(), session.iat()),
                at,
                connector,
                unauthenticated: false,
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the IdP ended this session. Cheap when the list is empty (the common case).
    pub fn is_revoked(&self, session: &impl RevocableSession) -> bool {
        if self.is_empty() {
            return false;
        }
        let iss = session.iss();
        if let Some(sid) = session.sid() {
            if self.sids.get(iss).is_some_and(|m| m.contains_key(sid)) {
                return true;
            }
            if self.connector_sids.get(session.connector()).is_some_and(|m| m.contains_key(sid)) {
                return true;
            }
        }
        if let Some(m) = self.sessions.get(iss) {
            if m.contains_key(&format!("{}\0{}", session.sub(), session.iat())) {
                return true;
            }
        }
        self.subs.get(iss).and_then(|m| m.get(session.sub())).is_some_and(|&at| session.iat() <= at)
    }
}

/// One page of the stored revocations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationPage {
    pub entries: Vec<Revocation>,
    /// Entries on this page that could not be read as revocations.
    pub unreadable: usize,
    /// Where the next page starts; `None` when this page is the last.
    pub cursor: Option<String>,
}

impl RevocationPage {
    /// Where the listing goes on after a page of the store's, given whether the store says the page is the last
    /// and the cursor it gave (`None`: this page is the last). A page that is not the last must say where the
    /// next one starts (an empty cursor says nothing): otherwise the listing would end early and revocations go
    /// unseen, so it is an error.
    pub fn next_cursor(last: bool, cursor: Option<String>) -> Result<Option<String>, &'static str> {
        match (last, cursor) {
            (true, _) => Ok(None),
            (false, Some(c)) if !c.is_empty() => Ok(Some(c)),
            (false, _) => Err("an incomplete page without a cursor"),
        }
    }
}

#[cfg(test)]
mod listing_tests {
    use super::*;

    #[test]
    fn a_listing_page_that_is_not_the_last_must_say_where_the_next_starts() {
        assert_eq!(RevocationPage::next_cursor(false, Some("next".into())), Ok(Some("next".to_string())));
        assert_eq!(RevocationPage::next_cursor(true, Some("x".into())), Ok(None), "the last page ends the listing");
        assert_eq!(RevocationPage::next_cursor(true, None), Ok(None));
        for cursor in [None, Some(String::new())] {
            assert_eq!(RevocationPage::next_cursor(false, cursor), Err("an incomplete page without a cursor"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::session::record::Session;

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
        Revocation { kind, iss: iss.into(), value: value.into(), at, connector: "c".into(), unauthenticated: false }
    }

    fn csid(connector: &str, sid: &str) -> Revocation {
        Revocation {
            kind: RevocationKind::ConnectorSid,
            iss: String::new(),
            value: sid.into(),
            at: 1,
            connector: connector.into(),
            unauthenticated: false,
        }
    }

    #[test]
    fn a_connector_sid_ends_that_sid_within_that_connector_only() {
        let list = RevocationList::from_entries([csid("c", "s1")]);
        assert!(list.is_revoked(&session(Some("s1"), 10)), "any issuer of the connector (Entra: one per tenant)");
        let mut elsewhere = session(Some("s1"), 10);
        elsewhere.connector = "other".into();
        assert!(!list.is_revoked(&elsewhere), "the same sid signed in through another connector");
        assert!(!list.is_revoked(&session(Some("s2"), 10)));
        assert!(!list.is_revoked(&session(None, 10)));
        // Not confused with an issuer named like the connector.
        let by_issuer = RevocationList::from_entries([rev(RevocationKind::Sid, "c", "s1", 1)]);
        assert!(!by_issuer.is_revoked(&session(Some("s1"), 10)));
        assert_ne!(csid("c", "s1").store_key(), rev(RevocationKind::Sid, "c", "s1", 1).store_key());
    }

    #[test]
    fn counts_per_connector_and_membership() {
        let mut list = RevocationList::default();
        assert!(list.insert(rev(RevocationKind::Sid, "https://idp.example", "s1", 1)));
        assert!(!list.insert(rev(RevocationKind::Sid, "https://idp.example", "s1", 5)), "known: not counted again");
        assert!(list.insert(csid("entra", "s1")));
        assert!(list.insert(csid("entra", "s2")));
        assert_eq!((list.len(), list.count_for("c"), list.count_for("entra"), list.count_for("x")), (3, 1, 2, 0));
        assert!(list.contains(&csid("entra", "s2")));
        assert!(!list.contains(&csid("c", "s2")));
        assert!(list.contains(&rev(RevocationKind::Sid, "https://idp.example", "s1", 99)), "whatever its time");
    }

    #[test]
    fn unauthenticated_entries_are_counted_apart_and_stored_as_such() {
        let anonymous = Revocation { unauthenticated: true, ..csid("entra", "s1") };
        let json = serde_json::to_string(&anonymous).unwrap();
        assert!(json.contains(r#""u":true"#), "{json}");
        assert_eq!(serde_json::from_str::<Revocation>(&json).unwrap(), anonymous);
        assert!(!serde_json::to_string(&csid("entra", "s1")).unwrap().contains(r#""u""#), "absent when false");
        let mut list = RevocationList::default();
        list.insert(anonymous.clone());
        list.insert(anonymous);
        list.insert(csid("entra", "s2"));
        assert_eq!((list.count_for("entra"), list.unauthenticated_counts("entra")), (2, (1, 1)));
        assert_eq!(list.unauthenticated_counts("c"), (0, 1));
    }

    #[test]
    fn entries_read_back_must_have_bounded_sizes() {
        assert!(rev(RevocationKind::Sid, "https://idp.example", "s1", 1).is_well_formed());
        assert!(csid("entra", &"s".repeat(MAX_SID_LEN)).is_well_formed());
        assert!(!csid("entra", &"s".repeat(MAX_SID_LEN + 1)).is_well_formed());
        assert!(!csid("", "s1").is_well_formed(), "a connector sid without its connector");
        assert!(!rev(RevocationKind::Sid, "", "s1", 1).is_well_formed());
        assert!(!rev(RevocationKind::Sid, "https://idp.example", "", 1).is_well_formed());
        assert!(!rev(RevocationKind::Sub, &"i".repeat(513), "u", 1).is_well_formed());
        // Entries written before the connector was recorded still read.
        let old: Revocation = serde_json::from_str(r#"{"k":"sid","i":"https://idp.example","v":"s1","a":5}"#).unwrap();
        assert!(old.is_well_formed() && old.connector.is_empty());
        let new: Revocation = serde_json::from_str(r#"{"k":"csid","i":"","v":"s1","a":5,"c":"entra"}"#).unwrap();
        assert_eq!(new, Revocation { at: 5, ..csid("entra", "s1") });
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
