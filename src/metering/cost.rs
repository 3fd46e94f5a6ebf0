//! The cost of one call from its usage, exact in integer nano-USD.

use super::prices::Prices;
use crate::domain::money::NanoUsd;
use crate::providers::types::Usage;

const PER_MTOK: i128 = 1_000_000;

fn charge(tokens: u64, nusd_per_mtok: i64) -> i128 {
    i128::from(tokens) * i128::from(nusd_per_mtok)
}

/// What `usage` costs at `prices`: uncached prompt tokens at the input price, cached and
/// cache-write tokens at their own prices (the input price when the model has none), completion
/// tokens at the output price, plus the per-request price. Rounded half up to a nano-USD.
pub fn of(prices: &Prices, usage: &Usage) -> NanoUsd {
    let cached = usage.cached_tokens.min(usage.prompt_tokens);
    let written = usage.cache_write_tokens.min(usage.prompt_tokens - cached);
    let plain = usage.prompt_tokens - cached - written;
    let total = charge(plain, prices.input)
        + charge(cached, prices.cached_input.unwrap_or(prices.input))
        + charge(written, prices.cache_write.unwrap_or(prices.input))
        + charge(usage.completion_tokens, prices.output);
    let tokens = (total + PER_MTOK / 2) / PER_MTOK;
    NanoUsd(
        i64::try_from(tokens)
            .unwrap_or(i64::MAX)
            .saturating_add(prices.per_request),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::prices::default_for;

    #[test]
    fn costs_are_exact_and_split_cached_tokens() {
        let gpt4o = default_for("gpt-4o-2024-08-06").expect("listed");
        // 1,000 prompt tokens ($2.50/M) and 500 completion tokens ($10/M) = $0.0075.
        let usage = Usage {
            prompt_tokens: 1000,
            completion_tokens: 500,
            ..Usage::default()
        };
        assert_eq!(of(&gpt4o, &usage), NanoUsd(7_500_000));
        // 400 of the prompt cached at $1.25/M: 600 × 2.5 + 400 × 1.25 + 500 × 10 = 7000 µ$.
        let cached = Usage {
            cached_tokens: 400,
            ..usage
        };
        assert_eq!(of(&gpt4o, &cached), NanoUsd(7_000_000));
        let sonnet = default_for("claude-sonnet-4-20250514").expect("listed");
        let written = Usage {
            prompt_tokens: 2000,
            cache_write_tokens: 1000,
            completion_tokens: 0,
            ..Usage::default()
        };
        // 1000 × $3/M + 1000 × $3.75/M = $0.00675.
        assert_eq!(of(&sonnet, &written), NanoUsd(6_750_000));
        assert!(
            default_for("gpt-4o-mini").expect("mini").input < gpt4o.input,
            "longest prefix wins"
        );
        assert_eq!(default_for("some-local-model"), None);
    }

    #[test]
    fn per_request_prices_add_and_huge_usage_saturates() {
        let p = Prices {
            input: 1_000_000_000,
            output: 0,
            per_request: 5,
            ..Prices::default()
        };
        assert_eq!(
            of(
                &p,
                &Usage {
                    prompt_tokens: 1,
                    ..Usage::default()
                }
            ),
            NanoUsd(1_005)
        );
        let max = Usage {
            prompt_tokens: u64::MAX / 2,
            completion_tokens: u64::MAX / 2,
            ..Usage::default()
        };
        assert_eq!(
            of(
                &Prices {
                    input: i64::MAX,
                    output: i64::MAX,
                    ..Prices::default()
                },
                &max
            ),
            NanoUsd(i64::MAX)
        );
    }
}
