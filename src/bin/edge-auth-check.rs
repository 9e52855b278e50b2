//! `edge-auth-check`: what an operator runs before deploying.
//!
//! Reads `AUTH_CONFIG` (a JSON file, or `[vars] AUTH_CONFIG` of a wrangler.toml), validates it with the worker's
//! own rules, fetches every connector's discovery document and JWKS, and prints what it found — endpoints,
//! signing algorithms, key ids, domains routed — or exactly what is wrong.
//!
//! ```text
//! cargo run --features cli --bin edge-auth-check -- auth-config.json [--secrets .dev.vars] [--offline]
//! cargo run --features cli --bin edge-auth-check -- --wrangler wrangler.toml [--env NAME] [--secrets .dev.vars]
//! ```
//!
//! Exit status: 0 when everything is usable, 1 on configuration errors (the config, the secrets file, the
//! command line), 2 when a provider is unreachable or unusable. Secret values are never printed.
//!
//! Every verdict comes from the worker's core (`Config::from_json`, `parse_provider_metadata_accepting`,
//! `parse_jwks`, `choose_auth_method`, `KeyRing::from_secret`); this file only fetches, explains and prints.

use std::collections::HashMap;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use edge_auth::core::assertion::{AssertionKey, ASSERTION_KEY_BINDING};
use edge_auth::core::b64;
use edge_auth::core::config::{
    Config, ConfigError, Connector, ConnectorKind, EntraSettings, EntraTenancy, Protocol, ResponseMode,
};
use edge_auth::core::flow::{
    discovery_issuer_rule, entra_domain_discovery_url, entra_tenant_of_issuer, parse_domain_owner,
};
use edge_auth::core::oidc::discovery::{parse_provider_metadata_accepting, DiscoveryError, ProviderMetadata};
use edge_auth::core::oidc::jwks::{parse_jwks, Alg, EcCurve, Jwk, KeyMaterial, MAX_RSA_BITS, MIN_RSA_BITS};
use edge_auth::core::oidc::token::choose_auth_method;
use edge_auth::core::policy::Access;
use edge_auth::core::session::codec::KeyRing;
use edge_auth::core::url::is_loopback_host;

/// The worker's limits for IdP responses and its fetch timeout (src/platform).
const MAX_RESPONSE_BYTES: u64 = 512 * 1024;
const IDP_TIMEOUT: Duration = Duration::from_secs(10);

const EXIT_OK: u8 = 0;
const EXIT_CONFIG: u8 = 1;
const EXIT_PROVIDER: u8 = 2;

const USAGE: &str = "\
usage: edge-auth-check AUTH_CONFIG.json [--secrets FILE] [--offline]
       edge-auth-check --wrangler wrangler.toml [--env NAME] [--secrets FILE] [--offline]

Validates an edge-auth AUTH_CONFIG, fetches each connector's discovery document and JWKS, and reports
endpoints, algorithms, keys and domains, or exactly what is wrong.

  AUTH_CONFIG.json   the AUTH_CONFIG JSON document (- for standard input)
  --wrangler FILE    read AUTH_CONFIG from FILE's [vars] (a string or a table)
  --env NAME         with --wrangler: read [env.NAME.vars] instead
  --secrets FILE     a .dev.vars-style file (KEY=VALUE lines): checks SESSION_KEYS and that every
                     client_secret_binding is set; values are never printed
  --offline          validate only; fetch nothing

exit status: 0 everything usable, 1 configuration error, 2 a provider unreachable or unusable";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match Options::parse(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::from(EXIT_OK);
        }
        Err(e) => {
            eprintln!("edge-auth-check: {e}\n\n{USAGE}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    ExitCode::from(run(&options))
}

// ---------------------------------------------------------------------------------------------------------
// Command line

#[derive(Debug, Default)]
struct Options {
    config: Option<String>,
    wrangler: Option<String>,
    env: Option<String>,
    secrets: Option<String>,
    offline: bool,
}

impl Options {
    /// `Ok(None)` for `--help`.
    fn parse(args: &[String]) -> Result<Option<Options>, String> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            let mut value = |slot: &mut Option<String>| -> Result<(), String> {
                let v = match inline.clone() {
                    Some(v) => v,
                    None => it.next().cloned().ok_or_else(|| format!("{name} needs a value"))?,
                };
                if slot.replace(v).is_some() {
                    return Err(format!("{name} given twice"));
                }
                Ok(())
            };
            match name {
                "-h" | "--help" => return Ok(None),
                "--wrangler" => value(&mut o.wrangler)?,
                "--env" => value(&mut o.env)?,
                "--secrets" => value(&mut o.secrets)?,
                "--offline" if inline.is_none() => o.offline = true,
                _ if name.starts_with('-') && name != "-" => return Err(format!("unknown option {name}")),
                _ => {
                    if o.config.replace(arg.clone()).is_some() {
                        return Err("only one AUTH_CONFIG file can be checked at a time".into());
                    }
                }
            }
        }
        match (&o.config, &o.wrangler) {
            (None, None) => Err("give an AUTH_CONFIG JSON file or --wrangler wrangler.toml".into()),
            (Some(_), Some(_)) => Err("give either an AUTH_CONFIG JSON file or --wrangler, not both".into()),
            _ if o.env.is_some() && o.wrangler.is_none() => Err("--env applies only with --wrangler".into()),
            _ => Ok(Some(o)),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The report

/// Errors and warnings, each naming the connector (if any), the field and the reason.
#[derive(Default)]
struct Report {
    config_errors: Vec<String>,
    provider_errors: Vec<String>,
    warnings: usize,
    /// Inside a connector's block, errors and warnings are gathered and printed at its end, before its status.
    deferred: Option<Vec<String>>,
}

fn locate(connector: Option<&str>, field: &str) -> String {
    match connector {
        Some(c) => format!("connector {c:?}, field `{field}`"),
        None => format!("field `{field}`"),
    }
}

impl Report {
    fn line(&mut self, indent: usize, text: impl AsRef<str>) {
        // Not println!: a closed pipe (`| head`) must not panic.
        let _ = writeln!(std::io::stdout(), "{:indent$}{}", "", text.as_ref());
    }

    fn item(&mut self, label: &str, value: impl AsRef<str>) {
        self.line(2, format!("{:<22}{}", format!("{label}:"), value.as_ref()));
    }

    /// An error or warning line: now, or at the end of the connector's block.
    fn note(&mut self, indent: usize, text: String) {
        match &mut self.deferred {
            Some(lines) => lines.push(text),
            None => self.line(indent, text),
        }
    }

    fn begin_connector(&mut self) {
        self.deferred = Some(Vec::new());
    }

    fn end_connector(&mut self) {
        for text in self.deferred.take().unwrap_or_default() {
            self.line(2, text);
        }
    }

    fn config_error(&mut self, indent: usize, message: String) {
        self.note(indent, format!("error: {message}"));
        self.config_errors.push(message);
    }

    fn provider_error(&mut self, connector: &str, field: &str, reason: impl AsRef<str>) {
        let message = format!("{}: {}", locate(Some(connector), field), reason.as_ref());
        self.note(2, format!("error: {message}"));
        self.provider_errors.push(message);
    }

    fn warning(&mut self, indent: usize, connector: Option<&str>, field: &str, reason: impl AsRef<str>) {
        self.note(indent, format!("warning: {}: {}", locate(connector, field), reason.as_ref()));
        self.warnings += 1;
    }
}

fn run(options: &Options) -> u8 {
    let mut report = Report::default();
    report.line(0, format!("edge-auth-check {}", env!("CARGO_PKG_VERSION")));
    let text = match read_auth_config(options) {
        Ok((text, source)) => {
            report.line(0, format!("config:   {source}"));
            text
        }
        Err(e) => {
            report.config_error(0, e);
            return finish(report, 0);
        }
    };
    let config = match Config::from_json(&text) {
        Ok(c) => c,
        Err(e) => {
            report.config_error(0, e.to_string());
            return finish(report, 0);
        }
    };
    report_settings(&mut report, &config);
    check_asset_handling(&mut report, options, &config);
    let secrets = match &options.secrets {
        None => None,
        Some(path) => match read_secrets_file(path) {
            Ok(s) => {
                check_session_keys(&mut report, path, &s);
                if config.origin.is_some() {
                    check_assertion_key(&mut report, path, &s);
                }
                Some((path.as_str(), s))
            }
            Err(e) => {
                report.config_error(0, e);
                None
            }
        },
    };
    if options.offline {
        report.line(0, "mode:     --offline (nothing fetched)");
    }
    let mut fetcher = Fetcher::new(options.offline);
    let mut unusable = 0;
    for connector in &config.connectors {
        report.line(0, "");
        let usable = check_connector(&mut report, &mut fetcher, connector, secrets.as_ref().map(|(p, s)| (*p, s)));
        if !usable {
            unusable += 1;
        }
    }
    finish(report, config.connectors.len() - unusable)
}

fn finish(mut report: Report, usable: usize) -> u8 {
    report.line(0, "");
    let errors = report.config_errors.len() + report.provider_errors.len();
    if errors > 0 {
        report.line(0, format!("{errors} error{}:", plural(errors)));
        let all: Vec<String> = report.config_errors.iter().chain(&report.provider_errors).cloned().collect();
        for e in all {
            report.line(2, e);
        }
    }
    let code = if !report.config_errors.is_empty() {
        EXIT_CONFIG
    } else if !report.provider_errors.is_empty() {
        EXIT_PROVIDER
    } else {
        EXIT_OK
    };
    let verdict = match code {
        EXIT_OK => format!("ok: {usable} connector{} usable", plural(usable)),
        EXIT_CONFIG => "configuration errors: fix them before deploying".to_string(),
        _ => "a provider is unreachable or unusable: logins through it would fail".to_string(),
    };
    report.line(0, format!("result: {verdict}; {} warning{} (exit {code})", report.warnings, plural(report.warnings)));
    code
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

// ---------------------------------------------------------------------------------------------------------
// Inputs

/// The AUTH_CONFIG text and a description of where it came from.
fn read_auth_config(options: &Options) -> Result<(String, String), String> {
    if let Some(path) = &options.config {
        if path == "-" {
            let text = std::io::read_to_string(std::io::stdin()).map_err(|e| format!("cannot read stdin: {e}"))?;
            return Ok((text, "(stdin)".to_string()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        return Ok((text, path.clone()));
    }
    let path = options.wrangler.as_deref().unwrap_or("wrangler.toml");
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| format!("{path} is not valid TOML: {e}"))?;
    let (vars, section) = match &options.env {
        None => (table.get("vars"), "[vars]".to_string()),
        Some(env) => (
            table.get("env").and_then(|e| e.get(env.as_str())).and_then(|e| e.get("vars")),
            format!("[env.{env}.vars]"),
        ),
    };
    let inherit_note = if options.env.is_some() { " (wrangler does not inherit [vars] into environments)" } else { "" };
    let value = vars
        .and_then(|v| v.get("AUTH_CONFIG"))
        .ok_or_else(|| format!("{path}: {section} has no AUTH_CONFIG{inherit_note}"))?;
    let source = format!("{path} {section} AUTH_CONFIG");
    match value {
        toml::Value::String(s) => Ok((s.clone(), source)),
        toml::Value::Table(_) => serde_json::to_string(value)
            .map(|json| (json, format!("{source} (a table)")))
            .map_err(|e| format!("{path}: {section} AUTH_CONFIG cannot be read as JSON: {e}")),
        other => Err(format!(
            "{path}: {section} AUTH_CONFIG must be a string holding JSON or a table, not a {}",
            other.type_str()
        )),
    }
}

/// A `.dev.vars`-style file: `KEY=VALUE` lines, `#` comments, optional `export `, optional quotes.
fn read_secrets_file(path: &str) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read secrets file {path}: {e}"))?;
    let mut map = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.trim();
        let unquoted =
            ['"', '\''].iter().find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q))).unwrap_or(value);
        map.insert(key.trim().to_string(), unquoted.to_string());
    }
    Ok(map)
}

/// Static mode with `[assets] not_found_handling = "single-page-application"`: the asset server answers every
/// path without a file with `/index.html`, so rules that protect single files do not hold (README, Access
/// policies). Only `--wrangler` shows it.
fn check_asset_handling(report: &mut Report, options: &Options, config: &Config) {
    let Some(path) = &options.wrangler else { return };
    if config.origin.is_some() || config.policies.is_empty() {
        return;
    }
    let Ok(Ok(table)) = std::fs::read_to_string(path).map(|t| toml::from_str::<toml::Table>(&t)) else { return };
    let assets = match &options.env {
        Some(env) => table.get("env").and_then(|e| e.get(env.as_str())).and_then(|e| e.get("assets")),
        None => table.get("assets"),
    };
    let spa =
        assets.and_then(|a| a.get("not_found_handling")).and_then(|v| v.as_str()) == Some("single-page-application");
    let whole_site_only = config.policies.iter().all(|p| p.path.as_str() == "/*");
    if spa && !whole_site_only {
        report.warning(
            0,
            None,
            "policies",
            format!(
                "{path} sets [assets] not_found_handling = \"single-page-application\": every path without a file \
                 serves /index.html, so a rule on a file (or a public prefix) does not decide what is served there; \
                 use \"404-page\" or \"none\", or one rule on \"/*\""
            ),
        );
    }
}

/// Settings outside the connectors: session, origin mode, path policies.
fn report_settings(report: &mut Report, config: &Config) {
    let session = &config.session;
    let idle = match session.idle_timeout_seconds {
        Some(idle) => format!(", idle timeout {idle} s"),
        None => String::new(),
    };
    let cookies = if session.encrypt { "encrypted (AES-256-GCM)" } else { "signed (HMAC)" };
    report.line(
        0,
        format!(
            "session:  lifetime {} s{idle}, cookies {cookies}, clock leeway {} s; {} connector{}",
            session.lifetime_seconds,
            config.clock_leeway_seconds,
            config.connectors.len(),
            plural(config.connectors.len())
        ),
    );
    if let Some(origin) = &config.origin {
        report.line(
            0,
            format!(
                "origin:   {} (identity headers + an ES256 assertion valid {} s, key {ASSERTION_KEY_BINDING})",
                origin.url, origin.assertion_ttl_seconds
            ),
        );
    }
    let owned = |domain: &str| config.connector_for_domain(domain).is_some();
    for (i, policy) in config.policies.iter().enumerate() {
        let path = policy.path.as_str();
        let access = match &policy.access {
            Access::Public => "public (no sign-in)".to_string(),
            Access::Restricted { emails, domains, groups } => {
                let mut parts = Vec::new();
                for (what, list) in [("emails", emails), ("domains", domains), ("groups", groups)] {
                    if !list.is_empty() {
                        parts.push(format!("{what} {}", list.join(", ")));
                    }
                }
                if parts.is_empty() {
                    "any signed-in user".to_string()
                } else {
                    parts.join("; ")
                }
            }
        };
        report.line(0, format!("policy:   {path}: {access}"));
        // A session's email domain is always one a connector owns: other domains can never match.
        if let Access::Restricted { emails, domains, .. } = &policy.access {
            for d in domains.iter().filter(|d| !owned(d)) {
                report.warning(
                    2,
                    None,
                    &format!("policies[{i}].domains"),
                    format!("{d:?} is not routed to any connector, so nobody from it can sign in"),
                );
            }
            for e in emails.iter().filter(|e| !e.rsplit_once('@').is_some_and(|(_, d)| owned(d))) {
                report.warning(
                    2,
                    None,
                    &format!("policies[{i}].emails"),
                    format!("{e:?} is not in a domain routed to any connector, so it can never sign in"),
                );
            }
        }
    }
}

fn check_assertion_key(report: &mut Report, path: &str, secrets: &HashMap<String, String>) {
    match secrets.get(ASSERTION_KEY_BINDING) {
        None => report.warning(
            0,
            None,
            ASSERTION_KEY_BINDING,
            format!(
                "not in {path}; origin mode needs it (node scripts/generate-assertion-key.mjs, then \
                 bash scripts/wrangler.sh secret put {ASSERTION_KEY_BINDING})"
            ),
        ),
        Some(text) => match AssertionKey::from_secret(text) {
            // The kid is the public key's thumbprint: safe to print.
            Ok(key) => {
                report.line(0, format!("secrets:  {path}: {ASSERTION_KEY_BINDING} is an EC P-256 key, kid {}", key.kid))
            }
            Err(ConfigError { reason, .. }) => {
                report.config_error(0, format!("{}: {reason} (in {path})", locate(None, ASSERTION_KEY_BINDING)))
            }
        },
    }
}

fn check_session_keys(report: &mut Report, path: &str, secrets: &HashMap<String, String>) {
    match secrets.get("SESSION_KEYS") {
        None => report.warning(
            0,
            None,
            "SESSION_KEYS",
            format!("not in {path}; set it before deploying (bash scripts/wrangler.sh secret put SESSION_KEYS)"),
        ),
        Some(text) => match KeyRing::from_secret(text) {
            Ok(_) => {
                let n = text.split(',').filter(|k| !k.trim().is_empty()).count();
                report.line(0, format!("secrets:  {path}: SESSION_KEYS has {n} key{} (the first signs)", plural(n)));
            }
            Err(ConfigError { reason, .. }) => {
                report.config_error(0, format!("{}: {reason} (in {path})", locate(None, "SESSION_KEYS")))
            }
        },
    }
}

// ---------------------------------------------------------------------------------------------------------
// HTTP

/// Blocking GETs with the worker's timeout and size limit, following redirects as the worker's `fetch` does;
/// each URL is fetched once. Proxies come from the environment (`HTTPS_PROXY`, `NO_PROXY`, ...), except for
/// loopback hosts (a development IdP), which are always reached directly.
struct Fetcher {
    agents: Option<(ureq::Agent, ureq::Agent)>,
    cache: HashMap<String, Result<(u16, Vec<u8>), String>>,
}

impl Fetcher {
    fn new(offline: bool) -> Fetcher {
        let agent = |direct: bool| {
            let builder = ureq::Agent::config_builder()
                .timeout_global(Some(IDP_TIMEOUT))
                .http_status_as_error(false)
                .user_agent(concat!("edge-auth-check/", env!("CARGO_PKG_VERSION")))
                .accept("application/json");
            let builder = if direct { builder.proxy(None) } else { builder };
            ureq::Agent::new_with_config(builder.build())
        };
        Fetcher { agents: (!offline).then(|| (agent(false), agent(true))), cache: HashMap::new() }
    }

    fn online(&self) -> bool {
        self.agents.is_some()
    }

    /// The status and body of the answer, or why there is none.
    fn get_any(&mut self, url: &str) -> Result<(u16, Vec<u8>), String> {
        match self.cache.get(url) {
            Some(r) => r.clone(),
            None => {
                let r = self.fetch(url);
                self.cache.insert(url.to_string(), r.clone());
                r
            }
        }
    }

    /// The body of a `200` answer, or why there is none.
    fn get(&mut self, url: &str) -> Result<Vec<u8>, String> {
        match self.get_any(url) {
            Ok((200, body)) => Ok(body),
            Ok((status, _)) => Err(format!("{url} answered HTTP {status}")),
            Err(e) => Err(e),
        }
    }

    fn fetch(&self, url: &str) -> Result<(u16, Vec<u8>), String> {
        let (via_proxy, direct) = self.agents.as_ref().ok_or_else(|| "offline".to_string())?;
        let loopback = url::Url::parse(url).is_ok_and(|u| is_loopback_host(u.host()));
        let agent = if loopback { direct } else { via_proxy };
        let mut response = agent.get(url).call().map_err(|e| match e {
            ureq::Error::Io(_)
            | ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Timeout(_) => format!("{url} is unreachable: {e}"),
            e => format!("GET {url} failed: {e}"),
        })?;
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(MAX_RESPONSE_BYTES).read_to_vec().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => format!("{url}: the answer is larger than {MAX_RESPONSE_BYTES} bytes"),
            e => format!("{url}: reading the answer failed: {e}"),
        })?;
        Ok((status, body))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Connectors

/// Prints one connector; `false` when logins through it would fail.
fn check_connector(
    report: &mut Report,
    fetcher: &mut Fetcher,
    c: &Connector,
    secrets: Option<(&str, &HashMap<String, String>)>,
) -> bool {
    let id = c.id.as_str();
    report.begin_connector();
    let name = if c.display_name == c.id { String::new() } else { format!(": {}", c.display_name) };
    report.line(0, format!("connector {id:?} (kind {}){name}", c.kind.as_str()));
    report.item("domains routed", c.domains.join(", "));
    report.item("client_id", &c.client_id);
    let secret_state = match secrets {
        None => "(not checked: no --secrets)".to_string(),
        Some((path, map)) => match map.get(&c.client_secret_binding) {
            Some(v) if !v.is_empty() => format!("set in {path}"),
            Some(_) => "EMPTY".to_string(),
            None => format!("not in {path}"),
        },
    };
    report.item("client secret", format!("binding {} {secret_state}", c.client_secret_binding));
    if let Some((path, map)) = secrets {
        match map.get(&c.client_secret_binding) {
            Some(v) if v.is_empty() => report.config_error(
                2,
                format!(
                    "{}: the secret {} is empty in {path}; the worker refuses to start without it",
                    locate(Some(id), "client_secret_binding"),
                    c.client_secret_binding
                ),
            ),
            Some(_) => {}
            None => report.warning(
                2,
                Some(id),
                "client_secret_binding",
                format!(
                    "{} is not in {path}; set it before deploying (bash scripts/wrangler.sh secret put {})",
                    c.client_secret_binding, c.client_secret_binding
                ),
            ),
        }
    }
    if !c.extra_scopes.is_empty() {
        report.item("extra scopes", c.extra_scopes.join(" "));
    }
    if let Some(p) = c.prompt {
        report.item("prompt", p.as_str());
    }
    if let Some(m) = c.max_age {
        report.item("max_age", format!("{m} s"));
    }
    let usable = match &c.protocol {
        Protocol::Facebook { authorization_endpoint, token_endpoint, graph_me_endpoint } => {
            report.item("protocol", "OAuth 2.0 + Graph API (no discovery, no ID token)");
            report.item("authorization", authorization_endpoint);
            report.item("token", token_endpoint);
            report.item("graph /me", graph_me_endpoint);
            report.item("token auth", "client_secret in the token request (Facebook's only method)");
            report.item("PKCE S256", "sent (code_challenge_method=S256)");
            report.item("end_session", "(none: signing out ends the edge session only)");
            for (field, url) in [
                ("authorization_endpoint", authorization_endpoint),
                ("token_endpoint", token_endpoint),
                ("graph_me_endpoint", graph_me_endpoint),
            ] {
                if url.starts_with("http:") {
                    report.warning(2, Some(id), field, "http:// is accepted only for loopback hosts: development only");
                }
            }
            true
        }
        Protocol::OpenIdConnect { claims, hosted_domains, entra } => {
            if claims.email != "email" || claims.name != "name" {
                report.item("claims", format!("email from {:?}, name from {:?}", claims.email, claims.name));
            }
            if !hosted_domains.is_empty() {
                report.item("hosted domains (hd)", hosted_domains.join(", "));
            }
            if let Some(e) = entra {
                let tenancy = match &e.tenancy {
                    EntraTenancy::Multi { allowed_tenants } => {
                        format!("multi-tenant; allowed tenants {}", allowed_tenants.join(", "))
                    }
                    EntraTenancy::Consumers => "personal Microsoft accounts (consumers)".to_string(),
                    EntraTenancy::Single { tenant, allowed_tenants } if allowed_tenants.is_empty() => {
                        format!("single tenant {tenant}")
                    }
                    EntraTenancy::Single { tenant, allowed_tenants } => {
                        format!("single tenant {tenant}; allowed tenants {}", allowed_tenants.join(", "))
                    }
                };
                report.item("entra", format!("{tenancy}; authority {}", e.authority));
            }
            report.item(
                "response mode",
                match c.response_mode {
                    ResponseMode::Query => "query (GET /auth/callback)",
                    ResponseMode::FormPost => "form_post (POST /auth/callback)",
                },
            );
            let usable = check_oidc(report, fetcher, c);
            match entra {
                Some(e) => check_entra_domains(report, fetcher, c, e) && usable,
                None => usable,
            }
        }
    };
    report.end_connector();
    report.line(2, if usable { "status: usable" } else { "status: UNUSABLE" });
    usable
}

/// The config field a connector's discovery URL comes from.
fn issuer_field(c: &Connector) -> &'static str {
    if c.kind == ConnectorKind::Entra {
        "tenant"
    } else {
        "issuer"
    }
}

fn check_oidc(report: &mut Report, fetcher: &mut Fetcher, c: &Connector) -> bool {
    let id = c.id.as_str();
    let discovery_url = c.discovery_url();
    report.item("discovery", &discovery_url);
    if c.issuer.starts_with("http:") {
        report.warning(
            2,
            Some(id),
            issuer_field(c),
            format!("{:?} uses http://, accepted only for loopback hosts: for local development only", c.issuer),
        );
    }
    if !fetcher.online() {
        report.item("provider", "(not fetched: --offline)");
        return true;
    }
    let body = match fetcher.get(&discovery_url) {
        Ok(b) => b,
        Err(e) => {
            report.provider_error(id, issuer_field(c), format!("the discovery document could not be fetched: {e}"));
            return false;
        }
    };
    // Members the core does not keep, shown for the operator.
    let raw: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let (expected, accept) = discovery_issuer_rule(c);
    let metadata = match parse_provider_metadata_accepting(&body, &expected, accept) {
        Ok(m) => m,
        Err(e) => {
            let field = match &e {
                DiscoveryError::IssuerMismatch { .. } => issuer_field(c),
                DiscoveryError::BadEndpoint { field, .. } => field,
                DiscoveryError::NoS256 => "code_challenge_methods_supported",
                _ => "discovery",
            };
            if let DiscoveryError::IssuerMismatch { found, .. } = &e {
                report.item("issuer", format!("{found} (the connector expects {expected})"));
            }
            report.provider_error(id, field, format!("{e} (from {discovery_url})"));
            return false;
        }
    };
    report_metadata(report, c, &metadata, &raw, &expected);
    let mut usable = true;
    // Client authentication at the token endpoint.
    let supported = &metadata.token_endpoint_auth_methods_supported;
    match choose_auth_method(c.token_endpoint_auth_method, &metadata) {
        None => {
            report.item("token auth methods", format!("{} -> none usable", supported.join(", ")));
            report.provider_error(
                id,
                "token_endpoint_auth_methods_supported",
                format!(
                    "the provider offers {} but edge-auth authenticates with client_secret_basic or client_secret_post",
                    supported.join(", ")
                ),
            );
            usable = false;
        }
        Some(m) => {
            let how = if c.token_endpoint_auth_method.is_some() { "configured" } else { "chosen from discovery" };
            report.item("token auth methods", format!("{} -> will use {} ({how})", supported.join(", "), m.as_str()));
            if c.token_endpoint_auth_method.is_some() && !supported.iter().any(|s| s == m.as_str()) {
                report.warning(
                    2,
                    Some(id),
                    "token_endpoint_auth_method",
                    format!(
                        "{} is not among the provider's token_endpoint_auth_methods_supported ({}); the token exchange may fail",
                        m.as_str(),
                        supported.join(", ")
                    ),
                );
            }
        }
    }
    // ID-token signing algorithms.
    let advertised = &metadata.id_token_signing_alg_values_supported;
    let (accepted, refused): (Vec<&String>, Vec<&String>) =
        advertised.iter().partition(|a| Alg::from_jose(a).is_some());
    let mut algs: Vec<Alg> = Vec::new();
    for alg in accepted.iter().filter_map(|a| Alg::from_jose(a)) {
        if !algs.contains(&alg) {
            algs.push(alg);
        }
    }
    if advertised.is_empty() {
        report.item("id_token algs", "(not advertised; OpenID Connect's default RS256 assumed)");
        report.warning(
            2,
            Some(id),
            "id_token_signing_alg_values_supported",
            "the discovery document does not list ID-token signing algorithms; RS256 is assumed",
        );
        algs.push(Alg::RS256);
    } else if refused.is_empty() {
        report.item("id_token algs", join(&accepted));
    } else {
        report.item("id_token algs", format!("{} (refused by edge-auth: {})", join(&accepted), join(&refused)));
    }
    if !advertised.is_empty() && accepted.is_empty() {
        report.provider_error(
            id,
            "id_token_signing_alg_values_supported",
            format!(
                "the provider signs ID tokens only with {}; edge-auth accepts RS/PS 256-512, ES256/384 and EdDSA",
                join(&refused)
            ),
        );
        usable = false;
    }
    check_jwks(report, fetcher, id, &metadata.jwks_uri, &algs) && usable
}

fn join(items: &[&String]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn report_metadata(report: &mut Report, c: &Connector, m: &ProviderMetadata, raw: &serde_json::Value, expected: &str) {
    let id = c.id.as_str();
    let issuer_note =
        if m.issuer == c.issuer { "as configured".to_string() } else { format!("accepted as {expected}") };
    report.item("issuer", format!("{} ({issuer_note})", m.issuer));
    if let Some(tid) = entra_settings(c).and_then(|e| entra_tenant_of_issuer(&e.authority, &m.issuer)) {
        report.item("tenant id", tid);
    }
    report.item("authorization", &m.authorization_endpoint);
    report.item("token", &m.token_endpoint);
    report.item("userinfo", m.userinfo_endpoint.as_deref().unwrap_or("(none)"));
    report.item("end_session", m.end_session_endpoint.as_deref().unwrap_or("(none)"));
    report.item("jwks_uri", &m.jwks_uri);
    let strings = |name: &str| -> Option<Vec<String>> {
        raw.get(name)?.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
    };
    report.item(
        "PKCE S256",
        match strings("code_challenge_methods_supported") {
            Some(list) => format!("yes (advertised: {})", list.join(", ")),
            None => "not advertised (edge-auth sends S256 regardless)".to_string(),
        },
    );
    report.item(
        "RFC 9207 iss",
        if m.authorization_response_iss_parameter_supported { "yes (checked on the callback)" } else { "no" },
    );
    if m.end_session_endpoint.is_none() {
        report.warning(
            2,
            Some(id),
            "end_session_endpoint",
            "the provider has none: signing out ends the edge session but not the IdP's",
        );
    }
    let http: Vec<&str> = [
        ("authorization_endpoint", Some(&m.authorization_endpoint)),
        ("token_endpoint", Some(&m.token_endpoint)),
        ("jwks_uri", Some(&m.jwks_uri)),
        ("userinfo_endpoint", m.userinfo_endpoint.as_ref()),
        ("end_session_endpoint", m.end_session_endpoint.as_ref()),
    ]
    .into_iter()
    .filter(|(_, u)| u.is_some_and(|u| u.starts_with("http:")))
    .map(|(f, _)| f)
    .collect();
    if !http.is_empty() && !c.issuer.starts_with("http:") {
        report.warning(
            2,
            Some(id),
            "discovery",
            format!("{} use http:// (loopback only): development only", http.join(", ")),
        );
    }
    if let Some(modes) = strings("response_modes_supported") {
        let wanted = match c.response_mode {
            ResponseMode::Query => "query",
            ResponseMode::FormPost => "form_post",
        };
        if !modes.iter().any(|m| m == wanted) {
            report.warning(
                2,
                Some(id),
                "response_mode",
                format!("{wanted:?} is not among the provider's response_modes_supported ({})", modes.join(", ")),
            );
        }
    }
    if let Some(scopes) = strings("scopes_supported") {
        for s in &c.extra_scopes {
            if !scopes.contains(s) {
                report.warning(
                    2,
                    Some(id),
                    "scopes",
                    format!("{s:?} is not among the provider's scopes_supported (it may still be accepted)"),
                );
            }
        }
    }
}

/// Entra: each routed domain's owning tenant, as the worker resolves it (Entra's discovery for the domain).
/// Only that tenant may sign in the domain's addresses; a domain verified in no tenant, or in one the
/// connector's `tenant`/`allowed_tenants` leave out, is a configuration error (the worker refuses its addresses).
fn check_entra_domains(report: &mut Report, fetcher: &mut Fetcher, c: &Connector, e: &EntraSettings) -> bool {
    let id = c.id.as_str();
    if e.tenancy == EntraTenancy::Consumers {
        report.item("domain owners", "(not pinned: personal Microsoft accounts)");
        return true;
    }
    if !fetcher.online() {
        report.item("domain owners", "(not resolved: --offline)");
        return true;
    }
    let mut usable = true;
    for domain in &c.domains {
        let url = entra_domain_discovery_url(&e.authority, domain);
        let owner = fetcher.get_any(&url).and_then(|(status, body)| parse_domain_owner(&e.authority, status, &body));
        let owner = match owner {
            Ok(o) => o,
            Err(why) => {
                report.item("domain owner", format!("{domain} -> ? ({why})"));
                report.provider_error(
                    id,
                    "domains",
                    format!("the owner of {domain} could not be resolved: {why} (from {url})"),
                );
                usable = false;
                continue;
            }
        };
        let Some(owner) = owner.tenant else {
            report.item("domain owner", format!("{domain} -> no tenant"));
            report.config_error(
                2,
                format!(
                    "{}: {domain} is verified in no Entra tenant: the worker refuses its addresses (verify it in its tenant, or remove it)",
                    locate(Some(id), "domains")
                ),
            );
            continue;
        };
        report.item("domain owner", format!("{domain} -> tenant {owner}"));
        let (field, pinned) = match &e.tenancy {
            EntraTenancy::Multi { allowed_tenants } => ("allowed_tenants", allowed_tenants.contains(&owner)),
            EntraTenancy::Single { tenant, allowed_tenants } => (
                if allowed_tenants.is_empty() { "tenant" } else { "allowed_tenants" },
                (!edge_auth::core::config::is_guid(tenant) || *tenant == owner)
                    && (allowed_tenants.is_empty() || allowed_tenants.contains(&owner))
                    && discovered_single_tenant(fetcher, c, e).is_none_or(|t| t == owner),
            ),
            EntraTenancy::Consumers => ("tenant", true),
        };
        if !pinned {
            report.config_error(
                2,
                format!(
                    "{}: {domain} is verified in tenant {owner}, which the connector does not accept: the worker refuses its addresses",
                    locate(Some(id), field)
                ),
            );
        }
    }
    usable
}

/// The tenant id a single-tenant connector's discovery document names (already fetched by `check_oidc`).
fn discovered_single_tenant(fetcher: &mut Fetcher, c: &Connector, e: &EntraSettings) -> Option<String> {
    let body = fetcher.get(&c.discovery_url()).ok()?;
    let doc: serde_json::Value = serde_json::from_slice(&body).ok()?;
    entra_tenant_of_issuer(&e.authority, doc.get("issuer")?.as_str()?).map(str::to_string)
}

fn entra_settings(c: &Connector) -> Option<&EntraSettings> {
    match &c.protocol {
        Protocol::OpenIdConnect { entra: Some(e), .. } => Some(e),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------------------
// JWKS

/// Lists every key with whether the worker will use it, and why not. `false` when no key can verify any of
/// the provider's ID-token algorithms.
fn check_jwks(report: &mut Report, fetcher: &mut Fetcher, id: &str, jwks_uri: &str, algs: &[Alg]) -> bool {
    let body = match fetcher.get(jwks_uri) {
        Ok(b) => b,
        Err(e) => {
            report.item("jwks", "(unavailable)");
            report.provider_error(id, "jwks_uri", format!("the key set could not be fetched: {e}"));
            return false;
        }
    };
    let set = match parse_jwks(&body) {
        Ok(s) => s,
        Err(e) => {
            report.item("jwks", "(unusable)");
            report.provider_error(id, "jwks_uri", format!("{e} (from {jwks_uri})"));
            return false;
        }
    };
    let entries: Vec<serde_json::Value> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("keys").and_then(|k| k.as_array()).cloned())
        .unwrap_or_default();
    report.item(
        "jwks",
        format!(
            "{} key{}: {} usable, {} skipped",
            set.keys.len() + set.skipped,
            plural(set.keys.len() + set.skipped),
            set.keys.len(),
            set.skipped
        ),
    );
    let mut covered: Vec<Alg> = Vec::new();
    for entry in &entries {
        // The core decides, one key at a time; this file only explains.
        let single = serde_json::json!({ "keys": [entry] }).to_string();
        let parsed = parse_jwks(single.as_bytes()).ok().and_then(|s| s.keys.into_iter().next());
        let desc = describe_raw_key(entry);
        match parsed {
            Some(key) => {
                let verifies: Vec<Alg> = algs.iter().copied().filter(|a| key.suits(*a)).collect();
                covered.extend(verifies.iter().copied());
                let what = if verifies.is_empty() {
                    "usable, but for none of the provider's ID-token algorithms".to_string()
                } else {
                    format!("verifies {}", verifies.iter().map(|a| a.name()).collect::<Vec<_>>().join(", "))
                };
                report.line(4, format!("usable   {}: {what}", describe_key(&key, &desc)));
            }
            None => report.line(4, format!("skipped  {}: {}", desc.summary(), skip_reason(entry))),
        }
    }
    let missing: Vec<&str> = algs.iter().filter(|a| !covered.contains(a)).map(|a| a.name()).collect();
    if covered.is_empty() {
        report.provider_error(
            id,
            "jwks_uri",
            format!(
                "no key in {jwks_uri} can verify the provider's ID-token algorithms ({})",
                algs.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
            ),
        );
        return false;
    }
    if !missing.is_empty() {
        report.warning(
            2,
            Some(id),
            "jwks_uri",
            format!("no key for {}: ID tokens signed with it would be refused", missing.join(", ")),
        );
    }
    let without_kid = set.keys.iter().filter(|k| k.kid.is_none()).count();
    if without_kid > 0 && set.keys.len() > 1 {
        report.warning(
            2,
            Some(id),
            "jwks_uri",
            format!(
                "{without_kid} usable key{} without a kid: a token without a kid is refused when several keys fit",
                plural(without_kid)
            ),
        );
    }
    true
}

/// What a JWKS entry says about itself (for printing).
struct RawKeyDesc {
    kid: String,
    kty: String,
    alg: String,
}

impl RawKeyDesc {
    fn summary(&self) -> String {
        format!("kid {}, {}, alg {}", self.kid, self.kty, self.alg)
    }
}

fn describe_raw_key(entry: &serde_json::Value) -> RawKeyDesc {
    let s = |name: &str| entry.get(name).and_then(|v| v.as_str());
    let kty = match (s("kty"), s("crv")) {
        (Some(k), Some(c)) => format!("{k} {c}"),
        (Some("RSA"), None) => match s("n").and_then(b64::decode) {
            Some(n) => format!("RSA {} bits", bit_len(&n)),
            None => "RSA".to_string(),
        },
        (Some(k), None) => k.to_string(),
        (None, _) => "(no kty)".to_string(),
    };
    RawKeyDesc {
        kid: s("kid").map(|k| format!("{k:?}")).unwrap_or_else(|| "(none)".to_string()),
        kty,
        alg: s("alg").unwrap_or("-").to_string(),
    }
}

fn describe_key(key: &Jwk, desc: &RawKeyDesc) -> String {
    let kty = match &key.material {
        KeyMaterial::Rsa { n, .. } => format!("RSA {} bits", bit_len(n)),
        KeyMaterial::Ec { curve: EcCurve::P256, .. } => "EC P-256".to_string(),
        KeyMaterial::Ec { curve: EcCurve::P384, .. } => "EC P-384".to_string(),
        KeyMaterial::Ed25519 { .. } => "OKP Ed25519".to_string(),
    };
    format!("kid {}, {kty}, alg {}", desc.kid, key.alg.as_deref().unwrap_or("-"))
}

fn bit_len(n: &[u8]) -> usize {
    let n: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
    match n.first() {
        None => 0,
        Some(&first) => (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

/// Why the core skipped a key: the same rules as `core::oidc::jwks`, spelled out.
fn skip_reason(entry: &serde_json::Value) -> String {
    let Some(obj) = entry.as_object() else { return "not a JSON object".into() };
    let s = |name: &str| obj.get(name).and_then(|v| v.as_str());
    let Some(kty) = s("kty") else { return "no kty".into() };
    if let Some(u) = s("use") {
        if u != "sig" {
            return format!("use is {u:?}, not \"sig\"");
        }
    }
    if let Some(ops) = obj.get("key_ops").and_then(|v| v.as_array()) {
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return "key_ops does not include \"verify\"".into();
        }
    }
    if let Some(a) = s("alg") {
        if Alg::from_jose(a).is_none() {
            return format!("alg {a:?} is not accepted for ID tokens");
        }
    }
    let decoded = |name: &str| s(name).and_then(b64::decode);
    match kty {
        "RSA" => {
            let (Some(n), Some(e)) = (decoded("n"), decoded("e")) else {
                return "n or e is missing or not base64url".into();
            };
            let bits = bit_len(&n);
            if bits < MIN_RSA_BITS {
                return format!("RSA key of {bits} bits; at least {MIN_RSA_BITS} are required");
            }
            if bits > MAX_RSA_BITS {
                return format!("RSA key of {bits} bits; at most {MAX_RSA_BITS} are accepted");
            }
            let e: Vec<u8> = e.into_iter().skip_while(|b| *b == 0).collect();
            if e.len() > 4 || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
                return "the RSA public exponent is unusable (even, 1, or over 32 bits)".into();
            }
        }
        "EC" => match s("crv") {
            Some("P-256" | "P-384") => return "x or y is missing, not base64url, or of the wrong length".into(),
            Some(other) => return format!("curve {other:?} is not supported (P-256, P-384)"),
            None => return "no crv".into(),
        },
        "OKP" => match s("crv") {
            Some("Ed25519") => return "x is missing, not base64url, or not 32 bytes".into(),
            Some(other) => return format!("curve {other:?} is not supported (Ed25519)"),
            None => return "no crv".into(),
        },
        "oct" => return "a symmetric (oct) key: HMAC is never accepted for ID tokens".into(),
        other => return format!("key type {other:?} is not supported (RSA, EC, OKP)"),
    }
    "malformed member (a member has the wrong JSON type)".into()
}
