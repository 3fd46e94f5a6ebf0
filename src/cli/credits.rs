//! `switchyard credits …`: a tenant's prepaid balance and ledger, manual grants, and Stripe
//! Checkout links.

use clap::Subcommand;

use super::{open, parse_usd, print_json, tenant_id};
use crate::billing;
use crate::config::Settings;
use crate::control_plane::Actor;
use crate::domain::money::NanoUsd;
use crate::domain::time::to_rfc3339;

/// `switchyard credits …`
#[derive(Debug, Subcommand)]
pub enum CreditsCommand {
    /// Show the balance and what requests in flight have reserved.
    Show {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the ledger, newest first.
    Ledger {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// How many transactions.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Grant credits by hand (an audited `adjustment`; a negative amount removes credits).
    Grant {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The amount in USD (e.g. 25 or -5).
        #[arg(long, allow_hyphen_values = true, value_parser = parse_signed_usd)]
        usd: i64,
        /// Why (recorded in the ledger and the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Create a Stripe Checkout Session buying credits and print its URL.
    Checkout {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The amount in USD.
        #[arg(long, value_parser = parse_usd)]
        usd: NanoUsd,
    },
    /// Charge the card saved at the next Checkout when the balance falls below `--below`, for
    /// `--amount`, at most once an hour; or `--off`.
    AutoRecharge(AutoRechargeArgs),
}

/// `switchyard credits auto-recharge …`
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("rule").required(true).args(["below", "off"])))]
pub struct AutoRechargeArgs {
    /// The tenant's name.
    #[arg(long)]
    tenant: String,
    /// Recharge when the balance falls below this many USD.
    #[arg(long, value_parser = parse_usd, requires = "amount")]
    below: Option<NanoUsd>,
    /// How many USD to charge each time.
    #[arg(long, value_parser = parse_usd, requires = "below")]
    amount: Option<NanoUsd>,
    /// Turn auto-recharge off.
    #[arg(long, conflicts_with_all = ["below", "amount"])]
    off: bool,
}

fn parse_signed_usd(text: &str) -> Result<i64, String> {
    match text.trim().strip_prefix('-') {
        Some(rest) => parse_usd(rest).map(|n| -n.0),
        None => parse_usd(text).map(|n| n.0),
    }
}

/// Runs a credits command.
pub async fn run(settings: &Settings, cmd: CreditsCommand) -> anyhow::Result<()> {
    let db = open(settings).await?;
    let result = command(settings, &db, cmd).await;
    db.close().await;
    result
}

async fn command(
    settings: &Settings,
    db: &crate::storage::Db,
    cmd: CreditsCommand,
) -> anyhow::Result<()> {
    match cmd {
        CreditsCommand::Show { tenant, json } => {
            let tenant = tenant_id(db, &tenant).await?;
            let balance = billing::balance(db, &tenant).await?;
            if json {
                return print_json(&balance);
            }
            println!(
                "balance {}\treserved {}\tavailable {}",
                NanoUsd(balance.balance_nusd),
                NanoUsd(balance.reserved_nusd),
                NanoUsd(balance.balance_nusd - balance.reserved_nusd)
            );
            Ok(())
        }
        CreditsCommand::Ledger {
            tenant,
            limit,
            json,
        } => {
            let tenant = tenant_id(db, &tenant).await?;
            let rows = billing::ledger(db, &tenant, limit).await?;
            if json {
                return print_json(&rows);
            }
            for t in rows {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    to_rfc3339(t.created_at),
                    t.kind,
                    NanoUsd(t.amount_nusd),
                    t.description,
                    t.receipt_url.unwrap_or_default()
                );
            }
            Ok(())
        }
        CreditsCommand::Grant {
            tenant,
            usd,
            reason,
        } => {
            let tenant = tenant_id(db, &tenant).await?;
            let granted = billing::grant(db, &tenant, usd, &reason, Actor::CLI).await?;
            let balance = billing::balance(db, &tenant).await?;
            println!(
                "granted {} ({}); balance {}",
                NanoUsd(granted.amount_nusd),
                granted.id,
                NanoUsd(balance.balance_nusd)
            );
            Ok(())
        }
        CreditsCommand::AutoRecharge(args) => {
            let tenant = tenant_id(db, &args.tenant).await?;
            let rule = match (args.off, args.below, args.amount) {
                (false, Some(below), Some(amount)) => Some((below.0, amount.0)),
                _ => None,
            };
            billing::recharge::configure(db, &tenant, rule, Actor::CLI).await?;
            match rule {
                Some((below, amount)) => println!(
                    "auto-recharge on: {} when below {}",
                    NanoUsd(amount),
                    NanoUsd(below)
                ),
                None => println!("auto-recharge off"),
            }
            Ok(())
        }
        CreditsCommand::Checkout { tenant, usd } => {
            let tenant = tenant_id(db, &tenant).await?;
            // Return paths are taken on the address the gateway listens on.
            let origin = format!("http://{}", settings.listen);
            let session = billing::checkout::checkout(settings, db, &tenant, usd, &origin).await?;
            println!("{}", session.url);
            Ok(())
        }
    }
}
