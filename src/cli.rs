//! The command line: `serve` (the default), `migrate`, and admin commands for scripted set-up.
//! Every command takes `--config FILE` (env `SWITCHYARD_CONFIG`). Errors print one line on stderr
//! and exit with status 1.

mod alert;
mod credits;
mod master_key;
mod provider;
mod settings;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, LogFormat, Settings, Sources};
use crate::control_plane::{Actor, budgets, keys, routes, tenants};
use crate::domain::budget::BudgetPeriod;
use crate::domain::ids::TenantId;
use crate::domain::money::NanoUsd;
use crate::startup::Application;
use crate::storage::Db;

mod pii;

/// Switchyard: a multi-tenant LLM gateway.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
pub struct Cli {
    /// Configuration file (default: ./switchyard.toml when present).
    #[arg(long, global = true, env = "SWITCHYARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format; overrides `log_format` from the configuration.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage virtual keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage a tenant's own routes (they shadow platform routes of the same name).
    #[command(subcommand)]
    Route(RouteCommand),
    /// Manage budgets on a tenant, a team, a key, an end user or a model.
    #[command(subcommand)]
    Budget(BudgetCommand),
    /// Manage platform administrators.
    #[command(subcommand)]
    Admin(crate::control_plane::auth::admin_cli::AdminCommand),
    /// Cache settings of a tenant or one of its keys.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Manage where alerts go (webhooks, Slack, email) and read notifications.
    #[command(subcommand)]
    Alert(alert::AlertCommand),
    /// Manage a tenant's own provider credentials (bring your own key).
    #[command(subcommand)]
    Provider(provider::ProviderCommand),
    /// Manage a tenant's own models (served by its provider credentials).
    #[command(subcommand)]
    Model(provider::ModelCommand),
    /// Prepaid credits: balance, ledger, grants and Stripe Checkout links.
    #[command(subcommand)]
    Credits(credits::CreditsCommand),
    /// Manage rate limits on a tenant, a team or a model.
    #[command(subcommand)]
    Limit(settings::LimitCommand),
    /// Manage PII policies on a tenant, a team or a key.
    #[command(subcommand)]
    Pii(pii::PiiCommand),
    /// Rotate the master key that seals stored secrets.
    #[command(subcommand)]
    MasterKey(master_key::MasterKeyCommand),
    /// Measure the gateway's overhead against a mock OpenAI upstream (nginx as the floor).
    Bench(crate::bench::BenchArgs),
    /// The benchmark's stack floor: a bare actix-web + reqwest passthrough (run by `bench`).
    #[command(hide = true)]
    BenchFloor(crate::bench::floor::FloorArgs),
}

/// `switchyard cache …`
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Set the cache settings of a tenant, or of one of its keys with `--key` (merged into the
    /// settings already there).
    Set {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// A key id of the tenant: set the key's settings instead of the tenant's.
        #[arg(long)]
        key: Option<String>,
        /// Cache answers or not.
        #[arg(long)]
        enabled: Option<bool>,
        /// How long answers stay cached (`10m`, `1h`, …).
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: Option<Duration>,
        /// Cosine similarity for semantic hits, in (0, 1].
        #[arg(long)]
        threshold: Option<f64>,
        /// Exact matches only (`--exact-only` or `--exact-only false`).
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        exact_only: Option<bool>,
    },
    /// Show the cache settings of a tenant and of its keys.
    Show {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
}

/// `switchyard budget …`
#[derive(Debug, Subcommand)]
pub enum BudgetCommand {
    /// Create or replace a budget.
    Set {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// `tenant`, `team:NAME`, `key:ID`, `user:ID` (the `user` field) or `model:NAME`.
        #[arg(long)]
        scope: String,
        /// The limit in USD.
        #[arg(long, value_parser = parse_usd)]
        usd: NanoUsd,
        /// The period (UTC boundaries).
        #[arg(long, value_enum, default_value_t = BudgetPeriod::Monthly)]
        period: BudgetPeriod,
        /// Alert thresholds in percent.
        #[arg(long, value_delimiter = ',', default_values_t = [50u8, 80, 100])]
        alert_at: Vec<u8>,
    },
    /// List the tenant's budgets.
    List {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Delete a budget.
    Delete {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The budget's scope, as given to `budget set`.
        #[arg(long)]
        scope: String,
        /// The budget's period.
        #[arg(long, value_enum, default_value_t = BudgetPeriod::Monthly)]
        period: BudgetPeriod,
    },
}

/// `switchyard route …`
#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Create or replace a route from a TOML file in the `[[routes]]` shape (without the header).
    Set {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The route definition (`-` for standard input).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the tenant's routes.
    List {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Delete a route.
    Delete {
        /// The route's name.
        name: String,
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
    },
}

/// `switchyard tenant …`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with its owner user and a default team.
    Create {
        /// The tenant (organisation) name; unique.
        name: String,
        /// The owner's email address.
        #[arg(long)]
        admin_email: String,
        /// The owner's password (at least 12 characters).
        #[arg(long, env = "SWITCHYARD_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Change a tenant's settings: IP allowlist, body logging, retention, time zone, cost tracking.
    Set(settings::TenantSetArgs),
    /// Show a tenant's settings and limits.
    Show {
        /// The tenant's name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `switchyard key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Mint a virtual key; its secret is printed once.
    Create(KeyCreateArgs),
    /// List a tenant's keys (never their secrets).
    List {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key immediately.
    Revoke {
        /// The key's id (`key_…`).
        key_id: String,
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Issue a new secret for a key; the old one keeps working for the grace period.
    Rotate {
        /// The key's id (`key_…`).
        key_id: String,
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// How long the old secret keeps working (default: `keys.rotation_grace`, 24h).
        #[arg(long, value_parser = parse_duration)]
        grace: Option<Duration>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `switchyard key create` options.
#[derive(Debug, Args)]
pub struct KeyCreateArgs {
    /// The tenant's name.
    #[arg(long)]
    pub tenant: String,
    /// The team that owns the key.
    #[arg(long)]
    pub team: Option<String>,
    /// A label for the key.
    #[arg(long)]
    pub name: Option<String>,
    /// Allowed models or routes (comma-separated); empty means all.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Requests per minute.
    #[arg(long)]
    pub rpm: Option<u32>,
    /// Tokens per minute.
    #[arg(long)]
    pub tpm: Option<u32>,
    /// Requests in flight at once.
    #[arg(long)]
    pub max_concurrent: Option<u32>,
    /// Spending limit in USD.
    #[arg(long, value_parser = parse_usd)]
    pub budget_usd: Option<NanoUsd>,
    /// Budget period.
    #[arg(long, value_enum, default_value_t = BudgetPeriod::Monthly)]
    pub budget_period: BudgetPeriod,
    /// Allowed client IPs or CIDRs (comma-separated, IPv4 and IPv6).
    #[arg(long, value_delimiter = ',')]
    pub allowed_ips: Vec<String>,
    /// Allowed referrers/origins such as https://*.example.com (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub allowed_referrers: Vec<String>,
    /// Lifetime such as 30d or 12h.
    #[arg(long, value_parser = parse_duration)]
    pub expires_in: Option<Duration>,
    /// Print one JSON object with `id` and `key`.
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (expected e.g. 30d, 12h, 90m)"))
}

fn parse_usd(text: &str) -> Result<NanoUsd, String> {
    NanoUsd::parse_usd(text).map_err(|e| e.to_string())
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    match run(cli, &env) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// Runs a parsed command line against the given environment.
pub fn run(cli: Cli, env: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let mut settings = config::load(&Sources {
        file: cli.config.as_deref(),
        search_dir: None,
        env,
    })?;
    if let Some(format) = cli.log_format {
        settings.log_format = format;
    }
    let command = cli.command.unwrap_or(Command::Serve);
    let serving = matches!(command, Command::Serve | Command::Migrate);
    // Admin commands print results on stdout; keep their logs to warnings unless asked.
    let filter = if serving || env.contains_key("SWITCHYARD_LOG_LEVEL") {
        settings.log_level.clone()
    } else {
        "warn".to_owned()
    };
    crate::telemetry::init(settings.log_format, &filter);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match command {
            Command::Serve => serve(settings).await,
            Command::Migrate => {
                let db = connect(&settings).await?;
                db.migrate().await?;
                db.close().await;
                println!("migrations applied");
                Ok(())
            }
            Command::Tenant(cmd) => tenant(&settings, cmd).await,
            Command::Key(cmd) => key(&settings, cmd).await,
            Command::Route(cmd) => route(&settings, cmd).await,
            Command::Budget(cmd) => budget(&settings, cmd).await,
            Command::Admin(cmd) => {
                let db = open(&settings).await?;
                let result = crate::control_plane::auth::admin_cli::run(&db, cmd).await;
                db.close().await;
                result
            }
            Command::Cache(cmd) => cache(&settings, cmd).await,
            Command::Alert(cmd) => alert::run(&settings, cmd).await,
            Command::Limit(cmd) => settings::limit(&settings, cmd).await,
            Command::Provider(cmd) => provider::run(&settings, cmd).await,
            Command::Model(cmd) => provider::run_model(&settings, cmd).await,
            Command::Pii(cmd) => pii::run(&settings, cmd).await,
            Command::Credits(cmd) => credits::run(&settings, cmd).await,
            Command::Bench(args) => crate::bench::run(args).await,
            Command::BenchFloor(args) => crate::bench::floor::serve(args).await,
            Command::MasterKey(cmd) => master_key::run(&settings, env, cmd).await,
        }
    })
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    app.run_until_stopped().await?;
    Ok(())
}

async fn connect(settings: &Settings) -> anyhow::Result<Db> {
    Ok(Db::connect(settings.database_url.expose(), &settings.database).await?)
}

/// Connects and migrates, so admin commands work on a fresh database.
async fn open(settings: &Settings) -> anyhow::Result<Db> {
    let db = connect(settings).await?;
    db.migrate().await?;
    Ok(db)
}

async fn tenant_id(db: &Db, name: &str) -> anyhow::Result<TenantId> {
    tenants::resolve(db, name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("tenant `{name}` does not exist"))
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

async fn tenant(settings: &Settings, cmd: TenantCommand) -> anyhow::Result<()> {
    let db = open(settings).await?;
    let result = match cmd {
        TenantCommand::Create {
            name,
            admin_email,
            admin_password,
            json,
        } => {
            let created = tenants::create_with_trial(
                &db,
                tenants::NewTenant {
                    name,
                    admin_email,
                    admin_password,
                },
                Actor::CLI,
                crate::billing::usd_to_nusd(settings.billing.trial_credits_usd),
            )
            .await?;
            if json {
                print_json(&created)
            } else {
                println!(
                    "created tenant {} ({}) with owner {} and team `default`",
                    created.name, created.tenant_id, created.owner_email
                );
                Ok(())
            }
        }
        TenantCommand::List { json } => {
            let all = crate::storage::tenants::list(&db).await?;
            if json {
                print_json(&all)
            } else {
                for t in all {
                    println!("{}\t{}\t{}", t.id, t.status, t.name);
                }
                Ok(())
            }
        }
        TenantCommand::Set(args) => settings::tenant_set(&db, args).await,
        TenantCommand::Show { name, json } => settings::tenant_show(&db, &name, json).await,
    };
    db.close().await;
    result
}

async fn key(settings: &Settings, cmd: KeyCommand) -> anyhow::Result<()> {
    let db = open(settings).await?;
    let result = key_command(settings, &db, cmd).await;
    db.close().await;
    result
}

async fn key_command(settings: &Settings, db: &Db, cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Create(args) => {
            let tenant = tenant_id(db, &args.tenant).await?;
            let spec = keys::KeySpec {
                name: args.name,
                team: args.team,
                models: args.models,
                rpm: args.rpm,
                tpm: args.tpm,
                max_concurrent: args.max_concurrent,
                budget: args.budget_usd,
                budget_period: args.budget_period,
                allowed_ips: args.allowed_ips,
                allowed_referrers: args.allowed_referrers,
                expires_in: args.expires_in,
            };
            let issued = keys::create(db, &tenant, spec, Actor::CLI).await?;
            print_issued(&issued, args.json, "created")
        }
        KeyCommand::List { tenant, json } => {
            let tenant = tenant_id(db, &tenant).await?;
            let all = keys::list(db, &tenant).await?;
            if json {
                return print_json(&all);
            }
            println!("ID\tNAME\tKEY\tTEAM\tSTATUS\tCREATED\tEXPIRES");
            for k in all {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.name,
                    k.display,
                    k.team.as_deref().unwrap_or("-"),
                    serde_json::to_value(k.status)?.as_str().unwrap_or("?"),
                    k.created_at,
                    k.expires_at.as_deref().unwrap_or("never"),
                );
            }
            Ok(())
        }
        KeyCommand::Revoke {
            key_id,
            tenant,
            json,
        } => {
            let tenant = tenant_id(db, &tenant).await?;
            keys::revoke(db, &tenant, &key_id, Actor::CLI).await?;
            if json {
                print_json(&serde_json::json!({ "id": key_id, "status": "revoked" }))
            } else {
                println!("revoked key {key_id}");
                Ok(())
            }
        }
        KeyCommand::Rotate {
            key_id,
            tenant,
            grace,
            json,
        } => {
            let tenant = tenant_id(db, &tenant).await?;
            let grace = grace.unwrap_or(settings.keys.rotation_grace);
            let issued = keys::rotate(db, &tenant, &key_id, grace, Actor::CLI).await?;
            print_issued(&issued, json, "rotated")
        }
    }
}

async fn budget(settings: &Settings, cmd: BudgetCommand) -> anyhow::Result<()> {
    let db = open(settings).await?;
    let result = budget_command(&db, cmd).await;
    db.close().await;
    result
}

async fn budget_command(db: &Db, cmd: BudgetCommand) -> anyhow::Result<()> {
    match cmd {
        BudgetCommand::Set {
            tenant,
            scope,
            usd,
            period,
            alert_at,
        } => {
            let tenant = tenant_id(db, &tenant).await?;
            let resolved = budgets::resolve_scope(db, &tenant, &scope).await?;
            budgets::set(db, &tenant, &resolved, usd, period, &alert_at, Actor::CLI).await?;
            println!("budget {scope}: {usd} {period}");
            Ok(())
        }
        BudgetCommand::List { tenant, json } => {
            let tenant = tenant_id(db, &tenant).await?;
            let all = budgets::list(db, &tenant).await?;
            if json {
                return print_json(&all);
            }
            for b in all {
                println!("{}\t{}\t${:.2}", b.scope, b.period, b.limit_usd);
            }
            Ok(())
        }
        BudgetCommand::Delete {
            tenant,
            scope,
            period,
        } => {
            let tenant = tenant_id(db, &tenant).await?;
            let resolved = budgets::resolve_scope(db, &tenant, &scope).await?;
            budgets::delete(db, &tenant, &resolved, period, Actor::CLI).await?;
            println!("deleted budget {scope} ({period})");
            Ok(())
        }
    }
}

async fn cache(settings: &Settings, cmd: CacheCommand) -> anyhow::Result<()> {
    let db = open(settings).await?;
    let result = cache_command(&db, cmd).await;
    db.close().await;
    result
}

async fn cache_command(db: &Db, cmd: CacheCommand) -> anyhow::Result<()> {
    match cmd {
        CacheCommand::Set {
            tenant,
            key,
            enabled,
            ttl,
            threshold,
            exact_only,
        } => {
            let tenant = tenant_id(db, &tenant).await?;
            let change = config::CacheOverrides {
                enabled,
                ttl,
                threshold,
                exact_only,
            };
            let next =
                crate::control_plane::cache::set(db, &tenant, key.as_deref(), &change, Actor::CLI)
                    .await?;
            println!(
                "cache settings of {}: {}",
                key.as_deref().unwrap_or("the tenant"),
                serde_json::to_string(&next)?
            );
            Ok(())
        }
        CacheCommand::Show { tenant, json } => {
            let tenant = tenant_id(db, &tenant).await?;
            let view = crate::control_plane::cache::show(db, &tenant).await?;
            if json {
                return print_json(&view);
            }
            println!("tenant\t{}", serde_json::to_string(&view.tenant)?);
            for k in view.keys {
                println!("{}\t{}", k.key_id, serde_json::to_string(&k.cache)?);
            }
            Ok(())
        }
    }
}

async fn route(settings: &Settings, cmd: RouteCommand) -> anyhow::Result<()> {
    let db = open(settings).await?;
    let result = route_command(settings, &db, cmd).await;
    db.close().await;
    result
}

async fn route_command(settings: &Settings, db: &Db, cmd: RouteCommand) -> anyhow::Result<()> {
    match cmd {
        RouteCommand::Set { tenant, file, json } => {
            let tenant = tenant_id(db, &tenant).await?;
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
            };
            let parsed = routes::parse_toml(&text)?;
            let models: Vec<&str> = settings.models.iter().map(|m| m.name.as_str()).collect();
            let saved = routes::set(db, &tenant, parsed, &models, Actor::CLI).await?;
            if json {
                print_json(&saved)
            } else {
                println!("saved route {} ({})", saved.name, saved.strategy);
                Ok(())
            }
        }
        RouteCommand::List { tenant, json } => {
            let tenant = tenant_id(db, &tenant).await?;
            let all = routes::list(db, &tenant).await?;
            if json {
                return print_json(&all);
            }
            for r in all {
                println!("{}\t{}\t{}", r.name, r.strategy, r.updated_at);
            }
            Ok(())
        }
        RouteCommand::Delete { name, tenant } => {
            let tenant = tenant_id(db, &tenant).await?;
            routes::delete(db, &tenant, &name, Actor::CLI).await?;
            println!("deleted route {name}");
            Ok(())
        }
    }
}

fn print_issued(issued: &keys::IssuedKey, json: bool, verb: &str) -> anyhow::Result<()> {
    if json {
        return print_json(issued);
    }
    println!("{verb} key {} ({})", issued.id, issued.name);
    if let Some(until) = &issued.previous_secret_expires_at {
        println!("the previous secret keeps working until {until}");
    }
    println!("secret (shown once, store it now):");
    println!("{}", issued.key);
    Ok(())
}
