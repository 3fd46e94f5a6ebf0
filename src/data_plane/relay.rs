//! Relaying a provider's stream to the caller as it arrives: each upstream event is decoded into
//! unified events and encoded in the caller's format (or, on the same-format path, forwarded
//! byte for byte). Nothing is buffered beyond the events of one upstream chunk; dropping the
//! response (the caller went away) drops the upstream connection.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::meter::Meter;
use super::provider_state::{ProviderState, Transcript};
use crate::metering::log::LogDraft;
use crate::metering::writer::LogWriter;
use crate::providers::dispatch::StreamDecoder;
use crate::providers::types::StreamEvent;
use crate::providers::{ProviderError, SseEvent, anthropic, openai};

/// How events are written to the caller.
#[derive(Debug)]
pub enum Encoder {
    /// OpenAI chunks, translated.
    OpenAi(openai::inbound::StreamEncoder),
    /// OpenAI chunks from an OpenAI-style provider, forwarded unchanged (the usage chunk we
    /// asked for is dropped unless the caller asked too).
    Passthrough { include_usage: bool },
    /// Anthropic events, translated.
    Anthropic(anthropic::inbound::StreamEncoder),
    /// Anthropic events from an Anthropic provider, forwarded unchanged.
    AnthropicPassthrough,
    /// A translating encoder (`OpenAi` or `Anthropic`, never a passthrough) fed with tokenized
    /// PII restored (placeholders split across chunks included).
    Restoring(Box<Encoder>, crate::policy::pii::StreamRestorer),
}

impl Encoder {
    /// Whether events are translated (rather than forwarded as the provider sent them).
    pub fn translates(&self) -> bool {
        match self {
            Encoder::Restoring(inner, _) => inner.translates(),
            other => matches!(other, Encoder::OpenAi(_) | Encoder::Anthropic(_)),
        }
    }

    fn encode(&mut self, event: &StreamEvent) -> Vec<SseEvent> {
        match self {
            Encoder::OpenAi(e) => e.encode(event),
            Encoder::Anthropic(e) => e.encode(event),
            Encoder::Passthrough { .. } | Encoder::AnthropicPassthrough => Vec::new(),
            Encoder::Restoring(inner, restorer) => restorer
                .on_event(event)
                .iter()
                .flat_map(|e| inner.encode(e))
                .collect(),
        }
    }

    fn finish(&mut self, meter: &Meter) -> Vec<SseEvent> {
        match self {
            Encoder::OpenAi(e) => {
                let mut out = if meter.reported() {
                    Vec::new()
                } else {
                    e.encode(&StreamEvent::Usage(meter.usage()))
                };
                out.extend(e.finish());
                out
            }
            Encoder::Passthrough { include_usage } => {
                let mut out = Vec::new();
                if *include_usage && !meter.reported() {
                    let mut estimate = openai::inbound::StreamEncoder::new("", true);
                    estimate.encode(&StreamEvent::Usage(meter.usage()));
                    out.extend(estimate.finish().into_iter().filter(|e| e.data != "[DONE]"));
                }
                out.push(SseEvent::data("[DONE]"));
                out
            }
            Encoder::Anthropic(e) => {
                let mut out = if meter.reported() {
                    Vec::new()
                } else {
                    e.encode(&StreamEvent::Usage(meter.usage()))
                };
                out.extend(e.finish());
                out
            }
            Encoder::AnthropicPassthrough => Vec::new(),
            Encoder::Restoring(inner, restorer) => {
                let mut out: Vec<SseEvent> = restorer
                    .flush()
                    .iter()
                    .flat_map(|e| inner.encode(e))
                    .collect();
                out.extend(inner.finish(meter));
                out
            }
        }
    }

    fn error(&mut self, err: &ProviderError) -> Vec<SseEvent> {
        match self {
            Encoder::OpenAi(e) => e.error(err),
            Encoder::Passthrough { .. } => {
                vec![SseEvent::data(
                    openai::inbound::render_error(err).to_string(),
                )]
            }
            Encoder::Anthropic(e) => e.error(err),
            Encoder::AnthropicPassthrough => vec![SseEvent {
                event: "error".into(),
                data: anthropic::inbound::render_error(err).to_string(),
            }],
            Encoder::Restoring(inner, _) => inner.error(err),
        }
    }
}

/// One SSE frame.
pub fn frame(event: &SseEvent) -> Bytes {
    let mut out = String::with_capacity(event.data.len() + event.event.len() + 16);
    if !event.event.is_empty() {
        out.push_str("event: ");
        out.push_str(&event.event);
        out.push('\n');
    }
    for line in event.data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// Where a finished stream's reasoning state is remembered (translated streams only).
#[derive(Clone)]
pub struct StateSink {
    pub store: ProviderState,
    pub tenant: String,
}

/// Where a stream's request-log record goes when it ends.
#[derive(Clone)]
pub struct StreamLog {
    pub draft: LogDraft,
    pub logs: LogWriter,
}

struct Relay<S> {
    upstream: S,
    decoder: StreamDecoder,
    encoder: Encoder,
    meter: Meter,
    queue: VecDeque<Bytes>,
    ended: bool,
    failed: Option<ProviderError>,
    log: StreamLog,
    started: Instant,
    first_byte_ms: Option<u128>,
    sink: Option<(StateSink, Transcript)>,
    idle_timeout: Duration,
}

impl<S> Relay<S>
where
    S: Stream<Item = Result<SseEvent, ProviderError>> + Unpin,
{
    fn push(&mut self, events: Vec<SseEvent>) {
        self.queue.extend(events.iter().map(frame));
    }

    fn fail(&mut self, err: &ProviderError) {
        tracing::warn!(
            request_id = %self.log.draft.request_id,
            provider = ?self.log.draft.provider,
            error = %err,
            "stream failed after it started; ending it with an error event"
        );
        self.failed = Some(err.clone());
        let events = self.encoder.error(err);
        self.push(events);
        self.ended = true;
    }

    fn on_upstream(&mut self, event: SseEvent) {
        if self.first_byte_ms.is_none() {
            self.first_byte_ms = Some(self.started.elapsed().as_millis());
        }
        let decoded = match self.decoder.on_event(&event) {
            Ok(decoded) => decoded,
            Err(err) => return self.fail(&err),
        };
        for e in &decoded {
            self.meter.observe(e);
            if let Some((_, transcript)) = &mut self.sink {
                transcript.observe(e);
            }
            if let Some(capture) = &mut self.log.draft.cache {
                capture.observe(e);
            }
        }
        match &mut self.encoder {
            Encoder::Passthrough { include_usage } => {
                let usage_only = decoded.len() == 1 && matches!(decoded[0], StreamEvent::Usage(_));
                let skip = event.data.trim() == "[DONE]" || (usage_only && !*include_usage);
                if !skip && !(event.data.trim().is_empty()) {
                    self.queue.push_back(frame(&SseEvent::data(event.data)));
                }
            }
            Encoder::AnthropicPassthrough => self.queue.push_back(frame(&event)),
            encoder => {
                let out: Vec<SseEvent> = decoded.iter().flat_map(|e| encoder.encode(e)).collect();
                self.push(out);
            }
        }
    }

    fn on_end(&mut self) {
        match self.decoder.finish() {
            Ok(events) => {
                for e in &events {
                    self.meter.observe(e);
                    if let Some(capture) = &mut self.log.draft.cache {
                        capture.observe(e);
                    }
                }
                let out: Vec<SseEvent> =
                    events.iter().flat_map(|e| self.encoder.encode(e)).collect();
                self.push(out);
                // A stream that ended cleanly is cached (when the request should be) before its
                // last event goes out, so the caller's next identical request finds it.
                crate::cache::store_stream(&mut self.log.draft, self.meter.usage());
                let closing = self.encoder.finish(&self.meter);
                self.push(closing);
                self.ended = true;
                if let Some((sink, transcript)) = self.sink.take() {
                    sink.store.remember(&sink.tenant, &transcript.message());
                }
            }
            Err(err) => self.fail(&err),
        }
    }

    fn log_end(&self) {
        let usage = self.meter.usage();
        let outcome = if self.failed.is_some() {
            "incomplete"
        } else {
            "complete"
        };
        let ttft = self
            .first_byte_ms
            .map(|m| i64::try_from(m).unwrap_or(i64::MAX));
        let mut draft = self.log.draft.clone();
        draft.usage = Some(usage);
        tracing::info!(
            request_id = %draft.request_id,
            route = ?draft.route,
            provider = ?draft.provider,
            outcome,
            ttft_ms = ttft,
            latency_ms = self.started.elapsed().as_millis() as u64,
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            usage_estimated = usage.estimated,
            "stream finished"
        );
        if let Some(record) = draft.finish(200, self.failed.as_ref(), outcome, ttft) {
            self.log.logs.record(record);
        }
    }
}

/// The caller-facing byte stream.
pub fn relay<S>(
    upstream: S,
    decoder: StreamDecoder,
    encoder: Encoder,
    meter: Meter,
    log: StreamLog,
    sink: Option<StateSink>,
    idle_timeout: Duration,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> + 'static
where
    S: Stream<Item = Result<SseEvent, ProviderError>> + Unpin + 'static,
{
    let state = Relay {
        upstream,
        decoder,
        encoder,
        meter,
        queue: VecDeque::new(),
        ended: false,
        failed: None,
        log,
        started: Instant::now(),
        first_byte_ms: None,
        sink: sink.map(|s| (s, Transcript::default())),
        idle_timeout,
    };
    futures_util::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            if let Some(bytes) = state.queue.pop_front() {
                return Some((Ok(bytes), Some(state)));
            }
            if state.ended {
                state.log_end();
                return None;
            }
            match tokio::time::timeout(state.idle_timeout, state.upstream.next()).await {
                Ok(Some(Ok(event))) => state.on_upstream(event),
                Ok(Some(Err(err))) => state.fail(&err),
                Ok(None) => state.on_end(),
                Err(_) => {
                    let stalled = ProviderError::new(
                        crate::providers::ErrorKind::Timeout,
                        format!(
                            "{} stopped sending for {}; the stream was cut",
                            state
                                .log
                                .draft
                                .provider
                                .as_deref()
                                .unwrap_or("the provider"),
                            humantime::format_duration(state.idle_timeout)
                        ),
                    );
                    state.fail(&stalled);
                }
            }
        }
    })
}
