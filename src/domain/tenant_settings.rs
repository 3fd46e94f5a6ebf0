//! A tenant's and a team's settings, stored as JSON (`tenants.settings`, `teams.settings`):
//! rate limits, the tenant-wide IP allowlist, request-body logging, log retention and whether
//! the tenant's spend is tracked. Keys this module does not know (other features' sections) are
//! kept as they are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Per-minute and concurrency limits of one scope; `None` means no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Requests per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Tokens per minute (prompt estimate up front, reconciled with actual usage).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Requests in flight at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u64>,
}

impl Limits {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        self.rpm.is_none() && self.tpm.is_none() && self.max_concurrent.is_none()
    }
}

/// `tenants.settings`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantSettings {
    /// Limits on the whole tenant.
    #[serde(skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
    /// Limits per model (or route) name, counted over the whole tenant.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub model_limits: BTreeMap<String, Limits>,
    /// Client networks (CIDRs) every key of the tenant may be used from; empty: any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_allowlist: Vec<String>,
    /// Whether request and response bodies are stored in the request log.
    pub log_bodies: bool,
    /// Days request-log rows are kept (unset: `[logs] retention_days`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Whether spend is tracked: then unpriced models are refused unless `allow_unpriced`.
    pub cost_tracking: bool,
    /// Whether every member must log in with a second factor (TOTP); set by the owner.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_two_factor: bool,
    /// Other features' sections, preserved.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            model_limits: BTreeMap::new(),
            ip_allowlist: Vec::new(),
            log_bodies: false,
            retention_days: None,
            cost_tracking: true,
            require_two_factor: false,
            other: Map::new(),
        }
    }
}

/// `teams.settings`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamSettings {
    /// Limits on the whole team.
    #[serde(skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
    /// Other features' sections, preserved.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Parses stored settings; unreadable JSON counts as defaults (and is logged by the caller).
pub fn parse<T: for<'de> Deserialize<'de> + Default>(raw: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_sections_survive_a_round_trip() {
        let raw = r#"{"limits":{"rpm":10},"pii":{"email":"tokenize"},"log_bodies":true}"#;
        let parsed: TenantSettings = parse(raw).unwrap();
        assert_eq!(parsed.limits.rpm, Some(10));
        assert!(parsed.log_bodies && parsed.cost_tracking);
        let back: Value = serde_json::to_value(&parsed).unwrap();
        assert_eq!(back["pii"]["email"], "tokenize");
        assert_eq!(back["limits"], serde_json::json!({ "rpm": 10 }));
        let empty: TenantSettings = parse("{}").unwrap();
        assert_eq!(empty, TenantSettings::default());
    }
}
