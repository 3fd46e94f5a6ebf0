//! One request-log record, and the draft a handler fills in as the request progresses.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::cost;
use super::prices::Prices;
use crate::domain::time::now_millis;
use crate::providers::ProviderError;
use crate::providers::types::Usage;

/// A finished request, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The row's own id (UUIDv7, time-ordered).
    pub id: String,
    /// The `x-request-id` of the call.
    pub request_id: String,
    pub tenant_id: String,
    pub team_id: Option<String>,
    pub key_id: Option<String>,
    /// The caller's end user (`user` field).
    pub end_user: Option<String>,
    pub route: Option<String>,
    pub requested_model: Option<String>,
    /// The deployment (model name) that answered.
    pub served_model: Option<String>,
    pub provider: Option<String>,
    /// `chat.completions`, `messages` or `embeddings`.
    pub endpoint: String,
    pub status: u16,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// `complete`, `incomplete` (a stream cut after it started) or `error`.
    pub outcome: String,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub usage: Usage,
    pub cost_nusd: i64,
    pub attempts: u32,
    pub streamed: bool,
    pub created_at: i64,
    /// `hit`, `semantic-hit`, `miss` or `bypass` (none when the cache was never consulted).
    #[serde(default)]
    pub cache_result: Option<String>,
    /// What a cache hit saved: the cost of the original answer.
    #[serde(default)]
    pub saved_nusd: i64,
    /// The request body, when the tenant logs bodies (after redaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// The response body, when the tenant logs bodies (non-streaming answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// Personal data found per type, as JSON (`{"email":1}`); never the values.
    #[serde(default)]
    pub pii_counts: Option<String>,
}

/// A budget reservation to settle when the request ends.
#[derive(Clone, Debug)]
pub struct Settlement {
    /// Where the reservation was made.
    pub arbiter: crate::policy::budget_arbiter::BudgetArbiter,
    pub charges: Vec<crate::storage::spend::Charge>,
    pub reserved_nusd: i64,
    /// Fires the budget thresholds the settlement crosses.
    pub alerts: crate::alerts::Alerts,
}

impl Settlement {
    /// Releases the reservation and records `actual` (in the background).
    pub fn settle(self, actual: i64) {
        // The local arbiter settles in memory at once (its flusher writes and alerts); only
        // the database arbiter needs a task.
        if let crate::policy::budget_arbiter::BudgetArbiter::Local { ledger, .. } = &self.arbiter {
            ledger.settle(&self.charges, self.reserved_nusd, actual);
            return;
        }
        tokio::spawn(async move {
            match self
                .arbiter
                .settle(&self.charges, self.reserved_nusd, actual)
                .await
            {
                Ok(Some(spent)) => self.alerts.check_budgets(&self.charges, &spent).await,
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "budget settlement failed; the reservation stays held");
                }
            }
        });
    }
}

/// What a handler knows so far about its request.
#[derive(Clone, Debug)]
pub struct LogDraft {
    started: Instant,
    created_at: i64,
    pub request_id: String,
    pub endpoint: &'static str,
    pub tenant_id: Option<String>,
    pub team_id: Option<String>,
    pub key_id: Option<String>,
    pub end_user: Option<String>,
    pub requested_model: Option<String>,
    pub route: Option<String>,
    pub served_model: Option<String>,
    pub provider: Option<String>,
    pub prices: Option<Prices>,
    pub attempts: u32,
    pub usage: Option<Usage>,
    pub streamed: bool,
    /// Set when a stream took the draft over (it logs when the stream ends).
    pub handed_off: bool,
    /// The budget reservation, settled with the actual cost when the draft is finished.
    pub settlement: Option<Settlement>,
    /// What the response cache did (`hit`, `semantic-hit`, `miss`, `bypass`).
    pub cache_result: Option<&'static str>,
    /// What a cache hit saved.
    pub saved_nusd: i64,
    /// Where the answer goes when it should be cached (set on a cache miss).
    pub cache: Option<crate::cache::Capture>,
    /// The credit reservation (credits-billed models), settled with the actual cost.
    pub credits: Option<crate::billing::hold::CreditHold>,
    /// Whether the tenant logs bodies.
    pub log_bodies: bool,
    /// The request body to log (only when `log_bodies`).
    pub request_body: Option<String>,
    /// The response body to log (only when `log_bodies`).
    pub response_body: Option<String>,
    /// Concurrency slots and token estimates held until the request ends.
    pub hold: Option<std::sync::Arc<crate::policy::limits::Hold>>,
    /// PII findings per type (JSON), when the key has a PII policy and something was found.
    pub pii_counts: Option<String>,
}

impl LogDraft {
    /// A draft started now.
    pub fn new(request_id: String, endpoint: &'static str) -> Self {
        Self {
            started: Instant::now(),
            created_at: now_millis(),
            request_id,
            endpoint,
            tenant_id: None,
            team_id: None,
            key_id: None,
            end_user: None,
            requested_model: None,
            route: None,
            served_model: None,
            provider: None,
            prices: None,
            attempts: 0,
            usage: None,
            streamed: false,
            handed_off: false,
            settlement: None,
            pii_counts: None,
            cache_result: None,
            saved_nusd: 0,
            cache: None,
            credits: None,
            hold: None,
            log_bodies: false,
            request_body: None,
            response_body: None,
        }
    }

    /// Keeps the request body for the log when the tenant logs bodies.
    pub fn capture_request(&mut self, body: impl FnOnce() -> String) {
        if self.log_bodies {
            self.request_body = Some(cap(body()));
        }
    }

    /// Keeps the response body for the log when the tenant logs bodies.
    pub fn capture_response(&mut self, body: &[u8]) {
        if self.log_bodies {
            self.response_body = Some(cap(String::from_utf8_lossy(body).into_owned()));
        }
    }

    /// The final record; `None` when the caller was never identified (nothing to attribute).
    pub fn finish(
        mut self,
        status: u16,
        error: Option<&ProviderError>,
        outcome: &str,
        ttft_ms: Option<i64>,
    ) -> Option<LogRecord> {
        let usage = self.usage.unwrap_or_default();
        let cost = self.prices.map_or(0, |p| cost::of(&p, &usage).0);
        if let Some(settlement) = self.settlement.take() {
            settlement.settle(cost);
        }
        if let Some(credits) = self.credits.take() {
            credits.settle(self.served_model.as_deref(), cost);
        }
        if let Some(hold) = self.hold.take() {
            hold.reconcile(usage.prompt_tokens + usage.completion_tokens);
        }
        let tenant_id = self.tenant_id?;
        Some(LogRecord {
            id: uuid::Uuid::now_v7().to_string(),
            request_id: self.request_id,
            tenant_id,
            team_id: self.team_id,
            key_id: self.key_id,
            end_user: self.end_user,
            route: self.route,
            requested_model: self.requested_model,
            served_model: self.served_model,
            provider: self.provider,
            endpoint: self.endpoint.to_owned(),
            status,
            error_code: error.and_then(|e| e.code.clone()),
            error_message: error.map(|e| e.message.chars().take(500).collect()),
            outcome: outcome.to_owned(),
            latency_ms: i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
            ttft_ms,
            usage,
            cost_nusd: cost,
            attempts: self.attempts,
            streamed: self.streamed,
            created_at: self.created_at,
            cache_result: self.cache_result.map(str::to_owned),
            saved_nusd: self.saved_nusd,
            request_body: self.request_body,
            response_body: self.response_body,
            pii_counts: self.pii_counts,
        })
    }
}

/// Largest body kept in the log, in bytes.
pub const MAX_LOGGED_BODY: usize = 256 * 1024;

/// Truncates a body to [`MAX_LOGGED_BODY`] on a character boundary.
fn cap(mut body: String) -> String {
    if body.len() > MAX_LOGGED_BODY {
        let mut end = MAX_LOGGED_BODY;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
        body.push_str("…[truncated]");
    }
    body
}
