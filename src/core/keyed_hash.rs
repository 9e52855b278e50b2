//! Hash maps keyed by strings from outside (revocation-log `sid`s and `sub`s, which the unauthenticated
//! front-channel logout supplies; spent token ids), hashed under a secret seed.
//!
//! std's `RandomState` asks the operating system for its keys; on `wasm32-unknown-unknown` there is none, and std
//! derives them from a stack and a heap address (library/std/src/sys/random/unsupported.rs) — the same for every
//! isolate of one build, so whoever has the build could choose keys that all land in one bucket and make each
//! insertion and lookup linear (HashDoS). Here the hasher (SipHash-1-3, std's `DefaultHasher`) first absorbs a
//! 128-bit seed: the platform shell gives the isolate a random one ([`seed_isolate`]) before any map is filled;
//! on the host (and if none was given) it comes from std's `RandomState`.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, DefaultHasher, Hasher};
use std::sync::OnceLock;

static SEED: OnceLock<[u64; 2]> = OnceLock::new();

/// Give this isolate its seed. Only the first call counts (a map filled under one seed must be read under it);
/// the platform calls it with 16 random bytes before building the isolate's state.
pub fn seed_isolate(random: [u8; 16]) {
    let (a, b) = random.split_at(8);
    let word = |half: &[u8]| half.iter().fold(0u64, |w, &byte| (w << 8) | u64::from(byte));
    let _ = SEED.set([word(a), word(b)]);
}

fn seed() -> [u64; 2] {
    *SEED.get_or_init(|| {
        let state = RandomState::new();
        [state.hash_one(0u8), state.hash_one(1u8)]
    })
}

/// The hasher of [`KeyedHashMap`] and [`KeyedHashSet`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Keyed;

impl BuildHasher for Keyed {
    type Hasher = DefaultHasher;

    fn build_hasher(&self) -> DefaultHasher {
        let [a, b] = seed();
        let mut h = DefaultHasher::new();
        h.write_u64(a);
        h.write_u64(b);
        h
    }
}

pub type KeyedHashMap<K, V> = HashMap<K, V, Keyed>;
pub type KeyedHashSet<T> = HashSet<T, Keyed>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_in_every_hash() {
        // Whatever seed this process has, the same key hashes the same under it, and differently without it.
        let seeded = Keyed.hash_one("sid-1");
        assert_eq!(seeded, Keyed.hash_one("sid-1"));
        assert_ne!(seeded, DefaultHasher::new().finish_with("sid-1"));
        // Set once: a second seed changes nothing.
        seed_isolate([7; 16]);
        let now = seed();
        seed_isolate([9; 16]);
        assert_eq!(seed(), now);
        let mut map: KeyedHashMap<String, u32> = KeyedHashMap::default();
        map.insert("a".into(), 1);
        assert_eq!(map.get("a"), Some(&1));
    }

    trait FinishWith {
        fn finish_with(self, key: &str) -> u64;
    }

    impl FinishWith for DefaultHasher {
        fn finish_with(mut self, key: &str) -> u64 {
            std::hash::Hash::hash(key, &mut self);
            self.finish()
        }
    }
}
