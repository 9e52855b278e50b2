//! Blocking HTTP with the worker's limits.

use std::collections::HashMap;
use std::time::Duration;

use edge_auth::core::url::is_loopback_host;

/// The worker's limits for IdP responses and its fetch timeout (src/platform).
const MAX_RESPONSE_BYTES: u64 = 512 * 1024;
const IDP_TIMEOUT: Duration = Duration::from_secs(10);
/// What the worker asks for: JSON (discovery, keys), or SAML metadata (as `fetch_saml_metadata` does).
const ACCEPT_JSON: &str = "application/json";
const ACCEPT_SAML_METADATA: &str = "application/samlmetadata+xml, application/xml, text/xml";

/// Blocking GETs with the worker's timeout and size limit, following redirects as the worker's `fetch` does;
/// each URL is fetched once. Proxies come from the environment (`HTTPS_PROXY`, `NO_PROXY`, ...), except for
/// loopback hosts (a development IdP), which are always reached directly.
pub struct Fetcher {
    agents: Option<(ureq::Agent, ureq::Agent)>,
    cache: HashMap<String, Result<(u16, Vec<u8>), String>>,
}

impl Fetcher {
    pub fn new(offline: bool) -> Fetcher {
        let agent = |direct: bool| {
            let builder = ureq::Agent::config_builder()
                .timeout_global(Some(IDP_TIMEOUT))
                .http_status_as_error(false)
                .user_agent(concat!("edge-auth-check/", env!("CARGO_PKG_VERSION")));
            let builder = if direct { builder.proxy(None) } else { builder };
            ureq::Agent::new_with_config(builder.build())
        };
        Fetcher { agents: (!offline).then(|| (agent(false), agent(true))), cache: HashMap::new() }
    }

    pub fn online(&self) -> bool {
        self.agents.is_some()
    }

    /// The status and body of the answer, or why there is none.
    pub fn get_any(&mut self, url: &str) -> Result<(u16, Vec<u8>), String> {
        self.get_accepting(url, ACCEPT_JSON)
    }

    fn get_accepting(&mut self, url: &str, accept: &str) -> Result<(u16, Vec<u8>), String> {
        match self.cache.get(url) {
            Some(r) => r.clone(),
            None => {
                let r = self.fetch(url, accept);
                self.cache.insert(url.to_string(), r.clone());
                r
            }
        }
    }

    /// The body of a `200` answer, or why there is none.
    pub fn get(&mut self, url: &str) -> Result<Vec<u8>, String> {
        only_ok(url, self.get_any(url))
    }

    /// The body of a `200` answer to a request for SAML metadata, or why there is none.
    pub fn get_saml_metadata(&mut self, url: &str) -> Result<Vec<u8>, String> {
        only_ok(url, self.get_accepting(url, ACCEPT_SAML_METADATA))
    }

    fn fetch(&self, url: &str, accept: &str) -> Result<(u16, Vec<u8>), String> {
        let (via_proxy, direct) = self.agents.as_ref().ok_or_else(|| "offline".to_string())?;
        let loopback = url::Url::parse(url).is_ok_and(|u| is_loopback_host(u.host()));
        let agent = if loopback { direct } else { via_proxy };
        let mut response = agent.get(url).header("accept", accept).call().map_err(|e| match e {
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

fn only_ok(url: &str, answer: Result<(u16, Vec<u8>), String>) -> Result<Vec<u8>, String> {
    match answer {
        Ok((200, body)) => Ok(body),
        Ok((status, _)) => Err(format!("{url} answered HTTP {status}")),
        Err(e) => Err(e),
    }
}
