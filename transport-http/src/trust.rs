//! Which service URLs the bot's token may be sent to.
//!
//! A service URL is trusted when it arrived on an inbound request whose token was validated
//! (the channel vouched for it with the `serviceurl` claim), or when its host matches the
//! configured allow-list. Anything else — a URL from storage, from a webhook body, from a
//! forged activity with auth off — is refused before a request is made.
//!
//! With no credentials configured there is no token to leak: an empty allow-list then allows
//! every service URL (local emulators on arbitrary ports), while a non-empty one still
//! restricts where the bot sends.

use botcore::DeliveryError;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::RwLock;
use url::Url;

/// At most this many validated service URLs are remembered (channels use a handful).
const MAX_TRUSTED: usize = 10_000;

/// The trusted service URLs and the allow-list.
#[derive(Debug)]
pub(crate) struct Trust {
    trusted: RwLock<HashSet<String>>,
    patterns: Vec<HostPattern>,
    open_without_list: bool,
}

#[derive(Debug, Clone)]
struct HostPattern {
    /// `*.example.com` is kept as `.example.com`; exact hosts as they are.
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

impl HostPattern {
    fn parse(pattern: &str) -> Option<Self> {
        let p = pattern.trim().to_ascii_lowercase();
        let p = p
            .strip_prefix("https://")
            .or_else(|| p.strip_prefix("http://"))
            .unwrap_or(&p);
        let p = p.trim_end_matches('/');
        // `host:port`; IPv6 literals go in brackets (`[::1]:3978`).
        let (host, port) = match p.rsplit_once(':') {
            Some((h, port))
                if !h.is_empty()
                    && !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                (h, Some(port.parse::<u16>().ok()?))
            }
            _ => (p, None),
        };
        if host.is_empty() {
            return None;
        }
        match host.strip_prefix("*.") {
            Some(domain) if !domain.is_empty() => Some(Self {
                host: format!(".{domain}"),
                wildcard: true,
                port,
            }),
            Some(_) => None,
            None => Some(Self {
                host: host.trim_matches(['[', ']']).to_owned(),
                wildcard: false,
                port,
            }),
        }
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        if self.wildcard {
            host.ends_with(&self.host) && host.len() > self.host.len()
        } else {
            host == self.host
        }
    }
}

/// The form service URLs are compared in: scheme, host and port lowercased, no trailing `/`.
pub(crate) fn normalize(service_url: &str) -> Option<String> {
    let url = Url::parse(service_url.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let port = url.port_or_known_default()?;
    let path = url.path().trim_end_matches('/');
    Some(format!("{}://{host}:{port}{path}", url.scheme()))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Trust {
    pub(crate) fn new(allow_list: &[String], has_credentials: bool) -> Self {
        let patterns: Vec<HostPattern> = allow_list
            .iter()
            .filter_map(|p| {
                let parsed = HostPattern::parse(p);
                if parsed.is_none() {
                    tracing::warn!(pattern = %p, "ignoring an unparsable service URL pattern");
                }
                parsed
            })
            .collect();
        let open_without_list = !has_credentials && allow_list.is_empty();
        Self {
            trusted: RwLock::new(HashSet::new()),
            patterns,
            open_without_list,
        }
    }

    /// Remembers a service URL that arrived on a validated request.
    pub(crate) fn trust(&self, service_url: &str) {
        let Some(n) = normalize(service_url) else {
            return;
        };
        if self.trusted.read().map(|t| t.contains(&n)).unwrap_or(false) {
            return;
        }
        if let Ok(mut t) = self.trusted.write()
            && t.len() < MAX_TRUSTED
        {
            t.insert(n);
        }
    }

    /// Whether the bot may send to `service_url` (and with it, its token).
    pub(crate) fn check(&self, service_url: &str) -> Result<(), DeliveryError> {
        let refuse = || DeliveryError::ServiceUrlNotAllowed(service_url.to_owned());
        let url = Url::parse(service_url.trim()).map_err(|_| refuse())?;
        let n = normalize(service_url).ok_or_else(refuse)?;
        if self.open_without_list || self.trusted.read().map(|t| t.contains(&n)).unwrap_or(false) {
            return Ok(());
        }
        let host = url
            .host_str()
            .ok_or_else(refuse)?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let port = url.port_or_known_default().ok_or_else(refuse)?;
        if url.scheme() == "http" && !is_loopback(&host) {
            return Err(refuse());
        }
        if self.patterns.iter().any(|p| p.matches(&host, port)) {
            Ok(())
        } else {
            Err(refuse())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn allow_list_patterns_match_hosts_ports_and_subdomains() {
        let t = Trust::new(
            &list(&["*.botframework.com", "127.0.0.1:8080", "localhost"]),
            true,
        );
        assert!(t.check("https://smba.botframework.com/amer/").is_ok());
        assert!(
            t.check("https://botframework.com").is_err(),
            "a wildcard needs a subdomain"
        );
        assert!(t.check("https://evil-botframework.com").is_err());
        assert!(t.check("https://botframework.com.evil.net").is_err());
        assert!(t.check("http://127.0.0.1:8080").is_ok());
        assert!(t.check("http://127.0.0.1:8081").is_err());
        assert!(t.check("http://localhost:1234/x").is_ok());
        assert!(t.check("ftp://localhost").is_err());
        assert!(t.check("not a url").is_err());
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let t = Trust::new(&list(&["*.example.com"]), true);
        assert!(t.check("https://a.example.com").is_ok());
        assert!(t.check("http://a.example.com").is_err());
    }

    #[test]
    fn validated_urls_are_trusted_by_origin_and_path() {
        let t = Trust::new(&[], true);
        assert!(t.check("https://channel.example.net/emea").is_err());
        t.trust("https://Channel.example.net/emea/");
        assert!(t.check("https://channel.example.net/emea").is_ok());
        assert!(t.check("https://channel.example.net:443/emea/").is_ok());
        assert!(t.check("https://channel.example.net/other").is_err());
    }

    #[test]
    fn no_credentials_and_no_list_allows_any_url() {
        assert!(Trust::new(&[], false).check("http://10.1.2.3:9/x").is_ok());
        assert!(
            Trust::new(&list(&["localhost"]), false)
                .check("http://127.0.0.1:9")
                .is_err()
        );
    }
}
