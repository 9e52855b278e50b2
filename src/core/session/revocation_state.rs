//! The isolate's copy of the shared revocation list, and the bounds that keep it honest.
//!
//! **Reading** ([`RevocationState::reload`]): the platform asks [`RevocationState::plan_reload`] at the start
//! of each request. A fresh isolate (or one whose list is no longer usable) makes its requests wait for *one*
//! reload, whatever their number; an isolate with a usable list reloads in the background every
//! [`REFRESH_SECONDS`], never two reloads at a time (a reload that never finishes — its request cancelled
//! without being dropped — is given up after [`RELOAD_FLIGHT_LIMIT_SECONDS`], and the next request reloads).
//! A reload reads the whole store or nothing: more than
//! [`MAX_LOADED_REVOCATIONS`] entries (or [`MAX_LIST_PAGES`] pages), or a listing error, leaves the previous
//! complete list in place, which stays usable for [`MAX_LIST_AGE_SECONDS`] after it was read. Past that, or
//! when no complete list was ever read, the isolate **fails closed**: every session is refused (`/auth/me`
//! 401, protected content sends to the login) and so is every new sign-in, with an operator log line on each
//! reload attempt, until a reload reads everything again. A partial list is never taken for a complete one.
//!
//! **Writing** (front- and back-channel logout, our own sign-out): front-channel logout is an unauthenticated
//! GET, so each connector has a token bucket per isolate ([`RATE_BURST`] requests at once, refilled at
//! [`RATE_PER_SECOND`]); beyond it the answer is 429. A new entry is refused (the IdP gets a 503 and the
//! operator a log line naming the connector and the limit) when its connector already has
//! [`MAX_REVOCATIONS_PER_CONNECTOR`] entries or the store [`MAX_REVOCATIONS`], counted from the last complete
//! load plus this isolate's writes since. The difference between [`MAX_REVOCATIONS`] and
//! [`MAX_LOADED_REVOCATIONS`] is headroom for what other isolates write within one reload interval, so a store
//! filled to its write limit is always read whole.
//!
//! [`RevocationState`] is generic over [`RevocationStore`] (Workers KV today), so another store (a Durable
//! Object) only has to implement that trait.

use std::cell::{Cell, RefCell};

use crate::core::fetch::FetchError;
use crate::core::ports::{Log, RevocationStore};
use crate::core::session::record::Session;
use crate::core::session::revocation::{Revocation, RevocationList};

/// How often an isolate reloads the list (the staleness bound within a location, on top of the store's own
/// propagation delay between locations).
pub const REFRESH_SECONDS: u64 = 10;
/// How long a reload may stay in flight before the next request starts another: a reload whose request was
/// cancelled without being dropped (workerd: the client went away, or `waitUntil` ran out of time, while the
/// listing was pending) never ends its flight. As long as the platform lets a request wait for a reload. One
/// given up on that completes after all (a slow store) is still used, unless a later one has read the store since.
pub const RELOAD_FLIGHT_LIMIT_SECONDS: u64 = 30;
/// How long the last complete list stays in use while reloads fail. Past it, sessions are refused.
pub const MAX_LIST_AGE_SECONDS: u64 = 300;
/// The most entries a reload holds in memory (a few MB: ≤ 255-byte values). A store holding more is not
/// read partially: the reload fails (see the module documentation).
pub const MAX_LOADED_REVOCATIONS: usize = 50_000;
/// The most pages a reload reads (a store answering with small pages cannot make it loop for long).
pub const MAX_LIST_PAGES: usize = 200;
/// Writes are refused beyond this many entries in the store...
pub const MAX_REVOCATIONS: usize = 40_000;
/// ...or this many accounted to one connector (a flood through one IdP cannot use up the others' room).
pub const MAX_REVOCATIONS_PER_CONNECTOR: usize = 10_000;
/// Unauthenticated writes (front-channel logout: anyone can send it) are refused beyond this many such entries
/// per connector, or [`MAX_UNAUTHENTICATED_REVOCATIONS`] in all: half of each limit stays for the signed
/// back-channel and our own sign-out, which a flood of made-up front-channel logouts cannot use up.
pub const MAX_UNAUTHENTICATED_PER_CONNECTOR: usize = MAX_REVOCATIONS_PER_CONNECTOR / 2;
/// See [`MAX_UNAUTHENTICATED_PER_CONNECTOR`].
pub const MAX_UNAUTHENTICATED_REVOCATIONS: usize = MAX_REVOCATIONS / 2;
/// Front-channel logouts a connector may send to one isolate at once...
pub const RATE_BURST: u64 = 20;
/// ...and per second after that.
pub const RATE_PER_SECOND: u64 = 2;
/// This isolate's own writes are kept in its list (even when a listing does not show them yet: store
/// listings are eventually consistent) for this long, or until a listing shows them.
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
    /// The connector has its maximum number of entries.
    ConnectorFull { connector: String, count: usize, limit: usize },
    /// The store has its maximum number of entries.
    StoreFull { count: usize, limit: usize },
    /// There is no complete list: the store's size is unknown.
    Unavailable,
}

impl WriteRefusal {
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
            WriteRefusal::Unavailable => "the revocation list is unreadable (503)".to_string(),
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

/// Why a reload did not read the whole store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Incomplete {
    Error(FetchError),
    TooMany,
    TooManyPages,
}

/// The isolate's revocation list and the state of its reloads and writes. See the module documentation.
#[derive(Default)]
pub struct RevocationState {
    list: RefCell<RevocationList>,
    /// Set by the platform's first [`Self::plan_reload`]: the list lives in a shared store, so a session is
    /// only admitted against a complete, recent copy of it. (Without a store — no binding, host tests — the
    /// list holds this isolate's own writes only.)
    shared: Cell<bool>,
    /// When the list in use was read completely.
    complete_at: Cell<Option<u64>>,
    /// When the last reload started (the retry interval).
    attempted_at: Cell<Option<u64>>,
    /// Revocations written by this isolate, until a listing shows them.
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

    /// Read the whole store into a new list; returns at once when another reload is running (see
    /// [`Self::reload_in_flight`]).
    pub async fn reload<S: RevocationStore + Log>(&self, store: &S, now: u64) {
        if self.flight_live(now) {
            return;
        }
        self.flight.set(Some(now));
        self.attempted_at.set(Some(now));
        let _guard = FlightGuard(&self.flight, now);
        let read = read_all(store).await;
        // A reload given up on that finishes after all (a slow store) still counts, unless a later one has read
        // the store since.
        if self.complete_at.get().is_none_or(|t| t < now) {
            self.apply(read, now, store);
        }
    }

    fn apply(&self, read: Result<(RevocationList, usize), Incomplete>, now: u64, log: &dyn Log) {
        match read {
            Ok((mut list, unreadable)) => {
                let mut local = self.local.borrow_mut();
                local.retain(|r| !list.contains(r) && now.saturating_sub(r.at) < LOCAL_KEEP_SECONDS);
                for r in local.iter() {
                    list.insert(r.clone());
                }
                *self.list.borrow_mut() = list;
                self.complete_at.set(Some(now));
                if unreadable > 0 {
                    log.warn(&format!("edge-auth: revocations: {unreadable} unreadable entries skipped"));
                }
            }
            Err(why) => {
                let why = match why {
                    Incomplete::Error(e) => format!("the store could not be listed: {e}"),
                    Incomplete::TooMany => format!("the store holds more than {MAX_LOADED_REVOCATIONS} revocations"),
                    Incomplete::TooManyPages => format!("the listing did not end within {MAX_LIST_PAGES} pages"),
                };
                let state = match self.complete_at.get() {
                    Some(t) if now.saturating_sub(t) <= MAX_LIST_AGE_SECONDS => {
                        format!("keeping the complete list read {} s ago", now.saturating_sub(t))
                    }
                    _ => "no complete list: sessions and sign-ins are refused (fail closed)".to_string(),
                };
                log.warn(&format!("edge-auth: revocations: reload incomplete, {why}; {state}"));
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

    /// Whether the count limits admit this revocation: `Ok(true)` for a new entry, `Ok(false)` for one the
    /// list already holds (no new entry; writing it again only refreshes it).
    pub fn admit(&self, r: &Revocation, now: u64) -> Result<bool, WriteRefusal> {
        if self.blocks_sessions(now) {
            return Err(WriteRefusal::Unavailable);
        }
        let list = self.list.borrow();
        if list.contains(r) {
            return Ok(false);
        }
        let count = list.count_for(&r.connector);
        if count >= MAX_REVOCATIONS_PER_CONNECTOR {
            return Err(WriteRefusal::ConnectorFull {
                connector: r.connector.clone(),
                count,
                limit: MAX_REVOCATIONS_PER_CONNECTOR,
            });
        }
        if list.len() >= MAX_REVOCATIONS {
            return Err(WriteRefusal::StoreFull { count: list.len(), limit: MAX_REVOCATIONS });
        }
        if r.unauthenticated {
            let (count, all) = list.unauthenticated_counts(&r.connector);
            if count >= MAX_UNAUTHENTICATED_PER_CONNECTOR {
                let (connector, limit) = (r.connector.clone(), MAX_UNAUTHENTICATED_PER_CONNECTOR);
                return Err(WriteRefusal::ConnectorFull { connector, count, limit });
            }
            if all >= MAX_UNAUTHENTICATED_REVOCATIONS {
                return Err(WriteRefusal::StoreFull { count: all, limit: MAX_UNAUTHENTICATED_REVOCATIONS });
            }
        }
        Ok(true)
    }

    /// Apply a revocation in this isolate at once (and keep it across reloads until a listing shows it).
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

async fn read_all<S: RevocationStore>(store: &S) -> Result<(RevocationList, usize), Incomplete> {
    let mut list = RevocationList::default();
    let mut unreadable = 0usize;
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        let page = store.list_revocations(cursor.as_deref()).await.map_err(Incomplete::Error)?;
        unreadable = unreadable.saturating_add(page.unreadable);
        for r in page.entries {
            if r.is_well_formed() {
                list.insert(r);
            } else {
                unreadable = unreadable.saturating_add(1);
            }
            if list.len().saturating_add(unreadable) > MAX_LOADED_REVOCATIONS {
                return Err(Incomplete::TooMany);
            }
        }
        if list.len().saturating_add(unreadable) > MAX_LOADED_REVOCATIONS {
            return Err(Incomplete::TooMany);
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok((list, unreadable)),
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
    use crate::core::session::revocation::RevocationKind;
    use crate::core::session::revocation::RevocationPage;

    const ISS: &str = "https://idp.example";
    const T: u64 = 1_000_000;

    fn sid(connector: &str, value: &str) -> Revocation {
        Revocation {
            kind: RevocationKind::Sid,
            iss: ISS.into(),
            value: value.into(),
            at: T,
            connector: connector.into(),
            unauthenticated: false,
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

    /// A store whose listing is scripted page by page; `pend` makes each listing call wait once (so that
    /// concurrent reloads interleave).
    #[derive(Default)]
    struct FakeStore {
        pages: RefCell<Vec<Result<RevocationPage, FetchError>>>,
        calls: Cell<usize>,
        pend: Cell<bool>,
        logs: RefCell<Vec<String>>,
    }

    impl FakeStore {
        /// `n` entries of connector `c` in pages of `per_page`, `revoked` among them on the last page.
        fn with_entries(n: usize, per_page: usize, revoked: Option<&str>) -> FakeStore {
            let mut entries: Vec<Revocation> = (0..n).map(|i| sid("c", &format!("s{i}"))).collect();
            if let (Some(r), Some(last)) = (revoked, entries.last_mut()) {
                *last = sid("c", r);
            }
            let chunks: Vec<Vec<Revocation>> = entries.chunks(per_page.max(1)).map(<[_]>::to_vec).collect();
            let count = chunks.len();
            let pages = chunks
                .into_iter()
                .enumerate()
                .map(|(i, entries)| {
                    Ok(RevocationPage {
                        entries,
                        unreadable: 0,
                        cursor: (i + 1 < count).then(|| format!("p{}", i + 1)),
                    })
                })
                .collect();
            FakeStore { pages: RefCell::new(pages), ..FakeStore::default() }
        }

        fn failing() -> FakeStore {
            FakeStore {
                pages: RefCell::new(vec![Err(FetchError::Network("KV is down".into()))]),
                ..FakeStore::default()
            }
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

    impl RevocationStore for FakeStore {
        async fn record_revocation(&self, _: &Revocation, _: u64) -> Result<(), FetchError> {
            Ok(())
        }
        async fn list_revocations(&self, cursor: Option<&str>) -> Result<RevocationPage, FetchError> {
            self.calls.set(self.calls.get() + 1);
            if self.pend.get() {
                PendOnce(false).await;
            }
            let index = cursor.and_then(|c| c.strip_prefix('p')).and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
            let pages = self.pages.borrow();
            pages.get(index).cloned().unwrap_or(Ok(RevocationPage::default()))
        }
    }

    impl Log for FakeStore {
        fn warn(&self, message: &str) {
            self.logs.borrow_mut().push(message.to_string());
        }
    }

    fn reload(state: &RevocationState, store: &FakeStore, now: u64) {
        assert_eq!(state.plan_reload(now), Reload::Wait, "no usable list: requests wait for a reload");
        pollster::block_on(state.reload(store, now));
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
    fn count_limits_per_connector_and_in_total() {
        let state = RevocationState::default();
        for i in 0..MAX_REVOCATIONS_PER_CONNECTOR {
            let r = sid("flood", &format!("s{i}"));
            assert_eq!(state.admit(&r, T), Ok(true));
            state.add(r);
        }
        let refused = state.admit(&sid("flood", "one-more"), T).unwrap_err();
        assert_eq!(
            refused,
            WriteRefusal::ConnectorFull {
                connector: "flood".into(),
                count: MAX_REVOCATIONS_PER_CONNECTOR,
                limit: MAX_REVOCATIONS_PER_CONNECTOR
            }
        );
        assert!(refused.log_detail().contains("\"flood\"") && refused.log_detail().contains("10000"));
        assert_eq!(state.admit(&sid("flood", "s7"), T), Ok(false), "a known entry is no new entry");
        assert_eq!(state.admit(&sid("other", "o1"), T), Ok(true), "other connectors keep their room");
        // The total.
        for c in 1..(MAX_REVOCATIONS / MAX_REVOCATIONS_PER_CONNECTOR) {
            for i in 0..MAX_REVOCATIONS_PER_CONNECTOR {
                state.add(sid(&format!("c{c}"), &format!("c{c}-s{i}")));
            }
        }
        assert_eq!(state.len(), MAX_REVOCATIONS);
        assert_eq!(
            state.admit(&sid("other", "o1"), T),
            Err(WriteRefusal::StoreFull { count: MAX_REVOCATIONS, limit: MAX_REVOCATIONS })
        );
    }

    #[test]
    fn the_write_limits_fit_what_a_reload_reads() {
        const { assert!(MAX_REVOCATIONS_PER_CONNECTOR <= MAX_REVOCATIONS) };
        const { assert!(MAX_REVOCATIONS < MAX_LOADED_REVOCATIONS) };
        // A store filled to the write limit is read whole.
        let store = FakeStore::with_entries(MAX_REVOCATIONS, 1000, Some("last"));
        let state = RevocationState::default();
        reload(&state, &store, T);
        assert!(!state.blocks_sessions(T));
        assert!(state.is_revoked(&session("last"), T));
        assert_eq!(state.len(), MAX_REVOCATIONS);
    }

    #[test]
    fn a_complete_reload_is_used_and_keeps_local_writes_until_listed() {
        let state = RevocationState::default();
        let store = FakeStore::with_entries(2500, 1000, Some("revoked"));
        reload(&state, &store, T);
        assert_eq!(store.calls.get(), 3, "every page");
        assert!(state.is_revoked(&session("revoked"), T));
        assert!(!state.is_revoked(&session("fine"), T));
        assert!(state.is_settled(T));
        // Written here, not listed yet (eventual consistency): kept across a reload...
        state.add(sid("c", "local"));
        assert_eq!(state.plan_reload(T + REFRESH_SECONDS), Reload::Background);
        assert_eq!(state.plan_reload(T + REFRESH_SECONDS), Reload::None, "one background reload is scheduled");
        pollster::block_on(state.reload(&store, T + REFRESH_SECONDS));
        assert!(state.is_revoked(&session("local"), T + REFRESH_SECONDS));
        // ...and left to the store's listing once it shows it.
        let listed = FakeStore::with_entries(1, 10, Some("local"));
        pollster::block_on(state.reload(&listed, T + 2 * REFRESH_SECONDS));
        assert!(state.local.borrow().is_empty());
        assert!(state.is_revoked(&session("local"), T + 2 * REFRESH_SECONDS));
        assert!(!state.is_revoked(&session("revoked"), T + 2 * REFRESH_SECONDS), "expired from the store");
    }

    #[test]
    fn a_store_beyond_the_bound_is_never_read_partially() {
        // On main, a reload stopped after 50 pages and used what it had: the revocation on page 51 was lost.
        let store = FakeStore::with_entries(MAX_LOADED_REVOCATIONS + 1, 1000, Some("on-the-last-page"));
        let fresh = RevocationState::default();
        reload(&fresh, &store, T);
        assert!(fresh.blocks_sessions(T), "fail closed");
        assert!(fresh.is_revoked(&session("on-the-last-page"), T));
        assert!(fresh.is_revoked(&session("any-other-session"), T), "nothing can be vouched for");
        assert_eq!(fresh.admit(&sid("c", "new"), T), Err(WriteRefusal::Unavailable));
        assert!(store.logged("more than 50000") && store.logged("fail closed"), "{:?}", store.logs.borrow());
        assert!(store.calls.get() <= MAX_LOADED_REVOCATIONS / 1000 + 1, "stops reading at the bound");
        // Small pages that never end are bounded too.
        let endless = FakeStore {
            pages: RefCell::new(
                (0..MAX_LIST_PAGES + 5)
                    .map(|i| Ok(RevocationPage { entries: vec![], unreadable: 0, cursor: Some(format!("p{}", i + 1)) }))
                    .collect(),
            ),
            ..FakeStore::default()
        };
        let state = RevocationState::default();
        reload(&state, &endless, T);
        assert!(state.blocks_sessions(T));
        assert_eq!(endless.calls.get(), MAX_LIST_PAGES);
    }

    #[test]
    fn an_incomplete_reload_keeps_the_last_complete_list_for_a_while_then_fails_closed() {
        let state = RevocationState::default();
        reload(&state, &FakeStore::with_entries(3, 10, Some("revoked")), T);
        let down = FakeStore::failing();
        let t = T + REFRESH_SECONDS;
        assert_eq!(state.plan_reload(t), Reload::Background);
        pollster::block_on(state.reload(&down, t));
        assert!(down.logged("KV is down") && down.logged("keeping the complete list"), "{:?}", down.logs.borrow());
        assert!(!state.blocks_sessions(t + MAX_LIST_AGE_SECONDS - REFRESH_SECONDS));
        assert!(state.is_revoked(&session("revoked"), t));
        assert!(!state.is_revoked(&session("fine"), t));
        // Past the age bound: closed; requests wait for the next attempt, once per interval.
        let late = T + MAX_LIST_AGE_SECONDS + 1;
        assert!(state.blocks_sessions(late));
        assert!(state.is_revoked(&session("fine"), late));
        assert!(!state.is_settled(late));
        assert_eq!(state.plan_reload(late), Reload::Wait);
        pollster::block_on(state.reload(&down, late));
        assert!(down.logged("fail closed"));
        assert_eq!(state.plan_reload(late + 1), Reload::None, "retried after the interval, not on every request");
        assert!(state.is_revoked(&session("fine"), late + 1));
        // The store answers again: sessions are admitted again.
        let back = late + REFRESH_SECONDS;
        reload(&state, &FakeStore::with_entries(3, 10, Some("revoked")), back);
        assert!(!state.is_revoked(&session("fine"), back));
    }

    #[test]
    fn a_fresh_isolate_whose_store_cannot_be_listed_refuses_sessions() {
        // On main the failed first reload left an empty list in use: every ended session worked again.
        let state = RevocationState::default();
        assert!(!state.blocks_sessions(T), "no shared store (host tests, no binding): nothing to wait for");
        let down = FakeStore::failing();
        reload(&state, &down, T);
        assert!(state.blocks_sessions(T) && state.is_revoked(&session("fine"), T));
        assert!(down.logged("no complete list"));
    }

    #[test]
    fn concurrent_requests_of_a_fresh_isolate_share_one_reload() {
        let state = RevocationState::default();
        let store = FakeStore::with_entries(1500, 1000, Some("revoked"));
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
        assert_eq!(store.calls.get(), 2, "one reload: its two pages");
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
    /// went away, or `waitUntil` ran out of time, while the KV listing was pending) never ends its flight. The
    /// isolate then never reloaded again: its list aged past 5 minutes and every request waited 30 s and was
    /// refused — fail closed for good, for that isolate.
    #[test]
    fn a_reload_that_never_finishes_is_given_up() {
        let state = RevocationState::default();
        let store = FakeStore::with_entries(10, 1000, Some("revoked"));
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
