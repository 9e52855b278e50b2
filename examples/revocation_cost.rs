//! How much the revocation check adds to a request: `cargo run --release --example revocation_cost`.
//! (A measurement to quote, not a test.)
use std::time::Instant;

use edge_auth::core::session::record::Session;
use edge_auth::core::session::revocation::{Revocation, RevocationKind, RevocationList};

fn main() {
    let session = Session {
        sub: "00000000-0000-0000-0000-000000000042".into(),
        email: "alice@acme.example".into(),
        name: Some("Alice".into()),
        connector: "acme".into(),
        iss: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0".into(),
        iat: 1_700_000_000,
        exp: 1_700_028_800,
        sid: Some("001d8ac0-7d5c-4d5b-9bf3-3c2a1c9b2f11".into()),
        renewed_at: 1_700_000_000,
        groups: vec![],
    };
    for entries in [0usize, 1_000, 100_000] {
        let list = RevocationList::from_entries((0..entries).map(|i| Revocation {
            kind: if i % 2 == 0 { RevocationKind::Sid } else { RevocationKind::Sub },
            iss: session.iss.clone(),
            value: format!("other-{i}"),
            at: 1_700_000_100,
            connector: session.connector.clone(),
            unauthenticated: false,
            until: 1_700_100_000,
        }));
        let rounds = 2_000_000;
        let start = Instant::now();
        let mut hits = 0;
        for _ in 0..rounds {
            hits += usize::from(std::hint::black_box(&list).is_revoked(std::hint::black_box(&session)));
        }
        let ns = start.elapsed().as_nanos() as f64 / rounds as f64;
        println!("{entries:>7} revocations: {ns:7.1} ns per check (native; hits {hits})");
    }
}
