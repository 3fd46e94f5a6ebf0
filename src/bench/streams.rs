//! Streams as the load generator reads them: the time to the first content chunk and to
//! `[DONE]`, and bursts of streams held open at once.

use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::task::JoinSet;

use super::load::{Kind, Outcome, Samples, Target, describe, nanos, request};

/// What one server-sent event carries, as far as the benchmark cares.
#[derive(Debug, PartialEq, Eq)]
pub enum SseKind {
    /// A chunk with non-empty `choices[0].delta.content` (only looked for when asked).
    Content,
    /// `data: [DONE]`.
    Done,
    Other,
}

/// Classifies one event (the text between blank lines); JSON is parsed only when
/// `want_content`, i.e. until the first content chunk has been seen.
pub fn classify(event: &[u8], want_content: bool) -> SseKind {
    for line in event.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else {
            continue;
        };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if data == b"[DONE]" {
            return SseKind::Done;
        }
        if want_content {
            let content = serde_json::from_slice::<serde_json::Value>(data)
                .ok()
                .and_then(|v| {
                    v["choices"][0]["delta"]["content"]
                        .as_str()
                        .map(|s| !s.is_empty())
                });
            if content == Some(true) {
                return SseKind::Content;
            }
        }
    }
    SseKind::Other
}

pub(super) async fn read_stream(response: reqwest::Response, start: Instant) -> Outcome {
    let mut body = response.bytes_stream();
    let mut pending: Vec<u8> = Vec::with_capacity(1024);
    let mut ttft = None;
    let mut done = false;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                return Outcome {
                    result: Err(describe(&e)),
                    ttft,
                };
            }
        };
        pending.extend_from_slice(&chunk);
        let mut consumed = 0;
        while let Some(pos) = pending[consumed..].windows(2).position(|w| w == b"\n\n") {
            match classify(&pending[consumed..consumed + pos], ttft.is_none()) {
                SseKind::Content if ttft.is_none() => ttft = Some(start.elapsed()),
                SseKind::Done => done = true,
                _ => {}
            }
            consumed += pos + 2;
        }
        pending.drain(..consumed);
    }
    let result = match (ttft, done) {
        (Some(_), true) => Ok(start.elapsed()),
        (None, _) => Err("stream without a content chunk".into()),
        (Some(_), false) => Err("stream ended without [DONE]".into()),
    };
    Outcome { result, ttft }
}

/// The most intervals `(start, end)` that overlap at one instant.
pub fn max_overlap(intervals: &[(u64, u64)]) -> usize {
    let mut edges: Vec<(u64, i64)> = Vec::with_capacity(intervals.len() * 2);
    for &(start, end) in intervals {
        edges.push((start, 1));
        edges.push((end, -1));
    }
    // Ends sort before starts at the same instant: touching intervals do not overlap.
    edges.sort_unstable();
    let (mut open, mut peak) = (0i64, 0i64);
    for (_, delta) in edges {
        open += delta;
        peak = peak.max(open);
    }
    usize::try_from(peak).unwrap_or(0)
}

/// Opens `count` streams at once and reads each to its end.
pub async fn concurrent_streams(
    client: &reqwest::Client,
    target: &Target,
    body: &Bytes,
    count: usize,
) -> Samples {
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..count {
        let (client, target, body) = (client.clone(), target.clone(), body.clone());
        set.spawn(async move {
            let begin = Instant::now();
            let outcome = request(&client, &target, body, Kind::Stream, begin).await;
            let span = (
                nanos(begin - started),
                nanos(begin - started + begin.elapsed()),
            );
            (outcome, span)
        });
    }
    let mut all = Samples::default();
    let mut spans = Vec::with_capacity(count);
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((outcome, span)) => {
                if outcome.result.is_ok() {
                    spans.push(span);
                }
                all.add(outcome);
            }
            Err(e) => all.error(format!("load task failed: {e}")),
        }
    }
    all.elapsed = started.elapsed();
    all.peak_concurrency = Some(max_overlap(&spans));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_classified() {
        let role = br#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#;
        let content = br#"data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#;
        assert_eq!(classify(role, true), SseKind::Other);
        assert_eq!(classify(content, true), SseKind::Content);
        assert_eq!(classify(content, false), SseKind::Other);
        assert_eq!(classify(b"data: [DONE]", false), SseKind::Done);
        assert_eq!(classify(b"data:[DONE]\r", true), SseKind::Done);
        assert_eq!(classify(b": keep-alive", true), SseKind::Other);
    }

    #[test]
    fn overlap_counts_simultaneous_intervals() {
        assert_eq!(max_overlap(&[]), 0);
        assert_eq!(max_overlap(&[(0, 10), (5, 15), (12, 20)]), 2);
        assert_eq!(max_overlap(&[(0, 10), (10, 20)]), 1);
        assert_eq!(max_overlap(&[(0, 100), (1, 99), (2, 98), (50, 51)]), 4);
    }
}
