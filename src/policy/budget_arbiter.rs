//! Who decides whether a budget can take a request's maximum cost.
//!
//! - **Database** (Postgres, or SQLite shared with other processes or with Redis configured):
//!   one transaction of conditional updates on `spend_counters` (see [`spend::reserve`]); correct
//!   across any number of replicas.
//! - **Local** (SQLite served by this one process, which holds an exclusive lock on a file beside
//!   the database, and no Redis): the counters live in memory, seeded from `spend_counters` at
//!   start; reserving is a check-and-add under one mutex, so the request path never waits on the
//!   database. Settled spend is summed per counter and written to `spend_counters` in one
//!   transaction every [`FLUSH_EVERY`] (that write fires the budget alerts), so the database stays
//!   the record and the next start resumes from it. The lock makes a second process on the same file use the database arbiter instead — and
//!   since the first one does not, a second `serve` on the same SQLite file is refused.

use foldhash::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::time::now_millis;
use crate::storage::spend::{self, Charge, CounterRow};
use crate::storage::{Db, StorageError};

/// Budget counters are identified by tenant, scope, period and the period's start.
type CounterKey = (String, String, String, String, i64);

fn key_of(c: &Charge) -> CounterKey {
    (
        c.tenant_id.clone(),
        c.scope_type.clone(),
        c.scope_id.clone(),
        c.period.clone(),
        c.period_start,
    )
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counter {
    spent: i64,
    reserved: i64,
}

/// In-memory counters of a database only this process serves.
#[derive(Debug)]
pub struct LocalLedger {
    counters: Mutex<HashMap<CounterKey, Counter>>,
    /// Spend settled but not yet written to the database, per counter.
    unwritten: Mutex<HashMap<CounterKey, (Charge, i64)>>,
    /// Held for the life of the process: the lock that makes this process the only arbiter.
    _lock: Option<File>,
}

impl LocalLedger {
    fn new(rows: Vec<CounterRow>, lock: Option<File>) -> Self {
        let counters = rows
            .into_iter()
            .map(|r| {
                (
                    (
                        r.tenant_id,
                        r.scope_type,
                        r.scope_id,
                        r.period,
                        r.period_start,
                    ),
                    Counter {
                        spent: r.spent_nusd,
                        reserved: 0,
                    },
                )
            })
            .collect();
        Self {
            counters: Mutex::new(counters),
            unwritten: Mutex::default(),
            _lock: lock,
        }
    }

    /// Reserves `amount` on every charge, all or none; `Err(i)`: charge `i` cannot take it.
    pub fn reserve(&self, charges: &[Charge], amount: i64) -> Result<(), usize> {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        for (i, c) in charges.iter().enumerate() {
            let counter = counters.get(&key_of(c)).copied().unwrap_or_default();
            if counter
                .spent
                .saturating_add(counter.reserved)
                .saturating_add(amount)
                > c.limit_nusd
            {
                return Err(i);
            }
        }
        for c in charges {
            counters.entry(key_of(c)).or_default().reserved += amount;
        }
        Ok(())
    }

    /// Releases `reserved` and records `actual` on every charge (to be written by [`Self::take_unwritten`]).
    pub fn settle(&self, charges: &[Charge], reserved: i64, actual: i64) {
        {
            let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
            for c in charges {
                let counter = counters.entry(key_of(c)).or_default();
                counter.reserved = (counter.reserved - reserved).max(0);
                counter.spent = counter.spent.saturating_add(actual);
            }
        }
        self.add_unwritten(charges.iter().map(|c| (c.clone(), actual)));
    }

    fn add_unwritten(&self, deltas: impl Iterator<Item = (Charge, i64)>) {
        let mut unwritten = self
            .unwritten
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (c, delta) in deltas {
            let entry = unwritten.entry(key_of(&c)).or_insert((c, 0));
            entry.1 = entry.1.saturating_add(delta);
        }
    }

    /// The spend settled since the last call, per counter.
    pub fn take_unwritten(&self) -> Vec<(Charge, i64)> {
        std::mem::take(
            &mut *self
                .unwritten
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
        .into_values()
        .collect()
    }

    /// (spent, reserved) of one budget period as this process sees it.
    pub fn totals(&self, charge: &Charge) -> (i64, i64) {
        let counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let c = counters.get(&key_of(charge)).copied().unwrap_or_default();
        (c.spent, c.reserved)
    }
}

/// The budget arbiter of this process.
#[derive(Clone, Debug)]
pub enum BudgetArbiter {
    /// Transactions on `spend_counters` (shared by every replica).
    Database(Db),
    /// In-memory counters; spend is written to the database in the background.
    Local { ledger: Arc<LocalLedger>, db: Db },
}

/// Why the arbiter could not start.
#[derive(Debug, thiserror::Error)]
pub enum ArbiterError {
    #[error(
        "the SQLite database {0} is already served by another Switchyard process; \
         run replicas on Postgres (with Redis), or give each process its own database"
    )]
    SqliteInUse(String),
    #[error("cannot open the lock file {path}: {source}")]
    LockFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// How often the local arbiter writes settled spend (spend shows in the API within 2 s).
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Counters older than this many days are not loaded (no period lasts longer, except `total`,
/// whose start is 0 and which is always loaded).
const LOAD_DAYS: i64 = 40;

impl BudgetArbiter {
    /// The arbiter for `db`: local when it is a SQLite database this process can lock and no
    /// Redis (hence no replica) is configured, the database otherwise.
    pub async fn start(db: &Db, redis_configured: bool) -> Result<Self, ArbiterError> {
        let Some(path) = db.sqlite_file() else {
            return Ok(Self::Database(db.clone()));
        };
        let lock = match path {
            Some(path) => match lock_beside(path, !redis_configured)? {
                Lock::Exclusive(file) => Some(file),
                // Another process shares the file: every one of them uses the database.
                Lock::Shared(file) => {
                    return Ok(Self::Database(db.clone()).holding(file));
                }
            },
            None => None, // In memory: no other process can open it.
        };
        // Reservations left by a process that stopped mid-request are void now.
        spend::clear_reservations(db).await?;
        let since = now_millis() - LOAD_DAYS * 86_400_000;
        let rows = spend::recent_counters(db, since).await?;
        Ok(Self::Local {
            ledger: Arc::new(LocalLedger::new(rows, lock)),
            db: db.clone(),
        })
    }

    /// Keeps a shared lock for the life of the process (leaked on purpose: it is released
    /// when the process exits).
    fn holding(self, file: File) -> Self {
        std::mem::forget(file);
        self
    }

    /// Reserves `amount` on every charge, all or none. `Ok(Err(i))`: charge `i` cannot take it.
    pub async fn reserve(
        &self,
        charges: &[Charge],
        amount: i64,
    ) -> Result<Result<(), usize>, StorageError> {
        match self {
            // Boxed: the database call's state is large; the local arbiter's callers should not
            // carry it.
            Self::Database(db) => Box::pin(spend::reserve(db, charges, amount)).await,
            Self::Local { ledger, .. } => Ok(ledger.reserve(charges, amount)),
        }
    }

    /// Releases a reservation and records the actual cost. With the database arbiter, returns
    /// each charge's spend after it (for the alerts); the local arbiter writes (and alerts) in
    /// its next [`Self::flush`] and returns `None`.
    pub async fn settle(
        &self,
        charges: &[Charge],
        reserved: i64,
        actual: i64,
    ) -> Result<Option<Vec<i64>>, StorageError> {
        match self {
            Self::Database(db) => spend::settle(db, charges, reserved, actual).await.map(Some),
            Self::Local { ledger, .. } => {
                ledger.settle(charges, reserved, actual);
                Ok(None)
            }
        }
    }

    /// Writes the local arbiter's settled spend to the database in one transaction and fires
    /// the budget alerts it crosses; on failure the spend is kept for the next flush.
    pub async fn flush(&self, alerts: &crate::alerts::Alerts) {
        let Self::Local { ledger, db } = self else {
            return;
        };
        let deltas = ledger.take_unwritten();
        if deltas.is_empty() {
            return;
        }
        match spend::add_spent(db, &deltas).await {
            Ok(spent) => {
                let charges: Vec<Charge> = deltas.into_iter().map(|(c, _)| c).collect();
                alerts.check_budgets(&charges, &spent).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "writing budget spend failed; retrying on the next flush");
                ledger.add_unwritten(deltas.into_iter());
            }
        }
    }

    /// With the local arbiter, the task writing settled spend every [`FLUSH_EVERY`].
    pub fn spawn_flusher(
        &self,
        alerts: crate::alerts::Alerts,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !self.is_local() {
            return None;
        }
        let arbiter = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                arbiter.flush(&alerts).await;
            }
        }))
    }

    /// Whether reservations are decided in memory.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local { .. })
    }
}

/// The lock this process holds on a SQLite database.
#[derive(Debug)]
enum Lock {
    /// Only this process serves the database.
    Exclusive(File),
    /// Other processes may serve it too (all with the database arbiter).
    Shared(File),
}

/// Locks `<database>.lock`: exclusively when `exclusive` is wanted and nobody else holds it,
/// shared otherwise. A process that holds it exclusively keeps every other one out.
fn lock_beside(path: PathBuf, exclusive: bool) -> Result<Lock, ArbiterError> {
    let mut lock_path = path.into_os_string();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let shown = lock_path.display().to_string();
    let failed = |source| ArbiterError::LockFile {
        path: shown.clone(),
        source,
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(failed)?;
    if exclusive {
        match file.try_lock() {
            Ok(()) => return Ok(Lock::Exclusive(file)),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(source)) => return Err(failed(source)),
        }
    }
    match file.try_lock_shared() {
        Ok(()) => Ok(Lock::Shared(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(ArbiterError::SqliteInUse(
            shown.trim_end_matches(".lock").to_owned(),
        )),
        Err(std::fs::TryLockError::Error(source)) => Err(failed(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(scope: &str, limit: i64) -> Charge {
        Charge {
            budget_id: scope.into(),
            thresholds: Vec::new(),
            tenant_id: "t".into(),
            scope_type: "key".into(),
            scope_id: scope.into(),
            period: "monthly".into(),
            period_start: 1,
            limit_nusd: limit,
        }
    }

    #[test]
    fn reservations_are_all_or_nothing_and_never_pass_a_limit() {
        let ledger = LocalLedger::new(Vec::new(), None);
        let a = charge("a", 100);
        let b = charge("b", 50);
        let both = [a.clone(), b.clone()];
        assert_eq!(ledger.reserve(&both, 30), Ok(()));
        assert_eq!(ledger.reserve(&both, 30), Err(1), "b would pass 50");
        assert_eq!(ledger.totals(&a), (0, 30), "a was left untouched");
        ledger.settle(&both, 30, 10);
        assert_eq!(ledger.totals(&b), (10, 0));
        assert_eq!(ledger.reserve(&both, 40), Ok(()));
        assert_eq!(ledger.reserve(std::slice::from_ref(&a), 51), Err(0));
        assert_eq!(ledger.reserve(std::slice::from_ref(&a), 50), Ok(()));
    }

    #[test]
    fn concurrent_reservations_never_overspend() {
        let ledger = Arc::new(LocalLedger::new(Vec::new(), None));
        let c = charge("k", 1_000);
        let admitted: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let ledger = ledger.clone();
                    let c = c.clone();
                    s.spawn(move || {
                        (0..100)
                            .filter(|_| ledger.reserve(std::slice::from_ref(&c), 7).is_ok())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 1_000 / 7);
        assert_eq!(ledger.totals(&c), (0, 7 * (1_000 / 7) as i64));
    }

    #[test]
    fn one_exclusive_holder_keeps_every_other_process_out() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let first = lock_beside(db.clone(), true).expect("first");
        assert!(matches!(first, Lock::Exclusive(_)));
        for exclusive in [true, false] {
            let other = lock_beside(db.clone(), exclusive);
            assert!(matches!(other, Err(ArbiterError::SqliteInUse(_))));
        }
        drop(first);
        let shared = lock_beside(db.clone(), false).expect("shared");
        assert!(matches!(shared, Lock::Shared(_)));
        let wants_exclusive = lock_beside(db.clone(), true).expect("falls back to shared");
        assert!(
            matches!(wants_exclusive, Lock::Shared(_)),
            "a process sharing the file forces the database arbiter on the next one"
        );
    }
}
