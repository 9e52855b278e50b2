//! The sans-IO core. Everything that decides lives here; see the module docs.

pub mod assertion;
pub mod assertion_cache;
pub mod b64;
pub mod cache;
pub mod config;
pub mod deployment;
pub mod entry;
pub mod error;
pub mod facebook;
pub mod fetch;
pub mod flow;
pub mod html;
pub mod http;
pub mod incoming;
pub mod json;
pub mod location_cache;
pub mod oidc;
pub mod path;
pub mod policy;
pub mod ports;
pub mod replay;
pub mod routing;
pub mod secret;
pub mod session;
pub mod url;
