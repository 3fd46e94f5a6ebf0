//! Routing: turning the name a client sends into an ordered plan of deployments (rules,
//! balancing strategy, fallbacks), and the health that reorders and ejects deployments.

pub mod backoff;
pub mod health;
pub mod rules;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::config::{ModelMode, RouteSettings, Strategy, TargetSettings};
use crate::data_plane::catalog::{Catalog, Deployment};
use health::Health;
use rules::{Features, Matcher};

/// Why no plan could be made.
#[derive(Debug, PartialEq, Eq)]
pub enum PlanError {
    /// Neither a route nor a model of that name.
    Unknown,
    /// Known, but serves another kind of call (chat vs embeddings).
    WrongMode,
}

/// The deployments to try for one request, in order, and how.
#[derive(Debug)]
pub struct Plan {
    /// The route (or, for a plain model, the model) name.
    pub route: String,
    pub candidates: Vec<Arc<Deployment>>,
    /// Per-attempt limit; `None` uses each deployment's provider timeout.
    pub timeout: Option<Duration>,
    /// Streams: limit on the wait for the first event.
    pub first_token_timeout: Option<Duration>,
    /// Retries per candidate.
    pub retries: u32,
    /// Bound on the whole request.
    pub deadline: Duration,
    pub fallback_on_context_window: bool,
    pub fallback_on_content_filter: bool,
}

struct Rule {
    matcher: Matcher,
    targets: Vec<(Arc<Deployment>, u32)>,
}

struct Route {
    settings: RouteSettings,
    targets: Vec<(Arc<Deployment>, u32)>,
    fallbacks: Vec<Arc<Deployment>>,
    rules: Vec<Rule>,
}

/// Every configured route.
#[derive(Default)]
pub struct Router {
    routes: HashMap<String, Route>,
}

fn resolve(catalog: &Catalog, targets: &[TargetSettings]) -> Vec<(Arc<Deployment>, u32)> {
    targets
        .iter()
        .filter_map(|t| catalog.get(&t.model).map(|d| (d.clone(), t.weight)))
        .collect()
}

impl Router {
    /// Builds the routes from validated settings.
    pub fn new(routes: &[RouteSettings], catalog: &Catalog) -> Result<Self, regex::Error> {
        let mut built = HashMap::new();
        for r in routes {
            let rules = r
                .rules
                .iter()
                .map(|rule| {
                    Ok(Rule {
                        matcher: Matcher::new(rule.when.clone())?,
                        targets: resolve(catalog, &rule.targets),
                    })
                })
                .collect::<Result<Vec<_>, regex::Error>>()?;
            built.insert(
                r.name.clone(),
                Route {
                    targets: resolve(catalog, &r.targets),
                    fallbacks: r
                        .fallbacks
                        .iter()
                        .filter_map(|f| catalog.get(f).cloned())
                        .collect(),
                    rules,
                    settings: r.clone(),
                },
            );
        }
        Ok(Self { routes: built })
    }

    /// Whether `name` is a route.
    pub fn has_route(&self, name: &str) -> bool {
        self.routes.contains_key(name)
    }

    /// The cache settings of route `name` (`[[routes]] cache = { … }`), if it has any.
    pub fn cache_settings(&self, name: &str) -> Option<&crate::config::CacheOverrides> {
        self.routes.get(name)?.settings.cache.as_ref()
    }

    /// The plan for a request naming `name`.
    pub fn plan(
        &self,
        catalog: &Catalog,
        health: &Health,
        name: &str,
        mode: ModelMode,
        features: &Features<'_>,
    ) -> Result<Plan, PlanError> {
        let Some(route) = self.routes.get(name) else {
            let deployment = catalog.get(name).ok_or(PlanError::Unknown)?;
            if deployment.mode != mode {
                return Err(PlanError::WrongMode);
            }
            return Ok(Plan {
                route: name.to_owned(),
                candidates: vec![deployment.clone()],
                timeout: None,
                first_token_timeout: None,
                retries: 0,
                deadline: deployment.timeout,
                fallback_on_context_window: false,
                fallback_on_content_filter: false,
            });
        };
        let targets = route
            .rules
            .iter()
            .find(|rule| rule.matcher.matches(features))
            .map_or(&route.targets, |rule| &rule.targets);
        let mut candidates = order(route.settings.strategy, targets, health);
        for f in &route.fallbacks {
            if !candidates.iter().any(|c| Arc::ptr_eq(c, f)) {
                candidates.push(f.clone());
            }
        }
        candidates.retain(|d| d.mode == mode);
        if candidates.is_empty() {
            return Err(PlanError::WrongMode);
        }
        // Ejected deployments go last: tried only if every healthy one fails.
        candidates.sort_by_key(|d| health.is_ejected(&d.health_key));
        let s = &route.settings;
        Ok(Plan {
            route: name.to_owned(),
            candidates,
            timeout: s.timeout,
            first_token_timeout: s.first_token_timeout,
            retries: s.retries,
            deadline: s.deadline,
            fallback_on_context_window: s.fallback_on_context_window,
            fallback_on_content_filter: s.fallback_on_content_filter,
        })
    }
}

/// Orders a route's targets by its strategy.
fn order(
    strategy: Strategy,
    targets: &[(Arc<Deployment>, u32)],
    health: &Health,
) -> Vec<Arc<Deployment>> {
    let mut ordered: Vec<(Arc<Deployment>, u32)> = targets.to_vec();
    match strategy {
        Strategy::Ordered => {}
        Strategy::Weighted => {
            let total: u64 = ordered.iter().map(|(_, w)| u64::from(*w)).sum();
            if total > 0 {
                let mut pick = rand::rng().random_range(0..total);
                let chosen = ordered
                    .iter()
                    .position(|(_, w)| {
                        let hit = pick < u64::from(*w);
                        pick = pick.saturating_sub(u64::from(*w));
                        hit
                    })
                    .unwrap_or(0);
                let first = ordered.remove(chosen);
                ordered.sort_by_key(|(_, w)| std::cmp::Reverse(*w));
                ordered.insert(0, first);
            }
        }
        Strategy::LowestLatency => ordered.sort_by(|a, b| {
            let la = health.latency_ms(&a.0.health_key).unwrap_or(0.0);
            let lb = health.latency_ms(&b.0.health_key).unwrap_or(0.0);
            la.total_cmp(&lb)
        }),
        Strategy::LeastBusy => ordered.sort_by_key(|(d, _)| health.in_flight(&d.health_key)),
        Strategy::Cheapest => ordered.sort_by(|a, b| price(&a.0).total_cmp(&price(&b.0))),
    }
    ordered.into_iter().map(|(d, _)| d).collect()
}

fn price(d: &Deployment) -> f64 {
    match (
        d.settings.input_usd_per_mtok,
        d.settings.output_usd_per_mtok,
    ) {
        (Some(i), Some(o)) => i + o,
        _ => f64::MAX,
    }
}
