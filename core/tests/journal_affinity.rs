//! The journal's helper threads (`journal-prep`, `journal-flush`) do not
//! inherit the CPU pinning of the thread that opened the journal: with
//! `background_cpus = None` they run where the process's main thread may
//! run; with `Some(cpus)` they are pinned there.
//!
//! Linux only (`/proc/self/task/*/status`); skipped on a one-CPU machine.
//! One test in this binary, so no other journal's helper threads show up.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use talon_core::journal::{JournalConfig, JournalWriter, SyncPolicy};

/// Parses a `Cpus_allowed_list` value such as `0-3,6`.
fn parse_list(s: &str) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()),
            None => {
                out.insert(part.parse().unwrap());
            }
        }
    }
    out
}

fn allowed(status: &str) -> BTreeSet<usize> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap();
    parse_list(line)
}

/// `(thread name, allowed CPUs)` of this process's threads named `journal-*`.
fn helper_threads() -> Vec<(String, BTreeSet<usize>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = entry.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(task.join("comm")) else {
            continue; // exited meanwhile
        };
        let comm = comm.trim().to_string();
        if !comm.starts_with("journal-") {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(task.join("status")) else {
            continue;
        };
        out.push((comm, allowed(&status)));
    }
    out.sort();
    out
}

fn pin_current_thread(cpu: usize) {
    assert!(
        core_affinity::set_for_current(core_affinity::CoreId { id: cpu }),
        "could not pin to CPU {cpu}"
    );
}

fn open_from_pinned_thread(
    dir: &Path,
    pin: usize,
    background_cpus: Option<Vec<usize>>,
) -> Vec<(String, BTreeSet<usize>)> {
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        pin_current_thread(pin);
        let mut c = JournalConfig::new(&dir);
        c.segment_size = 64 * 1024;
        c.sync = SyncPolicy::Periodic {
            interval: Duration::from_millis(50),
        };
        c.background_cpus = background_cpus;
        let (w, _) = JournalWriter::open(c).unwrap();
        // Bounded wait until both helpers have started (and named
        // themselves): a hang guard, not a timing assertion.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut threads = helper_threads();
        while threads.len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            threads = helper_threads();
        }
        drop(w); // joins the helpers before the next case looks
        threads
    })
    .join()
    .unwrap()
}

#[test]
fn helper_threads_leave_the_openers_core() {
    let main_status =
        std::fs::read_to_string(format!("/proc/self/task/{}/status", std::process::id())).unwrap();
    let process_cpus = allowed(&main_status);
    if process_cpus.len() < 2 {
        eprintln!("skipped: this process may run on one CPU only ({process_cpus:?})");
        return;
    }
    let mut cpus = process_cpus.iter().copied();
    let (first, second) = (cpus.next().unwrap(), cpus.next().unwrap());

    // Default: not confined to the opener's core; where the main thread runs.
    let dir = tempfile::tempdir().unwrap();
    let threads = open_from_pinned_thread(dir.path(), first, None);
    let names: Vec<_> = threads.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["journal-flush", "journal-prep"], "{threads:?}");
    for (name, set) in &threads {
        assert_eq!(set, &process_cpus, "{name} confined to the opener's core");
    }

    // Explicit: pinned where asked, whatever the opener's pinning.
    let dir = tempfile::tempdir().unwrap();
    let threads = open_from_pinned_thread(dir.path(), first, Some(vec![second]));
    assert_eq!(threads.len(), 2, "{threads:?}");
    for (name, set) in &threads {
        assert_eq!(set, &BTreeSet::from([second]), "{name}");
    }
}
