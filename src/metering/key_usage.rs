//! When each virtual key was last used. The data path only notes the time in memory (a map of
//! key → latest millis, no await); a background task writes what changed in one transaction
//! every [`FLUSH_EVERY`], one `UPDATE` per key touched, never moving a stored time backwards.

use foldhash::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::domain::time::EpochMillis;
use crate::storage::{Db, StorageError, keys};

/// How often noted uses are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// Key id → (its tenant id, latest use).
type Pending = HashMap<String, (String, EpochMillis)>;

/// The in-memory record of key uses not yet written.
#[derive(Clone, Default)]
pub struct KeyUsage {
    pending: Arc<Mutex<Pending>>,
}

impl KeyUsage {
    /// Notes that `key` of `tenant` was used at `at` (cheap; never touches the database).
    pub fn note(&self, tenant: &str, key: &str, at: EpochMillis) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match pending.get_mut(key) {
            Some((_, t)) => *t = (*t).max(at),
            None => {
                pending.insert(key.to_owned(), (tenant.to_owned(), at));
            }
        }
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Writes every noted use; on failure they are kept for the next flush.
    pub async fn flush(&self, db: &Db) -> Result<usize, StorageError> {
        let batch = self.take();
        if batch.is_empty() {
            return Ok(0);
        }
        match write(db, &batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                for (key, (tenant, at)) in batch {
                    self.note(&tenant, &key, at);
                }
                Err(e)
            }
        }
    }

    /// Flushes every [`FLUSH_EVERY`] until aborted.
    pub fn spawn(&self, db: Db) -> tokio::task::JoinHandle<()> {
        let usage = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = usage.flush(&db).await {
                    tracing::warn!(error = %e, "writing key last-use times failed; retrying");
                }
            }
        })
    }
}

async fn write(db: &Db, batch: &Pending) -> Result<(), StorageError> {
    let mut tx = db.begin().await?;
    for (key, (tenant, at)) in batch {
        keys::touch_last_used(&mut tx, tenant, key, *at).await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_use_per_key() {
        let usage = KeyUsage::default();
        usage.note("t1", "k1", 10);
        usage.note("t1", "k1", 5);
        usage.note("t1", "k2", 7);
        let taken = usage.take();
        assert_eq!(taken.get("k1"), Some(&("t1".to_owned(), 10)));
        assert_eq!(taken.get("k2"), Some(&("t1".to_owned(), 7)));
        assert!(usage.take().is_empty());
    }
}
