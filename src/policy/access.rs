//! Where a request comes from, and whether its key may be used from there: the client IP (the
//! socket's peer, or the rightmost untrusted `X-Forwarded-For` hop when the peer is a trusted
//! proxy) against the key's IP allowlist, and the browser `Origin`/`Referer` against the key's
//! allowed origins.

use std::net::IpAddr;

use ipnet::IpNet;

/// The client's address. `X-Forwarded-For` is believed only when the socket peer is a trusted
/// proxy; then hops are read from the right, skipping trusted proxies, and the first untrusted
/// one is the client.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let Some(chain) = forwarded_for else {
        return Some(peer);
    };
    let mut client = peer;
    for hop in chain.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return Some(ip),
            // A malformed hop ends what can be believed.
            Err(_) => return Some(client),
        }
    }
    Some(client)
}

/// Whether `ip` is inside one of `allowed` (an empty list allows every address).
pub fn ip_allowed(ip: Option<IpAddr>, allowed: &[IpNet]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    // An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) is matched as IPv4 too.
    let mapped = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    allowed
        .iter()
        .any(|net| net.contains(&ip) || mapped.is_some_and(|m| net.contains(&m)))
}

/// An allowed-origin pattern such as `https://*.example.com` or `https://a.io/app/*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    /// The host without a leading `*.`.
    host: String,
    wildcard: bool,
    port: Option<u16>,
    /// A path prefix (only checked against a `Referer`).
    path_prefix: Option<String>,
}

impl OriginPattern {
    /// Parses a stored (already validated and normalised) pattern.
    pub fn parse(pattern: &str) -> Option<Self> {
        let (scheme, rest) = pattern.split_once("://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (wildcard, authority) = match authority.strip_prefix("*.") {
            Some(a) => (true, a),
            None => (false, authority),
        };
        let probe = url::Url::parse(&format!("{scheme}://{authority}")).ok()?;
        Some(Self {
            scheme: scheme.to_ascii_lowercase(),
            host: probe.host_str()?.to_ascii_lowercase(),
            wildcard,
            port: probe.port_or_known_default(),
            path_prefix: (!path.is_empty() && path != "/*" && path != "/")
                .then(|| path.trim_end_matches('*').to_owned()),
        })
    }

    fn matches(&self, url: &url::Url, check_path: bool) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let host_ok = if self.wildcard {
            host.len() > self.host.len() + 1 && host.ends_with(&format!(".{}", self.host))
        } else {
            host == self.host
        };
        host_ok
            && url.scheme() == self.scheme
            && url.port_or_known_default() == self.port
            && (!check_path
                || self
                    .path_prefix
                    .as_deref()
                    .is_none_or(|p| url.path().starts_with(p)))
    }
}

/// Whether a browser request's `Origin` (or, without one, its `Referer`) matches one of the
/// patterns; an empty list allows every request, and a request with neither header is refused
/// when patterns are set.
pub fn origin_allowed(
    origin: Option<&str>,
    referer: Option<&str>,
    patterns: &[OriginPattern],
) -> bool {
    if patterns.is_empty() {
        return true;
    }
    if let Some(origin) = origin.and_then(|o| url::Url::parse(o).ok()) {
        return patterns.iter().any(|p| p.matches(&origin, false));
    }
    if let Some(referer) = referer.and_then(|r| url::Url::parse(r).ok()) {
        return patterns.iter().any(|p| p.matches(&referer, true));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(items: &[&str]) -> Vec<IpNet> {
        items.iter().map(|s| s.parse().expect("cidr")).collect()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let lb: IpAddr = "10.0.0.5".parse().expect("ip");
        let outsider: IpAddr = "198.51.100.7".parse().expect("ip");
        let trusted = nets(&["10.0.0.0/8"]);
        let spoof = Some("203.0.113.9");
        assert_eq!(
            client_ip(Some(outsider), spoof, &trusted),
            Some(outsider),
            "untrusted peer"
        );
        assert_eq!(
            client_ip(Some(lb), spoof, &trusted),
            "203.0.113.9".parse().ok()
        );
        // The client prepends a fake hop; the rightmost untrusted hop is the real client.
        let chain = Some("1.2.3.4, 203.0.113.9, 10.0.0.7");
        assert_eq!(
            client_ip(Some(lb), chain, &trusted),
            "203.0.113.9".parse().ok()
        );
        assert_eq!(client_ip(Some(lb), Some("garbage"), &trusted), Some(lb));
        assert_eq!(client_ip(Some(lb), None, &[]), Some(lb));
    }

    #[test]
    fn allowlists_cover_v4_v6_and_mapped_addresses() {
        let allowed = nets(&["203.0.113.0/24", "2001:db8::/32"]);
        assert!(ip_allowed("203.0.113.200".parse().ok(), &allowed));
        assert!(ip_allowed("2001:db8::1".parse().ok(), &allowed));
        assert!(ip_allowed("::ffff:203.0.113.1".parse().ok(), &allowed));
        assert!(!ip_allowed("198.51.100.1".parse().ok(), &allowed));
        assert!(!ip_allowed(None, &allowed));
        assert!(ip_allowed(None, &[]));
    }

    #[test]
    fn origins_match_scheme_host_wildcards_ports_and_paths() {
        let p: Vec<OriginPattern> = [
            "https://*.example.com",
            "http://localhost:3000",
            "https://a.io/app/*",
        ]
        .iter()
        .map(|s| OriginPattern::parse(s).expect("pattern"))
        .collect();
        assert!(origin_allowed(Some("https://app.example.com"), None, &p));
        assert!(origin_allowed(Some("https://a.b.example.com"), None, &p));
        assert!(
            !origin_allowed(Some("https://example.com"), None, &p),
            "the wildcard needs a subdomain"
        );
        assert!(
            !origin_allowed(Some("http://app.example.com"), None, &p),
            "scheme"
        );
        assert!(!origin_allowed(
            Some("https://app.example.com.evil.io"),
            None,
            &p
        ));
        assert!(!origin_allowed(Some("https://evilexample.com"), None, &p));
        assert!(origin_allowed(Some("http://localhost:3000"), None, &p));
        assert!(
            !origin_allowed(Some("http://localhost:3001"), None, &p),
            "port"
        );
        assert!(origin_allowed(None, Some("https://a.io/app/page?x=1"), &p));
        assert!(
            !origin_allowed(None, Some("https://a.io/admin"), &p),
            "path prefix"
        );
        assert!(
            !origin_allowed(None, None, &p),
            "no header with patterns set"
        );
        assert!(origin_allowed(None, None, &[]));
    }
}
