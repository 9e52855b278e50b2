//! Sessions and login transactions, both carried in signed cookies.

pub mod codec;
pub mod cookies;
pub mod memo;
pub mod record;
pub mod return_to;
pub mod revocation;
pub mod revocation_state;
pub mod transaction;
