//! Requests the core sends to IdPs (discovery, key sets, token and UserInfo endpoints), their answers, and
//! what may go wrong fetching them. Whether an answer may be shared through the location's cache is decided
//! here, by the caller, never by the method.

use crate::core::cache::cache_lifetime;

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
    /// [`remaining_lifetime`]: crate::core::cache::remaining_lifetime
    /// [`memory_lifetime`]: crate::core::cache::memory_lifetime
    pub fresh_for: Option<u64>,
}

impl HttpResponse {
    /// An answer that carries no `Cache-Control` (fresh for the default hour).
    pub fn new(status: u16, body: Vec<u8>) -> HttpResponse {
        HttpResponse { status, body, fresh_for: cache_lifetime(None) }
    }
}

/// An answer as the network gave it (see [`Network`](crate::core::ports::Network)): its `Cache-Control` as
/// data, judged by the core ([`HttpResponse::from_network`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkResponse {
    pub status: u16,
    pub cache_control: Option<String>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The IdP's answer: fresh for [`cache_lifetime`] of its `Cache-Control`.
    pub fn from_network(answer: NetworkResponse) -> HttpResponse {
        HttpResponse {
            status: answer.status,
            fresh_for: cache_lifetime(answer.cache_control.as_deref()),
            body: answer.body,
        }
    }
}

/// Why an outgoing request (to an IdP, or to one of the platform's stores) gave no usable answer. The platform
/// says which; `Status` is the core's word for an answer whose status the caller cannot use (the platform hands
/// over every answer, whatever its status). The `String`s are the runtime's own words, for the operator log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No answer within the platform's timeout (the request was aborted).
    #[error("no answer within {seconds} s")]
    Timeout { seconds: u64 },
    /// An answer, with a status the caller cannot use.
    #[error("HTTP {0}")]
    Status(u16),
    /// An answer larger than the platform reads (refused by `Content-Length`, or cut off while streaming).
    #[error("response larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection, the stream or the store call failed, or what it needs is not there (no Cache API, no
    /// Durable Object binding), or the store answered with something unreadable.
    #[error("{0}")]
    Network(String),
    /// The request could not be built (a URL or a header the runtime refuses): ours to fix, not the IdP's.
    #[error("the request cannot be built: {0}")]
    InvalidRequest(String),
}

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
