//! `divergence_to_scenario INPUT OUTPUT.bpfs`: a `runtime_diff` input on which the spec
//! diverges from the kernel (a libFuzzer crash file, minimized or not) as a scenario file
//! that replays in `make ci`.
//!
//! The input's story runs on this kernel and on the spec again, as the fuzz target runs it.
//! If it diverges, the steps up to and including the divergent one are written with the
//! KERNEL's answers as expectations (never the spec's), `scenario <OUTPUT's stem>`, a `source`
//! line naming the input and the kernel, `eras` this kernel's era, no `diverges` entry: the
//! file fails `bpfspec check` until the spec is fixed. Before writing, the steps as written
//! run on the kernel and the spec once more and must diverge at the same step with the
//! kernel meeting every expectation; otherwise nothing is written.
//!
//! Exit status: 0 written; 1 no divergence, not reproduced, or no file can state the story
//! (the reason is printed); 2 usage or I/O error; 77 (SKIP) without the kernel oracle.

use oracle::Host;
use oracle::diff::{self, LATENESS_NS, Verdict};
use oracle::regression::Replay;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: divergence_to_scenario INPUT OUTPUT.bpfs";
const EXIT_USAGE: u8 = 2;
/// Automake's SKIP, as `bpfspec conform`.
const EXIT_SKIP: u8 = 77;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(EXIT_USAGE);
    };
    let slug = match output.extension().zip(output.file_stem()) {
        Some((ext, stem)) if ext == "bpfs" => stem.to_string_lossy().into_owned(),
        _ => {
            eprintln!("{USAGE}: the output must be a `.bpfs` file (`make check` reads no other)");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let bytes = match fs::read(input) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{}: {e}", input.display());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let host = match Host::probe() {
        Ok(h) => h,
        Err(e) => {
            eprintln!(
                "SKIPPED: divergence_to_scenario needs the kernel oracle, which is unavailable: \
                 {e}"
            );
            return ExitCode::from(EXIT_SKIP);
        }
    };
    println!("kernel: {}", host.detection);
    match convert(&host, &bytes, input, output, &slug) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::NotWritten(why)) => {
            println!("{}: nothing written: {why}", output.display());
            ExitCode::FAILURE
        }
        Err(Failure::Io(why)) => {
            eprintln!("{}: {why}", output.display());
            ExitCode::from(EXIT_USAGE)
        }
    }
}

enum Failure {
    /// No divergence, not reproduced, or no file can state the story.
    NotWritten(String),
    Io(String),
}

fn convert(
    host: &Host,
    bytes: &[u8],
    input: &Path,
    output: &Path,
    slug: &str,
) -> Result<(), Failure> {
    let replay = Replay::run(host, bytes).map_err(|e| {
        Failure::NotWritten(format!("the oracle cannot create its result map: {e}"))
    })?;
    let step = match &replay.diff.verdict {
        Verdict::Diverged { step } => *step,
        Verdict::Agree => {
            return Err(Failure::NotWritten(format!(
                "no divergence: the spec and the kernel agree on all {} steps",
                replay.steps.len()
            )));
        }
        Verdict::Poisoned { step, why } => {
            return Err(Failure::NotWritten(format!(
                "no divergence this time: poisoned at step {step} ({why}), nothing compared \
                 from there"
            )));
        }
    };
    let source = format!("cargo-fuzz runtime_diff input {}", input.display());
    println!("{}", replay.describe_divergence(host, step, slug, &source));
    let (text, scenario) = replay
        .written(host, step, slug, &source)
        .map_err(|why| Failure::NotWritten(format!("no scenario file can state it: {why}")))?;
    // The steps as written, once more on the kernel and the spec: what `bpfspec conform`
    // will do with the file.
    let steps: Vec<spec::Action> = scenario.steps.iter().map(|s| s.action.clone()).collect();
    let again = diff::story(host, &steps, LATENESS_NS).map_err(|e| {
        Failure::NotWritten(format!("the oracle cannot create its result map: {e}"))
    })?;
    let era = host.kernel.era;
    let unmet = scenario
        .steps
        .iter()
        .zip(&again.pairs)
        .find(|(st, pair)| !st.expect.for_era(era).is_met_by(&pair.kernel));
    if let Some((st, pair)) = unmet {
        return Err(Failure::NotWritten(format!(
            "not reproduced: replayed as written, line {} `{}` gives {} on the kernel",
            st.line,
            st.text,
            scenario::render_actual(&scenario, st, &pair.kernel)
        )));
    }
    if again.verdict != (Verdict::Diverged { step }) {
        return Err(Failure::NotWritten(format!(
            "not reproduced: replayed as written, the verdict is {:?}, not a divergence at step \
             {step}",
            again.verdict
        )));
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(output)
        .map_err(|e| Failure::Io(e.to_string()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| Failure::Io(e.to_string()))?;
    println!(
        "wrote {} ({} steps, the last one divergent; reproduced once more as written). `bpfspec \
         check` fails on it until the spec is fixed; `bpfspec conform {}` replays it on the \
         kernel",
        output.display(),
        scenario.steps.len(),
        output.display()
    );
    Ok(())
}
