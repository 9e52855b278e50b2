//! Access policy per path: public paths (no login), and rules on email domains, emails and groups.
//!
//! Rules are checked in order; the first whose path matches decides. A path pattern is exact (`/report`)
//! or a prefix ending in `/*` (`/admin/*` matches `/admin` and everything under it). Paths without a
//! matching rule need a session and nothing more. The canonical request path is decided on under every reading
//! an origin could take of it ([`requirement`]), and the stricter answer wins.

use crate::core::path;
use crate::core::routing::{normalize_domain, parse_email};
use crate::core::session::record::Session;

/// Groups kept in the session (only those some rule mentions, at most this many).
pub const MAX_SESSION_GROUPS: usize = 16;

/// One rule as written (read by `config::policies`, which owns the field reader).
#[derive(Debug)]
pub(crate) struct RawPolicy {
    pub(crate) path: String,
    pub(crate) public: bool,
    pub(crate) emails: Vec<String>,
    pub(crate) domains: Vec<String>,
    pub(crate) groups: Vec<String>,
    pub(crate) service_tokens: Vec<String>,
}

/// What validating the rules needs to know of each connector (group grants name the connector that may
/// assert them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupSource<'a> {
    pub(crate) id: &'a str,
    pub(crate) asserts_groups: bool,
}

/// A rule that cannot be used: the field path inside `policies` and why (`config` turns it into its
/// `ConfigError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyError {
    pub(crate) field: String,
    pub(crate) reason: String,
}

impl PolicyError {
    fn top(field: impl Into<String>, reason: impl Into<String>) -> PolicyError {
        PolicyError { field: field.into(), reason: reason.into() }
    }
}

/// A rule's path, canonicalised at load (as requests are, see [`crate::core::path`]), with its form under each
/// reading of [`crate::core::path::READINGS`], so that a request is compared with it the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    /// The canonical path (without the `/*` of a prefix).
    canonical: String,
    /// `/admin/*`: `/admin` and everything below it.
    prefix: bool,
    /// The pattern under each reading; a prefix without its trailing slash (empty: everything).
    forms: Vec<String>,
    /// The same, case-folded.
    folded: Vec<String>,
    /// Bit `i`: reading `i` of the pattern differs from the canonical pattern (so a plain request path, the
    /// same under every reading, must still be compared under it).
    differs: u32,
}

impl PathPattern {
    fn new(canonical: String, prefix: bool) -> PathPattern {
        let mut forms = Vec::with_capacity(path::READINGS);
        for i in 0..path::READINGS {
            let form = if prefix && canonical.is_empty() {
                String::new()
            } else {
                let form = path::reading(i, &canonical);
                if prefix {
                    form.trim_end_matches('/').to_string()
                } else {
                    form.into_owned()
                }
            };
            forms.push(form);
        }
        let folded = forms.iter().map(|f| path::fold(f).into_owned()).collect();
        let differs = forms
            .iter()
            .enumerate()
            .filter(|(_, f)| Some(*f) != forms.first())
            .fold(0u32, |mask, (i, _)| mask | (1u32 << i));
        PathPattern { canonical, prefix, forms, folded, differs }
    }

    /// The pattern as it is written in canonical form (`/admin/*`, `/report`).
    pub fn as_str(&self) -> String {
        if self.prefix {
            format!("{}/*", self.canonical)
        } else {
            self.canonical.clone()
        }
    }

    pub fn is_prefix(&self) -> bool {
        self.prefix
    }

    /// Two different patterns that name the same path once letter case, the trailing slash or the asset
    /// server's `.html`/`index.html` are ignored: which one applies would depend on the origin.
    fn confusable(&self, other: &PathPattern) -> bool {
        if self.prefix != other.prefix || self.canonical == other.canonical {
            return false;
        }
        path::FLAGS.iter().any(|&flags| {
            let (Some(a), Some(b)) = (self.folded.first(), other.folded.first()) else { return false };
            if self.prefix {
                flags.fold && a == b
            } else {
                path::same(path::key(a, flags), path::key(b, flags), true)
            }
        })
    }

    /// Whether the canonical path `path` matches, read as it is (no other reading).
    pub fn matches(&self, path: &str) -> bool {
        self.matches_reading(0, path, path::FLAGS[0])
    }

    /// Whether reading `index` of a request path (`path`, already read; case-folded with [`path::fold`] if it
    /// is not ASCII and `flags.fold`) matches this pattern's reading `index`, compared under `flags`.
    fn matches_reading(&self, index: usize, path: &str, flags: path::Flags) -> bool {
        let forms = if flags.fold { &self.folded } else { &self.forms };
        let Some(form) = forms.get(index) else { return false };
        if flags.key == path::Key::Served {
            // A prefix does not name the file served for its bare path (`/docs` serves `/docs.html`); an exact
            // rule names its file (`/` is `/index.html`), as under the asset key.
            if self.prefix {
                let (base, suffix) = path::served(path, flags.fold);
                return path::under_joined(base, suffix, form, flags.fold);
            }
            let flags = path::Flags { key: path::Key::Asset, ..flags };
            return path::same(path::key(path, flags), path::key(form, flags), flags.fold);
        }
        if flags.key == path::Key::Format && path::with_format(path, form, flags.fold) {
            return true;
        }
        let subject = path::key(path, flags);
        if self.prefix {
            path::under(subject, form, flags.fold)
        } else {
            path::same(subject, path::key(form, flags), flags.fold)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No session needed.
    Public,
    /// A session whose email, email domain or one of whose groups is listed, or a service token that is
    /// listed. Empty lists allow nobody by that criterion; a rule with all four empty admits any signed-in user
    /// (and no service token). Groups are grants qualified by the connector that may assert them:
    /// `connector_id:group` (connector ids never contain `:`).
    Restricted { emails: Vec<String>, domains: Vec<String>, groups: Vec<String>, service_tokens: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub path: PathPattern,
    pub access: Access,
}

/// What a request to protected content needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement<'a> {
    /// Public under every reading of the path.
    Public,
    /// A session: no rule matches under some reading, and no restricted rule under any.
    Session,
    /// A session that every one of these rules allows (each restricted rule that some reading matches).
    Rules(Rules<'a>),
}

/// The restricted rules a request must satisfy, all of them (at least one; no allocation for one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules<'a> {
    first: &'a Policy,
    more: Vec<&'a Policy>,
    /// Whether some reading of the path matches no rule (a user then needs only a session there; a service
    /// token, which only rules can admit, is refused).
    pub unruled: bool,
}

impl<'a> Rules<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a Policy> + '_ {
        std::iter::once(self.first).chain(self.more.iter().copied())
    }

    fn add(rules: &mut Option<Rules<'a>>, rule: &'a Policy) {
        match rules {
            None => *rules = Some(Rules { first: rule, more: Vec::new(), unruled: false }),
            Some(r) => {
                if !r.iter().any(|known| std::ptr::eq(known, rule)) {
                    r.more.push(rule);
                }
            }
        }
    }
}

/// Validate the rules against the connectors (group grants name the connector that may assert them) and the
/// service tokens' ids (a rule may only name a configured token).
pub(crate) fn parse_policies(
    raw: Vec<RawPolicy>,
    connectors: &[GroupSource<'_>],
    tokens: &[&str],
) -> Result<Vec<Policy>, PolicyError> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        let field = |name: &str| format!("policies[{i}].{name}");
        let path = parse_path_pattern(&p.path).map_err(|why| {
            PolicyError::top(
                field("path"),
                format!("{:?} must be an absolute path, optionally ending in /*: {why}", p.path),
            )
        })?;
        let access = if p.public {
            if !(p.emails.is_empty() && p.domains.is_empty() && p.groups.is_empty() && p.service_tokens.is_empty()) {
                return Err(PolicyError::top(
                    field("public"),
                    "a public path cannot also list emails, domains, groups or service_tokens",
                ));
            }
            if path.prefix && (path.canonical.is_empty() || path::fold(&path.canonical).starts_with("/auth")) {
                return Err(PolicyError::top(field("path"), "the whole site or /auth cannot be made public this way"));
            }
            Access::Public
        } else {
            let mut domains = Vec::new();
            for (j, d) in p.domains.iter().enumerate() {
                domains.push(normalize_domain(d).ok_or_else(|| {
                    PolicyError::top(format!("policies[{i}].domains[{j}]"), format!("{d:?} is not a valid domain name"))
                })?);
            }
            let mut emails = Vec::new();
            for (j, e) in p.emails.iter().enumerate() {
                let parsed = parse_email(e).map_err(|why| {
                    PolicyError::top(format!("policies[{i}].emails[{j}]"), format!("{e:?} is not an address: {why}"))
                })?;
                emails.push(parsed.address().to_ascii_lowercase());
            }
            let mut groups = Vec::new();
            for (j, g) in p.groups.iter().enumerate() {
                groups.push(
                    qualify_group(g, connectors).map_err(|why| {
                        PolicyError::top(format!("policies[{i}].groups[{j}]"), format!("{g:?}: {why}"))
                    })?,
                );
            }
            for (j, t) in p.service_tokens.iter().enumerate() {
                if !tokens.contains(&t.as_str()) {
                    return Err(PolicyError::top(
                        format!("policies[{i}].service_tokens[{j}]"),
                        format!("{t:?} is not the id of a token in service_tokens"),
                    ));
                }
            }
            Access::Restricted { emails, domains, groups, service_tokens: p.service_tokens }
        };
        if let Some(j) = out.iter().position(|other: &Policy| other.access != access && path.confusable(&other.path)) {
            return Err(PolicyError::top(
                field("path"),
                format!(
                    "{} and policies[{j}].path {} name the same path for an origin that ignores letter case or the \
                     trailing slash, or for the asset server (/page.html is /page, /dir/index.html is /dir/), \
                     but grant different access",
                    path.as_str(),
                    other_path(&out, j)
                ),
            ));
        }
        out.push(Policy { path, access });
    }
    Ok(out)
}

/// A group grant as `connector_id:group`. A plain `group` names the only connector when there is exactly
/// one; with several it is ambiguous (any of them could assert it) and refused.
fn qualify_group(grant: &str, connectors: &[GroupSource<'_>]) -> Result<String, String> {
    let (connector, group) = match (grant.split_once(':'), connectors) {
        (Some((id, group)), _) => {
            (connectors.iter().find(|c| c.id == id).ok_or_else(|| format!("no connector has the id {id:?}"))?, group)
        }
        (None, [only]) => (only, grant),
        (None, _) => {
            return Err(format!(
                "with several connectors, write \"connector_id:group\" (e.g. \"{}:{grant}\"): any IdP could \
                 assert a plain group",
                connectors.first().map(|c| c.id).unwrap_or_default()
            ))
        }
    };
    if group.is_empty() {
        return Err("the group name is empty".into());
    }
    if !connector.asserts_groups {
        return Err(format!("connector {:?} asserts no groups, so this could never match", connector.id));
    }
    Ok(format!("{}:{group}", connector.id))
}

/// The group of a qualified grant when it is `connector`'s (`acme:admins` for `acme` -> `admins`).
fn grant_of<'a>(grant: &'a str, connector: &str) -> Option<&'a str> {
    grant.strip_prefix(connector).and_then(|rest| rest.strip_prefix(':'))
}

fn other_path(policies: &[Policy], j: usize) -> String {
    policies.get(j).map(|p| p.path.as_str()).unwrap_or_default()
}

/// A rule's path: canonical, and without what only some origins would read as another path (`;`, empty and
/// dot segments, raw or encoded), so that its readings are the ones of the path it names.
pub(crate) fn parse_path_pattern(text: &str) -> Result<PathPattern, &'static str> {
    if !text.starts_with('/') {
        return Err("it does not start with /");
    }
    if text.contains(['?', '#']) || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("no ?, #, whitespace or control characters");
    }
    let (body, prefix) = match text.strip_suffix("/*") {
        Some(body) => (body, true),
        None => (text, false),
    };
    if body.contains('*') {
        return Err("* only as the last segment (/dir/*)");
    }
    if body.contains(';') || body.to_ascii_lowercase().contains("%3b") {
        return Err("no ; (path parameters)");
    }
    if body.is_empty() {
        return Ok(PathPattern::new(String::new(), true));
    }
    let segments: Vec<&str> = body.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let dots = segment.to_ascii_lowercase().replace("%2e", ".");
        let last = i + 1 == segments.len();
        if dots == "." || dots == ".." || (segment.is_empty() && (prefix || !last)) {
            return Err("no empty segments (//), . or .. segments");
        }
    }
    let canonical = path::canonicalize(body).map_err(path::BadPath::describe)?.into_owned();
    let pattern = PathPattern::new(canonical, prefix);
    // Case-insensitive origins compare non-ASCII letters by Unicode rules that are not modelled here.
    if !pattern.forms.iter().all(|f| f.is_ascii()) {
        return Err("ASCII only (protect non-ASCII paths with a rule on an ASCII parent, e.g. /docs/*)");
    }
    Ok(pattern)
}

fn first_match<'a>(policies: &'a [Policy], index: usize, read: &str, flags: path::Flags) -> Option<&'a Policy> {
    policies.iter().find(|p| p.path.matches_reading(index, read, flags))
}

/// What serves the site: Workers Static Assets, or an origin (`origin.url`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// Static mode: also what the asset server serves for a path ([`path::served`]) must be allowed.
    Assets,
    Origin,
}

/// What a request for the canonical path `path` ([`path::canonicalize`]) needs, decided under every reading
/// an origin or the asset server could take of it ([`path::READINGS`] × [`path::FLAGS`]); under each, the
/// first rule that matches decides. The stricter answer wins: the path is public only if every reading is;
/// otherwise every restricted rule that some reading matches must allow the user, and a reading without a
/// rule needs a session. So `/%61dmin`, `/admin;x`, `//admin`, `/ADMIN`, `/admin./x`,
/// `/public/..;/admin` and `/public%2F..%2Fadmin` all need what `/admin` needs, and `/` needs what
/// `/index.html` needs. A plain path (no escapes, `;`, empty or dot segments) is compared without
/// allocating.
pub fn requirement<'a>(policies: &'a [Policy], path: &str, site: Site) -> Requirement<'a> {
    if policies.is_empty() {
        return Requirement::Session;
    }
    let plain = path::is_plain(path);
    // Readings under which some rule differs from its canonical form (a plain path reads the same under every
    // reading: only these count for it).
    let differs = policies.iter().fold(0u32, |mask, p| mask | p.path.differs);
    let mut all_public = true;
    let mut unruled = false;
    let mut rules: Option<Rules<'a>> = None;
    // Readings already compared with the rules as written (most readings of a path coincide).
    let mut seen: Vec<std::borrow::Cow<'_, str>> = Vec::new();
    for index in 0..path::READINGS {
        if plain && index > 0 && differs & (1u32 << index) == 0 {
            continue;
        }
        let read = if plain { std::borrow::Cow::Borrowed(path) } else { path::reading(index, path) };
        let folded = if read.is_ascii() { std::borrow::Cow::Borrowed(read.as_ref()) } else { path::fold(&read) };
        // The reading against the rules as written (the origin serves what the reading names), and against
        // the rules under the same reading (a rule names what the origin serves for it).
        let as_written = if plain { index == 0 } else { !seen.contains(&read) };
        let as_read = index > 0 && differs & (1u32 << index) != 0;
        let pattern_readings = [(0, as_written), (index, as_read)];
        if as_written && !plain {
            seen.push(read.clone());
        }
        for (pattern_reading, wanted) in pattern_readings {
            if !wanted {
                continue;
            }
            // What the reading serves ([`path::for_each_served`]), compared under every flag: the folded text is
            // the reading itself when it is ASCII (one pass for both), otherwise it is compared under the
            // case-insensitive flags only.
            let passes = if std::ptr::eq(folded.as_ref(), read.as_ref()) {
                [(read.as_ref(), None), ("", Some(true))]
            } else {
                [(read.as_ref(), Some(false)), (folded.as_ref(), Some(true))]
            };
            for (text, fold) in passes {
                if text.is_empty() {
                    continue;
                }
                path::for_each_served(text, |served| {
                    // A format extension needs a `.` in the last segment (otherwise it compares as the path does).
                    let trimmed = served.strip_suffix('/').unwrap_or(served);
                    let format = trimmed.rsplit('/').next().is_some_and(|last| last.contains('.'));
                    for flags in path::FLAGS {
                        let skip = match flags.key {
                            path::Key::Served => site == Site::Origin,
                            path::Key::Format => !format,
                            _ => false,
                        };
                        if skip || fold.is_some_and(|f| f != flags.fold) {
                            continue;
                        }
                        match first_match(policies, pattern_reading, served, flags) {
                            Some(Policy { access: Access::Public, .. }) => {}
                            Some(rule) => {
                                all_public = false;
                                Rules::add(&mut rules, rule);
                            }
                            None => {
                                all_public = false;
                                unruled = true;
                            }
                        }
                    }
                });
            }
        }
    }
    match rules {
        _ if all_public => Requirement::Public,
        Some(rules) => Requirement::Rules(Rules { unruled, ..rules }),
        None => Requirement::Session,
    }
}

/// Whether a session satisfies a rule. A group grant counts only for the connector it names: the same
/// group name asserted by another IdP is another group.
pub fn allows(policy: &Policy, session: &Session) -> bool {
    match &policy.access {
        Access::Public => true,
        Access::Restricted { emails, domains, groups, service_tokens } => {
            if emails.is_empty() && domains.is_empty() && groups.is_empty() && service_tokens.is_empty() {
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

/// Whether a rule admits the service token `id`: only a rule that names it (a public one needs nothing).
pub fn allows_token(policy: &Policy, id: &str) -> bool {
    match &policy.access {
        Access::Public => true,
        Access::Restricted { service_tokens, .. } => service_tokens.iter().any(|t| t == id),
    }
}

/// The groups worth keeping in a session of `connector`: those some rule grants to that connector, sorted, without
/// repeats, at most [`MAX_SESSION_GROUPS`] (the first ones in that order). Kept by insertion into a list that never
/// outgrows the cap: the same result as sort + dedup + truncate, without a general sort in the worker (≈2 KB).
pub fn relevant_groups(policies: &[Policy], connector: &str, groups: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in groups {
        let granted = policies.iter().any(|p| {
            matches!(&p.access, Access::Restricted { groups: grants, .. }
                if grants.iter().any(|grant| grant_of(grant, connector) == Some(g.as_str())))
        });
        if let (true, Err(at)) = (granted, out.binary_search(g)) {
            if at < MAX_SESSION_GROUPS {
                out.insert(at, g.clone());
                out.truncate(MAX_SESSION_GROUPS);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connectors `(id, kind)` with the fields each kind needs.
    fn connectors(specs: &[(&str, &str)]) -> Vec<crate::core::config::connector::Connector> {
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

    fn parse_with(json: &str, specs: &[(&str, &str)]) -> Result<Vec<Policy>, crate::core::config::error::ConfigError> {
        crate::core::config::policies::read_policies(&serde_json::from_str(json).unwrap(), &connectors(specs))
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

    /// What a path needs in origin mode: "public", "session" or the required rules' patterns.
    fn needs(p: &[Policy], path: &str) -> String {
        needs_in(p, path, Site::Origin)
    }

    fn needs_in(p: &[Policy], path: &str, site: Site) -> String {
        match requirement(p, path, site) {
            Requirement::Public => "public".into(),
            Requirement::Session => "session".into(),
            Requirement::Rules(rules) => {
                let mut names: Vec<String> = rules.iter().map(|r| r.path.as_str()).collect();
                names.sort();
                names.join(" ")
            }
        }
    }

    /// The gate's decision for `session` (None: anonymous) on the canonical form of `raw`.
    fn admitted(p: &[Policy], raw: &str, session: Option<&Session>) -> bool {
        let Ok(c) = path::canonicalize(raw) else { return false };
        match (requirement(p, &c, Site::Origin), session) {
            (Requirement::Public, _) => true,
            (_, None) => false,
            (Requirement::Session, Some(_)) => true,
            (Requirement::Rules(rules), Some(s)) => rules.iter().all(|r| allows(r, s)),
        }
    }

    #[test]
    fn patterns() {
        let p = parse_path_pattern("/admin/*").unwrap();
        assert!(p.matches("/admin") && p.matches("/admin/") && p.matches("/admin/x/y"));
        assert!(!p.matches("/administrator") && !p.matches("/"));
        let r = parse_path_pattern("/r").unwrap();
        assert!(r.matches("/r") && !r.matches("/r/x"));
        assert_eq!(parse_path_pattern("/%61dmin/*").unwrap().as_str(), "/admin/*", "canonicalised at load");
        assert_eq!(parse_path_pattern("/a%2fb").unwrap().as_str(), "/a%2Fb");
        assert_eq!(parse_path_pattern("/dir/").unwrap().as_str(), "/dir/");
        assert_eq!(parse_path_pattern("/").unwrap().as_str(), "/");
        assert_eq!(parse_path_pattern("/*").unwrap().as_str(), "/*");
        for bad in [
            "admin/*",
            "/a*b",
            "/a/**",
            "/a?x",
            "/a b",
            "/a;b",
            "/a%3Bb/*",
            "/a/../b",
            "/a/%2e%2E/b",
            "/a/./b",
            "//a",
            "/a//b",
            "/a//*",
            "/a\\b",
            "/a%00",
            "/a%zz",
            "/a\u{1}",
            "/caf%C3%A9",
            "/café/*",
            "/a%25C3%25A9",
        ] {
            assert!(parse_path_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn first_matching_rule_decides() {
        let p = policies(
            r#"[{"path":"/public/*","public":true},{"path":"/admin/*","emails":["Boss@Acme.example"],"groups":["g-admins"]},{"path":"/partners/*","domains":["partner.example"]}]"#,
        );
        assert_eq!(requirement(&p, "/public/logo.png", Site::Assets), Requirement::Public);
        assert_eq!(requirement(&p, "/", Site::Assets), Requirement::Session);
        let Requirement::Rules(admin) = requirement(&p, "/admin/users", Site::Assets) else { panic!() };
        let [admin] = admin.iter().collect::<Vec<_>>()[..] else { panic!("one rule") };
        assert!(allows(admin, &session("boss@acme.example", &[])));
        assert!(allows(admin, &session("eve@acme.example", &["g-admins"])));
        assert!(!allows(admin, &session("eve@acme.example", &["g-users"])));
        let Requirement::Rules(partners) = requirement(&p, "/partners", Site::Assets) else { panic!() };
        let [partners] = partners.iter().collect::<Vec<_>>()[..] else { panic!("one rule") };
        assert!(allows(partners, &session("x@partner.example", &[])));
        assert!(!allows(partners, &session("x@sub.partner.example", &[])));
    }

    #[test]
    fn every_spelling_of_a_restricted_path_needs_its_rule() {
        let p = policies(r#"[{"path":"/public/*","public":true},{"path":"/admin/*","emails":["boss@acme.example"]}]"#);
        let boss = session("boss@acme.example", &[]);
        let eve = session("eve@acme.example", &[]);
        for raw in [
            "/admin",
            "//admin",
            "///admin/x",
            "/admin;x",
            "/admin;jsessionid=1/users",
            "/public/..;/admin",
            "/public/..;x/admin",
            "/public;x/..;/admin",
            "/public/%2e%2e;/admin",
            "/%61dmin",
            "/%61%64%6D%69%6E/users",
            "/admin%2Fx",
            "/admin%2fx",
            "/public%2F..%2Fadmin",
            "/public/..%2Fadmin",
            "/public%5C..%5Cadmin",
            "/public%5Cx%2F..%2Fadmin",
            "/admin::$DATA/users",
            "/admin:$i30:$INDEX_ALLOCATION/users",
            "/public%5Cx%252F..%252Fadmin",
            "/public%252F..%252Fadmin",
            "/public%25252F..%25252Fadmin",
            "/public/%252e%252e/admin",
            "/ADMIN",
            "/Admin/",
            "/aDmIn/users",
            "/%41DMIN",
            "/admin./x",
            "/admin../x",
            "/admin%20/x",
            "/admin.%20./x",
            "/public/..%3B/admin",
            "/public%3B/../admin",
            "/admin/",
            "/admin/index.html",
            "/admin.html",
            "/admin/x/../../admin",
        ] {
            let c = path::canonicalize(raw).unwrap();
            assert!(needs(&p, &c).contains("/admin/*"), "{raw}: {}", needs(&p, &c));
            assert!(!admitted(&p, raw, Some(&eve)), "{raw}: eve is not admitted");
            assert!(!admitted(&p, raw, None), "{raw}: anonymous is not admitted");
            assert!(admitted(&p, raw, Some(&boss)), "{raw}: boss is");
        }
        // A raw backslash is refused outright (400), as is anything that cannot be canonicalised.
        for raw in ["/public\\..\\admin", "/admin%00", "/admin%zz", "/%2500"] {
            assert!(path::canonicalize(raw).is_err(), "{raw}");
        }
        // Not under the rule: any session; the public prefix stays public for ordinary spellings.
        for raw in ["/administrator", "/admin-x", "/adminx.html"] {
            assert_eq!(needs(&p, raw), "session", "{raw}");
        }
        for raw in ["/public/logo.png", "/public/", "/public", "/public/a%20b.png", "/public/a;v=1.css"] {
            assert_eq!(needs(&p, &path::canonicalize(raw).unwrap()), "public", "{raw}");
        }
        // A public path that reads as something else under some reading is not public.
        for raw in ["/public/..%2F", "/public%2F..%2Fx", "/PUBLIC/x", "/public./x", "/public;x/y", "/public/%2e%2e%2Fx"]
        {
            assert_ne!(needs(&p, &path::canonicalize(raw).unwrap()), "public", "{raw}");
        }
    }

    #[test]
    fn the_stricter_answer_really_wins() {
        // On main the decoded reading's rule won: /x%2Fy needed only the /x/* rule's grant, although the path
        // as received matched /x%2Fy (a route of its own on an origin that does not decode %2F).
        let p =
            policies(r#"[{"path":"/x%2Fy","emails":["a@acme.example"]},{"path":"/x/*","emails":["b@acme.example"]}]"#);
        assert_eq!(needs(&p, "/x%2Fy"), "/x%2Fy /x/*");
        let a = session("a@acme.example", &[]);
        let b = session("b@acme.example", &[]);
        assert!(!admitted(&p, "/x%2Fy", Some(&a)) && !admitted(&p, "/x%2Fy", Some(&b)));
        // The pattern's decoded reading protects the plain path too.
        assert_eq!(needs(&p, "/x/y"), "/x%2Fy /x/*");
        // Two rules under two readings: both must allow.
        let p = policies(
            r#"[{"path":"/docs/*","emails":["a@acme.example"]},{"path":"/docs.html","emails":["b@acme.example"]}]"#,
        );
        assert_eq!(needs(&p, "/docs.html"), "/docs.html /docs/*");
        assert!(!admitted(&p, "/docs.html", Some(&a)) && !admitted(&p, "/docs.html", Some(&b)));
    }

    #[test]
    fn trailing_slash_and_exact_paths() {
        let p = policies(r#"[{"path":"/report","emails":["boss@acme.example"]},{"path":"/open/","public":true}]"#);
        assert_eq!(needs(&p, "/report"), "/report");
        assert_eq!(needs(&p, "/report/"), "/report");
        assert_eq!(needs(&p, "/Report"), "/report");
        assert_eq!(needs(&p, "/report.html"), "/report");
        assert_eq!(needs(&p, "/report/x"), "session");
        assert_eq!(needs(&p, "/open/"), "public");
        assert_eq!(needs(&p, "/open"), "session", "only /open/ itself is public");
    }

    #[test]
    fn a_rule_protects_a_file_under_every_url_the_asset_server_serves_it_at() {
        let p = policies(
            r#"[{"path":"/index.html","emails":["boss@acme.example"]},{"path":"/page.html","emails":["boss@acme.example"]},
                {"path":"/dir/","emails":["boss@acme.example"]},{"path":"/docs","emails":["boss@acme.example"]}]"#,
        );
        for (raw, rule) in [
            ("/", "/index.html"),
            ("/index", "/index.html"),
            ("/index.html", "/index.html"),
            ("/INDEX.HTML", "/index.html"),
            ("//index.html", "/index.html"),
            ("/%69ndex.html", "/index.html"),
            ("/page", "/page.html"),
            ("/page/", "/page.html"),
            ("/page.html", "/page.html"),
            ("/Page", "/page.html"),
            ("/page;x", "/page.html"),
            ("/dir", "/dir/"),
            ("/dir/index.html", "/dir/"),
            ("/dir/index", "/dir/"),
            ("/docs.html", "/docs"),
            ("/docs/index.html", "/docs"),
        ] {
            for site in [Site::Assets, Site::Origin] {
                assert_eq!(needs_in(&p, &path::canonicalize(raw).unwrap(), site), rule, "{raw}");
            }
        }
        assert_eq!(needs_in(&p, "/other.html", Site::Assets), "session");
        // A public prefix does not make public the file the asset server serves for its bare path:
        // /public serves /public.html, outside /public/*.
        let p =
            policies(r#"[{"path":"/public/*","public":true},{"path":"/secret.html","emails":["boss@acme.example"]}]"#);
        assert_eq!(needs_in(&p, "/public/", Site::Assets), "public", "served from /public/index.html");
        assert_eq!(needs_in(&p, "/public/a.css", Site::Assets), "public");
        assert_eq!(needs_in(&p, "/public/page", Site::Assets), "public", "/public/page.html");
        assert_eq!(needs_in(&p, "/public", Site::Assets), "session");
        assert_eq!(needs_in(&p, "/public", Site::Origin), "public");
        assert_eq!(needs_in(&p, "/secret", Site::Assets), "/secret.html");
        assert_eq!(needs_in(&p, "/SECRET", Site::Assets), "/secret.html");
        // An exact rule names its file: a public home page over a protected site stays public.
        let p = policies(r#"[{"path":"/","public":true},{"path":"/*","emails":["boss@acme.example"]}]"#);
        assert_eq!(needs_in(&p, "/", Site::Assets), "public");
        assert_eq!(needs_in(&p, "/index.html", Site::Assets), "/*");
        assert_eq!(needs_in(&p, "/x", Site::Assets), "/*");
    }

    #[test]
    fn plain_paths_and_an_empty_policy_list() {
        assert_eq!(requirement(&[], "/%61dmin", Site::Assets), Requirement::Session);
        let p = policies(r#"[{"path":"/admin/*","emails":["boss@acme.example"]}]"#);
        assert_eq!(p.iter().fold(0, |m, p| m | p.path.differs), 0, "plain patterns: one reading for plain paths");
        let p = policies(r#"[{"path":"/a%2Fb","emails":["boss@acme.example"]}]"#);
        assert_ne!(p.iter().fold(0, |m, p| m | p.path.differs), 0);
    }

    #[test]
    fn unicode_case_folding() {
        let p = policies(
            r#"[{"path":"/settings/*","emails":["boss@acme.example"]},{"path":"/kit/*","emails":["boss@acme.example"]}]"#,
        );
        // ASP.NET compares with OrdinalIgnoreCase: ſ (U+017F) upper-cases to S; the Kelvin sign lower-cases to k.
        assert_eq!(needs(&p, &path::canonicalize("/%C5%BFettings").unwrap()), "/settings/*");
        assert_eq!(needs(&p, &path::canonicalize("/%E2%84%AAit/x").unwrap()), "/kit/*");
        let p = policies(r#"[{"path":"/strasse/*","emails":["boss@acme.example"]}]"#);
        assert_eq!(needs(&p, &path::canonicalize("/STRA%C3%9FE").unwrap()), "/strasse/*");
    }

    #[test]
    fn rules_that_name_one_path_differently_must_agree() {
        for (json, bad) in [
            (r#"[{"path":"/page","public":true},{"path":"/page.html","emails":["a@b.example"]}]"#, 1),
            (r#"[{"path":"/ADMIN/*","public":true},{"path":"/admin/*","emails":["a@b.example"]}]"#, 1),
            (r#"[{"path":"/report/","emails":["b@b.example"]},{"path":"/report","emails":["a@b.example"]}]"#, 1),
            (r#"[{"path":"/","public":true},{"path":"/index.html","emails":["a@b.example"]}]"#, 1),
        ] {
            let e = parse_with(json, &[("c", "oidc")]).unwrap_err();
            assert_eq!(e.field, format!("policies[{bad}].path"), "{json}");
        }
        // The same access, or different paths: fine.
        policies(r#"[{"path":"/page","emails":["a@b.example"]},{"path":"/page.html","emails":["a@b.example"]}]"#);
        policies(r#"[{"path":"/public/*","public":true},{"path":"/*","emails":["a@b.example"]}]"#);
        policies(r#"[{"path":"/docs/x","emails":["a@b.example"]},{"path":"/docs/*","public":true}]"#);
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

    #[test]
    fn relevant_groups_are_sorted_unique_and_capped_as_sort_dedup_truncate() {
        // 40 granted names, asserted in scrambled orders with repeats and ungranted ones in between: the result is the
        // reference (sort, dedup, truncate to the cap) for every input, so the cap keeps the same groups it always did.
        let grants: Vec<String> = (0..40).map(|i| format!("\"g{:02}\"", (i * 7) % 40)).collect();
        let p = policies(&format!(r#"[{{"path":"/a/*","groups":[{}]}}]"#, grants.join(",")));
        let mut seed = 7u32;
        for len in [0, 1, 5, 16, 17, 40, 120] {
            let asserted: Vec<String> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    format!("{}{:02}", if seed.is_multiple_of(5) { "x" } else { "g" }, (seed >> 8) % 45)
                })
                .collect();
            let mut reference: Vec<String> = asserted
                .iter()
                .filter(|g| g.starts_with('g') && g[1..].parse::<u32>().unwrap() < 40)
                .cloned()
                .collect();
            reference.sort();
            reference.dedup();
            reference.truncate(MAX_SESSION_GROUPS);
            assert_eq!(relevant_groups(&p, "c", &asserted), reference, "{asserted:?}");
        }
        let backwards: Vec<String> = (0..40).rev().map(|i| format!("g{i:02}")).collect();
        let kept = relevant_groups(&p, "c", &backwards);
        assert_eq!(kept.len(), MAX_SESSION_GROUPS);
        assert_eq!(
            (kept[0].as_str(), kept[15].as_str()),
            ("g00", "g15"),
            "the first names in order, not the first seen"
        );
    }

    const TWO: &[(&str, &str)] = &[("corp", "oidc"), ("partner", "oidc")];

    #[test]
    fn a_group_grant_counts_only_for_the_connector_it_names() {
        let p = parse_with(r#"[{"path":"/admin/*","groups":["corp:admins"]},{"path":"/both/*","groups":["corp:staff","partner:staff"]}]"#, TWO)
            .unwrap();
        let Requirement::Rules(rules) = requirement(&p, "/admin/x", Site::Origin) else { panic!() };
        let [admin] = rules.iter().collect::<Vec<_>>()[..] else { panic!("one rule") };
        assert!(allows(admin, &session_of("corp", "a@corp.example", &["admins"])));
        assert!(
            !allows(admin, &session_of("partner", "mallory@partner.example", &["admins"])),
            "the partner IdP's administrators are not ours"
        );
        assert!(!allows(admin, &session_of("partner", "mallory@partner.example", &["corp:admins"])));
        let Requirement::Rules(rules) = requirement(&p, "/both", Site::Origin) else { panic!() };
        let [both] = rules.iter().collect::<Vec<_>>()[..] else { panic!("one rule") };
        assert!(allows(both, &session_of("partner", "p@partner.example", &["staff"])));
        assert!(allows(both, &session_of("corp", "c@corp.example", &["staff"])));
        assert!(!allows(both, &session_of("corpx", "c@corp.example", &["staff"])), "prefix of an id is not the id");
        // Sessions keep only their own connector's granted groups.
        let asserted = vec!["admins".to_string(), "staff".to_string()];
        assert_eq!(relevant_groups(&p, "corp", &asserted), vec!["admins", "staff"]);
        assert_eq!(relevant_groups(&p, "partner", &asserted), vec!["staff"]);
        // A group name may itself contain ':' (only the first one separates the connector).
        let p = parse_with(r#"[{"path":"/x","groups":["corp:team:leads"]}]"#, TWO).unwrap();
        let Requirement::Rules(rules) = requirement(&p, "/x", Site::Origin) else { panic!() };
        let [x] = rules.iter().collect::<Vec<_>>()[..] else { panic!("one rule") };
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

    /// Rules for the one connector `c` and service tokens with these ids.
    fn with_tokens(json: &str, ids: &[&str]) -> Result<Vec<Policy>, crate::core::config::error::ConfigError> {
        use crate::core::config::policies::{read_raw_policies, validate_policies};
        let tokens: Vec<crate::core::service_token::ServiceToken> = ids
            .iter()
            .map(|id| crate::core::service_token::ServiceToken {
                id: id.to_string(),
                secret_sha256: [0; 32],
                expires: None,
            })
            .collect();
        validate_policies(
            read_raw_policies(Some(&serde_json::from_str(json).unwrap())).map_err(|mut e| e.remove(0))?,
            &connectors(&[("c", "oidc")]),
            &[],
            &tokens,
        )
    }

    #[test]
    fn a_rule_admits_a_service_token_only_by_name() {
        let p = with_tokens(
            r#"[{"path":"/api/*","service_tokens":["ci"]},{"path":"/both/*","emails":["a@acme.example"],"service_tokens":["ci"]},
                {"path":"/users/*"},{"path":"/pub/*","public":true}]"#,
            &["ci", "cron"],
        )
        .unwrap();
        let rule = |path: &str| match requirement(&p, path, Site::Origin) {
            Requirement::Rules(rules) => rules.iter().next().unwrap().clone(),
            other => panic!("{path}: {other:?}"),
        };
        assert!(allows_token(&rule("/api/x"), "ci"));
        assert!(!allows_token(&rule("/api/x"), "cron"), "another token");
        assert!(!allows_token(&rule("/api/x"), "c"), "a prefix of the id");
        assert!(!allows(&rule("/api/x"), &session("a@acme.example", &[])), "a machine-only rule admits no user");
        assert!(allows_token(&rule("/both/x"), "ci") && allows(&rule("/both/x"), &session("a@acme.example", &[])));
        assert!(!allows(&rule("/both/x"), &session("b@acme.example", &[])));
        assert!(!allows_token(&rule("/users/x"), "ci"), "any signed-in user is not any token");
        assert!(allows(&rule("/users/x"), &session("b@acme.example", &[])));
        assert_eq!(requirement(&p, "/pub/x", Site::Origin), Requirement::Public);
    }

    #[test]
    fn a_rule_names_only_configured_tokens() {
        let e = with_tokens(r#"[{"path":"/api/*","service_tokens":["ci","nope"]}]"#, &["ci"]).unwrap_err();
        assert_eq!(e.field, "policies[0].service_tokens[1]");
        assert!(e.reason.contains("nope"), "{e}");
        let e = with_tokens(r#"[{"path":"/api/*","public":true,"service_tokens":["ci"]}]"#, &["ci"]).unwrap_err();
        assert_eq!(e.field, "policies[0].public");
        let e = with_tokens(r#"[{"path":"/api/*","service_tokens":"ci"}]"#, &["ci"]).unwrap_err();
        assert_eq!(e.field, "policies[0].service_tokens");
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
