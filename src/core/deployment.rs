//! Whether a deployment can start, from its bindings: `AUTH_CONFIG` valid, every secret it names present and
//! usable (each connector's client secret, `SESSION_KEYS`, the origin-mode assertion key). One set of rules and
//! error texts for the worker ([`Ready::from_bindings`], once per isolate: every configuration error, else the
//! first secret problem) and for
//! `edge-auth-check` (every problem: [`client_secret_problem`], [`session_keys`], [`assertion_key`]).

use crate::core::assertion::{AssertionKey, ASSERTION_KEY_BINDING};
use crate::core::config::{Config, ConfigError, ConfigErrors, Connector};
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
    /// Whether revocations come from the shared log (always, in the worker; host tests without it keep each
    /// isolate's own writes only).
    pub revocations_bound: bool,
}

impl Ready {
    /// `AUTH_CONFIG`'s text and the Worker's secrets, checked as the worker starts: every error of the
    /// configuration, else the first problem of its secrets, as the worker shows them (every request answers
    /// `500 config_error`, with them in the log).
    pub fn from_bindings(
        config_text: &str,
        secrets: &impl Secrets,
        revocations_bound: bool,
    ) -> Result<Ready, ConfigErrors> {
        let config = Config::from_json_all(config_text)?;
        for c in &config.connectors {
            if let Some(problem) = client_secret_problem(c, secrets) {
                return Err(problem.error.into());
            }
        }
        let keys = session_keys(secrets).map_err(|p| ConfigErrors::from(p.error))?;
        let assertion_key = assertion_key(&config, secrets).map_err(|p| ConfigErrors::from(p.error))?;
        Ok(Ready { config, keys, assertion_key, revocations_bound })
    }
}

/// What is wrong with one secret binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Not set.
    Missing,
    /// Set to the empty string (a client secret).
    Empty,
    /// Set, but not usable.
    Invalid,
}

/// A secret binding the deployment needs, what is wrong with it, and the error the worker refuses to start with
/// (naming the connector and field, in the worker's words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretProblem {
    pub problem: Problem,
    pub error: ConfigError,
}

/// A connector's client secret: present and not empty.
pub fn client_secret_problem(c: &Connector, secrets: &impl Secrets) -> Option<SecretProblem> {
    let problem = match secrets.secret(&c.client_secret_binding) {
        None => Problem::Missing,
        Some(s) if s.expose().is_empty() => Problem::Empty,
        Some(_) => return None,
    };
    let b = &c.client_secret_binding;
    let error = ConfigError {
        connector: Some(c.id.clone()),
        field: "client_secret_binding".into(),
        reason: format!("the Worker secret {b:?} is not set (run: bash scripts/wrangler.sh secret put {b})"),
    };
    Some(SecretProblem { problem, error })
}

/// `SESSION_KEYS`: present, every key usable.
pub fn session_keys(secrets: &impl Secrets) -> Result<KeyRing, SecretProblem> {
    let Some(text) = secrets.secret(SESSION_KEYS_BINDING) else {
        let reason =
            "the Worker secret SESSION_KEYS is not set (run: bash scripts/wrangler.sh secret put SESSION_KEYS)";
        return Err(SecretProblem { problem: Problem::Missing, error: ConfigError::top(SESSION_KEYS_BINDING, reason) });
    };
    KeyRing::from_secret(text.expose()).map_err(|error| SecretProblem { problem: Problem::Invalid, error })
}

/// The assertion key: usable when present, present in origin mode.
pub fn assertion_key(config: &Config, secrets: &impl Secrets) -> Result<Option<AssertionKey>, SecretProblem> {
    match secrets.secret(ASSERTION_KEY_BINDING) {
        Some(text) => AssertionKey::from_secret(text.expose())
            .map(Some)
            .map_err(|error| SecretProblem { problem: Problem::Invalid, error }),
        None if config.origin.is_some() => {
            let reason = "origin mode needs a signing key for the assertions it sends: generate one with \
                 `node scripts/generate-assertion-key.mjs` and store it with \
                 `bash scripts/wrangler.sh secret put ASSERTION_SIGNING_KEY`";
            Err(SecretProblem { problem: Problem::Missing, error: ConfigError::top(ASSERTION_KEY_BINDING, reason) })
        }
        None => Ok(None),
    }
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

    /// Every configuration error in one refusal (one log line); the secrets are looked at only once the
    /// configuration reads.
    #[test]
    fn the_worker_names_every_configuration_error_it_refuses_to_start_with() {
        let config =
            CONFIG.replace("https://idp.acme.example", "http://idp.acme.example").replace("\"beta\"", "\"Beta\"");
        let both = refusal(&config, &vars(&[]));
        assert!(
            both.starts_with("2 configuration errors: (1) AUTH_CONFIG: connector \"acme\", field `issuer`"),
            "{both}"
        );
        assert!(
            both.contains(" (2) AUTH_CONFIG: connector \"Beta\", field `id`") && !both.contains("SESSION_KEYS"),
            "{both}"
        );
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
    fn the_check_command_sees_every_problem() {
        let config = Config::from_json(&origin_config()).unwrap();
        let secrets = vars(&[("BETA_SECRET", ""), ("SESSION_KEYS", "x")]);
        let seen_as = |p: SecretProblem| (p.error.connector, p.error.field, p.problem);
        let mut seen: Vec<_> =
            config.connectors.iter().filter_map(|c| client_secret_problem(c, &secrets)).map(seen_as).collect();
        seen.push(seen_as(session_keys(&secrets).unwrap_err()));
        seen.push(seen_as(assertion_key(&config, &secrets).unwrap_err()));
        assert_eq!(
            seen,
            [
                (Some("acme".to_string()), "client_secret_binding".to_string(), Problem::Missing),
                (Some("beta".to_string()), "client_secret_binding".to_string(), Problem::Empty),
                (None, "SESSION_KEYS".to_string(), Problem::Invalid),
                (None, "ASSERTION_SIGNING_KEY".to_string(), Problem::Missing),
            ]
        );
    }
}
