//! `AUTH_CONFIG` as a whole: what is accepted, and how every refusal names the connector and field.

use super::*;

const MINIMAL: &str = r#"{
  "connectors": [
    { "id": "acme", "kind": "oidc", "issuer": "https://idp.acme.example",
      "client_id": "edge", "client_secret_binding": "ACME_CLIENT_SECRET",
      "domains": ["acme.example", "acme.co.example"] }
  ]
}"#;

fn with_connector(patch: &str) -> String {
    format!(
        r#"{{"connectors":[{{"id":"acme","kind":"oidc","issuer":"https://idp.acme.example","client_id":"edge","client_secret_binding":"ACME_SECRET","domains":["acme.example"]{patch}}}]}}"#
    )
}

#[test]
fn the_minimal_spec_shape_is_accepted_with_defaults() {
    let c = Config::from_json(MINIMAL).unwrap();
    assert_eq!(c.connectors.len(), 1);
    let acme = &c.connectors[0];
    assert_eq!(acme.display_name, "acme");
    assert_eq!(acme.domains, vec!["acme.example", "acme.co.example"]);
    assert_eq!(acme.discovery_url(), "https://idp.acme.example/.well-known/openid-configuration");
    assert_eq!(c.session.lifetime_seconds, DEFAULT_SESSION_LIFETIME_SECONDS);
    assert_eq!(c.clock_leeway_seconds, 60);
    assert_eq!(c.connector_for_domain("acme.co.example").unwrap().id, "acme");
    assert!(c.connector_for_domain("other.example").is_none());
}

#[test]
fn domains_are_normalised() {
    let c = Config::from_json(&with_connector("").replace("\"acme.example\"", "\"ACME.Example.\"")).unwrap();
    assert_eq!(c.connectors[0].domains, vec!["acme.example"]);
}

#[test]
fn discovery_suffix_and_trailing_slash() {
    let c = Config::from_json(
        &with_connector("")
            .replace("https://idp.acme.example", "https://idp.acme.example/t/v2.0/.well-known/openid-configuration"),
    )
    .unwrap();
    assert_eq!(c.connectors[0].issuer, "https://idp.acme.example/t/v2.0");
    let c = Config::from_json(&with_connector("").replace("https://idp.acme.example", "https://idp.acme.example/"))
        .unwrap();
    assert_eq!(c.connectors[0].issuer, "https://idp.acme.example/", "issuer kept exactly");
    assert_eq!(c.connectors[0].discovery_url(), "https://idp.acme.example/.well-known/openid-configuration");
}

fn error_of(json: &str) -> ConfigError {
    Config::from_json(json).unwrap_err()
}

#[test]
fn errors_name_connector_field_and_reason() {
    let e = error_of(&with_connector("").replace("https://idp.acme.example", "http://idp.acme.example"));
    assert_eq!(e.connector.as_deref(), Some("acme"));
    assert_eq!(e.field, "issuer");
    assert!(e.reason.contains("https"), "{e}");
    assert!(e.to_string().contains("connector \"acme\", field `issuer`"), "{e}");

    let e = error_of(&with_connector(r#","domian":["x.example"]"#));
    assert_eq!(e.connector.as_deref(), Some("acme"));
    assert!(e.reason.contains("unknown field `domian`"), "{e}");

    let e = error_of(r#"{"connectors":[{"kind":"oidc"}]}"#);
    assert_eq!(e.connector.as_deref(), Some("#1"));
    assert!(e.reason.contains("missing field `id`"), "{e}");

    let e = error_of(&with_connector("").replace(r#""domains":["acme.example"]"#, r#""domains":["acme.example", 7]"#));
    assert_eq!(e.field, "domains[1]");

    let e = error_of(&with_connector("").replace("\"acme.example\"", "\"not a domain\""));
    assert_eq!(e.field, "domains[0]");

    let e = error_of(&with_connector(r#","token_endpoint_auth_method":"private_key_jwt""#));
    assert_eq!(e.field, "token_endpoint_auth_method");

    let e = error_of(&with_connector("").replace("\"kind\":\"oidc\"", "\"kind\":\"ws-trust\""));
    assert_eq!(e.field, "kind");

    let e = error_of(&with_connector("").replace("ACME_SECRET", "s3cr3t value!"));
    assert_eq!(e.field, "client_secret_binding");
    assert!(!e.to_string().contains("s3cr3t"), "the supposed secret is not echoed");
}

#[test]
fn http_issuer_only_on_loopback() {
    for ok in ["http://localhost:9000", "http://127.0.0.1:9000", "http://127.9.9.9", "http://[::1]:8080"] {
        assert!(Config::from_json(&with_connector("").replace("https://idp.acme.example", ok)).is_ok(), "{ok}");
    }
    for bad in [
        "http://10.0.0.1",
        "http://localhost.evil.example",
        "http://[::2]",
        "ftp://idp.example",
        "idp.example",
        "https://u:p@idp.example",
    ] {
        let e = error_of(&with_connector("").replace("https://idp.acme.example", bad));
        assert_eq!(e.field, "issuer", "{bad}");
    }
}

#[test]
fn non_ascii_urls_are_refused_before_parsing() {
    // Fuzzing regression (fuzz/regressions/config/idna-adapter-*): upper-case ASCII next to non-ASCII in
    // a host reached a debug assertion inside the IDNA adapter.
    for url in [
        "https://Aé.example/",
        "https://idp.exämple",
        "https://idp.example/é",
        "https://R%A9ample/",
        "https://u@R%c3%A9.example/",
        "http:////NNNNNHHHHHHHH4HHH%F8%ers",
        "https:///IDP.example/",
        "https://",
    ] {
        assert!(check_endpoint_url(url).is_err(), "{url}");
    }
    assert!(check_endpoint_url("https://xn--idp-exmple-c5a.example/").is_ok());
    assert_eq!(check_endpoint_url("HTTPS://IDP.Example/Path").unwrap().as_str(), "https://idp.example/Path");
}

#[test]
fn a_domain_belongs_to_one_connector() {
    let json = r#"{"connectors":[
      {"id":"a","kind":"oidc","issuer":"https://a.example","client_id":"x","client_secret_binding":"A","domains":["shared.example"]},
      {"id":"b","kind":"oidc","issuer":"https://b.example","client_id":"x","client_secret_binding":"B","domains":["Shared.Example"]}]}"#;
    let e = error_of(json);
    assert_eq!(e.connector.as_deref(), Some("b"));
    assert_eq!(e.field, "domains[0]");
    assert!(e.reason.contains("\"a\""), "{e}");
    // Every spelling that normalises to the same domain is the same domain.
    for variant in ["shared.example.", "SHARED.EXAMPLE.", " shared.example "] {
        let e = error_of(&json.replace("Shared.Example", variant));
        assert_eq!((e.connector.as_deref(), e.field.as_str()), (Some("b"), "domains[0]"), "{variant:?}");
    }
}

#[test]
fn duplicate_ids_and_empty_lists_are_refused() {
    let json = r#"{"connectors":[
      {"id":"a","kind":"oidc","issuer":"https://a.example","client_id":"x","client_secret_binding":"A","domains":["a.example"]},
      {"id":"a","kind":"oidc","issuer":"https://b.example","client_id":"x","client_secret_binding":"B","domains":["b.example"]}]}"#;
    assert_eq!(error_of(json).field, "id");
    assert_eq!(error_of(r#"{"connectors":[]}"#).field, "connectors");
    // A member given twice is refused, never read as its last value: a second `connectors`, a second `domains`.
    let twice = format!(r#"{{"connectors":[],{}"#, with_connector("").trim_start_matches('{'));
    assert!(Config::from_json(&twice).unwrap_err().to_string().contains("duplicate field `connectors`"));
    let twice = with_connector("")
        .replace(r#""domains":["acme.example"]"#, r#""domains":["acme.example"],"domains":["evil.example"]"#);
    assert!(Config::from_json(&twice).unwrap_err().to_string().contains("duplicate field `domains`"), "{twice}");
    assert_eq!(error_of(&with_connector("").replace(r#"["acme.example"]"#, "[]")).field, "domains");
    assert_eq!(error_of(&with_connector("").replace("\"id\":\"acme\"", "\"id\":\"Acme Corp\"")).field, "id");
}

#[test]
fn session_and_leeway_bounds() {
    let base = with_connector("");
    let with = |extra: &str| format!("{},{extra}}}", base.trim_end_matches('}'));
    assert_eq!(
        Config::from_json(&with(r#""session":{"lifetime_seconds":3600}"#)).unwrap().session.lifetime_seconds,
        3600
    );
    assert_eq!(error_of(&with(r#""session":{"lifetime_seconds":5}"#)).field, "session.lifetime_seconds");
    assert_eq!(error_of(&with(r#""clock_leeway_seconds":3600"#)).field, "clock_leeway_seconds");
    assert_eq!(error_of(&with(r#""sesion":{}"#)).field, "sesion");
}

#[test]
fn arrays_are_not_read_as_objects() {
    assert_eq!(error_of(r#"[[{"id":"a"}]]"#).field, "(document)");
    let e = error_of(r#"{"connectors":[["acme","oidc","edge","S",["a.example"]]]}"#);
    assert_eq!((e.connector.as_deref(), e.field.as_str()), (Some("#1"), "(connector)"));
}

#[test]
fn not_json_is_a_clear_error() {
    let e = error_of("{not json");
    assert!(e.to_string().starts_with("AUTH_CONFIG"), "{e}");
    let e = error_of("");
    assert!(e.to_string().starts_with("AUTH_CONFIG"), "{e}");
}

#[test]
fn extra_scopes_deduplicated_and_validated() {
    let c = Config::from_json(&with_connector(r#","scopes":["openid","groups","groups","offline_access"]"#)).unwrap();
    assert_eq!(c.connectors[0].extra_scopes, vec!["groups", "offline_access"]);
    assert_eq!(error_of(&with_connector(r#","scopes":["a b"]"#)).field, "scopes[0]");
}

fn one(connector: &str) -> Result<Config, ConfigError> {
    Config::from_json(&format!(r#"{{"connectors":[{connector}]}}"#))
}

const BASE: &str = r#""id":"x","client_id":"c","client_secret_binding":"S","domains":["x.example"]"#;

#[test]
fn entra_tenancies() {
    let guid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let c = one(&format!(
        r#"{{{BASE},"kind":"entra","tenant":"organizations","allowed_tenants":["{}"]}}"#,
        guid.to_uppercase()
    ))
    .unwrap();
    let x = &c.connectors[0];
    assert_eq!(x.issuer, "https://login.microsoftonline.com/organizations/v2.0");
    assert_eq!(
        x.discovery_url(),
        "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"
    );
    match &x.protocol {
        Protocol::OpenIdConnect { entra: Some(e), .. } => {
            assert_eq!(e.tenancy, EntraTenancy::Multi { allowed_tenants: vec![guid.to_string()] })
        }
        other => panic!("{other:?}"),
    }
    // Multi-tenant authorities need an allow-list: otherwise any tenant in the world could sign in.
    for t in ["common", "organizations"] {
        let e = one(&format!(r#"{{{BASE},"kind":"entra","tenant":"{t}"}}"#)).unwrap_err();
        assert_eq!(e.field, "allowed_tenants", "{t}");
    }
    assert!(one(&format!(r#"{{{BASE},"kind":"entra","tenant":"consumers"}}"#)).is_ok());
    assert!(one(&format!(r#"{{{BASE},"kind":"entra","tenant":"{guid}"}}"#)).is_ok());
    assert!(one(&format!(r#"{{{BASE},"kind":"entra","tenant":"contoso.onmicrosoft.com"}}"#)).is_ok());
    assert_eq!(one(&format!(r#"{{{BASE},"kind":"entra"}}"#)).unwrap_err().field, "tenant");
    assert_eq!(one(&format!(r#"{{{BASE},"kind":"entra","tenant":"no such thing!"}}"#)).unwrap_err().field, "tenant");
    assert_eq!(
        one(&format!(r#"{{{BASE},"kind":"entra","tenant":"common","allowed_tenants":["not-a-guid"]}}"#))
            .unwrap_err()
            .field,
        "allowed_tenants[0]"
    );
    let national =
        one(&format!(r#"{{{BASE},"kind":"entra","tenant":"{guid}","authority":"https://login.microsoftonline.us/"}}"#))
            .unwrap();
    assert_eq!(national.connectors[0].issuer, format!("https://login.microsoftonline.us/{guid}/v2.0"));
}

#[test]
fn google_and_facebook_defaults() {
    let g = one(&format!(r#"{{{BASE},"kind":"google","hosted_domains":["X.example"]}}"#)).unwrap();
    assert_eq!(g.connectors[0].issuer, GOOGLE_ISSUER);
    assert!(
        matches!(&g.connectors[0].protocol, Protocol::OpenIdConnect { hosted_domains, .. } if hosted_domains == &["x.example"])
    );
    let f = one(&format!(r#"{{{BASE},"kind":"facebook"}}"#)).unwrap();
    assert_eq!(f.connectors[0].issuer, FACEBOOK_ISSUER);
    assert!(
        matches!(&f.connectors[0].protocol, Protocol::Facebook { graph_me_endpoint, .. } if graph_me_endpoint == FACEBOOK_GRAPH_ME_ENDPOINT)
    );
}

#[test]
fn fields_of_other_kinds_are_refused_by_name() {
    let e = one(&format!(r#"{{{BASE},"kind":"oidc","issuer":"https://i.example","tenant":"common"}}"#)).unwrap_err();
    assert_eq!(e.field, "tenant");
    assert!(e.reason.contains("entra"), "{e}");
    assert_eq!(one(&format!(r#"{{{BASE},"kind":"google","claims":{{"email":"mail"}}}}"#)).unwrap_err().field, "claims");
    assert_eq!(one(&format!(r#"{{{BASE},"kind":"facebook","prompt":"login"}}"#)).unwrap_err().field, "prompt");
    assert_eq!(one(&format!(r#"{{{BASE},"kind":"facebook","max_age":5}}"#)).unwrap_err().field, "max_age");
    assert_eq!(one(&format!(r#"{{{BASE},"kind":"oidc"}}"#)).unwrap_err().field, "issuer");
}

#[test]
fn oidc_options() {
    let c = one(&format!(
        r#"{{{BASE},"kind":"oidc","issuer":"https://i.example","prompt":"select_account","max_age":300,"response_mode":"form_post","claims":{{"email":"mail","name":"display_name"}}}}"#
    ))
    .unwrap();
    let x = &c.connectors[0];
    assert_eq!(x.prompt, Some(Prompt::SelectAccount));
    assert_eq!(x.max_age, Some(300));
    assert_eq!(x.response_mode, ResponseMode::FormPost);
    assert!(
        matches!(&x.protocol, Protocol::OpenIdConnect { claims, .. } if claims.email == "mail" && claims.name == "display_name")
    );
    assert_eq!(
        one(&format!(r#"{{{BASE},"kind":"oidc","issuer":"https://i.example","prompt":"always"}}"#)).unwrap_err().field,
        "prompt"
    );
    assert_eq!(
        one(&format!(r#"{{{BASE},"kind":"oidc","issuer":"https://i.example","response_mode":"fragment"}}"#))
            .unwrap_err()
            .field,
        "response_mode"
    );
    assert_eq!(
        one(&format!(r#"{{{BASE},"kind":"oidc","issuer":"https://i.example","claims":{{"email":""}}}}"#))
            .unwrap_err()
            .field,
        "claims.email"
    );
}

/// A SAML connector next to an OIDC one; `patch` replaces the IdP fields.
fn with_saml(idp: &str) -> String {
    format!(
        r#"{{"connectors":[
          {{"id":"acme","kind":"oidc","issuer":"https://idp.acme.example","client_id":"edge","client_secret_binding":"ACME_SECRET","domains":["acme.example"]}},
          {{"id":"corp","kind":"saml","domains":["corp.example"]{idp}}}
        ]}}"#
    )
}

#[cfg(feature = "saml")]
const TEST_CERT: &str = include_str!("../../../tests/fixtures/xml/dsig/rsa-cert.pem");

#[cfg(feature = "saml")]
fn inline_idp() -> String {
    format!(
        r#","idp_entity_id":"https://sts.corp.example/adfs/services/trust","idp_sso_url":"https://sts.corp.example/adfs/ls/","idp_certificates":[{}]"#,
        serde_json::to_string(TEST_CERT).unwrap()
    )
}

const SAML_BY_METADATA: &str =
    r#","idp_metadata_url":"https://sts.corp.example/FederationMetadata/2007-06/FederationMetadata.xml""#;

#[cfg(not(feature = "saml"))]
#[test]
fn the_build_without_saml_refuses_saml_connectors_by_name() {
    let e = Config::from_json(&with_saml(SAML_BY_METADATA)).unwrap_err();
    assert_eq!((e.connector.as_deref(), e.field.as_str()), (Some("corp"), "kind"));
    assert!(e.reason.contains("EDGE_AUTH_FEATURES=saml"), "{e}");
    let wsfed = with_saml(SAML_BY_METADATA).replace(r#""kind":"saml""#, r#""kind":"wsfed""#);
    let e = Config::from_json(&wsfed).unwrap_err();
    assert_eq!((e.connector.as_deref(), e.field.as_str()), (Some("corp"), "kind"));
    assert!(e.reason.starts_with("\"wsfed\" needs") && e.reason.contains("EDGE_AUTH_FEATURES=saml"), "{e}");
}

#[cfg(feature = "saml")]
#[test]
fn saml_connectors_route_by_domain_beside_oidc_ones() {
    let config = Config::from_json(&with_saml(SAML_BY_METADATA)).unwrap();
    assert_eq!(config.connectors.len(), 1);
    assert_eq!(config.saml_connectors.len(), 1);
    assert!(matches!(config.connector_owning("corp.example"), Some(AnyConnector::Saml(c)) if c.id == "corp"));
    assert!(matches!(config.connector_owning("acme.example"), Some(AnyConnector::OAuth(c)) if c.id == "acme"));
    assert!(config.connector_for_domain("corp.example").is_none(), "not an OAuth connector");
    assert!(matches!(config.any_connector("corp"), Some(AnyConnector::Saml(_))));
    let corp = config.saml_connector("corp").unwrap();
    assert_eq!(corp.sp_entity_id("https://site.example"), "https://site.example/auth/saml/corp/metadata");
    assert_eq!(corp.acs_url("https://site.example"), "https://site.example/auth/saml/corp/acs");
    assert!(!corp.idp_initiated);
}

#[cfg(feature = "saml")]
#[test]
fn saml_connector_errors_name_the_field() {
    let field_of = |json: &str| Config::from_json(json).unwrap_err().field;
    assert!(Config::from_json(&with_saml(&inline_idp())).is_ok());
    // Either metadata or the inline IdP, never both, never half.
    assert_eq!(
        field_of(&with_saml(&format!(r#"{},"idp_metadata_url":"https://x.example/m""#, inline_idp()))),
        "idp_metadata_url"
    );
    assert_eq!(field_of(&with_saml("")), "idp_entity_id");
    assert_eq!(field_of(&with_saml(r#","idp_entity_id":"urn:x","idp_certificates":["x"]"#)), "idp_sso_url");
    assert_eq!(
        field_of(&with_saml(r#","idp_entity_id":"urn:x","idp_sso_url":"https://x.example/sso""#)),
        "idp_certificates"
    );
    assert_eq!(field_of(&with_saml(r#","idp_metadata_url":"http://x.example/m""#)), "idp_metadata_url", "https only");
    assert!(Config::from_json(&with_saml(r#","idp_metadata_url":"http://127.0.0.1:8080/m""#)).is_ok(), "loopback");
    // An unreadable certificate is a configuration error, by position.
    let bad_cert = inline_idp().replace("MII", "MIX");
    assert_eq!(field_of(&with_saml(&bad_cert)), "idp_certificates[0]");
    // allow_sha1: off unless set, per connector, and a boolean.
    assert!(!Config::from_json(&with_saml(&inline_idp())).unwrap().saml_connector("corp").unwrap().allow_sha1);
    let sha1 = Config::from_json(&with_saml(&format!(r#"{},"allow_sha1":true"#, inline_idp()))).unwrap();
    assert!(sha1.saml_connector("corp").unwrap().allow_sha1);
    let off = Config::from_json(&with_saml(&format!(r#"{},"allow_sha1":false"#, inline_idp()))).unwrap();
    assert!(!off.saml_connector("corp").unwrap().allow_sha1);
    assert_eq!(field_of(&with_saml(&format!(r#"{},"allow_sha1":"true""#, inline_idp()))), "allow_sha1");
    // An OpenID Connect connector has no such option: SHA-1 is a SAML-only concession.
    let oidc_sha1 = with_saml(&inline_idp())
        .replace(r#""domains":["acme.example"]"#, r#""domains":["acme.example"],"allow_sha1":true"#);
    assert_ne!(oidc_sha1, with_saml(&inline_idp()));
    assert_eq!(field_of(&oidc_sha1), "allow_sha1");
    // OIDC fields are unknown to a saml connector.
    assert_eq!(field_of(&with_saml(&format!(r#"{},"client_id":"x""#, inline_idp()))), "client_id");
    // Domains and ids are unique across both families.
    let twice = with_saml(&inline_idp()).replace("corp.example", "acme.example");
    assert_eq!(field_of(&twice), "domains[0]");
    let same_id = with_saml(&inline_idp()).replace("\"corp\"", "\"acme\"");
    assert_eq!(field_of(&same_id), "id");
    let bad_id = with_saml(&inline_idp()).replace("\"corp\"", "\"Corp/1\"");
    assert_eq!(field_of(&bad_id), "id");
}

#[cfg(feature = "saml")]
#[test]
fn saml_encryption_needs_the_certificate_and_the_key_binding_together() {
    let field_of = |json: &str| Config::from_json(json).unwrap_err().field;
    let sp_cert = include_str!("../../../tests/fixtures/xml/xenc/sp-cert.pem");
    let cert = serde_json::to_string(sp_cert).unwrap();
    let both =
        format!(r#"{},"sp_encryption_certificate":{cert},"sp_decryption_key_binding":"SAML_SP_KEY""#, inline_idp());
    let config = Config::from_json(&with_saml(&both)).unwrap();
    let encryption = config.saml_connector("corp").unwrap().encryption.clone().unwrap();
    assert_eq!(encryption.key_binding, "SAML_SP_KEY");
    // The metadata publishes base64 DER: the PEM body without armour or line breaks.
    let body: String = sp_cert.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(encryption.certificate_base64, body);
    // Neither: no encryption.
    assert!(Config::from_json(&with_saml(&inline_idp())).unwrap().saml_connector("corp").unwrap().encryption.is_none());
    // One without the other names the missing one.
    let only_cert = format!(r#"{},"sp_encryption_certificate":{cert}"#, inline_idp());
    assert_eq!(field_of(&with_saml(&only_cert)), "sp_decryption_key_binding");
    let only_key = format!(r#"{},"sp_decryption_key_binding":"SAML_SP_KEY""#, inline_idp());
    assert_eq!(field_of(&with_saml(&only_key)), "sp_encryption_certificate");
    // A certificate that does not parse, an EC one (no RSA-OAEP), a binding that is not a secret name.
    let unreadable = cert.replacen("MII", "MIX", 1);
    assert_eq!(field_of(&with_saml(&both.replace(&cert, &unreadable))), "sp_encryption_certificate");
    let ec = serde_json::to_string(include_str!("../../../tests/fixtures/xml/dsig/ec-cert.pem")).unwrap();
    assert_eq!(field_of(&with_saml(&both.replace(&cert, &ec))), "sp_encryption_certificate");
    assert_eq!(field_of(&with_saml(&both.replace("SAML_SP_KEY", "not a name"))), "sp_decryption_key_binding");
}

#[cfg(feature = "saml")]
#[test]
fn policies_may_grant_saml_groups() {
    let base = with_saml(&inline_idp());
    let json =
        format!(r#"{}, "policies":[{{"path":"/hr/*","groups":["corp:HR"]}}]}}"#, base.trim_end().trim_end_matches('}'));
    let config = Config::from_json(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(config.policies.len(), 1);
}

/// Every independent error at once: each connector read on its own (its first error), each top-level section,
/// every unknown top-level field, the cross-checks over the connectors that were read; the first one is what
/// `from_json` reports.
#[test]
fn every_independent_error_is_reported_at_once() {
    let json = r#"{
      "conectors": [],
      "connectors": [
        {"id":"acme","kind":"oidc","issuer":"http://idp.acme.example","client_id":"edge",
         "client_secret_binding":"ACME_SECRET","domains":["acme.example"]},
        {"id":"beta","kind":"oidc","issuer":"https://idp.beta.example","client_id":"edge",
         "client_secret_binding":"BETA_SECRET","domains":["beta.example"],"domian":"x"},
        {"id":"gamma","kind":"oidc","issuer":"https://idp.gamma.example","client_id":"edge",
         "client_secret_binding":"GAMMA_SECRET","domains":["gamma.example"]},
        {"id":"delta","kind":"google","client_id":"edge",
         "client_secret_binding":"DELTA_SECRET","domains":["Gamma.example"]},
        {"id":"gamma","kind":"google","client_id":"edge",
         "client_secret_binding":"G2_SECRET","domains":["g2.example"]}
      ],
      "session": {"lifetime_seconds": 10},
      "origin": {"url": "https://origin.example", "assertion_ttl_seconds": 1},
      "policies": [{"path": "/a/*", "emails": 3}, {"path": "/b/*", "groups": ["nobody:x"]}, {"paht": "/c"}],
      "clock_leeway_seconds": 301
    }"#;
    let errors = Config::from_json_all(json).unwrap_err();
    let seen: Vec<(Option<&str>, &str)> = errors.iter().map(|e| (e.connector.as_deref(), e.field.as_str())).collect();
    assert_eq!(
        seen,
        [
            (None, "conectors"),
            (None, "policies[0].emails"),
            (None, "policies[2].paht"),
            (Some("acme"), "issuer"),
            (Some("beta"), "domian"),
            (Some("delta"), "domains[0]"),
            (Some("gamma"), "id"),
            (None, "session.lifetime_seconds"),
            (None, "origin.assertion_ttl_seconds"),
            (None, "clock_leeway_seconds"),
        ],
        "{errors}"
    );
    // One line in the worker's log, numbered.
    let line = errors.to_string();
    assert!(line.starts_with("10 configuration errors: (1) AUTH_CONFIG: field `conectors`: unknown field"), "{line}");
    assert!(line.contains(" (4) AUTH_CONFIG: connector \"acme\", field `issuer`: "), "{line}");
    assert_eq!(Config::from_json(json).unwrap_err(), errors.first().clone(), "the first error, as before");

    // A type error in one section does not hide the others'.
    let json = with_connector(r#","prompt":"never""#).replacen(
        '{',
        r#"{"session":{"encrypt":"yes"},"origin":{"url":7},"clock_leeway_seconds":"60","#,
        1,
    );
    let errors = Config::from_json_all(&json).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["session.encrypt", "origin.url", "clock_leeway_seconds", "prompt"], "{errors}");
}

/// A rule naming a connector's groups is checked against the connectors once they all read: when one is in
/// error, its grants are not reported as errors of their own.
#[test]
fn policies_are_checked_once_every_connector_reads() {
    let rule = r#","policies":[{"path":"/x/*","groups":["acme:staff"]}]}"#;
    let bad = with_connector(r#","prompt":"never""#);
    let with_rule = |config: String| format!("{}{rule}", config.strip_suffix('}').unwrap());
    let errors = Config::from_json_all(&with_rule(bad)).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors}");
    assert_eq!(errors.first().field, "prompt");
    // With the connector fixed, the rules are judged: this one is fine, one naming no connector is not.
    assert!(Config::from_json_all(&with_rule(with_connector(""))).is_ok());
    let errors =
        Config::from_json_all(&with_rule(with_connector("")).replace("acme:staff", "nobody:staff")).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors}");
    assert!(errors.first().field.starts_with("policies[0]"), "{errors}");
}
