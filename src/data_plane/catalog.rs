//! The model catalog the data path routes with: each model name clients may send, the provider
//! account that serves it and how to reach it. Built once at start from the configuration.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{ModelMode, ModelSettings, ProviderSettings, Settings};
use crate::metering::prices::Prices;
use crate::providers::{ProviderKind, Target};

/// Anthropic requires `max_tokens`; this is sent when neither caller nor model config give one.
const FALLBACK_MAX_TOKENS: u32 = 4096;

/// One servable model.
#[derive(Debug)]
pub struct Deployment {
    /// The name clients send.
    pub name: String,
    pub mode: ModelMode,
    /// How to call it (strict off; the request decides).
    pub target: Target,
    /// Per-attempt time limit.
    pub timeout: Duration,
    /// The model's configuration (prices, limits).
    pub settings: ModelSettings,
    /// Effective prices (configured, else built-in); `None` when unpriced.
    pub prices: Option<Prices>,
    /// The key of its circuit breaker and load figures: its name for platform models, unique per
    /// tenant for a tenant's own (so one tenant's failing key never ejects anyone else's).
    pub health_key: String,
    /// Served with a tenant's own credential at a tenant-supplied URL: called through the
    /// egress-guarded client.
    pub guarded: bool,
}

impl Deployment {
    /// A deployment of `model` on `provider`.
    pub fn new(
        model: &ModelSettings,
        provider: &ProviderSettings,
        health_key: String,
        guarded: bool,
    ) -> Self {
        Deployment {
            name: model.name.clone(),
            mode: model.mode,
            target: Target {
                provider: provider.name.clone(),
                kind: provider.kind,
                base_url: provider.base_url.trim_end_matches('/').to_owned(),
                api_key: provider
                    .api_key
                    .as_ref()
                    .map(|k| k.expose().to_owned())
                    .unwrap_or_default(),
                upstream_model: model.upstream_id().to_owned(),
                api_version: provider.api_version.clone(),
                default_max_tokens: model.max_output_tokens.unwrap_or(FALLBACK_MAX_TOKENS),
                strict: false,
            },
            timeout: provider.timeout,
            prices: crate::metering::prices::for_model(model),
            settings: model.clone(),
            health_key,
            guarded,
        }
    }

    /// The target with the request's strict-mode flag.
    pub fn target(&self, strict: bool) -> Target {
        let mut target = self.target.clone();
        target.strict = strict;
        target
    }

    /// The provider kind.
    pub fn kind(&self) -> ProviderKind {
        self.target.kind
    }
}

/// Every servable model by name, in configuration order for listings.
#[derive(Debug, Default)]
pub struct Catalog {
    by_name: HashMap<String, Arc<Deployment>>,
    order: Vec<Arc<Deployment>>,
}

impl Catalog {
    /// Builds the catalog from validated settings.
    pub fn from_settings(settings: &Settings) -> Self {
        let mut catalog = Catalog::default();
        for model in &settings.models {
            let Some(provider) = settings.providers.iter().find(|p| p.name == model.provider)
            else {
                continue;
            };
            catalog.insert(Arc::new(Deployment::new(
                model,
                provider,
                model.name.clone(),
                false,
            )));
        }
        catalog
    }

    fn insert(&mut self, deployment: Arc<Deployment>) {
        let replaced = self
            .by_name
            .insert(deployment.name.clone(), deployment.clone());
        if let Some(old) = replaced {
            self.order.retain(|d| !Arc::ptr_eq(d, &old));
        }
        self.order.push(deployment);
    }

    /// This catalog with `extra` deployments added, shadowing any of the same name.
    pub fn overlay(&self, extra: impl IntoIterator<Item = Arc<Deployment>>) -> Catalog {
        let mut catalog = Catalog {
            by_name: self.by_name.clone(),
            order: self.order.clone(),
        };
        for d in extra {
            catalog.insert(d);
        }
        catalog
    }

    /// The deployment for a model name.
    pub fn get(&self, name: &str) -> Option<&Arc<Deployment>> {
        self.by_name.get(name)
    }

    /// All deployments in configuration order.
    pub fn all(&self) -> &[Arc<Deployment>] {
        &self.order
    }
}
