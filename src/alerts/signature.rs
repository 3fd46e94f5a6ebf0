//! Webhook signatures: `x-switchyard-signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<body>"` with the destination's secret. Receivers recompute it, compare in constant time
//! and refuse timestamps older than a few minutes (replays).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const HEADER: &str = "x-switchyard-signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable_mac());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[allow(clippy::unreachable)]
fn unreachable_mac() -> HmacSha256 {
    unreachable!("HMAC takes keys of any length")
}

/// The header value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks a header value against `body`: a `v1` signature must match and the timestamp must be
/// within `tolerance_secs` of `now` (unix seconds).
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    signatures
        .iter()
        .any(|sig| mac(secret, timestamp, body).verify_slice(sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_reject_tampering_and_staleness() {
        let header = sign(b"whsec_x", 1_700_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify(
            b"whsec_x",
            &header,
            b"{\"a\":1}",
            1_700_000_010,
            300
        ));
        assert!(!verify(
            b"whsec_x",
            &header,
            b"{\"a\":2}",
            1_700_000_010,
            300
        ));
        assert!(!verify(
            b"whsec_y",
            &header,
            b"{\"a\":1}",
            1_700_000_010,
            300
        ));
        assert!(!verify(
            b"whsec_x",
            &header,
            b"{\"a\":1}",
            1_700_000_400,
            300
        ));
        assert!(!verify(
            b"whsec_x",
            "v1=00",
            b"{\"a\":1}",
            1_700_000_000,
            300
        ));
    }
}
