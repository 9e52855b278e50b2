//! A test-only WS-Federation IdP (passive requestor profile, as AD FS and Entra ID answer `wa=wsignin1.0`):
//! reads the sign-in request out of edge-auth's login redirect (`wtrealm`, `wctx`, `wreply`) and answers it with a
//! `wresult` — a WS-Trust 2005/02 `RequestSecurityTokenResponse` holding a SAML 1.1 assertion (the default, as
//! AD FS and Entra send) or a SAML 2.0 one (Entra's SAML 2.0 token type; built by the SAML IdP of
//! testkit/saml.rs) — signed at test time with [`saml::enveloped_signature`] (edge-auth's exclusive c14n, `ring`,
//! the TEST-ONLY keys of tests/fixtures/xml/dsig/). The shapes are those of tests/fixtures/xml/wsfed/make.py
//! (signed there by an independent signer, read by tests/wsfed_wresult.rs). Also its federation metadata
//! (WS-Federation 1.2 §3.1: a `RoleDescriptor` of type `fed:SecurityTokenServiceType` with the signing keys and
//! the `fed:PassiveRequestorEndpoint`, beside the SAML `IDPSSODescriptor` Entra and AD FS publish too).
//!
//! Included with `#[path]` by tests/wsfed_flow.rs; it includes testkit/saml.rs as its module [`saml`]. Not a
//! module of testkit/mod.rs: it needs edge-auth's `xml` feature.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

#[path = "saml.rs"]
pub mod saml;

use edge_auth::core::saml::request::format_datetime;
use url::Url;

use saml::{enveloped_signature, foreign_signer, pem_body, signer, Reply, Signing};

pub const SAML11_NS: &str = "urn:oasis:names:tc:SAML:1.0:assertion";
const TRUST_2005_NS: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust";
const WSU_NS: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const POLICY_NS: &str = "http://schemas.xmlsoap.org/ws/2004/09/policy";
const ADDRESSING_NS: &str = "http://www.w3.org/2005/08/addressing";
const FEDERATION_NS: &str = "http://docs.oasis-open.org/wsfed/federation/200706";
const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SAML11_BEARER: &str = "urn:oasis:names:tc:SAML:1.0:cm:bearer";
pub const PERSISTENT_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";

pub const EMAIL_CLAIM: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
pub const UPN_CLAIM: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";
pub const DISPLAY_NAME_CLAIM: &str = "http://schemas.microsoft.com/identity/claims/displayname";
pub const IMMUTABLE_ID_CLAIM: &str = "http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID";
pub const ROLE_CLAIM: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";

/// What the IdP read from the login redirect.
#[derive(Debug, Clone)]
pub struct SeenSignIn {
    /// The passive endpoint (the redirect without its query).
    pub endpoint: String,
    /// Every query parameter, in order.
    pub query: Vec<(String, String)>,
    pub realm: String,
    pub wctx: String,
    pub wreply: String,
}

/// Read the sign-in request the login redirect carries: `wa=wsignin1.0` and `wtrealm`, `wctx`, `wreply` once each.
pub fn read_sign_in(location: &Url) -> SeenSignIn {
    let query: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    let one = |name: &str| {
        let values: Vec<&String> = query.iter().filter(|(k, _)| k == name).map(|(_, v)| v).collect();
        assert_eq!(values.len(), 1, "{name} once in {location}");
        values[0].clone()
    };
    assert_eq!(one("wa"), "wsignin1.0", "{location}");
    let mut endpoint = location.clone();
    endpoint.set_query(None);
    SeenSignIn {
        endpoint: endpoint.into(),
        realm: one("wtrealm"),
        wctx: one("wctx"),
        wreply: one("wreply"),
        query: query.clone(),
    }
}

/// The token in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Saml11,
    Saml2,
}

/// An ImmutableID-style stable identifier for an address (what the tests expect as the session's `sub`).
pub fn immutable_id(email: &str) -> String {
    format!("imm/{}==", email.split('@').next().unwrap_or_default())
}

/// Every field of a token a test may change. [`Token::to`] fills them from a sign-in request as a well-behaved
/// AD FS would.
#[derive(Debug, Clone)]
pub struct Token {
    pub version: Version,
    pub assertion_id: String,
    pub issuer: String,
    pub issue_instant: u64,
    pub name_identifier: String,
    /// `None`: no `Format` (SAML 1.1); the persistent format for SAML 2.0.
    pub name_identifier_format: Option<String>,
    pub not_before: u64,
    pub not_on_or_after: u64,
    pub audience: String,
    /// SAML 2.0: the bearer confirmation's `Recipient` (the reply URL).
    pub recipient: String,
    /// SAML 2.0: the `AuthnStatement`'s `SessionNotOnOrAfter`.
    pub session_not_on_or_after: Option<u64>,
    /// Claims by their full URI (SAML 1.1: `AttributeNamespace` = up to the last `/`, `AttributeName` after it).
    pub claims: Vec<(String, Vec<String>)>,
    /// The (unsigned) `AppliesTo` address, as the IdPs send it: the realm.
    pub applies_to: Option<String>,
    /// Signed with the foreign key other-key.pem instead of the IdP's.
    pub foreign_key: bool,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;")
}

impl Token {
    /// A well-behaved IdP's SAML 1.1 token for `request`, from `issuer`, for `email` at `now` (valid 5 minutes):
    /// the NameIdentifier in the email format, the email, display name, ImmutableID and role claims.
    pub fn to(request: &SeenSignIn, issuer: &str, email: &str, now: u64) -> Token {
        Token {
            version: Version::Saml11,
            assertion_id: format!("_assert-{}", request.wctx),
            issuer: issuer.to_string(),
            issue_instant: now,
            name_identifier: email.to_string(),
            name_identifier_format: Some(saml::EMAIL_FORMAT.to_string()),
            not_before: now - 30,
            not_on_or_after: now + 300,
            audience: request.realm.clone(),
            recipient: request.wreply.clone(),
            session_not_on_or_after: None,
            claims: vec![
                (EMAIL_CLAIM.into(), vec![email.into()]),
                (DISPLAY_NAME_CLAIM.into(), vec!["Alice Example".into()]),
                (IMMUTABLE_ID_CLAIM.into(), vec![immutable_id(email)]),
                (ROLE_CLAIM.into(), vec!["admins".into(), "staff".into()]),
            ],
            applies_to: Some(request.realm.clone()),
            foreign_key: false,
        }
    }

    /// The same token as SAML 2.0 (Entra's SAML 2.0 token type): persistent NameID, no InResponseTo.
    pub fn saml2(self) -> Token {
        Token { version: Version::Saml2, name_identifier_format: Some(PERSISTENT_FORMAT.into()), ..self }
    }

    /// Without the claim `name`.
    pub fn without(mut self, name: &str) -> Token {
        self.claims.retain(|(n, _)| n != name);
        self
    }

    fn saml11_assertion(&self, signature: &str) -> String {
        let format =
            self.name_identifier_format.as_ref().map(|f| format!(" Format=\"{}\"", esc(f))).unwrap_or_default();
        let subject = format!(
            "<saml:Subject><saml:NameIdentifier{format}>{}</saml:NameIdentifier><saml:SubjectConfirmation>\
             <saml:ConfirmationMethod>{SAML11_BEARER}</saml:ConfirmationMethod></saml:SubjectConfirmation></saml:Subject>",
            esc(&self.name_identifier)
        );
        let attributes: String = self
            .claims
            .iter()
            .map(|(uri, values)| {
                let (namespace, name) = uri.rsplit_once('/').unwrap();
                let values: String =
                    values.iter().map(|v| format!("<saml:AttributeValue>{}</saml:AttributeValue>", esc(v))).collect();
                format!(
                    "<saml:Attribute AttributeName=\"{}\" AttributeNamespace=\"{}\">{values}</saml:Attribute>",
                    esc(name),
                    esc(namespace)
                )
            })
            .collect();
        let statement = if attributes.is_empty() {
            String::new()
        } else {
            format!("<saml:AttributeStatement>{subject}{attributes}</saml:AttributeStatement>")
        };
        format!(
            "<saml:Assertion MajorVersion=\"1\" MinorVersion=\"1\" AssertionID=\"{id}\" Issuer=\"{issuer}\" \
             IssueInstant=\"{instant}\" xmlns:saml=\"{SAML11_NS}\">\
             <saml:Conditions NotBefore=\"{not_before}\" NotOnOrAfter=\"{not_on_or_after}\">\
             <saml:AudienceRestrictionCondition><saml:Audience>{audience}</saml:Audience></saml:AudienceRestrictionCondition>\
             </saml:Conditions>{statement}\
             <saml:AuthenticationStatement AuthenticationMethod=\"urn:oasis:names:tc:SAML:1.0:am:password\" \
             AuthenticationInstant=\"{instant}\">{subject}</saml:AuthenticationStatement>{signature}</saml:Assertion>",
            id = esc(&self.assertion_id),
            issuer = esc(&self.issuer),
            instant = format_datetime(self.issue_instant),
            not_before = format_datetime(self.not_before),
            not_on_or_after = format_datetime(self.not_on_or_after),
            audience = esc(&self.audience),
        )
    }

    /// The SAML 2.0 assertion, by the SAML IdP's template (testkit/saml.rs) with the WS-Federation confirmation.
    fn saml2_assertion(&self) -> String {
        let reply = Reply {
            response_id: String::new(),
            destination: String::new(),
            in_response_to: None,
            response_issuer: None,
            status: saml::SUCCESS.into(),
            substatus: None,
            assertion_id: self.assertion_id.clone(),
            issuer: self.issuer.clone(),
            issue_instant: self.issue_instant,
            name_id: self.name_identifier.clone(),
            name_id_format: self.name_identifier_format.clone().unwrap_or_else(|| PERSISTENT_FORMAT.into()),
            recipient: self.recipient.clone(),
            confirmation_in_response_to: None,
            confirmation_not_on_or_after: self.not_on_or_after,
            not_before: self.not_before,
            not_on_or_after: self.not_on_or_after,
            audience: self.audience.clone(),
            session_not_on_or_after: self.session_not_on_or_after,
            attributes: self.claims.clone(),
            signing: if self.foreign_key { Signing::AssertionWithForeignKey } else { Signing::Assertion },
            signature_method: saml::SignatureMethod::RsaSha256,
            digest_method: saml::DigestMethod::Sha256,
        };
        reply.assertion()
    }

    /// The signed token.
    pub fn assertion(&self) -> String {
        match self.version {
            Version::Saml11 => {
                let key = if self.foreign_key { foreign_signer() } else { signer() };
                let unsigned = self.saml11_assertion("");
                self.saml11_assertion(&enveloped_signature(&unsigned, &self.assertion_id, key))
            }
            Version::Saml2 => self.saml2_assertion(),
        }
    }

    /// The `wresult` form field: the response (raw XML) around the signed token.
    pub fn wresult(&self) -> String {
        let token_type = match self.version {
            Version::Saml11 => SAML11_NS,
            Version::Saml2 => saml::ASSERTION_NS,
        };
        let applies_to = self
            .applies_to
            .as_ref()
            .map(|realm| {
                format!(
                    "<wsp:AppliesTo xmlns:wsp=\"{POLICY_NS}\"><wsa:EndpointReference xmlns:wsa=\"{ADDRESSING_NS}\">\
                     <wsa:Address>{}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>",
                    esc(realm)
                )
            })
            .unwrap_or_default();
        format!(
            "<t:RequestSecurityTokenResponse xmlns:t=\"{TRUST_2005_NS}\"><t:Lifetime>\
             <wsu:Created xmlns:wsu=\"{WSU_NS}\">{created}</wsu:Created>\
             <wsu:Expires xmlns:wsu=\"{WSU_NS}\">{expires}</wsu:Expires></t:Lifetime>{applies_to}\
             <t:RequestedSecurityToken>{token}</t:RequestedSecurityToken><t:TokenType>{token_type}</t:TokenType>\
             <t:RequestType>{TRUST_2005_NS}/Issue</t:RequestType>\
             <t:KeyType>http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey</t:KeyType>\
             </t:RequestSecurityTokenResponse>",
            created = format_datetime(self.not_before),
            expires = format_datetime(self.not_on_or_after),
            token = self.assertion(),
        )
    }
}

/// Federation metadata as Entra publishes it: the security token service (its signing certificates, the claims
/// it offers, its passive endpoint `sso_url`) and a SAML `IDPSSODescriptor` with the same certificates and a
/// SAML endpoint (`{sso_url}saml2`, which a WS-Federation relying party must not use).
pub fn federation_metadata(entity_id: &str, sso_url: &str, certificates: &[&str], valid_until: Option<u64>) -> String {
    let valid_until = valid_until.map(|t| format!(" validUntil=\"{}\"", format_datetime(t))).unwrap_or_default();
    let keys: String = certificates
        .iter()
        .map(|pem| {
            format!(
                "<KeyDescriptor use=\"signing\"><KeyInfo xmlns=\"{DSIG_NS}\"><X509Data><X509Certificate>{}\
                 </X509Certificate></X509Data></KeyInfo></KeyDescriptor>",
                pem_body(pem)
            )
        })
        .collect();
    let claims: String = [EMAIL_CLAIM, UPN_CLAIM, IMMUTABLE_ID_CLAIM]
        .iter()
        .map(|uri| {
            format!(
                "<auth:ClaimType Uri=\"{uri}\" xmlns:auth=\"http://docs.oasis-open.org/wsfed/authorization/200706\">\
                 <auth:DisplayName>{}</auth:DisplayName></auth:ClaimType>",
                uri.rsplit('/').next().unwrap()
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <EntityDescriptor ID=\"_federation-metadata\" entityID=\"{entity_id}\" xmlns=\"{METADATA_NS}\"{valid_until}>\
         <RoleDescriptor xsi:type=\"fed:SecurityTokenServiceType\" protocolSupportEnumeration=\"{FEDERATION_NS}\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:fed=\"{FEDERATION_NS}\">{keys}\
         <fed:ClaimTypesOffered>{claims}</fed:ClaimTypesOffered>\
         <fed:PassiveRequestorEndpoint><wsa:EndpointReference xmlns:wsa=\"{ADDRESSING_NS}\">\
         <wsa:Address>{sso_url}</wsa:Address></wsa:EndpointReference></fed:PassiveRequestorEndpoint>\
         </RoleDescriptor>\
         <IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{keys}\
         <SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{sso_url}saml2\"/>\
         </IDPSSODescriptor></EntityDescriptor>"
    )
}
