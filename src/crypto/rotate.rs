//! Master-key rotation: every stored secret (provider credentials, alert signing secrets,
//! TOTP secrets) is opened with the keys in force and re-sealed under the new key, with the
//! same binding (tenant and row, or user), in one transaction. A secret that no key opens
//! aborts the whole rotation, so none is ever lost; a secret already under the new key is
//! re-sealed too (a re-run is harmless).

use super::{CryptoError, MasterKey};
use crate::storage::sealed::{self, SealedKind, SealedRow};
use crate::storage::{Db, StorageError};

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

/// What a rotation re-sealed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RotationReport {
    pub provider_credentials: usize,
    pub alert_secrets: usize,
    pub totp_secrets: usize,
    /// Of those, how many were already sealed under the new key.
    pub already_under_new_key: usize,
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

fn describe(row: &SealedRow) -> String {
    match row.kind {
        SealedKind::ProviderCredential => {
            format!("provider credential {} of tenant {}", row.id, row.tenant_id)
        }
        SealedKind::AlertSecret => format!("alert secret {} of tenant {}", row.id, row.tenant_id),
        SealedKind::TotpSecret => format!("TOTP secret of user {}", row.id),
    }
}

/// Re-seals every stored secret under `new`, opening each with `new` or `old` (the keyring
/// in force: `master_key` and `master_key_previous`), in one transaction.
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
    for row in sealed::all(&mut tx).await? {
        let context = context_of(&row);
        let plaintext = match new.open(&row.sealed, &context) {
            Ok(p) => {
                report.already_under_new_key += 1;
                p
            }
            Err(_) => old
                .and_then(|k| k.open(&row.sealed, &context).ok())
                .ok_or_else(|| RotateError::Undecryptable {
                    what: describe(&row),
                })?,
        };
        let resealed = new.seal(&plaintext, &context)?;
        sealed::replace(&mut tx, &row, &resealed).await?;
        match row.kind {
            SealedKind::ProviderCredential => report.provider_credentials += 1,
            SealedKind::AlertSecret => report.alert_secrets += 1,
            SealedKind::TotpSecret => report.totp_secrets += 1,
        }
    }
    tx.commit().await?;
    Ok(report)
}
