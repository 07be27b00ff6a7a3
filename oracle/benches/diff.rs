//! Differential throughput on ONE core: generated cases run on the spec and on the real
//! kernel side by side (`oracle::diff`), in full: BTF (from the host's per-layout cache),
//! map creates, program loads through the verifier, `BPF_PROG_TEST_RUN`s, element syscalls,
//! reads of the result map, and every fd closed at the end of the case.
//!
//! Waits are taken out of the stories: an `Advance` really sleeps on the kernel side, which
//! measures the clock, not the oracle (`bpfspec conform --generate` overlaps waits on
//! threads). In the same run the spec alone replays the same stories, so the spec's share
//! of a case is `spec time / differential time`.
//!
//! Run with `make bench`. Without bpf() it prints SKIPPED and why.

use oracle::diff::{self, Verdict};
use oracle::{Census, Host};
use spec::{Action, Engine, Op, SpecEngine};
use std::time::Instant;

/// Cases per measurement, the generator's seed, and the bytes each case is decoded from.
const CASES: u64 = 5_000;
const SEED: u64 = 7;
const BYTES: usize = 512;

/// Case `i`: a generated story without its waits.
fn case(i: u64) -> Vec<Action> {
    let bytes = spec::generate::seeded_bytes(spec::generate::splitmix64(SEED) ^ i, BYTES);
    let mut steps = oracle::cases::story(&bytes);
    steps.retain(|s| !matches!(s, Action::Op(Op::Advance { .. })));
    steps
}

fn main() {
    let before = Census::take();
    let host = match Host::probe() {
        Ok(h) => h,
        Err(e) => {
            println!("differential throughput: SKIPPED: the kernel oracle is unavailable: {e}");
            return;
        }
    };
    oracle::sys::stay_on_this_cpu().expect("pin the benchmark to one CPU");
    println!("differential throughput on one CPU: {}", host.detection);
    let cases: Vec<Vec<Action>> = (0..CASES).map(case).collect();
    let steps: usize = cases.iter().map(Vec::len).sum();

    let start = Instant::now();
    let (mut agree, mut diverged, mut poisoned) = (0, 0, 0);
    for c in &cases {
        let d = diff::story(&host, c, diff::LATENESS_NS).expect("create the oracle map");
        match d.verdict {
            Verdict::Agree => agree += 1,
            Verdict::Diverged { .. } => diverged += 1,
            Verdict::Poisoned { .. } => poisoned += 1,
        }
    }
    let both = start.elapsed().as_secs_f64();

    let start = Instant::now();
    for c in &cases {
        let mut e = SpecEngine::new(host.kernel);
        for step in c {
            std::hint::black_box(e.act(step));
        }
    }
    let spec_only = start.elapsed().as_secs_f64();

    println!(
        "  {CASES} full cases, {steps} steps: {:.0} cases/s ({:.1} us/case); \
         {agree} agree, {diverged} diverged, {poisoned} poisoned",
        CASES as f64 / both,
        1e6 * both / CASES as f64
    );
    println!(
        "  spec alone on the same cases: {:.1} us/case = {:.2}% of a differential case",
        1e6 * spec_only / CASES as f64,
        100.0 * spec_only / both
    );
    drop(host);
    println!(
        "  census before: {before}; after: {}",
        Census::settled(before)
    );
}
