//! The canonical form of a chat request: every field that affects the answer, and none that
//! does not (`stream`, stream options, `user`, metadata and tags), so a streamed and a plain
//! call of the same prompt share one entry. JSON object keys are sorted (serde_json's default
//! map), so the form is independent of the order the caller wrote fields in.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::providers::types::{ChatRequest, Role};

/// Passthrough fields that never change the answer.
const IGNORED_EXTRA: &[&str] = &[
    "stream",
    "stream_options",
    "user",
    "metadata",
    "store",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
];

/// Where an entry lives: tenant, namespace and the model or route the caller named. The tenant
/// is part of every key and every partition, so a lookup can never reach another tenant's data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub tenant: String,
    pub namespace: String,
    pub route: String,
}

/// The request with the fields that do not affect the answer cleared.
fn canonical(chat: &ChatRequest) -> ChatRequest {
    let mut c = chat.clone();
    c.stream = false;
    c.include_usage = false;
    c.user = None;
    c.metadata = None;
    for k in IGNORED_EXTRA {
        c.extra.remove(*k);
    }
    c
}

fn digest(scope: &Scope, kind: &str, body: &Value) -> String {
    let mut h = Sha256::new();
    for part in [
        kind,
        scope.tenant.as_str(),
        scope.namespace.as_str(),
        scope.route.as_str(),
    ] {
        // Length-prefixed, so no two different scopes hash the same bytes.
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.update(body.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// The exact-cache key: SHA-256 over the scope and the canonical request.
pub fn exact(scope: &Scope, chat: &ChatRequest) -> String {
    let body = serde_json::to_value(canonical(chat)).unwrap_or(Value::Null);
    digest(scope, "exact", &body)
}

/// The semantic partition and the text to embed: the last user turn is embedded, and
/// everything else (system prompt, earlier turns, tools, parameters) must match exactly, so it
/// is hashed into the partition. `None` when there is no user text to embed.
pub fn semantic(scope: &Scope, chat: &ChatRequest) -> Option<(String, String)> {
    let mut c = canonical(chat);
    let last = c.messages.iter().rposition(|m| m.role == Role::User)?;
    let message = c.messages.remove(last);
    if message
        .content
        .iter()
        .any(|p| !matches!(p, crate::providers::types::Part::Text { .. }))
    {
        // Images and other non-text parts cannot be compared by text similarity.
        return None;
    }
    let text = message.joined_text();
    if text.trim().is_empty() {
        return None;
    }
    let body = serde_json::to_value(c).unwrap_or(Value::Null);
    Some((digest(scope, "semantic", &body), text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::types::Message;

    fn scope(tenant: &str) -> Scope {
        Scope {
            tenant: tenant.into(),
            namespace: String::new(),
            route: "gpt".into(),
        }
    }

    fn chat(text: &str) -> ChatRequest {
        ChatRequest {
            model: "gpt".into(),
            messages: vec![Message::text(Role::User, text)],
            ..ChatRequest::default()
        }
    }

    #[test]
    fn streaming_user_and_metadata_do_not_change_the_key() {
        let plain = chat("hi");
        let mut streamed = plain.clone();
        streamed.stream = true;
        streamed.include_usage = true;
        streamed.user = Some("u1".into());
        streamed.metadata = Some(serde_json::json!({"tags": ["a"]}));
        streamed
            .extra
            .insert("stream_options".into(), serde_json::json!({}));
        assert_eq!(exact(&scope("t"), &plain), exact(&scope("t"), &streamed));
    }

    #[test]
    fn tenant_parameters_and_text_change_the_key() {
        let base = exact(&scope("t"), &chat("hi"));
        assert_ne!(base, exact(&scope("u"), &chat("hi")));
        assert_ne!(base, exact(&scope("t"), &chat("hi!")));
        let mut hot = chat("hi");
        hot.temperature = Some(0.9);
        assert_ne!(base, exact(&scope("t"), &hot));
        let mut seeded = chat("hi");
        seeded
            .extra
            .insert("seed_like".into(), serde_json::json!(1));
        assert_ne!(base, exact(&scope("t"), &seeded));
    }

    #[test]
    fn the_semantic_partition_ignores_only_the_last_user_text() {
        let (a, text) = semantic(&scope("t"), &chat("hello there")).expect("text");
        assert_eq!(text, "hello there");
        let (b, _) = semantic(&scope("t"), &chat("something else")).expect("text");
        assert_eq!(a, b);
        let mut hot = chat("hello there");
        hot.temperature = Some(1.0);
        assert_ne!(a, semantic(&scope("t"), &hot).expect("text").0);
        assert_ne!(
            a,
            semantic(&scope("u"), &chat("hello there")).expect("text").0
        );
    }
}
