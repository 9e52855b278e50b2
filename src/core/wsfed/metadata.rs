//! TEMPORARY STUB (replaced by the federation metadata parser from branch wsfed-md).
use crate::core::saml::metadata::{IdpDescriptor, MetadataError};
pub fn parse_federation_metadata(text: &str, now: u64) -> Result<IdpDescriptor, MetadataError> {
    crate::core::saml::metadata::parse_idp_metadata(text, now)
}
