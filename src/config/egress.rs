//! `[egress]`: what tenant-supplied URLs (provider base URLs, alert webhooks) may reach.

use serde::Deserialize;

/// `[egress]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressSettings {
    /// Let tenant-supplied URLs reach loopback, private and link-local networks (on-prem
    /// deployments whose providers or webhook receivers are internal). Off by default.
    pub allow_private_networks: bool,
}
