//! `bpfspec run`: the spec's prediction for every step, as text or JSON.

use crate::EXIT_USAGE;
use crate::files;
use scenario::{Actual, ScenarioRun, Verdict, render_actual};
use serde::Serialize;
use spec::{Era, SpecEngine};
use std::path::PathBuf;
use std::process::ExitCode;

/// One file on one kernel, for `--json`.
#[derive(Serialize)]
struct RunJson<'a> {
    file: &'a str,
    scenario: &'a str,
    era: &'static str,
    preempt_rt: bool,
    steps: Vec<StepJson<'a>>,
    /// Steps after an unsupported one, not run.
    not_run: usize,
}

#[derive(Serialize)]
struct StepJson<'a> {
    line: usize,
    step: &'a str,
    /// The typed outcome or observation.
    outcome: &'a Actual,
    /// The same in the notation of expectations.
    text: String,
    /// `agree`, `mismatch` or `unsupported`, against the file's expectation for this era.
    verdict: &'static str,
}

impl<'a> RunJson<'a> {
    fn new(run: &'a ScenarioRun<'a>) -> RunJson<'a> {
        let s = run.scenario;
        RunJson {
            file: &s.file,
            scenario: &s.header.slug,
            era: run.kernel.era.name(),
            preempt_rt: run.kernel.preempt_rt,
            steps: run
                .results
                .iter()
                .map(|r| StepJson {
                    line: r.step.line,
                    step: &r.step.text,
                    outcome: &r.actual,
                    text: render_actual(s, r.step, &r.actual),
                    verdict: match r.verdict {
                        Verdict::Agree => "agree",
                        Verdict::Mismatch { .. } => "mismatch",
                        Verdict::Unsupported(_) => "unsupported",
                    },
                })
                .collect(),
            not_run: run.not_run(),
        }
    }
}

/// Print one run as text: a title, then `LINE  step  -> predicted`, arrows aligned.
fn print_text(run: &ScenarioRun<'_>) {
    let s = run.scenario;
    println!("{} [{}] {}", s.file, run.kernel, s.header.slug);
    let width = run
        .results
        .iter()
        .map(|r| r.step.text.chars().count())
        .max()
        .unwrap_or(0);
    for r in &run.results {
        println!(
            "{:>5}  {:<width$}  -> {}",
            r.step.line,
            r.step.text,
            render_actual(s, r.step, &r.actual)
        );
    }
    if run.not_run() > 0 {
        println!(
            "       ({} later steps not run: the spec does not model this state)",
            run.not_run()
        );
    }
}

/// `bpfspec run`.
pub fn run(kernel: Option<Era>, json: bool, paths: &[PathBuf]) -> ExitCode {
    let mut scenarios = Vec::new();
    for path in paths {
        match files::load(path) {
            Ok(s) => scenarios.push(s),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    let mut runs = Vec::new();
    for s in &scenarios {
        let eras: Vec<Era> = kernel.map_or_else(|| s.header.eras.iter().collect(), |e| vec![e]);
        for k in eras.into_iter().flat_map(|era| s.kernels_for(era)) {
            runs.push(scenario::run(s, &mut SpecEngine::new(k)));
        }
    }
    if json {
        let objects: Vec<RunJson<'_>> = runs.iter().map(RunJson::new).collect();
        match serde_json::to_string_pretty(&objects) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("bpfspec: cannot write JSON: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        for (i, run) in runs.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print_text(run);
        }
    }
    ExitCode::SUCCESS
}
