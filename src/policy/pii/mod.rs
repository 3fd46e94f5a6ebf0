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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::types::{Message, Role, ToolCall};

    fn chat() -> ChatRequest {
        let mut assistant = Message::text(Role::Assistant, "");
        assistant.tool_calls.push(ToolCall {
            id: "call_1".into(),
            name: "pay".into(),
            arguments: r#"{"card":"4242 4242 4242 4242"}"#.into(),
            signature: None,
        });
        let mut tool = Message::text(Role::Tool, "sent to jane@example.com");
        tool.tool_call_id = Some("call_1".into());
        ChatRequest {
            messages: vec![
                Message::text(Role::System, "Admin: ops@example.com"),
                Message::text(
                    Role::User,
                    "Charge 4242 4242 4242 4242 for jane@example.com",
                ),
                assistant,
                tool,
            ],
            ..Default::default()
        }
    }

    fn detectors(email: Action, card: Action) -> Detectors {
        let policy = PiiPolicy {
            email: Some(email),
            card: Some(card),
            ..Default::default()
        };
        Detectors::compile(&policy).unwrap().unwrap()
    }

    #[test]
    fn every_role_and_tool_arguments_are_scrubbed() {
        let mut req = chat();
        let p = protect(Some(&detectors(Action::Tokenize, Action::Redact)), &mut req).unwrap();
        assert!(p.rewritten);
        let texts: Vec<String> = req.messages.iter().map(Message::joined_text).collect();
        assert_eq!(texts[0], "Admin: [EMAIL_1]");
        assert_eq!(texts[1], "Charge [CARD] for [EMAIL_2]");
        assert_eq!(
            req.messages[2].tool_calls[0].arguments,
            r#"{"card":"[CARD]"}"#
        );
        assert_eq!(texts[3], "sent to [EMAIL_2]");
        assert_eq!(p.counts.as_deref(), Some(r#"{"card":2,"email":3}"#));
        let restorer = p.restorer.unwrap();
        assert_eq!(restorer.restore("[EMAIL_2]", false), "jane@example.com");
    }

    #[test]
    fn block_names_the_type_and_never_the_value() {
        let mut req = chat();
        let (error, counts) =
            protect(Some(&detectors(Action::Redact, Action::Block)), &mut req).unwrap_err();
        assert_eq!(error.status, 400);
        assert_eq!(error.code.as_deref(), Some(BLOCKED_CODE));
        assert!(error.message.contains("card"));
        assert!(!error.message.contains("4242"));
        assert!(counts.unwrap().contains("\"card\":2"));
    }

    #[test]
    fn no_policy_changes_nothing() {
        let mut req = chat();
        let p = protect(None, &mut req).unwrap();
        assert!(!p.rewritten && p.restorer.is_none() && p.counts.is_none());
        assert_eq!(req, chat());
    }
}
