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
