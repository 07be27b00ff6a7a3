//! Scenario checking throughput: parse every `*.bpfs` under the given directories (default
//! `spec/testdata`) and run each in every era it names on the spec, repeatedly; prints
//! scenarios/s (parse + compile + run + compare) and scenario×era runs/s.
//!
//! Run with `make bench`.

use spec::SpecEngine;
use std::path::{Path, PathBuf};
use std::time::Instant;

const ROUNDS: usize = 200;

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "bpfs") {
            out.push(p);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/testdata");
    let mut files = Vec::new();
    collect(&root, &mut files);
    let texts: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|p| {
            (
                p.clone(),
                std::fs::read_to_string(&p).expect("readable scenario"),
            )
        })
        .collect();
    assert!(!texts.is_empty(), "no scenarios under {}", root.display());
    let start = Instant::now();
    let mut runs = 0usize;
    for _ in 0..ROUNDS {
        for (path, text) in &texts {
            let sc = scenario::parse(text, path).expect("the corpus parses");
            for k in sc.header.eras.iter().flat_map(|era| sc.kernels_for(era)) {
                let mut engine = SpecEngine::new(k);
                let run = scenario::run(&sc, &mut engine);
                assert!(run.agrees(), "{} disagrees on {k}", path.display());
                runs += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = texts.len() * ROUNDS;
    println!(
        "scenario checking: {} scenarios x {ROUNDS} rounds",
        texts.len()
    );
    println!(
        "  {:>10.0} scenarios/s   {:>10.0} scenario×era runs/s",
        n as f64 / secs,
        runs as f64 / secs
    );
}
