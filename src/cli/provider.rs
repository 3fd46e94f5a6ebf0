//! `switchyard provider …`: a tenant's own provider credentials (BYOK).

use std::io::Read;
use std::time::Duration;

use clap::Subcommand;

use super::{open, print_json, tenant_id};
use crate::config::Settings;
use crate::control_plane::Actor;
use crate::control_plane::providers::{self, NewCredential};
use crate::crypto::Vault;
use crate::providers::ProviderKind;

/// `switchyard provider …`
#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Store a provider credential for a tenant (encrypted under the master key).
    Add {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// A name for the credential, unique in the tenant.
        #[arg(long)]
        name: String,
        /// openai, azure-openai, anthropic, gemini, cohere or openai-compatible.
        #[arg(long, value_parser = parse_kind)]
        kind: ProviderKind,
        /// The provider's base URL (default: the provider's own; required for azure-openai
        /// and openai-compatible).
        #[arg(long)]
        base_url: Option<String>,
        /// Read the API key from standard input (recommended: keeps it out of shell history).
        #[arg(long)]
        api_key_stdin: bool,
        /// The API key (prefer --api-key-stdin).
        #[arg(long)]
        api_key: Option<String>,
        /// Azure's api-version.
        #[arg(long)]
        api_version: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's credentials (keys masked).
    List {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Delete a credential.
    Remove {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The credential's name.
        #[arg(long)]
        name: String,
    },
    /// Check that the provider accepts the credential (lists its models).
    Test {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The credential's name.
        #[arg(long)]
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_kind(text: &str) -> Result<ProviderKind, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        "expected openai, azure-openai, anthropic, gemini, cohere or openai-compatible".to_owned()
    })
}

/// Runs a provider command.
pub async fn run(settings: &Settings, cmd: ProviderCommand) -> anyhow::Result<()> {
    let db = open(settings).await?;
    let key = Vault::from_settings(settings)?;
    let allow_private = settings.egress.allow_private_networks;
    let result = async {
        match cmd {
            ProviderCommand::Add {
                tenant,
                name,
                kind,
                base_url,
                api_key_stdin,
                api_key,
                api_version,
                json,
            } => {
                let tenant = tenant_id(&db, &tenant).await?;
                let api_key = if api_key_stdin {
                    let mut text = String::new();
                    std::io::stdin().read_to_string(&mut text)?;
                    text.trim().to_owned()
                } else {
                    api_key.unwrap_or_default()
                };
                let added = providers::add(
                    &db,
                    key.as_ref(),
                    allow_private,
                    &tenant,
                    NewCredential {
                        name,
                        kind,
                        base_url,
                        api_key,
                        api_version,
                    },
                    Actor::CLI,
                )
                .await?;
                if json {
                    return print_json(&added);
                }
                println!(
                    "{}\t{}\t{}\t{}",
                    added.name, added.kind, added.base_url, added.masked_key
                );
                Ok(())
            }
            ProviderCommand::List { tenant, json } => {
                let tenant = tenant_id(&db, &tenant).await?;
                let all = providers::list(&db, &tenant).await?;
                if json {
                    return print_json(&all);
                }
                for c in all {
                    println!("{}\t{}\t{}\t{}", c.name, c.kind, c.base_url, c.masked_key);
                }
                Ok(())
            }
            ProviderCommand::Remove { tenant, name } => {
                let tenant = tenant_id(&db, &tenant).await?;
                providers::remove(&db, &tenant, &name, Actor::CLI).await?;
                println!("removed {name}");
                Ok(())
            }
            ProviderCommand::Test { tenant, name, json } => {
                let tenant = tenant_id(&db, &tenant).await?;
                let http = crate::egress::client(
                    crate::egress::GuardedResolver::new(
                        crate::egress::system_lookup(),
                        allow_private,
                    ),
                    Duration::from_secs(15),
                )?;
                let outcome =
                    providers::test(&db, key.as_ref(), allow_private, &http, &tenant, &name)
                        .await?;
                if json {
                    print_json(&outcome)?;
                } else {
                    println!("{}", outcome.message);
                }
                if outcome.ok {
                    Ok(())
                } else {
                    anyhow::bail!("connection test failed: {}", outcome.message)
                }
            }
        }
    }
    .await;
    db.close().await;
    result
}

/// `switchyard model …`
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Create or replace a tenant model served by one of its provider credentials.
    Set {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The name the tenant's keys send as `model`.
        #[arg(long)]
        name: String,
        /// The provider credential (from `provider add`).
        #[arg(long)]
        provider: String,
        /// The provider's model id (Azure: the deployment name).
        #[arg(long)]
        upstream: String,
        /// chat (default) or embedding.
        #[arg(long)]
        mode: Option<String>,
        /// Input price in USD per million tokens (default: the built-in price of `upstream`).
        #[arg(long)]
        input_usd_per_mtok: Option<f64>,
        /// Output price in USD per million tokens.
        #[arg(long)]
        output_usd_per_mtok: Option<f64>,
        /// `max_tokens` sent to providers that require one.
        #[arg(long)]
        max_output_tokens: Option<u32>,
        /// Serve it even without a price (each request raises an alert).
        #[arg(long)]
        allow_unpriced: bool,
    },
    /// List the tenant's own models.
    List {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Remove one of the tenant's models.
    Remove {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The model's name.
        #[arg(long)]
        name: String,
    },
}

/// Runs a model command.
pub async fn run_model(settings: &Settings, cmd: ModelCommand) -> anyhow::Result<()> {
    use crate::control_plane::models::{self, NewModel};
    let db = open(settings).await?;
    let result = async {
        match cmd {
            ModelCommand::Set {
                tenant,
                name,
                provider,
                upstream,
                mode,
                input_usd_per_mtok,
                output_usd_per_mtok,
                max_output_tokens,
                allow_unpriced,
            } => {
                let tenant = tenant_id(&db, &tenant).await?;
                let label = name.clone();
                models::set(
                    &db,
                    &tenant,
                    NewModel {
                        name,
                        provider,
                        upstream,
                        mode,
                        input_usd_per_mtok,
                        output_usd_per_mtok,
                        max_output_tokens,
                        allow_unpriced,
                    },
                    Actor::CLI,
                )
                .await?;
                println!("model {label} set");
                Ok(())
            }
            ModelCommand::List { tenant, json } => {
                let tenant = tenant_id(&db, &tenant).await?;
                let all = models::list(&db, &tenant).await?;
                if json {
                    return print_json(&all);
                }
                for m in all {
                    println!(
                        "{}\t{}\t{}",
                        m.name,
                        m.provider.unwrap_or_default(),
                        m.upstream
                    );
                }
                Ok(())
            }
            ModelCommand::Remove { tenant, name } => {
                let tenant = tenant_id(&db, &tenant).await?;
                models::remove(&db, &tenant, &name, Actor::CLI).await?;
                println!("removed {name}");
                Ok(())
            }
        }
    }
    .await;
    db.close().await;
    result
}
