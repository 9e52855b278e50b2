//! `--wrangler-secrets FILE`: the secrets the configuration names, compared with the ones deployed, by name only.
//! FILE is what `wrangler secret list [--env NAME]` prints (a JSON list of `{"name": ..., "type": "secret_text"}`):
//! no value is ever read. Each secret the worker needs and the list lacks is a configuration error naming the
//! connector and the field that names it — the worker would refuse to start (`SESSION_KEYS`, a client secret,
//! origin mode's assertion key) or refuse the sign-ins that need it (a SAML decryption key).

use std::collections::BTreeSet;

use edge_auth::core::assertion::ASSERTION_KEY_BINDING;
use edge_auth::core::config::Config;
use edge_auth::core::deployment::SESSION_KEYS_BINDING;

use crate::report::{locate, plural, Report};

/// One secret the configuration needs: who names it (a connector and its field, or a top-level binding), and
/// its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeededSecret {
    pub connector: Option<String>,
    pub field: &'static str,
    pub binding: String,
    /// What the worker does without it.
    pub without: &'static str,
}

/// Every secret `config` needs, in the order the worker checks them.
pub fn needed_secrets(config: &Config) -> Vec<NeededSecret> {
    let mut out: Vec<NeededSecret> = (config.connectors.iter())
        .map(|c| NeededSecret {
            connector: Some(c.id.clone()),
            field: "client_secret_binding",
            binding: c.client_secret_binding.clone(),
            without: "the worker refuses to start",
        })
        .collect();
    out.extend(config.saml_connectors.iter().filter_map(|c| {
        let encryption = c.encryption.as_ref()?;
        Some(NeededSecret {
            connector: Some(c.id.clone()),
            field: "sp_decryption_key_binding",
            binding: encryption.key_binding.clone(),
            without: "sign-ins with encrypted assertions fail (config_error)",
        })
    }));
    out.push(NeededSecret {
        connector: None,
        field: SESSION_KEYS_BINDING,
        binding: SESSION_KEYS_BINDING.to_string(),
        without: "the worker refuses to start",
    });
    if config.origin.is_some() {
        out.push(NeededSecret {
            connector: None,
            field: "origin",
            binding: ASSERTION_KEY_BINDING.to_string(),
            without: "the worker refuses to start (origin mode signs its assertions with it)",
        });
    }
    out
}

/// The names in `wrangler secret list`'s JSON output. Text around the list (a banner, a warning) is skipped.
pub fn read_secret_list(path: &str) -> Result<BTreeSet<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let list = match (text.find('['), text.rfind(']')) {
        (Some(start), Some(end)) if start < end => text.get(start..=end).unwrap_or_default(),
        _ => return Err(format!("{path}: not the JSON output of `wrangler secret list` (no list found)")),
    };
    let items: Vec<serde_json::Value> = serde_json::from_str(list)
        .map_err(|e| format!("{path}: not the JSON output of `wrangler secret list`: {e}"))?;
    items
        .iter()
        .map(|item| {
            item.get("name").and_then(serde_json::Value::as_str).map(str::to_string).ok_or_else(|| {
                format!("{path}: an entry without a \"name\" (expected {{\"name\": ..., \"type\": ...}}): {item}")
            })
        })
        .collect()
}

/// Compares the needed secrets with the deployed ones: each missing one an error, named by connector and field.
pub fn check_deployed_secrets(
    report: &mut Report,
    path: &str,
    deployed: &BTreeSet<String>,
    config: &Config,
    env: Option<&str>,
) {
    let needed = needed_secrets(config);
    let env_flag = env.map(|e| format!(" --env {e}")).unwrap_or_default();
    let mut missing = 0;
    for secret in &needed {
        if deployed.contains(&secret.binding) {
            continue;
        }
        missing += 1;
        let binding = &secret.binding;
        report.config_error(
            0,
            format!(
                "{}: the Worker secret {binding} is not deployed (not in {path}): {}; run: bash scripts/wrangler.sh \
                 secret put {binding}{env_flag}",
                locate(secret.connector.as_deref(), secret.field),
                secret.without
            ),
        );
    }
    let named: BTreeSet<&str> = needed.iter().map(|s| s.binding.as_str()).collect();
    report.line(
        0,
        format!(
            "deployed: {path}: {} of {} named secret{} deployed{}",
            needed.len() - missing,
            needed.len(),
            plural(needed.len()),
            if missing == 0 { "" } else { " (see the errors)" }
        ),
    );
    let unnamed: Vec<&str> =
        deployed.iter().map(String::as_str).filter(|d| !named.contains(d) && *d != ASSERTION_KEY_BINDING).collect();
    if !unnamed.is_empty() {
        report.line(0, format!("deployed: also {} (not named by AUTH_CONFIG)", unnamed.join(", ")));
    }
}
