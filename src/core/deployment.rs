//! Whether a deployment can start, from its bindings: `AUTH_CONFIG` valid, every secret it names present and
//! usable (each connector's client secret, `SESSION_KEYS`, the origin-mode assertion key). One set of rules and
//! error texts for the worker ([`Ready::from_bindings`], once per isolate) and for `edge-auth-check`
//! ([`check_secrets`], which reports every problem instead of the first).

use crate::core::assertion::{AssertionKey, ASSERTION_KEY_BINDING};
use crate::core::config::{Config, ConfigError};
use crate::core::ports::Secrets;
use crate::core::session::codec::KeyRing;

/// The binding of the session keys.
pub const SESSION_KEYS_BINDING: &str = "SESSION_KEYS";

/// A deployment the worker can serve with: its configuration and keys.
pub struct Ready {
    pub config: Config,
    pub keys: KeyRing,
    /// Signs the assertions sent to the origin (origin mode only).
    pub assertion_key: Option<AssertionKey>,
    /// Whether the KV namespace for IdP logouts is bound.
    pub revocations_bound: bool,
}

impl Ready {
    /// `AUTH_CONFIG`'s text and the Worker's secrets, checked as the worker starts: the first problem, as the
    /// error the worker shows (every request answers `500 config_error` with it in the log).
    pub fn from_bindings(
        config_text: &str,
        secrets: &impl Secrets,
        revocations_bound: bool,
    ) -> Result<Ready, ConfigError> {
        let config = Config::from_json(config_text)?;
        let check = check_secrets(&config, secrets);
        if let Some(problem) = check.problems.first() {
            return Err(problem.to_config_error());
        }
        let keys = check.keys.ok_or_else(|| SecretProblem::missing(None, SESSION_KEYS_BINDING).to_config_error())?;
        Ok(Ready { config, keys, assertion_key: check.assertion_key, revocations_bound })
    }
}

/// What is wrong with one secret binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not set.
    Missing,
    /// Set to the empty string (a client secret).
    Empty,
    /// Set, but not usable: why.
    Invalid(ConfigError),
}

/// A secret binding the deployment needs, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretProblem {
    /// The connector whose secret it is (client secrets).
    pub connector: Option<String>,
    /// The binding's name (`ACME_SECRET`, `SESSION_KEYS`, ...).
    pub binding: String,
    pub problem: Problem,
}

impl SecretProblem {
    fn missing(connector: Option<&str>, binding: &str) -> SecretProblem {
        SecretProblem {
            connector: connector.map(str::to_string),
            binding: binding.to_string(),
            problem: Problem::Missing,
        }
    }

    /// The field of `AUTH_CONFIG` (or the binding) the problem is reported against.
    pub fn field(&self) -> &str {
        if self.connector.is_some() {
            "client_secret_binding"
        } else {
            &self.binding
        }
    }

    /// What to do about it, for an operator: the worker's words.
    pub fn reason(&self) -> String {
        match (&self.problem, self.connector.is_some(), self.binding.as_str()) {
            (Problem::Invalid(e), _, _) => e.reason.clone(),
            (_, true, b) => {
                format!("the Worker secret {b:?} is not set (run: bash scripts/wrangler.sh secret put {b})")
            }
            (_, false, ASSERTION_KEY_BINDING) => "origin mode needs a signing key for the assertions it sends: \
                 generate one with `node scripts/generate-assertion-key.mjs` and store it with \
                 `bash scripts/wrangler.sh secret put ASSERTION_SIGNING_KEY`"
                .to_string(),
            (_, false, b) => format!("the Worker secret {b} is not set (run: bash scripts/wrangler.sh secret put {b})"),
        }
    }

    /// The error the worker refuses to start with.
    pub fn to_config_error(&self) -> ConfigError {
        match &self.problem {
            Problem::Invalid(e) => e.clone(),
            _ => ConfigError {
                connector: self.connector.clone(),
                field: self.field().to_string(),
                reason: self.reason(),
            },
        }
    }
}

/// Every secret a configuration needs, checked in the worker's order: each connector's client secret (present
/// and not empty), `SESSION_KEYS` (present, every key usable), the assertion key (usable when present; present
/// in origin mode).
#[derive(Debug, Default)]
pub struct SecretsCheck {
    pub problems: Vec<SecretProblem>,
    /// The session keys, when usable.
    pub keys: Option<KeyRing>,
    /// The assertion key, when present and usable.
    pub assertion_key: Option<AssertionKey>,
}

pub fn check_secrets(config: &Config, secrets: &impl Secrets) -> SecretsCheck {
    let mut check = SecretsCheck::default();
    for c in &config.connectors {
        let binding = &c.client_secret_binding;
        let problem = match secrets.secret(binding) {
            None => Problem::Missing,
            Some(s) if s.expose().is_empty() => Problem::Empty,
            Some(_) => continue,
        };
        check.problems.push(SecretProblem { connector: Some(c.id.clone()), binding: binding.clone(), problem });
    }
    match secrets.secret(SESSION_KEYS_BINDING).map(|text| KeyRing::from_secret(text.expose())) {
        None => check.problems.push(SecretProblem::missing(None, SESSION_KEYS_BINDING)),
        Some(Ok(keys)) => check.keys = Some(keys),
        Some(Err(e)) => check.problems.push(SecretProblem {
            connector: None,
            binding: SESSION_KEYS_BINDING.into(),
            problem: Problem::Invalid(e),
        }),
    }
    match secrets.secret(ASSERTION_KEY_BINDING).map(|text| AssertionKey::from_secret(text.expose())) {
        None if config.origin.is_some() => check.problems.push(SecretProblem::missing(None, ASSERTION_KEY_BINDING)),
        None => {}
        Some(Ok(key)) => check.assertion_key = Some(key),
        Some(Err(e)) => check.problems.push(SecretProblem {
            connector: None,
            binding: ASSERTION_KEY_BINDING.into(),
            problem: Problem::Invalid(e),
        }),
    }
    check
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::core::secret::Secret;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";
    const CONFIG: &str = r#"{"connectors":[
        {"id":"acme","kind":"oidc","issuer":"https://idp.acme.example","client_id":"edge",
         "client_secret_binding":"ACME_SECRET","domains":["acme.example"]},
        {"id":"beta","kind":"oidc","issuer":"https://idp.beta.example","client_id":"edge",
         "client_secret_binding":"BETA_SECRET","domains":["beta.example"]}]}"#;

    struct Vars(HashMap<&'static str, &'static str>);

    impl Secrets for Vars {
        fn secret(&self, binding: &str) -> Option<Secret<String>> {
            self.0.get(binding).map(|v| Secret::new(v.to_string()))
        }
    }

    fn vars(pairs: &[(&'static str, &'static str)]) -> Vars {
        Vars(pairs.iter().copied().collect())
    }

    fn origin_config() -> String {
        CONFIG.replacen('{', r#"{"origin":{"url":"https://origin.example"},"#, 1)
    }

    fn refusal(config: &str, secrets: &Vars) -> String {
        match Ready::from_bindings(config, secrets, false) {
            Ok(_) => "ready".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_complete_deployment_is_ready() {
        let all = vars(&[("ACME_SECRET", "a"), ("BETA_SECRET", "b"), ("SESSION_KEYS", KEY)]);
        let ready = Ready::from_bindings(CONFIG, &all, true).unwrap();
        assert_eq!(ready.config.connectors.len(), 2);
        assert!(ready.revocations_bound && ready.assertion_key.is_none());
        assert!(check_secrets(&ready.config, &all).problems.is_empty());
    }

    #[test]
    fn the_worker_refuses_to_start_with_the_first_problem_in_its_words() {
        assert_eq!(
            refusal(CONFIG, &vars(&[("BETA_SECRET", "b"), ("SESSION_KEYS", KEY)])),
            "AUTH_CONFIG: connector \"acme\", field `client_secret_binding`: the Worker secret \"ACME_SECRET\" is not \
             set (run: bash scripts/wrangler.sh secret put ACME_SECRET)"
        );
        assert_eq!(
            refusal(CONFIG, &vars(&[("ACME_SECRET", "a"), ("BETA_SECRET", ""), ("SESSION_KEYS", KEY)])),
            "AUTH_CONFIG: connector \"beta\", field `client_secret_binding`: the Worker secret \"BETA_SECRET\" is not \
             set (run: bash scripts/wrangler.sh secret put BETA_SECRET)",
            "an empty secret is no secret"
        );
        assert_eq!(
            refusal(CONFIG, &vars(&[("ACME_SECRET", "a"), ("BETA_SECRET", "b")])),
            "AUTH_CONFIG: field `SESSION_KEYS`: the Worker secret SESSION_KEYS is not set (run: bash \
             scripts/wrangler.sh secret put SESSION_KEYS)"
        );
        let short =
            refusal(CONFIG, &vars(&[("ACME_SECRET", "a"), ("BETA_SECRET", "b"), ("SESSION_KEYS", "dG9vLXNob3J0")]));
        assert!(short.starts_with("AUTH_CONFIG: field `SESSION_KEYS`: key 1 is 9 bytes"), "{short}");
        let bad_json = refusal("{", &vars(&[]));
        assert!(bad_json.starts_with("AUTH_CONFIG"), "{bad_json}");
    }

    #[test]
    fn origin_mode_needs_a_usable_assertion_key_and_any_given_key_must_be_usable() {
        let base = [("ACME_SECRET", "a"), ("BETA_SECRET", "b"), ("SESSION_KEYS", KEY)];
        let missing = refusal(&origin_config(), &vars(&base));
        assert!(
            missing.starts_with("AUTH_CONFIG: field `ASSERTION_SIGNING_KEY`: origin mode needs a signing key"),
            "{missing}"
        );
        let mut with_bad_key = base.to_vec();
        with_bad_key.push((ASSERTION_KEY_BINDING, "nope"));
        for config in [origin_config(), CONFIG.to_string()] {
            let bad = refusal(&config, &vars(&with_bad_key));
            assert!(
                bad.starts_with("AUTH_CONFIG: field `ASSERTION_SIGNING_KEY`: must be an EC P-256 private key"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_check_command_sees_every_problem_in_order() {
        let config = Config::from_json(&origin_config()).unwrap();
        let check = check_secrets(&config, &vars(&[("BETA_SECRET", ""), ("SESSION_KEYS", "x")]));
        let seen: Vec<(Option<&str>, &str, &str)> = check
            .problems
            .iter()
            .map(|p| {
                let kind = match p.problem {
                    Problem::Missing => "missing",
                    Problem::Empty => "empty",
                    Problem::Invalid(_) => "invalid",
                };
                (p.connector.as_deref(), p.field(), kind)
            })
            .collect();
        assert_eq!(
            seen,
            [
                (Some("acme"), "client_secret_binding", "missing"),
                (Some("beta"), "client_secret_binding", "empty"),
                (None, "SESSION_KEYS", "invalid"),
                (None, "ASSERTION_SIGNING_KEY", "missing"),
            ]
        );
        assert!(check.keys.is_none() && check.assertion_key.is_none());
    }
}
