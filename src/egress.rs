//! Outbound calls to addresses tenants supply (their providers' base URLs, alert webhooks): they
//! must not reach the gateway's own networks. A URL is checked when it is saved and again before
//! each call, and names are resolved by a resolver that refuses loopback, private, link-local,
//! shared and other internal addresses at connect time (so DNS rebinding gains nothing); redirects
//! are never followed. `[egress] allow_private_networks = true` lifts the rule for on-prem setups
//! whose providers live on the internal network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Why an address was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EgressError {
    #[error("`{0}` is not a valid http(s) URL")]
    BadUrl(String),
    #[error("URLs with credentials in them are not accepted")]
    Credentials,
    #[error("`{0}` points to a loopback, private or link-local address, which is not allowed")]
    Internal(String),
}

/// Whether `ip` belongs to a network tenants may not reach.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) embed IPv4 addresses.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let o = v6.octets();
                return is_internal_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            if s[0] == 0x2002 {
                let o = v6.octets();
                return is_internal_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1)
                || (s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0 // 0.0.0.0/8 "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240 // reserved
}

/// Checks a URL a tenant supplies: http(s), a host, no credentials, and — unless private
/// networks are allowed — not a literal internal address (names are checked when resolved).
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, EgressError> {
    let url = Url::parse(raw.trim()).map_err(|_| EgressError::BadUrl(raw.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(EgressError::BadUrl(raw.to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EgressError::Credentials);
    }
    let internal = match url.host() {
        None => return Err(EgressError::BadUrl(raw.to_owned())),
        Some(Host::Ipv4(ip)) => is_internal(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_internal(IpAddr::V6(ip)),
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost") || d.ends_with(".internal")
        }
    };
    if internal && !allow_private {
        return Err(EgressError::Internal(raw.to_owned()));
    }
    Ok(url)
}

/// Looks names up; replaceable in tests by a stub.
pub type Lookup =
    Arc<dyn Fn(String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> + Send + Sync>;

/// The system resolver.
pub fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    })
}

/// A resolver that drops internal addresses (all of them refused: the call fails).
#[derive(Clone)]
pub struct GuardedResolver {
    lookup: Lookup,
    allow_private: bool,
    /// Names resolved through the guard (proves it is on the call path).
    pub resolutions: Arc<AtomicU64>,
}

impl GuardedResolver {
    /// A guard over `lookup`.
    pub fn new(lookup: Lookup, allow_private: bool) -> Self {
        Self {
            lookup,
            allow_private,
            resolutions: Arc::default(),
        }
    }

    /// The addresses of `host` a call may connect to.
    pub async fn allowed(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        self.resolutions.fetch_add(1, Ordering::Relaxed);
        let all = (self.lookup)(host.to_owned()).await?;
        let allowed: Vec<IpAddr> = all
            .into_iter()
            .filter(|ip| self.allow_private || !is_internal(*ip))
            .collect();
        if allowed.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("`{host}` resolves only to internal addresses"),
            ));
        }
        Ok(allowed)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let ips = this.allowed(name.as_str()).await?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// An HTTP client for tenant-supplied URLs: guarded resolution, no redirects, bounded time.
pub fn client(resolver: GuardedResolver, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(resolver))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses and spellings that must never be reached (the S9 corpus).
    const INTERNAL_URLS: &[&str] = &[
        "http://127.0.0.1/",
        "http://127.1/",
        "http://127.0.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://017700000001/",
        "http://0.0.0.0/",
        "http://0/",
        "http://[::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        "http://[::127.0.0.1]/",
        "http://10.0.0.1/",
        "http://10.255.255.255/",
        "http://172.16.0.1/",
        "http://172.31.255.255/",
        "http://192.168.0.1/",
        "http://192.168.255.255/",
        "http://100.64.0.1/",
        "http://100.127.255.254/",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.0.1/",
        "http://[fd00::1]/",
        "http://[fc00::1]/",
        "http://[fe80::1]/",
        "http://[fec0::1]/",
        "http://[64:ff9b::a00:1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
        "http://[2002:a9fe:a9fe::]/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://240.0.0.1/",
        "http://198.18.0.1/",
        "http://192.0.0.1/",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://api.localhost/",
        "http://metadata.google.internal/",
        "https://127.0.0.1:8443/v1",
        "http://[::ffff:a9fe:a9fe]/",
    ];

    #[test]
    fn every_internal_spelling_is_refused() {
        assert!(INTERNAL_URLS.len() >= 40);
        for url in INTERNAL_URLS {
            assert!(
                matches!(check_url(url, false), Err(EgressError::Internal(_))),
                "{url} was accepted"
            );
            assert!(
                check_url(url, true).is_ok(),
                "{url} refused even when allowed"
            );
        }
    }

    #[test]
    fn public_urls_pass_and_bad_ones_do_not() {
        for url in [
            "https://api.openai.com/v1",
            "https://my-resource.openai.azure.com",
            "http://8.8.8.8/",
            "https://[2606:4700::1111]/",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
        }
        assert_eq!(
            check_url("https://user:pw@api.example.com/", false),
            Err(EgressError::Credentials)
        );
        assert!(matches!(
            check_url("file:///etc/passwd", false),
            Err(EgressError::BadUrl(_))
        ));
        assert!(matches!(
            check_url("gopher://x/", false),
            Err(EgressError::BadUrl(_))
        ));
    }

    fn stub(answers: Vec<Vec<IpAddr>>) -> (Lookup, Arc<AtomicU64>) {
        let calls = Arc::new(AtomicU64::new(0));
        let seen = calls.clone();
        let answers = Arc::new(answers);
        let lookup: Lookup = Arc::new(move |_host: String| {
            let n = seen.fetch_add(1, Ordering::Relaxed) as usize;
            let answers = answers.clone();
            Box::pin(async move { Ok(answers[n.min(answers.len() - 1)].clone()) })
        });
        (lookup, calls)
    }

    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused_at_connect_time() {
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let private: IpAddr = "10.1.2.3".parse().unwrap();
        // A name that first answers with a public address and then rebinds to a private one.
        let (lookup, calls) = stub(vec![vec![public], vec![private], vec![private, public]]);
        let guard = GuardedResolver::new(lookup, false);
        assert_eq!(guard.allowed("rebind.example").await.unwrap(), vec![public]);
        assert!(guard.allowed("rebind.example").await.is_err());
        // Mixed answers keep only the public address.
        assert_eq!(guard.allowed("rebind.example").await.unwrap(), vec![public]);
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        assert_eq!(guard.resolutions.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn the_client_resolves_through_the_guard_and_sends_nothing_to_internal_names() {
        let (lookup, calls) = stub(vec![vec!["127.0.0.1".parse().unwrap()]]);
        let guard = GuardedResolver::new(lookup, false);
        let client = client(guard.clone(), Duration::from_secs(2)).unwrap();
        let err = client
            .get("http://internal-only.example:9/")
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect() || err.is_request(), "{err}");
        assert_eq!(
            calls.load(Ordering::Relaxed),
            1,
            "the guard was on the call path"
        );
    }
}
