//! `switchyard master-key …`: rotate the master key, which wraps the data keys that seal
//! stored secrets.

use std::collections::BTreeMap;

use clap::Subcommand;

use super::{open, print_json};
use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::crypto::rotate;

/// `switchyard master-key …`
#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Re-wrap every data key under a new master key, in one transaction; the secrets the
    /// data keys seal (provider credentials, alert signing secrets, TOTP secrets) are checked,
    /// not rewritten, except those still sealed directly under the master key, which move
    /// under their owner's data key. Keys are unwrapped with the new key, `master_key` or
    /// `master_key_previous`; nothing changes if any data key or secret opens with none.
    Rotate {
        /// The environment variable holding the new key (64 hex digits or base64 of 32
        /// bytes); the key itself is never taken on the command line.
        #[arg(long, value_name = "VAR")]
        new_key_env: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a master-key command.
pub async fn run(
    settings: &Settings,
    env: &BTreeMap<String, String>,
    cmd: MasterKeyCommand,
) -> anyhow::Result<()> {
    match cmd {
        MasterKeyCommand::Rotate { new_key_env, json } => {
            let text = env
                .get(&new_key_env)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| anyhow::anyhow!("{new_key_env} is not set"))?;
            let new = MasterKey::parse(text).map_err(|e| anyhow::anyhow!("{new_key_env}: {e}"))?;
            let old = MasterKey::from_settings(settings)?;
            let db = open(settings).await?;
            let result = rotate::rotate(&db, old.as_ref(), &new).await;
            db.close().await;
            let report = result?;
            if json {
                return print_json(&report);
            }
            println!(
                "re-wrapped {} data keys under key {} ({} were already under it); {} provider \
                 credentials, {} alert secrets and {} TOTP secrets open under their data keys",
                report.data_keys,
                report.new_key_id,
                report.already_under_new_key,
                report.provider_credentials,
                report.alert_secrets,
                report.totp_secrets,
            );
            if report.moved_under_data_keys > 0 {
                println!(
                    "moved {} secrets sealed directly under the master key under their data \
                     keys ({} data keys created)",
                    report.moved_under_data_keys, report.data_keys_created
                );
            }
            println!(
                "now set master_key to the new key everywhere; keep the old one as \
                 master_key_previous until every replica runs with the new key, run this \
                 command once more (data keys created meanwhile get re-wrapped), then remove it"
            );
            Ok(())
        }
    }
}
