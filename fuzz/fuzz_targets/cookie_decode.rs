//! Arbitrary `Cookie` header -> the session and login-transaction decoders, `KeyRing::open` and
//! `KeyRing::from_secret`, `AssertionKey::from_secret`, `cookie_header_for_origin`; and the same bytes
//! sealed (signed, and encrypted) with the real key, so the JSON decoding behind a valid MAC is reached too.
#![no_main]

use edge_auth::core::assertion::{cookie_header_for_origin, identity_headers, is_identity_header, AssertionKey};
use edge_auth::core::flow::authenticate;
use edge_auth::core::session::codec::{KeyRing, Purpose, MAX_COOKIE_VALUE_LEN, NONCE_BYTES};
use edge_auth::core::session::cookies::{cookie_values, Transport};
use edge_auth::core::session::record::Session;
use edge_auth::core::session::transaction::LoginTransaction;
use edge_auth_fuzz::fixtures::{key_ring, NOW, SESSION_COOKIE, TX_COOKIE};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = [SESSION_COOKIE, "edge-auth-session", TX_COOKIE, "edge-auth-tx"];

fuzz_target!(init: edge_auth_fuzz::known::install(), |data: &[u8]| {
    edge_auth_fuzz::known::guard(|| {
        let ring = key_ring();
        let header = String::from_utf8_lossy(data);

        // The header as a browser (or an attacker) sends it.
        for name in NAMES {
            for now in [NOW, u64::MAX] {
                let _ = Session::from_cookie_header(&header, name, ring, now);
                let _ = LoginTransaction::from_cookie_header(&header, name, ring, now);
            }
            for value in cookie_values(&header, name).take(8) {
                let _ = ring.open(Purpose::Session, name, value);
                let _ = ring.open(Purpose::LoginTransaction, name, value);
            }
        }
        let _ = ring.open(Purpose::Session, SESSION_COOKIE, &header);
        let _ = authenticate(&header, Transport::Https, ring, NOW);
        let _ = authenticate(&header, Transport::LoopbackHttp, ring, NOW);

        // Origin mode: our cookies never reach the origin.
        let forwarded = cookie_header_for_origin(&header);
        for pair in forwarded.split("; ") {
            let name = pair.split('=').next().unwrap_or_default().trim();
            assert!(!name.starts_with("__Host-edge-auth-") && !name.starts_with("edge-auth-"), "{name:?} forwarded");
        }
        let _ = AssertionKey::from_secret(&header);

        // SESSION_KEYS from an operator.
        if let Ok(r) = KeyRing::from_secret(&header) {
            let sealed = r.seal(Purpose::Session, "n", b"x");
            assert_eq!(r.open(Purpose::Session, "n", &sealed).as_deref(), Some(&b"x"[..]), "a ring opens what it sealed");
        }

        // The bytes as the payload of a cookie that passes the MAC.
        let sealed = ring.seal(Purpose::Session, SESSION_COOKIE, data);
        let header = format!("{SESSION_COOKIE}={sealed}");
        assert!(
            LoginTransaction::from_cookie_header(&header, SESSION_COOKIE, ring, NOW).is_none(),
            "a session-purpose cookie must never open as a login transaction"
        );
        if let Some(s) = Session::from_cookie_header(&header, SESSION_COOKIE, ring, NOW) {
            let me: serde_json::Value = serde_json::from_str(&s.to_me_json()).expect("/auth/me JSON");
            assert!(me.is_object());
            assert_eq!(me["sub"].as_str(), Some(format!("{}:{}", s.connector, s.sub).as_str()), "user id");
            for (name, value) in identity_headers(&s) {
                assert!(is_identity_header(name), "a client could send {name}");
                assert!(value.bytes().all(|b| b.is_ascii_graphic()), "{name}: {value:?}");
            }
            let again = s.seal(ring, SESSION_COOKIE);
            if again.len() <= MAX_COOKIE_VALUE_LEN {
                let reopened = Session::from_cookie_header(&format!("{SESSION_COOKIE}={again}"), SESSION_COOKIE, ring, NOW);
                assert_eq!(reopened.as_ref(), Some(&s), "a session survives seal -> open");
            }
        }
        // Encrypted session cookies (session.encrypt): the bytes as the plaintext.
        if let Some(sealed) = ring.seal_encrypted(Purpose::Session, SESSION_COOKIE, data, [7; NONCE_BYTES]) {
            let header = format!("{SESSION_COOKIE}={sealed}");
            let opened = Session::from_cookie_header(&header, SESSION_COOKIE, ring, NOW);
            let signed = Session::from_cookie_header(
                &format!("{SESSION_COOKIE}={}", ring.seal(Purpose::Session, SESSION_COOKIE, data)),
                SESSION_COOKIE,
                ring,
                NOW,
            );
            if sealed.len() <= MAX_COOKIE_VALUE_LEN && 3 + data.len().div_ceil(3) * 4 + 44 <= MAX_COOKIE_VALUE_LEN {
                assert_eq!(opened, signed, "encrypted and signed cookies decode the same payload alike");
            }
        }
        let sealed = ring.seal(Purpose::LoginTransaction, TX_COOKIE, data);
        let header = format!("{TX_COOKIE}={sealed}");
        assert!(Session::from_cookie_header(&header, TX_COOKIE, ring, NOW).is_none(), "a transaction is never a session");
        if let Some(t) = LoginTransaction::from_cookie_header(&header, TX_COOKIE, ring, NOW) {
            let again = t.seal(ring, TX_COOKIE);
            if again.len() <= MAX_COOKIE_VALUE_LEN {
                let reopened = LoginTransaction::from_cookie_header(&format!("{TX_COOKIE}={again}"), TX_COOKIE, ring, NOW);
                assert!(reopened.is_some_and(|r| r.state == t.state && r.return_to == t.return_to));
            }
        }
    });
});
