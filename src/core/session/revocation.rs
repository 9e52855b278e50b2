//! Sessions ended by the IdP (front- and back-channel logout): by IdP session id (`sid`) of an issuer, by
//! `sid` within a connector (Microsoft Entra's front-channel logout names no issuer), or every session of a
//! subject (`sub`) issued before the logout. The list is shared through the platform's revocation log (a
//! Durable Object) and held in isolate memory ([`super::revocation_state`]), so the per-request check is a
//! hash lookup.

use crate::core::keyed_hash::KeyedHashMap;

use serde::Serialize;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// Until when it lasts (seconds since the epoch): the logout time plus the longest a session it ends could
    /// live. The log deletes it then, and isolates drop it from memory by the same time.
    #[serde(rename = "x", default)]
    pub until: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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
    /// An entry as the log holds it (the names `Serialize` writes).
    fn read(entry: &crate::core::json::Object) -> Result<Revocation, String> {
        let m = crate::core::json::Members(entry);
        let kind = match m.string("k")? {
            "sid" => RevocationKind::Sid,
            "sub" => RevocationKind::Sub,
            "session" => RevocationKind::Session,
            "csid" => RevocationKind::ConnectorSid,
            _ => return Err("an unknown kind of revocation".into()),
        };
        Ok(Revocation {
            kind,
            iss: m.string("i")?.to_string(),
            value: m.string("v")?.to_string(),
            at: m.u64("a")?,
            connector: m.opt_string("c")?.unwrap_or_default().to_string(),
            unauthenticated: m.opt_bool("u")?.unwrap_or(false),
            until: m.opt_u64("x")?.unwrap_or(0),
        })
    }

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

/// When a revocation was made, and until when it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Times {
    at: u64,
    until: u64,
}

/// scope (issuer or connector) -> value -> times. Nested so that a lookup borrows the session's strings
/// (no allocation).
type ByScope = KeyedHashMap<String, KeyedHashMap<String, Times>>;

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
    len: usize,
    /// The earliest `until` of the entries (when [`RevocationList::prune`] has something to drop).
    next_expiry: Option<u64>,
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
        self.next_expiry = Some(self.next_expiry.map_or(r.until, |t| t.min(r.until)));
        match by_value.get_mut(&r.value) {
            Some(times) => {
                times.at = times.at.max(r.at);
                times.until = times.until.max(r.until);
                false
            }
            None => {
                by_value.insert(r.value, Times { at: r.at, until: r.until });
                self.len += 1;
                true
            }
        }
    }

    /// Drop the entries whose `until` has passed (the log deletes them at the same time; a session they ended
    /// has expired by then). Cheap when nothing is due.
    pub fn prune(&mut self, now: u64) {
        if self.next_expiry.is_none_or(|t| t > now) {
            return;
        }
        let mut next: Option<u64> = None;
        let mut len = 0usize;
        for map in [&mut self.sids, &mut self.subs, &mut self.sessions, &mut self.connector_sids] {
            map.retain(|_, by_value| {
                by_value.retain(|_, times| times.until > now);
                for times in by_value.values() {
                    next = Some(next.map_or(times.until, |t| t.min(times.until)));
                }
                len += by_value.len();
                !by_value.is_empty()
            });
        }
        self.len = len;
        self.next_expiry = next;
    }

    /// Whether this entry (kind, scope, value) is in the list.
    pub fn contains(&self, r: &Revocation) -> bool {
        self.map(r.kind).get(r.scope()).is_some_and(|m| m.contains_key(&r.value))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The revocation of exactly this session (used by our own sign-out).
    /// (`until` is set when it is recorded.)
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
                until: 0,
            },
            None => Revocation {
                kind: RevocationKind::Session,
                iss,
                value: format!("{}\0{}", session.sub(), session.iat()),
                at,
                connector,
                unauthenticated: false,
                until: 0,
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
        self.subs.get(iss).and_then(|m| m.get(session.sub())).is_some_and(|t| session.iat() <= t.at)
    }
}

/// What the revocation log answers to "what was written after sequence number N" (one page of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationPage {
    /// The log's identity: another one than the isolate read before (the log's storage was lost or replaced)
    /// means the isolate must read it again from the start.
    pub generation: String,
    pub entries: Vec<Revocation>,
    /// Entries on this page that could not be read as revocations.
    pub unreadable: usize,
    /// The sequence number of the last entry on this page (the cursor for the next call).
    pub next: u64,
    /// Whether the log has more after `next` now.
    pub more: bool,
}

impl RevocationPage {
    /// Read the log's answer to `since`. An entry that is not a revocation of the shape edge-auth writes (an
    /// object) is counted as unreadable, not taken for one; an answer of any other shape is an error.
    pub fn from_log_answer(text: &[u8]) -> Result<RevocationPage, String> {
        // {"generation": "...", "next": n, "more": b, "entries": [{"seq": n, "entry": {...}}, ...]}
        // (src/js/revocation_log.mjs `since`).
        let answer = crate::core::json::parse_object(text)?;
        let m = crate::core::json::Members(&answer);
        let rows = match m.required("entries")? {
            serde_json::Value::Array(rows) => rows,
            other => return Err(crate::core::json::invalid_type("entries", other, "a sequence")),
        };
        let mut page = RevocationPage {
            generation: m.string("generation")?.to_string(),
            next: m.u64("next")?,
            more: m.bool("more")?,
            ..RevocationPage::default()
        };
        for row in rows {
            let row = row.as_object().ok_or("an entry of the log's answer is not an object")?;
            let entry = crate::core::json::Members(row).required("entry")?;
            match entry.as_object().map(Revocation::read) {
                Some(Ok(r)) => page.entries.push(r),
                _ => page.unreadable += 1,
            }
        }
        Ok(page)
    }
}

/// What the revocation log did with a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A new entry, or one that now says more (a later logout time).
    Written,
    /// The log already held exactly this.
    Known,
    /// Refused: the connector (or its unauthenticated share) has `limit` entries.
    ConnectorFull { count: usize, limit: usize },
    /// Refused: the log (or its unauthenticated share) has `limit` entries.
    StoreFull { count: usize, limit: usize },
}

impl Recorded {
    /// Read the log's answer to `record`: "written", "known", "connector_full:COUNT:LIMIT" or
    /// "store_full:COUNT:LIMIT".
    pub fn from_log_answer(answer: &str) -> Option<Recorded> {
        match answer {
            "written" => return Some(Recorded::Written),
            "known" => return Some(Recorded::Known),
            _ => {}
        }
        let mut parts = answer.split(':');
        let (kind, count, limit) = (parts.next()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
        if parts.next().is_some() {
            return None;
        }
        match kind {
            "connector_full" => Some(Recorded::ConnectorFull { count, limit }),
            "store_full" => Some(Recorded::StoreFull { count, limit }),
            _ => None,
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
        Revocation {
            kind,
            iss: iss.into(),
            value: value.into(),
            at,
            connector: "c".into(),
            unauthenticated: false,
            until: 1_000,
        }
    }

    fn csid(connector: &str, sid: &str) -> Revocation {
        Revocation {
            kind: RevocationKind::ConnectorSid,
            iss: String::new(),
            value: sid.into(),
            at: 1,
            connector: connector.into(),
            unauthenticated: false,
            until: 1_000,
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
    fn membership_whatever_the_time_and_a_known_entry_is_not_counted_again() {
        let mut list = RevocationList::default();
        assert!(list.insert(rev(RevocationKind::Sid, "https://idp.example", "s1", 1)));
        assert!(!list.insert(rev(RevocationKind::Sid, "https://idp.example", "s1", 5)), "known: not counted again");
        assert!(list.insert(csid("entra", "s1")));
        assert!(list.insert(csid("entra", "s2")));
        assert_eq!(list.len(), 3);
        assert!(list.contains(&csid("entra", "s2")));
        assert!(!list.contains(&csid("c", "s2")));
        assert!(list.contains(&rev(RevocationKind::Sid, "https://idp.example", "s1", 99)), "whatever its time");
    }

    #[test]
    fn entries_leave_memory_when_their_until_passes_and_not_before() {
        let short = Revocation { until: 100, ..rev(RevocationKind::Sid, "https://idp.example", "s1", 1) };
        let long = Revocation { until: 200, ..rev(RevocationKind::Sub, "https://idp.example", "u1", 50) };
        let mut list = RevocationList::from_entries([short.clone(), long.clone()]);
        list.prune(99);
        assert_eq!(list.len(), 2, "nothing is due yet");
        assert!(list.is_revoked(&session(Some("s1"), 10)));
        list.prune(100);
        assert_eq!(list.len(), 1, "at its until an entry goes");
        assert!(!list.contains(&short) && list.contains(&long));
        assert!(list.is_revoked(&session(None, 10)), "the other one still ends u1's sessions");
        assert!(!list.is_revoked(&session(Some("s1"), 60)), "s1 itself is no longer revoked");
        // Written again with a later end (a later logout), an entry lives on to the later one.
        list.insert(Revocation { until: 300, ..long.clone() });
        list.prune(250);
        assert!(list.contains(&long), "kept to its later until");
        list.prune(300);
        assert!(list.is_empty());
    }

    #[test]
    fn a_later_logout_of_a_subject_ends_more_of_its_sessions_and_an_earlier_one_never_fewer() {
        let mut list = RevocationList::from_entries([rev(RevocationKind::Sub, "https://idp.example", "u1", 100)]);
        list.insert(rev(RevocationKind::Sub, "https://idp.example", "u1", 200));
        assert!(list.is_revoked(&session(None, 150)));
        list.insert(rev(RevocationKind::Sub, "https://idp.example", "u1", 120));
        assert!(list.is_revoked(&session(None, 150)), "an older repeat does not bring sessions back");
    }

    #[test]
    fn entries_are_stored_with_what_the_log_accounts_them_by() {
        let anonymous = Revocation { unauthenticated: true, ..csid("entra", "s1") };
        let json = serde_json::to_string(&anonymous).unwrap();
        // The log (src/js/revocation_log.mjs) reads these members: connector, unauthenticated, time, end.
        for member in [r#""c":"entra""#, r#""u":true"#, r#""a":1,"#, r#""x":1000"#] {
            assert!(json.contains(member), "{member} in {json}");
        }
        assert_eq!(read(&json), anonymous);
        assert!(!serde_json::to_string(&csid("entra", "s1")).unwrap().contains(r#""u""#), "absent when false");
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
        let old = read(r#"{"k":"sid","i":"https://idp.example","v":"s1","a":5}"#);
        assert!(old.is_well_formed() && old.connector.is_empty());
        let new = read(r#"{"k":"csid","i":"","v":"s1","a":5,"c":"entra","x":1000}"#);
        assert_eq!(new, Revocation { at: 5, ..csid("entra", "s1") });
        // Every kind reads back as written; an unknown kind or a member of another type does not read.
        for kind in [RevocationKind::Sid, RevocationKind::Sub, RevocationKind::Session, RevocationKind::ConnectorSid] {
            let r = Revocation { kind, ..csid("entra", "s1") };
            assert_eq!(read(&serde_json::to_string(&r).unwrap()), r);
        }
        let unreadable = |json: &str| Revocation::read(&crate::core::json::parse_object(json.as_bytes()).unwrap());
        assert!(unreadable(r#"{"k":"all","i":"","v":"s1","a":5}"#).is_err());
        assert!(unreadable(r#"{"k":"sid","i":"x","v":"s1","a":"5"}"#).is_err());
        assert!(unreadable(r#"{"k":"sid","i":"x","v":"s1","a":5,"u":"yes"}"#).is_err());
    }

    fn read(json: &str) -> Revocation {
        Revocation::read(&crate::core::json::parse_object(json.as_bytes()).unwrap()).unwrap()
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
        let one = RevocationList::from_entries([Revocation {
            until: 1_000,
            ..RevocationList::for_session(&session(None, 42), 50)
        }]);
        assert!(one.is_revoked(&session(None, 42)), "exactly that session");
        assert!(!one.is_revoked(&session(None, 43)), "not the same user's other sessions");
    }

    #[test]
    fn the_log_answers_are_read_strictly() {
        let text = br#"{"generation":"g","next":7,"more":true,"entries":[
            {"seq":6,"entry":{"k":"sid","i":"https://idp.example","v":"s1","a":5,"c":"c","x":1000}},
            {"seq":7,"entry":["sid","https://idp.example","s2",5]},
            {"seq":8,"entry":{"k":"future-kind","i":"https://idp.example","v":"s3","a":5}}]}"#;
        let page = RevocationPage::from_log_answer(text).unwrap();
        assert_eq!((page.generation.as_str(), page.next, page.more), ("g", 7, true));
        assert_eq!(page.entries, [Revocation { at: 5, ..rev(RevocationKind::Sid, "https://idp.example", "s1", 5) }]);
        assert_eq!(page.unreadable, 2, "an array, and a kind this version does not know");
        for bad in [&b"[]"[..], br#"{"generation":"g","more":false,"entries":[]}"#, b"null", b""] {
            assert!(RevocationPage::from_log_answer(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(Recorded::from_log_answer("written"), Some(Recorded::Written));
        assert_eq!(Recorded::from_log_answer("known"), Some(Recorded::Known));
        assert_eq!(
            Recorded::from_log_answer("connector_full:10000:10000"),
            Some(Recorded::ConnectorFull { count: 10_000, limit: 10_000 })
        );
        assert_eq!(Recorded::from_log_answer("store_full:3:4"), Some(Recorded::StoreFull { count: 3, limit: 4 }));
        for bad in ["", "first", "store_full:3", "store_full:3:4:5", "store_full:x:4", "other:1:2", "Written"] {
            assert_eq!(Recorded::from_log_answer(bad), None, "{bad}");
        }
    }

    #[test]
    fn store_keys_do_not_expose_identifiers() {
        let k = rev(RevocationKind::Sub, "https://idp.example", "alice@acme.example", 1).store_key();
        assert!(k.starts_with("rev:") && !k.contains("alice"));
        assert_ne!(k, rev(RevocationKind::Sid, "https://idp.example", "alice@acme.example", 1).store_key());
    }
}
