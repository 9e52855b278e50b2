//! The seam between the sans-IO core and the platform: small traits the Workers shell implements with
//! WebCrypto, `fetch`, `Date.now()` and `crypto.getRandomValues`, and tests implement on the host.

use crate::core::http::cache_lifetime;
use crate::core::oidc::jwks::{Alg, HashAlg, Jwk};
use crate::core::secret::Secret;
use crate::core::session::revocation::Revocation;

/// An outgoing HTTP request (to an IdP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> HttpRequest {
        HttpRequest { method: "GET", url: url.into(), headers: vec![("accept", "application/json".into())], body: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// For how many more seconds the answer is fresh, as the platform found it: for an answer from the IdP,
    /// [`cache_lifetime`] of its `Cache-Control` (`None` with `no-store` or `private`); for a copy from the
    /// location's cache, what remains of the lifetime it was stored with ([`remaining_lifetime`]). The core
    /// keeps discovery documents and key sets in isolate memory for [`memory_lifetime`] of it.
    ///
    /// [`remaining_lifetime`]: crate::core::http::remaining_lifetime
    /// [`memory_lifetime`]: crate::core::http::memory_lifetime
    pub fresh_for: Option<u64>,
}

impl HttpResponse {
    /// An answer that carries no `Cache-Control` (fresh for the default hour).
    pub fn new(status: u16, body: Vec<u8>) -> HttpResponse {
        HttpResponse { status, body, fresh_for: cache_lifetime(None) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CryptoError(pub String);

/// Wall clock, in seconds since the Unix epoch.
pub trait Clock {
    fn now(&self) -> u64;
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
        Ok(crate::core::oidc::id_token::software_digest(hash, data))
    }
}

/// Outgoing HTTP.
#[allow(async_fn_in_trait)]
pub trait HttpClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, FetchError>;
}

/// Worker secrets by binding name.
pub trait Secrets {
    fn secret(&self, binding: &str) -> Option<Secret<String>>;
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

/// The shared store of ended sessions (Workers KV in the worker). The core decides everything else (bounds,
/// single flight, failing closed: [`crate::core::session::revocation_state`]).
#[allow(async_fn_in_trait)]
pub trait RevocationStore {
    /// Persist a revocation for `ttl_seconds` (the longest a session it ends could live).
    async fn record_revocation(&self, revocation: &Revocation, ttl_seconds: u64) -> Result<(), FetchError>;

    /// One page of what the store holds, from `cursor` (`None`: the first page).
    async fn list_revocations(&self, cursor: Option<&str>) -> Result<RevocationPage, FetchError>;
}

/// Operator log (never shown to visitors). Implementations must not be given secrets or tokens.
pub trait Log {
    fn warn(&self, message: &str);
}

/// Everything the flow needs from the platform.
pub trait Platform: Clock + Rng + SignatureVerifier + HttpClient + Secrets + Log + RevocationStore {}
impl<T: Clock + Rng + SignatureVerifier + HttpClient + Secrets + Log + RevocationStore> Platform for T {}
