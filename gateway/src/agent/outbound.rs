//! Fixed-capacity structures of the gateway's duty cycle: the send queues,
//! the pending-request table and the exec-report overflow queue.
//!
//! Owns [`FixedQueue`] (a FIFO ring of `Copy` values over one boxed slice:
//! the cancel queue, the new-order queue, the ack-deadline queue, the
//! status-query queue and the exec-report overflow all use it),
//! [`PendingTable`] (request id → what was asked, slot = `id % capacity`)
//! and [`ReqKind`].
//!
//! Never allocates after construction, never blocks, never panics: a full
//! queue refuses the value (the caller decides: local reject, hold, count),
//! an id whose slot is taken is refused by [`PendingTable::insert`].

use talon_core::clock::Nanos;
use talon_core::event::ClientOrderId;
use talon_core::instrument::InstrumentId;

/// A bounded FIFO of `Copy` values, allocated once.
#[derive(Debug)]
pub(crate) struct FixedQueue<T: Copy> {
    buf: Box<[T]>,
    head: usize,
    len: usize,
}

impl<T: Copy> FixedQueue<T> {
    /// A queue holding at most `capacity` (≥ 1) values; `fill` is the value
    /// unused slots hold.
    pub(crate) fn new(capacity: usize, fill: T) -> FixedQueue<T> {
        FixedQueue {
            buf: vec![fill; capacity.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// Appends `v`, or gives it back when full.
    #[inline]
    pub(crate) fn push(&mut self, v: T) -> Result<(), T> {
        if self.is_full() {
            return Err(v);
        }
        let i = (self.head + self.len) % self.buf.len();
        self.buf[i] = v;
        self.len += 1;
        Ok(())
    }

    /// Puts `v` back at the front (undo of a `pop`), or gives it back when
    /// full.
    #[inline]
    pub(crate) fn push_front(&mut self, v: T) -> Result<(), T> {
        if self.is_full() {
            return Err(v);
        }
        self.head = (self.head + self.buf.len() - 1) % self.buf.len();
        self.buf[self.head] = v;
        self.len += 1;
        Ok(())
    }

    /// The oldest value.
    #[inline]
    pub(crate) fn front(&self) -> Option<&T> {
        if self.len == 0 {
            None
        } else {
            self.buf.get(self.head)
        }
    }

    /// Removes the oldest value.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let v = self.buf[self.head];
        self.head = (self.head + 1) % self.buf.len();
        self.len -= 1;
        Some(v)
    }
}

/// What a request asked for (so its response can be routed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReqKind {
    /// `time` (session sync: server-time sample).
    Time,
    /// `exchangeInfo` (session sync: rate limits).
    ExchangeInfo,
    /// `session.logon` (Ed25519).
    Logon,
    /// `userDataStream.subscribe[.signature]`.
    Subscribe,
    /// `openOrders.status` for the symbol of this slot (resync).
    OpenOrders(usize),
    /// `order.place` of the request's client order id.
    Place,
    /// `order.cancel` of the request's client order id.
    Cancel,
    /// `openOrders.cancelAll` on the request's instrument.
    CancelAll,
    /// `order.status` of the request's client order id.
    Status,
}

/// One request awaiting its response.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    /// The request id (0 = free slot; ids start at 1).
    pub(crate) id: u64,
    pub(crate) kind: ReqKind,
    pub(crate) client_order_id: ClientOrderId,
    pub(crate) instrument: InstrumentId,
    /// Monotonic send time (timeouts).
    pub(crate) sent_at: Nanos,
    /// Wall-clock send time (server-time samples).
    pub(crate) sent_unix: Nanos,
}

impl Pending {
    const FREE: Pending = Pending {
        id: 0,
        kind: ReqKind::Time,
        client_order_id: ClientOrderId::EMPTY,
        instrument: InstrumentId(0),
        sent_at: Nanos::ZERO,
        sent_unix: Nanos::ZERO,
    };
}

/// Request id → pending request, slot `id % capacity`: O(1), no hashing.
/// Ids increase by one per request, so a slot is reused only after
/// `capacity` newer requests; if its previous request is still waiting,
/// [`insert`](Self::insert) refuses and the caller waits.
#[derive(Debug)]
pub(crate) struct PendingTable {
    slots: Box<[Pending]>,
    live: usize,
}

impl PendingTable {
    pub(crate) fn new(capacity: usize) -> PendingTable {
        PendingTable {
            slots: vec![Pending::FREE; capacity.max(1)].into_boxed_slice(),
            live: 0,
        }
    }

    #[inline]
    fn slot(&self, id: u64) -> usize {
        (id % self.slots.len() as u64) as usize
    }

    /// Whether `id` can be inserted now.
    #[inline]
    pub(crate) fn can_insert(&self, id: u64) -> bool {
        id != 0 && self.slots[self.slot(id)].id == 0
    }

    /// Records `p` (its `id` must be non-zero); `false` if the slot is taken.
    pub(crate) fn insert(&mut self, p: Pending) -> bool {
        if !self.can_insert(p.id) {
            return false;
        }
        let s = self.slot(p.id);
        self.slots[s] = p;
        self.live += 1;
        true
    }

    /// Takes the request with this id, if it is waiting.
    pub(crate) fn take(&mut self, id: u64) -> Option<Pending> {
        let s = self.slot(id);
        if id == 0 || self.slots[s].id != id {
            return None;
        }
        self.live -= 1;
        Some(std::mem::replace(&mut self.slots[s], Pending::FREE))
    }

    /// Requests waiting.
    #[inline]
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Removes every request for which `f` returns true (called with each
    /// waiting request).
    pub(crate) fn remove_where(&mut self, mut f: impl FnMut(&Pending) -> bool) {
        if self.live == 0 {
            return;
        }
        for p in self.slots.iter_mut() {
            if p.id != 0 && f(p) {
                *p = Pending::FREE;
                self.live -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn queue_is_fifo_bounded_and_undoable() {
        let mut q = FixedQueue::new(3, 0u32);
        assert!(q.is_empty());
        for v in 1..=3 {
            q.push(v).unwrap();
        }
        assert!(q.is_full());
        assert_eq!(q.push(9), Err(9));
        assert_eq!(q.pop(), Some(1));
        q.push(4).unwrap();
        assert_eq!(q.push_front(7), Err(7));
        assert_eq!(q.pop(), Some(2));
        q.push_front(2).unwrap();
        assert_eq!(q.front(), Some(&2));
        let drained: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(drained, vec![2, 3, 4]);
        assert_eq!(q.pop(), None);
        assert_eq!(q.front(), None);
    }

    fn req(id: u64) -> Pending {
        Pending {
            id,
            kind: ReqKind::Place,
            ..Pending::FREE
        }
    }

    #[test]
    fn pending_table_matches_ids_and_refuses_taken_slots() {
        let mut t = PendingTable::new(4);
        assert!(!t.insert(req(0)), "id 0 is the free marker");
        assert!(t.insert(req(1)));
        assert!(t.insert(req(2)));
        assert!(!t.insert(req(5)), "slot of 1 still waiting");
        assert_eq!(t.live(), 2);
        assert_eq!(t.take(5).map(|p| p.id), None);
        assert_eq!(t.take(1).map(|p| p.id), Some(1));
        assert_eq!(t.take(1).map(|p| p.id), None, "taken once");
        assert!(t.insert(req(5)));
        t.remove_where(|p| p.id == 2);
        assert_eq!(t.live(), 1);
        assert_eq!(t.take(2).map(|p| p.id), None);
        assert_eq!(t.take(5).map(|p| p.id), Some(5));
        assert_eq!(t.live(), 0);
    }
}
