//! `bpfspec conform`: scenarios (and generated cases) on the real kernel and on the spec,
//! step by step.
//!
//! For each scenario file whose `eras` include the detected kernel: the kernel's answers are
//! judged against the file's expectations, and the spec's against the kernel's. A scenario
//! may list a `diverges <eras>: <reason>` entry; a divergence in such an era is counted as
//! listed, not as a failure.
//!
//! The files' answers are the era's upstream ones. On a kernel with backports (features the
//! oracle's probe found that its era has not, [`oracle::Host::upstream`]), a step whose spec
//! outcome the backports change is the kernel's own: only the spec, which knows them, is
//! compared with it there; a story the spec cannot tell with them (an `Unsupported` at such a
//! step) is not for this kernel.

use crate::EXIT_USAGE;
use crate::files;
use oracle::diff::{self, Diff, Verdict, Why};
use oracle::regression::Replay;
use oracle::{Host, KernelEngine};
use scenario::{Expected, Scenario};
use spec::{Actual, Engine, Outcome, SpecEngine};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status when the kernel cannot be used (automake's SKIP): never a pass.
pub const EXIT_SKIP: u8 = 77;

/// Probe the kernel, or say loudly why not and what is skipped.
pub fn host(what: &str) -> Result<Host, ExitCode> {
    match Host::probe() {
        Ok(h) => {
            println!("kernel: {}", h.detection);
            Ok(h)
        }
        Err(e) => {
            eprintln!("SKIPPED: {what} needs the kernel oracle, which is unavailable: {e}");
            Err(ExitCode::from(EXIT_SKIP))
        }
    }
}

/// How many more times a scenario poisoned by timing is run before it counts as failed.
const TIMING_RETRIES: u32 = 2;

/// One scenario's row.
struct Row {
    name: String,
    file_vs_kernel: String,
    spec_vs_kernel: String,
    status: Status,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Agree,
    /// Does not agree, as a `diverges` entry says.
    Listed,
    /// A `diverges` entry for this era, but everything agrees.
    Stale,
    Failed,
}

pub fn files(paths: &[PathBuf], lateness: u64) -> ExitCode {
    let files = match files::collect(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bpfspec conform: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut scenarios = Vec::new();
    for f in &files {
        match files::load(f) {
            Ok(s) => scenarios.push(s),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    let host = match host("bpfspec conform") {
        Ok(h) => h,
        Err(code) => return code,
    };
    let mut rows = Vec::new();
    let (mut ran, mut skipped) = (0, 0);
    for s in &scenarios {
        match conform_one(&host, s, lateness) {
            Some(r) => {
                ran += 1;
                rows.push(r);
            }
            None => skipped += 1,
        }
    }
    print_table(&rows);
    let n = |st: Status| rows.iter().filter(|r| r.status == st).count();
    let (failed, stale) = (n(Status::Failed), n(Status::Stale));
    println!(
        "conform: {ran} scenarios on the kernel ({skipped} not for this kernel): {} agree, \
         {} listed divergences, {stale} stale divergence entries, {failed} failed",
        n(Status::Agree),
        n(Status::Listed),
    );
    if failed + stale == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn conform_one(host: &Host, s: &Scenario, lateness: u64) -> Option<Row> {
    let era = host.kernel.era;
    if s.header.not_for(&host.kernel).is_some() {
        return None;
    }
    let Some(file_answers) = file_answers(host, s) else {
        println!(
            "{}: not for this kernel: its backports ({}) change a step the spec cannot answer",
            s.header.slug,
            host.detection.backports()
        );
        return None;
    };
    let steps: Vec<spec::Action> = s.steps.iter().map(|st| st.action.clone()).collect();
    // A story poisoned by timing (the host was too slow to call an expiry) says nothing about
    // either engine: run it again on a fresh engine, a bounded number of times.
    let mut timing_retries = 0;
    let diff = loop {
        let d = match KernelEngine::new(host) {
            Ok(mut k) => diff::run(&mut k, &steps, lateness),
            Err(e) => {
                return Some(Row {
                    name: s.header.slug.clone(),
                    file_vs_kernel: format!("oracle map: {e}"),
                    spec_vs_kernel: String::new(),
                    status: Status::Failed,
                });
            }
        };
        match &d.verdict {
            Verdict::Poisoned {
                why: Why::Timing(_),
                ..
            } if timing_retries < TIMING_RETRIES => timing_retries += 1,
            _ => break d,
        }
    };
    let mut file_bad = Vec::new();
    let steps_answered = s.steps.iter().zip(&diff.pairs).zip(&file_answers);
    for ((st, pair), _) in steps_answered.filter(|(_, answers)| **answers) {
        let want: &Expected = st.expect.for_era(era);
        if !want.is_met_by(&pair.kernel) {
            file_bad.push(format!(
                "line {}: `{}` kernel {} file {}",
                st.line,
                st.text,
                scenario::render_actual(s, st, &pair.kernel),
                scenario::render_expected(s, st, want)
            ));
        }
    }
    let (mut spec_vs_kernel, diverged) = describe(s, &diff);
    if timing_retries > 0 {
        spec_vs_kernel.push_str(&format!(" (run {} times: timing)", timing_retries + 1));
    }
    let backported = file_answers.iter().filter(|a| !**a).count();
    let file_vs_kernel = if file_bad.is_empty() && backported > 0 {
        format!(
            "agree ({} steps, {backported} backported)",
            diff.pairs.len() - backported
        )
    } else if file_bad.is_empty() {
        format!("agree ({} steps)", diff.pairs.len())
    } else {
        file_bad.join("; ")
    };
    let problem = !file_bad.is_empty() || diverged;
    let listed = s.header.diverges.iter().find(|d| d.eras.contains(era));
    let status = match (problem, listed) {
        (false, None) => Status::Agree,
        (true, None) => Status::Failed,
        (true, Some(d)) => {
            spec_vs_kernel = format!("LISTED (line {}: {}): {spec_vs_kernel}", d.line, d.reason);
            Status::Listed
        }
        (false, Some(d)) => {
            spec_vs_kernel = format!(
                "STALE divergence entry at line {}: everything agrees",
                d.line
            );
            Status::Stale
        }
    };
    Some(Row {
        name: s.header.slug.clone(),
        status,
        file_vs_kernel,
        spec_vs_kernel,
    })
}

/// Per step, whether the file's answer (the era's upstream one) is this kernel's: the spec's
/// outcome is the same with the kernel's features as with its era's; `None` when the spec
/// cannot answer a step the kernel's backports change.
fn file_answers(host: &Host, s: &Scenario) -> Option<Vec<bool>> {
    let upstream = host.upstream();
    if upstream == host.kernel {
        return Some(vec![true; s.steps.len()]);
    }
    let (mut here, mut there) = (SpecEngine::new(host.kernel), SpecEngine::new(upstream));
    s.steps
        .iter()
        .map(|st| match (here.act(&st.action), there.act(&st.action)) {
            (a, b) if a == b => Some(true),
            (Actual::Outcome(Outcome::Unsupported(_)), _) => None,
            _ => Some(false),
        })
        .collect()
}

/// The spec-vs-kernel cell, and whether it is a failure.
fn describe(s: &Scenario, d: &Diff) -> (String, bool) {
    match &d.verdict {
        Verdict::Agree => ("agree".into(), false),
        Verdict::Diverged { step } => {
            let st = &s.steps[*step];
            let p = &d.pairs[*step];
            let mut text = format!(
                "DIVERGED line {}: `{}` spec {} kernel {}",
                st.line,
                st.text,
                scenario::render_actual(s, st, &p.spec),
                scenario::render_actual(s, st, &p.kernel)
            );
            if let (Actual::Outcome(spec::Outcome::Reject(_)), Some(log)) =
                (&p.kernel, &d.kernel_log)
            {
                text.push_str(&format!(" [kernel log: {}]", log.replace('\n', " | ")));
            }
            (text, true)
        }
        Verdict::Poisoned { step, why } => (
            format!("poisoned at line {}: {why}", s.steps[*step].line),
            true,
        ),
    }
}

fn print_table(rows: &[Row]) {
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
    println!("{:w$}  {:22}  spec vs kernel", "scenario", "kernel vs file");
    for r in rows {
        println!(
            "{:w$}  {:22}  {}",
            r.name, r.file_vs_kernel, r.spec_vs_kernel
        );
    }
}

/// What `--generate` found.
#[derive(Default)]
struct Tally {
    agree: usize,
    diverged: Vec<(u64, Diff, Vec<spec::Action>)>,
    /// Poisoned cases by cause.
    poisoned: std::collections::BTreeMap<String, usize>,
    steps: usize,
}

/// The poison cause without its particulars (`timing`, `spec: …`, `oracle: …`).
fn cause(why: &Why) -> String {
    match why {
        Why::Timing(_) => "timing (an expiry too close to a step)".into(),
        other => other.to_string(),
    }
}

/// `--generate N --seed S --first F`: cases F to F+N-1 on `threads` threads, each seeded by
/// `(S, case number)`, so any case replays alone. With `until_compared`, cases go on past
/// F+N-1 until N of them were compared (poisoned ones do not count), at most 2N in all: the
/// kernel matrix asks each era for N compared stories, and eras poison different shares.
pub fn generate(
    n: u64,
    seed: u64,
    first: u64,
    threads: usize,
    lateness: u64,
    until_compared: bool,
) -> ExitCode {
    let before = oracle::Census::take();
    let host = match host("bpfspec conform --generate") {
        Ok(h) => h,
        Err(code) => return code,
    };
    println!("before: {before}");
    let next = std::sync::atomic::AtomicU64::new(0);
    let drawn_at_most = if until_compared { 2 * n } else { n };
    let drawn = std::sync::atomic::AtomicU64::new(0);
    let tally = std::sync::Mutex::new(Tally::default());
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let enough = || {
                        let t = tally.lock().expect("tally");
                        (t.agree + t.diverged.len()) as u64 >= n
                    };
                    if i >= drawn_at_most || (i >= n && enough()) {
                        break;
                    }
                    drawn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let i = first + i;
                    let steps = case(seed, i);
                    let d = match diff::story(&host, &steps, lateness) {
                        Ok(d) => d,
                        Err(e) => {
                            eprintln!("case {i}: cannot create the oracle map: {e}");
                            continue;
                        }
                    };
                    let mut t = tally.lock().expect("tally");
                    t.steps += d.pairs.len();
                    match &d.verdict {
                        Verdict::Agree => t.agree += 1,
                        Verdict::Poisoned { why, .. } => {
                            *t.poisoned.entry(cause(why)).or_default() += 1;
                        }
                        Verdict::Diverged { .. } => t.diverged.push((i, d, steps)),
                    }
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let drawn = drawn.into_inner();
    let mut t = tally.into_inner().expect("tally");
    t.diverged.sort_by_key(|(i, ..)| *i);
    let compared = t.agree + t.diverged.len();
    let mut kinds: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for (i, d, steps) in &t.diverged {
        kinds.entry(divergence_kind(d, steps)).or_default().push(*i);
    }
    // The first case of each kind (five kinds at most), worded while the host is at hand.
    let reports: Vec<String> = t
        .diverged
        .into_iter()
        .filter(|(i, d, steps)| kinds[&divergence_kind(d, steps)][0] == *i)
        .take(5)
        .map(|(i, d, steps)| report_divergence(&host, seed, i, d, steps))
        .collect();
    drop(host);
    let after = oracle::Census::settled(before);
    let poisoned: usize = t.poisoned.values().sum();
    println!(
        "generated {drawn} cases (seed {seed}, {threads} threads) in {secs:.1} s: {:.0} cases/s, \
         {} steps",
        drawn as f64 / secs,
        t.steps
    );
    println!(
        "  compared {compared}: {} agree, {} diverged ({:.2}% agreement); poisoned {poisoned}",
        t.agree,
        compared - t.agree,
        100.0 * t.agree as f64 / compared.max(1) as f64
    );
    for (why, k) in &t.poisoned {
        println!("    {k:>6}  {why}");
    }
    println!("after:  {after}");
    let leaked = after.leaked_since(&before);
    if leaked {
        println!("LEAK: the counts differ from before");
    }
    for (kind, cases) in &kinds {
        println!("    {:>6}  {kind} (first: case {})", cases.len(), cases[0]);
    }
    for report in &reports {
        println!("{report}");
    }
    if kinds.is_empty() && !leaked {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Case `i` of seed `seed`.
pub fn case(seed: u64, i: u64) -> Vec<spec::Action> {
    let bytes = spec::generate::seeded_bytes(spec::generate::splitmix64(seed) ^ i, 512);
    oracle::cases::story(&bytes)
}

/// What a divergence is about, without its particulars: the step's kind and both answers.
fn divergence_kind(d: &Diff, steps: &[spec::Action]) -> String {
    let Verdict::Diverged { step } = d.verdict else {
        return String::new();
    };
    let debug = format!("{:?}", steps[step]);
    let inner = debug
        .split_once('(')
        .map_or(debug.as_str(), |(_, rest)| rest);
    let what: String = inner
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    format!(
        "{what}: spec {:?}, kernel {:?}",
        d.pairs[step].spec, d.pairs[step].kernel
    )
}

/// Divergence `d` of case `i` in kernel vocabulary, with a scenario file expecting the
/// kernel's answers to commit as its regression case, and the replay command.
fn report_divergence(host: &Host, seed: u64, i: u64, d: Diff, steps: Vec<spec::Action>) -> String {
    let Verdict::Diverged { step } = d.verdict else {
        return String::new();
    };
    let replay = Replay { steps, diff: d };
    format!(
        "\nDIVERGED: case {i} of seed {seed}: {}\n  replay: BPFSPEC_TRACE=1 bpfspec conform \
         --generate 1 --seed {seed} --first {i}",
        replay.describe_divergence(
            host,
            step,
            &format!("generated_seed{seed}_case{i}"),
            &format!("bpfspec conform --generate 1 --seed {seed} --first {i}")
        )
    )
}
