//! A provider server for tests, reached over real HTTP exactly like a provider in production.
//! It speaks OpenAI's chat-completions format (`POST {base_url}/chat/completions`) with a
//! configurable delay and status, and records every request it receives. Later provider formats
//! extend it.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// How the mock answers.
#[derive(Clone, Debug)]
pub struct MockBehavior {
    /// Wait before answering.
    pub delay: Duration,
    /// HTTP status to answer with.
    pub status: u16,
    /// The assistant message content of successful answers.
    pub content: String,
}

impl Default for MockBehavior {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            status: 200,
            content: "Hello from the mock provider.".into(),
        }
    }
}

/// A request the mock received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

struct Shared {
    behavior: Mutex<MockBehavior>,
    received: Mutex<Vec<Received>>,
}

/// A running mock provider; stopped when dropped.
pub struct MockProvider {
    /// What the provider's SDK calls its base URL: `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

async fn chat_completions(
    req: HttpRequest,
    body: web::Json<Value>,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    let behavior = shared.behavior.lock().expect("behavior lock").clone();
    shared
        .received
        .lock()
        .expect("received lock")
        .push(Received {
            path: req.path().to_owned(),
            authorization: req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: body.0.clone(),
        });
    tokio::time::sleep(behavior.delay).await;
    if behavior.status != 200 {
        let status = actix_web::http::StatusCode::from_u16(behavior.status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
        return HttpResponse::build(status).json(json!({
            "error": {
                "message": format!("mock provider answered {}", behavior.status),
                "type": "server_error",
                "param": null,
                "code": null
            }
        }));
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-model");
    HttpResponse::Ok().json(json!({
        "id": "chatcmpl-mock0001",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": behavior.content, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": { "prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16 },
        "system_fingerprint": "fp_mock"
    }))
}

impl MockProvider {
    /// Starts the server on a random loopback port.
    pub async fn start(behavior: MockBehavior) -> MockProvider {
        let shared = Arc::new(Shared {
            behavior: Mutex::new(behavior),
            received: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock provider");
        let port = listener.local_addr().expect("mock addr").port();
        let data = web::Data::new(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/chat/completions", web::post().to(chat_completions))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("listen mock provider")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        MockProvider {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            shared,
            handle,
        }
    }

    /// Changes how later requests are answered.
    pub fn set_behavior(&self, behavior: MockBehavior) {
        *self.shared.behavior.lock().expect("behavior lock") = behavior;
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received lock").clone()
    }

    /// Waits until at least `n` requests have arrived (at most `timeout`).
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.received().len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
