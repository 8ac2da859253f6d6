//! Benchmark reports: hdrhistogram percentiles, medians across runs, ratio
//! checks, and the two printed forms (a markdown table and JSON).
//!
//! Owns [`BenchReport`] and its parts. This is cold reporting code: it may
//! allocate and use `f64` for ratios and rates (never for money). It never
//! measures anything itself and never asserts on a timing: a missed target is
//! printed as "missed", not turned into an error.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::error::BenchError;
use crate::machine::MachineInfo;

/// Highest latency a histogram can hold: 60 s in nanoseconds. Larger samples
/// saturate at this value (recorded with `saturating_record`).
pub const HIST_MAX_NS: u64 = 60_000_000_000;

/// Three significant digits: 0.1 % resolution, the usual hdrhistogram choice.
const HIST_SIGFIG: u8 = 3;

/// A fresh latency histogram (nanoseconds, 1 ns .. 60 s, 3 significant
/// digits). Allocated once before a measurement loop; recording into it never
/// allocates.
/// The whole `main` of a `benches/*.rs` target: prints the report as
/// markdown, or as JSON when the arguments contain `--json` (`cargo bench`
/// also passes `--bench`, which is ignored); a failure to measure goes to
/// stderr prefixed with `name`, and the exit status says so.
pub fn bench_main(name: &str, result: Result<BenchReport, BenchError>) -> std::process::ExitCode {
    let json = std::env::args().any(|a| a == "--json");
    match result {
        Ok(report) if json => {
            println!("{:#}", report.to_json());
            std::process::ExitCode::SUCCESS
        }
        Ok(report) => {
            print!("{}", report.to_markdown());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub fn new_histogram() -> Result<Histogram<u64>, BenchError> {
    Histogram::new_with_bounds(1, HIST_MAX_NS, HIST_SIGFIG).map_err(BenchError::Histogram)
}

/// The statistics of one run of one case (all latencies in nanoseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct RunStats {
    /// How many latency samples the percentiles are drawn from.
    pub samples: u64,
    /// Median latency.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
    /// Throughput from a separate loop without per-operation clock reads,
    /// when the case measures one.
    pub ops_per_sec: Option<f64>,
}

impl RunStats {
    /// Percentile rows read from a histogram (hdrhistogram's
    /// `value_at_quantile`, which reports the highest value equivalent to the
    /// bucket holding the quantile).
    pub fn from_histogram(h: &Histogram<u64>, ops_per_sec: Option<f64>) -> Self {
        Self {
            samples: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            ops_per_sec,
        }
    }

    /// The column-wise median of several runs: each percentile, the max and
    /// the throughput are the median of that column (not a merged histogram),
    /// so one disturbed run on a shared machine moves no column.
    pub fn median_of(runs: &[RunStats]) -> RunStats {
        let col = |f: fn(&RunStats) -> u64| median_u64(runs.iter().map(f).collect());
        let rates: Vec<f64> = runs.iter().filter_map(|r| r.ops_per_sec).collect();
        RunStats {
            samples: col(|r| r.samples),
            p50: col(|r| r.p50),
            p90: col(|r| r.p90),
            p99: col(|r| r.p99),
            p999: col(|r| r.p999),
            max: col(|r| r.max),
            ops_per_sec: median_f64(rates),
        }
    }
}

/// Median of integers; the mean of the two middle values (rounded down) for
/// an even count; 0 for no values.
pub fn median_u64(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        // Average without overflow: a/2 + b/2 + carry of the two low bits.
        let (a, b) = (v[mid - 1], v[mid]);
        a / 2 + b / 2 + (a % 2 + b % 2) / 2
    }
}

/// Median of floats (non-finite values are ignored); `None` for no values.
pub fn median_f64(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_unstable_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// `num / den` as a ratio, `None` when the denominator is zero.
pub fn ratio(num: f64, den: f64) -> Option<f64> {
    if den == 0.0 || !num.is_finite() || !den.is_finite() {
        None
    } else {
        Some(num / den)
    }
}

/// One case (one implementation in one placement or with one payload size):
/// its per-run statistics, their median, and its ratio to the section's
/// reference case.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaseResult {
    /// Case name as printed, e.g. `talon ring` or `write(2) per record`.
    pub case: String,
    /// One entry per run, in run order.
    pub runs: Vec<RunStats>,
    /// Column-wise median of `runs`.
    pub median: RunStats,
    /// `median.p50 / reference.median.p50`, filled by
    /// [`Section::fill_ratios`]; `None` for cases without latency samples.
    pub ratio_p50: Option<f64>,
}

impl CaseResult {
    /// A case from its runs (the median is computed here).
    pub fn new(case: impl Into<String>, runs: Vec<RunStats>) -> Self {
        let median = RunStats::median_of(&runs);
        Self {
            case: case.into(),
            runs,
            median,
            ratio_p50: None,
        }
    }
}

/// Which way a target bound goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// Value must be at most the target.
    AtMost,
    /// Value must be at least the target.
    AtLeast,
}

/// A target from the issue, printed beside the measured value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Target {
    /// Direction of the bound.
    pub bound: Bound,
    /// The bound itself, in the check's unit.
    pub value: f64,
}

impl Target {
    /// `value ≤ bound`.
    pub fn at_most(value: f64) -> Self {
        Self {
            bound: Bound::AtMost,
            value,
        }
    }

    /// `value ≥ bound`.
    pub fn at_least(value: f64) -> Self {
        Self {
            bound: Bound::AtLeast,
            value,
        }
    }

    /// Whether `measured` meets this target.
    pub fn met_by(&self, measured: f64) -> bool {
        match self.bound {
            Bound::AtMost => measured <= self.value,
            Bound::AtLeast => measured >= self.value,
        }
    }
}

/// A derived number (usually a ratio of medians) with an optional target.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// What is compared, e.g. `talon / rtrb p50 (separate cores)`.
    pub name: String,
    /// The measured value; `None` if it could not be computed.
    pub value: Option<f64>,
    /// Unit printed after the value: `x` for ratios, `ns` for latencies.
    pub unit: &'static str,
    /// The target from the issue, if any.
    pub target: Option<Target>,
    /// `Some(true/false)` when there is a target and a value.
    pub met: Option<bool>,
}

impl Check {
    /// A check; `met` is derived from the value and target.
    pub fn new(
        name: impl Into<String>,
        value: Option<f64>,
        unit: &'static str,
        target: Option<Target>,
    ) -> Self {
        let met = match (value, target) {
            (Some(v), Some(t)) => Some(t.met_by(v)),
            _ => None,
        };
        Self {
            name: name.into(),
            value,
            unit,
            target,
            met,
        }
    }
}

/// A table of cases measured together, plus the checks derived from them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Section {
    /// Section heading, e.g. `ring hop, separate cores (0 -> 1)`.
    pub title: String,
    /// Name of the case the `ratio` column divides by.
    pub reference: String,
    /// The cases, in print order.
    pub cases: Vec<CaseResult>,
    /// Derived ratios and targets.
    pub checks: Vec<Check>,
}

impl Section {
    /// A section with no checks yet; the ratio column is filled against
    /// `reference` (a case name).
    pub fn new(
        title: impl Into<String>,
        reference: impl Into<String>,
        cases: Vec<CaseResult>,
    ) -> Self {
        let mut s = Self {
            title: title.into(),
            reference: reference.into(),
            cases,
            checks: Vec::new(),
        };
        s.fill_ratios();
        s
    }

    /// Sets every case's `ratio_p50` to its median p50 over the reference
    /// case's median p50.
    pub fn fill_ratios(&mut self) {
        let reference = self.case(&self.reference).map(|c| c.median.p50);
        for c in &mut self.cases {
            c.ratio_p50 = match reference {
                Some(r) if c.median.samples > 0 => ratio(c.median.p50 as f64, r as f64),
                _ => None,
            };
        }
    }

    /// Appends a row that gets no ratio (e.g. the clock-overhead row: it is
    /// context for the others, not an alternative to the reference).
    pub fn push_unrated(&mut self, case: CaseResult) {
        self.cases.push(CaseResult {
            ratio_p50: None,
            ..case
        });
    }

    /// The case with this name.
    pub fn case(&self, name: &str) -> Option<&CaseResult> {
        self.cases.iter().find(|c| c.case == name)
    }

    /// Median p50 of `num` over median p50 of `den`, if both exist.
    pub fn p50_ratio(&self, num: &str, den: &str) -> Option<f64> {
        let n = self.case(num)?.median.p50;
        let d = self.case(den)?.median.p50;
        ratio(n as f64, d as f64)
    }

    /// Median throughput of `num` over median throughput of `den`.
    pub fn ops_ratio(&self, num: &str, den: &str) -> Option<f64> {
        let n = self.case(num)?.median.ops_per_sec?;
        let d = self.case(den)?.median.ops_per_sec?;
        ratio(n, d)
    }
}

/// A complete benchmark report: machine facts, method notes, sections.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    /// Report title, e.g. `ring_hop_one_to_one`.
    pub title: String,
    /// Facts about the machine and build the numbers came from.
    pub machine: MachineInfo,
    /// How many runs each median is taken over.
    pub runs: u32,
    /// Method notes printed under the header (what is timed, how, caveats).
    pub notes: Vec<String>,
    /// The measured tables.
    pub sections: Vec<Section>,
}

/// Nanoseconds: integer ns below 10 µs, µs below 1 ms, ms above.
fn fmt_ns(ns: u64) -> String {
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}

/// Operations per second with an SI suffix.
fn fmt_rate(r: Option<f64>) -> String {
    match r {
        None => "—".to_owned(),
        Some(r) if r >= 1e6 => format!("{:.2} M/s", r / 1e6),
        Some(r) if r >= 1e3 => format!("{:.1} k/s", r / 1e3),
        Some(r) => format!("{r:.0} /s"),
    }
}

fn fmt_value(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "n/a".to_owned(),
        Some(v) if unit == "ns" => format!("{v:.0} ns"),
        Some(v) => format!("{v:.2}{unit}"),
    }
}

impl BenchReport {
    /// The report as markdown: a header with machine facts, the method notes,
    /// then per section a percentile table (medians across runs) and a
    /// checks table.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        // `write!` into a String cannot fail; the results are ignored.
        let _ = writeln!(out, "## {}", self.title);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "machine: {} cores, {}, kernel {}, {}, commit {}, medians of {} runs",
            m.cores,
            m.cpu_model,
            m.kernel,
            m.date_utc,
            m.git_commit.as_deref().unwrap_or("unknown"),
            self.runs,
        );
        if !self.notes.is_empty() {
            let _ = writeln!(out);
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        for s in &self.sections {
            let _ = writeln!(out);
            let _ = writeln!(out, "### {}", s.title);
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "| case | p50 | p90 | p99 | p99.9 | max | ops/s | ratio (p50 / {}) |",
                s.reference
            );
            let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|");
            for c in &s.cases {
                let r = &c.median;
                let lat = |v: u64| {
                    if r.samples == 0 {
                        "—".to_owned()
                    } else {
                        fmt_ns(v)
                    }
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    c.case,
                    lat(r.p50),
                    lat(r.p90),
                    lat(r.p99),
                    lat(r.p999),
                    lat(r.max),
                    fmt_rate(r.ops_per_sec),
                    c.ratio_p50
                        .map_or_else(|| "—".to_owned(), |x| format!("{x:.2}x")),
                );
            }
            if !s.checks.is_empty() {
                let _ = writeln!(out);
                let _ = writeln!(out, "| check | value | target | met |");
                let _ = writeln!(out, "|---|--:|--:|:-:|");
                for ch in &s.checks {
                    let target = ch.target.map_or_else(
                        || "—".to_owned(),
                        |t| {
                            let op = match t.bound {
                                Bound::AtMost => "≤",
                                Bound::AtLeast => "≥",
                            };
                            format!("{op} {}", fmt_value(Some(t.value), ch.unit))
                        },
                    );
                    let met = match ch.met {
                        None => "—",
                        Some(true) => "yes",
                        Some(false) => "missed",
                    };
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} |",
                        ch.name,
                        fmt_value(ch.value, ch.unit),
                        target,
                        met
                    );
                }
            }
        }
        out
    }

    /// The report as JSON, including every run's statistics (not only the
    /// medians) so another tool can recompute anything printed.
    pub fn to_json(&self) -> serde_json::Value {
        // Serialising these plain structs cannot fail (string keys only, and
        // serde_json maps non-finite floats to null); keep a visible value
        // rather than panicking if that ever changes.
        serde_json::to_value(self).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn machine() -> MachineInfo {
        MachineInfo {
            cores: 2,
            cpu_model: "Test CPU".to_owned(),
            kernel: "6.0".to_owned(),
            date_utc: "2025-01-02 03:04:05 UTC".to_owned(),
            git_commit: Some("abc1234".to_owned()),
        }
    }

    fn stats(p50: u64, max: u64, ops: Option<f64>) -> RunStats {
        RunStats {
            samples: 1000,
            p50,
            p90: p50 + 10,
            p99: p50 + 20,
            p999: p50 + 30,
            max,
            ops_per_sec: ops,
        }
    }

    #[test]
    fn median_handles_odd_even_and_empty() {
        assert_eq!(median_u64(vec![]), 0);
        assert_eq!(median_u64(vec![7]), 7);
        assert_eq!(median_u64(vec![9, 1, 5]), 5);
        assert_eq!(median_u64(vec![4, 1, 3, 2]), 2); // (2 + 3) / 2 rounded down
        assert_eq!(median_u64(vec![u64::MAX, u64::MAX]), u64::MAX);
        assert_eq!(median_u64(vec![u64::MAX - 1, u64::MAX]), u64::MAX - 1);
        assert_eq!(median_f64(vec![]), None);
        assert_eq!(median_f64(vec![3.0, f64::NAN, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_f64(vec![1.0, 4.0]), Some(2.5));
    }

    #[test]
    fn median_of_runs_is_column_wise() {
        // The run with the worst p50 is not the run with the worst max: the
        // median must take each column separately.
        let runs = [
            stats(100, 5000, Some(3.0)),
            stats(300, 900, Some(1.0)),
            stats(200, 1000, None),
        ];
        let m = RunStats::median_of(&runs);
        assert_eq!(m.p50, 200);
        assert_eq!(m.p90, 210);
        assert_eq!(m.max, 1000);
        assert_eq!(m.ops_per_sec, Some(2.0)); // median of the two runs that have a rate
    }

    #[test]
    fn histogram_percentiles_are_read_in_order() {
        let mut h = new_histogram().unwrap();
        for v in 1..=10_000u64 {
            h.saturating_record(v);
        }
        h.saturating_record(HIST_MAX_NS * 2); // saturates, never panics
        let r = RunStats::from_histogram(&h, None);
        assert_eq!(r.samples, 10_001);
        // 3 significant digits: within 0.1 % of the exact rank.
        assert!(r.p50.abs_diff(5_000) <= 5, "p50 {}", r.p50);
        assert!(r.p99.abs_diff(9_900) <= 10, "p99 {}", r.p99);
        assert!(r.p50 <= r.p90 && r.p90 <= r.p99 && r.p99 <= r.p999 && r.p999 <= r.max);
        assert!(r.max >= HIST_MAX_NS);
    }

    #[test]
    fn markdown_table_has_header_rows_ratios_and_checks() {
        let talon = CaseResult::new("talon ring", vec![stats(100, 900, None); 3]);
        let rtrb = CaseResult::new("rtrb", vec![stats(80, 800, None); 3]);
        let journal = CaseResult::new(
            "journal 64 B",
            vec![stats(12_345, 2_000_000, Some(2_500_000.0)); 3],
        );
        let mut s = Section::new(
            "ring hop, separate cores",
            "talon ring",
            vec![talon, rtrb, journal],
        );
        let r = s.p50_ratio("talon ring", "rtrb");
        s.checks.push(Check::new(
            "talon / rtrb p50",
            r,
            "x",
            Some(Target::at_most(1.5)),
        ));
        s.checks.push(Check::new(
            "talon p99.9",
            Some(1200.0),
            "ns",
            Some(Target::at_most(1000.0)),
        ));
        s.checks.push(Check::new("no target", None, "x", None));
        let report = BenchReport {
            title: "ring_hop_one_to_one".to_owned(),
            machine: machine(),
            runs: 3,
            notes: vec!["producer paced by a 2 µs spin gap".to_owned()],
            sections: vec![s],
        };
        let md = report.to_markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "## ring_hop_one_to_one");
        assert!(
            lines[2].contains("2 cores, Test CPU, kernel 6.0"),
            "{}",
            lines[2]
        );
        assert!(lines[2].contains("commit abc1234, medians of 3 runs"));
        assert!(md.contains("- producer paced by a 2 µs spin gap\n"));
        assert!(md.contains(
            "| case | p50 | p90 | p99 | p99.9 | max | ops/s | ratio (p50 / talon ring) |\n|---|--:|--:|--:|--:|--:|--:|--:|\n"
        ));
        assert!(
            md.contains(
                "| talon ring | 100 ns | 110 ns | 120 ns | 130 ns | 900 ns | — | 1.00x |\n"
            )
        );
        assert!(md.contains("| rtrb | 80 ns | 90 ns | 100 ns | 110 ns | 800 ns | — | 0.80x |\n"));
        let journal_row = lines
            .iter()
            .find(|l| l.starts_with("| journal 64 B"))
            .unwrap();
        assert_eq!(
            *journal_row,
            "| journal 64 B | 12.3 µs | 12.4 µs | 12.4 µs | 12.4 µs | 2.00 ms | 2.50 M/s | 123.45x |"
        );
        assert!(md.contains("| talon / rtrb p50 | 1.25x | ≤ 1.50x | yes |\n"));
        assert!(md.contains("| talon p99.9 | 1200 ns | ≤ 1000 ns | missed |\n"));
        assert!(md.contains("| no target | n/a | — | — |\n"));

        let json = report.to_json();
        assert_eq!(json["sections"][0]["cases"][1]["median"]["p50"], 80);
        assert_eq!(
            json["sections"][0]["cases"][0]["runs"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(json["sections"][0]["checks"][1]["met"], false);
        assert_eq!(
            json["sections"][0]["checks"][0]["target"]["bound"],
            "at_most"
        );
        assert_eq!(json["machine"]["git_commit"], "abc1234");
    }

    #[test]
    fn ratio_guards_zero_denominator() {
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
        let empty = CaseResult::new("empty", vec![RunStats::default()]);
        let s = Section::new("t", "missing-reference", vec![empty]);
        assert_eq!(s.cases[0].ratio_p50, None);
        assert_eq!(s.p50_ratio("empty", "nope"), None);
    }
}
