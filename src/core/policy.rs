//! Access policy per path: public paths (no login), and rules on email domains, emails and groups.
//!
//! Rules are checked in order; the first whose path matches decides. A path pattern is exact (`/report`)
//! or a prefix ending in `/*` (`/admin/*` matches `/admin` and everything under it). Paths without a
//! matching rule need a session and nothing more.

use crate::core::config::{ConfigError, Connector, ConnectorKind};
use crate::core::routing::{normalize_domain, parse_email};
use crate::core::session::record::Session;

/// Groups kept in the session (only those some rule mentions, at most this many).
pub const MAX_SESSION_GROUPS: usize = 16;

#[derive(Debug)]
pub(crate) struct RawPolicy {
    path: String,
    public: bool,
    emails: Vec<String>,
    domains: Vec<String>,
    groups: Vec<String>,
}

/// Read the `policies` list (see `config.rs` for the field reader's error conventions).
pub(crate) fn read_policies(value: &serde_json::Value) -> Result<Vec<RawPolicy>, ConfigError> {
    let items = value.as_array().ok_or_else(|| ConfigError::top("policies", "must be a list of rules"))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let obj =
            item.as_object().ok_or_else(|| ConfigError::top(format!("policies[{i}]"), "must be a JSON object"))?;
        let field = |name: &str| format!("policies[{i}].{name}");
        for key in obj.keys() {
            if !["path", "public", "emails", "domains", "groups"].contains(&key.as_str()) {
                return Err(ConfigError::top(
                    field(key),
                    format!("unknown field `{key}`, expected one of `path`, `public`, `emails`, `domains`, `groups`"),
                ));
            }
        }
        let list = |name: &str| -> Result<Vec<String>, ConfigError> {
            match obj.get(name) {
                None | Some(serde_json::Value::Null) => Ok(vec![]),
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .enumerate()
                    .map(|(j, v)| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            ConfigError::top(format!("policies[{i}].{name}[{j}]"), "invalid type, expected a string")
                        })
                    })
                    .collect(),
                Some(_) => Err(ConfigError::top(field(name), "invalid type, expected a list of strings")),
            }
        };
        let path = obj
            .get("path")
            .and_then(|v| v.as_str())
            .ok_or_else(|| ConfigError::top(field("path"), "missing field `path` (a string)"))?
            .to_string();
        let public = match obj.get("public") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => return Err(ConfigError::top(field("public"), "invalid type, expected true or false")),
        };
        out.push(RawPolicy {
            path,
            public,
            emails: list("emails")?,
            domains: list("domains")?,
            groups: list("groups")?,
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    Exact(String),
    /// `/admin/*`: `/admin` and everything below it (stored without the `/*`).
    Prefix(String),
}

impl PathPattern {
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Exact(p) => path == p,
            PathPattern::Prefix(p) => {
                p.is_empty()
                    || path == p
                    || (path.starts_with(p.as_str()) && path.as_bytes().get(p.len()) == Some(&b'/'))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No session needed.
    Public,
    /// A session whose email, email domain or one of whose groups is listed. Empty lists allow nobody by
    /// that criterion; a rule with all three empty admits any signed-in user. Groups are grants qualified
    /// by the connector that may assert them: `connector_id:group` (connector ids never contain `:`).
    Restricted { emails: Vec<String>, domains: Vec<String>, groups: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub path: PathPattern,
    pub access: Access,
}

/// What a request to protected content needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement<'a> {
    Public,
    Session,
    Rule(&'a Policy),
}

/// Validate the rules against the connectors (group grants name the connector that may assert them).
pub(crate) fn parse_policies(raw: Vec<RawPolicy>, connectors: &[Connector]) -> Result<Vec<Policy>, ConfigError> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        let field = |name: &str| format!("policies[{i}].{name}");
        let path = parse_pattern(&p.path).ok_or_else(|| {
            ConfigError::top(field("path"), format!("{:?} must be an absolute path, optionally ending in /*", p.path))
        })?;
        let access = if p.public {
            if !(p.emails.is_empty() && p.domains.is_empty() && p.groups.is_empty()) {
                return Err(ConfigError::top(
                    field("public"),
                    "a public path cannot also list emails, domains or groups",
                ));
            }
            if path == PathPattern::Prefix(String::new())
                || matches!(&path, PathPattern::Prefix(p) if p.starts_with("/auth"))
            {
                return Err(ConfigError::top(field("path"), "the whole site or /auth cannot be made public this way"));
            }
            Access::Public
        } else {
            let mut domains = Vec::new();
            for (j, d) in p.domains.iter().enumerate() {
                domains.push(normalize_domain(d).ok_or_else(|| {
                    ConfigError::top(format!("policies[{i}].domains[{j}]"), format!("{d:?} is not a valid domain name"))
                })?);
            }
            let mut emails = Vec::new();
            for (j, e) in p.emails.iter().enumerate() {
                let parsed = parse_email(e).map_err(|why| {
                    ConfigError::top(format!("policies[{i}].emails[{j}]"), format!("{e:?} is not an address: {why}"))
                })?;
                emails.push(parsed.address().to_ascii_lowercase());
            }
            let mut groups = Vec::new();
            for (j, g) in p.groups.iter().enumerate() {
                groups.push(
                    qualify_group(g, connectors).map_err(|why| {
                        ConfigError::top(format!("policies[{i}].groups[{j}]"), format!("{g:?}: {why}"))
                    })?,
                );
            }
            Access::Restricted { emails, domains, groups }
        };
        out.push(Policy { path, access });
    }
    Ok(out)
}

/// A group grant as `connector_id:group`. A plain `group` names the only connector when there is exactly
/// one; with several it is ambiguous (any of them could assert it) and refused.
fn qualify_group(grant: &str, connectors: &[Connector]) -> Result<String, String> {
    let (connector, group) = match (grant.split_once(':'), connectors) {
        (Some((id, group)), _) => {
            (connectors.iter().find(|c| c.id == id).ok_or_else(|| format!("no connector has the id {id:?}"))?, group)
        }
        (None, [only]) => (only, grant),
        (None, _) => {
            return Err(format!(
                "with several connectors, write \"connector_id:group\" (e.g. \"{}:{grant}\"): any IdP could \
                 assert a plain group",
                connectors.first().map(|c| c.id.as_str()).unwrap_or_default()
            ))
        }
    };
    if group.is_empty() {
        return Err("the group name is empty".into());
    }
    if matches!(connector.kind, ConnectorKind::Facebook | ConnectorKind::Google) {
        return Err(format!("connector {:?} asserts no groups, so this could never match", connector.id));
    }
    Ok(format!("{}:{group}", connector.id))
}

/// The group of a qualified grant when it is `connector`'s (`acme:admins` for `acme` -> `admins`).
fn grant_of<'a>(grant: &'a str, connector: &str) -> Option<&'a str> {
    grant.strip_prefix(connector).and_then(|rest| rest.strip_prefix(':'))
}

fn parse_pattern(text: &str) -> Option<PathPattern> {
    if !text.starts_with('/') || text.contains(['?', '#', '\\']) || text.chars().any(char::is_whitespace) {
        return None;
    }
    match text.strip_suffix("/*") {
        Some(prefix) if !prefix.contains('*') => Some(PathPattern::Prefix(prefix.to_string())),
        Some(_) => None,
        None if text.contains('*') => None,
        None => Some(PathPattern::Exact(text.to_string())),
    }
}

fn first_match<'a>(policies: &'a [Policy], path: &str) -> Requirement<'a> {
    match policies.iter().find(|p| p.path.matches(path)) {
        None => Requirement::Session,
        Some(Policy { access: Access::Public, .. }) => Requirement::Public,
        Some(rule) => Requirement::Rule(rule),
    }
}

/// The first rule matching `path` decides; no rule = any session.
///
/// The path is matched both as received and percent-decoded, and the stricter answer wins, so that an
/// origin (or asset server) that decodes differently cannot be reached around a rule: `/%61dmin` meets the
/// `/admin/*` rule, and `/public%2F..%2Fadmin` is never public. A decoded path with dot segments,
/// backslashes or empty segments is never public.
pub fn requirement<'a>(policies: &'a [Policy], path: &str) -> Requirement<'a> {
    if policies.is_empty() {
        return Requirement::Session;
    }
    let raw = first_match(policies, path);
    if !path.contains('%') {
        return raw;
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let suspicious =
        decoded.contains('\\') || decoded.contains("//") || decoded.split('/').any(|s| s == "." || s == "..");
    // What an origin that decodes and resolves dot segments would see.
    let resolved = resolve_dot_segments(&decoded.replace('\\', "/"));
    let as_resolved = first_match(policies, &resolved);
    match (raw, as_resolved) {
        (_, rule @ Requirement::Rule(_)) | (rule @ Requirement::Rule(_), _) => rule,
        (Requirement::Public, Requirement::Public) if !suspicious => Requirement::Public,
        _ => Requirement::Session,
    }
}

/// `/a/./b/../c` -> `/a/c` (RFC 3986 §5.2.4), empty segments collapsed.
fn resolve_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// Whether a session satisfies a rule. A group grant counts only for the connector it names: the same
/// group name asserted by another IdP is another group.
pub fn allows(policy: &Policy, session: &Session) -> bool {
    match &policy.access {
        Access::Public => true,
        Access::Restricted { emails, domains, groups } => {
            if emails.is_empty() && domains.is_empty() && groups.is_empty() {
                return true;
            }
            let email = session.email.to_ascii_lowercase();
            let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            emails.contains(&email)
                || domains.iter().any(|d| d == domain)
                || groups
                    .iter()
                    .filter_map(|grant| grant_of(grant, &session.connector))
                    .any(|g| session.groups.iter().any(|s| s == g))
        }
    }
}

/// The groups worth keeping in a session of `connector`: those some rule grants to that connector.
pub fn relevant_groups(policies: &[Policy], connector: &str, groups: &[String]) -> Vec<String> {
    let mut out: Vec<String> = groups
        .iter()
        .filter(|g| {
            policies.iter().any(|p| {
                matches!(&p.access, Access::Restricted { groups: grants, .. }
                    if grants.iter().any(|grant| grant_of(grant, connector) == Some(g.as_str())))
            })
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out.truncate(MAX_SESSION_GROUPS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connectors `(id, kind)` with the fields each kind needs.
    fn connectors(specs: &[(&str, &str)]) -> Vec<Connector> {
        let list: Vec<String> = specs
            .iter()
            .map(|(id, kind)| {
                let issuer = if *kind == "oidc" { format!(r#","issuer":"https://{id}.example""#) } else { String::new() };
                format!(
                    r#"{{"id":"{id}","kind":"{kind}","client_id":"c","client_secret_binding":"S_{id}","domains":["{id}.example"]{issuer}}}"#
                )
            })
            .collect();
        crate::core::config::Config::from_json(&format!(r#"{{"connectors":[{}]}}"#, list.join(","))).unwrap().connectors
    }

    fn parse_with(json: &str, specs: &[(&str, &str)]) -> Result<Vec<Policy>, ConfigError> {
        parse_policies(read_policies(&serde_json::from_str(json).unwrap()).unwrap(), &connectors(specs))
    }

    /// Rules for a configuration with the one connector `c`.
    fn policies(json: &str) -> Vec<Policy> {
        parse_with(json, &[("c", "oidc")]).unwrap()
    }

    fn session(email: &str, groups: &[&str]) -> Session {
        session_of("c", email, groups)
    }

    fn session_of(connector: &str, email: &str, groups: &[&str]) -> Session {
        Session {
            sub: "s".into(),
            email: email.into(),
            name: None,
            connector: connector.into(),
            iss: "i".into(),
            iat: 0,
            exp: 1,
            sid: None,
            renewed_at: 0,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn patterns() {
        let p = PathPattern::Prefix("/admin".into());
        assert!(p.matches("/admin") && p.matches("/admin/") && p.matches("/admin/x/y"));
        assert!(!p.matches("/administrator") && !p.matches("/"));
        assert!(PathPattern::Exact("/r".into()).matches("/r") && !PathPattern::Exact("/r".into()).matches("/r/x"));
        for bad in ["admin/*", "/a*b", "/a/**", "/a?x", "/a b"] {
            assert!(parse_pattern(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn first_matching_rule_decides() {
        let p = policies(
            r#"[{"path":"/public/*","public":true},{"path":"/admin/*","emails":["Boss@Acme.example"],"groups":["g-admins"]},{"path":"/partners/*","domains":["partner.example"]}]"#,
        );
        assert_eq!(requirement(&p, "/public/logo.png"), Requirement::Public);
        assert_eq!(requirement(&p, "/"), Requirement::Session);
        let Requirement::Rule(admin) = requirement(&p, "/admin/users") else { panic!() };
        assert!(allows(admin, &session("boss@acme.example", &[])));
        assert!(allows(admin, &session("eve@acme.example", &["g-admins"])));
        assert!(!allows(admin, &session("eve@acme.example", &["g-users"])));
        let Requirement::Rule(partners) = requirement(&p, "/partners") else { panic!() };
        assert!(allows(partners, &session("x@partner.example", &[])));
        assert!(!allows(partners, &session("x@sub.partner.example", &[])));
    }

    #[test]
    fn encoded_paths_cannot_slip_around_a_rule() {
        let p = policies(r#"[{"path":"/public/*","public":true},{"path":"/admin/*","emails":["boss@acme.example"]}]"#);
        assert!(matches!(requirement(&p, "/%61dmin/users"), Requirement::Rule(_)), "encoded letter");
        assert!(matches!(requirement(&p, "/admin%2Fusers"), Requirement::Rule(_)));
        for sneaky in ["/public%2F..%2Fadmin", "/public/%2e%2e/admin", "/public/..%2Fadmin", "/public%5C..%5Cadmin"] {
            assert!(matches!(requirement(&p, sneaky), Requirement::Rule(_)), "{sneaky} resolves to /admin");
        }
        assert_eq!(requirement(&p, "/public/%2Fx"), Requirement::Session, "never public");
        assert_eq!(requirement(&p, "/public/logo%20big.png"), Requirement::Public, "ordinary encodings stay public");
    }

    #[test]
    fn config_errors_name_the_rule() {
        let e = parse_with(r#"[{"path":"/*","public":true}]"#, &[("c", "oidc")]).unwrap_err();
        assert_eq!(e.field, "policies[0].path");
        let e = parse_with(r#"[{"path":"/x","public":true,"emails":["a@b.example"]}]"#, &[("c", "oidc")]).unwrap_err();
        assert_eq!(e.field, "policies[0].public");
        let e = parse_with(r#"[{"path":"/x","domains":["not a domain"]}]"#, &[("c", "oidc")]).unwrap_err();
        assert_eq!(e.field, "policies[0].domains[0]");
        let e = parse_with(r#"[{"path":"/auth/*","public":true}]"#, &[("c", "oidc")]).unwrap_err();
        assert_eq!(e.field, "policies[0].path");
    }

    #[test]
    fn only_relevant_groups_are_kept() {
        let p = policies(r#"[{"path":"/a/*","groups":["g1","g2"]}]"#);
        let all: Vec<String> = (0..1000).map(|i| format!("g{i}")).collect();
        assert_eq!(relevant_groups(&p, "c", &all), vec!["g1", "g2"]);
        assert!(relevant_groups(&p, "other", &all).is_empty(), "another connector's g1 is not the grant's g1");
    }

    const TWO: &[(&str, &str)] = &[("corp", "oidc"), ("partner", "oidc")];

    #[test]
    fn a_group_grant_counts_only_for_the_connector_it_names() {
        let p = parse_with(r#"[{"path":"/admin/*","groups":["corp:admins"]},{"path":"/both/*","groups":["corp:staff","partner:staff"]}]"#, TWO)
            .unwrap();
        let Requirement::Rule(admin) = requirement(&p, "/admin/x") else { panic!() };
        assert!(allows(admin, &session_of("corp", "a@corp.example", &["admins"])));
        assert!(
            !allows(admin, &session_of("partner", "mallory@partner.example", &["admins"])),
            "the partner IdP's administrators are not ours"
        );
        assert!(!allows(admin, &session_of("partner", "mallory@partner.example", &["corp:admins"])));
        let Requirement::Rule(both) = requirement(&p, "/both") else { panic!() };
        assert!(allows(both, &session_of("partner", "p@partner.example", &["staff"])));
        assert!(allows(both, &session_of("corp", "c@corp.example", &["staff"])));
        assert!(!allows(both, &session_of("corpx", "c@corp.example", &["staff"])), "prefix of an id is not the id");
        // Sessions keep only their own connector's granted groups.
        let asserted = vec!["admins".to_string(), "staff".to_string()];
        assert_eq!(relevant_groups(&p, "corp", &asserted), vec!["admins", "staff"]);
        assert_eq!(relevant_groups(&p, "partner", &asserted), vec!["staff"]);
        // A group name may itself contain ':' (only the first one separates the connector).
        let p = parse_with(r#"[{"path":"/x","groups":["corp:team:leads"]}]"#, TWO).unwrap();
        let Requirement::Rule(x) = requirement(&p, "/x") else { panic!() };
        assert!(allows(x, &session_of("corp", "a@corp.example", &["team:leads"])));
        assert!(!allows(x, &session_of("team", "a@team.example", &["leads"])));
    }

    #[test]
    fn group_grants_that_are_ambiguous_or_cannot_match_are_config_errors() {
        // One connector: a plain group means that connector; qualified works too.
        let p = parse_with(r#"[{"path":"/a","groups":["admins","c:ops"]}]"#, &[("c", "oidc")]).unwrap();
        assert!(matches!(&p[0].access, Access::Restricted { groups, .. } if groups == &["c:admins", "c:ops"]));
        // Several connectors: a plain group is ambiguous, and the error explains the qualified form.
        let e = parse_with(
            r#"[{"path":"/a","emails":["x@corp.example"]},{"path":"/b","groups":["corp:ok","admins"]}]"#,
            TWO,
        )
        .unwrap_err();
        assert_eq!(e.field, "policies[1].groups[1]");
        assert!(e.reason.contains("\"corp:admins\"") && e.reason.contains("connector_id:group"), "{e}");
        for (bad, why) in [
            ("nobody:admins", "no connector has the id"),
            ("Corp:admins", "no connector has the id"),
            ("corp:", "empty"),
            (":admins", "no connector has the id"),
        ] {
            let e = parse_with(&format!(r#"[{{"path":"/a","groups":["{bad}"]}}]"#), TWO).unwrap_err();
            assert_eq!(e.field, "policies[0].groups[0]", "{bad}");
            assert!(e.reason.contains(why), "{bad}: {e}");
        }
        // Kinds that assert no groups: a grant naming them could never match.
        for kind in ["facebook", "google"] {
            let e =
                parse_with(r#"[{"path":"/a","groups":["fb:admins"]}]"#, &[("corp", "oidc"), ("fb", kind)]).unwrap_err();
            assert_eq!(e.field, "policies[0].groups[0]");
            assert!(e.reason.contains("asserts no groups"), "{e}");
            let e = parse_with(r#"[{"path":"/a","groups":["admins"]}]"#, &[("fb", kind)]).unwrap_err();
            assert!(e.reason.contains("asserts no groups"), "{e}");
        }
        // An oidc connector asserts groups.
        assert!(parse_with(r#"[{"path":"/a","groups":["c:g"]}]"#, &[("c", "oidc")]).is_ok());
    }

    #[test]
    fn policy_emails_are_addresses() {
        let p = policies(r#"[{"path":"/a","emails":[" Boss@ACME.example. "]}]"#);
        assert!(matches!(&p[0].access, Access::Restricted { emails, .. } if emails == &["boss@acme.example"]));
        let e = parse_with(r#"[{"path":"/a","emails":["ok@acme.example","\"boss\"@acme.example"]}]"#, &[("c", "oidc")])
            .unwrap_err();
        assert_eq!(e.field, "policies[0].emails[1]");
    }
}
