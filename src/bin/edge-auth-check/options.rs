//! The command line.

#[derive(Debug, Default)]
pub struct Options {
    pub config: Option<String>,
    pub wrangler: Option<String>,
    pub env: Option<String>,
    pub secrets: Option<String>,
    pub offline: bool,
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
