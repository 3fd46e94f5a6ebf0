//! Retry spacing: exponential backoff with full jitter, overridden by the provider's own
//! `retry-after`.

use std::time::Duration;

use rand::Rng;

/// First retry's ceiling.
const BASE: Duration = Duration::from_millis(250);
/// Largest ceiling.
const CAP: Duration = Duration::from_secs(8);
/// A provider asking for a longer wait than this is not retried (fall back or fail at once).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The wait before retry number `retry` (0-based): the provider's `retry-after` when given,
/// otherwise a uniformly random wait up to `BASE × 2^retry` (capped). `None`: do not retry.
pub fn wait(retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
    if let Some(after) = retry_after {
        return (after <= MAX_RETRY_AFTER).then_some(after);
    }
    let ceiling = BASE
        .saturating_mul(2u32.saturating_pow(retry.min(16)))
        .min(CAP);
    let millis = rand::rng().random_range(0..=ceiling.as_millis() as u64);
    Some(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_under_a_growing_ceiling() {
        for retry in 0..6 {
            let ceiling = BASE.saturating_mul(2u32.pow(retry)).min(CAP);
            for _ in 0..100 {
                let w = wait(retry, None).expect("retry");
                assert!(w <= ceiling, "{w:?} > {ceiling:?}");
            }
        }
    }

    #[test]
    fn retry_after_wins_unless_too_long() {
        assert_eq!(
            wait(0, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(wait(0, Some(Duration::from_secs(61))), None);
    }
}
