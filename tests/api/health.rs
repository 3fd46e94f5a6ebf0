use serde_json::Value;

use crate::common::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    liveness_readiness_and_metrics,
    readiness_fails_without_database
);

async fn liveness_readiness_and_metrics(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let live = app.get("/healthz").await;
    assert_eq!(live.status(), 200);
    assert_eq!(live.json::<Value>().await.expect("json")["status"], "ok");

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.expect("json")["database"], "ok");

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    let content_type = metrics.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = metrics.text().await.expect("text");
    assert!(
        text.contains("# TYPE switchyard_http_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"switchyard_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(
        r#"switchyard_http_requests_total{method="GET",route="/readyz",status="200"} 1"#
    ));
    assert!(text.contains("# TYPE switchyard_http_request_duration_seconds histogram"));
    assert!(text.contains(r#"switchyard_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le="0.005"}"#));
}

async fn readiness_fails_without_database(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.db.close().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<Value>().await.expect("json")["status"],
        "unavailable"
    );
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let echoed = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "client-req-42")
        .send()
        .await
        .expect("request");
    assert_eq!(echoed.headers()["x-request-id"], "client-req-42");

    let generated = app.get("/healthz").await;
    let id = generated.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&id).expect("uuid").get_version_num(),
        7
    );
    assert_ne!(
        id,
        app.get("/healthz").await.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
    );

    // An id too long to be honest is replaced, so it cannot flood logs.
    let long = "x".repeat(200);
    let replaced = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", long.as_str())
        .send()
        .await
        .expect("request");
    assert_ne!(replaced.headers()["x-request-id"], long.as_str());
}

#[tokio::test]
async fn unknown_urls_get_an_openai_style_404() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let res = app.get("/v1/nothing-here").await;
    assert_eq!(res.status(), 404);
    assert!(res.headers().contains_key("x-request-id"));
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "unknown_url");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("GET /v1/nothing-here")
    );

    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains(r#"route="unmatched",status="404""#),
        "{metrics}"
    );
    assert!(
        !metrics.contains("nothing-here"),
        "raw paths must not become labels"
    );
}
