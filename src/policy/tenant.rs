//! A tenant's data-path policy as the snapshot keeps it: parsed once per reload from the
//! tenant's settings, never per request.

use std::collections::BTreeMap;

use crate::domain::tenant_settings::{self, Limits, TenantSettings};

/// What the data path needs to know about a tenant.
#[derive(Clone, Debug)]
pub struct TenantPolicy {
    /// Limits on the whole tenant.
    pub limits: Limits,
    /// Limits per requested model or route, over the whole tenant.
    pub model_limits: BTreeMap<String, Limits>,
    /// Networks every key of the tenant may be used from (empty: any).
    pub ip_allowlist: Vec<ipnet::IpNet>,
    /// Whether request and response bodies go to the request log.
    pub log_bodies: bool,
    /// Whether spend is tracked (unpriced models are then refused unless allowed).
    pub cost_tracking: bool,
    /// Days request-log rows are kept.
    pub retention_days: Option<u32>,
    /// The time zone budget periods start in.
    pub timezone: chrono_tz::Tz,
}

impl Default for TenantPolicy {
    fn default() -> Self {
        Self::from_settings(TenantSettings::default(), chrono_tz::UTC)
    }
}

impl TenantPolicy {
    /// Builds the policy from stored settings; unreadable parts fall back to defaults with a
    /// warning rather than failing the reload.
    pub fn from_row(tenant: &str, timezone: &str, settings: &str) -> Self {
        let parsed = tenant_settings::parse::<TenantSettings>(settings).unwrap_or_else(|e| {
            tracing::warn!(tenant_id = tenant, error = %e, "unreadable tenant settings; using defaults");
            TenantSettings::default()
        });
        let tz = timezone.parse().unwrap_or_else(|_| {
            tracing::warn!(tenant_id = tenant, timezone, "unknown time zone; using UTC");
            chrono_tz::UTC
        });
        Self::from_settings(parsed, tz)
    }

    fn from_settings(s: TenantSettings, timezone: chrono_tz::Tz) -> Self {
        Self {
            ip_allowlist: s
                .ip_allowlist
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
            limits: s.limits,
            model_limits: s.model_limits,
            log_bodies: s.log_bodies,
            cost_tracking: s.cost_tracking,
            retention_days: s.retention_days,
            timezone,
        }
    }
}
