//! `bpfspec check`: the spec against the expectations, every scenario in every era it names.

use crate::EXIT_USAGE;
use crate::files;
use spec::{Era, SpecEngine};
use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;

/// What a check found.
#[derive(Debug, Default)]
struct Tally {
    scenarios: usize,
    runs: usize,
    steps: usize,
    mismatches: usize,
    unsupported: usize,
    /// Runs in which the spec panicked (a broken invariant).
    panics: usize,
    /// Files with any problem.
    failing: BTreeSet<String>,
    unparsed: usize,
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `1 mismatch`, `3 mismatches`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

impl Tally {
    /// `checked 48 scenarios (173 scenario×era runs, 1,204 steps): all agree`.
    fn summary(&self) -> String {
        let problems: Vec<String> = [
            (self.mismatches, "mismatch", "mismatches"),
            (self.unsupported, "unsupported step", "unsupported steps"),
            (self.panics, "spec panic", "spec panics"),
        ]
        .into_iter()
        .filter(|&(n, ..)| n > 0)
        .map(|(n, one, many)| count(n, one, many))
        .collect();
        let verdict = if problems.is_empty() {
            "all agree".to_owned()
        } else {
            format!(
                "{} in {}",
                problems.join(", "),
                count(self.failing.len(), "scenario", "scenarios")
            )
        };
        let unparsed = match self.unparsed {
            0 => String::new(),
            n => format!("; {} not parsed", count(n, "file", "files")),
        };
        format!(
            "checked {} ({}, {}): {verdict}{unparsed}",
            count(self.scenarios, "scenario", "scenarios"),
            count(self.runs, "scenario×era run", "scenario×era runs"),
            count(self.steps, "step", "steps"),
        )
    }

    fn exit_code(&self) -> ExitCode {
        if self.unparsed > 0 {
            ExitCode::from(EXIT_USAGE)
        } else if self.failing.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// `bpfspec check`.
pub fn run(kernel: Option<Era>, paths: &[PathBuf]) -> ExitCode {
    let files = match files::collect(paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("bpfspec: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut tally = Tally::default();
    for path in &files {
        let s = match files::load(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                tally.unparsed += 1;
                continue;
            }
        };
        let eras: Vec<Era> = s
            .header
            .eras
            .iter()
            .filter(|&e| kernel.is_none_or(|k| k == e))
            .collect();
        tally.scenarios += usize::from(!eras.is_empty());
        for k in eras.into_iter().flat_map(|era| s.kernels_for(era)) {
            tally.runs += 1;
            let mut engine = SpecEngine::new(k);
            // A broken spec invariant panics, naming the invariant: count it and go on with
            // the other runs.
            let run = match panic::catch_unwind(AssertUnwindSafe(|| scenario::run(&s, &mut engine)))
            {
                Ok(run) => run,
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| payload.downcast_ref::<&str>().copied())
                        .unwrap_or("(no message)");
                    println!("{} [{k}]: the spec panicked: {message}", s.file);
                    tally.panics += 1;
                    tally.failing.insert(s.file.clone());
                    continue;
                }
            };
            tally.steps += run.results.len();
            tally.mismatches += run.mismatches();
            tally.unsupported += run.unsupported();
            for problem in run.problems() {
                println!("{problem}");
            }
            if !run.agrees() {
                tally.failing.insert(s.file.clone());
            }
        }
    }
    println!("{}", tally.summary());
    tally.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_204), "1,204");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn summary_names_each_kind_of_problem() {
        let mut t = Tally {
            scenarios: 48,
            runs: 173,
            steps: 1_204,
            ..Tally::default()
        };
        assert_eq!(
            t.summary(),
            "checked 48 scenarios (173 scenario×era runs, 1,204 steps): all agree"
        );
        t.mismatches = 3;
        t.unsupported = 1;
        t.failing.extend(["a".to_owned(), "b".to_owned()]);
        t.unparsed = 1;
        assert_eq!(
            t.summary(),
            "checked 48 scenarios (173 scenario×era runs, 1,204 steps): 3 mismatches, 1 unsupported step in 2 scenarios; 1 file not parsed"
        );
    }
}
