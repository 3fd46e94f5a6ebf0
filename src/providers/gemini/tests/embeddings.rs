use serde_json::{Value, json};

use super::{fixture, target};
use crate::providers::ErrorKind;
use crate::providers::gemini::{embeddings_request, embeddings_response, embeddings_response_for};
use crate::providers::types::{EmbeddingRequest, Usage};

fn request() -> EmbeddingRequest {
    EmbeddingRequest {
        model: "embed-route".into(),
        input: vec![
            "What is the meaning of life?".into(),
            "How much wood?".into(),
        ],
        dimensions: Some(768),
        user: Some("u-1".into()),
        input_type: Some("search_query".into()),
    }
}

#[test]
fn batch_embed_request() {
    let mut t = target();
    t.upstream_model = "gemini-embedding-001".into();
    let upstream = embeddings_request(&t, &request()).expect("builds");
    assert_eq!(
        upstream.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(
        upstream.headers,
        vec![("x-goog-api-key", "AIzaSy-test-key".to_owned())]
    );
    let body: Value = serde_json::from_slice(&upstream.body).expect("json");
    assert_eq!(
        body,
        json!({"requests": [
            {"model": "models/gemini-embedding-001",
             "content": {"parts": [{"text": "What is the meaning of life?"}]},
             "taskType": "RETRIEVAL_QUERY", "outputDimensionality": 768},
            {"model": "models/gemini-embedding-001",
             "content": {"parts": [{"text": "How much wood?"}]},
             "taskType": "RETRIEVAL_QUERY", "outputDimensionality": 768}
        ]})
    );
}

#[test]
fn input_types_map_to_task_types() {
    for (input, task) in [
        ("search_document", "RETRIEVAL_DOCUMENT"),
        ("classification", "CLASSIFICATION"),
        ("clustering", "CLUSTERING"),
        ("SEMANTIC_SIMILARITY", "SEMANTIC_SIMILARITY"),
    ] {
        let req = EmbeddingRequest {
            input_type: Some(input.into()),
            ..request()
        };
        let upstream = embeddings_request(&target(), &req).expect("builds");
        let body: Value = serde_json::from_slice(&upstream.body).expect("json");
        assert_eq!(body["requests"][0]["taskType"], task);
    }
    let odd = EmbeddingRequest {
        input_type: Some("image".into()),
        dimensions: None,
        ..request()
    };
    let body: Value =
        serde_json::from_slice(&embeddings_request(&target(), &odd).expect("dropped").body)
            .expect("json");
    assert_eq!(
        body["requests"][0],
        json!({"model": "models/gemini-2.5-flash", "content": {"parts": [{"text": "What is the meaning of life?"}]}})
    );
    let mut strict = target();
    strict.strict = true;
    assert_eq!(
        embeddings_request(&strict, &odd).expect_err("strict").kind,
        ErrorKind::Unsupported
    );
}

#[test]
fn batch_embed_response_with_estimated_usage() {
    let r = embeddings_response_for(fixture!("embeddings_response.json").as_bytes(), &request())
        .expect("parses");
    assert_eq!(r.model, "embed-route");
    assert_eq!(
        r.embeddings,
        vec![
            vec![0.0132, -0.0087, 0.0541, -0.0219],
            vec![-0.0311, 0.0275, 0.0068, 0.0402]
        ]
    );
    // 28 chars -> 7 tokens, 14 chars -> 4 tokens.
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 11,
            estimated: true,
            ..Usage::default()
        }
    );

    let bare =
        embeddings_response(fixture!("embeddings_response.json").as_bytes()).expect("parses");
    assert_eq!(bare.embeddings.len(), 2);
    assert!(bare.usage.estimated);

    let one = EmbeddingRequest {
        input: vec!["x".into()],
        ..request()
    };
    let err = embeddings_response_for(fixture!("embeddings_response.json").as_bytes(), &one)
        .expect_err("count");
    assert_eq!(err.kind, ErrorKind::Protocol);
}
