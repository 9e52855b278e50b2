//! Inputs: `AUTH_CONFIG` (a JSON file, standard input, or wrangler.toml's `[vars]`), a `.dev.vars`-style
//! secrets file, and what wrangler.toml says about the static assets.

use std::collections::HashMap;

use edge_auth::core::config::Config;

use crate::options::Options;
use crate::report::Report;

/// The AUTH_CONFIG text and a description of where it came from.
pub fn read_auth_config(options: &Options) -> Result<(String, String), String> {
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
pub fn read_secrets_file(path: &str) -> Result<HashMap<String, String>, String> {
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
pub fn check_asset_handling(report: &mut Report, options: &Options, config: &Config) {
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
