//! `edge-auth-check`: what an operator runs before deploying.
//!
//! Reads `AUTH_CONFIG` (a JSON file, or `[vars] AUTH_CONFIG` of a wrangler.toml), validates it with the worker's
//! own rules, fetches every connector's discovery document and JWKS (SAML: its IdP metadata), and prints what it
//! found — endpoints, signing algorithms, key ids, certificates, domains routed — or exactly what is wrong.
//!
//! ```text
//! cargo run --features cli --bin edge-auth-check -- auth-config.json [--secrets .dev.vars] [--offline]
//! cargo run --features cli --bin edge-auth-check -- --wrangler wrangler.toml [--env NAME] [--secrets .dev.vars]
//! cargo run --features cli --bin edge-auth-check -- auth-config.json --site https://app.example
//! cargo run --features cli --bin edge-auth-check -- --wrangler wrangler.toml --env production \
//!     --wrangler-secrets deployed-secrets.json   # `wrangler secret list --env production > deployed-secrets.json`
//! ```
//!
//! Exit status: 0 when everything is usable, 1 on configuration errors (the config, the secrets file, the
//! command line), 2 when a provider is unreachable or unusable. Secret values are never printed.
//!
//! Every verdict comes from the worker's core (`Config::from_json_all`, `check_secrets` — the checks the worker
//! starts with, `parse_provider_metadata_accepting`, `parse_jwks` and its `key_skip` reasons,
//! `choose_auth_method`; for SAML `parse_idp_metadata_certificates` and `parse_certificate`); this command only
//! reads, fetches, explains and prints:
//!
//! - [`options`]: the command line;
//! - [`inputs`]: `AUTH_CONFIG` (a file, stdin or wrangler.toml), the secrets file, wrangler.toml's asset handling;
//! - [`bindings`]: wrangler.toml's Durable Object binding of the single-use store;
//! - [`settings`]: session, origin mode and path policies;
//! - [`validation`]: `AUTH_CONFIG` read (every error) and validated with the published JSON Schema;
//! - [`secrets`]: the secrets the worker needs, as the worker checks them;
//! - [`deployed`]: the secrets the configuration names, against `wrangler secret list` (names only);
//! - [`fetcher`]: blocking HTTP with the worker's limits;
//! - [`connector`]: each connector, its discovery document and Entra domain owners;
//! - [`keys`]: each key of a key set, used or skipped and why;
//! - [`saml`]: each SAML connector, its IdP (inline or metadata), certificates, and what to register at the IdP;
//! - [`report`]: what is printed, errors and warnings, the exit status.

mod bindings;
mod connector;
mod deployed;
mod fetcher;
mod inputs;
mod keys;
mod options;
mod report;
mod saml;
mod secrets;
mod settings;
mod validation;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::connector::check_connector;
use crate::fetcher::Fetcher;
use crate::inputs::{check_asset_handling, read_auth_config, read_secrets_file};
use crate::options::Options;
use crate::report::{finish, Report, EXIT_CONFIG, EXIT_OK};
use crate::saml::check_saml_connector;
use crate::secrets::check_secrets_file;
use crate::settings::report_settings;
use crate::validation::read_config;

const USAGE: &str = "\
usage: edge-auth-check AUTH_CONFIG.json [--secrets FILE] [--wrangler-secrets FILE] [--offline] [--site https://SITE]
       edge-auth-check --wrangler wrangler.toml [--env NAME] [--secrets FILE] [--wrangler-secrets FILE] [--offline]
                       [--site https://SITE]

Validates an edge-auth AUTH_CONFIG, fetches each connector's discovery document and JWKS (SAML: the IdP
metadata), and reports endpoints, algorithms, keys, certificates and domains, or exactly what is wrong.

  AUTH_CONFIG.json   the AUTH_CONFIG JSON document (- for standard input)
  --wrangler FILE    read AUTH_CONFIG from FILE's [vars] (a string or a table)
  --env NAME         with --wrangler: read [env.NAME.vars] instead
  --secrets FILE     a .dev.vars-style file (KEY=VALUE lines): checks SESSION_KEYS and that every
                     client_secret_binding and sp_decryption_key_binding is set; values are never printed
  --wrangler-secrets FILE
                     the output of `wrangler secret list [--env NAME] > FILE` (names only, no values):
                     each secret AUTH_CONFIG names (client_secret_binding, sp_decryption_key_binding,
                     SESSION_KEYS, origin mode's ASSERTION_SIGNING_KEY) must be deployed
  --offline          validate only; fetch nothing
  --site ORIGIN      the site's origin (https://app.example): prints what to register at each IdP —
                     redirect and logout URIs (OpenID Connect, Entra, Google, Facebook), SP entity ID,
                     ACS and metadata URLs (SAML), realm, reply and sign-out URLs (WS-Federation)

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
    let Some(config) = read_config(&mut report, &text) else {
        return finish(report, 0);
    };
    report_settings(&mut report, &config);
    check_asset_handling(&mut report, options, &config);
    bindings::check_durable_objects(&mut report, options);
    let secrets = match &options.secrets {
        None => None,
        Some(path) => match read_secrets_file(path) {
            Ok(values) => Some(check_secrets_file(&mut report, path, values, &config)),
            Err(e) => {
                report.config_error(0, e);
                None
            }
        },
    };
    if let Some(path) = &options.wrangler_secrets {
        match deployed::read_secret_list(path) {
            Ok(names) => deployed::check_deployed_secrets(&mut report, path, &names, &config, options.env.as_deref()),
            Err(e) => report.config_error(0, e),
        }
    }
    if options.offline {
        report.line(0, "mode:     --offline (nothing fetched)");
    }
    let mut fetcher = Fetcher::new(options.offline);
    let mut usable = 0;
    for connector in &config.connectors {
        report.line(0, "");
        let site = options.site.as_deref();
        usable += usize::from(check_connector(&mut report, &mut fetcher, connector, secrets.as_ref(), site));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for connector in &config.saml_connectors {
        report.line(0, "");
        let site = options.site.as_deref();
        usable += usize::from(check_saml_connector(&mut report, &mut fetcher, connector, site, secrets.as_ref(), now));
    }
    finish(report, usable)
}
