//! The request-log writer: a bounded queue drained by one task that writes batches (logs and
//! rollups in one transaction). When the database fails, batches go to the local spool and are
//! replayed once it answers; when the queue is full, records go straight to the spool. A record
//! is dropped only if the spool cannot be written either, and that is counted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};

use super::log::LogRecord;
use super::spool::Spool;
use crate::observability::metrics::Metrics;
use crate::storage::{Db, StorageError, request_logs};

/// Records per database write.
const BATCH: usize = 500;
/// Records waiting in memory at most.
const QUEUE: usize = 20_000;
/// How often a partial batch is written.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// How often the spool is retried while the database is failing.
const REPLAY_EVERY: Duration = Duration::from_secs(1);

/// Handle to the writer task.
///
/// Queuing a record never wakes the writer: it drains the queue on its own tick, or early when
/// a full batch is waiting, so a request costs no cross-thread wake-up.
#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::Sender<Box<LogRecord>>,
    flushes: mpsc::Sender<oneshot::Sender<()>>,
    batch_ready: Arc<Notify>,
    spool: Arc<Spool>,
    metrics: Metrics,
}

impl LogWriter {
    /// Starts the writer task.
    pub fn start(db: Db, spool_path: PathBuf, metrics: Metrics) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (flushes, flush_rx) = mpsc::channel(16);
        let batch_ready = Arc::new(Notify::new());
        let spool = Arc::new(Spool::new(spool_path));
        let writer = Writer {
            db,
            spool: spool.clone(),
            metrics: metrics.clone(),
            failing: false,
            last_replay: Instant::now(),
        };
        tokio::spawn(run(writer, rx, flush_rx, batch_ready.clone()));
        Self {
            tx,
            flushes,
            batch_ready,
            spool,
            metrics,
        }
    }

    /// Queues a record without waiting.
    pub fn record(&self, record: LogRecord) {
        match self.tx.try_send(Box::new(record)) {
            Ok(()) => {
                if QUEUE - self.tx.capacity() >= BATCH {
                    self.batch_ready.notify_one();
                }
            }
            Err(mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r)) => {
                match self.spool.append(std::slice::from_ref(&*r)) {
                    Ok(_) => self.metrics.count_log_records("spooled", 1),
                    Err(e) => {
                        tracing::error!(error = %e, "request log record dropped: queue full and spool unwritable");
                        self.metrics.count_log_records("dropped", 1);
                    }
                }
            }
        }
    }

    /// Writes everything queued so far (and retries the spool); returns when done.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.flushes.send(ack).await.is_ok() {
            let _ = done.await;
        }
    }
}

async fn run(
    mut writer: Writer,
    mut rx: mpsc::Receiver<Box<LogRecord>>,
    mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
    batch_ready: Arc<Notify>,
) {
    let mut batch: Vec<LogRecord> = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            flush = flushes.recv() => {
                writer.drain(&mut rx, &mut batch).await;
                match flush {
                    Some(ack) => {
                        writer.replay().await;
                        let _ = ack.send(());
                    }
                    // Every handle is gone: what was queued is written, and the task ends.
                    None => break,
                }
            }
            () = batch_ready.notified() => writer.drain(&mut rx, &mut batch).await,
            _ = tick.tick() => {
                writer.drain(&mut rx, &mut batch).await;
                if writer.last_replay.elapsed() >= REPLAY_EVERY && !writer.spool.is_empty() {
                    writer.replay().await;
                }
            }
        }
    }
}

struct Writer {
    db: Db,
    spool: Arc<Spool>,
    metrics: Metrics,
    failing: bool,
    last_replay: Instant,
}

impl Writer {
    /// Writes everything queued, in batches.
    async fn drain(&mut self, rx: &mut mpsc::Receiver<Box<LogRecord>>, batch: &mut Vec<LogRecord>) {
        while let Ok(record) = rx.try_recv() {
            batch.push(*record);
            if batch.len() >= BATCH {
                self.write(batch).await;
            }
        }
        self.write(batch).await;
    }

    async fn insert(&self, records: &[LogRecord]) -> Result<(), StorageError> {
        let mut tx = self.db.begin().await?;
        request_logs::insert(&mut tx, records).await?;
        tx.commit().await
    }

    async fn write(&mut self, batch: &mut Vec<LogRecord>) {
        if batch.is_empty() {
            return;
        }
        let records = std::mem::take(batch);
        match self.insert(&records).await {
            Ok(()) => {
                self.metrics
                    .count_log_records("written", records.len() as u64);
                if self.failing {
                    self.failing = false;
                    tracing::info!("request log writes recovered");
                }
            }
            Err(e) => {
                if !self.failing {
                    self.failing = true;
                    tracing::warn!(error = %e, "request log writes failing; spooling to disk");
                }
                self.spill(&records);
            }
        }
    }

    fn spill(&self, records: &[LogRecord]) {
        match self.spool.append(records) {
            Ok(n) => self.metrics.count_log_records("spooled", n as u64),
            Err(e) => {
                tracing::error!(error = %e, count = records.len(), "request log records dropped");
                self.metrics
                    .count_log_records("dropped", records.len() as u64);
            }
        }
    }

    async fn replay(&mut self) {
        self.last_replay = Instant::now();
        let pending = match self.spool.take() {
            Ok(pending) if !pending.is_empty() => pending,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the request log spool");
                return;
            }
        };
        for (i, chunk) in pending.chunks(BATCH).enumerate() {
            if let Err(e) = self.insert(chunk).await {
                tracing::warn!(error = %e, "request log replay failed; keeping the spool");
                self.failing = true;
                // Put back this chunk and everything after it.
                let rest = &pending[i * BATCH..];
                if let Err(e) = self.spool.append(rest) {
                    tracing::error!(error = %e, count = rest.len(), "request log records dropped");
                    self.metrics.count_log_records("dropped", rest.len() as u64);
                }
                return;
            }
            self.metrics
                .count_log_records("written", chunk.len() as u64);
        }
        self.failing = false;
        tracing::info!(count = pending.len(), "request log spool replayed");
    }
}
