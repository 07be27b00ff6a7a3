//! `bpfspec`: the executable spec of Linux BPF async objects, on scenario files.
//!
//! * `bpfspec run [--kernel ERA] [--json] FILE...` prints what the spec predicts at every
//!   step of each file, for each era of its `eras` set (or the one era given).
//! * `bpfspec check [--kernel ERA] PATH...` compares the predictions with the files'
//!   expectations in every era each file names, prints each disagreement in kernel
//!   vocabulary and a summary.
//!
//! Exit status: 0 when everything agrees, 1 on a mismatch, an unsupported step or a spec
//! panic, 2 on a usage error or a file that does not parse.

mod check;
mod conform;
mod files;
mod predict;

use clap::{Parser, Subcommand};
use spec::Era;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "bpfspec",
    version,
    about = "Run and check BPF async scenarios against the executable spec"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the spec's predicted outcome of every step.
    Run {
        /// Only this kernel era (5.15, 6.1, 6.12, 6.18, 7.0), even one outside a file's
        /// `eras`; default: every era of each file's set.
        #[arg(long, value_name = "ERA")]
        kernel: Option<Era>,
        /// Print one JSON array, one object per file and era.
        #[arg(long)]
        json: bool,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Compare the spec's predictions with the expectations, in every era each file names.
    Check {
        /// Only this kernel era; files whose `eras` set lacks it are skipped.
        #[arg(long, value_name = "ERA")]
        kernel: Option<Era>,
        /// Scenario files, or directories searched recursively for `*.bpfs`.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Run scenarios on the real kernel and on the spec, step by step: the kernel's answers
    /// against the files, the spec's against the kernel's. Exit 77 (SKIP) without bpf().
    Conform {
        /// Margin in ms: an expiry this close to a step is too close to call (poisoned).
        #[arg(long, value_name = "MS", default_value_t = 1.0)]
        margin_ms: f64,
        /// Instead of files: this many generated cases.
        #[arg(long, value_name = "N", conflicts_with = "paths")]
        generate: Option<u64>,
        /// Seed of the generated cases.
        #[arg(long, value_name = "S", default_value_t = 1)]
        seed: u64,
        /// Number of the first generated case (to replay one case: `--generate 1 --first I`).
        #[arg(long, value_name = "I", default_value_t = 0)]
        first: u64,
        /// Threads running generated cases (waits overlap; CPU work is what counts).
        #[arg(long, value_name = "T", default_value_t = 16)]
        threads: usize,
        /// Scenario files, or directories searched recursively for `*.bpfs`.
        #[arg(required_unless_present = "generate", value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

/// Exit status for a usage error or a file that does not parse.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run {
            kernel,
            json,
            files,
        } => predict::run(kernel, json, &files),
        Command::Check { kernel, paths } => check::run(kernel, &paths),
        Command::Conform {
            margin_ms,
            generate,
            seed,
            first,
            threads,
            paths,
        } => {
            let margin = (margin_ms * 1e6) as u64;
            match generate {
                Some(n) => conform::generate(n, seed, first, threads, margin),
                None => conform::files(&paths, margin),
            }
        }
    }
}
