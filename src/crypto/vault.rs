//! The vault: seals and opens stored secrets under their owner's data key, creating the data
//! key (wrapped by the master key) on an owner's first secret and keeping unwrapped data keys
//! in memory. Secrets sealed directly under the master key by versions before envelope
//! encryption still open; `switchyard master-key rotate` moves them under data keys.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::{CryptoError, DataKey, MasterKey, Plaintext, Sealed};
use crate::domain::time::now_millis;
use crate::storage::scope::{self, Scope};
use crate::storage::{Db, StorageError, data_keys};

/// The owner name of the platform's data key, for secrets that belong to no tenant.
pub const PLATFORM_OWNER: &str = "platform";

/// Whose data key seals a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner<'a> {
    /// A tenant's secret (provider credentials, alert signing secrets).
    Tenant(&'a str),
    /// A secret of no tenant (users' TOTP secrets: a user may belong to several tenants).
    Platform,
}

impl<'a> Owner<'a> {
    /// The owner as stored in `tenant_data_keys.tenant_id`.
    pub fn as_str(&self) -> &'a str {
        match self {
            Owner::Tenant(id) => id,
            Owner::Platform => PLATFORM_OWNER,
        }
    }
}

/// Why sealing or opening a secret failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The master key and the data keys it has unwrapped. Cheap to clone (the cache is shared);
/// `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct Vault {
    master: MasterKey,
    keys: Arc<RwLock<HashMap<String, Arc<DataKey>>>>,
    legacy_reported: Arc<AtomicBool>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault([REDACTED])")
    }
}

impl Vault {
    /// A vault over `master` with an empty cache.
    pub fn new(master: MasterKey) -> Self {
        Self {
            master,
            keys: Arc::default(),
            legacy_reported: Arc::default(),
        }
    }

    /// The vault of `settings` (`master_key`, `master_key_previous`); `None` without a key.
    pub fn from_settings(settings: &crate::config::Settings) -> Result<Option<Self>, CryptoError> {
        Ok(MasterKey::from_settings(settings)?.map(Self::new))
    }

    /// The master key (the key-encryption key).
    pub fn master_key(&self) -> &MasterKey {
        &self.master
    }

    /// Seals `plaintext` under the owner's data key (created on first use), bound to `context`.
    pub async fn seal(
        &self,
        db: &Db,
        owner: Owner<'_>,
        plaintext: &[u8],
        context: &str,
    ) -> Result<Sealed, VaultError> {
        Ok(self.data_key(db, owner).await?.seal(plaintext, context)?)
    }

    /// Opens a secret of `owner` bound to `context`: under the owner's data key, or — sealed
    /// before envelope encryption — directly under the master key.
    pub async fn open(
        &self,
        db: &Db,
        owner: Owner<'_>,
        sealed: &Sealed,
        context: &str,
    ) -> Result<Plaintext, VaultError> {
        if let Some(key) = self.existing_data_key(db, owner).await?
            && let Ok(plain) = key.open(sealed, context)
        {
            return Ok(plain);
        }
        let plain = self.master.open(sealed, context)?;
        if !self.legacy_reported.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "some secrets are still sealed directly under the master key (stored before \
                 envelope encryption); `switchyard master-key rotate` moves them under data keys"
            );
        }
        Ok(plain)
    }

    fn cached(&self, owner: &str) -> Option<Arc<DataKey>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(owner)
            .cloned()
    }

    fn remember(&self, owner: &str, key: DataKey) -> Arc<DataKey> {
        let key = Arc::new(key);
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(owner.to_owned(), key.clone());
        key
    }

    /// The owner's data key if it has one (unwrapped from the store on first use).
    async fn existing_data_key(
        &self,
        db: &Db,
        owner: Owner<'_>,
    ) -> Result<Option<Arc<DataKey>>, VaultError> {
        let name = owner.as_str();
        if let Some(key) = self.cached(name) {
            return Ok(Some(key));
        }
        let Some(row) = as_owner(owner, data_keys::find(db, name)).await? else {
            return Ok(None);
        };
        let key = DataKey::unwrap(&self.master, name, &row.wrapped())?;
        Ok(Some(self.remember(name, key)))
    }

    /// The owner's data key, created and stored (wrapped) when it has none yet. Concurrent
    /// creators (threads or replicas) agree on the first one stored.
    async fn data_key(&self, db: &Db, owner: Owner<'_>) -> Result<Arc<DataKey>, VaultError> {
        if let Some(key) = self.existing_data_key(db, owner).await? {
            return Ok(key);
        }
        let name = owner.as_str();
        let key = DataKey::generate();
        let wrapped = key.wrap(&self.master, name)?;
        let stored = data_keys::insert(db, name, &wrapped, self.master.id(), now_millis());
        if as_owner(owner, stored).await? {
            return Ok(self.remember(name, key));
        }
        self.existing_data_key(db, owner)
            .await?
            .ok_or_else(|| StorageError::Corrupt(format!("the data key of {name} vanished")).into())
    }
}

/// Runs a data-key statement: the platform's key as the platform, whichever tenant the
/// request acts for (Postgres row-level security); a tenant's key in the request's own scope.
async fn as_owner<F: std::future::Future>(owner: Owner<'_>, statement: F) -> F::Output {
    match owner {
        Owner::Platform => scope::within(Scope::System, statement).await,
        Owner::Tenant(_) => statement.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vault_prints_no_key() {
        let vault = Vault::new(MasterKey::parse(&"42".repeat(32)).unwrap());
        vault.remember("ten_a", DataKey::generate());
        let printed = format!("{vault:?} {:?}", vault.cached("ten_a"));
        assert_eq!(printed, "Vault([REDACTED]) Some(DataKey([REDACTED]))");
        assert_eq!(Owner::Platform.as_str(), PLATFORM_OWNER);
        assert_eq!(Owner::Tenant("ten_a").as_str(), "ten_a");
    }
}
