//! The mock OpenAI upstream: `POST /v1/chat/completions` answers a fixed small
//! `chat.completion` after a fixed delay, or, with `"stream": true`, a role chunk after the delay,
//! then content chunks spaced by the chunk interval, a finish chunk, a usage chunk when
//! `stream_options.include_usage` is set, and `[DONE]`. Every body is built once; one worker
//! thread keeps it cheap next to the gateway on a small machine. Delays run on a sub-millisecond
//! timer (see `timer.rs`), so they do not round to tokio's 1 ms ticks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::timer::PreciseTimer;

/// The model name the mock reports.
pub const MODEL: &str = "bench-model";
const ID: &str = "chatcmpl-bench0001";
const CREATED: u64 = 1_764_000_000;

/// How the mock answers; changed between scenarios.
#[derive(Debug)]
struct Timing {
    delay_us: AtomicU64,
    interval_us: AtomicU64,
}

struct Shared {
    timing: Timing,
    timer: PreciseTimer,
    completion: Bytes,
    /// Role chunk, content chunks, finish chunk.
    chunks: Vec<Bytes>,
    usage: Bytes,
    done: Bytes,
}

/// A running mock upstream.
pub struct MockUpstream {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    pub port: u16,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

#[derive(Deserialize)]
struct RequestShape {
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

fn sse(value: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn chunk(delta: serde_json::Value, finish: Option<&str>) -> Bytes {
    sse(&json!({
        "id": ID, "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]
    }))
}

fn build(chunks: usize, timer: PreciseTimer) -> Shared {
    let completion = json!({
        "id": ID, "object": "chat.completion", "created": CREATED, "model": MODEL,
        "choices": [{ "index": 0, "message": { "role": "assistant",
            "content": "Hello! How can I help you today?", "refusal": null, "annotations": [] },
            "logprobs": null, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 11, "completion_tokens": 9, "total_tokens": 20,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
            "completion_tokens_details": { "reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0 } },
        "service_tier": "default", "system_fingerprint": "fp_bench"
    });
    let mut all = vec![chunk(
        json!({ "role": "assistant", "content": "", "refusal": null }),
        None,
    )];
    for i in 0..chunks {
        all.push(chunk(json!({ "content": format!("tok{i} ") }), None));
    }
    all.push(chunk(json!({}), Some("stop")));
    let usage = sse(&json!({
        "id": ID, "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
        "system_fingerprint": "fp_bench", "choices": [],
        "usage": { "prompt_tokens": 11, "completion_tokens": chunks, "total_tokens": 11 + chunks }
    }));
    Shared {
        timing: Timing {
            delay_us: AtomicU64::new(0),
            interval_us: AtomicU64::new(0),
        },
        timer,
        completion: Bytes::from(completion.to_string()),
        chunks: all,
        usage,
        done: Bytes::from_static(b"data: [DONE]\n\n"),
    }
}

async fn chat_completions(body: Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let shape: RequestShape = match serde_json::from_slice(&body) {
        Ok(shape) => shape,
        Err(_) => {
            return HttpResponse::BadRequest()
                .content_type("application/json")
                .body(r#"{"error":{"message":"invalid JSON body","type":"invalid_request_error","param":null,"code":null}}"#);
        }
    };
    let delay = Duration::from_micros(shared.timing.delay_us.load(Ordering::Relaxed));
    let interval = Duration::from_micros(shared.timing.interval_us.load(Ordering::Relaxed));
    let start = Instant::now();
    shared.timer.sleep_until(start + delay).await;
    if !shape.stream {
        return HttpResponse::Ok()
            .content_type("application/json")
            .body(shared.completion.clone());
    }
    let include_usage = shape.stream_options.is_some_and(|o| o.include_usage);
    // The role chunk goes out after the delay; content chunk i (1..=N) at delay + i × interval
    // (from the start, so waits do not drift); the finish, usage and [DONE] frames follow the
    // last content chunk immediately.
    let last_content = shared.chunks.len().saturating_sub(2);
    let frames: Vec<Bytes> = shared
        .chunks
        .iter()
        .cloned()
        .chain(include_usage.then(|| shared.usage.clone()))
        .chain(std::iter::once(shared.done.clone()))
        .collect();
    let timer = shared.timer.clone();
    let stream =
        futures_util::stream::iter(frames.into_iter().enumerate()).then(move |(i, frame)| {
            let timer = timer.clone();
            async move {
                if (1..=last_content).contains(&i) {
                    let at = start + delay + interval * u32::try_from(i).unwrap_or(u32::MAX);
                    timer.sleep_until(at).await;
                }
                Ok::<_, actix_web::Error>(frame)
            }
        });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream)
}

impl MockUpstream {
    /// Starts the mock on a random loopback port with `chunks` content chunks per stream.
    pub fn start(chunks: usize) -> std::io::Result<MockUpstream> {
        let shared = Arc::new(build(chunks, PreciseTimer::start()?));
        let data = web::Data::new(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .route("/v1/chat/completions", web::post().to(chat_completions))
        })
        .workers(1)
        // actix-web leaves Nagle on by default; streamed chunks would wait for delayed ACKs.
        .tcp_nodelay(true)
        // Bound by actix (not a std listener) so the backlog applies: a burst of a thousand
        // connections must not overflow it into 1 s SYN retransmits.
        .backlog(4096)
        .keep_alive(Duration::from_secs(300))
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", 0))?;
        let port = server
            .addrs()
            .first()
            .map(|a| a.port())
            .ok_or_else(|| std::io::Error::other("the mock upstream bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(MockUpstream {
            origin: format!("http://127.0.0.1:{port}"),
            port,
            shared,
            handle,
        })
    }

    /// Sets the delay before the answer (or the first chunk) and the spacing of content chunks.
    pub fn set_timing(&self, delay: Duration, interval: Duration) {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let timing = &self.shared.timing;
        timing.delay_us.store(us(delay), Ordering::Relaxed);
        timing.interval_us.store(us(interval), Ordering::Relaxed);
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &Bytes) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn frames_have_openai_chunk_shapes() {
        let shared = build(3, PreciseTimer::start().expect("timer"));
        assert_eq!(shared.chunks.len(), 5);
        let role: serde_json::Value =
            serde_json::from_str(text(&shared.chunks[0]).trim_start_matches("data: ").trim())
                .expect("json");
        assert_eq!(role["object"], "chat.completion.chunk");
        assert_eq!(role["choices"][0]["delta"]["role"], "assistant");
        assert!(text(&shared.chunks[1]).contains(r#""content":"tok0 ""#));
        assert!(text(&shared.chunks[4]).contains(r#""finish_reason":"stop""#));
        assert!(text(&shared.usage).contains(r#""choices":[]"#));
        let completion: serde_json::Value =
            serde_json::from_slice(&shared.completion).expect("json");
        assert_eq!(completion["object"], "chat.completion");
        assert_eq!(completion["usage"]["total_tokens"], 20);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_completions_and_streams() {
        let mock = MockUpstream::start(4).expect("start");
        mock.set_timing(Duration::from_millis(1), Duration::from_millis(1));
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let url = format!("{}/v1/chat/completions", mock.origin);
        let body = client
            .post(&url)
            .body(r#"{"model":"m","messages":[]}"#)
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("body");
        assert!(body.contains("chat.completion"));
        let stream = client
            .post(&url)
            .body(r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#)
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("body");
        assert_eq!(stream.matches("data: ").count(), 1 + 4 + 1 + 1 + 1);
        assert!(stream.contains(r#""usage""#));
        assert!(stream.ends_with("data: [DONE]\n\n"));
        let plain = client
            .post(&url)
            .body(r#"{"model":"m","stream":true}"#)
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("body");
        assert!(!plain.contains(r#""usage""#));
        assert!(plain.ends_with("data: [DONE]\n\n"));
        mock.stop().await;
    }
}
