//! The login transactions (and logout-token `jti`s) already used in this isolate, so a replayed callback (same
//! `state`, same transaction cookie) is refused before it reaches the IdP. The memory is per isolate; the
//! transaction cookie's 10-minute expiry bounds what another isolate could accept.

use crate::core::keyed_hash::KeyedHashMap;
use std::cell::RefCell;

/// How many spent login transactions an isolate remembers (expired ones are dropped first).
pub const MAX_SPENT_TRANSACTIONS: usize = 10_000;

/// Spent `state`s (and `jti`s) with their expiry.
#[derive(Default)]
pub struct SpentTransactions {
    spent: RefCell<KeyedHashMap<String, u64>>,
}

impl SpentTransactions {
    /// Record a login transaction's `state` as used. `false` if it was used before (a replay).
    pub fn spend_transaction(&self, state: &str, expires_at: u64, now: u64) -> bool {
        let mut spent = self.spent.borrow_mut();
        if spent.len() >= MAX_SPENT_TRANSACTIONS {
            spent.retain(|_, exp| *exp > now);
            if spent.len() >= MAX_SPENT_TRANSACTIONS {
                // Bounded memory: forget the oldest half (their cookies expire within minutes anyway).
                let expiries: Vec<u64> = spent.values().copied().collect();
                let cutoff = kth_smallest(&expiries, expiries.len() / 2);
                spent.retain(|_, exp| *exp > cutoff);
            }
        }
        spent.insert(state.to_string(), expires_at).is_none()
    }

    /// Forget that `state` was used: what it was spent on did not happen (a logout token whose revocation
    /// could not be recorded may be sent again).
    pub fn unspend_transaction(&self, state: &str) {
        self.spent.borrow_mut().remove(state);
    }
}

/// The `k`-th smallest (from 0) of `values` — what `values` sorted would hold at `k` — or `u64::MAX` when there
/// are not that many. Found by bisecting the range of values (64 counting passes) rather than sorting: this runs
/// only when the memory is full, and keeps a sort's code (several kilobytes) out of the wasm.
fn kth_smallest(values: &[u64], k: usize) -> u64 {
    let (mut lo, mut hi) = (0u64, u64::MAX);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if values.iter().filter(|&&v| v <= mid).count() > k {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kth_smallest_is_the_sorted_element() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in [1usize, 2, 3, 10, 101, 1000] {
            for spread in [3u64, 1000, u64::MAX] {
                let mut values: Vec<u64> = (0..len).map(|_| next() % spread.max(1)).collect();
                values.extend([0, u64::MAX].iter().take(len % 3));
                let mut sorted = values.clone();
                sorted.sort_unstable();
                for k in [0, values.len() / 2, values.len() - 1] {
                    assert_eq!(kth_smallest(&values, k), sorted[k], "len {len} spread {spread} k {k}");
                }
                assert_eq!(kth_smallest(&values, values.len()), u64::MAX);
            }
        }
        assert_eq!(kth_smallest(&[], 0), u64::MAX, "as the sorted copy's missing element was");
    }

    #[test]
    fn a_transaction_is_spent_once() {
        let cache = SpentTransactions::default();
        assert!(cache.spend_transaction("s1", 100, 10));
        assert!(!cache.spend_transaction("s1", 100, 10), "replay");
        assert!(cache.spend_transaction("s2", 100, 10));
    }

    #[test]
    fn spent_memory_is_bounded() {
        let cache = SpentTransactions::default();
        for i in 0..(MAX_SPENT_TRANSACTIONS + 10) {
            assert!(cache.spend_transaction(&format!("s{i}"), 1000 + i as u64, 10));
        }
        assert!(cache.spent.borrow().len() <= MAX_SPENT_TRANSACTIONS);
        // The most recent ones are still remembered.
        assert!(!cache.spend_transaction(&format!("s{}", MAX_SPENT_TRANSACTIONS + 9), 0, 10));
    }
}
