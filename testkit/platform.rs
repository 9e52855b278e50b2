//! `FakePlatform`: every port the core asks of its host (`edge_auth::core::ports`), in memory and
//! deterministic, with everything the core did kept for the assertions and oracles.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use edge_auth::core::fetch::{FetchError, HttpRequest, HttpResponse};
use edge_auth::core::oidc::jwks::{Alg, Jwk};
use edge_auth::core::ports::{
    Clock, CryptoError, HttpClient, KeyUnwrapper, Log, OaepHash, ReplayGuard, RevocationStore, Rng, Secrets,
    SignatureVerifier, UnwrapError,
};
use edge_auth::core::replay::{Claim, ReplayStoreError};
use edge_auth::core::secret::Secret;
use edge_auth::core::session::revocation::{Recorded, Revocation, RevocationPage};

use super::futures::YieldOnce;

/// What the HTTP client answers.
pub type Answer = Result<HttpResponse, FetchError>;
/// Answers requests that no scripted route names (the fuzzer's IdP).
pub type Responder<'a> = Box<dyn Fn(&HttpRequest) -> Answer + 'a>;

/// A network failure (with [`fetch_failure`], the one place the kit builds the core's fetch error).
pub fn fetch_error(message: impl Into<String>) -> FetchError {
    FetchError::Network(message.into())
}

/// Each way a fetch fails, picked by `which` (the fuzzer's choice), so that every mapping of a fetch error is
/// reached: a timeout, a too-large answer, a request the runtime cannot build, a network failure.
pub fn fetch_failure(which: usize, message: impl Into<String>) -> FetchError {
    match which % 4 {
        0 => FetchError::Timeout { seconds: 10 },
        1 => FetchError::TooLarge { limit: 512 * 1024 },
        2 => FetchError::InvalidRequest(message.into()),
        _ => FetchError::Network(message.into()),
    }
}

fn crypto_error(message: impl Into<String>) -> CryptoError {
    CryptoError(message.into())
}

/// How signatures are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verifier {
    /// `ring`, the reference implementation (the worker uses WebCrypto): real signatures pass, others fail.
    Ring,
    /// Every signature passes (the fuzzer's choice: the claim checks behind the signature are reached). Each
    /// call is still recorded in `verified`.
    AcceptAll,
}

pub struct FakePlatform<'a> {
    /// The clock, in seconds since the epoch: set or [`FakePlatform::advance`] it between requests.
    pub now: Cell<u64>,
    rng_counter: Cell<u64>,
    /// How many times the RNG was asked.
    pub random_calls: Cell<u32>,
    pub verifier: Verifier,
    pub verify_calls: Cell<u32>,
    /// Every (alg, key) the verifier was asked about.
    pub verified: RefCell<Vec<(Alg, Jwk)>>,
    /// When set, every HTTP request suspends once before answering, so that concurrent flows interleave.
    pub yield_on_send: Cell<bool>,
    /// Scripted answers by exact URL, served in order; the last one repeats.
    routes: RefCell<HashMap<String, Vec<Answer>>>,
    /// Answers what no route names (default: "no route").
    responder: Option<Responder<'a>>,
    /// Every request that reached the network (not the ones the location's cache answered).
    pub requests: RefCell<Vec<HttpRequest>>,
    secrets: HashMap<String, String>,
    /// The operator log's lines of level `warn` and `error` (JSON, as the worker writes them).
    pub logs: RefCell<Vec<String>>,
    /// Every line of the operator log, `info` included (JSON, as the worker writes them).
    pub lines: RefCell<Vec<String>>,
    /// What the flow wrote to the revocation log and the log took, with how long it lasts (`until` - now).
    pub revocations: RefCell<Vec<(Revocation, u64)>>,
    /// The revocation log (the worker's Durable Object, src/js/revocation_log.mjs): its entries with their
    /// sequence numbers, in the order written, within its bounds ([`LOG_LIMITS`]). Recorded revocations are
    /// added; a test adds entries as other isolates would with [`FakePlatform::log_append`].
    pub stored: RefCell<Vec<(u64, Revocation)>>,
    last_seq: Cell<u64>,
    /// Whether reading the log fails.
    pub list_fails: Cell<bool>,
    /// Whether the RNG fails (no entropy).
    pub rng_fails: Cell<bool>,
    /// Whether writing to the store fails.
    pub record_fails: Cell<bool>,
    /// Calls to the revocation log's `record` (each one a Durable Object request), taken or not.
    pub record_calls: Cell<u32>,
    /// The location's cache (the Workers Cache API): copies by URL that answer requests the core lets read a
    /// shared cache, without reaching the IdP (not counted in `requests`).
    pub location_cache: RefCell<HashMap<String, HttpResponse>>,
    /// The network-wide single-use store (the worker's Durable Object): `(scope, key)` → until. Shared by every
    /// flow (isolate) that uses this platform.
    pub claims: RefCell<HashMap<(String, String), u64>>,
    /// Every claim asked, in order: `(scope, key, until)`.
    pub claim_calls: RefCell<Vec<(String, String, u64)>>,
    /// Whether the single-use store is unreachable.
    pub claims_fail: Cell<bool>,
}

impl<'a> FakePlatform<'a> {
    /// A platform at `now`: `ring` verifies, no secrets, no routes.
    pub fn at(now: u64) -> FakePlatform<'a> {
        FakePlatform {
            now: Cell::new(now),
            rng_counter: Cell::new(0),
            random_calls: Cell::new(0),
            verifier: Verifier::Ring,
            verify_calls: Cell::new(0),
            verified: RefCell::default(),
            yield_on_send: Cell::new(false),
            routes: RefCell::default(),
            responder: None,
            requests: RefCell::default(),
            secrets: HashMap::new(),
            logs: RefCell::default(),
            lines: RefCell::default(),
            revocations: RefCell::default(),
            stored: RefCell::default(),
            last_seq: Cell::new(0),
            list_fails: Cell::new(false),
            rng_fails: Cell::new(false),
            record_fails: Cell::new(false),
            record_calls: Cell::new(0),
            location_cache: RefCell::default(),
            claims: RefCell::default(),
            claim_calls: RefCell::default(),
            claims_fail: Cell::new(false),
        }
    }

    /// A platform whose HTTP client always fails, and whose verifier accepts (for targets that never fetch).
    pub fn offline(now: u64) -> FakePlatform<'static> {
        FakePlatform::at(now)
            .with_verifier(Verifier::AcceptAll)
            .with_responder(Box::new(|_| Err(fetch_error("offline"))))
    }

    pub fn with_verifier(mut self, verifier: Verifier) -> Self {
        self.verifier = verifier;
        self
    }

    pub fn with_responder(mut self, responder: Responder<'a>) -> Self {
        self.responder = Some(responder);
        self
    }

    pub fn with_secrets<'s>(mut self, secrets: impl IntoIterator<Item = (&'s str, &'s str)>) -> Self {
        self.secrets.extend(secrets.into_iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Another deterministic random stream (the fuzzer's choice).
    pub fn with_rng_seed(self, seed: u8) -> Self {
        self.rng_counter.set(u64::from(seed) << 32);
        self
    }

    pub fn advance(&self, seconds: u64) {
        self.now.set(self.now.get() + seconds);
    }

    /// Answer `url` with `answers` in order (the last one repeats).
    pub fn route(&self, url: &str, answers: Vec<Answer>) {
        self.routes.borrow_mut().insert(url.to_string(), answers);
    }

    pub fn requests_to(&self, url: &str) -> Vec<HttpRequest> {
        self.requests.borrow().iter().filter(|r| r.url == url).cloned().collect()
    }

    pub fn count(&self, url: &str) -> usize {
        self.requests.borrow().iter().filter(|r| r.url == url).count()
    }

    /// The `warn` and `error` lines.
    pub fn logs(&self) -> Vec<String> {
        self.logs.borrow().clone()
    }

    /// Every line, parsed (each one must be one JSON object).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lines
            .borrow()
            .iter()
            .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
                Ok(v) if v.is_object() => v,
                _ => panic!("not a JSON object line: {l}"),
            })
            .collect()
    }

    /// The events named `name` (`sign_in`, `revocation`...).
    pub fn events_named(&self, name: &str) -> Vec<serde_json::Value> {
        self.events().into_iter().filter(|e| e["event"] == name).collect()
    }

    /// Add an entry to the revocation log under its next sequence number (as another isolate would write it).
    pub fn log_append(&self, revocation: Revocation) {
        self.last_seq.set(self.last_seq.get() + 1);
        self.stored.borrow_mut().push((self.last_seq.get(), revocation));
    }

    /// The revocations recorded so far, without their TTLs.
    pub fn recorded_revocations(&self) -> Vec<Revocation> {
        self.revocations.borrow().iter().map(|(r, _)| r.clone()).collect()
    }
}

impl Clock for FakePlatform<'_> {
    fn now(&self) -> u64 {
        self.now.get()
    }
}

impl Rng for FakePlatform<'_> {
    /// Deterministic and distinct per call: a big-endian call counter (offset by the seed), then the byte index.
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        if self.rng_fails.get() {
            return Err(crypto_error("the entropy source is gone"));
        }
        self.random_calls.set(self.random_calls.get() + 1);
        let c = self.rng_counter.get().wrapping_add(1);
        self.rng_counter.set(c);
        let prefix = c.to_be_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = prefix.get(i).copied().unwrap_or(i as u8);
        }
        Ok(())
    }
}

impl SignatureVerifier for FakePlatform<'_> {
    async fn verify(&self, alg: Alg, key: &Jwk, signing_input: &[u8], sig: &[u8]) -> Result<bool, CryptoError> {
        self.verify_calls.set(self.verify_calls.get() + 1);
        self.verified.borrow_mut().push((alg, key.clone()));
        match self.verifier {
            Verifier::AcceptAll => Ok(true),
            Verifier::Ring => super::idp::ring_verify(alg, key, signing_input, sig).map_err(crypto_error),
        }
    }

    /// Counted in `verify_calls`, not in `verified` (which holds JOSE algorithms: RSA-SHA1 is none).
    async fn verify_rsa_sha1(&self, key: &Jwk, signed: &[u8], sig: &[u8]) -> Result<bool, CryptoError> {
        self.verify_calls.set(self.verify_calls.get() + 1);
        match self.verifier {
            Verifier::AcceptAll => Ok(true),
            Verifier::Ring => super::idp::ring_verify_rsa_sha1(key, signed, sig).map_err(crypto_error),
        }
    }
}

impl KeyUnwrapper for FakePlatform<'_> {
    async fn rsa_oaep_decrypt(&self, key: &[u8], hash: OaepHash, encrypted: &[u8]) -> Result<Vec<u8>, UnwrapError> {
        super::idp::rsa_oaep_decrypt(key, hash, encrypted)
    }
}

impl HttpClient for FakePlatform<'_> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, FetchError> {
        let url = request.url.clone();
        if request.may_read_shared_cache() {
            if let Some(hit) = self.location_cache.borrow().get(&url).cloned() {
                return Ok(hit);
            }
        }
        let routed = {
            let mut routes = self.routes.borrow_mut();
            routes.get_mut(&url).map(|answers| {
                if answers.len() > 1 {
                    answers.remove(0)
                } else {
                    answers.first().cloned().unwrap_or_else(|| Err(fetch_error("connection refused")))
                }
            })
        };
        let answer = match (routed, &self.responder) {
            (Some(answer), _) => answer,
            (None, Some(responder)) => responder(&request),
            (None, None) => Err(fetch_error(format!("no route to {url}"))),
        };
        self.requests.borrow_mut().push(request);
        if self.yield_on_send.get() {
            YieldOnce(false).await;
        }
        answer
    }
}

impl Secrets for FakePlatform<'_> {
    fn secret(&self, binding: &str) -> Option<Secret<String>> {
        self.secrets.get(binding).map(|s| Secret::new(s.clone()))
    }
}

/// The revocation log's bounds (`limits` in src/js/revocation_log.mjs): entries per connector, in all, and
/// the unauthenticated front-channel's share of each.
pub struct LogLimits {
    pub per_connector: usize,
    pub all: usize,
    pub unauthenticated_per_connector: usize,
    pub unauthenticated: usize,
}

pub const LOG_LIMITS: LogLimits =
    LogLimits { per_connector: 10_000, all: 40_000, unauthenticated_per_connector: 5_000, unauthenticated: 20_000 };

/// The log's rules (src/js/revocation_log.mjs `record`): a known entry is merged (later time, later end,
/// authenticated once a signed channel said so); a new one is refused beyond the bounds.
impl RevocationStore for FakePlatform<'_> {
    async fn record_revocation(&self, revocation: &Revocation) -> Result<Recorded, FetchError> {
        self.record_calls.set(self.record_calls.get() + 1);
        if self.record_fails.get() {
            return Err(fetch_error("the revocation log is down (test)"));
        }
        let key = revocation.store_key();
        let known = self.stored.borrow().iter().position(|(_, r)| r.store_key() == key);
        if let Some(i) = known {
            let (_, mut merged) = self.stored.borrow_mut().remove(i);
            merged.at = merged.at.max(revocation.at);
            merged.until = merged.until.max(revocation.until);
            merged.unauthenticated &= revocation.unauthenticated;
            self.log_append(merged);
            return Ok(Recorded::Written);
        }
        let stored: Vec<Revocation> = self.stored.borrow().iter().map(|(_, r)| r.clone()).collect();
        let connector = |r: &&Revocation| r.connector == revocation.connector;
        let mine = stored.iter().filter(connector).count();
        if mine >= LOG_LIMITS.per_connector {
            return Ok(Recorded::ConnectorFull { count: mine, limit: LOG_LIMITS.per_connector });
        }
        if stored.len() >= LOG_LIMITS.all {
            return Ok(Recorded::StoreFull { count: stored.len(), limit: LOG_LIMITS.all });
        }
        if revocation.unauthenticated {
            let anonymous = stored.iter().filter(connector).filter(|r| r.unauthenticated).count();
            if anonymous >= LOG_LIMITS.unauthenticated_per_connector {
                let limit = LOG_LIMITS.unauthenticated_per_connector;
                return Ok(Recorded::ConnectorFull { count: anonymous, limit });
            }
            let all = stored.iter().filter(|r| r.unauthenticated).count();
            if all >= LOG_LIMITS.unauthenticated {
                return Ok(Recorded::StoreFull { count: all, limit: LOG_LIMITS.unauthenticated });
            }
        }
        let ttl = revocation.until.saturating_sub(self.now());
        self.revocations.borrow_mut().push((revocation.clone(), ttl));
        self.log_append(revocation.clone());
        Ok(Recorded::Written)
    }

    async fn revocations_since(&self, cursor: u64) -> Result<RevocationPage, FetchError> {
        if self.list_fails.get() {
            return Err(fetch_error("the revocation log cannot be read (test)"));
        }
        let stored = self.stored.borrow();
        let after: Vec<&(u64, Revocation)> = stored.iter().filter(|(seq, _)| *seq > cursor).collect();
        let page = &after[..after.len().min(1000)];
        Ok(RevocationPage {
            generation: "test".into(),
            entries: page.iter().map(|(_, r)| r.clone()).collect(),
            unreadable: 0,
            next: page.last().map_or(cursor, |(seq, _)| *seq),
            more: after.len() > page.len(),
        })
    }
}

/// The Durable Object's rule: the first claim of a key wins; a key is forgotten after its `until`.
impl ReplayGuard for FakePlatform<'_> {
    async fn claim(&self, scope: &str, id: &str, until: u64) -> Result<Claim, ReplayStoreError> {
        self.claim_calls.borrow_mut().push((scope.to_string(), id.to_string(), until));
        if self.claims_fail.get() {
            return Err(ReplayStoreError("the Durable Object did not answer".into()));
        }
        let now = self.now.get();
        let mut claims = self.claims.borrow_mut();
        claims.retain(|_, u| *u > now);
        match claims.entry((scope.to_string(), id.to_string())) {
            std::collections::hash_map::Entry::Occupied(_) => Ok(Claim::Seen),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(until);
                Ok(Claim::First)
            }
        }
    }
}

/// The request id the test platform writes into every line.
pub const TEST_REQUEST_ID: &str = "test-request";

impl Log for FakePlatform<'_> {
    fn event(&self, event: &edge_auth::core::log::Event) {
        let line = event.to_json(Some(TEST_REQUEST_ID));
        if event.level != edge_auth::core::log::Level::Info {
            self.logs.borrow_mut().push(line.clone());
        }
        self.lines.borrow_mut().push(line);
    }
}

/// A JSON answer with this status.
pub fn json_response(status: u16, body: &serde_json::Value) -> Answer {
    Ok(HttpResponse::new(status, body.to_string().into_bytes()))
}

/// An answer the platform says is fresh for `fresh_for` seconds (`None`: the IdP said `no-store`).
pub fn fresh_json(body: &serde_json::Value, fresh_for: Option<u64>) -> Answer {
    Ok(HttpResponse { status: 200, body: body.to_string().into_bytes(), fresh_for })
}

pub fn network_error() -> Answer {
    Err(fetch_error("connection refused"))
}
