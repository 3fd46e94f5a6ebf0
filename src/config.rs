//! Configuration: compiled defaults, then a TOML file, then environment variables.
//!
//! * The file is `--config FILE` (or `SWITCHYARD_CONFIG`), else `switchyard.toml` when present.
//! * Unknown keys are refused with the file, key and line.
//! * String values may hold `${ENV_VAR}` references (write `$${` for a literal `${`); they are
//!   resolved at start, and a missing variable is an error naming it.
//! * Every setting is overridable from the environment: `SWITCHYARD_<KEY>` for top-level keys and
//!   `SWITCHYARD_<SECTION>__<KEY>` for keys in sections (e.g. `SWITCHYARD_DATABASE__MAX_CONNECTIONS`),
//!   plus the conventional `DATABASE_URL` and `REDIS_URL`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod alerts;
mod auth;
mod billing;
mod cache;
mod catalog;
mod egress;
pub use auth::{AuthSettings, CookieSecure};
mod routes;
pub use alerts::{AlertSettings, SmtpSettings, SmtpTls};
pub use billing::{BillingSettings, StripeSettings};
pub use cache::{CacheOverrides, CacheSettings};
pub use catalog::Billing;
pub use catalog::{ModelMode, ModelSettings, ProviderSettings};
pub use egress::EgressSettings;
pub use routes::{
    Condition, HeaderCondition, RouteSettings, RoutingSettings, RuleSettings, Strategy,
    TargetSettings, validate_against as validate_routes,
};

/// Environment variables with a meaning of their own, never read as setting overrides.
const RESERVED_ENV: &[&str] = &["SWITCHYARD_CONFIG"];
/// The file read when no path is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "switchyard.toml";

/// All settings, validated.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address the HTTP server binds (`SWITCHYARD_LISTEN`).
    pub listen: String,
    /// `sqlite://PATH` (created on first run) or `postgres://…` (`DATABASE_URL`).
    pub database_url: Secret,
    /// Redis for shared limits and caches across replicas (`REDIS_URL`); unset means in-process.
    pub redis_url: Option<Secret>,
    /// 32-byte master key (base64 or hex) for encrypting provider credentials
    /// (`SWITCHYARD_MASTER_KEY`).
    pub master_key: Option<Secret>,
    /// The master key before a rotation (`SWITCHYARD_MASTER_KEY_PREVIOUS`): still accepted for
    /// opening stored secrets until `switchyard master-key rotate` has re-sealed them all.
    pub master_key_previous: Option<Secret>,
    /// `text` or `json` (`SWITCHYARD_LOG_FORMAT`, or `--log-format`).
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `switchyard=debug,info` (`SWITCHYARD_LOG_LEVEL`).
    pub log_level: String,
    /// How long a graceful shutdown waits for in-flight requests (`SWITCHYARD_SHUTDOWN_GRACE`).
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// `[server]`.
    pub server: ServerSettings,
    /// `[database]`.
    pub database: DatabaseSettings,
    /// `[keys]`.
    pub keys: KeySettings,
    /// `[[providers]]`: provider accounts.
    pub providers: Vec<ProviderSettings>,
    /// `[[models]]`: the models clients may name.
    pub models: Vec<ModelSettings>,
    /// `[[routes]]`: names that pick among models.
    pub routes: Vec<RouteSettings>,
    /// `[routing]`: circuit breaking and retry budgets.
    pub routing: RoutingSettings,
    /// `[logs]`: the request log.
    pub logs: LogSettings,
    /// `[auth]`: dashboard and admin-API sessions.
    pub auth: AuthSettings,
    /// `[cache]`: exact and semantic response caching.
    pub cache: CacheSettings,
    /// `[alerts]`: alert delivery retries.
    pub alerts: AlertSettings,
    /// `[smtp]`: email delivery (off unless `host` is set).
    pub smtp: SmtpSettings,
    /// `[egress]`: what tenant-supplied URLs may reach.
    pub egress: EgressSettings,
    /// `[stripe]`: buying credits (off unless `secret_key` is set).
    pub stripe: StripeSettings,
    /// `[billing]`: prepaid credits.
    pub billing: BillingSettings,
}

/// `[logs]`: the request log.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// Where records wait while the database is unavailable (replayed when it returns).
    pub spool_path: PathBuf,
    /// Days request-log rows are kept when the tenant sets none (unset: kept).
    pub retention_days: Option<u32>,
    /// How often rows past retention are deleted.
    #[serde(with = "humantime_serde")]
    pub retention_interval: Duration,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            spool_path: PathBuf::from("switchyard-log-spool.jsonl"),
            retention_days: None,
            retention_interval: Duration::from_secs(3600),
        }
    }
}

/// `[server]`: the HTTP server.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed when finding the client address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Gateway replicas sharing the limits; while Redis is unavailable each replica enforces
    /// `limit / replicas` locally.
    pub replicas: u64,
    /// Rate limits while Redis is unreachable: `local` (limit / replicas per replica), `open`
    /// (admit) or `closed` (refuse).
    pub on_redis_failure: crate::policy::rate_limit::RedisFailure,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            workers: None,
            max_body_bytes: 10 * 1024 * 1024,
            trusted_proxies: Vec::new(),
            replicas: 1,
            on_redis_failure: crate::policy::rate_limit::RedisFailure::Local,
        }
    }
}

/// `[database]`: the connection pool.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// Maximum pooled connections.
    pub max_connections: u32,
    /// How long connecting (and acquiring a pooled connection) may take.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

/// `[keys]`: virtual keys.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// How long a rotated key's old secret keeps working.
    #[serde(with = "humantime_serde")]
    pub rotation_grace: Duration,
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A configuration value that must never be printed (`Debug` shows `[REDACTED]`).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: Secret::new("sqlite://switchyard.db"),
            redis_url: None,
            master_key: None,
            master_key_previous: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            shutdown_grace: Duration::from_secs(30),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            keys: KeySettings::default(),
            providers: Vec::new(),
            models: Vec::new(),
            routes: Vec::new(),
            routing: RoutingSettings::default(),
            logs: LogSettings::default(),
            auth: AuthSettings::default(),
            cache: CacheSettings::default(),
            alerts: AlertSettings::default(),
            smtp: SmtpSettings::default(),
            egress: EgressSettings::default(),
            stripe: StripeSettings::default(),
            billing: BillingSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            rotation_grace: Duration::from_secs(24 * 3600),
        }
    }
}

/// A configuration problem, described in one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        message: String,
    },
    #[error(
        "{origin}: `{key}` refers to ${{{var}}}, but the environment variable {var} is not set"
    )]
    MissingEnv {
        origin: String,
        key: String,
        var: String,
    },
    #[error("{origin}: `{key}` has an unterminated or malformed ${{…}} reference")]
    BadReference { origin: String, key: String },
    #[error("{origin}: after resolving references: {message}")]
    Resolved { origin: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid setting `{key}`: {message}")]
    Value { key: &'static str, message: String },
}

/// Where settings come from, so tests can load without touching the process environment.
pub struct Sources<'a> {
    /// An explicit config file (from `--config` or `SWITCHYARD_CONFIG`); it must exist.
    pub file: Option<&'a Path>,
    /// The directory searched for `switchyard.toml` when no file is given.
    pub search_dir: Option<&'a Path>,
    /// The environment.
    pub env: &'a BTreeMap<String, String>,
}

/// Loads and validates the settings.
pub fn load(sources: &Sources<'_>) -> Result<Settings, ConfigError> {
    let (origin, text) = read_file(sources)?;
    let mut table = match &text {
        Some(text) => parse_file(&origin, text)?,
        None => toml::Table::new(),
    };
    apply_env_overrides(&mut table, sources.env)?;
    resolve_references(&mut table, &origin, sources.env, &mut Vec::new())?;
    let settings =
        Settings::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Resolved {
            origin: origin.clone(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
    settings.validate()?;
    Ok(settings)
}

fn read_file(sources: &Sources<'_>) -> Result<(String, Option<String>), ConfigError> {
    let path = match sources.file {
        Some(path) => path.to_path_buf(),
        None => {
            let candidate = sources.search_dir.map_or_else(
                || PathBuf::from(DEFAULT_CONFIG_FILE),
                |d| d.join(DEFAULT_CONFIG_FILE),
            );
            if !candidate.exists() {
                return Ok(("defaults".into(), None));
            }
            candidate
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    Ok((path.display().to_string(), Some(text)))
}

/// Parses the file into the typed settings once, for errors that carry a line, and returns the
/// raw table for the override and reference passes.
fn parse_file(origin: &str, text: &str) -> Result<toml::Table, ConfigError> {
    let invalid = |err: toml::de::Error| ConfigError::Invalid {
        file: origin.to_owned(),
        line: err.span().map_or(0, |span| {
            text[..span.start.min(text.len())].matches('\n').count() + 1
        }),
        message: err.message().trim().replace('\n', " "),
    };
    let table: toml::Table = toml::from_str(text).map_err(invalid)?;
    toml::from_str::<Settings>(text).map_err(invalid)?;
    Ok(table)
}

fn apply_env_overrides(
    table: &mut toml::Table,
    env: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (var, value) in env {
        let path: Vec<String> = match var.as_str() {
            "DATABASE_URL" => vec!["database_url".into()],
            "REDIS_URL" => vec!["redis_url".into()],
            _ => match var.strip_prefix("SWITCHYARD_") {
                Some(rest) if !RESERVED_ENV.contains(&var.as_str()) && !rest.is_empty() => {
                    rest.split("__").map(str::to_ascii_lowercase).collect()
                }
                _ => continue,
            },
        };
        let typed = env_value(value);
        let mut attempt = table.clone();
        insert_path(&mut attempt, &path, typed.clone(), var)?;
        let result = Settings::deserialize(toml::Value::Table(attempt.clone()));
        let attempt = match result {
            Ok(_) => attempt,
            Err(first) if !matches!(typed, toml::Value::String(_)) => {
                // `SWITCHYARD_X=123` where X is text: retry the value as a string.
                let mut as_string = table.clone();
                insert_path(
                    &mut as_string,
                    &path,
                    toml::Value::String(value.clone()),
                    var,
                )?;
                Settings::deserialize(toml::Value::Table(as_string.clone())).map_err(|_| {
                    ConfigError::Env {
                        var: var.clone(),
                        message: first.to_string(),
                    }
                })?;
                as_string
            }
            Err(err) => {
                return Err(ConfigError::Env {
                    var: var.clone(),
                    message: err.to_string().trim().replace('\n', " "),
                });
            }
        };
        *table = attempt;
    }
    Ok(())
}

/// An environment value as TOML: numbers, booleans and arrays keep their type; anything else is a
/// string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn insert_path(
    table: &mut toml::Table,
    path: &[String],
    value: toml::Value,
    var: &str,
) -> Result<(), ConfigError> {
    let Some((last, sections)) = path.split_last() else {
        return Ok(());
    };
    let mut current = table;
    for section in sections {
        let entry = current
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| ConfigError::Env {
            var: var.to_owned(),
            message: format!("`{section}` is not a section"),
        })?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

fn resolve_references(
    table: &mut toml::Table,
    origin: &str,
    env: &BTreeMap<String, String>,
    path: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for (key, value) in table.iter_mut() {
        path.push(key.clone());
        resolve_value(value, origin, env, path)?;
        path.pop();
    }
    Ok(())
}

fn resolve_value(
    value: &mut toml::Value,
    origin: &str,
    env: &BTreeMap<String, String>,
    path: &mut Vec<String>,
) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(s) if s.contains('$') => {
            *s = expand(s, env).map_err(|var| match var {
                Some(var) => ConfigError::MissingEnv {
                    origin: origin.to_owned(),
                    key: path.join("."),
                    var,
                },
                None => ConfigError::BadReference {
                    origin: origin.to_owned(),
                    key: path.join("."),
                },
            })?;
        }
        toml::Value::Table(t) => resolve_references(t, origin, env, path)?,
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                resolve_value(item, origin, env, path)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// Expands `${VAR}` references. `Err(Some(var))` names a missing variable, `Err(None)` a malformed
/// reference.
fn expand(input: &str, env: &BTreeMap<String, String>) -> Result<String, Option<String>> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or(None)?;
            let name = &tail[..end];
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(None);
            }
            out.push_str(env.get(name).ok_or_else(|| Some(name.to_owned()))?);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

impl Settings {
    /// Checks values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        let url = self.database_url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Value {
                key: "database_url",
                message: "expected sqlite://PATH or postgres://USER@HOST/DB".into(),
            });
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Value {
                key: "database.max_connections",
                message: "must be at least 1".into(),
            });
        }
        if self.server.workers == Some(0) {
            return Err(ConfigError::Value {
                key: "server.workers",
                message: "must be at least 1".into(),
            });
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level).map_err(|e| {
            ConfigError::Value {
                key: "log_level",
                message: e.to_string(),
            }
        })?;
        catalog::validate(&self.providers, &self.models)?;
        self.auth.validate(self.listen_addr()?.ip().is_loopback())?;
        routes::validate(&self.routes, &self.models)?;
        billing::validate(&self.stripe, &self.billing)?;
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError::Value {
                key: "server.max_body_bytes",
                message: "must be at least 1024".into(),
            });
        }
        if let Some(redis) = &self.redis_url {
            let url = redis.expose();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError::Value {
                    key: "redis_url",
                    message: "expected redis://HOST:PORT".into(),
                });
            }
        }
        Ok(())
    }

    /// The listen address as a socket address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| ConfigError::Value {
            key: "listen",
            message: format!("`{}` is not an address such as 127.0.0.1:8080", self.listen),
        })
    }
}

#[cfg(test)]
mod tests;
