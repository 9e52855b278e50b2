//! Access policy per path: public paths (no login), and rules on email domains, emails and groups.
//!
//! Rules are checked in order; the first whose path matches decides. A path pattern is exact (`/report`)
//! or a prefix ending in `/*` (`/admin/*` matches `/admin` and everything under it). Paths without a
//! matching rule need a session and nothing more.

use serde::Deserialize;

use crate::core::config::ConfigError;
use crate::core::routing::normalize_domain;
use crate::core::session::record::Session;

/// Groups kept in the session (only those some rule mentions, at most this many).
pub const MAX_SESSION_GROUPS: usize = 16;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    path: String,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
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
    /// that criterion; a rule with all three empty admits any signed-in user.
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

pub(crate) fn parse_policies(raw: Vec<RawPolicy>) -> Result<Vec<Policy>, ConfigError> {
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
            let emails = p.emails.iter().map(|e| e.trim().to_ascii_lowercase()).collect();
            Access::Restricted { emails, domains, groups: p.groups }
        };
        out.push(Policy { path, access });
    }
    Ok(out)
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

/// The first rule matching `path` decides; no rule = any session.
pub fn requirement<'a>(policies: &'a [Policy], path: &str) -> Requirement<'a> {
    match policies.iter().find(|p| p.path.matches(path)) {
        None => Requirement::Session,
        Some(Policy { access: Access::Public, .. }) => Requirement::Public,
        Some(rule) => Requirement::Rule(rule),
    }
}

/// Whether a session satisfies a rule.
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
                || session.groups.iter().any(|g| groups.contains(g))
        }
    }
}

/// The groups worth keeping in a session: those some rule mentions.
pub fn relevant_groups(policies: &[Policy], groups: &[String]) -> Vec<String> {
    let mut out: Vec<String> = groups
        .iter()
        .filter(|g| {
            policies.iter().any(|p| matches!(&p.access, Access::Restricted { groups: gs, .. } if gs.contains(g)))
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

    fn policies(json: &str) -> Vec<Policy> {
        parse_policies(serde_json::from_str(json).unwrap()).unwrap()
    }

    fn session(email: &str, groups: &[&str]) -> Session {
        Session {
            sub: "s".into(),
            email: email.into(),
            name: None,
            connector: "c".into(),
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
    fn config_errors_name_the_rule() {
        let e = parse_policies(serde_json::from_str(r#"[{"path":"/*","public":true}]"#).unwrap()).unwrap_err();
        assert_eq!(e.field, "policies[0].path");
        let e =
            parse_policies(serde_json::from_str(r#"[{"path":"/x","public":true,"emails":["a@b.example"]}]"#).unwrap())
                .unwrap_err();
        assert_eq!(e.field, "policies[0].public");
        let e =
            parse_policies(serde_json::from_str(r#"[{"path":"/x","domains":["not a domain"]}]"#).unwrap()).unwrap_err();
        assert_eq!(e.field, "policies[0].domains[0]");
        let e = parse_policies(serde_json::from_str(r#"[{"path":"/auth/*","public":true}]"#).unwrap()).unwrap_err();
        assert_eq!(e.field, "policies[0].path");
    }

    #[test]
    fn only_relevant_groups_are_kept() {
        let p = policies(r#"[{"path":"/a/*","groups":["g1","g2"]}]"#);
        let all: Vec<String> = (0..1000).map(|i| format!("g{i}")).collect();
        assert_eq!(relevant_groups(&p, &all), vec!["g1", "g2"]);
    }
}
