//! The isolate's copy of the shared revocation log, and the bounds that keep it honest.
//!
//! **Reading** ([`RevocationState::reload`]): the log (a Durable Object, [`RevocationStore`]) numbers its
//! entries in the order they are written; an isolate keeps the number it has read up to (its cursor) and asks
//! for what came after it. The platform asks [`RevocationState::plan_reload`] at the start of each request. A
//! fresh isolate (or one whose list is no longer usable) makes its requests wait for *one* reload, whatever their
//! number; an isolate with a usable list asks for what is new in the background every [`REFRESH_SECONDS`] (the
//! bound on how late an isolate learns a revocation written elsewhere), never two reloads at a time (a reload
//! that never finishes — its request cancelled without being dropped — is given up after
//! [`RELOAD_FLIGHT_LIMIT_SECONDS`], and the next request reloads). A reload reads up to the log's end or
//! changes nothing: more than [`MAX_LOADED_REVOCATIONS`] entries (or [`MAX_LIST_PAGES`] pages), a log that does
//! not move forward, or an error leaves the previous list and cursor in place; that list stays usable for
//! [`MAX_LIST_AGE_SECONDS`] after the reload that last reached the end. Past that, or when no reload ever
//! reached it, the isolate **fails closed**: every session is refused (`/auth/me` 401, protected content sends
//! to the login) and so is every new sign-in, with an operator log line on each reload attempt. A log with
//! another identity (its storage lost or replaced: [`RevocationPage::generation`]) is read again from its start
//! into a new list. Entries leave memory at their `until`, when the log deletes them too (no deletions to
//! follow).
//!
//! **Writing** (front- and back-channel logout, our own sign-out): the log decides atomically whether a new
//! entry fits its bounds — entries per connector and in all, with a smaller share for the unauthenticated
//! front-channel (src/js/revocation_log.mjs) — and refuses it otherwise ([`Recorded`]; the IdP gets a 503 and the
//! operator a log line): a flood is refused, never written and then evicted. Front-channel logout is an
//! unauthenticated GET, so each connector also has a token bucket per isolate ([`RATE_BURST`] requests at once,
//! refilled at [`RATE_PER_SECOND`]); beyond it the answer is 429 and the log is not asked.

use std::cell::{Cell, RefCell};

use crate::core::fetch::FetchError;
use crate::core::keyed_hash::KeyedHashSet;
use crate::core::log::{Event, Kind, Level};
use crate::core::ports::{Log, RevocationStore};
use crate::core::session::record::Session;
use crate::core::session::revocation::{Recorded, Revocation, RevocationKind, RevocationList, RevocationPage};

/// How often an isolate asks the log for what is new: how late, at most, it learns a revocation written
/// through another isolate (plus the time the background call takes).
pub const REFRESH_SECONDS: u64 = 10;
/// How long a reload may stay in flight before the next request starts another: a reload whose request was
/// cancelled without being dropped (workerd: the client went away, or `waitUntil` ran out of time, while the
/// call was pending) never ends its flight. As long as the platform lets a request wait for a reload.
pub const RELOAD_FLIGHT_LIMIT_SECONDS: u64 = 30;
/// How long the list stays in use while reloads fail. Past it, sessions are refused.
pub const MAX_LIST_AGE_SECONDS: u64 = 300;
/// The most entries an isolate holds in memory (a few MB: ≤ 255-byte values); the log holds fewer (40,000,
/// src/js/revocation_log.mjs). A reload that would go beyond it changes nothing (see the module documentation).
pub const MAX_LOADED_REVOCATIONS: usize = 50_000;
/// The most pages a reload reads (a log answering with small pages cannot make it loop for long).
pub const MAX_LIST_PAGES: usize = 200;
/// Front-channel logouts a connector may send to one isolate at once...
pub const RATE_BURST: u64 = 20;
/// ...and per second after that.
pub const RATE_PER_SECOND: u64 = 2;
/// This isolate's own writes are put back into its list after a reload that read the log again from its
/// start (the read may have begun before they were written) for this long.
const LOCAL_KEEP_SECONDS: u64 = 300;
/// At most one rate-limit log line per connector per this many seconds.
const RATE_LOG_INTERVAL_SECONDS: u64 = 60;

/// What the platform should do about the list before handling a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Nothing (the list is current, or a reload is due later).
    None,
    /// Reload after answering (`waitUntil`); the current list is used meanwhile.
    Background,
    /// Await [`RevocationState::reload`] before checking any session: there is no usable list.
    Wait,
}

/// Why a revocation was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteRefusal {
    /// This connector's token bucket is empty; retry after this many seconds. `log`: the number of refusals
    /// to report in an operator log line now (at most one line per connector per minute).
    RateLimited { connector: String, retry_after: u64, log: Option<u64> },
    /// The connector (or its front-channel share) has its maximum number of entries in the log.
    ConnectorFull { connector: String, count: usize, limit: usize },
    /// The log (or its front-channel share) has its maximum number of entries.
    StoreFull { count: usize, limit: usize },
}

impl WriteRefusal {
    /// The refusal for what the log answered, or `None` when it wrote (or already held) the entry.
    pub fn from_recorded(recorded: Recorded, connector: &str) -> Option<WriteRefusal> {
        match recorded {
            Recorded::Written | Recorded::Known => None,
            Recorded::ConnectorFull { count, limit } => {
                Some(WriteRefusal::ConnectorFull { connector: connector.to_string(), count, limit })
            }
            Recorded::StoreFull { count, limit } => Some(WriteRefusal::StoreFull { count, limit }),
        }
    }

    /// The operator's log line.
    pub fn log_detail(&self) -> String {
        match self {
            WriteRefusal::RateLimited { connector, log, .. } => format!(
                "connector {connector:?} is over the rate limit ({RATE_BURST} at once, {RATE_PER_SECOND}/s per \
                 isolate): {} refused with 429",
                log.unwrap_or(1)
            ),
            WriteRefusal::ConnectorFull { connector, count, limit } => {
                format!("connector {connector:?} has {count} revocations stored, its limit is {limit} (503)")
            }
            WriteRefusal::StoreFull { count, limit } => {
                format!("the store has {count} revocations, its limit is {limit} (503)")
            }
        }
    }
}

/// A token bucket on a seconds clock: [`RATE_BURST`] tokens, [`RATE_PER_SECOND`] back per second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    tokens: u64,
    at: u64,
}

impl TokenBucket {
    pub fn full(now: u64) -> TokenBucket {
        TokenBucket { tokens: RATE_BURST, at: now }
    }

    /// Take a token, or the seconds until one is back.
    pub fn take(&mut self, now: u64) -> Result<(), u64> {
        let elapsed = now.saturating_sub(self.at);
        self.tokens = self.tokens.saturating_add(elapsed.saturating_mul(RATE_PER_SECOND)).min(RATE_BURST);
        self.at = self.at.max(now);
        if self.tokens == 0 {
            return Err(1);
        }
        self.tokens -= 1;
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Limiter {
    bucket: TokenBucket,
    /// Refusals not yet reported in the log, and when the last report was.
    unreported: u64,
    logged_at: Option<u64>,
}

/// Why a reload did not reach the end of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Incomplete {
    Error(FetchError),
    TooMany,
    TooManyPages,
    /// The log answered a page that does not move forward (or went back), or changed identity during a read.
    Inconsistent(&'static str),
}

/// Where an isolate has read the log up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Position {
    /// The log's identity (`None`: never read).
    generation: Option<String>,
    cursor: u64,
}

/// What a reload read.
struct Delta {
    to: Position,
    entries: Vec<Revocation>,
    unreadable: usize,
    /// Read from the log's start: the entries replace the list.
    whole: bool,
}

/// The isolate's revocation list and the state of its reloads and writes. See the module documentation.
#[derive(Default)]
pub struct RevocationState {
    list: RefCell<RevocationList>,
    /// Set by the platform's first [`Self::plan_reload`]: the list lives in a shared log, so a session is
    /// only admitted against a recent copy of it. (Without a log — host tests — the list holds this isolate's
    /// own writes only.)
    shared: Cell<bool>,
    /// How far the list has read the log.
    position: RefCell<Position>,
    /// When a reload last reached the end of the log.
    complete_at: Cell<Option<u64>>,
    /// When the last reload started (the retry interval).
    attempted_at: Cell<Option<u64>>,
    /// Revocations written by this isolate, kept for [`LOCAL_KEEP_SECONDS`].
    local: RefCell<Vec<Revocation>>,
    /// Per connector (a handful: a list, not another hash map in the wasm).
    limiters: RefCell<Vec<(String, Limiter)>>,
    /// When the reload in progress started: concurrent requests wait for it instead of starting another
    /// (given up after [`RELOAD_FLIGHT_LIMIT_SECONDS`]).
    flight: Cell<Option<u64>>,
}

impl RevocationState {
    /// Whether this session was ended, or cannot be checked (no usable list: fail closed).
    pub fn is_revoked(&self, session: &Session, now: u64) -> bool {
        self.blocks_sessions(now) || self.list.borrow().is_revoked(session)
    }

    /// Whether this isolate's list already ends this session (whether or not the list is usable): our own
    /// sign-out of it has nothing to record.
    pub fn holds(&self, session: &Session) -> bool {
        self.list.borrow().is_revoked(session)
    }

    /// Whether sessions (and sign-ins) are refused because there is no usable list.
    pub fn blocks_sessions(&self, now: u64) -> bool {
        self.shared.get() && !self.usable(now)
    }

    fn usable(&self, now: u64) -> bool {
        self.complete_at.get().is_some_and(|t| now.saturating_sub(t) <= MAX_LIST_AGE_SECONDS)
    }

    fn attempt_due(&self, now: u64) -> bool {
        self.attempted_at.get().is_none_or(|t| now.saturating_sub(t) >= REFRESH_SECONDS)
    }

    /// Whether a request can be decided without the platform's attention (the hot path's test): the list is
    /// usable and no reload is due.
    pub fn is_settled(&self, now: u64) -> bool {
        self.usable(now) && !self.attempt_due(now)
    }

    /// Called by the platform (with a shared store) before each request; see [`Reload`]. A `Background`
    /// answer counts as the attempt, so concurrent requests schedule one reload.
    pub fn plan_reload(&self, now: u64) -> Reload {
        self.shared.set(true);
        let in_flight = self.flight_live(now);
        if self.usable(now) {
            if !in_flight && self.attempt_due(now) {
                self.attempted_at.set(Some(now));
                Reload::Background
            } else {
                Reload::None
            }
        } else if in_flight || self.attempt_due(now) {
            Reload::Wait
        } else {
            Reload::None
        }
    }

    /// Whether a reload is running. A request that finds one running waits by polling this on its own timers
    /// (on Workers, one request's I/O must not resume another request's code).
    pub fn reload_in_flight(&self) -> bool {
        self.flight.get().is_some()
    }

    /// Whether a reload is running and not given up on.
    fn flight_live(&self, now: u64) -> bool {
        self.flight.get().is_some_and(|started| now.saturating_sub(started) < RELOAD_FLIGHT_LIMIT_SECONDS)
    }

    /// Read what the log has after this isolate's cursor (all of it, for a fresh isolate); returns at once
    /// when another reload is running (see [`Self::reload_in_flight`]).
    pub async fn reload<S: RevocationStore + Log>(&self, store: &S, now: u64) {
        if self.flight_live(now) {
            return;
        }
        self.flight.set(Some(now));
        self.attempted_at.set(Some(now));
        let _guard = FlightGuard(&self.flight, now);
        let from = self.position.borrow().clone();
        let read = read_since(store, &from).await;
        // A reload given up on that finishes after all (a slow log) still counts, unless a later one has moved
        // the cursor since.
        if *self.position.borrow() == from {
            self.apply(read, now, store);
        }
    }

    fn apply(&self, read: Result<Delta, Incomplete>, now: u64, log: &dyn Log) {
        let outcome = read.and_then(|delta| {
            let mut list = self.list.borrow_mut();
            list.prune(now);
            // What the list would hold: an entry written again (a repeat, numbered anew by the log) replaces the
            // one held and is not counted twice — else a log of 25,000 entries all repeated once would make every
            // running isolate refuse each reload from then on (its cursor never moves), and fail closed for good.
            let held = if delta.whole { 0 } else { list.len() };
            let mut added: KeyedHashSet<(RevocationKind, &str, &str)> = KeyedHashSet::default();
            for r in &delta.entries {
                if delta.whole || !list.contains(r) {
                    added.insert((r.kind, r.scope(), r.value.as_str()));
                }
            }
            if held.saturating_add(added.len()) > MAX_LOADED_REVOCATIONS {
                return Err(Incomplete::TooMany);
            }
            drop(added);
            if delta.whole {
                *list = RevocationList::default();
            }
            for r in delta.entries {
                list.insert(r);
            }
            let mut local = self.local.borrow_mut();
            local.retain(|r| now.saturating_sub(r.at) < LOCAL_KEEP_SECONDS);
            for r in local.iter() {
                list.insert(r.clone());
            }
            list.prune(now);
            *self.position.borrow_mut() = delta.to;
            self.complete_at.set(Some(now));
            Ok(delta.unreadable)
        });
        match outcome {
            Ok(0) => {}
            Ok(unreadable) => {
                let message = format!("revocations: {unreadable} unreadable entries skipped");
                log.event(
                    &Event::new(Kind::RevocationStore, Level::Warn).reason("unreadable_entries").message(&message),
                );
            }
            Err(why) => {
                let why = match why {
                    Incomplete::Error(e) => format!("the revocation log could not be read: {e}"),
                    Incomplete::TooMany => format!("the log holds more than {MAX_LOADED_REVOCATIONS} revocations"),
                    Incomplete::TooManyPages => format!("the log did not end within {MAX_LIST_PAGES} pages"),
                    Incomplete::Inconsistent(what) => format!("the log answered {what}"),
                };
                let (level, state) = match self.complete_at.get() {
                    Some(t) if now.saturating_sub(t) <= MAX_LIST_AGE_SECONDS => {
                        (Level::Warn, format!("keeping the list read {} s ago", now.saturating_sub(t)))
                    }
                    _ => (Level::Error, "no recent list: sessions and sign-ins are refused (fail closed)".to_string()),
                };
                let message = format!("revocations: reload incomplete, {why}; {state}");
                log.event(&Event::new(Kind::RevocationStore, level).reason("reload_incomplete").message(&message));
            }
        }
    }

    /// The per-isolate rate limit of front-channel logouts through `connector`.
    pub fn take_token(&self, connector: &str, now: u64) -> Result<(), WriteRefusal> {
        let mut limiters = self.limiters.borrow_mut();
        let index = match limiters.iter().position(|(c, _)| c == connector) {
            Some(i) => i,
            None => {
                let fresh = Limiter { bucket: TokenBucket::full(now), unreported: 0, logged_at: None };
                limiters.push((connector.to_string(), fresh));
                limiters.len() - 1
            }
        };
        let Some((_, limiter)) = limiters.get_mut(index) else { return Ok(()) };
        match limiter.bucket.take(now) {
            Ok(()) => Ok(()),
            Err(retry_after) => {
                limiter.unreported = limiter.unreported.saturating_add(1);
                let log = if limiter.logged_at.is_none_or(|t| now.saturating_sub(t) >= RATE_LOG_INTERVAL_SECONDS) {
                    limiter.logged_at = Some(now);
                    Some(std::mem::take(&mut limiter.unreported))
                } else {
                    None
                };
                Err(WriteRefusal::RateLimited { connector: connector.to_string(), retry_after, log })
            }
        }
    }

    /// Apply a revocation in this isolate at once (and keep it through a reload that reads the log again).
    pub fn add(&self, r: Revocation) {
        if self.list.borrow_mut().insert(r.clone()) {
            self.local.borrow_mut().push(r);
        }
    }

    /// How many entries the list holds (store and local).
    pub fn len(&self) -> usize {
        self.list.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Read the log from `from` to its end (from its start when it is new to this isolate or has another identity).
async fn read_since<S: RevocationStore>(store: &S, from: &Position) -> Result<Delta, Incomplete> {
    let mut to = from.clone();
    let mut whole = from.generation.is_none();
    let mut entries = Vec::new();
    let mut unreadable = 0usize;
    for _ in 0..MAX_LIST_PAGES {
        let page: RevocationPage = store.revocations_since(to.cursor).await.map_err(Incomplete::Error)?;
        if to.generation.as_deref() != Some(page.generation.as_str()) {
            if whole && to.generation.is_some() {
                return Err(Incomplete::Inconsistent("another identity in the middle of a read"));
            }
            // A log this isolate has not read (or a new one in its place): from its start, into a new list.
            let restart = to.cursor != 0;
            to = Position { generation: Some(page.generation), cursor: 0 };
            whole = true;
            entries.clear();
            unreadable = 0;
            if restart {
                continue;
            }
        }
        if page.next < to.cursor || (page.more && page.next == to.cursor) {
            return Err(Incomplete::Inconsistent("a page that does not move forward"));
        }
        unreadable = unreadable.saturating_add(page.unreadable);
        for r in page.entries {
            if r.is_well_formed() {
                entries.push(r);
            } else {
                unreadable = unreadable.saturating_add(1);
            }
        }
        if entries.len().saturating_add(unreadable) > MAX_LOADED_REVOCATIONS {
            return Err(Incomplete::TooMany);
        }
        to.cursor = page.next;
        if !page.more {
            return Ok(Delta { to, entries, unreadable, whole });
        }
    }
    Err(Incomplete::TooManyPages)
}

/// Ends the flight even if the reloading request is dropped half-way, so waiters never wait for nothing (unless
/// another reload has taken over from it).
struct FlightGuard<'a>(&'a Cell<Option<u64>>, u64);

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        if self.0.get() == Some(self.1) {
            self.0.set(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    const ISS: &str = "https://idp.example";
    const T: u64 = 1_000_000;
    /// Entries last a day unless a test says otherwise.
    const UNTIL: u64 = T + 86_400;

    fn sid(connector: &str, value: &str) -> Revocation {
        Revocation {
            kind: RevocationKind::Sid,
            iss: ISS.into(),
            value: value.into(),
            at: T,
            connector: connector.into(),
            unauthenticated: false,
            until: UNTIL,
        }
    }

    fn session(sid: &str) -> Session {
        Session {
            sub: "u1".into(),
            email: "a@b.example".into(),
            name: None,
            connector: "c".into(),
            iss: ISS.into(),
            iat: T,
            exp: T + 10_000,
            sid: Some(sid.into()),
            renewed_at: T,
            groups: vec![],
        }
    }

    /// A model of the revocation log (src/js/revocation_log.mjs): entries numbered in the order written,
    /// `since(n)` answers a page of those after n. `pend` makes each call wait once (so that concurrent reloads
    /// interleave); `answer` replaces the log's answers (a misbehaving log).
    struct FakeLog {
        generation: RefCell<String>,
        entries: RefCell<Vec<Revocation>>,
        page_size: usize,
        down: Cell<bool>,
        pend: Cell<bool>,
        /// The cursor of each call.
        asked: RefCell<Vec<u64>>,
        logs: RefCell<Vec<String>>,
        answer: Option<fn(u64) -> RevocationPage>,
    }

    impl Default for FakeLog {
        fn default() -> FakeLog {
            FakeLog {
                generation: RefCell::new("g1".into()),
                entries: RefCell::default(),
                page_size: 1000,
                down: Cell::new(false),
                pend: Cell::new(false),
                asked: RefCell::default(),
                logs: RefCell::default(),
                answer: None,
            }
        }
    }

    impl FakeLog {
        /// `n` entries of connector `c`, `revoked` as the last one.
        fn with_entries(n: usize, revoked: Option<&str>) -> FakeLog {
            let log = FakeLog::default();
            for i in 0..n {
                let value = match revoked {
                    Some(r) if i + 1 == n => r.to_string(),
                    _ => format!("s{i}"),
                };
                log.append(sid("c", &value));
            }
            log
        }

        fn append(&self, r: Revocation) {
            self.entries.borrow_mut().push(r);
        }

        fn calls(&self) -> usize {
            self.asked.borrow().len()
        }

        fn logged(&self, needle: &str) -> bool {
            self.logs.borrow().iter().any(|l| l.contains(needle))
        }
    }

    struct PendOnce(bool);
    impl Future for PendOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    impl RevocationStore for FakeLog {
        async fn record_revocation(&self, _: &Revocation) -> Result<Recorded, FetchError> {
            Ok(Recorded::Written)
        }
        async fn revocations_since(&self, cursor: u64) -> Result<RevocationPage, FetchError> {
            self.asked.borrow_mut().push(cursor);
            if self.pend.get() {
                PendOnce(false).await;
            }
            if self.down.get() {
                return Err(FetchError::Network("the log is down".into()));
            }
            if let Some(answer) = self.answer {
                return Ok(answer(cursor));
            }
            let entries = self.entries.borrow();
            let start = usize::try_from(cursor).unwrap_or(usize::MAX).min(entries.len());
            let end = (start + self.page_size).min(entries.len());
            Ok(RevocationPage {
                generation: self.generation.borrow().clone(),
                entries: entries[start..end].to_vec(),
                unreadable: 0,
                next: end as u64,
                more: end < entries.len(),
            })
        }
    }

    impl Log for FakeLog {
        fn event(&self, event: &Event) {
            self.logs.borrow_mut().push(event.to_json(None));
        }
    }

    fn reload(state: &RevocationState, log: &FakeLog, now: u64) {
        assert_eq!(state.plan_reload(now), Reload::Wait, "no usable list: requests wait for a reload");
        pollster::block_on(state.reload(log, now));
    }

    fn background(state: &RevocationState, log: &FakeLog, now: u64) {
        assert_eq!(state.plan_reload(now), Reload::Background);
        pollster::block_on(state.reload(log, now));
    }

    #[test]
    fn token_bucket_burst_and_refill_on_a_fake_clock() {
        let mut b = TokenBucket::full(T);
        for i in 0..RATE_BURST {
            assert_eq!(b.take(T), Ok(()), "burst {i}");
        }
        assert_eq!(b.take(T), Err(1), "beyond the burst");
        assert_eq!(b.take(T), Err(1));
        for _ in 0..RATE_PER_SECOND {
            assert_eq!(b.take(T + 1), Ok(()), "refilled after a second");
        }
        assert_eq!(b.take(T + 1), Err(1));
        assert_eq!(b.take(T - 100), Err(1), "a clock going backwards refills nothing");
        let mut idle = TokenBucket::full(T);
        idle.take(T).unwrap();
        idle.take(T + 3600).unwrap();
        assert_eq!(idle.tokens, RATE_BURST - 1, "never more than the burst");
        let mut far = TokenBucket { tokens: 0, at: 0 };
        assert_eq!(far.take(u64::MAX), Ok(()), "no overflow");
    }

    #[test]
    fn rate_limit_is_per_connector_and_logged_once_a_minute() {
        let state = RevocationState::default();
        for _ in 0..RATE_BURST {
            state.take_token("flooded", T).unwrap();
        }
        let first = state.take_token("flooded", T).unwrap_err();
        assert_eq!(first, WriteRefusal::RateLimited { connector: "flooded".into(), retry_after: 1, log: Some(1) });
        assert!(first.log_detail().contains("\"flooded\"") && first.log_detail().contains("429"));
        for _ in 0..9 {
            assert!(matches!(state.take_token("flooded", T).unwrap_err(), WriteRefusal::RateLimited { log: None, .. }));
        }
        let later = state.take_token("flooded", T + 60 + 1);
        assert_eq!(later, Ok(()), "refilled");
        assert_eq!(state.take_token("other", T), Ok(()), "another connector has its own bucket");
        // Empty it again: the next report counts what was refused since the last line.
        let state = RevocationState::default();
        for _ in 0..RATE_BURST {
            state.take_token("c", T).unwrap();
        }
        assert!(matches!(state.take_token("c", T), Err(WriteRefusal::RateLimited { log: Some(1), .. })));
        for _ in 0..5 {
            assert!(matches!(state.take_token("c", T), Err(WriteRefusal::RateLimited { log: None, .. })));
        }
        assert!(matches!(state.take_token("c", T + 60), Ok(())));
        for _ in 1..RATE_BURST {
            let _ = state.take_token("c", T + 60);
        }
        assert!(matches!(state.take_token("c", T + 60), Err(WriteRefusal::RateLimited { log: Some(6), .. })));
    }

    #[test]
    fn the_log_refusals_name_the_connector_and_the_limit() {
        assert_eq!(WriteRefusal::from_recorded(Recorded::Written, "c"), None);
        assert_eq!(WriteRefusal::from_recorded(Recorded::Known, "c"), None);
        let full = WriteRefusal::from_recorded(Recorded::ConnectorFull { count: 10_000, limit: 10_000 }, "flood");
        let detail = full.map(|r| r.log_detail()).unwrap_or_default();
        assert!(detail.contains("\"flood\"") && detail.contains("10000") && detail.contains("503"), "{detail}");
        let store = WriteRefusal::from_recorded(Recorded::StoreFull { count: 40_000, limit: 40_000 }, "c");
        assert_eq!(store, Some(WriteRefusal::StoreFull { count: 40_000, limit: 40_000 }));
    }

    #[test]
    fn a_fresh_isolate_reads_the_whole_log_then_only_what_is_new() {
        let state = RevocationState::default();
        let log = FakeLog::with_entries(2500, Some("revoked"));
        reload(&state, &log, T);
        assert_eq!(*log.asked.borrow(), [0, 1000, 2000], "every page, from the start");
        assert!(state.is_revoked(&session("revoked"), T));
        assert!(!state.is_revoked(&session("fine"), T));
        assert!(state.is_settled(T));
        // Written through another isolate: learnt by the next background reload, which asks only for what is new.
        log.append(sid("c", "elsewhere"));
        let t = T + REFRESH_SECONDS;
        assert!(!state.is_revoked(&session("elsewhere"), t), "not before the reload (the documented bound)");
        background(&state, &log, t);
        assert_eq!(log.asked.borrow().last(), Some(&2500), "from the cursor, not the whole log again");
        assert!(state.is_revoked(&session("elsewhere"), t) && state.is_revoked(&session("revoked"), t));
        assert_eq!(state.len(), 2501);
        // Nothing new: one call, nothing changes.
        background(&state, &log, t + REFRESH_SECONDS);
        assert_eq!(log.asked.borrow().last(), Some(&2501));
        assert_eq!(state.len(), 2501);
    }

    #[test]
    fn entries_leave_memory_at_their_until() {
        let state = RevocationState::default();
        let log = FakeLog::default();
        log.append(Revocation { until: T + 2 * REFRESH_SECONDS, ..sid("c", "short") });
        log.append(sid("c", "long"));
        reload(&state, &log, T);
        assert_eq!(state.len(), 2);
        background(&state, &log, T + REFRESH_SECONDS);
        assert!(state.is_revoked(&session("short"), T + REFRESH_SECONDS));
        background(&state, &log, T + 2 * REFRESH_SECONDS);
        assert_eq!(state.len(), 1, "dropped at its until (the log deletes it then too)");
        assert!(state.is_revoked(&session("long"), T + 2 * REFRESH_SECONDS));
    }

    #[test]
    fn a_log_with_another_identity_is_read_again_from_its_start() {
        let state = RevocationState::default();
        let log = FakeLog::with_entries(1500, Some("old"));
        reload(&state, &log, T);
        // The log's storage is replaced (deleted and created again): its numbers start again.
        *log.generation.borrow_mut() = "g2".into();
        *log.entries.borrow_mut() = vec![sid("c", "new")];
        state.add(sid("c", "written-here"));
        log.asked.borrow_mut().clear();
        background(&state, &log, T + REFRESH_SECONDS);
        assert_eq!(*log.asked.borrow(), [1500, 0], "asked from its cursor, then again from the start");
        let t = T + REFRESH_SECONDS;
        assert!(state.is_revoked(&session("new"), t));
        assert!(!state.is_revoked(&session("old"), t), "the old log's entries are gone with it");
        assert!(state.is_revoked(&session("written-here"), t), "this isolate's own recent writes are kept");
        assert_eq!(state.len(), 2);
    }

    #[test]
    fn a_log_beyond_the_bound_is_never_read_partially() {
        // Its last entry is past the bound: a partial read would have forgotten it.
        let log = FakeLog::with_entries(MAX_LOADED_REVOCATIONS + 1, Some("on-the-last-page"));
        let fresh = RevocationState::default();
        reload(&fresh, &log, T);
        assert!(fresh.blocks_sessions(T), "fail closed");
        assert!(fresh.is_revoked(&session("on-the-last-page"), T));
        assert!(fresh.is_revoked(&session("any-other-session"), T), "nothing can be vouched for");
        assert!(log.logged("more than 50000") && log.logged("fail closed"), "{:?}", log.logs.borrow());
        assert!(log.calls() <= MAX_LOADED_REVOCATIONS / 1000 + 1, "stops reading at the bound");
        // What is new, added to what is held, is bounded too.
        let state = RevocationState::default();
        let log = FakeLog::with_entries(MAX_LOADED_REVOCATIONS - 10, None);
        reload(&state, &log, T);
        assert!(!state.blocks_sessions(T));
        for i in 0..20 {
            log.append(sid("c", &format!("more{i}")));
        }
        background(&state, &log, T + REFRESH_SECONDS);
        assert!(log.logged("more than 50000") && log.logged("keeping the list"), "{:?}", log.logs.borrow());
        assert_eq!(state.len(), MAX_LOADED_REVOCATIONS - 10, "nothing applied");
    }

    /// Review of issue 13: a repeat of a known entry (the IdP resends a logout, or a front-channel flood resends
    /// the same sids a second later: the log merges it into its row and numbers it anew) was counted as a new
    /// entry on top of the held one. With 30,000 entries held and all of them repeated once, every reload of a
    /// running isolate was "more than 50,000" and changed nothing: its cursor never moved, so every later reload
    /// failed the same way — a revocation written after the repeats was not learnt, and after 5 minutes the
    /// isolate refused every session, for as long as it lived.
    #[test]
    fn repeats_of_held_entries_do_not_count_twice_against_the_memory_bound() {
        let state = RevocationState::default();
        let held = 30_000;
        let log = FakeLog::with_entries(held, None);
        reload(&state, &log, T);
        assert_eq!(state.len(), held);
        for i in 0..held {
            log.append(Revocation { until: UNTIL + 10, ..sid("c", &format!("s{i}")) });
        }
        log.append(sid("c", "genuine-after-the-repeats"));
        let t = T + REFRESH_SECONDS;
        background(&state, &log, t);
        assert!(!log.logged("more than"), "{:?}", log.logs.borrow());
        assert_eq!(state.len(), held + 1, "the repeats replace what is held");
        assert!(state.is_revoked(&session("genuine-after-the-repeats"), t), "learnt within the refresh bound");
        let later = t + REFRESH_SECONDS;
        background(&state, &log, later);
        let age = later + MAX_LIST_AGE_SECONDS;
        assert!(!state.blocks_sessions(age), "reloads reach the end: the list stays usable, not fail closed");
        // Genuinely new entries beyond the bound are still refused (never a partial read).
        for i in 0..(MAX_LOADED_REVOCATIONS - held) {
            log.append(sid("c", &format!("new{i}")));
        }
        background(&state, &log, later + REFRESH_SECONDS);
        assert!(log.logged("more than 50000"), "{:?}", log.logs.borrow());
        assert_eq!(state.len(), held + 1, "nothing applied");
    }

    #[test]
    fn a_log_that_does_not_move_forward_cannot_make_a_reload_loop_or_go_back() {
        // Small pages that never end.
        let endless = FakeLog {
            answer: Some(|cursor| RevocationPage {
                generation: "g1".into(),
                next: cursor + 1,
                more: true,
                ..RevocationPage::default()
            }),
            ..FakeLog::default()
        };
        let state = RevocationState::default();
        reload(&state, &endless, T);
        assert!(state.blocks_sessions(T));
        assert_eq!(endless.calls(), MAX_LIST_PAGES);
        // "More" without moving on.
        let stuck = FakeLog {
            answer: Some(|cursor| RevocationPage {
                generation: "g1".into(),
                next: cursor,
                more: true,
                ..RevocationPage::default()
            }),
            ..FakeLog::default()
        };
        let state = RevocationState::default();
        reload(&state, &stuck, T);
        assert!(state.blocks_sessions(T) && stuck.calls() == 1);
        assert!(stuck.logged("does not move forward"), "{:?}", stuck.logs.borrow());
        // Going back (a cursor below the isolate's): refused, the list and its cursor stay.
        let state = RevocationState::default();
        let log = FakeLog::with_entries(10, Some("revoked"));
        reload(&state, &log, T);
        let back = FakeLog {
            answer: Some(|_| RevocationPage {
                generation: "g1".into(),
                next: 3,
                more: false,
                ..RevocationPage::default()
            }),
            ..FakeLog::default()
        };
        background(&state, &back, T + REFRESH_SECONDS);
        assert!(back.logged("does not move forward"));
        assert_eq!(*state.position.borrow(), Position { generation: Some("g1".into()), cursor: 10 });
        assert!(state.is_revoked(&session("revoked"), T + REFRESH_SECONDS));
    }

    #[test]
    fn an_incomplete_reload_keeps_the_list_for_a_while_then_fails_closed() {
        let state = RevocationState::default();
        let log = FakeLog::with_entries(3, Some("revoked"));
        reload(&state, &log, T);
        log.down.set(true);
        let t = T + REFRESH_SECONDS;
        background(&state, &log, t);
        assert!(log.logged("the log is down") && log.logged("keeping the list"), "{:?}", log.logs.borrow());
        assert!(!state.blocks_sessions(t + MAX_LIST_AGE_SECONDS - REFRESH_SECONDS));
        assert!(state.is_revoked(&session("revoked"), t));
        assert!(!state.is_revoked(&session("fine"), t));
        // Past the age bound: closed; requests wait for the next attempt, once per interval.
        let late = T + MAX_LIST_AGE_SECONDS + 1;
        assert!(state.blocks_sessions(late));
        assert!(state.is_revoked(&session("fine"), late));
        assert!(!state.is_settled(late));
        assert_eq!(state.plan_reload(late), Reload::Wait);
        pollster::block_on(state.reload(&log, late));
        assert!(log.logged("fail closed"));
        assert_eq!(state.plan_reload(late + 1), Reload::None, "retried after the interval, not on every request");
        assert!(state.is_revoked(&session("fine"), late + 1));
        // The log answers again: sessions are admitted again.
        log.down.set(false);
        let back = late + REFRESH_SECONDS;
        reload(&state, &log, back);
        assert!(!state.is_revoked(&session("fine"), back));
        assert!(state.is_revoked(&session("revoked"), back));
    }

    #[test]
    fn a_fresh_isolate_whose_log_cannot_be_read_refuses_sessions() {
        let state = RevocationState::default();
        assert!(!state.blocks_sessions(T), "no shared log (host tests): nothing to wait for");
        let log = FakeLog::default();
        log.down.set(true);
        reload(&state, &log, T);
        assert!(state.blocks_sessions(T) && state.is_revoked(&session("fine"), T));
        assert!(log.logged("no recent list"));
    }

    #[test]
    fn concurrent_requests_of_a_fresh_isolate_share_one_reload() {
        let state = RevocationState::default();
        let store = FakeLog::with_entries(1500, Some("revoked"));
        store.pend.set(true);
        assert_eq!(state.plan_reload(T), Reload::Wait);
        let mut a = Box::pin(state.reload(&store, T));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(state.reload_in_flight());
        // A second request arrives while the first one's reload runs: it is told to wait (the platform polls
        // reload_in_flight), and starts no second listing.
        assert_eq!(state.plan_reload(T), Reload::Wait);
        assert!(Box::pin(state.reload(&store, T)).as_mut().poll(&mut cx).is_ready());
        assert_eq!(state.plan_reload(T + REFRESH_SECONDS), Reload::Wait, "in flight, not usable yet: wait");
        let mut rounds = 0;
        while a.as_mut().poll(&mut cx).is_pending() {
            rounds += 1;
            assert!(rounds < 10);
        }
        assert!(!state.reload_in_flight());
        assert_eq!(store.calls(), 2, "one reload: its two pages");
        assert!(state.is_revoked(&session("revoked"), T));
        // A background reload never overlaps a running one.
        let t = T + REFRESH_SECONDS;
        assert_eq!(state.plan_reload(t), Reload::Background);
        let mut bg = Box::pin(state.reload(&store, t));
        assert!(bg.as_mut().poll(&mut cx).is_pending());
        assert_eq!(state.plan_reload(t + REFRESH_SECONDS), Reload::None, "a reload is running");
        drop(bg);
        assert!(!state.reload_in_flight(), "an abandoned reload frees the slot");
        assert_eq!(state.plan_reload(t + REFRESH_SECONDS), Reload::Background);
    }

    /// Review of issue 10 (§5): a reload whose request is cancelled without being dropped (workerd: the client
    /// went away, or `waitUntil` ran out of time, while the read was pending) never ends its flight. The
    /// isolate then never reloaded again: its list aged past 5 minutes and every request waited 30 s and was
    /// refused — fail closed for good, for that isolate.
    #[test]
    fn a_reload_that_never_finishes_is_given_up() {
        let state = RevocationState::default();
        let store = FakeLog::with_entries(10, Some("revoked"));
        reload(&state, &store, T);
        // A background reload starts and its request is cancelled without being dropped.
        let t = T + REFRESH_SECONDS;
        assert_eq!(state.plan_reload(t), Reload::Background);
        store.pend.set(true);
        let mut hung = Box::pin(state.reload(&store, t));
        assert!(hung.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
        std::mem::forget(hung);
        store.pend.set(false);
        // Past the limit, the next request starts a reload of its own, which completes.
        let later = t + RELOAD_FLIGHT_LIMIT_SECONDS;
        assert_eq!(state.plan_reload(later), Reload::Background, "the hung reload is given up");
        pollster::block_on(state.reload(&store, later));
        assert!(!state.reload_in_flight());
        assert!(state.is_settled(later) && state.is_revoked(&session("revoked"), later));
        // The same on an isolate without a usable list: requests wait for a new reload, not for the dead one.
        let much_later = later + MAX_LIST_AGE_SECONDS + 1;
        assert_eq!(state.plan_reload(much_later), Reload::Wait);
        store.pend.set(true);
        let mut hung = Box::pin(state.reload(&store, much_later));
        assert!(hung.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
        std::mem::forget(hung);
        store.pend.set(false);
        let t = much_later + RELOAD_FLIGHT_LIMIT_SECONDS;
        reload(&state, &store, t);
        assert!(!state.blocks_sessions(t), "a usable list again");
        // A slow store: a reload given up on that completes after all is used, unless a later one read since.
        let fresh = RevocationState::default();
        store.pend.set(true);
        assert_eq!(fresh.plan_reload(T), Reload::Wait);
        let mut slow = Box::pin(fresh.reload(&store, T));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(slow.as_mut().poll(&mut cx).is_pending());
        let t = T + RELOAD_FLIGHT_LIMIT_SECONDS;
        assert_eq!(fresh.plan_reload(t), Reload::Wait);
        let mut second = Box::pin(fresh.reload(&store, t));
        assert!(second.as_mut().poll(&mut cx).is_pending(), "a second reload runs");
        while slow.as_mut().poll(&mut cx).is_pending() {}
        assert!(!fresh.blocks_sessions(t), "the slow reload's complete list is used");
        assert!(fresh.reload_in_flight(), "the second one still runs");
        while second.as_mut().poll(&mut cx).is_pending() {}
        assert!(!fresh.reload_in_flight() && fresh.is_settled(t));
    }
}
