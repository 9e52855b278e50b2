//! OpenID Connect protocol steps, sans IO: each builds a request or parses a response.

pub mod authorize;
pub mod discovery;
pub mod id_token;
pub mod issuer;
pub mod jwks;
pub mod jws;
pub mod logout_token;
pub mod token;
pub mod userinfo;
pub mod verifier;
