//! A deterministic platform: fixed clock (settable between steps), counter "randomness", a signature
//! verifier that accepts everything (so the claim checks behind it are reached), an HTTP client backed
//! by a closure, fixed secrets, a revocation store and a log kept in memory for the oracles.

use std::cell::{Cell, RefCell};

use edge_auth::core::oidc::jwks::{Alg, Jwk};
use edge_auth::core::ports::{Clock, CryptoError, HttpClient, Log, RevocationStore, Rng, Secrets, SignatureVerifier};
use edge_auth::core::fetch::{FetchError, HttpRequest, HttpResponse};
use edge_auth::core::session::revocation::RevocationPage;
use edge_auth::core::secret::Secret;
use edge_auth::core::session::revocation::Revocation;

use crate::fixtures::{CLIENT_SECRETS, NOW};

pub type Responder<'a> = Box<dyn Fn(&HttpRequest) -> Result<HttpResponse, FetchError> + 'a>;

pub struct FakePlatform<'a> {
    pub now: Cell<u64>,
    counter: Cell<u64>,
    responder: Responder<'a>,
    pub log: RefCell<Vec<String>>,
    pub sent: RefCell<Vec<HttpRequest>>,
    /// Every (alg, key) the verifier was asked about.
    pub verified: RefCell<Vec<(Alg, Jwk)>>,
    /// Every revocation written to the store (Workers KV in the worker).
    pub revocations: RefCell<Vec<Revocation>>,
}

impl<'a> FakePlatform<'a> {
    pub fn new(responder: Responder<'a>) -> Self {
        FakePlatform {
            now: Cell::new(NOW),
            counter: Cell::new(0),
            responder,
            log: RefCell::default(),
            sent: RefCell::default(),
            verified: RefCell::default(),
            revocations: RefCell::default(),
        }
    }

    /// A platform whose HTTP client always fails (for targets that never fetch).
    pub fn offline() -> FakePlatform<'static> {
        FakePlatform::new(Box::new(|_| Err(FetchError("offline".into()))))
    }

    pub fn with_rng_seed(self, seed: u8) -> Self {
        self.counter.set(u64::from(seed) << 32);
        self
    }
}

impl Clock for FakePlatform<'_> {
    fn now(&self) -> u64 {
        self.now.get()
    }
}

impl Rng for FakePlatform<'_> {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        let c = self.counter.get().wrapping_add(1);
        self.counter.set(c);
        let seed = c.to_le_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = seed[i % 8] ^ (i as u8).wrapping_mul(151);
        }
        Ok(())
    }
}

impl SignatureVerifier for FakePlatform<'_> {
    async fn verify(&self, alg: Alg, key: &Jwk, _input: &[u8], _signature: &[u8]) -> Result<bool, CryptoError> {
        self.verified.borrow_mut().push((alg, key.clone()));
        Ok(true)
    }
}

impl HttpClient for FakePlatform<'_> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, FetchError> {
        let reply = (self.responder)(&request);
        self.sent.borrow_mut().push(request);
        reply
    }
}

impl Secrets for FakePlatform<'_> {
    fn secret(&self, binding: &str) -> Option<Secret<String>> {
        CLIENT_SECRETS.iter().find(|(b, _)| *b == binding).map(|(_, v)| Secret::new(v.to_string()))
    }
}

impl Log for FakePlatform<'_> {
    fn warn(&self, message: &str) {
        self.log.borrow_mut().push(message.to_string());
    }
}

impl RevocationStore for FakePlatform<'_> {
    async fn record_revocation(&self, revocation: &Revocation, _ttl_seconds: u64) -> Result<(), FetchError> {
        self.revocations.borrow_mut().push(revocation.clone());
        Ok(())
    }

    async fn list_revocations(&self, _cursor: Option<&str>) -> Result<RevocationPage, FetchError> {
        Ok(RevocationPage::default())
    }
}
