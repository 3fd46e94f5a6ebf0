//! The stored policies of every tenant, team and key, merged and compiled per key when the
//! snapshot loads (keys with the same effective policy share one compiled form).

use std::collections::HashMap;
use std::sync::Arc;

use super::{Detectors, PiiPolicy};
use crate::storage::pii_settings::{self, SettingsRow};
use crate::storage::{Db, StorageError};

/// The policies of one snapshot, by level.
#[derive(Default)]
pub struct Levels {
    tenants: HashMap<String, PiiPolicy>,
    teams: HashMap<String, PiiPolicy>,
    keys: HashMap<String, PiiPolicy>,
    compiled: HashMap<String, Option<Arc<Detectors>>>,
}

fn parse(rows: Vec<SettingsRow>, level: &str) -> HashMap<String, PiiPolicy> {
    rows.into_iter()
        .filter_map(
            |row| match PiiPolicy::from_settings(&row.settings).and_then(|p| p.validate().map(|()| p)) {
                Ok(p) if p.is_empty() => None,
                Ok(p) => Some((row.id, p)),
                Err(e) => {
                    tracing::warn!(tenant_id = %row.tenant_id, level, id = %row.id, error = %e, "ignoring an unusable PII policy");
                    None
                }
            },
        )
        .collect()
}

impl Levels {
    /// Reads every stored policy.
    pub async fn load(db: &Db) -> Result<Levels, StorageError> {
        let (tenants, teams, keys) = pii_settings::all(db).await?;
        Ok(Levels {
            tenants: parse(tenants, "tenant"),
            teams: parse(teams, "team"),
            keys: parse(keys, "key"),
            compiled: HashMap::new(),
        })
    }

    /// The compiled effective policy of a key (`None`: nothing to do, the zero-cost path).
    pub fn for_key(
        &mut self,
        tenant: &str,
        team: Option<&str>,
        key: &str,
    ) -> Option<Arc<Detectors>> {
        let levels = [
            self.tenants.get(tenant),
            team.and_then(|t| self.teams.get(t)),
            self.keys.get(key),
        ];
        if levels.iter().all(Option::is_none) {
            return None;
        }
        let merged = PiiPolicy::merge(levels.into_iter().flatten());
        if !merged.is_active() {
            return None;
        }
        let id = serde_json::to_string(&merged).unwrap_or_default();
        self.compiled
            .entry(id)
            .or_insert_with(|| match Detectors::compile(&merged) {
                Ok(d) => d.map(Arc::new),
                Err(e) => {
                    tracing::warn!(tenant_id = %tenant, key_id = %key, error = %e, "ignoring an unusable PII policy");
                    None
                }
            })
            .clone()
    }
}
