//! The login transaction: what the callback needs to finish a login started in this browser.
//!
//! Carried in a short-lived signed cookie (purpose "login-transaction"), cleared by the callback whatever
//! its outcome, so each transaction is used at most once by a browser.

use serde::Serialize;

use crate::core::secret::Secret;
use crate::core::session::codec::{KeyRing, Purpose};
use crate::core::session::cookies::cookie_values;

/// How long a visitor has to complete the sign-in at the IdP.
pub const LOGIN_TRANSACTION_TTL_SECONDS: u64 = 600;

/// Written as JSON with serde (`Serialize`), read back by [`LoginTransaction::read`].
#[derive(Serialize)]
pub struct LoginTransaction {
    /// Connector id.
    #[serde(rename = "c")]
    pub connector: String,
    #[serde(rename = "s")]
    pub state: String,
    #[serde(rename = "n")]
    pub nonce: String,
    /// PKCE code verifier (RFC 7636), 43 characters: a secret of this login, exposed only to derive the
    /// challenge and to send it to the token endpoint.
    #[serde(rename = "v", with = "sealed_secret")]
    pub pkce_verifier: Secret<String>,
    #[serde(rename = "r")]
    pub return_to: String,
    /// The redirect URI sent in the authorization request (must be repeated at the token endpoint).
    #[serde(rename = "u")]
    pub redirect_uri: String,
    #[serde(rename = "e")]
    pub expires_at: u64,
}

/// A [`Secret`] written into the sealed cookie only: `Secret` itself has no serde impls, so no other
/// serialisation can carry it by accident.
mod sealed_secret {
    use serde::Serializer;

    use crate::core::secret::Secret;

    pub fn serialize<S: Serializer>(secret: &Secret<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(secret.expose())
    }
}

impl std::fmt::Debug for LoginTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginTransaction")
            .field("connector", &self.connector)
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl LoginTransaction {
    /// The transaction from its sealed JSON's members (the names `Serialize` writes).
    fn read(document: &crate::core::json::Object) -> Result<LoginTransaction, String> {
        let m = crate::core::json::Members(document);
        let string = |name: &str| m.string(name).map(str::to_string);
        Ok(LoginTransaction {
            connector: string("c")?,
            state: string("s")?,
            nonce: string("n")?,
            pkce_verifier: Secret::new(string("v")?),
            return_to: string("r")?,
            redirect_uri: string("u")?,
            expires_at: m.u64("e")?,
        })
    }

    pub fn seal(&self, keys: &KeyRing, cookie_name: &str) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        keys.seal(Purpose::LoginTransaction, cookie_name, &json)
    }

    /// The unexpired transaction from the `Cookie` header, or `None`.
    pub fn from_cookie_header(header: &str, cookie_name: &str, keys: &KeyRing, now: u64) -> Option<LoginTransaction> {
        cookie_values(header, cookie_name).find_map(|value| {
            let bytes = keys.open(Purpose::LoginTransaction, cookie_name, value)?;
            let t = LoginTransaction::read(&crate::core::json::parse_object(&bytes).ok()?).ok()?;
            (t.expires_at > now).then_some(t)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::session::record::Session;

    fn keys() -> KeyRing {
        KeyRing::from_secret("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY").unwrap()
    }

    fn tx(expires_at: u64) -> LoginTransaction {
        LoginTransaction {
            connector: "acme".into(),
            state: "st".into(),
            nonce: "no".into(),
            pkce_verifier: Secret::new("ve".into()),
            return_to: "/x".into(),
            redirect_uri: "https://site.example/auth/callback".into(),
            expires_at,
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let k = keys();
        let v = tx(100).seal(&k, "tx");
        let t = LoginTransaction::from_cookie_header(&format!("tx={v}"), "tx", &k, 99).unwrap();
        assert_eq!(t.state, "st");
        assert!(LoginTransaction::from_cookie_header(&format!("tx={v}"), "tx", &k, 100).is_none());
    }

    #[test]
    fn a_transaction_cookie_is_not_a_session_and_vice_versa() {
        let k = keys();
        let tx_value = tx(100).seal(&k, "c");
        assert!(Session::from_cookie_header(&format!("c={tx_value}"), "c", &k, 1).is_none());
        let s = Session {
            sub: "s".into(),
            email: "e@x.example".into(),
            name: None,
            connector: "acme".into(),
            iss: "i".into(),
            iat: 1,
            exp: 100,
            sid: None,
            renewed_at: 1,
            groups: vec![],
        };
        let s_value = s.seal(&k, "c");
        assert!(LoginTransaction::from_cookie_header(&format!("c={s_value}"), "c", &k, 1).is_none());
    }

    #[test]
    fn debug_hides_secrets() {
        let d = format!("{:?}", tx(1));
        assert!(!d.contains("ve") || !d.contains("\"ve\""));
        assert!(!d.contains("\"st\"") && !d.contains("\"no\""), "{d}");
    }
}
