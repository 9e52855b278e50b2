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
    /// Whether the answer may be kept in (and taken from) the location's shared cache: decided by the caller,
    /// never by the method. Only public IdP documents may; everything else never is.
    pub cache: CachePolicy,
}

/// What the platform may do with an IdP answer in the location's shared cache (the Workers Cache API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// Never put in, never read from a shared cache: per-user answers (UserInfo, Facebook's Graph `/me`),
    /// token requests, anything not listed below.
    Never,
    /// A public document of the IdP, the same for everyone (discovery document, key set, federation
    /// metadata): a copy in the shared cache may answer, and the IdP's answer is stored there.
    Document,
    /// The same kind of document, refetched past every cache (after an unknown `kid`): the IdP is asked
    /// (with `Cache-Control: no-cache`), its answer replaces the stored copy.
    DocumentRefetch,
}

impl HttpRequest {
    /// `GET` of a public IdP document (discovery, key set): the one kind of request whose answer may be
    /// shared through the location's cache.
    pub fn document(url: impl Into<String>) -> HttpRequest {
        HttpRequest {
            method: "GET",
            url: url.into(),
            headers: vec![("accept", "application/json".into())],
            body: None,
            cache: CachePolicy::Document,
        }
    }

    /// The same document, past every cache: the point is to see what the IdP published since.
    pub fn refetched(mut self) -> HttpRequest {
        self.headers.push(("cache-control", "no-cache".to_string()));
        self.cache = CachePolicy::DocumentRefetch;
        self
    }

    /// Whether the shared cache may answer this request. Besides the caller's policy, never for anything but a
    /// plain `GET` without credentials (a request carrying `authorization` is someone's, whatever it says).
    pub fn may_read_shared_cache(&self) -> bool {
        self.cache == CachePolicy::Document && self.is_public_get()
    }

    /// Whether the answer to this request may be stored in the shared cache (the IdP's `Cache-Control` has
    /// its say too: see [`HttpResponse::fresh_for`]).
    pub fn may_store_in_shared_cache(&self) -> bool {
        self.cache != CachePolicy::Never && self.is_public_get()
    }

    fn is_public_get(&self) -> bool {
        self.method == "GET"
            && self.body.is_none()
            && !self
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("cookie"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_documents_may_be_shared_and_the_caller_decides() {
        let doc = HttpRequest::document("https://idp.example/jwks");
        assert!(doc.may_read_shared_cache() && doc.may_store_in_shared_cache());
        let refetch = HttpRequest::document("https://idp.example/jwks").refetched();
        assert!(!refetch.may_read_shared_cache(), "a refetch goes past the cache");
        assert!(refetch.may_store_in_shared_cache(), "and its answer replaces the stored copy");
        assert!(refetch.headers.contains(&("cache-control", "no-cache".to_string())));
        // A GET is not cacheable for being a GET.
        let plain_get = HttpRequest { cache: CachePolicy::Never, ..HttpRequest::document("https://idp.example/x") };
        assert!(!plain_get.may_read_shared_cache() && !plain_get.may_store_in_shared_cache());
        // Whatever the policy says: never with credentials, a body, or another method.
        for mangle in [
            |r: &mut HttpRequest| r.headers.push(("authorization", "Bearer at".into())),
            |r: &mut HttpRequest| r.headers.push(("Authorization", "Basic x".into())),
            |r: &mut HttpRequest| r.headers.push(("cookie", "a=b".into())),
            |r: &mut HttpRequest| r.body = Some(String::new()),
            |r: &mut HttpRequest| r.method = "POST",
        ] {
            let mut r = HttpRequest::document("https://idp.example/doc");
            mangle(&mut r);
            assert!(!r.may_read_shared_cache() && !r.may_store_in_shared_cache(), "{r:?}");
        }
    }
}
