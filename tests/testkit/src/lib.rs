//! # talon-testkit: support shared by Talon's tests
//!
//! Owns [`CountingAllocator`], the counting `#[global_allocator]` behind
//! every no-allocation test (core's pipeline, the feed agent, the decoder).
//! A test binary installs it and opens a counting window; allocations made
//! on *tracked* threads while the window is open are counted. Threads that
//! are not under test (a simulator, the journal's helper threads, the test
//! harness) are simply not tracked.
//!
//! ```ignore
//! use talon_testkit::{CountingAllocator, allocations};
//! #[global_allocator]
//! static GLOBAL: CountingAllocator = CountingAllocator;
//!
//! allocations::track_current_thread(true);
//! allocations::start();
//! /* steady-state work */
//! assert_eq!(allocations::stop(), 0);
//! ```
//!
//! A count, not a timing. Only a dev-dependency: product code never links it.
#![deny(unsafe_op_in_unsafe_fn)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Allocations seen on tracked threads while the window is open.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// The counting window.
static COUNTING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether this thread is under test. Const-initialised and without a
    /// destructor, so reading it never allocates or registers anything.
    static TRACKED: Cell<bool> = const { Cell::new(false) };
}

/// The counting window and the set of tracked threads.
pub mod allocations {
    use super::{ALLOCATIONS, COUNTING, Ordering, TRACKED};

    /// Marks the calling thread as under test (or not).
    pub fn track_current_thread(on: bool) {
        TRACKED.with(|t| t.set(on));
    }

    /// Zeroes the count and opens the window.
    pub fn start() {
        ALLOCATIONS.store(0, Ordering::Relaxed);
        // SeqCst: opens the window before any later allocation of this
        // thread, and is seen by tracked threads as soon as coherence allows;
        // an allocation racing the edge of the window is outside the
        // steady state the tests measure.
        COUNTING.store(true, Ordering::SeqCst);
    }

    /// Closes the window and returns the count.
    pub fn stop() -> u64 {
        // SeqCst: pairs with `start`; see there.
        COUNTING.store(false, Ordering::SeqCst);
        ALLOCATIONS.load(Ordering::Relaxed)
    }
}

fn count_if_tracked() {
    // Relaxed: the window flag and the counter publish no other data; the
    // test reads the counter after closing the window (or after joining or a
    // Release/Acquire handshake with the tracked threads).
    if COUNTING.load(Ordering::Relaxed) && TRACKED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

/// A `#[global_allocator]` that forwards to [`System`] and counts
/// allocations (alloc, alloc_zeroed, realloc) on tracked threads while the
/// window is open. Frees are not counted.
#[derive(Debug)]
pub struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; counting touches only
// atomics and a const thread-local, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_if_tracked();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_if_tracked();
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_if_tracked();
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}
