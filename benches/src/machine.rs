//! Facts about the machine a report was measured on, and core pinning.
//!
//! Owns [`MachineInfo`] (read once per report from `/proc` and `git`, cold
//! path) and the checks that requested cores exist before any thread is
//! pinned. Never measures anything and never fails a report for a missing
//! fact: an unreadable fact is printed as `unknown`.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::error::BenchError;

/// Machine and build facts printed in a report's header line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MachineInfo {
    /// Cores this process may run on (its affinity mask).
    pub cores: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// When the report was made, UTC, `YYYY-MM-DD HH:MM:SS UTC`.
    pub date_utc: String,
    /// `git rev-parse --short HEAD` of the current directory, if it is a
    /// git checkout.
    pub git_commit: Option<String>,
}

impl MachineInfo {
    /// Reads the facts now. Cold path: reads files and runs `git`.
    pub fn collect() -> Self {
        let cores = core_ids().len();
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        let git_commit = Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self {
            cores,
            cpu_model,
            kernel,
            date_utc: utc_date_time(secs),
            git_commit,
        }
    }
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian;
/// Howard Hinnant's `civil_from_days`, all integer maths).
pub(crate) fn utc_date_time(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (h, mi, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// The core ids this process may be pinned to, ascending.
pub fn core_ids() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// Checks that `core` is one this process may run on.
pub fn check_core(core: usize) -> Result<(), BenchError> {
    let available = core_ids();
    if available.contains(&core) {
        Ok(())
    } else {
        Err(BenchError::CoreUnavailable { core, available })
    }
}

/// Pins the calling thread to `core`; an error if the kernel refuses.
pub fn pin_current(core: usize) -> Result<(), BenchError> {
    if core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
        Ok(())
    } else {
        Err(BenchError::PinFailed { core })
    }
}

/// The filesystem type holding `dir` (longest mount-point prefix in
/// `/proc/mounts`), e.g. `ext4` or `tmpfs`; `unknown` if unreadable.
pub fn filesystem_of(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return "unknown".to_owned();
    };
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, mnt, fs) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(mnt).then(|| (mnt.len(), fs.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".to_owned(), |(_, fs)| fs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(utc_date_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_date_time(1_735_787_045), "2025-01-02 03:04:05 UTC");
    }

    #[test]
    fn a_core_that_does_not_exist_is_a_clear_error() {
        let err = check_core(100_000).expect_err("core 100000 must not exist");
        assert!(err.to_string().contains("core 100000"), "{err}");
    }
}
