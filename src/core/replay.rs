//! Single use across the whole network (issue 13): what the [`ReplayGuard`](crate::core::ports::ReplayGuard)
//! port answers, the key an id is claimed under, and the shard (the Durable Object) that holds it.
//!
//! An id (a login transaction's `state` and PKCE verifier, so that its shard is secret; a logout token's `jti`; later a SAML assertion ID) is claimed *until*
//! the moment after which the caller would refuse it anyway: the store remembers it that long, and answers
//! [`Claim::Seen`] to every later claim, from any isolate. The ids are spread over [`REPLAY_SHARDS`] objects by
//! a hash of the key, so no single object is on every sign-in's path.

use sha2::{Digest, Sha256};

use crate::core::b64;

/// The scope of login transactions (the OIDC callback redeems each one once).
pub const LOGIN_SCOPE: &str = "login";

/// The scope of back-channel `logout_token` `jti`s (with their issuer: a jti is unique per issuer).
pub const LOGOUT_JTI_SCOPE: &str = "logout_jti";

/// How many objects the ids are spread over. Changing it moves ids to other objects: a claim made before the
/// change is not seen after it (for at most the longest `until` in use: 10 minutes for logins).
pub const REPLAY_SHARDS: u32 = 16;

/// What the store answers to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This is the first claim of the id (before its `until`): go ahead.
    First,
    /// The id was claimed before: a replay.
    Seen,
}

/// The store could not answer (unreachable, missing binding, full): the caller fails closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReplayStoreError(pub String);

/// The key `id` is claimed under in `scope`: SHA-256 of both, base64url (43 characters whatever the id's length,
/// and nothing of the id itself is stored).
pub fn claim_key(scope: &str, id: &str) -> String {
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update([0u8]);
    h.update(id.as_bytes());
    b64::encode(h.finalize())
}

/// The name of the object that holds `key` (`replay-0` … `replay-15`).
pub fn shard_name(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 4];
    first.copy_from_slice(digest.get(..4).unwrap_or(&[0; 4]));
    format!("replay-{}", u32::from_be_bytes(first) % REPLAY_SHARDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_length_and_scoped() {
        let k = claim_key(LOGIN_SCOPE, "state-1");
        assert_eq!(k.len(), 43);
        assert_ne!(k, claim_key("jti", "state-1"), "the same id in another scope is another key");
        assert_ne!(k, claim_key(LOGIN_SCOPE, "state-2"));
        assert_eq!(claim_key(LOGIN_SCOPE, &"x".repeat(10_000)).len(), 43);
        // No ambiguity between scope and id.
        assert_ne!(claim_key("ab", "c"), claim_key("a", "bc"));
    }

    #[test]
    fn ids_spread_over_every_shard() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..1000 {
            let name = shard_name(&claim_key(LOGIN_SCOPE, &format!("state-{i}")));
            let n: u32 = name.strip_prefix("replay-").and_then(|n| n.parse().ok()).unwrap_or(u32::MAX);
            assert!(n < REPLAY_SHARDS, "{name}");
            seen.insert(n);
        }
        assert_eq!(seen.len(), REPLAY_SHARDS as usize);
        let key = claim_key(LOGIN_SCOPE, "s");
        assert_eq!(shard_name(&key), shard_name(&key), "stable");
    }
}
