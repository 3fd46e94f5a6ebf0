//! The route form of the Models & routing page: targets as `model=weight` lines, fallbacks,
//! timeouts, retries and rules (as `[[rules]]` TOML), parsed into a route with errors that name
//! the field, and a stored route turned back into the form for editing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{blank_none, duration, list};
use crate::config::{RouteSettings, RuleSettings, Strategy, TargetSettings};
use crate::control_plane::api::error::ApiFailure;
use crate::control_plane::routes::RouteSummary;

/// The strategies offered, as configured names.
pub const STRATEGIES: &[&str] = &[
    "weighted",
    "ordered",
    "lowest-latency",
    "least-busy",
    "cheapest",
];

/// A route's deadline when the form leaves it blank.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);

/// The route form as submitted.
#[derive(Debug, Default, Deserialize)]
pub struct RouteForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub strategy: String,
    /// One `model` or `model=weight` per line (or comma-separated).
    #[serde(default)]
    pub targets: String,
    #[serde(default)]
    pub fallbacks: String,
    #[serde(default)]
    pub timeout: String,
    #[serde(default)]
    pub first_token_timeout: String,
    #[serde(default)]
    pub deadline: String,
    #[serde(default)]
    pub retries: String,
    #[serde(default)]
    pub fallback_on_context_window: Option<String>,
    #[serde(default)]
    pub fallback_on_content_filter: Option<String>,
    /// `[[rules]]` tables in TOML.
    #[serde(default)]
    pub rules: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Rules {
    #[serde(default)]
    rules: Vec<RuleSettings>,
}

fn targets(text: &str) -> Result<Vec<TargetSettings>, ApiFailure> {
    list(text)
        .into_iter()
        .map(|item| {
            let (model, weight) = match item.split_once(['=', ' ']) {
                Some((m, w)) => (m.trim(), Some(w.trim())),
                None => (item.as_str(), None),
            };
            let weight = match weight {
                Some(w) => w.parse::<u32>().map_err(|_| {
                    ApiFailure::field(
                        "targets",
                        format!("`{item}`: the weight after `=` must be a whole number"),
                    )
                })?,
                None => 1,
            };
            Ok(TargetSettings {
                model: model.to_owned(),
                weight,
            })
        })
        .collect()
}

fn rules(text: &str) -> Result<Vec<RuleSettings>, ApiFailure> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    toml::from_str::<Rules>(text).map(|r| r.rules).map_err(|e| {
        let line = e.span().map_or(0, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        });
        ApiFailure::field(
            "rules",
            format!("line {line}: {}", e.message().trim().replace('\n', " ")),
        )
    })
}

/// The route the form describes; a stored route of the same name keeps its cache settings.
pub fn parse(f: &RouteForm, existing: &[RouteSummary]) -> Result<RouteSettings, ApiFailure> {
    let name = f.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiFailure::field("name", "must not be empty"));
    }
    let strategy: Strategy = match blank_none(&f.strategy) {
        Some(s) => serde_json::from_value(serde_json::Value::String(s.clone()))
            .map_err(|_| ApiFailure::field("strategy", format!("`{s}` is not a strategy")))?,
        None => Strategy::default(),
    };
    let retries = super::number("retries", &f.retries)?.unwrap_or(0);
    let cache = existing
        .iter()
        .find(|r| r.name == name)
        .and_then(|r| serde_json::from_value::<RouteSettings>(r.definition.clone()).ok())
        .and_then(|r| r.cache);
    Ok(RouteSettings {
        name,
        strategy,
        targets: targets(&f.targets)?,
        fallbacks: list(&f.fallbacks),
        timeout: duration("timeout", &f.timeout)?,
        first_token_timeout: duration("first_token_timeout", &f.first_token_timeout)?,
        retries,
        deadline: duration("deadline", &f.deadline)?.unwrap_or(DEFAULT_DEADLINE),
        fallback_on_context_window: f.fallback_on_context_window.is_some(),
        fallback_on_content_filter: f.fallback_on_content_filter.is_some(),
        rules: rules(&f.rules)?,
        cache,
    })
}

fn human(d: Option<Duration>) -> String {
    d.map(|d| humantime::format_duration(d).to_string())
        .unwrap_or_default()
}

fn target_list(targets: &[TargetSettings], sep: &str) -> String {
    targets
        .iter()
        .map(|t| format!("{}={}", t.model, t.weight))
        .collect::<Vec<_>>()
        .join(sep)
}

/// The form for editing a stored route.
pub fn prefill(definition: &serde_json::Value) -> RouteForm {
    let Ok(r) = serde_json::from_value::<RouteSettings>(definition.clone()) else {
        return RouteForm::default();
    };
    let rules = if r.rules.is_empty() {
        String::new()
    } else {
        toml::to_string(&Rules {
            rules: r.rules.clone(),
        })
        .unwrap_or_default()
    };
    RouteForm {
        name: r.name.clone(),
        strategy: r.strategy.as_str().to_owned(),
        targets: target_list(&r.targets, "\n"),
        fallbacks: r.fallbacks.join(", "),
        timeout: human(r.timeout),
        first_token_timeout: human(r.first_token_timeout),
        deadline: human(Some(r.deadline)),
        retries: r.retries.to_string(),
        fallback_on_context_window: r.fallback_on_context_window.then(|| "on".into()),
        fallback_on_content_filter: r.fallback_on_content_filter.then(|| "on".into()),
        rules,
    }
}

/// A stored route as a table row.
pub fn row(summary: &RouteSummary) -> super::models::RouteRow {
    let parsed = serde_json::from_value::<RouteSettings>(summary.definition.clone()).ok();
    let mut timeouts = Vec::new();
    if let Some(r) = &parsed {
        if let Some(t) = r.timeout {
            timeouts.push(format!("attempt {}", human(Some(t))));
        }
        if let Some(t) = r.first_token_timeout {
            timeouts.push(format!("first token {}", human(Some(t))));
        }
        timeouts.push(format!("deadline {}", human(Some(r.deadline))));
        if r.retries > 0 {
            timeouts.push(format!("{} retries", r.retries));
        }
    }
    super::models::RouteRow {
        name: summary.name.clone(),
        strategy: summary.strategy.clone(),
        targets: parsed
            .as_ref()
            .map(|r| target_list(&r.targets, ", "))
            .unwrap_or_default(),
        fallbacks: parsed
            .as_ref()
            .map(|r| r.fallbacks.join(", "))
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| "—".into()),
        rules: parsed.as_ref().map_or(0, |r| r.rules.len()),
        timeouts: timeouts.join(" · "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_round_trips_through_the_form() {
        let form = RouteForm {
            name: "chat".into(),
            strategy: "ordered".into(),
            targets: "small=3\nlarge".into(),
            fallbacks: "large".into(),
            timeout: "10s".into(),
            deadline: "1m".into(),
            retries: "2".into(),
            rules: "[[rules]]\nwhen = { tag = \"vip\" }\ntargets = [{ model = \"large\" }]\n"
                .into(),
            ..RouteForm::default()
        };
        let route = parse(&form, &[]).unwrap();
        assert_eq!(route.targets[0].weight, 3);
        assert_eq!(route.targets[1].weight, 1);
        assert_eq!(route.rules.len(), 1);
        let back = prefill(&serde_json::to_value(&route).unwrap());
        assert_eq!(back.targets, "small=3\nlarge=1");
        assert_eq!(back.timeout, "10s");
        assert_eq!(back.deadline, "1m");
        assert!(back.rules.contains("vip"));
        assert_eq!(parse(&back, &[]).unwrap().rules.len(), 1);
    }

    #[test]
    fn errors_name_the_field() {
        let field = |f: RouteForm| match parse(&f, &[]) {
            Err(ApiFailure::Invalid { field, .. }) => field.unwrap_or_default(),
            other => panic!("{other:?}"),
        };
        let base = || RouteForm {
            name: "r".into(),
            targets: "a".into(),
            ..RouteForm::default()
        };
        assert_eq!(
            field(RouteForm {
                targets: "a=x".into(),
                ..base()
            }),
            "targets"
        );
        assert_eq!(
            field(RouteForm {
                timeout: "soon".into(),
                ..base()
            }),
            "timeout"
        );
        assert_eq!(
            field(RouteForm {
                rules: "[[rules]]\nwhen = { colour = 1 }".into(),
                ..base()
            }),
            "rules"
        );
        assert_eq!(
            field(RouteForm {
                strategy: "random".into(),
                ..base()
            }),
            "strategy"
        );
    }
}
