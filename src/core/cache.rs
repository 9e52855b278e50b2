//! How long an IdP's public documents (discovery, key sets) stay fresh: in the location's Cache API and in
//! isolate memory. Pure rules; the shell only moves the bytes.

/// How long a discovery document or key set keeps being served once it is no longer fresh (its freshness
/// comes from the IdP's `Cache-Control`, see [`memory_lifetime`]), while one background
/// refresh fetches the new one. Past this window a request waits for the refetch (and still falls back to the
/// old copy when the IdP fails: stale-if-error, however old).
pub const STALE_WHILE_REVALIDATE_SECONDS: u64 = 86_400;

/// Bounds on how long an IdP's metadata (discovery document, key set) is fresh, whatever its `Cache-Control`
/// says: in the location's cache and in isolate memory alike.
pub const MIN_CACHE_SECONDS: u64 = 300;
pub const MAX_CACHE_SECONDS: u64 = 86_400;
pub const DEFAULT_CACHE_SECONDS: u64 = 3_600;

/// The header stored beside an IdP answer in the location's Cache API: until when (Unix seconds) it is fresh.
pub const FRESH_UNTIL_HEADER: &str = "x-edge-auth-fresh-until";

/// How long an IdP answer with this `Cache-Control` may be kept in the location's cache: its `max-age`
/// bounded to 5 min – 24 h, 1 h when it says nothing, `None` with `no-store` or `private`.
pub fn cache_lifetime(cache_control: Option<&str>) -> Option<u64> {
    let Some(cc) = cache_control.map(str::to_ascii_lowercase) else { return Some(DEFAULT_CACHE_SECONDS) };
    if cc.contains("no-store") || cc.contains("private") {
        return None;
    }
    let max_age = cc
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim_matches('"').parse::<u64>().ok());
    Some(max_age.unwrap_or(DEFAULT_CACHE_SECONDS).clamp(MIN_CACHE_SECONDS, MAX_CACHE_SECONDS))
}

/// What remains of a Cache API copy's freshness, from its [`FRESH_UNTIL_HEADER`]: `None` — to be treated as a
/// miss — when the header is absent, is not a number of seconds, or is not in the future. At most
/// [`MAX_CACHE_SECONDS`]. (The remaining lifetime is not raised to [`MIN_CACHE_SECONDS`]: the copy was stored
/// for at least that long, and this is what is left of it.)
pub fn remaining_lifetime(fresh_until: Option<&str>, now: u64) -> Option<u64> {
    let until = parse_fresh_until(fresh_until)?;
    until.checked_sub(now).filter(|left| *left > 0).map(|left| left.min(MAX_CACHE_SECONDS))
}

/// The Unix time in a [`FRESH_UNTIL_HEADER`] (`None` when absent or not a number of seconds).
pub fn parse_fresh_until(fresh_until: Option<&str>) -> Option<u64> {
    fresh_until?.trim().parse().ok()
}

/// The header stored beside an IdP document in the location's Cache API: its MAC (see
/// [`KeyRing::document_mac`](crate::core::session::codec::KeyRing::document_mac)). A copy without a valid one
/// is a miss.
pub const DOCUMENT_MAC_HEADER: &str = "x-edge-auth-mac";

/// A copy in the location's Cache API, judged by its [`FRESH_UNTIL_HEADER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachedCopy {
    /// Fresh for this many more seconds (see [`remaining_lifetime`]): used instead of asking the IdP.
    Fresh(u64),
    /// Past its freshness but within the stale window: the IdP is asked, and the copy is used only if the IdP
    /// cannot answer (stale-if-error, also for an isolate that has never seen the document).
    Stale,
    /// No usable expiry, or past the stale window: a miss.
    Unusable,
}

/// A response as the location's shared cache holds it (see [`CacheStore`](crate::core::ports::CacheStore)):
/// its status, the values of the headers asked for (in the order asked), its body; nothing judged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse<const N: usize> {
    pub status: u16,
    pub headers: [Option<String>; N],
    pub body: Vec<u8>,
}

pub fn cached_copy(fresh_until: Option<&str>, now: u64) -> CachedCopy {
    if let Some(left) = remaining_lifetime(fresh_until, now) {
        return CachedCopy::Fresh(left);
    }
    match parse_fresh_until(fresh_until) {
        Some(until) if now < until.saturating_add(STALE_WHILE_REVALIDATE_SECONDS) => CachedCopy::Stale,
        _ => CachedCopy::Unusable,
    }
}

/// How long an answer stays fresh in isolate memory, given the platform's `fresh_for` (see
/// [`HttpResponse::fresh_for`](crate::core::fetch::HttpResponse::fresh_for)): that, at most
/// [`MAX_CACHE_SECONDS`]; an answer the IdP marked `no-store` or `private` (`None`) for [`MIN_CACHE_SECONDS`].
/// Isolate memory is no shared cache, and refetching discovery and keys on every sign-in would only slow
/// sign-ins and load the IdP; five minutes bounds how long a change there goes unseen.
pub fn memory_lifetime(fresh_for: Option<u64>) -> u64 {
    fresh_for.map_or(MIN_CACHE_SECONDS, |seconds| seconds.min(MAX_CACHE_SECONDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_lifetimes_follow_cache_control_within_bounds() {
        assert_eq!(cache_lifetime(None), Some(3_600));
        assert_eq!(cache_lifetime(Some("public, max-age=7200")), Some(7_200));
        assert_eq!(cache_lifetime(Some("max-age=10")), Some(300), "not less than 5 min");
        assert_eq!(cache_lifetime(Some("Public, Max-Age=9999999")), Some(86_400), "not more than a day");
        assert_eq!(cache_lifetime(Some("no-store")), None);
        assert_eq!(cache_lifetime(Some("private, max-age=60")), None);
        assert_eq!(cache_lifetime(Some("max-age=oops")), Some(3_600));
    }

    #[test]
    fn remaining_lifetime_of_a_cache_api_copy() {
        let now = 1_750_000_000;
        assert_eq!(remaining_lifetime(Some("1750000600"), now), Some(600));
        assert_eq!(remaining_lifetime(Some(" 1750000001 "), now), Some(1), "one second left");
        assert_eq!(remaining_lifetime(Some("1750000042"), now), Some(42), "not raised to the 5 min floor");
        assert_eq!(remaining_lifetime(Some("1750000000"), now), None, "expired now: a miss");
        assert_eq!(remaining_lifetime(Some("1749999999"), now), None, "expired: a miss");
        assert_eq!(remaining_lifetime(Some("99999999999"), now), Some(86_400), "never more than a day");
        assert_eq!(remaining_lifetime(None, now), None, "stored without the header: a miss");
        for junk in ["", "soon", "-5", "1750000600.5", "1e10", "18446744073709551616"] {
            assert_eq!(remaining_lifetime(Some(junk), now), None, "{junk:?}");
        }
    }

    #[test]
    fn cached_copies_fresh_stale_or_unusable() {
        let now = 1_750_000_000;
        assert_eq!(cached_copy(Some("1750000600"), now), CachedCopy::Fresh(600));
        assert_eq!(cached_copy(Some("1750000000"), now), CachedCopy::Stale, "just expired");
        assert_eq!(cached_copy(Some("1749913601"), now), CachedCopy::Stale, "within a day of expiring");
        assert_eq!(cached_copy(Some("1749913600"), now), CachedCopy::Unusable, "a day past its freshness");
        assert_eq!(cached_copy(None, now), CachedCopy::Unusable, "stored without the header");
        assert_eq!(cached_copy(Some("soon"), now), CachedCopy::Unusable);
    }

    #[test]
    fn memory_lifetimes() {
        assert_eq!(memory_lifetime(Some(600)), 600);
        assert_eq!(memory_lifetime(Some(42)), 42, "what remains of a Cache API copy");
        assert_eq!(memory_lifetime(Some(10_000_000)), 86_400);
        assert_eq!(memory_lifetime(None), 300, "no-store: the 5 min floor");
        assert_eq!(memory_lifetime(cache_lifetime(None)), 3_600, "no Cache-Control: 1 h");
    }
}
