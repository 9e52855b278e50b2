//! The ports: the seam between the sans-IO core and the platform, traits only. Small traits the Workers shell
//! implements with WebCrypto, `fetch`, the Cache API, Durable Objects, `Date.now()` and `crypto.getRandomValues`,
//! and the test kit (`testkit/`) implements on the host.

use crate::core::cache::StoredResponse;
use crate::core::fetch::{FetchError, HttpRequest, HttpResponse, NetworkResponse};
use crate::core::oidc::jwks::{Alg, HashAlg, Jwk};
use crate::core::replay::{Claim, ReplayStoreError};
use crate::core::secret::Secret;
use crate::core::session::revocation::{Recorded, Revocation, RevocationPage};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CryptoError(pub String);

/// Wall clock, in seconds since the Unix epoch.
pub trait Clock {
    fn now(&self) -> u64;

    /// A short pause of the calling request, for a request that waits for another one's fetch to finish (see
    /// `core::flow::providers`): it checks again after each pause. The worker sleeps on a timer of the calling
    /// request (a few milliseconds): in workerd a request must wait on an event of its own — one woken from
    /// another request's context would run there, and one with nothing pending is cancelled as hung. The
    /// default yields once.
    #[allow(async_fn_in_trait)]
    async fn pause(&self) {
        YieldOnce(false).await
    }
}

/// A future that is pending once (and asks to be polled again at once), then ready.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// Cryptographically secure randomness.
pub trait Rng {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError>;
}

/// Verifies a JWS signature with a public JWK. `Ok(false)` = bad signature; `Err` = the key or algorithm
/// could not be used (treated as a refusal too).
#[allow(async_fn_in_trait)]
pub trait SignatureVerifier {
    async fn verify(&self, alg: Alg, key: &Jwk, signing_input: &[u8], signature: &[u8]) -> Result<bool, CryptoError>;

    /// SHA-384 or SHA-512 of `data` (for `at_hash`/`c_hash` of tokens signed with those hashes; SHA-256 is
    /// computed in Rust). The default computes it in Rust; the worker asks WebCrypto, which keeps SHA-512's
    /// code out of the wasm.
    async fn long_digest(&self, hash: HashAlg, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(hash.digest_in_software(data))
    }

    /// RSASSA-PKCS1-v1_5 with SHA-1 (XML-DSig's `rsa-sha1`): only for the XML signatures of a SAML connector
    /// with `allow_sha1` (deprecated). Not an [`Alg`], so nothing of OpenID Connect can ask for it. The default
    /// refuses (an `Err` is a refusal); the worker verifies with WebCrypto.
    async fn verify_rsa_sha1(&self, _key: &Jwk, _signed: &[u8], _signature: &[u8]) -> Result<bool, CryptoError> {
        Err(CryptoError("RSA-SHA1 signatures are not verified here".into()))
    }
}

/// The hash of an RSA-OAEP key transport, used for both the OAEP digest and MGF1 (WebCrypto takes one hash for
/// both; XML Encryption's `rsa-oaep-mgf1p` is SHA-1 for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepHash {
    Sha1,
    Sha256,
}

/// Why an RSA-OAEP key could not be unwrapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnwrapError {
    /// The private key itself is unusable (not PKCS #8, not RSA): the operator's configuration. The message
    /// never holds key material.
    #[error("the private key cannot be used: {0}")]
    PrivateKey(String),
    /// The encrypted key does not decrypt with this private key (another key, or tampered).
    #[error("the encrypted key does not decrypt with the SP's private key")]
    Decrypt,
}

/// Decrypts a content key sent with RSA-OAEP key transport (XML Encryption's `EncryptedKey`), with the SP's
/// private key (PKCS #8 DER, no OAEP label). The worker uses WebCrypto (`importKey("pkcs8")` + `decrypt`).
#[allow(async_fn_in_trait)]
pub trait KeyUnwrapper {
    async fn rsa_oaep_decrypt(
        &self,
        private_key_pkcs8: &[u8],
        hash: OaepHash,
        encrypted_key: &[u8],
    ) -> Result<Vec<u8>, UnwrapError>;
}

/// Outgoing HTTP, as the flow sees it: an answer from the IdP, or from the location's shared cache when the
/// request may be answered from it. The worker implements it with
/// [`LocationCache::send`](crate::core::location_cache::LocationCache::send) over [`Network`] and [`CacheStore`].
#[allow(async_fn_in_trait)]
pub trait HttpClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, FetchError>;
}

/// One request on the network, nothing cached: the worker's `fetch`, with its timeout and its cap on the
/// answer's size. The answer's `Cache-Control` is reported as data; the core decides what it means.
#[allow(async_fn_in_trait)]
pub trait Network {
    async fn fetch(&self, request: &HttpRequest) -> Result<NetworkResponse, FetchError>;
}

/// The location's shared cache (the Workers Cache API, edge-auth's own named cache): responses by key, no
/// more than the Cache API does. What is read, what is used, what is stored and how copies are authenticated is
/// decided by the core ([`crate::core::location_cache`]).
#[allow(async_fn_in_trait)]
pub trait CacheStore {
    /// The stored copy (`None`: a miss), with the values of the headers named in `headers`, in that order.
    /// Its body is read with the same cap as the network's answers.
    async fn get<const N: usize>(
        &self,
        key: &str,
        headers: [&'static str; N],
    ) -> Result<Option<StoredResponse<N>>, FetchError>;
    /// Store a `200` response with these headers and this body under `key` (replacing any copy); how long the
    /// cache keeps it is its `cache-control`.
    async fn put(&self, key: &str, headers: &[(&'static str, String)], body: &[u8]) -> Result<(), FetchError>;
    /// Remove the copy under `key`; `true` when there was one.
    async fn delete(&self, key: &str) -> Result<bool, FetchError>;
}

/// Worker secrets by binding name.
pub trait Secrets {
    fn secret(&self, binding: &str) -> Option<Secret<String>>;
}

/// The shared log of ended sessions (a Durable Object in the worker). The core decides everything else (bounds,
/// single flight, failing closed: [`crate::core::session::revocation_state`]).
#[allow(async_fn_in_trait)]
pub trait RevocationStore {
    /// Write a revocation to the log (until its [`Revocation::until`]), unless the log's bounds refuse it:
    /// atomically, from any isolate.
    async fn record_revocation(&self, revocation: &Revocation) -> Result<Recorded, FetchError>;

    /// One page of what was written after sequence number `cursor` (0: from the start).
    async fn revocations_since(&self, cursor: u64) -> Result<RevocationPage, FetchError>;
}

/// The network-wide single-use store (a Durable Object in the worker, see [`crate::core::replay`]): claim `id`
/// in `scope` until `until` (seconds since the epoch). Atomic: of two claims of one id, from any isolates, one
/// is [`Claim::First`]. Never called on the hot path.
#[allow(async_fn_in_trait)]
pub trait ReplayGuard {
    async fn claim(&self, scope: &str, id: &str, until: u64) -> Result<Claim, ReplayStoreError>;
}

/// Operator log (never shown to visitors): structured events, one JSON line each ([`crate::core::log`]).
/// Implementations write [`Event::to_json`](crate::core::log::Event::to_json) with the request's id, at the
/// event's level. Events never hold secrets or tokens.
pub trait Log {
    fn event(&self, event: &crate::core::log::Event);

    /// Free text as a `warning` event. Prefer a typed event (a [`crate::core::log::Kind`] of its own).
    fn warn(&self, message: &str) {
        self.event(&crate::core::log::Event::warning(message))
    }
}

/// Everything the flow needs from the platform.
pub trait Platform:
    Clock + Rng + SignatureVerifier + KeyUnwrapper + HttpClient + Secrets + Log + RevocationStore + ReplayGuard
{
}
impl<
        T: Clock + Rng + SignatureVerifier + KeyUnwrapper + HttpClient + Secrets + Log + RevocationStore + ReplayGuard,
    > Platform for T
{
}
