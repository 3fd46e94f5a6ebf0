//! `switchyard tenant set|show` (a tenant's settings) and `switchyard limit …` (rate limits on a
//! tenant, a team or a model).

use clap::{Args, Subcommand};

use super::{open, print_json, tenant_id};
use crate::config::Settings;
use crate::control_plane::Actor;
use crate::control_plane::key_policy;
use crate::control_plane::settings::{self, TenantView};
use crate::domain::tenant_settings::Limits;
use crate::storage::Db;

/// `switchyard tenant set`: change a tenant's settings (only the flags given).
#[derive(Debug, Args)]
pub struct TenantSetArgs {
    /// The tenant's name.
    pub name: String,
    /// Networks (IPv4/IPv6 CIDRs, comma-separated) every key of the tenant may be used from;
    /// an empty value allows any.
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    pub ip_allowlist: Option<Vec<String>>,
    /// Store request and response bodies in the request log.
    #[arg(long)]
    pub log_bodies: Option<bool>,
    /// Days request-log rows are kept (0: back to the server default).
    #[arg(long)]
    pub retention_days: Option<u32>,
    /// IANA time zone budget periods start in (e.g. Europe/Paris).
    #[arg(long)]
    pub timezone: Option<String>,
    /// Track spend (unpriced models are then refused unless allowed).
    #[arg(long)]
    pub cost_tracking: Option<bool>,
    /// Print the resulting settings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tenant set`.
pub async fn tenant_set(db: &Db, args: TenantSetArgs) -> anyhow::Result<()> {
    let tenant = tenant_id(db, &args.name).await?;
    let ips = args
        .ip_allowlist
        .as_ref()
        .map(|list| key_policy::cidrs(list))
        .transpose()?;
    let tz = args
        .timezone
        .as_deref()
        .map(settings::timezone)
        .transpose()?;
    let view = settings::update(db, &tenant, "tenant.settings", Actor::CLI, |v| {
        if let Some(ips) = ips {
            v.settings.ip_allowlist = ips;
        }
        if let Some(on) = args.log_bodies {
            v.settings.log_bodies = on;
        }
        if let Some(days) = args.retention_days {
            v.settings.retention_days = (days > 0).then_some(days);
        }
        if let Some(tz) = tz {
            v.timezone = tz;
        }
        if let Some(on) = args.cost_tracking {
            v.settings.cost_tracking = on;
        }
        Ok(())
    })
    .await?;
    print_view(&view, args.json)
}

/// Runs `tenant show`.
pub async fn tenant_show(db: &Db, name: &str, json: bool) -> anyhow::Result<()> {
    let tenant = tenant_id(db, name).await?;
    print_view(&settings::show(db, &tenant).await?, json)
}

fn print_view(view: &TenantView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(view);
    }
    let s = &view.settings;
    println!("timezone\t{}", view.timezone);
    println!("ip_allowlist\t{}", s.ip_allowlist.join(","));
    println!("log_bodies\t{}", s.log_bodies);
    println!(
        "retention_days\t{}",
        s.retention_days
            .map_or("default".to_owned(), |d| d.to_string())
    );
    println!("cost_tracking\t{}", s.cost_tracking);
    println!("limits\t{}", limits_text(&s.limits));
    for (model, l) in &s.model_limits {
        println!("limits model:{model}\t{}", limits_text(l));
    }
    Ok(())
}

fn limits_text(l: &Limits) -> String {
    let show = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    format!(
        "rpm={} tpm={} max_concurrent={}",
        show(l.rpm),
        show(l.tpm),
        show(l.max_concurrent)
    )
}

/// `switchyard limit …`
#[derive(Debug, Subcommand)]
pub enum LimitCommand {
    /// Set the limits of a tenant, a team or a model (replacing the scope's previous limits).
    Set {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// `tenant`, `team:NAME` or `model:NAME` (a model or route, counted over the tenant).
        #[arg(long)]
        scope: String,
        /// Requests per minute.
        #[arg(long)]
        rpm: Option<u64>,
        /// Tokens per minute.
        #[arg(long)]
        tpm: Option<u64>,
        /// Requests in flight at once.
        #[arg(long)]
        max_concurrent: Option<u64>,
    },
    /// Remove the limits of a scope.
    Clear {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The scope, as given to `limit set`.
        #[arg(long)]
        scope: String,
    },
}

/// Runs a limit command.
pub async fn limit(settings: &Settings, cmd: LimitCommand) -> anyhow::Result<()> {
    let db = open(settings).await?;
    let result = async {
        match cmd {
            LimitCommand::Set {
                tenant,
                scope,
                rpm,
                tpm,
                max_concurrent,
            } => {
                let id = tenant_id(&db, &tenant).await?;
                let limits = Limits {
                    rpm,
                    tpm,
                    max_concurrent,
                };
                if limits.is_empty() {
                    anyhow::bail!("give at least one of --rpm, --tpm or --max-concurrent (or use `limit clear`)");
                }
                let text = limits_text(&limits);
                settings::set_limits(&db, &id, &scope, limits, Actor::CLI).await?;
                println!("limits {scope}: {text}");
                Ok(())
            }
            LimitCommand::Clear { tenant, scope } => {
                let id = tenant_id(&db, &tenant).await?;
                settings::set_limits(&db, &id, &scope, Limits::default(), Actor::CLI).await?;
                println!("cleared limits {scope}");
                Ok(())
            }
        }
    }
    .await;
    db.close().await;
    result
}
