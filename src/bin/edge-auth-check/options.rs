//! The command line.

use edge_auth::core::config::check_endpoint_url;

#[derive(Debug, Default)]
pub struct Options {
    pub config: Option<String>,
    pub wrangler: Option<String>,
    pub env: Option<String>,
    pub secrets: Option<String>,
    /// `--wrangler-secrets`: the JSON output of `wrangler secret list`, to compare the named secrets with.
    pub wrangler_secrets: Option<String>,
    pub offline: bool,
    /// `--site`: the site's origin (`https://host[:port]`), to print what to register at SAML IdPs.
    pub site: Option<String>,
}

impl Options {
    /// `Ok(None)` for `--help`.
    pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
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
                "--wrangler-secrets" => value(&mut o.wrangler_secrets)?,
                "--site" => value(&mut o.site)?,
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
            _ => {
                o.site = o.site.as_deref().map(site_origin).transpose()?;
                Ok(Some(o))
            }
        }
    }
}

/// The origin of `--site`: `https://host[:port]` (`http://` only for loopback hosts, as the worker's own URLs),
/// without a path: the SAML URLs are fixed paths on it.
fn site_origin(text: &str) -> Result<String, String> {
    let url = check_endpoint_url(text.trim()).map_err(|e| format!("--site: {e}"))?;
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("--site: give the site's origin (https://host), without a path: {text:?}"));
    }
    Ok(url.origin().ascii_serialization())
}
