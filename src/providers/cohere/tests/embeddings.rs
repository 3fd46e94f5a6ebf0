use serde_json::{Value, json};

use super::target;
use crate::providers::ErrorKind;
use crate::providers::cohere::{embeddings_request, embeddings_response};
use crate::providers::types::EmbeddingRequest;

const EMBED: &str = include_str!("../../../../tests/fixtures/cohere/embed_response.json");

#[test]
fn embeddings_request_body() {
    let req = EmbeddingRequest {
        model: "my-embed-route".into(),
        input: vec!["hello".into(), "goodbye".into()],
        dimensions: Some(256),
        user: None,
        input_type: Some("search_query".into()),
    };
    let mut t = target(false);
    t.upstream_model = "embed-v4.0".into();
    let up = embeddings_request(&t, &req).expect("request");
    assert_eq!(up.url, "https://api.cohere.com/v2/embed");
    assert!(!up.stream);
    assert_eq!(
        up.headers[0],
        ("authorization", "Bearer co-test-key".to_owned())
    );
    let body: Value = serde_json::from_slice(&up.body).expect("json");
    assert_eq!(
        body,
        json!({
            "model": "embed-v4.0",
            "texts": ["hello", "goodbye"],
            "input_type": "search_query",
            "embedding_types": ["float"],
            "output_dimension": 256
        })
    );
}

#[test]
fn input_type_defaults_and_maps() {
    let cases = [
        (None, "search_document"),
        (Some("classification"), "classification"),
        (Some("clustering"), "clustering"),
        (Some("RETRIEVAL_QUERY"), "search_query"),
        (Some("retrieval-document"), "search_document"),
    ];
    for (hint, want) in cases {
        let req = EmbeddingRequest {
            input: vec!["x".into()],
            input_type: hint.map(str::to_owned),
            ..EmbeddingRequest::default()
        };
        let up = embeddings_request(&target(false), &req).expect("request");
        let body: Value = serde_json::from_slice(&up.body).expect("json");
        assert_eq!(body["input_type"], want, "{hint:?}");
    }
    let odd = EmbeddingRequest {
        input: vec!["x".into()],
        input_type: Some("poetry".into()),
        ..EmbeddingRequest::default()
    };
    let err = embeddings_request(&target(true), &odd).expect_err("strict");
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert_eq!(err.param.as_deref(), Some("input_type"));
    let empty = EmbeddingRequest::default();
    let err = embeddings_request(&target(false), &empty).expect_err("empty");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
}

#[test]
fn embeddings_response_vectors_and_usage() {
    let r = embeddings_response(EMBED.as_bytes()).expect("parse");
    assert_eq!(r.model, "");
    assert_eq!(r.embeddings.len(), 2);
    assert_eq!(
        r.embeddings[0],
        vec![
            0.033_020_02,
            0.020_904_541,
            -0.019_744_873,
            -0.0625,
            0.044_372_56
        ]
    );
    assert_eq!(r.embeddings[1][4], -0.010_360_718);
    assert_eq!(r.usage.prompt_tokens, 10);
    assert_eq!(r.usage.completion_tokens, 0);
    let err =
        embeddings_response(br#"{"id":"x","embeddings":{},"texts":[]}"#).expect_err("no float");
    assert_eq!(err.kind, ErrorKind::Protocol);
}
