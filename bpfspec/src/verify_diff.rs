//! `bpfspec verify-diff`: the spec's verifier model against the kernel's verifier.
//!
//! * `verify-diff PATH...`: verifier case files (`*.bpfv`). The spec's verdict in every era a
//!   file names against the file (always), then, when bpf() is usable, the kernel's against
//!   the file and the spec's against the kernel's.
//! * `verify-diff --generate N --seed S`: generated programs (`spec::prog::generate`), the
//!   spec's verdict against the kernel's, with the agreement, the share of programs the
//!   kernel accepts, the spec's and the kernel's speed, and the fd / program / map counts
//!   before and after. Each divergence is printed as a case file that expects the kernel's
//!   verdict (and, with `--write DIR`, written there), with its replay command.

use crate::EXIT_USAGE;
use crate::conform::EXIT_SKIP;
use arbitrary::Unstructured;
use oracle::Host;
use oracle::vdiff::{self, VDiff};
use scenario::CaseFile;
use spec::prog::{Case, generate};
use spec::verify::{self, Verdict};
use spec::{Era, Kernel};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Case `i` of seed `seed` for `kernel`.
pub fn case(kernel: &Kernel, seed: u64, i: u64) -> Option<Case> {
    let bytes = spec::generate::seeded_bytes(spec::generate::splitmix64(seed) ^ i, 1024);
    generate::case(&mut Unstructured::new(&bytes), kernel).ok()
}

/// What `--generate` found.
#[derive(Default)]
struct Tally {
    agree: usize,
    accepted: usize,
    diverged: Vec<(u64, Case, VDiff)>,
    poisoned: BTreeMap<String, usize>,
    reasons: BTreeMap<String, usize>,
    spec_time: Duration,
    kernel_time: Duration,
}

/// `--generate N --seed S --first F`.
pub fn generate(n: u64, seed: u64, first: u64, write: Option<&Path>) -> ExitCode {
    let before = oracle::Census::take();
    let host = match crate::conform::host("bpfspec verify-diff --generate") {
        Ok(h) => h,
        Err(code) => return code,
    };
    println!("before: {before}");
    let mut t = Tally::default();
    let start = Instant::now();
    for i in first..first + n {
        let Some(case) = case(&host.kernel, seed, i) else {
            continue;
        };
        // The spec's verdict, then the kernel's, each timed.
        let s0 = Instant::now();
        let spec = verify::verify(&host.kernel, &case);
        t.spec_time += s0.elapsed();
        let k0 = Instant::now();
        let d = vdiff::compare_verdict(&host, &case, spec);
        t.kernel_time += k0.elapsed();
        match &d {
            VDiff::Agree(v) => {
                t.agree += 1;
                *t.reasons.entry(v.to_string()).or_default() += 1;
                t.accepted += usize::from(*v == Verdict::Accept);
            }
            VDiff::Diverged { kernel, .. } => {
                t.accepted += usize::from(*kernel == Verdict::Accept);
                t.diverged.push((i, case, d));
            }
            VDiff::Poisoned { why, .. } => *t.poisoned.entry(why.clone()).or_default() += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let compared = t.agree + t.diverged.len();
    let release = oracle::sys::kernel_release();
    let mut kinds: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (k, (_, _, d)) in t.diverged.iter().enumerate() {
        kinds.entry(d.to_string()).or_default().push(k);
    }
    let mut reports = Vec::new();
    for idx in kinds.values().map(|v| v[0]).take(8) {
        let (i, case, d) = &t.diverged[idx];
        reports.push(report(&host, &release, seed, *i, case, d, write));
    }
    drop(host);
    let after = oracle::Census::settled(before);
    println!(
        "generated {n} programs (seed {seed}) in {secs:.1} s: {:.0} programs/s",
        n as f64 / secs
    );
    println!(
        "  compared {compared}: {} agree, {} diverged ({:.2}% verdict+reason agreement); \
         poisoned {}",
        t.agree,
        t.diverged.len(),
        100.0 * t.agree as f64 / compared.max(1) as f64,
        t.poisoned.values().sum::<usize>()
    );
    println!(
        "  kernel accepted {} of {compared} ({:.1}%)",
        t.accepted,
        100.0 * t.accepted as f64 / compared.max(1) as f64
    );
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n.max(1) as f64;
    println!(
        "  in this loop: spec verdict {:.1} µs/program (each timed alone, after the kernel's \
         load before it, maps included), kernel {:.1} µs/program (maps and BTF made, the \
         program loaded with its messages): spec {:.0}x faster (the two verifiers alone, \
         side by side: make bench)",
        per(t.spec_time),
        per(t.kernel_time),
        t.kernel_time.as_secs_f64() / t.spec_time.as_secs_f64().max(1e-9)
    );
    println!("  verdicts agreed on:");
    for (v, k) in &t.reasons {
        println!("    {k:>6}  {v}");
    }
    for (why, k) in &t.poisoned {
        println!("    {k:>6}  poisoned: {why}");
    }
    println!("after:  {after}");
    let leaked = after.leaked_since(&before);
    if leaked {
        println!("LEAK: the counts differ from before");
    }
    for (kind, cases) in &kinds {
        println!(
            "    {:>6}  {kind} (first: case {})",
            cases.len(),
            t.diverged[cases[0]].0
        );
    }
    for r in &reports {
        println!("{r}");
    }
    if kinds.is_empty() && !leaked {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A divergence as a case file expecting the kernel's verdict, and its replay command.
fn report(
    host: &Host,
    release: &str,
    seed: u64,
    i: u64,
    case: &Case,
    d: &VDiff,
    write: Option<&Path>,
) -> String {
    let VDiff::Diverged { spec, kernel, log } = d else {
        return String::new();
    };
    let name = format!("generated_seed{seed}_case{i}");
    let file = CaseFile::observed(
        &name,
        case,
        &host.kernel,
        release,
        *kernel,
        log.as_deref().unwrap_or(""),
        &format!(
            "oracle: bpfspec verify-diff --generate 1 --seed {seed} --first {i} (the spec said \
             {spec})"
        ),
    );
    let text = scenario::render_case(&file);
    let mut out = format!(
        "\nDIVERGED: case {i} of seed {seed}: spec {spec}, kernel {kernel}\n  replay: bpfspec \
         verify-diff --generate 1 --seed {seed} --first {i}\n"
    );
    if let Some(dir) = write {
        let path = dir.join(format!("{name}.bpfv"));
        match std::fs::write(&path, &text) {
            Ok(()) => out.push_str(&format!("  written: {}\n", path.display())),
            Err(e) => out.push_str(&format!("  cannot write {}: {e}\n", path.display())),
        }
    }
    out.push_str(&text);
    out
}

/// One file's results.
struct FileResult {
    name: String,
    problems: Vec<String>,
    kernel: Option<String>,
}

/// `verify-diff PATH...`.
pub fn files(paths: &[PathBuf]) -> ExitCode {
    let files = match crate::files::collect_ext(paths, "bpfv") {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bpfspec verify-diff: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut cases = Vec::new();
    for f in &files {
        let parsed = std::fs::read_to_string(f)
            .map_err(|e| format!("{}: {e}", f.display()))
            .and_then(|text| scenario::parse_case(&text, f).map_err(|e| e.to_string()));
        match parsed {
            Ok(c) => cases.push(c),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    // The spec in every era each file names.
    let mut results: Vec<FileResult> = cases
        .iter()
        .map(|c| FileResult {
            name: c.name.clone(),
            problems: Era::ALL
                .into_iter()
                .filter_map(|era| {
                    let want = c.expected(era)?;
                    let got = scenario::as_stated(verify::verify(&Kernel::new(era), &c.case));
                    (got != want).then(|| format!("{era}: spec {got}, file {want}"))
                })
                .collect(),
            kernel: None,
        })
        .collect();
    let spec_failed = results.iter().filter(|r| !r.problems.is_empty()).count();
    let runs: usize = cases
        .iter()
        .map(|c| {
            Era::ALL
                .iter()
                .filter(|&&e| c.expected(e).is_some())
                .count()
        })
        .sum();
    println!(
        "spec: {} cases, {runs} case×era verdicts: {} agree with their files, {spec_failed} do not",
        cases.len(),
        cases.len() - spec_failed
    );
    let before = oracle::Census::take();
    let host = crate::conform::host("bpfspec verify-diff (the kernel half)").ok();
    let mut kernel_failed = 0;
    let mut on_kernel = 0;
    // Cases whose verdict the kernel's backports change (compared with the spec only).
    let mut on_backports = 0;
    let mut kernel_line = None;
    if let Some(host) = host {
        for (c, r) in cases.iter().zip(&mut results) {
            let Some(want) = c.expected(host.kernel.era) else {
                continue;
            };
            on_kernel += 1;
            let spec = verify::verify(&host.kernel, &c.case);
            let loaded = match spec {
                // Outside the model: not loaded (see `oracle::vdiff::compare`).
                Verdict::Unsupported(_) => oracle::verify::Loaded {
                    verdict: spec,
                    log: None,
                    errno: None,
                },
                _ => oracle::verify::load(&host, &c.case),
            };
            let mut bad = Vec::new();
            // The files state the era's upstream verdicts for kernels without PREEMPT_RT: on
            // an RT kernel, or where the kernel's backports change the spec's verdict, only
            // the spec, which knows them, is compared with the kernel.
            let upstream = host.upstream();
            let backported = upstream != host.kernel && spec != verify::verify(&upstream, &c.case);
            on_backports += usize::from(backported);
            let file_holds = !host.kernel.preempt_rt && !backported;
            if file_holds && scenario::as_stated(loaded.verdict) != want {
                bad.push(format!("kernel {}, file {want}", loaded.verdict));
            }
            if spec != loaded.verdict {
                bad.push(format!("spec {spec}, kernel {}", loaded.verdict));
            }
            if !bad.is_empty() {
                kernel_failed += 1;
                if let Some(log) = &loaded.log {
                    bad.push(format!(
                        "kernel log: {}",
                        log.trim_end().replace('\n', " | ")
                    ));
                }
            }
            r.kernel = Some(if bad.is_empty() && backported {
                format!(
                    "agree ({}; the file's {} answer is not this kernel's: backports {})",
                    loaded.verdict,
                    host.kernel.era,
                    host.detection.backports()
                )
            } else if bad.is_empty() {
                format!("agree ({})", loaded.verdict)
            } else {
                bad.join("; ")
            });
        }
        kernel_line = Some(format!(
            "kernel ({}): {on_kernel} cases for era {}{}",
            host.detection.release,
            host.kernel.era,
            match on_backports {
                0 => String::new(),
                n => format!(" ({n} of them changed by its backports, checked against the spec)"),
            }
        ));
        drop(host);
        let after = oracle::Census::settled(before);
        if after.leaked_since(&before) {
            println!("LEAK: before {before}, after {after}");
            kernel_failed += 1;
        }
    }
    for r in &results {
        let quiet = |k: &String| k.starts_with("agree") && !k.contains("backports");
        if r.problems.is_empty() && r.kernel.as_ref().is_none_or(quiet) {
            continue;
        }
        println!("{}:", r.name);
        for p in &r.problems {
            println!("  {p}");
        }
        if let Some(k) = &r.kernel {
            println!("  kernel: {k}");
        }
    }
    if let Some(line) = &kernel_line {
        println!(
            "{line}: {} agree, {kernel_failed} do not",
            on_kernel - kernel_failed.min(on_kernel)
        );
    }
    match (spec_failed + kernel_failed, &kernel_line) {
        (0, Some(_)) => ExitCode::SUCCESS,
        (0, None) => ExitCode::from(EXIT_SKIP),
        _ => ExitCode::FAILURE,
    }
}
