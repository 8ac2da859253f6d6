//! `SyncPolicy::Periodic` really writes the appended range back: after the
//! flusher has run, no page of the segment file is dirty in this process's
//! mappings (`/proc/self/smaps`, `Shared_Dirty` + `Private_Dirty`).
//!
//! Linux only (`/proc/self/smaps`). `prefault = false`, so the only dirty
//! pages are the ones appends wrote (pre-faulting for write dirties every page
//! of a segment, and the flusher only syncs the written range).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use talon_core::clock::Nanos;
use talon_core::journal::{JournalConfig, JournalWriter, RecordKind, SyncPolicy};

/// Sum of `Shared_Dirty` + `Private_Dirty` (kB) over every mapping of `file`
/// in this process, and how many such mappings there are.
fn dirty_kb(file: &Path) -> (u64, usize) {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let file = file.canonicalize().unwrap();
    let want = file.to_str().unwrap();
    let mut in_vma = false;
    let mut kb = 0;
    let mut vmas = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        // A VMA header line starts with "start-end".
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            in_vma = line.ends_with(want);
            vmas += usize::from(in_vma);
            continue;
        }
        if in_vma && (line.starts_with("Shared_Dirty:") || line.starts_with("Private_Dirty:")) {
            kb += line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap();
        }
    }
    (kb, vmas)
}

fn config(dir: &Path, sync: SyncPolicy) -> JournalConfig {
    let mut c = JournalConfig::new(dir);
    c.segment_size = 256 * 1024;
    c.prefault = false;
    c.sync = sync;
    c
}

fn fill(w: &mut JournalWriter) {
    // ~40 KiB: ten pages, all in segment 0.
    for i in 0..400u64 {
        w.append(RecordKind::Blob, 1, Nanos(i), &[0x5A; 72])
            .unwrap();
    }
    assert_eq!(w.segment_index(), 0);
}

#[test]
fn periodic_flusher_leaves_no_dirty_page_behind() {
    if !Path::new("/proc/self/smaps").exists() {
        eprintln!("skipped: no /proc/self/smaps");
        return;
    }
    // Control: the measurement sees the pages appends dirty.
    let control = tempfile::tempdir().unwrap();
    let (mut w, _) = JournalWriter::open(config(control.path(), SyncPolicy::None)).unwrap();
    fill(&mut w);
    let file = control.path().join("00000000000000000000.journal");
    let (kb, vmas) = dirty_kb(&file);
    assert!(
        vmas >= 1,
        "the writer's mapping of {file:?} is not in smaps"
    );
    assert!(kb >= 4, "appends dirtied nothing? {kb} kB");
    drop(w);

    let dir = tempfile::tempdir().unwrap();
    let sync = SyncPolicy::Periodic {
        interval: Duration::from_millis(10),
    };
    let (mut w, _) = JournalWriter::open(config(dir.path(), sync)).unwrap();
    fill(&mut w);
    let file = dir.path().join("00000000000000000000.journal");
    // Bounded wait for the flusher (a hang guard, not a timing assertion):
    // well under the kernel's own 30 s dirty expiry, so a flusher that syncs
    // nothing leaves the pages dirty for the whole wait.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = dirty_kb(&file);
    while last.0 > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        last = dirty_kb(&file);
    }
    assert!(w.stats().syncs > 0, "the flusher never ran");
    assert!(w.take_background_error().is_none());
    assert_eq!(
        last.0, 0,
        "{} kB of the segment are still dirty after periodic flushes",
        last.0
    );
}
