//! A validated connector: which IdP a set of email domains signs in with, and how.

/// Microsoft Entra ID's public cloud authority.
pub const ENTRA_DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The tenant id of personal Microsoft accounts (`consumers`).
pub const ENTRA_CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
pub const FACEBOOK_AUTHORIZATION_ENDPOINT: &str = "https://www.facebook.com/v21.0/dialog/oauth";
pub const FACEBOOK_TOKEN_ENDPOINT: &str = "https://graph.facebook.com/v21.0/oauth/access_token";
pub const FACEBOOK_GRAPH_ME_ENDPOINT: &str = "https://graph.facebook.com/v21.0/me";
/// What sessions from Facebook record as their issuer.
pub const FACEBOOK_ISSUER: &str = "https://www.facebook.com";

/// The kinds of connector: the single source of truth for their names and for which optional fields each
/// accepts (a field of another kind is refused by name, never silently ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectorKind {
    /// Any OpenID Connect provider, by discovery.
    Oidc,
    /// Microsoft Entra ID (v2.0 endpoints), single- or multi-tenant.
    Entra,
    /// Google accounts and Google Workspace.
    Google,
    /// Facebook Login (OAuth 2.0 + Graph API; no ID token).
    Facebook,
}

impl ConnectorKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [ConnectorKind; 4] =
        [ConnectorKind::Oidc, ConnectorKind::Entra, ConnectorKind::Google, ConnectorKind::Facebook];

    /// The kind's name in `AUTH_CONFIG` (`"kind": "entra"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Oidc => "oidc",
            ConnectorKind::Entra => "entra",
            ConnectorKind::Google => "google",
            ConnectorKind::Facebook => "facebook",
        }
    }

    pub fn parse(name: &str) -> Option<ConnectorKind> {
        ConnectorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the kind signs in with OpenID Connect (an ID token); Facebook does not.
    pub fn is_openid_connect(self) -> bool {
        !matches!(self, ConnectorKind::Facebook)
    }

    /// Whether the IdP can assert group membership (policies may grant by group only for these).
    pub fn asserts_groups(self) -> bool {
        matches!(self, ConnectorKind::Oidc | ConnectorKind::Entra)
    }

    /// The optional fields only some kinds accept, with the kinds that do. A field not listed here applies
    /// to every kind (`max_age` and `token_endpoint_auth_method` are refused for Facebook with their own
    /// reasons, see `config::connectors`).
    pub const KIND_SPECIFIC_FIELDS: [(&'static str, &'static [ConnectorKind]); 11] = {
        use ConnectorKind::*;
        [
            ("issuer", &[Oidc, Google]),
            ("claims", &[Oidc]),
            ("tenant", &[Entra]),
            ("allowed_tenants", &[Entra]),
            ("authority", &[Entra]),
            ("hosted_domains", &[Google]),
            ("authorization_endpoint", &[Facebook]),
            ("token_endpoint", &[Facebook]),
            ("graph_me_endpoint", &[Facebook]),
            ("prompt", &[Oidc, Entra, Google]),
            ("response_mode", &[Oidc, Entra, Google]),
        ]
    };
}

/// `prompt` values of OIDC Core §3.1.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    Login,
    None,
    Consent,
    SelectAccount,
}

impl Prompt {
    pub fn as_str(self) -> &'static str {
        match self {
            Prompt::Login => "login",
            Prompt::None => "none",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
        }
    }
}

/// How the IdP returns the authorization response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Redirect with the result in the query string (GET /auth/callback).
    Query,
    /// Auto-submitted form (POST /auth/callback), recommended for web apps.
    FormPost,
}

/// Which claims carry the session's email and name (`oidc` connectors may rename them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    pub email: String,
    pub name: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping { email: "email".into(), name: "name".into() }
    }
}

/// Which Entra tenants a connector accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntraTenancy {
    /// `common` or `organizations`: the issuer is a `{tenantid}` template; only `allowed_tenants` (tenant
    /// ids) may sign in.
    Multi { allowed_tenants: Vec<String> },
    /// `consumers`: personal Microsoft accounts only (tenant id `9188040d-…`).
    Consumers,
    /// One tenant, by id or by domain (`contoso.onmicrosoft.com`); `allowed_tenants`, if given, must contain
    /// the id the discovery document reveals.
    Single { tenant: String, allowed_tenants: Vec<String> },
}

/// How a connector talks to its IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// OpenID Connect with discovery (kinds `oidc`, `entra`, `google`).
    OpenIdConnect {
        claims: ClaimMapping,
        /// Google Workspace domains (`hd`), enforced on the ID token.
        hosted_domains: Vec<String>,
        /// Set for `entra` connectors.
        entra: Option<EntraSettings>,
    },
    /// OAuth 2.0 + Graph API (kind `facebook`).
    Facebook { authorization_endpoint: String, token_endpoint: String, graph_me_endpoint: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraSettings {
    /// `https://login.microsoftonline.com` (or a national cloud / test authority).
    pub authority: String,
    pub tenancy: EntraTenancy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEndpointAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

impl TokenEndpointAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            _ => None,
        }
    }
}

/// A validated connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    pub id: String,
    pub kind: ConnectorKind,
    pub display_name: String,
    /// The issuer: for `oidc` and `google` exactly as the IdP states it in discovery and tokens; for `entra`
    /// the authority URL (`https://login.microsoftonline.com/{tenant}/v2.0`) whose discovery document is
    /// used; for `facebook` `https://www.facebook.com`.
    pub issuer: String,
    pub client_id: String,
    /// Name of the Worker secret holding the client secret.
    pub client_secret_binding: String,
    /// Normalised domains this connector owns.
    pub domains: Vec<String>,
    /// Extra scopes requested after `openid profile email`.
    pub extra_scopes: Vec<String>,
    /// Configured client authentication at the token endpoint; `None` = choose from discovery.
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    pub prompt: Option<Prompt>,
    /// OIDC `max_age` (seconds): the IdP must re-authenticate older sessions; `auth_time` is then checked.
    pub max_age: Option<u64>,
    pub response_mode: ResponseMode,
    pub protocol: Protocol,
}

impl Connector {
    /// `issuer` + `/.well-known/openid-configuration` (OIDC Discovery §4: a trailing `/` is removed first).
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'))
    }

    pub fn owns_domain(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d == domain)
    }
}
