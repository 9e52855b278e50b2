//! TEMPORARY STUB (replaced by the federation metadata parser from branch wsfed-md).
use crate::core::saml::metadata::{IdpDescriptor, MetadataError};
pub fn parse_federation_metadata(text: &str, now: u64) -> Result<IdpDescriptor, MetadataError> {
    crate::core::saml::metadata::parse_idp_metadata(text, now)
}
pub fn parse_federation_metadata_certificates(
    text: &str,
    now: u64,
) -> Result<(IdpDescriptor, Vec<crate::core::x509::IdpCertificate>), MetadataError> {
    crate::core::saml::metadata::parse_idp_metadata_certificates(text, now)
}
