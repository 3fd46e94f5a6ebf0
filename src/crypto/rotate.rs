//! Master-key rotation, in one transaction: every data key is unwrapped with the keys in force
//! and re-wrapped under the new master key; the secrets sealed under data keys are not
//! rewritten, only checked to open. Secrets still sealed directly under the master key (stored
//! before envelope encryption) are moved under their owner's data key, created if needed.
//! A data key or secret that no key opens aborts the whole rotation, so none is ever lost; a
//! re-run is harmless (data keys already under the new key are re-wrapped again).

use std::collections::HashMap;

use super::{CryptoError, DataKey, MasterKey, Owner};
use crate::domain::time::now_millis;
use crate::storage::sealed::{self, SealedKind, SealedRow};
use crate::storage::{Db, StorageError, Tx, data_keys};

/// Why a rotation did not happen (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(
        "{what} does not open with the current, previous or new key: rotation aborted, \
         nothing was changed"
    )]
    Undecryptable { what: String },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What a rotation did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RotationReport {
    /// Data keys re-wrapped under the new key.
    pub data_keys: usize,
    /// Of those, how many were already wrapped under the new key.
    pub already_under_new_key: usize,
    /// Data keys created (under the new key) for owners whose secrets were moved.
    pub data_keys_created: usize,
    /// Provider credentials that open under their data key afterwards (all of them).
    pub provider_credentials: usize,
    /// Alert signing secrets that open under their data key afterwards (all of them).
    pub alert_secrets: usize,
    /// TOTP secrets that open under the platform data key afterwards (all of them).
    pub totp_secrets: usize,
    /// Secrets moved from the master key itself to their owner's data key.
    pub moved_under_data_keys: usize,
    /// The new key's fingerprint.
    pub new_key_id: String,
}

/// The associated data a stored secret is bound to.
pub fn context_of(row: &SealedRow) -> String {
    match row.kind {
        SealedKind::ProviderCredential => {
            crate::control_plane::providers::context(&row.tenant_id, &row.id)
        }
        SealedKind::AlertSecret => {
            crate::alerts::sender::destination_context(&row.tenant_id, &row.id)
        }
        SealedKind::TotpSecret => crate::control_plane::auth::two_factor::context(&row.id),
    }
}

/// Whose data key seals a stored secret.
pub fn owner_of(row: &SealedRow) -> Owner<'_> {
    match row.kind {
        SealedKind::ProviderCredential | SealedKind::AlertSecret => Owner::Tenant(&row.tenant_id),
        SealedKind::TotpSecret => Owner::Platform,
    }
}

fn describe(row: &SealedRow) -> String {
    match row.kind {
        SealedKind::ProviderCredential => {
            format!("provider credential {} of tenant {}", row.id, row.tenant_id)
        }
        SealedKind::AlertSecret => format!("alert secret {} of tenant {}", row.id, row.tenant_id),
        SealedKind::TotpSecret => format!("TOTP secret of user {}", row.id),
    }
}

/// Unwraps with `new` first, then with `old` (the keyring in force).
fn unwrap_with(
    new: &MasterKey,
    old: Option<&MasterKey>,
    owner: &str,
    wrapped: &super::Sealed,
) -> Option<(DataKey, bool)> {
    DataKey::unwrap(new, owner, wrapped)
        .map(|k| (k, true))
        .ok()
        .or_else(|| {
            old.and_then(|k| DataKey::unwrap(k, owner, wrapped).ok())
                .map(|k| (k, false))
        })
}

/// Re-wraps every data key under `new`, unwrapping each with `new` or `old` (the keyring in
/// force: `master_key` and `master_key_previous`), and moves secrets sealed directly under the
/// master key to data keys, in one transaction.
pub async fn rotate(
    db: &Db,
    old: Option<&MasterKey>,
    new: &MasterKey,
) -> Result<RotationReport, RotateError> {
    let mut report = RotationReport {
        new_key_id: new.id().to_owned(),
        ..RotationReport::default()
    };
    let mut tx = db.begin().await?;
    let mut keys: HashMap<String, DataKey> = HashMap::new();
    for row in data_keys::all(&mut tx).await? {
        let (key, under_new) =
            unwrap_with(new, old, &row.tenant_id, &row.wrapped()).ok_or_else(|| {
                RotateError::Undecryptable {
                    what: format!("the data key of {}", row.tenant_id),
                }
            })?;
        data_keys::rewrap(
            &mut tx,
            &row.tenant_id,
            &key.wrap(new, &row.tenant_id)?,
            new.id(),
        )
        .await?;
        report.data_keys += 1;
        report.already_under_new_key += usize::from(under_new);
        keys.insert(row.tenant_id, key);
    }
    for row in sealed::all(&mut tx).await? {
        move_if_under_master_key(&mut tx, &mut keys, old, new, &row, &mut report).await?;
        match row.kind {
            SealedKind::ProviderCredential => report.provider_credentials += 1,
            SealedKind::AlertSecret => report.alert_secrets += 1,
            SealedKind::TotpSecret => report.totp_secrets += 1,
        }
    }
    tx.commit().await?;
    Ok(report)
}

/// Checks that a secret opens under its owner's data key; one sealed directly under the master
/// key is re-sealed under the data key (created, wrapped under `new`, when the owner has none).
async fn move_if_under_master_key(
    tx: &mut Tx,
    keys: &mut HashMap<String, DataKey>,
    old: Option<&MasterKey>,
    new: &MasterKey,
    row: &SealedRow,
    report: &mut RotationReport,
) -> Result<(), RotateError> {
    let context = context_of(row);
    let owner = owner_of(row).as_str();
    if keys
        .get(owner)
        .is_some_and(|k| k.open(&row.sealed, &context).is_ok())
    {
        return Ok(());
    }
    let plaintext = new
        .open(&row.sealed, &context)
        .ok()
        .or_else(|| old.and_then(|k| k.open(&row.sealed, &context).ok()))
        .ok_or_else(|| RotateError::Undecryptable {
            what: describe(row),
        })?;
    if !keys.contains_key(owner) {
        let key = DataKey::generate();
        if !data_keys::insert_in(tx, owner, &key.wrap(new, owner)?, new.id(), now_millis()).await? {
            return Err(StorageError::Corrupt(format!(
                "a data key of {owner} appeared during the rotation; run it again"
            ))
            .into());
        }
        report.data_keys_created += 1;
        keys.insert(owner.to_owned(), key);
    }
    if let Some(key) = keys.get(owner) {
        sealed::replace(tx, row, &key.seal(plaintext.expose(), &context)?).await?;
        report.moved_under_data_keys += 1;
    }
    Ok(())
}
