//! The fan-out bus between the market source (generator or replay) and the
//! connection writers.
//!
//! This module owns [`Batch`] (many formatted messages in one buffer, each
//! tagged with its stream id) and [`Bus`] (a bounded log of batches that every
//! writer reads at its own pace with a cursor). The source publishes a batch
//! once; writers filter it by their subscriptions. A writer that falls behind
//! by more than the retained bytes gets [`Lagged`] and is closed as a slow
//! consumer. The bus never formats messages and never touches sockets.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// One message inside a batch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    /// Stream id (see `streams::Registry`).
    pub(crate) stream: u32,
    /// Byte range in `Batch::data`.
    pub(crate) start: u32,
    /// Length in bytes.
    pub(crate) len: u32,
}

/// Formatted messages published together.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Concatenated message texts.
    pub(crate) data: Vec<u8>,
    /// Messages in order.
    pub(crate) entries: Vec<Entry>,
}

impl Batch {
    /// Starts a message for `stream`; call [`Batch::finish`] after appending
    /// its text to `data`.
    pub(crate) fn begin(&mut self) -> usize {
        self.data.len()
    }

    /// Records the message whose text starts at `start`.
    pub(crate) fn finish(&mut self, stream: u32, start: usize) {
        let len = self.data.len() - start;
        self.entries.push(Entry {
            stream,
            start: start as u32,
            len: len as u32,
        });
    }

    /// Appends a whole message.
    pub(crate) fn push(&mut self, stream: u32, text: &[u8]) {
        let start = self.begin();
        self.data.extend_from_slice(text);
        self.finish(stream, start);
    }

    /// The text of `e`.
    pub(crate) fn text(&self, e: &Entry) -> &[u8] {
        let s = e.start as usize;
        self.data.get(s..s + e.len as usize).unwrap_or(&[])
    }

    /// True when it holds no message.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A reader fell behind the retained window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lagged;

#[derive(Debug)]
struct Inner {
    batches: VecDeque<Arc<Batch>>,
    /// Sequence number of `batches[0]`.
    first_seq: u64,
    /// Bytes retained.
    bytes: usize,
    closed: bool,
}

/// Bounded multi-reader log of batches.
#[derive(Debug)]
pub(crate) struct Bus {
    inner: Mutex<Inner>,
    cv: Condvar,
    max_bytes: usize,
}

impl Bus {
    /// A bus retaining at most `max_bytes` of message text (at least the
    /// newest batch is always kept).
    pub(crate) fn new(max_bytes: usize) -> Bus {
        Bus {
            inner: Mutex::new(Inner {
                batches: VecDeque::new(),
                first_seq: 0,
                bytes: 0,
                closed: false,
            }),
            cv: Condvar::new(),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain counters; the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes a batch (ignored when empty) and wakes the readers.
    pub(crate) fn publish(&self, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        let mut g = self.lock();
        g.bytes += batch.data.len();
        g.batches.push_back(Arc::new(batch));
        while g.bytes > self.max_bytes && g.batches.len() > 1 {
            if let Some(old) = g.batches.pop_front() {
                g.bytes -= old.data.len();
                g.first_seq += 1;
            }
        }
        drop(g);
        self.cv.notify_all();
    }

    /// The sequence number the next published batch will get (a new
    /// reader's cursor).
    pub(crate) fn head(&self) -> u64 {
        let g = self.lock();
        g.first_seq + g.batches.len() as u64
    }

    /// Waits until a batch at or after `*cursor` exists, `flag` is set, the
    /// bus is closed or `timeout` passes; then moves every available batch
    /// into `out` and advances the cursor. `Err(Lagged)` if batches the
    /// reader had not read were evicted.
    pub(crate) fn wait(
        &self,
        cursor: &mut u64,
        out: &mut Vec<Arc<Batch>>,
        flag: &AtomicBool,
        timeout: Duration,
    ) -> Result<(), Lagged> {
        let mut g = self.lock();
        let head = |g: &Inner| g.first_seq + g.batches.len() as u64;
        // Acquire pairs with the Release store in `notify_flag`: the flag's
        // producer wrote its queue before setting it.
        if *cursor >= head(&g) && !g.closed && !flag.load(Ordering::Acquire) {
            let (g2, _) = self
                .cv
                .wait_timeout_while(g, timeout, |g| {
                    *cursor >= head(g) && !g.closed && !flag.load(Ordering::Acquire)
                })
                .unwrap_or_else(|e| e.into_inner());
            g = g2;
        }
        if *cursor < g.first_seq {
            return Err(Lagged);
        }
        let skip = (*cursor - g.first_seq) as usize;
        out.extend(g.batches.iter().skip(skip).cloned());
        *cursor = head(&g);
        Ok(())
    }

    /// Sets `flag` and wakes every waiter (used to hand a writer a control
    /// reply without waiting for market data).
    pub(crate) fn notify_flag(&self, flag: &AtomicBool) {
        let g = self.lock();
        // Release pairs with the Acquire loads in `wait`; done under the lock
        // so a waiter cannot check the flag and then miss the notification.
        flag.store(true, Ordering::Release);
        drop(g);
        self.cv.notify_all();
    }

    /// Wakes every waiter (stop, shutdown).
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn batch(n: u8, len: usize) -> Batch {
        let mut b = Batch::default();
        b.push(u32::from(n), &vec![n; len]);
        b
    }

    #[test]
    fn readers_see_batches_in_order_and_laggards_are_told() {
        let bus = Bus::new(100);
        let flag = AtomicBool::new(false);
        let mut cur = bus.head();
        let mut out = Vec::new();
        bus.wait(&mut cur, &mut out, &flag, Duration::from_millis(1))
            .unwrap();
        assert!(out.is_empty());
        bus.publish(batch(1, 10));
        bus.publish(Batch::default());
        bus.publish(batch(2, 10));
        bus.wait(&mut cur, &mut out, &flag, Duration::from_millis(1))
            .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].text(&out[1].entries[0]), &[2u8; 10]);
        let mut slow = cur;
        for i in 0..20 {
            bus.publish(batch(i, 10));
        }
        out.clear();
        assert_eq!(
            bus.wait(&mut slow, &mut out, &flag, Duration::from_millis(1)),
            Err(Lagged)
        );
        bus.notify_flag(&flag);
        let mut c2 = bus.head();
        bus.wait(&mut c2, &mut out, &flag, Duration::from_secs(5))
            .unwrap();
        bus.close();
        let mut c3 = bus.head();
        bus.wait(
            &mut c3,
            &mut out,
            &AtomicBool::new(false),
            Duration::from_secs(5),
        )
        .unwrap();
    }
}
