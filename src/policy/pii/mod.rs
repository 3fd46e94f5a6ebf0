//! PII redaction with reversible masking. A tenant, team or key policy names an action per kind
//! of personal data (email, phone, card, SSN, IBAN, IP, secret, or a tenant-defined regex);
//! the effective policy of each key is compiled once per snapshot, and the data path applies it
//! to a request before it is cached, logged or sent. Tokenized values are restored in the answer
//! the caller sees, streamed or not.

pub mod detect;
pub mod levels;
pub mod policy;
pub mod restore;
pub mod scrub;
pub mod validate;

use std::sync::Arc;

pub use detect::Detectors;
pub use policy::{Action, CustomRule, PiiPolicy, PiiType};
pub use restore::{Restorer, StreamRestorer};

use crate::providers::types::ChatRequest;
use crate::providers::{ErrorKind, Origin, ProviderError};

/// The error code of a request refused by a `block` rule.
pub const BLOCKED_CODE: &str = "pii_blocked";

/// What applying a key's policy to a request means for the rest of the call.
#[derive(Debug, Default)]
pub struct Protection {
    /// The request text changed: the caller's raw body must not be forwarded as is.
    pub rewritten: bool,
    /// Tokenized values to restore in the answer (`None`: nothing to restore).
    pub restorer: Option<Arc<Restorer>>,
    /// Findings per type, as the JSON stored in `request_logs.pii_counts` (`None`: none).
    pub counts: Option<String>,
}

/// Applies `detectors` (the key's compiled policy, if any) to `chat`. A `block` rule that
/// matched is a 400 `pii_blocked` naming the types, never the values; the counts are returned
/// with it for the log.
pub fn protect(
    detectors: Option<&Detectors>,
    chat: &mut ChatRequest,
) -> Result<Protection, (ProviderError, Option<String>)> {
    let Some(detectors) = detectors else {
        return Ok(Protection::default());
    };
    let session = detectors.scrub_chat(chat);
    let counts = (!session.counts.is_empty())
        .then(|| serde_json::to_string(&session.counts).unwrap_or_default());
    if !session.blocked.is_empty() {
        let types: Vec<&str> = session.blocked.iter().map(String::as_str).collect();
        let mut error = ProviderError::new(
            ErrorKind::InvalidRequest,
            format!(
                "The request contains personal data of type {}, which this key's PII policy blocks.",
                types.join(", ")
            ),
        )
        .with_code(BLOCKED_CODE);
        error.origin = Origin::Caller;
        error.status = 400;
        return Err((error, counts));
    }
    Ok(Protection {
        rewritten: session.changed,
        restorer: (!session.restorer.is_empty()).then(|| Arc::new(session.restorer)),
        counts,
    })
}
