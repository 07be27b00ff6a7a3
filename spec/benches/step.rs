//! `step` throughput: ops per second over generated op sequences (`spec::generate`, fixed
//! seed), per era, with and without the invariant check after every step.
//!
//! Run with `make bench`. Prints one line per era and mode.

use spec::{Engine, Era, Kernel, Op, SpecEngine};
use std::time::Instant;

/// Sequences per measurement and bytes of generator input per sequence.
const SEQUENCES: usize = 20_000;
const BYTES: usize = 600;

fn sequences() -> Vec<Vec<Op>> {
    (0..SEQUENCES as u64)
        .map(|s| spec::generate::sequence(&spec::generate::seeded_bytes(s + 1, BYTES)))
        .collect()
}

fn main() {
    let seqs = sequences();
    let total: usize = seqs.iter().map(Vec::len).sum();
    println!("step throughput: {SEQUENCES} generated sequences, {total} ops");
    for era in Era::ALL {
        for checked in [false, true] {
            let start = Instant::now();
            for ops in &seqs {
                let mut e = SpecEngine::new(Kernel::new(era));
                e.checked = checked;
                for op in ops {
                    std::hint::black_box(e.apply(op));
                }
            }
            let secs = start.elapsed().as_secs_f64();
            let mode = if checked {
                "with invariants"
            } else {
                "step only"
            };
            println!("  {era:>5} {mode:<16} {:>12.0} ops/s", total as f64 / secs);
        }
    }
}
