//! `switchyard alert …`: where a tenant's alerts go, and the notifications they raised.

use clap::Subcommand;

use super::{open, print_json, tenant_id};
use crate::config::Settings;
use crate::control_plane::Actor;
use crate::control_plane::alerts::{self, NewDestination};
use crate::crypto::Vault;
use crate::storage;

/// `switchyard alert …`
#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Add a destination: a signed JSON webhook, a Slack incoming webhook or an email address.
    Add {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// A webhook URL (JSON bodies signed with HMAC-SHA256 in `x-switchyard-signature`).
        #[arg(long, group = "destination")]
        webhook: Option<String>,
        /// The webhook's signing secret (default: generated and printed once).
        #[arg(long, requires = "webhook")]
        secret: Option<String>,
        /// A Slack incoming-webhook URL.
        #[arg(long, group = "destination")]
        slack: Option<String>,
        /// An email address (needs `[smtp]`).
        #[arg(long, group = "destination")]
        email: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the tenant's destinations (secrets are never shown).
    List {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Remove a destination.
    Remove {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The destination's id (`ald_…`).
        #[arg(long)]
        id: String,
    },
    /// Show the tenant's most recent notifications.
    Notifications {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an alert command.
pub async fn run(settings: &Settings, cmd: AlertCommand) -> anyhow::Result<()> {
    let db = open(settings).await?;
    let result = command(settings, &db, cmd).await;
    db.close().await;
    result
}

async fn command(settings: &Settings, db: &storage::Db, cmd: AlertCommand) -> anyhow::Result<()> {
    match cmd {
        AlertCommand::Add {
            tenant,
            webhook,
            secret,
            slack,
            email,
            json,
        } => {
            let tenant = tenant_id(db, &tenant).await?;
            let new = match (webhook, slack, email) {
                (Some(url), None, None) => NewDestination::Webhook { url, secret },
                (None, Some(url), None) => NewDestination::Slack { url },
                (None, None, Some(address)) => NewDestination::Email { address },
                _ => anyhow::bail!("give one of --webhook, --slack or --email"),
            };
            let key = Vault::from_settings(settings)?;
            let added = alerts::add(
                db,
                key.as_ref(),
                settings.egress.allow_private_networks,
                &tenant,
                new,
                Actor::CLI,
            )
            .await?;
            if json {
                return print_json(&added);
            }
            println!("{}\t{}\t{}", added.id, added.kind, added.target);
            if let Some(secret) = &added.secret {
                println!("signing secret (shown once): {secret}");
            }
            Ok(())
        }
        AlertCommand::List { tenant, json } => {
            let tenant = tenant_id(db, &tenant).await?;
            let all = alerts::list(db, &tenant).await?;
            if json {
                return print_json(&all);
            }
            for d in all {
                println!("{}\t{}\t{}", d.id, d.kind, d.target);
            }
            Ok(())
        }
        AlertCommand::Remove { tenant, id } => {
            let tenant = tenant_id(db, &tenant).await?;
            alerts::remove(db, &tenant, &id, Actor::CLI).await?;
            println!("removed {id}");
            Ok(())
        }
        AlertCommand::Notifications {
            tenant,
            limit,
            json,
        } => {
            let tenant = tenant_id(db, &tenant).await?;
            let all = storage::notifications::list(db, &tenant, false, limit).await?;
            if json {
                return print_json(&all);
            }
            for n in all {
                println!("{}\t{}\t{}", n.created_at, n.severity, n.title);
            }
            Ok(())
        }
    }
}
