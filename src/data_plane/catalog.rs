//! The model catalog the data path routes with: each model name clients may send, the provider
//! account that serves it and how to reach it. Built once at start from the configuration.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{ModelMode, ModelSettings, Settings};
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
}

impl Deployment {
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
            let deployment = Arc::new(Deployment {
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
            });
            catalog
                .by_name
                .insert(model.name.clone(), deployment.clone());
            catalog.order.push(deployment);
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
