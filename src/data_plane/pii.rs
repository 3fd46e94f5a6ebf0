//! The data path's use of PII policies: scrub the request (noting counts in the log draft), and
//! wrap the stream encoder so tokenized values come back restored.

use super::relay::Encoder;
use crate::metering::log::LogDraft;
use crate::policy::pii::{self, Protection, StreamRestorer};
use crate::policy::snapshot::KeyPolicy;
use crate::providers::ProviderError;
use crate::providers::types::ChatRequest;

/// Applies the key's PII policy to `chat` (nothing at all when the key has none). A `block`
/// finding is a 400 `pii_blocked`.
pub fn protect(
    key: &KeyPolicy,
    chat: &mut ChatRequest,
    draft: &mut LogDraft,
) -> Result<Protection, ProviderError> {
    match pii::protect(key.pii.as_deref(), chat) {
        Ok(protection) => {
            draft.pii_counts.clone_from(&protection.counts);
            Ok(protection)
        }
        Err((error, counts)) => {
            draft.pii_counts = counts;
            Err(error)
        }
    }
}

/// `encoder`, restoring tokenized values first when the request had any.
pub fn restoring(encoder: Encoder, protection: &Protection) -> Encoder {
    match &protection.restorer {
        Some(restorer) => {
            Encoder::Restoring(Box::new(encoder), StreamRestorer::new(restorer.clone()))
        }
        None => encoder,
    }
}

/// A cache hit as this caller must see it: tokenized values in the stored answer restored with
/// this request's own values (the cache only ever holds placeholders).
pub fn restored_hit(hit: crate::cache::Hit, protection: &Protection) -> crate::cache::Hit {
    match &protection.restorer {
        Some(restorer) => {
            let mut entry = (*hit.entry).clone();
            restorer.restore_response(&mut entry.answer);
            crate::cache::Hit {
                entry: std::sync::Arc::new(entry),
                semantic: hit.semantic,
            }
        }
        None => hit,
    }
}

/// The request body the log may keep: the caller's own JSON, or — when the policy changed
/// anything — the scrubbed request, so personal data never reaches the log.
pub fn loggable_request(
    raw: &impl serde::Serialize,
    chat: &ChatRequest,
    protection: &Protection,
) -> String {
    if protection.rewritten {
        serde_json::to_string(chat)
    } else {
        serde_json::to_string(raw)
    }
    .unwrap_or_default()
}
