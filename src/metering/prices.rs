//! Model prices: the catalog's own figures, or a built-in list for popular models (public list
//! prices in USD per million tokens; the configuration overrides any of them).

use crate::config::ModelSettings;
use crate::domain::money::NanoUsd;

/// A model's prices, in nano-USD per million tokens (and per request).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prices {
    pub input: i64,
    pub output: i64,
    /// Cached prompt tokens (defaults to `input`).
    pub cached_input: Option<i64>,
    /// Prompt tokens written to the provider's cache (defaults to `input`).
    pub cache_write: Option<i64>,
    pub per_request: i64,
}

/// A built-in price row: model id prefix, input, output, cached input, cache write (USD per
/// million tokens).
type PriceRow = (&'static str, f64, f64, Option<f64>, Option<f64>);

/// Longer prefixes are listed before shorter ones they extend.
const DEFAULTS: &[PriceRow] = &[
    ("gpt-4o-mini", 0.15, 0.60, Some(0.075), None),
    ("gpt-4o", 2.50, 10.00, Some(1.25), None),
    ("gpt-4.1-nano", 0.10, 0.40, Some(0.025), None),
    ("gpt-4.1-mini", 0.40, 1.60, Some(0.10), None),
    ("gpt-4.1", 2.00, 8.00, Some(0.50), None),
    ("gpt-5-nano", 0.05, 0.40, Some(0.005), None),
    ("gpt-5-mini", 0.25, 2.00, Some(0.025), None),
    ("gpt-5", 1.25, 10.00, Some(0.125), None),
    ("o4-mini", 1.10, 4.40, Some(0.275), None),
    ("o3-mini", 1.10, 4.40, Some(0.55), None),
    ("o3", 2.00, 8.00, Some(0.50), None),
    ("text-embedding-3-small", 0.02, 0.0, None, None),
    ("text-embedding-3-large", 0.13, 0.0, None, None),
    ("claude-opus-4", 15.00, 75.00, Some(1.50), Some(18.75)),
    ("claude-sonnet-4", 3.00, 15.00, Some(0.30), Some(3.75)),
    ("claude-3-7-sonnet", 3.00, 15.00, Some(0.30), Some(3.75)),
    ("claude-3-5-haiku", 0.80, 4.00, Some(0.08), Some(1.00)),
    ("claude-haiku-4", 1.00, 5.00, Some(0.10), Some(1.25)),
    ("gemini-2.5-pro", 1.25, 10.00, Some(0.31), None),
    ("gemini-2.5-flash-lite", 0.10, 0.40, Some(0.025), None),
    ("gemini-2.5-flash", 0.30, 2.50, Some(0.075), None),
    ("gemini-2.0-flash", 0.10, 0.40, Some(0.025), None),
    ("command-r-plus", 2.50, 10.00, None, None),
    ("command-r", 0.15, 0.60, None, None),
    ("command-a", 2.50, 10.00, None, None),
    ("embed-v4", 0.12, 0.0, None, None),
];

fn nusd(usd: f64) -> i64 {
    (usd * NanoUsd::PER_USD as f64).round() as i64
}

/// The built-in prices for a provider model id (`gpt-4o-2024-08-06` finds `gpt-4o`).
pub fn default_for(upstream: &str) -> Option<Prices> {
    let id = upstream.rsplit('/').next().unwrap_or(upstream);
    DEFAULTS
        .iter()
        .find(|(prefix, ..)| id.starts_with(prefix))
        .map(|(_, input, output, cached, write)| Prices {
            input: nusd(*input),
            output: nusd(*output),
            cached_input: cached.map(nusd),
            cache_write: write.map(nusd),
            per_request: 0,
        })
}

/// The prices of a configured model: its own figures where given, the built-in list for the
/// rest; `None` when neither prices input and output.
pub fn for_model(model: &ModelSettings) -> Option<Prices> {
    let builtin = default_for(model.upstream_id());
    let input = model
        .input_usd_per_mtok
        .map(nusd)
        .or(builtin.map(|p| p.input))?;
    let output = model
        .output_usd_per_mtok
        .map(nusd)
        .or(builtin.map(|p| p.output))?;
    Some(Prices {
        input,
        output,
        cached_input: model
            .cached_input_usd_per_mtok
            .map(nusd)
            .or(builtin.and_then(|p| p.cached_input)),
        cache_write: model
            .cache_write_usd_per_mtok
            .map(nusd)
            .or(builtin.and_then(|p| p.cache_write)),
        per_request: model.request_usd.map_or(0, nusd),
    })
}
