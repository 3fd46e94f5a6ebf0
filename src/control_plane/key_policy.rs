//! Validation and normalisation of a key's scopes: allowed models, IP allowlist, referrers.

use ipnet::IpNet;

use super::FieldError;

/// Checks and de-duplicates allowed model (or route) names.
pub fn models(items: &[String]) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for item in items.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
        if item.len() > 200 || item.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(FieldError::new(
                "models",
                format!("`{item}` is not a model name"),
            ));
        }
        if !out.iter().any(|m| m == item) {
            out.push(item.to_owned());
        }
    }
    Ok(out)
}

/// Parses IPv4/IPv6 CIDRs (a bare address means that one address) into canonical form.
pub fn cidrs(items: &[String]) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let net = item
            .parse::<IpNet>()
            .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| {
                FieldError::new(
                    "allowed-ips",
                    format!("`{item}` is not an IP address or CIDR such as 203.0.113.0/24"),
                )
            })?
            .trunc();
        let canonical = net.to_string();
        if !out.contains(&canonical) {
            out.push(canonical);
        }
    }
    Ok(out)
}

/// Checks referrer/origin patterns: `https://app.example.com`, `https://*.example.com`,
/// `http://localhost:3000`, optionally with a path prefix ending in `*`. Lower-cases scheme and
/// host.
pub fn referrers(items: &[String]) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let bad = || {
            FieldError::new(
                "allowed-referrers",
                format!("`{item}` is not an origin pattern such as https://*.example.com"),
            )
        };
        let (scheme, rest) = item.split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad());
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (wildcard, host_port) = match authority.strip_prefix("*.") {
            Some(h) => ("*.", h),
            None => ("", authority),
        };
        // Validate the concrete part with a URL parser (no credentials, query or fragment).
        let probe = url::Url::parse(&format!(
            "{scheme}://{host_port}{}",
            path.trim_end_matches('*')
        ))
        .map_err(|_| bad())?;
        let host_ok = probe
            .host_str()
            .is_some_and(|h| !h.is_empty() && !h.contains('*'));
        if !host_ok
            || !probe.username().is_empty()
            || probe.password().is_some()
            || probe.query().is_some()
            || probe.fragment().is_some()
            || authority.contains('@')
        {
            return Err(bad());
        }
        let normalized = format!(
            "{scheme}://{wildcard}{}{path}",
            host_port.to_ascii_lowercase()
        );
        if !out.contains(&normalized) {
            out.push(normalized);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn cidrs_are_canonical() {
        assert_eq!(
            cidrs(&v(&[
                "10.1.2.3/8",
                "2001:db8::1",
                " 203.0.113.7 ",
                "10.0.0.0/8"
            ])),
            Ok(v(&["10.0.0.0/8", "2001:db8::1/128", "203.0.113.7/32"]))
        );
        assert!(cidrs(&v(&["10.0.0.0/33"])).is_err());
        assert!(cidrs(&v(&["example.com"])).is_err());
    }

    #[test]
    fn referrer_patterns() {
        assert_eq!(
            referrers(&v(&[
                "HTTPS://*.Example.com",
                "http://localhost:3000",
                "https://a.io/app/*"
            ])),
            Ok(v(&[
                "https://*.example.com",
                "http://localhost:3000",
                "https://a.io/app/*"
            ]))
        );
        for bad in [
            "example.com",
            "ftp://x.io",
            "https://user@x.io",
            "https://x.io/?q=1",
            "https://*",
        ] {
            assert!(referrers(&v(&[bad])).is_err(), "{bad}");
        }
    }

    #[test]
    fn model_names() {
        assert_eq!(
            models(&v(&["gpt-4o", " gpt-4o", "", "claude"])),
            Ok(v(&["gpt-4o", "claude"]))
        );
        assert!(models(&v(&["gpt 4o"])).is_err());
    }
}
