//! `[cache]`: the exact and semantic response cache, and the overrides a route, tenant or key
//! may set on it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[cache]`: process-wide cache settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// Whether answers are cached at all (routes, tenants and keys may switch it per scope).
    pub enabled: bool,
    /// Bound on the in-process exact cache, in bytes of stored answers.
    pub max_bytes: u64,
    /// How long an answer stays cached unless a scope or the request says otherwise.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Only exact matches; no embedding call, no semantic lookup.
    pub exact_only: bool,
    /// The embedding model (a model or route name of this gateway) for the semantic cache;
    /// unset means exact matches only.
    pub embedding_model: Option<String>,
    /// Cosine similarity at or above which an earlier prompt's answer is reused.
    pub threshold: f64,
    /// Bound on the prompts kept in the in-process semantic index.
    pub max_entries: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            max_bytes: 256 * 1024 * 1024,
            ttl: Duration::from_secs(3600),
            exact_only: false,
            embedding_model: None,
            threshold: 0.95,
            max_entries: 10_000,
        }
    }
}

/// Cache settings a route (`[[routes]] cache = { … }`), a tenant (`tenants.settings.cache`) or
/// a key (`virtual_keys.metadata.cache`) may set; unset fields inherit.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_only: Option<bool>,
}

impl CacheOverrides {
    /// `self`, with `over`'s fields taking precedence where set.
    pub fn then(&self, over: &CacheOverrides) -> CacheOverrides {
        CacheOverrides {
            enabled: over.enabled.or(self.enabled),
            ttl: over.ttl.or(self.ttl),
            threshold: over.threshold.or(self.threshold),
            exact_only: over.exact_only.or(self.exact_only),
        }
    }
}
