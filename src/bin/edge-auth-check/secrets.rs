//! The secrets the worker needs, from a `.dev.vars`-style file, checked by the core's [`client_secret_problem`],
//! [`session_keys`] and [`assertion_key`] — the very checks the worker starts with ([`Ready::from_bindings`]),
//! with its words. A
//! secret missing from the file is a warning (it may be set with `wrangler secret put`); an empty or unusable one
//! is an error. Values are never printed.
//!
//! [`Ready::from_bindings`]: edge_auth::core::deployment::Ready::from_bindings

use std::collections::HashMap;

use edge_auth::core::assertion::ASSERTION_KEY_BINDING;
use edge_auth::core::config::{Config, Connector};
use edge_auth::core::deployment::{
    assertion_key, client_secret_problem, session_keys, Problem, SecretProblem, SESSION_KEYS_BINDING,
};
use edge_auth::core::ports::Secrets;
use edge_auth::core::secret::Secret;

use crate::report::{locate, plural, Report};

/// The secrets file.
pub struct SecretsFile {
    path: String,
    values: HashMap<String, String>,
}

struct Values<'a>(&'a HashMap<String, String>);

impl Secrets for Values<'_> {
    fn secret(&self, binding: &str) -> Option<Secret<String>> {
        self.0.get(binding).cloned().map(Secret::new)
    }
}

/// One problem, as an error or a warning: the worker's reason, and where the secret was looked for.
/// `binding`: the secret's name.
fn report_problem(report: &mut Report, indent: usize, path: &str, binding: &str, p: &SecretProblem) {
    let SecretProblem { problem, error } = p;
    let (connector, field, reason) = (error.connector.as_deref(), error.field.as_str(), &error.reason);
    let not_in = if connector.is_some() { format!("{binding} is not in") } else { "not in".to_string() };
    match problem {
        Problem::Missing => report.warning(
            indent,
            connector,
            field,
            format!("{not_in} {path} (the worker refuses to start without it): {reason}"),
        ),
        Problem::Empty => report.config_error(
            indent,
            format!(
                "{}: the secret {binding} is empty in {path}; the worker refuses to start without it: {reason}",
                locate(connector, field)
            ),
        ),
        Problem::Invalid => report.config_error(indent, format!("{}: {reason} (in {path})", locate(connector, field))),
    }
}

/// Checks `SESSION_KEYS` and the assertion key in the file with the core, and prints the verdicts (each
/// connector's client secret is checked in its block: [`client_secret`]).
pub fn check_secrets_file(
    report: &mut Report,
    path: &str,
    values: HashMap<String, String>,
    config: &Config,
) -> SecretsFile {
    match session_keys(&Values(&values)) {
        Err(problem) => report_problem(report, 0, path, SESSION_KEYS_BINDING, &problem),
        Ok(_) => {
            let n =
                values.get(SESSION_KEYS_BINDING).map_or(0, |t| t.split(',').filter(|k| !k.trim().is_empty()).count());
            report.line(0, format!("secrets:  {path}: SESSION_KEYS has {n} key{} (the first signs)", plural(n)));
        }
    }
    match assertion_key(config, &Values(&values)) {
        Err(problem) => report_problem(report, 0, path, ASSERTION_KEY_BINDING, &problem),
        // The kid is the public key's thumbprint: safe to print.
        Ok(Some(key)) if config.origin.is_some() => {
            report.line(0, format!("secrets:  {path}: {ASSERTION_KEY_BINDING} is an EC P-256 key, kid {}", key.kid))
        }
        Ok(_) => {}
    }
    SecretsFile { path: path.to_string(), values }
}

/// A SAML connector's decryption key (`sp_decryption_key_binding`): whether the file sets it, and whether it
/// reads as a PKCS #8 PEM key (the worker's own reading; `\n` escapes, as dotenv writes a PEM on one line, are
/// line breaks). Warnings only, as for client secrets: the deployed secret may be set apart from the file. Never
/// prints the value.
pub fn saml_decryption_key(report: &mut Report, secrets: Option<&SecretsFile>, connector: &str, binding: &str) {
    let Some(file) = secrets else {
        report.item("decryption key", format!("binding {binding} (not checked: no --secrets)"));
        return;
    };
    let field = "sp_decryption_key_binding";
    match file.values.get(binding) {
        Some(value) => match edge_auth::core::xml::xenc::DecryptionKey::from_pem(&value.replace("\\n", "\n")) {
            Ok(_) => report.item("decryption key", format!("binding {binding} set in {}", file.path)),
            Err(reason) => report.warning(
                2,
                Some(connector),
                field,
                format!(
                    "the secret {binding} {reason} (in {}); sign-ins with encrypted assertions would fail",
                    file.path
                ),
            ),
        },
        None => report.warning(2, Some(connector), field, format!("{binding} is not in {}", file.path)),
    }
}

/// The connector's client secret: whether the file sets it, and the core's verdict.
pub fn client_secret(report: &mut Report, secrets: Option<&SecretsFile>, c: &Connector) {
    let binding = &c.client_secret_binding;
    let state = match secrets {
        None => "(not checked: no --secrets)".to_string(),
        Some(f) => match f.values.get(binding) {
            Some(v) if !v.is_empty() => format!("set in {}", f.path),
            Some(_) => "EMPTY".to_string(),
            None => format!("not in {}", f.path),
        },
    };
    report.item("client secret", format!("binding {binding} {state}"));
    if let Some(problem) = secrets.and_then(|f| client_secret_problem(c, &Values(&f.values))) {
        let path = secrets.map_or("", |f| f.path.as_str());
        report_problem(report, 2, path, binding, &problem);
    }
}
