//! The login transactions (and logout-token `jti`s) already used in this isolate, so a replayed callback (same
//! `state`, same transaction cookie) is refused before it reaches the IdP. The memory is per isolate; the
//! transaction cookie's 10-minute expiry bounds what another isolate could accept.

use std::cell::RefCell;
use std::collections::HashMap;

/// How many spent login transactions an isolate remembers (expired ones are dropped first).
pub const MAX_SPENT_TRANSACTIONS: usize = 10_000;

/// Spent `state`s (and `jti`s) with their expiry.
#[derive(Default)]
pub struct SpentTransactions {
    spent: RefCell<HashMap<String, u64>>,
}

impl SpentTransactions {
    /// Record a login transaction's `state` as used. `false` if it was used before (a replay).
    pub fn spend_transaction(&self, state: &str, expires_at: u64, now: u64) -> bool {
        let mut spent = self.spent.borrow_mut();
        if spent.len() >= MAX_SPENT_TRANSACTIONS {
            spent.retain(|_, exp| *exp > now);
            if spent.len() >= MAX_SPENT_TRANSACTIONS {
                // Bounded memory: forget the oldest half (their cookies expire within minutes anyway).
                let mut expiries: Vec<u64> = spent.values().copied().collect();
                expiries.sort_unstable();
                let cutoff = expiries.get(expiries.len() / 2).copied().unwrap_or(u64::MAX);
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

#[cfg(test)]
mod tests {
    use super::*;

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
