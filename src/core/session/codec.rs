//! The signed-cookie codec.
//!
//! Format (version 1, signed): `v1.<base64url(payload)>.<base64url(tag)>` where
//! `tag = HMAC-SHA256(k_purpose, "edge-auth\0v1\0" || purpose || "\0" || cookie_name || "\0" || payload_b64)`.
//!
//! Format (version 1, encrypted, `session.encrypt`): `v1e.<base64url(nonce || ciphertext || tag)>`, AES-256-GCM
//! with a per-purpose key and the same context (version, purpose, cookie name) as associated data, so the
//! email in a session cookie is not readable in the browser. Both formats are accepted when opening.
//!
//! - Each key in `SESSION_KEYS` is expanded with HKDF-SHA256 into one MAC key per purpose (session, login
//!   transaction), so a transaction cookie can never be accepted as a session and vice versa.
//! - The cookie name and the format version are bound into the MAC, so a cookie cannot be replayed under
//!   another name.
//! - The first key signs; every key verifies (rotation: put the new key first, keep the old one).
//! - Decoding returns `None` on every failure (absent, malformed, wrong key, wrong name or purpose): no oracle.
//!
//! The same keys protect the IdP documents (discovery, key sets) edge-auth keeps in the location's shared cache:
//! `KeyRing::document_mac` with a sub-key of its own (see there).
//!
//! The MAC is computed in pure Rust: for a per-request check that is cheaper than a WebCrypto round trip
//! (measured, see TOOLCHAIN.md).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::core::b64;
use crate::core::config::error::ConfigError;

type HmacSha256 = Hmac<Sha256>;

const VERSION_PREFIX: &str = "v1.";
const ENCRYPTED_PREFIX: &str = "v1e.";
/// AES-GCM nonce length.
pub const NONCE_BYTES: usize = 12;
const MAC_CONTEXT: &[u8] = b"edge-auth\0v1\0";
/// Upper bound on a cookie value we are willing to look at.
pub const MAX_COOKIE_VALUE_LEN: usize = 4096;
pub const MIN_KEY_BYTES: usize = 32;

/// What a sealed value is for. Part of the key derivation and of the MAC input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Session,
    LoginTransaction,
    /// A SAML sign-in in progress (sealed with the transaction keys, under its own label: never opened as an
    /// OpenID Connect transaction, nor the other way).
    SamlTransaction,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::Session => "session",
            Purpose::LoginTransaction => "login-transaction",
            Purpose::SamlTransaction => "saml-transaction",
        }
    }
}

/// Keyed MAC states derived from one configured key. Cloning a keyed state is cheaper than re-keying.
#[derive(Clone)]
struct DerivedKeys {
    session: HmacSha256,
    transaction: HmacSha256,
    session_aead: Aes256Gcm,
    transaction_aead: Aes256Gcm,
    /// Authenticates IdP documents in the location's shared cache.
    document: HmacSha256,
}

impl DerivedKeys {
    /// `None` only if HKDF or HMAC refused the lengths, which they do not for these sizes.
    fn derive(ikm: &[u8]) -> Option<DerivedKeys> {
        let hk = Hkdf::<Sha256>::new(Some(b"edge-auth cookie keys"), ikm);
        let mut session = [0u8; 32];
        let mut transaction = [0u8; 32];
        let mut session_aead = [0u8; 32];
        let mut transaction_aead = [0u8; 32];
        let mut document = [0u8; 32];
        hk.expand(b"edge-auth v1 session mac", &mut session).ok()?;
        hk.expand(b"edge-auth v1 login-transaction mac", &mut transaction).ok()?;
        hk.expand(b"edge-auth v1 session aead", &mut session_aead).ok()?;
        hk.expand(b"edge-auth v1 login-transaction aead", &mut transaction_aead).ok()?;
        hk.expand(b"edge-auth v1 idp-document mac", &mut document).ok()?;
        Some(DerivedKeys {
            session: <HmacSha256 as Mac>::new_from_slice(&session).ok()?,
            transaction: <HmacSha256 as Mac>::new_from_slice(&transaction).ok()?,
            session_aead: Aes256Gcm::new_from_slice(&session_aead).ok()?,
            transaction_aead: Aes256Gcm::new_from_slice(&transaction_aead).ok()?,
            document: <HmacSha256 as Mac>::new_from_slice(&document).ok()?,
        })
    }

    fn aead_for(&self, purpose: Purpose) -> &Aes256Gcm {
        match purpose {
            Purpose::Session => &self.session_aead,
            Purpose::LoginTransaction | Purpose::SamlTransaction => &self.transaction_aead,
        }
    }

    fn for_purpose(&self, purpose: Purpose) -> &HmacSha256 {
        match purpose {
            Purpose::Session => &self.session,
            Purpose::LoginTransaction | Purpose::SamlTransaction => &self.transaction,
        }
    }
}

/// The keys from `SESSION_KEYS`.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<DerivedKeys>,
    /// Distinct for every ring parsed (clones share it): what was verified with one ring is only
    /// remembered for that ring (see `session::memo`).
    id: u64,
}

static NEXT_KEY_RING_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing({} keys, redacted)", self.keys.len())
    }
}

impl KeyRing {
    /// Parse `SESSION_KEYS`: comma-separated base64url (or base64) keys of at least 32 bytes.
    pub fn from_secret(text: &str) -> Result<KeyRing, ConfigError> {
        let mut keys = Vec::new();
        for (i, part) in text.split(',').enumerate() {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let bytes = b64::decode_lenient(part)
                .ok_or_else(|| ConfigError::top("SESSION_KEYS", format!("key {} is not base64url", i + 1)))?;
            if bytes.len() < MIN_KEY_BYTES {
                return Err(ConfigError::top(
                    "SESSION_KEYS",
                    format!(
                        "key {} is {} bytes; at least {MIN_KEY_BYTES} random bytes are required \
                         (generate one with: openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')",
                        i + 1,
                        bytes.len()
                    ),
                ));
            }
            let derived = DerivedKeys::derive(&bytes)
                .ok_or_else(|| ConfigError::top("SESSION_KEYS", format!("key {} could not be used", i + 1)))?;
            keys.push(derived);
        }
        if keys.is_empty() {
            return Err(ConfigError::top("SESSION_KEYS", "the secret is empty; at least one key is required"));
        }
        Ok(KeyRing { keys, id: NEXT_KEY_RING_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed) })
    }

    /// This ring's identity (see the field).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Seal `payload` for a cookie named `cookie_name`, with the first (signing) key.
    pub fn seal(&self, purpose: Purpose, cookie_name: &str, payload: &[u8]) -> String {
        let payload_b64 = b64::encode(payload);
        let tag = match self.keys.first() {
            Some(k) => mac(k.for_purpose(purpose), purpose, cookie_name, &payload_b64),
            None => Vec::new(), // impossible: a KeyRing always has a key
        };
        format!("{VERSION_PREFIX}{payload_b64}.{}", b64::encode(tag))
    }

    /// Encrypt and authenticate `payload` (AES-256-GCM) with the first key. `nonce` must be random and
    /// never reused with the same key (12 bytes from the platform's CSPRNG).
    pub fn seal_encrypted(
        &self,
        purpose: Purpose,
        cookie_name: &str,
        payload: &[u8],
        nonce: [u8; NONCE_BYTES],
    ) -> Option<String> {
        let key = self.keys.first()?;
        let aad = aead_context(purpose, cookie_name);
        let ciphertext =
            key.aead_for(purpose).encrypt(Nonce::from_slice(&nonce), Payload { msg: payload, aad: &aad }).ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Some(format!("{ENCRYPTED_PREFIX}{}", b64::encode(out)))
    }

    /// Verify (and decrypt) and return the payload; `None` on any failure.
    pub fn open(&self, purpose: Purpose, cookie_name: &str, value: &str) -> Option<Vec<u8>> {
        if value.len() > MAX_COOKIE_VALUE_LEN {
            return None;
        }
        if let Some(rest) = value.strip_prefix(ENCRYPTED_PREFIX) {
            let bytes = b64::decode(rest)?;
            if bytes.len() < NONCE_BYTES + 16 {
                return None;
            }
            let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
            let aad = aead_context(purpose, cookie_name);
            return self.keys.iter().find_map(|k| {
                k.aead_for(purpose).decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad }).ok()
            });
        }
        let rest = value.strip_prefix(VERSION_PREFIX)?;
        let (payload_b64, tag_b64) = rest.split_once('.')?;
        let tag = b64::decode(tag_b64)?;
        if tag.len() != 32 {
            return None;
        }
        let ok = self.keys.iter().any(|k| {
            let mut m = k.for_purpose(purpose).clone();
            feed(&mut m, purpose, cookie_name, payload_b64);
            m.verify_slice(&tag).is_ok() // constant-time comparison
        });
        if ok {
            b64::decode(payload_b64)
        } else {
            None
        }
    }
}

impl KeyRing {
    /// The MAC stored beside an IdP document in the location's shared cache, with the first key:
    /// `base64url(HMAC-SHA256(k_document, "edge-auth\0v1\0idp-document\0" || u64be(len(url)) || url ||
    /// u64be(fresh_until) || body))`, `k_document` derived by HKDF from each `SESSION_KEYS` key with a label of its
    /// own. It binds the copy to the URL it answers, to the time until which it is fresh and to its bytes: another
    /// Worker of the zone (which can write the same cache, but does not know `SESSION_KEYS`) can neither plant a
    /// document, nor alter one, move it to another URL or stretch its life.
    pub fn document_mac(&self, url: &str, fresh_until: u64, body: &[u8]) -> String {
        match self.keys.first() {
            Some(k) => b64::encode(document_tag(&k.document, url, fresh_until, body)),
            None => String::new(), // impossible: a KeyRing always has a key
        }
    }

    /// Whether `mac` (the stored header) is [`Self::document_mac`] of this copy under any key of the ring
    /// (rotation: copies stored under the previous first key stay good). `fresh_until` is the stored header
    /// too; `false` when either is absent or malformed.
    pub fn verify_document_mac(&self, url: &str, fresh_until: Option<&str>, body: &[u8], mac: Option<&str>) -> bool {
        let (Some(until), Some(tag)) = (crate::core::cache::parse_fresh_until(fresh_until), mac.and_then(b64::decode))
        else {
            return false;
        };
        if tag.len() != 32 {
            return false;
        }
        self.keys.iter().any(|k| {
            let mut m = k.document.clone();
            feed_document(&mut m, url, until, body);
            m.verify_slice(&tag).is_ok() // constant-time comparison
        })
    }
}

const DOCUMENT_CONTEXT: &[u8] = b"edge-auth\0v1\0idp-document\0";

fn feed_document(m: &mut HmacSha256, url: &str, fresh_until: u64, body: &[u8]) {
    m.update(DOCUMENT_CONTEXT);
    m.update(&(url.len() as u64).to_be_bytes());
    m.update(url.as_bytes());
    m.update(&fresh_until.to_be_bytes());
    m.update(body);
}

fn document_tag(keyed: &HmacSha256, url: &str, fresh_until: u64, body: &[u8]) -> Vec<u8> {
    let mut m = keyed.clone();
    feed_document(&mut m, url, fresh_until, body);
    m.finalize().into_bytes().to_vec()
}

fn feed(m: &mut HmacSha256, purpose: Purpose, cookie_name: &str, payload_b64: &str) {
    m.update(MAC_CONTEXT);
    m.update(purpose.label().as_bytes());
    m.update(b"\0");
    m.update(cookie_name.as_bytes());
    m.update(b"\0");
    m.update(payload_b64.as_bytes());
}

fn aead_context(purpose: Purpose, cookie_name: &str) -> Vec<u8> {
    let mut aad = MAC_CONTEXT.to_vec();
    aad.extend_from_slice(purpose.label().as_bytes());
    aad.push(0);
    aad.extend_from_slice(cookie_name.as_bytes());
    aad
}

fn mac(keyed: &HmacSha256, purpose: Purpose, cookie_name: &str, payload_b64: &str) -> Vec<u8> {
    let mut m = keyed.clone();
    feed(&mut m, purpose, cookie_name, payload_b64);
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"; // 32 bytes
    const K2: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA"; // 32 bytes

    fn ring(s: &str) -> KeyRing {
        KeyRing::from_secret(s).unwrap()
    }

    #[test]
    fn round_trip() {
        let r = ring(K1);
        let sealed = r.seal(Purpose::Session, "edge-auth-session", b"{\"sub\":\"a\"}");
        assert!(sealed.starts_with("v1."));
        assert_eq!(r.open(Purpose::Session, "edge-auth-session", &sealed).unwrap(), b"{\"sub\":\"a\"}");
    }

    #[test]
    fn tampering_is_detected() {
        let r = ring(K1);
        let sealed = r.seal(Purpose::Session, "n", b"payload-payload");
        // flip every character of the value in turn
        for i in 0..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != sealed {
                assert!(r.open(Purpose::Session, "n", &tampered).is_none(), "position {i}");
            }
        }
        assert!(r.open(Purpose::Session, "n", &format!("{sealed}x")).is_none());
        assert!(r.open(Purpose::Session, "n", &sealed[..sealed.len() - 1]).is_none());
        assert!(r.open(Purpose::Session, "n", "").is_none());
        assert!(r.open(Purpose::Session, "n", "v1..").is_none());
        assert!(r.open(Purpose::Session, "n", &sealed.replacen("v1.", "v2.", 1)).is_none());
    }

    #[test]
    fn wrong_key_name_or_purpose_is_refused() {
        let sealed = ring(K1).seal(Purpose::Session, "n", b"x");
        assert!(ring(K2).open(Purpose::Session, "n", &sealed).is_none(), "wrong key");
        assert!(ring(K1).open(Purpose::Session, "other", &sealed).is_none(), "cookie name bound");
        assert!(ring(K1).open(Purpose::LoginTransaction, "n", &sealed).is_none(), "purpose bound");
    }

    #[test]
    fn rotation_first_signs_all_verify() {
        let old = ring(K1).seal(Purpose::Session, "n", b"old");
        let rotated = ring(&format!("{K2},{K1}"));
        assert_eq!(rotated.open(Purpose::Session, "n", &old).unwrap(), b"old", "old key still verifies");
        let new = rotated.seal(Purpose::Session, "n", b"new");
        assert!(ring(K1).open(Purpose::Session, "n", &new).is_none(), "new cookies are signed with the first key");
        assert_eq!(ring(K2).open(Purpose::Session, "n", &new).unwrap(), b"new");
        // Removing a key logs its cookies out.
        assert!(ring(K2).open(Purpose::Session, "n", &old).is_none());
    }

    #[test]
    fn key_parsing() {
        assert!(KeyRing::from_secret("").is_err());
        assert!(KeyRing::from_secret(" , ").is_err());
        let short = KeyRing::from_secret("c2hvcnQ").unwrap_err();
        assert!(short.reason.contains("at least 32"), "{short}");
        assert!(KeyRing::from_secret("***").is_err());
        // standard base64 with padding is accepted too
        assert!(KeyRing::from_secret("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").is_ok());
        assert!(KeyRing::from_secret(&format!(" {K1} , {K2} ")).is_ok());
        // Debug never shows key material
        assert_eq!(format!("{:?}", ring(K1)), "KeyRing(1 keys, redacted)");
    }

    #[test]
    fn encrypted_cookies_hide_the_payload_and_bind_name_purpose_and_key() {
        let r = ring(K1);
        let sealed = r.seal_encrypted(Purpose::Session, "n", b"alice@acme.example", [7u8; NONCE_BYTES]).unwrap();
        assert!(sealed.starts_with("v1e."));
        assert!(!sealed.contains("YWxpY2") && !sealed.contains("alice"), "the email is not readable");
        assert_eq!(r.open(Purpose::Session, "n", &sealed).unwrap(), b"alice@acme.example");
        assert!(r.open(Purpose::Session, "m", &sealed).is_none(), "cookie name bound");
        assert!(r.open(Purpose::LoginTransaction, "n", &sealed).is_none(), "purpose bound");
        assert!(ring(K2).open(Purpose::Session, "n", &sealed).is_none(), "wrong key");
        assert_eq!(ring(&format!("{K2},{K1}")).open(Purpose::Session, "n", &sealed).unwrap(), b"alice@acme.example");
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(r.open(Purpose::Session, "n", &String::from_utf8(bytes).unwrap()).is_none(), "tampered");
        assert!(r.open(Purpose::Session, "n", "v1e.").is_none());
        assert!(r.open(Purpose::Session, "n", "v1e.AAAA").is_none());
    }

    #[test]
    fn cached_documents_are_authenticated_by_url_expiry_and_body() {
        let url = "https://idp.example/.well-known/openid-configuration";
        let body = br#"{"issuer":"https://idp.example","token_endpoint":"https://idp.example/token"}"#;
        let r = ring(K1);
        let mac = r.document_mac(url, 1_750_000_600, body);
        let ok = |ring: &KeyRing, url: &str, until: Option<&str>, body: &[u8], mac: Option<&str>| {
            ring.verify_document_mac(url, until, body, mac)
        };
        assert!(ok(&r, url, Some("1750000600"), body, Some(&mac)));
        // Tampered body (a token endpoint pointing elsewhere), URL, expiry.
        let forged = br#"{"issuer":"https://idp.example","token_endpoint":"https://evil.example/token"}"#;
        assert!(!ok(&r, url, Some("1750000600"), forged, Some(&mac)), "body");
        assert!(!ok(&r, url, Some("1750000600"), &body[..body.len() - 1], Some(&mac)), "truncated body");
        assert!(!ok(&r, "https://idp.example/jwks", Some("1750000600"), body, Some(&mac)), "another URL");
        assert!(!ok(&r, &format!("{url}?x"), Some("1750000600"), body, Some(&mac)), "another URL");
        assert!(!ok(&r, url, Some("1750086400"), body, Some(&mac)), "a longer life");
        assert!(!ok(&r, url, Some("1750000599"), body, Some(&mac)), "another expiry");
        // URL and expiry cannot trade bytes with the body (length-prefixed, fixed width).
        let shifted = r.document_mac("https://idp.example/x", 1, b"");
        assert!(!ok(&r, "https://idp.example/", Some("1"), b"x", Some(&shifted)));
        // Absent, malformed or foreign MACs; absent or malformed expiry.
        assert!(!ok(&r, url, Some("1750000600"), body, None), "absent MAC");
        for bad in ["", "x", "AAAA", &mac[..mac.len() - 1], &"A".repeat(43)] {
            assert!(!ok(&r, url, Some("1750000600"), body, Some(bad)), "{bad:?}");
        }
        assert!(!ok(&r, url, None, body, Some(&mac)), "absent expiry");
        assert!(!ok(&r, url, Some("soon"), body, Some(&mac)), "malformed expiry");
        assert!(!ok(&ring(K2), url, Some("1750000600"), body, Some(&mac)), "another key");
        // A cookie MAC key is not the document key (purposes are separate).
        let cookie_keyed = r.keys[0].session.clone();
        let cookie_style = b64::encode(document_tag(&cookie_keyed, url, 1_750_000_600, body));
        assert!(!ok(&r, url, Some("1750000600"), body, Some(&cookie_style)));
        // Rotation: a copy stored under the previous first key still verifies; new copies use the new one.
        let rotated = ring(&format!("{K2},{K1}"));
        assert!(ok(&rotated, url, Some("1750000600"), body, Some(&mac)));
        let new = rotated.document_mac(url, 1_750_000_600, body);
        assert_ne!(new, mac);
        assert!(ok(&ring(K2), url, Some("1750000600"), body, Some(&new)));
        assert!(!ok(&r, url, Some("1750000600"), body, Some(&new)), "the removed key's copies are misses");
    }

    #[test]
    fn oversized_values_are_refused_without_work() {
        let r = ring(K1);
        assert!(r.open(Purpose::Session, "n", &"v".repeat(MAX_COOKIE_VALUE_LEN + 1)).is_none());
    }
}
