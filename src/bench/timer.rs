//! A sub-millisecond timer for the mock upstream. Tokio's timer wheel rounds every sleep up to
//! the next millisecond tick, which would quantise the mock's delays and swallow (or inflate) the
//! fraction of a millisecond the benchmark is trying to see. One thread keeps the deadlines in a
//! heap and waits on a channel with a timeout (a futex wait, typically within ~60 µs).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use tokio::sync::oneshot;

struct Entry {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed, so the max-heap yields the earliest deadline first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A handle to the timer thread; the thread ends when every handle is dropped.
#[derive(Clone)]
pub struct PreciseTimer {
    tx: mpsc::Sender<(Instant, oneshot::Sender<()>)>,
}

impl PreciseTimer {
    /// Starts the timer thread.
    pub fn start() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<(Instant, oneshot::Sender<()>)>();
        std::thread::Builder::new()
            .name("bench-timer".into())
            .spawn(move || run(&rx))?;
        Ok(Self { tx })
    }

    /// Completes at `at` (at once if it has passed).
    pub async fn sleep_until(&self, at: Instant) {
        if at <= Instant::now() {
            return;
        }
        let (wake, woken) = oneshot::channel();
        if self.tx.send((at, wake)).is_err() {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            return;
        }
        let _ = woken.await;
    }
}

fn run(rx: &mpsc::Receiver<(Instant, oneshot::Sender<()>)>) {
    let mut heap = BinaryHeap::new();
    let mut seq = 0u64;
    loop {
        let now = Instant::now();
        while heap.peek().is_some_and(|e: &Entry| e.at <= now) {
            if let Some(entry) = heap.pop() {
                let _ = entry.wake.send(());
            }
        }
        let next = match heap.peek() {
            Some(entry) => rx.recv_timeout(entry.at.saturating_duration_since(now)),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok((at, wake)) => {
                seq += 1;
                heap.push(Entry { at, seq, wake });
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn sleeps_are_precise_and_ordered() {
        let timer = PreciseTimer::start().expect("timer");
        let start = Instant::now();
        let (a, b) = tokio::join!(
            async {
                timer
                    .sleep_until(start + Duration::from_micros(3_300))
                    .await;
                start.elapsed()
            },
            async {
                timer
                    .sleep_until(start + Duration::from_micros(1_700))
                    .await;
                start.elapsed()
            }
        );
        assert!(b >= Duration::from_micros(1_700) && b < a, "{b:?} {a:?}");
        assert!(a >= Duration::from_micros(3_300), "{a:?}");
        // Far finer than tokio's 1 ms ticks, with room for a loaded test machine.
        assert!(a < Duration::from_micros(3_300 + 3_000), "{a:?}");
        timer.sleep_until(start).await;
    }
}
