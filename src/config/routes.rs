//! `[[routes]]`: names clients send as `model` that pick among deployments, with rules,
//! fallbacks, timeouts and retries; and `[routing]`, the circuit-breaker settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, ModelSettings};

/// One route (`[[routes]]`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// The name clients send as `model`.
    pub name: String,
    #[serde(default)]
    pub strategy: Strategy,
    /// The deployments (model names) the route spreads over.
    pub targets: Vec<TargetSettings>,
    /// Models tried, in order, when every target failed.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Per attempt: time to a complete answer (streams: to the end of the stream's start).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// Streams: time to the first byte of the answer.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_token_timeout: Option<Duration>,
    /// Retries per target, with exponential backoff and full jitter.
    #[serde(default)]
    pub retries: u32,
    /// Bound on the whole request, retries and fallbacks included.
    #[serde(default = "default_deadline", with = "humantime_serde")]
    pub deadline: Duration,
    /// Also fall back when the prompt does not fit the model's context window.
    #[serde(default)]
    pub fallback_on_context_window: bool,
    /// Also fall back when the provider refuses for content-policy reasons.
    #[serde(default)]
    pub fallback_on_content_filter: bool,
    /// Rules, first match wins; no match uses `targets`.
    #[serde(default)]
    pub rules: Vec<RuleSettings>,
    /// Cache settings for this route (on/off, TTL, threshold, exact-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<super::CacheOverrides>,
}

/// How a route orders its targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// A random target by weight, then the others.
    #[default]
    Weighted,
    /// The target with the lowest recent latency first.
    LowestLatency,
    /// The target with the fewest requests in flight first.
    LeastBusy,
    /// The cheapest target (input + output price) first.
    Cheapest,
    /// In the order listed.
    Ordered,
}

impl Strategy {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Weighted => "weighted",
            Strategy::LowestLatency => "lowest-latency",
            Strategy::LeastBusy => "least-busy",
            Strategy::Cheapest => "cheapest",
            Strategy::Ordered => "ordered",
        }
    }
}

/// A route target.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    pub model: String,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

/// A rule: when every condition of `when` holds, `targets` serve the request.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    pub when: Condition,
    pub targets: Vec<TargetSettings>,
}

/// Rule conditions; all that are set must hold.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// A tag from `metadata.tags` or the `x-switchyard-tags` header.
    pub tag: Option<String>,
    /// A request header, with an optional exact value.
    pub header: Option<HeaderCondition>,
    /// A virtual key id.
    pub key: Option<String>,
    /// A team name or id.
    pub team: Option<String>,
    /// The estimated prompt is at most this many tokens.
    pub max_prompt_tokens: Option<u64>,
    pub has_tools: Option<bool>,
    pub has_images: Option<bool>,
    /// A regular expression matched against the last user message.
    pub message_regex: Option<String>,
}

/// `header = { name = "x-tier", value = "gold" }`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderCondition {
    pub name: String,
    pub value: Option<String>,
}

/// `[routing]`: circuit breaking and retry budgets for every deployment.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingSettings {
    /// Consecutive failures that eject a deployment.
    pub failure_threshold: u32,
    /// Error rate (0–1) over the recent window that ejects a deployment.
    pub error_rate_threshold: f64,
    /// First ejection's cooldown; doubles on each repeated ejection.
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
    /// Longest cooldown.
    #[serde(with = "humantime_serde")]
    pub max_cooldown: Duration,
    /// Retries allowed per deployment, as a fraction of its requests in the last minute.
    pub retry_budget: f64,
    /// A stream that sends nothing for this long after it started is cut with an error event.
    #[serde(with = "humantime_serde")]
    pub stream_idle_timeout: Duration,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            error_rate_threshold: 0.5,
            cooldown: Duration::from_secs(5),
            max_cooldown: Duration::from_secs(30),
            retry_budget: 0.2,
            stream_idle_timeout: Duration::from_secs(60),
        }
    }
}

fn default_weight() -> u32 {
    1
}

fn default_deadline() -> Duration {
    Duration::from_secs(120)
}

/// Checks route names, references and rule patterns.
pub fn validate(routes: &[RouteSettings], models: &[ModelSettings]) -> Result<(), ConfigError> {
    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    validate_against(routes, &names)
}

/// Checks routes against the model names they may target.
pub fn validate_against(routes: &[RouteSettings], models: &[&str]) -> Result<(), ConfigError> {
    let invalid = |key: &'static str, message: String| ConfigError::Value { key, message };
    for (i, r) in routes.iter().enumerate() {
        if r.name.trim().is_empty() {
            return Err(invalid(
                "routes.name",
                format!("route #{} has an empty name", i + 1),
            ));
        }
        if routes[..i].iter().any(|q| q.name == r.name) {
            return Err(invalid(
                "routes.name",
                format!("route `{}` is defined twice", r.name),
            ));
        }
        if models.contains(&r.name.as_str()) {
            return Err(invalid(
                "routes.name",
                format!(
                    "route `{}` has the name of a model; names must be unique",
                    r.name
                ),
            ));
        }
        if r.targets.is_empty() {
            return Err(invalid(
                "routes.targets",
                format!("route `{}` has no targets", r.name),
            ));
        }
        let all_targets = r
            .targets
            .iter()
            .chain(r.rules.iter().flat_map(|rule| rule.targets.iter()));
        for t in all_targets {
            if !models.contains(&t.model.as_str()) {
                return Err(invalid(
                    "routes.targets",
                    format!(
                        "route `{}` targets model `{}`, which is not defined",
                        r.name, t.model
                    ),
                ));
            }
        }
        if r.targets.iter().all(|t| t.weight == 0) && r.strategy == Strategy::Weighted {
            return Err(invalid(
                "routes.targets.weight",
                format!("route `{}`: at least one weight must be above 0", r.name),
            ));
        }
        for f in &r.fallbacks {
            if !models.contains(&f.as_str()) {
                return Err(invalid(
                    "routes.fallbacks",
                    format!(
                        "route `{}` falls back to model `{f}`, which is not defined",
                        r.name
                    ),
                ));
            }
        }
        for rule in &r.rules {
            if rule.targets.is_empty() {
                return Err(invalid(
                    "routes.rules.targets",
                    format!("a rule of route `{}` has no targets", r.name),
                ));
            }
            if let Some(pattern) = &rule.when.message_regex {
                regex::Regex::new(pattern).map_err(|e| {
                    invalid(
                        "routes.rules.when.message_regex",
                        format!("route `{}`: {e}", r.name),
                    )
                })?;
            }
        }
    }
    Ok(())
}
