//! What the SP sends and publishes: the `AuthnRequest` of SP-initiated sign-in (HTTP-Redirect binding: the
//! caller raw-DEFLATEs and base64-encodes this XML into `SAMLRequest`) and the SP's metadata document
//! (`GET /auth/saml/{id}/metadata`). Both are written from fixed templates with every value escaped: no XML
//! writer, no value can add markup.

use super::{ASSERTION_NS, EMAIL_ADDRESS_FORMAT, PROTOCOL_NS};
use crate::core::xml::dsig::DSIG_NS;

const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const UNSPECIFIED_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// Escape a value for an XML attribute (double-quoted) or text: the HTML escaping the worker's pages use (which
/// is valid XML), plus tab, newline and carriage return as character references, so that an XML parser's
/// attribute-value normalisation cannot turn them into spaces.
fn escape(value: &str) -> String {
    let escaped = crate::core::html::escape(value);
    if !value.contains(['\t', '\n', '\r']) {
        return escaped;
    }
    escaped.replace('\t', "&#x9;").replace('\n', "&#xA;").replace('\r', "&#xD;")
}

/// An `xs:dateTime` in UTC (`2026-12-02T10:00:00Z`) for seconds since the epoch.
pub fn format_datetime(seconds: u64) -> String {
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX / 2);
    let rest = seconds % 86_400;
    // H. Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// An SP-initiated `AuthnRequest`.
#[derive(Debug, Clone)]
pub struct AuthnRequest<'a> {
    /// The request's ID (random, starts with a letter or `_` as xs:ID requires); bound to the browser by the
    /// transaction cookie and expected back as `InResponseTo`.
    pub id: &'a str,
    pub issue_instant: u64,
    /// The IdP's SSO URL (the request's `Destination`).
    pub destination: &'a str,
    /// Where the response must be posted (the SP's ACS URL).
    pub acs_url: &'a str,
    /// The SP's entity ID (the request's `Issuer`, the audience the IdP must name).
    pub sp_entity_id: &'a str,
}

impl AuthnRequest<'_> {
    /// The request's XML (before the HTTP-Redirect encoding). Leaves the NameID format to the IdP's own
    /// configuration (`unspecified`: AD FS and Okta answer a format they were not set up for with an
    /// `InvalidNameIDPolicy` error; the email is read from an emailAddress NameID or the attributes alike) and
    /// allows it to create one (`AllowCreate`); the response is requested by HTTP-POST to the ACS URL.
    pub fn to_xml(&self) -> String {
        format!(
            "<samlp:AuthnRequest xmlns:samlp=\"{PROTOCOL_NS}\" xmlns:saml=\"{ASSERTION_NS}\" ID=\"{id}\" \
             Version=\"2.0\" IssueInstant=\"{instant}\" Destination=\"{destination}\" \
             AssertionConsumerServiceURL=\"{acs}\" ProtocolBinding=\"{POST_BINDING}\">\
             <saml:Issuer>{issuer}</saml:Issuer>\
             <samlp:NameIDPolicy Format=\"{UNSPECIFIED_FORMAT}\" AllowCreate=\"true\"/>\
             </samlp:AuthnRequest>",
            id = escape(self.id),
            instant = format_datetime(self.issue_instant),
            destination = escape(self.destination),
            acs = escape(self.acs_url),
            issuer = escape(self.sp_entity_id),
        )
    }
}

/// The HTTP-Redirect binding (SAML Bindings §3.4.4.1): `sso_url` with `SAMLRequest` = base64 of the raw
/// DEFLATE (RFC 1951) of `request_xml`, and `RelayState`, added to any query the URL already has.
pub fn redirect_binding_url(sso_url: &str, request_xml: &str, relay_state: &str) -> String {
    let encoded = crate::core::b64::encode_standard(deflate_stored(request_xml.as_bytes()));
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &encoded)
        .append_pair("RelayState", relay_state)
        .finish();
    let separator = if sso_url.contains('?') { '&' } else { '?' };
    format!("{sso_url}{separator}{query}")
}

/// Raw DEFLATE of `data` in stored (uncompressed) blocks (RFC 1951 §3.2.4): a valid DEFLATE stream every
/// inflater reads, without shipping a compressor in the worker (an AuthnRequest is under 1 KB; compression would
/// only shorten the URL).
pub fn deflate_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / 65_535 + 1));
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        return vec![0x01, 0x00, 0x00, 0xff, 0xff];
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        // BFINAL in bit 0, BTYPE = 00 (stored) in bits 1-2; the rest of the byte is padding.
        out.push(u8::from(last));
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// The SP's metadata: its entity ID and ACS (HTTP-POST), the NameID formats it reads, and that it wants
/// assertions signed. (No signing key: edge-auth does not sign its requests.) With `encryption_certificate`
/// (base64 DER), a `KeyDescriptor use="encryption"` carrying it and the algorithms edge-auth decrypts, so that
/// an IdP reading the metadata encrypts assertions to it with one of them.
pub fn sp_metadata(sp_entity_id: &str, acs_url: &str, encryption_certificate: Option<&str>) -> String {
    let key_descriptor = match encryption_certificate {
        None => String::new(),
        Some(certificate) => {
            let methods: String = crate::core::xml::xenc::ACCEPTED_ALGORITHMS
                .iter()
                .map(|uri| format!("<md:EncryptionMethod Algorithm=\"{uri}\"/>"))
                .collect();
            format!(
                "<md:KeyDescriptor use=\"encryption\"><ds:KeyInfo xmlns:ds=\"{DSIG_NS}\"><ds:X509Data>\
                 <ds:X509Certificate>{certificate}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>{methods}\
                 </md:KeyDescriptor>",
                certificate = escape(certificate),
            )
        }
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <md:EntityDescriptor xmlns:md=\"{METADATA_NS}\" entityID=\"{entity}\">\
         <md:SPSSODescriptor AuthnRequestsSigned=\"false\" WantAssertionsSigned=\"true\" \
         protocolSupportEnumeration=\"{PROTOCOL_NS}\">{key_descriptor}\
         <md:NameIDFormat>{EMAIL_ADDRESS_FORMAT}</md:NameIDFormat>\
         <md:NameIDFormat>{UNSPECIFIED_FORMAT}</md:NameIDFormat>\
         <md:AssertionConsumerService Binding=\"{POST_BINDING}\" Location=\"{acs}\" index=\"0\" isDefault=\"true\"/>\
         </md:SPSSODescriptor></md:EntityDescriptor>\n",
        entity = escape(sp_entity_id),
        acs = escape(acs_url),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::saml::time::parse_datetime;
    use crate::core::xml::parse;

    #[test]
    fn datetimes_round_trip() {
        for t in ["1970-01-01T00:00:00Z", "2026-12-02T10:00:00Z", "2024-02-29T23:59:59Z", "2100-03-01T00:00:00Z"] {
            let seconds = parse_datetime(t).unwrap();
            assert_eq!(format_datetime(seconds), t);
        }
    }

    #[test]
    fn the_authn_request_is_well_formed_and_says_what_it_asks() {
        let request = AuthnRequest {
            id: "_3f1c",
            issue_instant: parse_datetime("2026-12-02T10:00:00Z").unwrap(),
            destination: "https://idp.example/sso?tenant=a&x=\"y\"",
            acs_url: "https://sp.example/auth/saml/acme/acs",
            sp_entity_id: "https://sp.example/auth/saml/acme/metadata",
        };
        let xml = request.to_xml();
        let document = parse(&xml).unwrap();
        let root = document.root_element();
        assert!(root.is(PROTOCOL_NS, "AuthnRequest"));
        assert_eq!(root.attribute(None, "ID"), Some("_3f1c"));
        assert_eq!(root.attribute(None, "IssueInstant"), Some("2026-12-02T10:00:00Z"));
        assert_eq!(
            root.attribute(None, "Destination"),
            Some("https://idp.example/sso?tenant=a&x=\"y\""),
            "escaped, read back whole"
        );
        assert_eq!(root.attribute(None, "AssertionConsumerServiceURL"), Some(request.acs_url));
        assert_eq!(root.attribute(None, "ProtocolBinding"), Some(POST_BINDING));
        let issuer = root.children_named(ASSERTION_NS, "Issuer").next().unwrap();
        assert_eq!(issuer.text().unwrap(), request.sp_entity_id);
        // Whitespace in a value survives attribute-value normalisation.
        let spaced = AuthnRequest { destination: "https://idp.example/a\tb\nc", ..request.clone() };
        let spaced_xml = spaced.to_xml();
        let document = parse(&spaced_xml).unwrap();
        assert_eq!(document.root_element().attribute(None, "Destination"), Some("https://idp.example/a\tb\nc"));
        // A value cannot add markup.
        let hostile = AuthnRequest { sp_entity_id: "x</saml:Issuer><evil/>", ..request };
        let hostile_xml = hostile.to_xml();
        let document = parse(&hostile_xml).unwrap();
        assert_eq!(document.elements().count(), 3, "AuthnRequest, Issuer, NameIDPolicy only");
    }

    #[test]
    fn the_metadata_names_the_entity_and_the_acs() {
        let xml =
            sp_metadata("https://sp.example/auth/saml/acme/metadata", "https://sp.example/auth/saml/acme/acs", None);
        let document = parse(&xml).unwrap();
        let root = document.root_element();
        assert!(root.is(METADATA_NS, "EntityDescriptor"));
        assert_eq!(root.attribute(None, "entityID"), Some("https://sp.example/auth/saml/acme/metadata"));
        let acs = document.elements().find(|e| e.is(METADATA_NS, "AssertionConsumerService")).unwrap();
        assert_eq!(acs.attribute(None, "Location"), Some("https://sp.example/auth/saml/acme/acs"));
        assert_eq!(acs.attribute(None, "Binding"), Some(POST_BINDING));
        assert!(!xml.contains("KeyDescriptor"), "no encryption key unless one is configured");
    }

    #[test]
    fn the_metadata_publishes_the_encryption_certificate_and_algorithms() {
        let xml = sp_metadata("https://sp.example/m", "https://sp.example/acs", Some("MIIBcert"));
        let document = parse(&xml).unwrap();
        let descriptor = document.elements().find(|e| e.is(METADATA_NS, "KeyDescriptor")).unwrap();
        assert_eq!(descriptor.attribute(None, "use"), Some("encryption"));
        // Schema order: KeyDescriptor before the NameID formats in the SPSSODescriptor.
        let sp = descriptor.parent_element().unwrap();
        assert!(sp.is(METADATA_NS, "SPSSODescriptor"));
        assert_eq!(sp.child_elements().next(), Some(descriptor));
        let certificate = document.elements().find(|e| e.is(DSIG_NS, "X509Certificate")).unwrap();
        assert_eq!(certificate.text().unwrap(), "MIIBcert");
        assert!(certificate.parent_element().unwrap().is(DSIG_NS, "X509Data"));
        let methods: Vec<&str> = descriptor
            .children_named(METADATA_NS, "EncryptionMethod")
            .map(|m| m.attribute(None, "Algorithm").unwrap())
            .collect();
        assert_eq!(methods, crate::core::xml::xenc::ACCEPTED_ALGORITHMS);
        assert!(!xml.contains("cbc"), "AES-CBC is not offered");
    }
}
