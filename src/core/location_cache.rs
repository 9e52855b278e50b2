//! IdP documents in the location's shared cache (the Workers Cache API), behind the isolates' memory: every
//! decision, over two ports the worker implements with `caches.open` and `fetch` ([`CacheStore`], [`Network`]).
//!
//! Only requests the core marks as documents ([`HttpRequest::document`]: discovery documents, key sets) go near
//! the cache; per-user answers (UserInfo, Facebook's Graph `/me`) and token requests never do, whatever their
//! method ([`HttpRequest::may_read_shared_cache`]). The cache is edge-auth's own (never `caches.default`), but
//! any Worker of the zone can open a cache of that name: every copy carries a MAC ([`DOCUMENT_MAC_HEADER`],
//! [`KeyRing::document_mac`]) over its URL, its expiry and its body, and a copy without a valid one is a miss
//! (the operator is told, once per URL).
//!
//! A document is kept for as long as the IdP's `Cache-Control: max-age` says, bounded to 5 min – 24 h (1 h when
//! it says nothing; never with `no-store` or `private`: [`cache_lifetime`]), so a fresh isolate in the same
//! location does not ask the IdP again. The copy carries [`FRESH_UNTIL_HEADER`] (Unix seconds); a hit answers
//! with what remains of that lifetime as `fresh_for`, which is how long the isolate then keeps it in memory. A
//! copy past that time is kept for the stale window ([`STALE_WHILE_REVALIDATE_SECONDS`]) but used only when the
//! IdP cannot answer (stale-if-error, for isolates that never saw the document); a copy without the header is a
//! miss. A refetch ([`CachePolicy::DocumentRefetch`](crate::core::fetch::CachePolicy::DocumentRefetch), a typed
//! flag of the request, after an unknown `kid` or an unusable document) never reads the cache, and its answer
//! replaces the stored copy.

use std::cell::RefCell;

#[cfg(doc)]
use crate::core::cache::cache_lifetime;
use crate::core::cache::{
    cached_copy, CachedCopy, StoredResponse, DOCUMENT_MAC_HEADER, FRESH_UNTIL_HEADER, STALE_WHILE_REVALIDATE_SECONDS,
};
use crate::core::fetch::{FetchError, HttpRequest, HttpResponse};
use crate::core::log::{Event, Kind, Level};
use crate::core::ports::{CacheStore, Clock, Log, Network};
use crate::core::session::codec::KeyRing;

/// The `fresh_for` of an expired copy served in place of an IdP that did not answer `200` (stale-if-error): the
/// isolate treats it as due for a refresh at once. Never that of an answer from the network (at least 5 min, or
/// `None`) nor of a fresh copy (at least 1 s).
pub const STALE_COPY_FRESH_FOR: u64 = 0;

/// How many URLs with unauthentic copies an isolate remembers having reported (then it stays quiet).
pub const MAX_REPORTED_URLS: usize = 64;

/// The location's cache as one isolate uses it: what it has already told the operator.
#[derive(Debug, Default)]
pub struct LocationCache {
    /// URLs whose unauthentic copies were already reported.
    reported: RefCell<Vec<String>>,
}

impl LocationCache {
    /// Answer `request`: from the location's cache when it may be and a fresh, authentic copy is there; else from
    /// the network, falling back to a stale copy when the IdP cannot answer; a `200` document answer the IdP lets
    /// be kept is stored (with its expiry and MAC).
    pub async fn send<P>(&self, platform: &P, keys: &KeyRing, request: HttpRequest) -> Result<HttpResponse, FetchError>
    where
        P: CacheStore + Network + Clock + Log,
    {
        let mut stale = None;
        if request.may_read_shared_cache() {
            // A cache that cannot be read is a miss.
            let hit = platform.get(&request.url, [FRESH_UNTIL_HEADER, DOCUMENT_MAC_HEADER]).await.ok().flatten();
            match hit.and_then(|hit| self.judge(platform, keys, &request.url, hit)) {
                Some((CachedCopy::Fresh(_), hit)) => return Ok(hit),
                Some((CachedCopy::Stale, copy)) => stale = Some(copy),
                _ => {}
            }
        }
        let response = match (platform.fetch(&request).await.map(HttpResponse::from_network), stale) {
            (Ok(response), _) if response.status == 200 => response,
            // Stale-if-error across isolates: the IdP cannot answer, the location still has its last document.
            (failed, Some(copy)) => {
                let why = match failed {
                    Ok(r) => FetchError::Status(r.status),
                    Err(e) => e,
                };
                let message = format!("{why}; using the expired copy in the location's cache");
                let event = Event::new(Kind::IdpFetchFailed, Level::Warn)
                    .url(Some(&request.url))
                    .fetch_error(&why)
                    .stale(true)
                    .message(&message);
                platform.event(&event);
                return Ok(copy);
            }
            (failed, None) => failed?,
        };
        if request.may_store_in_shared_cache() && response.status == 200 {
            if let Some(seconds) = response.fresh_for {
                let headers = stored_headers(keys, &request.url, &response.body, seconds, platform.now());
                if let Err(e) = platform.put(&request.url, &headers, &response.body).await {
                    let message = format!("could not store the copy in the location's cache: {e}");
                    platform.event(&Event::new(Kind::Cache, Level::Warn).url(Some(&request.url)).message(&message));
                }
            }
        }
        Ok(response)
    }

    /// The location's copy, fresh (with what remains of its lifetime) or stale (`fresh_for` 0: the isolate
    /// treats it as due for a refresh at once); `None` for an unusable copy or one without a valid MAC.
    fn judge(
        &self,
        platform: &(impl Clock + Log),
        keys: &KeyRing,
        url: &str,
        hit: StoredResponse<2>,
    ) -> Option<(CachedCopy, HttpResponse)> {
        let [fresh_until, mac] = &hit.headers;
        let state = cached_copy(fresh_until.as_deref(), platform.now());
        let fresh_for = match state {
            CachedCopy::Fresh(left) => left,
            CachedCopy::Stale => STALE_COPY_FRESH_FOR,
            CachedCopy::Unusable => return None,
        };
        if hit.status != 200 {
            return None;
        }
        if !keys.verify_document_mac(url, fresh_until.as_deref(), &hit.body, mac.as_deref()) {
            self.report_unauthentic(platform, url);
            return None;
        }
        Some((state, HttpResponse { status: 200, body: hit.body, fresh_for: Some(fresh_for) }))
    }

    /// Tell the operator about a copy without a valid MAC, once per URL (per isolate, at most
    /// [`MAX_REPORTED_URLS`] of them).
    fn report_unauthentic(&self, log: &impl Log, url: &str) {
        let first = {
            let mut reported = self.reported.borrow_mut();
            let first = reported.len() < MAX_REPORTED_URLS && !reported.iter().any(|u| u == url);
            if first {
                reported.push(url.to_string());
            }
            first
        };
        if first {
            let message = "ignored the copy in the location's cache: its MAC is missing or wrong (another Worker \
                 wrote it, or a key since removed from SESSION_KEYS)";
            log.event(&Event::new(Kind::Cache, Level::Warn).url(Some(url)).message(message));
        }
    }
}

/// The headers of a document's copy fresh for `seconds` from `now`, as stored: kept by the cache past its
/// freshness for the stale window (a stale copy still serves when the IdP cannot answer), with its expiry and
/// its MAC.
pub fn stored_headers(keys: &KeyRing, url: &str, body: &[u8], seconds: u64, now: u64) -> [(&'static str, String); 4] {
    let keep = seconds.saturating_add(STALE_WHILE_REVALIDATE_SECONDS);
    let fresh_until = now.saturating_add(seconds);
    [
        ("content-type", "application/json".into()),
        ("cache-control", format!("public, max-age={keep}")),
        (FRESH_UNTIL_HEADER, fresh_until.to_string()),
        (DOCUMENT_MAC_HEADER, keys.document_mac(url, fresh_until, body)),
    ]
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::HashMap;

    use super::*;

    /// A copy as the fake cache holds it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Held {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    }

    impl Held {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
        }
    }
    use crate::core::fetch::{CachePolicy, NetworkResponse};

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";
    const OTHER_KEY: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA";
    const URL: &str = "https://idp.example/.well-known/openid-configuration";
    const NOW: u64 = 1_750_000_000;

    /// The location's cache and the network, on the host.
    #[derive(Default)]
    struct Fake {
        now: Cell<u64>,
        store: RefCell<HashMap<String, Held>>,
        gets: Cell<usize>,
        puts: Cell<usize>,
        /// The network's answer (`None`: unreachable).
        answer: RefCell<Option<NetworkResponse>>,
        fetched: RefCell<Vec<HttpRequest>>,
        cache_fails: Cell<bool>,
        logs: RefCell<Vec<String>>,
    }

    impl Fake {
        fn new() -> Fake {
            let fake = Fake::default();
            fake.now.set(NOW);
            fake
        }
        fn answers(&self, status: u16, cache_control: Option<&str>, body: &str) {
            *self.answer.borrow_mut() =
                Some(NetworkResponse { status, cache_control: cache_control.map(str::to_string), body: body.into() });
        }
        fn stored(&self, url: &str) -> Option<Held> {
            self.store.borrow().get(url).cloned()
        }
    }

    impl Clock for Fake {
        fn now(&self) -> u64 {
            self.now.get()
        }
    }
    impl Log for Fake {
        fn event(&self, event: &Event) {
            self.logs.borrow_mut().push(event.to_json(None));
        }
    }
    impl Network for Fake {
        async fn fetch(&self, request: &HttpRequest) -> Result<NetworkResponse, FetchError> {
            self.fetched.borrow_mut().push(request.clone());
            self.answer.borrow().clone().ok_or_else(|| FetchError::Network("connection refused".into()))
        }
    }
    impl CacheStore for Fake {
        async fn get<const N: usize>(
            &self,
            key: &str,
            headers: [&'static str; N],
        ) -> Result<Option<StoredResponse<N>>, FetchError> {
            self.gets.set(self.gets.get() + 1);
            if self.cache_fails.get() {
                return Err(FetchError::Network("the Cache API is not available".into()));
            }
            Ok(self.store.borrow().get(key).map(|held| StoredResponse {
                status: held.status,
                headers: headers.map(|name| held.header(name).map(str::to_string)),
                body: held.body.clone(),
            }))
        }
        async fn put(&self, key: &str, headers: &[(&'static str, String)], body: &[u8]) -> Result<(), FetchError> {
            self.puts.set(self.puts.get() + 1);
            if self.cache_fails.get() {
                return Err(FetchError::Network("the Cache API is not available".into()));
            }
            let copy = Held { status: 200, headers: headers.to_vec(), body: body.to_vec() };
            self.store.borrow_mut().insert(key.to_string(), copy);
            Ok(())
        }
        async fn delete(&self, key: &str) -> Result<bool, FetchError> {
            Ok(self.store.borrow_mut().remove(key).is_some())
        }
    }

    fn keys() -> KeyRing {
        KeyRing::from_secret(KEY).unwrap()
    }

    /// A copy as [`LocationCache::send`] stores it.
    fn stored_copy(keys: &KeyRing, url: &str, body: &[u8], seconds: u64, now: u64) -> Held {
        Held { status: 200, headers: stored_headers(keys, url, body, seconds, now).to_vec(), body: body.to_vec() }
    }

    fn send(cache: &LocationCache, fake: &Fake, request: HttpRequest) -> Result<HttpResponse, FetchError> {
        pollster::block_on(cache.send(fake, &keys(), request))
    }

    /// A copy of `body` stored `age` seconds ago, fresh for `seconds` from then.
    fn put_copy(fake: &Fake, url: &str, body: &str, seconds: u64, age: u64) {
        let copy = stored_copy(&keys(), url, body.as_bytes(), seconds, NOW - age);
        fake.store.borrow_mut().insert(url.to_string(), copy);
    }

    #[test]
    fn a_document_from_the_idp_is_stored_with_its_expiry_and_mac() {
        let (cache, fake) = (LocationCache::default(), Fake::new());
        fake.answers(200, Some("public, max-age=7200"), "{\"v\":1}");
        let r = send(&cache, &fake, HttpRequest::document(URL)).unwrap();
        assert_eq!((r.status, r.body.as_slice(), r.fresh_for), (200, &b"{\"v\":1}"[..], Some(7200)));
        let copy = fake.stored(URL).expect("stored");
        assert_eq!(copy.header(FRESH_UNTIL_HEADER), Some((NOW + 7200).to_string().as_str()));
        assert_eq!(copy.header("cache-control"), Some("public, max-age=93600"), "kept through the stale window");
        assert!(keys().verify_document_mac(
            URL,
            copy.header(FRESH_UNTIL_HEADER),
            &copy.body,
            copy.header(DOCUMENT_MAC_HEADER)
        ));
        assert!(fake.logs.borrow().is_empty());
    }

    #[test]
    fn a_fresh_authentic_copy_answers_without_the_idp() {
        let (cache, fake) = (LocationCache::default(), Fake::new());
        put_copy(&fake, URL, "{\"v\":\"cached\"}", 3600, 600);
        fake.answers(200, None, "{\"v\":\"idp\"}");
        let r = send(&cache, &fake, HttpRequest::document(URL)).unwrap();
        assert_eq!(r.body, b"{\"v\":\"cached\"}");
        assert_eq!(r.fresh_for, Some(3000), "what remains of its lifetime");
        assert!(fake.fetched.borrow().is_empty(), "the IdP is not asked");
        assert_eq!(fake.puts.get(), 0);
    }

    #[test]
    fn a_stale_copy_is_used_only_when_the_idp_cannot_answer() {
        // The IdP answers: its answer wins, and replaces the copy.
        let (cache, fake) = (LocationCache::default(), Fake::new());
        put_copy(&fake, URL, "{\"v\":\"old\"}", 3600, 4000);
        fake.answers(200, None, "{\"v\":\"new\"}");
        let r = send(&cache, &fake, HttpRequest::document(URL)).unwrap();
        assert_eq!((r.body.as_slice(), r.fresh_for), (&b"{\"v\":\"new\"}"[..], Some(3600)));
        assert_eq!(fake.stored(URL).unwrap().body, b"{\"v\":\"new\"}");
        // The IdP is down, or answers an error: the stale copy, due for a refresh at once, and a log line.
        for status in [None, Some(503), Some(404)] {
            let (cache, fake) = (LocationCache::default(), Fake::new());
            put_copy(&fake, URL, "{\"v\":\"old\"}", 3600, 4000);
            if let Some(status) = status {
                fake.answers(status, None, "down");
            }
            let r = send(&cache, &fake, HttpRequest::document(URL)).unwrap();
            assert_eq!(
                (r.status, r.body.as_slice(), r.fresh_for),
                (200, &b"{\"v\":\"old\"}"[..], Some(0)),
                "{status:?}"
            );
            assert_eq!(fake.puts.get(), 0, "{status:?}: nothing stored");
            let logs = fake.logs.borrow();
            assert!(
                logs.len() == 1
                    && logs[0].contains(r#""event":"idp_fetch_failed""#)
                    && logs[0].contains(r#""stale":true"#),
                "{logs:?}"
            );
        }
        // Past the stale window the copy is no fallback: the error stands.
        let (cache, fake) = (LocationCache::default(), Fake::new());
        put_copy(&fake, URL, "{\"v\":\"old\"}", 3600, 3600 + STALE_WHILE_REVALIDATE_SECONDS);
        assert_eq!(send(&cache, &fake, HttpRequest::document(URL)).unwrap_err().to_string(), "connection refused");
        fake.answers(503, None, "down");
        assert_eq!(send(&cache, &fake, HttpRequest::document(URL)).unwrap().status, 503);
    }

    #[test]
    fn a_copy_without_a_valid_mac_or_expiry_is_a_miss_reported_once() {
        let cache = LocationCache::default();
        let fake = Fake::new();
        fake.answers(200, None, "{\"v\":\"idp\"}");
        let forged = |fake: &Fake, mangle: fn(&mut Held)| {
            let mut copy = stored_copy(&keys(), URL, b"{\"v\":\"forged\"}", 3600, NOW);
            mangle(&mut copy);
            fake.store.borrow_mut().insert(URL.into(), copy);
        };
        let mangles: [fn(&mut Held); 5] = [
            |c| c.body = b"{\"v\":\"evil\"}".to_vec(),
            |c| c.headers.retain(|(k, _)| *k != DOCUMENT_MAC_HEADER),
            |c| {
                // Another key (a Worker of the zone that does not know SESSION_KEYS).
                let other = KeyRing::from_secret(OTHER_KEY).unwrap();
                *c = stored_copy(&other, URL, &c.body, 3600, NOW);
            },
            |c| {
                // A later expiry than the one the MAC covers.
                for (k, v) in &mut c.headers {
                    if *k == FRESH_UNTIL_HEADER {
                        *v = (NOW + 80_000).to_string();
                    }
                }
            },
            |c| c.headers.retain(|(k, _)| *k != FRESH_UNTIL_HEADER),
        ];
        for (i, mangle) in mangles.into_iter().enumerate() {
            forged(&fake, mangle);
            let r = send(&cache, &fake, HttpRequest::document(URL)).unwrap();
            assert_eq!(r.body, b"{\"v\":\"idp\"}", "case {i}: the IdP answers");
        }
        assert_eq!(fake.fetched.borrow().len(), 5);
        let logs = fake.logs.borrow();
        assert_eq!(logs.len(), 1, "reported once per URL: {logs:?}");
        assert!(logs[0].contains("its MAC is missing or wrong"), "{logs:?}");
        // A stale forged copy is no fallback either.
        let fake = Fake::new();
        let mut copy = stored_copy(&keys(), URL, b"{}", 3600, NOW - 4000);
        copy.body = b"{\"v\":\"evil\"}".to_vec();
        fake.store.borrow_mut().insert(URL.into(), copy);
        assert!(send(&cache, &fake, HttpRequest::document(URL)).is_err());
        // A copy stored with another status is a miss.
        let fake = Fake::new();
        let mut copy = stored_copy(&keys(), URL, b"{}", 3600, NOW);
        copy.status = 404;
        fake.store.borrow_mut().insert(URL.into(), copy);
        fake.answers(200, None, "{\"v\":\"idp\"}");
        assert_eq!(send(&cache, &fake, HttpRequest::document(URL)).unwrap().body, b"{\"v\":\"idp\"}");
    }

    #[test]
    fn reports_are_bounded() {
        let (cache, fake) = (LocationCache::default(), Fake::new());
        for i in 0..MAX_REPORTED_URLS + 10 {
            cache.report_unauthentic(&fake, &format!("https://idp.example/{i}"));
        }
        cache.report_unauthentic(&fake, "https://idp.example/0");
        assert_eq!(fake.logs.borrow().len(), MAX_REPORTED_URLS);
    }

    #[test]
    fn a_refetch_bypasses_reading_but_stores() {
        let (cache, fake) = (LocationCache::default(), Fake::new());
        put_copy(&fake, URL, "{\"v\":\"cached\"}", 3600, 0);
        fake.answers(200, Some("max-age=600"), "{\"v\":\"idp\"}");
        let request = HttpRequest::document(URL).refetched();
        assert_eq!(request.cache, CachePolicy::DocumentRefetch);
        let r = send(&cache, &fake, request).unwrap();
        assert_eq!(r.body, b"{\"v\":\"idp\"}");
        assert_eq!(fake.gets.get(), 0, "the cache is not read");
        assert_eq!(fake.stored(URL).unwrap().body, b"{\"v\":\"idp\"}", "the answer replaces the copy");
        // A failed refetch does not fall back to the copy (it was never read).
        fake.answer.borrow_mut().take();
        assert!(send(&cache, &fake, HttpRequest::document(URL).refetched()).is_err());
    }

    #[test]
    fn answers_the_idp_marks_no_store_or_private_or_not_200_are_not_stored() {
        for (status, cc) in [(200, "no-store"), (200, "private, max-age=600"), (404, "max-age=600"), (500, "")] {
            let (cache, fake) = (LocationCache::default(), Fake::new());
            fake.answers(status, Some(cc), "{}");
            let r = send(&cache, &fake, HttpRequest::document(URL)).unwrap();
            assert_eq!(r.status, status);
            assert_eq!((fake.puts.get(), fake.stored(URL)), (0, None), "{status} {cc}");
        }
    }

    #[test]
    fn per_user_requests_never_touch_the_cache() {
        let token = HttpRequest {
            method: "POST",
            url: URL.into(),
            headers: vec![],
            body: Some("grant_type=authorization_code".into()),
            cache: CachePolicy::Never,
        };
        let userinfo = HttpRequest {
            headers: vec![("authorization", "Bearer at".into())],
            cache: CachePolicy::Never,
            ..HttpRequest::document(URL)
        };
        let mut with_credentials = HttpRequest::document(URL);
        with_credentials.headers.push(("Authorization", "Bearer at".into()));
        let mut refetch_with_cookie = HttpRequest::document(URL).refetched();
        refetch_with_cookie.headers.push(("cookie", "a=b".into()));
        for request in [token, userinfo, with_credentials, refetch_with_cookie] {
            let (cache, fake) = (LocationCache::default(), Fake::new());
            put_copy(&fake, URL, "{\"v\":\"cached\"}", 3600, 0);
            fake.answers(200, Some("max-age=3600"), "{\"v\":\"user\"}");
            let r = send(&cache, &fake, request.clone()).unwrap();
            assert_eq!(r.body, b"{\"v\":\"user\"}", "{request:?}");
            assert_eq!((fake.gets.get(), fake.puts.get()), (0, 0), "{request:?}");
            assert_eq!(fake.fetched.borrow().as_slice(), [request]);
        }
    }

    #[test]
    fn a_cache_that_fails_is_a_miss_and_a_logged_store_failure() {
        let (cache, fake) = (LocationCache::default(), Fake::new());
        fake.cache_fails.set(true);
        fake.answers(200, None, "{}");
        assert_eq!(send(&cache, &fake, HttpRequest::document(URL)).unwrap().status, 200);
        let logs = fake.logs.borrow();
        assert!(logs.len() == 1 && logs[0].contains(r#""event":"cache""#) && logs[0].contains(URL), "{logs:?}");
    }
}
