//! Arbitrary text as a request path: `core::path::canonicalize` never panics; C is idempotent (canonicalising
//! C gives C), starts with `/`, has no empty or dot segments and only characters that `url::Url::set_path`
//! keeps as they are; and, for a fixed policy set, whenever the gate's decision (`policy::requirement` on C, in
//! origin and in static mode) lets a visitor through, no origin model (`edge_auth_fuzz::paths`) serves from C a
//! path that the plain policy check refuses to that visitor.
#![no_main]

use std::sync::OnceLock;

use edge_auth::core::config::Config;
use edge_auth::core::path::{canonicalize, reading, READINGS};
use edge_auth::core::policy::{allows, requirement, Policy, Requirement, Site};
use edge_auth::core::session::record::Session;
use edge_auth_fuzz::paths::{plain_check, session, CONFIG, MODELS};
use libfuzzer_sys::fuzz_target;

fn fixture() -> &'static (Vec<Policy>, Vec<Option<Session>>) {
    static FIXTURE: OnceLock<(Vec<Policy>, Vec<Option<Session>>)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let config = Config::from_json(CONFIG).expect("the fixed config");
        (config.policies, vec![None, Some(session("eve@acme.example")), Some(session("boss@acme.example"))])
    })
}

fuzz_target!(init: edge_auth_fuzz::known::install(), |data: &[u8]| {
    edge_auth_fuzz::known::guard(|| {
        let text = String::from_utf8_lossy(data);
        let Ok(c) = canonicalize(&text) else { return };
        assert_eq!(canonicalize(&c).as_deref(), Ok(c.as_ref()), "not idempotent: {text:?} -> {c:?}");
        assert!(c.starts_with('/'));
        assert!(!c.contains("//") && !c.split('/').any(|s| s == "." || s == ".."), "{c:?}");
        let mut url = url::Url::parse("https://origin.example/").expect("base");
        url.set_path(&c);
        assert_eq!(url.path(), c.as_ref(), "set_path re-encodes {c:?}");
        for i in 0..READINGS {
            let _ = reading(i, &c);
        }

        let (policies, visitors) = fixture();
        for (site, models) in [(Site::Origin, &MODELS[..MODELS.len() - 1]), (Site::Assets, &MODELS[..])] {
            let needs = requirement(policies, &c, site);
            for visitor in visitors {
                let admitted = match (&needs, visitor) {
                    (Requirement::Public, _) => true,
                    (_, None) => false,
                    (Requirement::Session, Some(_)) => true,
                    (Requirement::Rules(rules), Some(s)) => rules.iter().all(|r| allows(r, s)),
                };
                if !admitted {
                    continue;
                }
                for (model, read) in models {
                    for served in read(&c) {
                        assert!(
                            plain_check(policies, &served, visitor.as_ref()),
                            "{:?} through {text:?} (C {c:?}, {site:?}): {model} serves {served:?}",
                            visitor.as_ref().map(|s| s.email.as_str())
                        );
                    }
                }
            }
        }
    });
});
