//! The response cache the `/v1` chat handlers consult after admission, limits and budget
//! reservation and before routing: exact matches (a SHA-256 of the tenant, namespace, route and
//! the canonical request) and, with an embedding model configured, semantic matches (the
//! nearest earlier prompt of the same tenant, route and parameters above a cosine threshold).
//! Answers are stored in unified form, so a hit is rendered in the caller's format, streamed or
//! not. Errors, unfinished streams and tool-call answers to `n > 1` requests are never cached.

pub mod assemble;
mod embed;
pub mod key;
mod pg_index;
pub mod policy;
mod render;
pub mod semantic;
mod shared_index;
pub mod store;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;

use crate::config::Settings;
use crate::domain::time::now_millis;
use crate::metering::log::LogDraft;
use crate::observability::metrics::Metrics;
use crate::policy::snapshot::KeyPolicy;
use crate::providers::types::{ChatRequest, ChatResponse, StreamEvent, Usage};
use crate::state::AppState;
use crate::storage::Db;

pub use render::{Surface, respond};
pub use store::CachedAnswer;

use assemble::Assembler;
use pg_index::PgVectorIndex;
use semantic::SemanticIndex;
use store::ExactStore;

/// Response header naming what the cache did: `hit`, `semantic-hit`, `miss` or `bypass`.
pub const CACHE_HEADER: &str = "x-switchyard-cache";

/// The process's response cache.
pub struct ResponseCache {
    exact: Arc<ExactStore>,
    semantic: Arc<SemanticIndex>,
    /// The shared semantic index in Postgres, when the database has pgvector (otherwise the
    /// shared index is Redis, when configured).
    pgvector: Option<Arc<PgVectorIndex>>,
}

impl ResponseCache {
    /// The cache for `settings` (Redis-shared when `redis_url` is set; the semantic index is
    /// shared through `db` instead when it is Postgres with pgvector).
    pub async fn new(settings: &Settings, db: &Db, metrics: Metrics) -> Self {
        let exact = ExactStore::new(
            settings.cache.max_bytes,
            settings.redis_url.as_ref().map(|u| u.expose()),
            metrics,
        )
        .await;
        let pgvector = match db {
            Db::Postgres(pool) if settings.cache.embedding_model.is_some() => {
                PgVectorIndex::detect(pool).await.map(Arc::new)
            }
            _ => None,
        };
        Self {
            exact: Arc::new(exact),
            semantic: Arc::new(SemanticIndex::new(settings.cache.max_entries)),
            pgvector,
        }
    }
}

/// A found answer and how it was found.
pub struct Hit {
    pub entry: Arc<CachedAnswer>,
    pub semantic: bool,
}

/// Where a missed request's answer goes once it is complete (carried in the log draft, and
/// through a stream's relay).
#[derive(Clone)]
pub struct Capture {
    exact: Arc<ExactStore>,
    key: String,
    ttl: Duration,
    /// Where the prompt's vector goes: the semantic index, partition and unit vector.
    semantic: Option<SemanticCapture>,
    /// The request asked for several choices and did not opt in to caching tool-call answers
    /// (`x-switchyard-cache-tool-calls: true`): an answer with tool calls is not stored.
    skip_tool_calls: bool,
    assembler: Assembler,
}

/// A missed prompt's place in the semantic indexes.
#[derive(Clone)]
struct SemanticCapture {
    index: Arc<SemanticIndex>,
    pgvector: Option<Arc<PgVectorIndex>>,
    tenant: String,
    partition: String,
    vector: Vec<f32>,
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// Observes one event of the streamed answer.
    pub fn observe(&mut self, event: &StreamEvent) {
        self.assembler.observe(event);
    }

    async fn store(self, answer: ChatResponse, cost_nusd: i64, provider: String, served: String) {
        if self.skip_tool_calls && store::has_tool_calls(&answer) {
            return;
        }
        let expires_at = now_millis() + i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 2);
        self.exact
            .put(
                self.key.clone(),
                CachedAnswer {
                    answer,
                    cost_nusd,
                    provider,
                    served_model: served,
                    expires_at,
                },
            )
            .await;
        if let Some(s) = self.semantic {
            match &s.pgvector {
                Some(pg) => {
                    pg.insert(&s.tenant, &s.partition, &s.vector, &self.key, expires_at)
                        .await;
                }
                None => {
                    shared_index::insert(
                        &self.exact,
                        &s.partition,
                        &s.vector,
                        &self.key,
                        expires_at,
                    )
                    .await;
                }
            }
            s.index.insert(&s.partition, s.vector, self.key, expires_at);
        }
    }
}

/// Looks the request up. On a hit the answer is returned and the draft notes the saving (the
/// handler then answers from it at no cost); on a miss the draft carries where to store the
/// answer; `x-switchyard-cache` is set from `draft.cache_result` either way. PII redaction, when
/// enabled, has already rewritten `chat` (it runs before this lookup).
pub async fn lookup(
    state: &AppState,
    req: &HttpRequest,
    key: &KeyPolicy,
    route: &str,
    chat: &ChatRequest,
    draft: &mut LogDraft,
) -> Option<Hit> {
    let effective = policy::effective(state, key, route, req.headers());
    let result = if effective.enabled && (effective.read || effective.write) {
        // Boxed: the lookup's state (shared index, embedding call) is large, and a request
        // without caching should not carry it in its own future.
        Box::pin(lookup_inner(state, req, key, route, chat, draft, effective)).await
    } else {
        None
    };
    let label = match &result {
        Some(Hit { semantic: true, .. }) => "semantic-hit",
        Some(_) => "hit",
        None if draft.cache.is_some() && draft.cache_result.is_none() => "miss",
        None => "bypass",
    };
    draft.cache_result = Some(label);
    state.metrics.count_cache(label);
    if let Some(hit) = &result {
        draft.saved_nusd = hit.entry.cost_nusd;
        draft.served_model = Some(hit.entry.served_model.clone());
    }
    result
}

/// [`lookup`] once caching applies to the request.
async fn lookup_inner(
    state: &AppState,
    req: &HttpRequest,
    key: &KeyPolicy,
    route: &str,
    chat: &ChatRequest,
    draft: &mut LogDraft,
    effective: policy::Effective,
) -> Option<Hit> {
    let cache = &state.cache;
    let scope = key::Scope {
        tenant: key.tenant_id.clone(),
        namespace: effective.namespace.clone(),
        route: route.to_owned(),
    };
    let exact_key = key::exact(&scope, chat);
    // Several choices with tool calls are only cached, and only served from the cache, when the
    // request opts in.
    let skip_tool_calls = chat.n.is_some_and(|n| n > 1) && !effective.tool_calls;
    let servable = |entry: &CachedAnswer| !(skip_tool_calls && entry.has_tool_calls());
    if effective.read
        && let Some(entry) = cache.exact.get(&exact_key).await
        && servable(&entry)
    {
        return Some(Hit {
            entry,
            semantic: false,
        });
    }
    let mut capture = Capture {
        exact: cache.exact.clone(),
        key: exact_key,
        ttl: effective.ttl,
        semantic: None,
        skip_tool_calls,
        assembler: Assembler::default(),
    };
    let semantic = match (&effective.embedding_model, effective.exact_only) {
        // Vectors of different embedding models are never compared: the model is part of the
        // partition.
        (Some(model), false) => {
            key::semantic(&scope, chat).map(|(p, text)| (model, (format!("{p}:{model}"), text)))
        }
        _ => None,
    };
    if let Some((model, (partition, text))) = semantic
        && let Some(vector) = embed::embed(state, req, key, draft, model, &text).await
    {
        if effective.read
            && let Some(entry) = semantic_match(
                cache,
                &scope.tenant,
                &partition,
                &vector,
                effective.threshold,
            )
            .await
            && servable(&entry)
        {
            return Some(Hit {
                entry,
                semantic: true,
            });
        }
        capture.semantic = Some(SemanticCapture {
            index: cache.semantic.clone(),
            pgvector: cache.pgvector.clone(),
            tenant: scope.tenant.clone(),
            partition,
            vector,
        });
    }
    if effective.write {
        draft.cache = Some(capture);
    }
    if !effective.read {
        // `Cache-Control: no-cache`: stored, but not looked up.
        draft.cache_result = Some("bypass");
    }
    None
}

fn served(draft: &LogDraft) -> (String, String) {
    (
        draft.provider.clone().unwrap_or_default(),
        draft.served_model.clone().unwrap_or_default(),
    )
}

/// The answer of the nearest earlier prompt at or above `threshold`: in this process's index
/// first, then in the shared index (pgvector when available, else Redis).
async fn semantic_match(
    cache: &ResponseCache,
    tenant: &str,
    partition: &str,
    vector: &[f32],
    threshold: f64,
) -> Option<Arc<CachedAnswer>> {
    let local = cache.semantic.nearest(partition, vector);
    let found = match local {
        Some((key, similarity)) if f64::from(similarity) >= threshold => Some((key, similarity)),
        _ => match &cache.pgvector {
            Some(pg) => pg.nearest(tenant, partition, vector).await,
            None => shared_index::nearest(&cache.exact, partition, vector).await,
        }
        .filter(|(_, similarity)| f64::from(*similarity) >= threshold),
    };
    let (key, similarity) = found?;
    tracing::debug!(similarity, "semantic cache hit");
    cache.exact.get(&key).await
}

/// Stores a complete answer when the request's draft says it should be cached (in process, and
/// in Redis within 50 ms, before the caller gets the answer).
pub async fn store(draft: &mut LogDraft, answer: &ChatResponse) {
    if let Some(capture) = draft.cache.take() {
        let cost = draft
            .prices
            .map_or(0, |p| crate::metering::cost::of(&p, &answer.usage).0);
        let (provider, served) = served(draft);
        // Boxed, like the lookup: uncached requests keep a small future.
        Box::pin(capture.store(answer.clone(), cost, provider, served)).await;
    }
}

/// Stores a streamed answer that ended cleanly (called by the relay at the end of the stream).
pub fn store_stream(draft: &mut LogDraft, usage: Usage) {
    if let Some(capture) = draft.cache.take() {
        let cost = draft
            .prices
            .map_or(0, |p| crate::metering::cost::of(&p, &usage).0);
        if let Some(answer) = capture.assembler.clone().finish(usage) {
            let (provider, served) = served(draft);
            // The first poll stores the entry locally (synchronously, before the stream's last
            // event leaves); the shared (Redis) write, if any, finishes in the background.
            let mut store = Box::pin(capture.store(answer, cost, provider, served));
            if futures_util::FutureExt::now_or_never(&mut store).is_none() {
                tokio::spawn(store);
            }
        }
    }
}

/// Sets `x-switchyard-cache` on a response from the draft's cache outcome.
pub fn mark(res: &mut actix_web::HttpResponse, draft: &LogDraft) {
    let value = draft.cache_result.unwrap_or("bypass");
    res.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static(CACHE_HEADER),
        actix_web::http::header::HeaderValue::from_static(value),
    );
}
