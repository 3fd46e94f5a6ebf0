//! `switchyard pii set|show|clear`: PII policies on a tenant, a team or a key.

use clap::{Args, Subcommand};

use super::{open, print_json, tenant_id};
use crate::config::Settings;
use crate::control_plane::{Actor, pii};
use crate::policy::pii::{Action, CustomRule, PiiPolicy, PiiType};

/// Which level a command addresses (the tenant when neither is given).
#[derive(Debug, Args)]
pub struct Scope {
    /// The tenant's name.
    #[arg(long)]
    tenant: String,
    /// A team of the tenant, by name.
    #[arg(long, conflicts_with = "key")]
    team: Option<String>,
    /// A key of the tenant, by id.
    #[arg(long)]
    key: Option<String>,
}

/// `switchyard pii …`
#[derive(Debug, Subcommand)]
pub enum PiiCommand {
    /// Set actions per type at a level (types not named keep their setting).
    Set {
        #[command(flatten)]
        scope: Scope,
        /// allow | redact | mask | tokenize | block
        #[arg(long)]
        email: Option<Action>,
        #[arg(long)]
        phone: Option<Action>,
        #[arg(long)]
        card: Option<Action>,
        #[arg(long)]
        ssn: Option<Action>,
        #[arg(long)]
        iban: Option<Action>,
        #[arg(long)]
        ip: Option<Action>,
        #[arg(long)]
        secret: Option<Action>,
        /// A tenant-defined type: `NAME=REGEX:ACTION` (repeatable).
        #[arg(long, value_parser = parse_custom)]
        custom: Vec<CustomRule>,
        /// Removes a custom type by name (repeatable).
        #[arg(long)]
        remove_custom: Vec<String>,
    },
    /// Show the policy stored at a level.
    Show {
        #[command(flatten)]
        scope: Scope,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove the policy stored at a level.
    Clear {
        #[command(flatten)]
        scope: Scope,
    },
}

fn parse_custom(text: &str) -> Result<CustomRule, String> {
    let (name, rest) = text.split_once('=').ok_or("expected NAME=REGEX:ACTION")?;
    let (pattern, action) = rest.rsplit_once(':').ok_or("expected NAME=REGEX:ACTION")?;
    Ok(CustomRule {
        name: name.trim().to_owned(),
        pattern: pattern.to_owned(),
        action: action.trim().parse()?,
    })
}

/// Runs a `pii` command.
pub async fn run(settings: &Settings, cmd: PiiCommand) -> anyhow::Result<()> {
    let db = open(settings).await?;
    let result = command(&db, cmd).await;
    db.close().await;
    result
}

async fn command(db: &crate::storage::Db, cmd: PiiCommand) -> anyhow::Result<()> {
    match cmd {
        PiiCommand::Set {
            scope,
            email,
            phone,
            card,
            ssn,
            iban,
            ip,
            secret,
            custom,
            remove_custom,
        } => {
            let tenant = tenant_id(db, &scope.tenant).await?;
            let level =
                pii::resolve(db, &tenant, scope.team.as_deref(), scope.key.as_deref()).await?;
            let mut policy = pii::get(db, &tenant, &level).await?;
            let given = [
                (PiiType::Email, email),
                (PiiType::Phone, phone),
                (PiiType::Card, card),
                (PiiType::Ssn, ssn),
                (PiiType::Iban, iban),
                (PiiType::Ip, ip),
                (PiiType::Secret, secret),
            ];
            for (t, action) in given {
                if action.is_some() {
                    policy.set(t, action);
                }
            }
            policy.custom.retain(|c| !remove_custom.contains(&c.name));
            for rule in custom {
                policy.put_custom(rule);
            }
            pii::put(db, &tenant, &level, &policy, Actor::CLI).await?;
            print_policy(&policy);
            Ok(())
        }
        PiiCommand::Show { scope, json } => {
            let tenant = tenant_id(db, &scope.tenant).await?;
            let level =
                pii::resolve(db, &tenant, scope.team.as_deref(), scope.key.as_deref()).await?;
            let policy = pii::get(db, &tenant, &level).await?;
            if json {
                return print_json(&policy);
            }
            print_policy(&policy);
            Ok(())
        }
        PiiCommand::Clear { scope } => {
            let tenant = tenant_id(db, &scope.tenant).await?;
            let level =
                pii::resolve(db, &tenant, scope.team.as_deref(), scope.key.as_deref()).await?;
            pii::put(db, &tenant, &level, &PiiPolicy::default(), Actor::CLI).await?;
            println!("PII policy cleared");
            Ok(())
        }
    }
}

fn print_policy(policy: &PiiPolicy) {
    if policy.is_empty() {
        println!("no PII policy at this level");
    }
    for t in PiiType::ALL {
        if let Some(action) = policy.get(t) {
            println!("{}\t{action}", t.key());
        }
    }
    for rule in &policy.custom {
        println!("{}\t{}\t{}", rule.name, rule.action, rule.pattern);
    }
}
