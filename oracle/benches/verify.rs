//! The verifier differential's speed, side by side in one run on ONE core, over the same
//! generated programs (`spec::prog::generate`, seed 1, this kernel's era), in batches (each
//! batch's maps held open at once):
//!
//! * the spec's load (`spec::verify::load`) and the kernel's raw `BPF_PROG_LOAD` at log
//!   level 0 and `close`, of the same programs (those the kernel is given: their maps made,
//!   their functions found), each prepared before the clock starts on both sides, as a
//!   loader does: its maps made and its program encoded (`oracle::verify::prepare`: the
//!   maps, the BTF, the `struct bpf_insn`s; `spec::verify::prepare`: the maps, the slots),
//!   so that the kernel's verifier itself is timed against the spec's, the physical limit;
//!   in turns. A turn's figure is the median of its parts (the spec's passes over all the
//!   programs, the kernel's batches): each side's steady rate. Its first spec pass runs
//!   cold after the kernel's turn (measured: 1.2 us a program, the others 0.62), and a
//!   kernel batch may meet a neighbour's spike; the parts' range is printed. This VM has
//!   slow phases of one to three seconds, from a tenth to half of the time, which slow the
//!   spec 1.6 to 2 times and the kernel's load a tenth (measured: single spec passes every
//!   50 ms; in them, a dependent chain of ALU operations runs at its usual speed while a
//!   random walk over 16 MiB takes 125 ns a step, not 80). The rounds are about a second
//!   apart, so that they sample the phases rather than sit in one; the headline is the
//!   median round, and the rounds at or above the goal are counted;
//! * the differential loop (`oracle::vdiff::compare`): the spec's verdict, the case's maps
//!   created, the load, a rejected program's log read and classified, everything closed.
//!
//! Printed as ratios: the spec against the raw load (the goal is at least 100x), the loop
//! against the raw load rate (the goal is at least 80%). Without bpf() it prints SKIPPED.
//! Run with `cargo bench -p oracle --bench verify`.

use arbitrary::Unstructured;
use oracle::vdiff::{self, VDiff};
use oracle::{Census, Host, verify};
use spec::prog::{Case, generate};
use spec::verify::Prepared;
use std::time::{Duration, Instant};

const PROGRAMS: u64 = 2_000;
const BATCH: usize = 100;
/// How many times faster than the kernel's load the spec should be.
const GOAL: f64 = 100.0;
/// Turns of the spec and the kernel over all the programs.
const ROUNDS: usize = 15;
/// Spec passes over all the programs in one turn (one pass is too short a time to measure).
const SPEC_PASSES: u32 = 10;
/// The pause after the kernel's programs are gone, for their RCU callbacks to run; it also
/// spaces the rounds out (see the header).
const QUIESCE_MS: u64 = 700;

fn main() {
    let before = Census::take();
    let host = match Host::probe() {
        Ok(h) => h,
        Err(e) => {
            println!("verifier differential speed: SKIPPED: the kernel oracle is unavailable: {e}");
            return;
        }
    };
    oracle::sys::stay_on_this_cpu().expect("pin the benchmark to one CPU");
    println!("verifier differential speed on one CPU: {}", host.detection);
    let cases: Vec<Case> = (0..PROGRAMS)
        .filter_map(|i| {
            let bytes = spec::generate::seeded_bytes(spec::generate::splitmix64(1) ^ i, 1024);
            generate::case(&mut Unstructured::new(&bytes), &host.kernel).ok()
        })
        .collect();
    let n = cases.len() as f64;
    // The programs both sides time: those the kernel is given (its maps made, every function
    // found), each prepared by the spec before its clock starts, as the kernel's are.
    let timed: Vec<_> = cases
        .iter()
        .filter(|c| verify::prepare(&host, c).is_ok())
        .filter_map(|c| Some((c, spec::verify::prepare(&host.kernel, c).ok()?)))
        .collect();
    // The spec and the kernel in turns, ROUNDS times, so that both see the machine in the
    // same states: each figure is the median of its rounds.
    let (mut spec, mut raw) = (Vec::<Turn>::new(), Vec::<Turn>::new());
    let idle = Census::take();
    let mut loaded = 0usize;
    for _ in 0..ROUNDS {
        quiesce(idle);
        spec.push(spec_pass(&host, &timed));
        let us;
        (us, loaded) = kernel_pass(&host, &timed);
        raw.push(us);
    }
    // Each turn's pair: the machine's state (a VM's neighbours) moves both sides.
    for (i, (s, r)) in spec.iter().zip(&raw).enumerate() {
        println!(
            "  round {i}: spec {:.2} us (passes {:.2} to {:.2}), kernel {:.2} us (batches \
             {:.2} to {:.2}): {:.0}x",
            s.us,
            s.fastest,
            s.slowest,
            r.us,
            r.fastest,
            r.slowest,
            r.us / s.us
        );
    }
    let at_goal = spec
        .iter()
        .zip(&raw)
        .filter(|(s, r)| r.us >= GOAL * s.us)
        .count();
    let mut spec: Vec<f64> = spec.iter().map(|t| t.us).collect();
    let mut raw: Vec<f64> = raw.iter().map(|t| t.us).collect();
    let (spec_us, raw_us) = (median(&mut spec), median(&mut raw));
    // The differential loop.
    let t = Instant::now();
    let mut agree = 0;
    for c in &cases {
        agree += usize::from(matches!(vdiff::compare(&host, c), VDiff::Agree(_)));
    }
    let loop_us = t.elapsed().as_secs_f64() * 1e6 / n;
    println!(
        "  {} programs ({} timed on both sides, {loaded} loaded), {agree} agree",
        cases.len(),
        timed.len()
    );
    println!(
        "  spec load:                    {spec_us:>8.2} us/program (median of {ROUNDS} rounds; \
         {:.2} to {:.2})",
        spec[0],
        spec[ROUNDS - 1]
    );
    println!(
        "  kernel raw load (level 0):    {raw_us:>8.2} us/program (median of {ROUNDS} rounds; \
         {:.2} to {:.2})",
        raw[0],
        raw[ROUNDS - 1]
    );
    println!("  differential loop:            {loop_us:>8.2} us/program");
    println!(
        "  spec is {:.0}x faster than the kernel's load (goal >= {GOAL}x; {at_goal} of \
         {ROUNDS} rounds at or above it); the loop runs at {:.0}% of the raw load rate (goal \
         >= 80%)",
        raw_us / spec_us,
        100.0 * raw_us / loop_us
    );
    drop(host);
    println!(
        "  census before: {before}; after: {}",
        Census::settled(before)
    );
}

/// One side's turn: microseconds a program in its median part, its fastest and its slowest.
struct Turn {
    us: f64,
    fastest: f64,
    slowest: f64,
}

impl Turn {
    /// A turn of `parts`: (time, programs) each.
    fn of(parts: &[(Duration, usize)]) -> Turn {
        let mut each: Vec<f64> = parts
            .iter()
            .map(|&(t, n)| t.as_secs_f64() * 1e6 / n as f64)
            .collect();
        let us = median(&mut each);
        Turn {
            us,
            fastest: each[0],
            slowest: each[each.len() - 1],
        }
    }
}

/// The spec's load of every timed case, prepared, `SPEC_PASSES` times.
fn spec_pass(host: &Host, timed: &[(&Case, Prepared)]) -> Turn {
    let passes: Vec<_> = (0..SPEC_PASSES)
        .map(|_| {
            let t = Instant::now();
            for (c, prepared) in timed {
                std::hint::black_box(spec::verify::load(&host.kernel, c, prepared));
            }
            (t.elapsed(), timed.len())
        })
        .collect();
    Turn::of(&passes)
}

/// The kernel's raw load of every timed case, a batch at a time with the batch's maps and BTF
/// made before the clock starts; and how many were loaded.
fn kernel_pass(host: &Host, timed: &[(&Case, Prepared)]) -> (Turn, usize) {
    let mut batches = Vec::new();
    for batch in timed.chunks(BATCH) {
        let prepared: Vec<_> = batch
            .iter()
            .filter_map(|(c, _)| verify::prepare(host, c).ok())
            .collect();
        let t = Instant::now();
        for p in &prepared {
            std::hint::black_box(p.load_quiet().is_ok());
        }
        if !prepared.is_empty() {
            batches.push((t.elapsed(), prepared.len()));
        }
    }
    let loaded = batches.iter().map(|b| b.1).sum();
    (Turn::of(&batches), loaded)
}

/// The median of `xs`, which it leaves sorted.
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Wait for the kernel's deferred work of the loads before (the programs' frees run in RCU
/// callbacks and kworkers on this CPU after `close`): the spec's clock must not time the
/// kernel's cleanup.
fn quiesce(idle: Census) {
    Census::settled(idle);
    std::thread::sleep(Duration::from_millis(QUIESCE_MS));
}
