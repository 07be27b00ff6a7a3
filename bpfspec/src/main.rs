//! `bpfspec`: the executable spec of Linux BPF async objects, on scenario files.
//!
//! * `bpfspec run [--kernel ERA] [--json] FILE...` prints what the spec predicts at every
//!   step of each file, for each era of its `eras` set (or the one era given).
//! * `bpfspec check [--kernel ERA] PATH...` compares the predictions with the files'
//!   expectations in every era each file names, prints each disagreement in kernel
//!   vocabulary and a summary.
//! * `bpfspec conform PATH...` runs scenarios on the real kernel and on the spec, step by step.
//! * `bpfspec record [--dry-run] FILE...` rewrites each file's expectations for this kernel's
//!   era to the real kernel's answers.
//! * `bpfspec verify-diff PATH... | --generate N --seed S` compares the spec's verifier model
//!   with the kernel's verifier on verifier case files (`*.bpfv`) or generated programs.
//! * `bpfspec races [NAME...]` checks the race catalogue (`harnesses`) with loom and shuttle:
//!   every buggy design found, every fixed design clean, as a table.
//! * `bpfspec matrix [--kernels K,...]` runs the conformance suite on real kernels of every
//!   era under QEMU and on this host, as a table (`--fuzz TARGET --secs S`: a bounded fuzz
//!   campaign in a guest instead).
//!
//! Exit status: 0 when everything agrees, 1 on a mismatch, an unsupported step or a spec
//! panic (`record`: a file not recorded), 2 on a usage error or a file that does not parse,
//! 77 (SKIP) when `conform` or `record` cannot use the kernel.

mod check;
mod conform;
mod files;
mod matrix;
mod predict;
mod races;
mod record;
mod verify_diff;

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
        /// Only this kernel era (5.15, 6.1, 6.12, 6.18, 7.0, 7.2), even one outside a file's
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
        /// How late, in µs, the kernel may run one timer or work callback: a step the kernel
        /// may reach before such a callback has run, late as its re-arming chain may be, is
        /// too close to call (poisoned).
        #[arg(long, value_name = "US", default_value_t = oracle::diff::LATENESS_NS / 1000)]
        lateness_us: u64,
        #[command(flatten)]
        generated: Generated,
        /// With --generate N: go on past N cases until N were compared (poisoned cases do
        /// not count), at most 2N cases in all.
        #[arg(long, requires = "generate")]
        until_compared: bool,
        /// Threads running generated cases (waits overlap; CPU work is what counts).
        #[arg(long, value_name = "T", default_value_t = 16)]
        threads: usize,
        /// Scenario files, or directories searched recursively for `*.bpfs`.
        #[arg(required_unless_present = "generate", value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Rewrite the files' expectations for this kernel's era to the real kernel's answers
    /// (other eras' kept), and mark them `observed`. Exit 77 (SKIP) without bpf().
    Record {
        /// Print the changed lines (old and new, with line numbers) instead of writing.
        #[arg(long)]
        dry_run: bool,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// The spec's verifier model against the kernel's verifier: verifier case files (the
    /// spec in every era they name, then the kernel when bpf() is usable; exit 77 when only
    /// the spec half could run and it passed), or generated programs.
    VerifyDiff {
        #[command(flatten)]
        generated: Generated,
        /// Write each divergence as a case file (expecting the kernel's verdict) here.
        #[arg(long, value_name = "DIR", requires = "generate")]
        write: Option<PathBuf>,
        /// Case files, or directories searched recursively for `*.bpfv`.
        #[arg(required_unless_present = "generate", value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// The race catalogue: each race of the bpf_timer / bpf_async history on its buggy and
    /// fixed design, under loom and shuttle PCT, as a table (one race: its counterexample
    /// and replay commands too).
    Races {
        /// Races to check (default: all).
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// PCT seeds per buggy design (the table shows the median iterations to find).
        #[arg(long, default_value_t = 5)]
        seeds: u64,
        /// loom's preemption bound.
        #[arg(long, default_value_t = harnesses::races::bounds::LOOM_PREEMPTIONS)]
        bound: usize,
        /// PCT iterations per run.
        #[arg(long, default_value_t = harnesses::races::bounds::PCT_ITERATIONS)]
        iterations: usize,
        /// The design a replay runs.
        #[arg(long, value_enum)]
        variant: Option<VariantArg>,
        /// Replay the loom execution stored in this checkpoint file.
        #[arg(long, value_name = "FILE", requires = "variant")]
        replay_loom: Option<PathBuf>,
        /// Replay this shuttle schedule.
        #[arg(
            long,
            value_name = "SCHEDULE",
            requires = "variant",
            conflicts_with = "replay_loom"
        )]
        replay_shuttle: Option<String>,
    },
    Matrix(MatrixArgs),
}

/// The conformance suite on each era's kernel (`vm/fetch-kernels.sh` caches them) booted
/// under QEMU, and on this host, as one table; or a bounded fuzz campaign in a guest.
#[derive(Debug, clap::Args)]
struct MatrixArgs {
    /// Kernels of the cache to boot (default: all).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    kernels: Vec<String>,
    /// The kernel cache of vm/fetch-kernels.sh.
    #[arg(long, value_name = "DIR", default_value = "target/vm-cache")]
    cache: PathBuf,
    /// The static bpfspec the guests run.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "target/static/x86_64-unknown-linux-gnu/release/bpfspec"
    )]
    guest: PathBuf,
    /// The scenario corpus (with the verifier cases in its verifier/ directory).
    #[arg(long, value_name = "DIR", default_value = "spec/testdata")]
    testdata: PathBuf,
    /// Generated scenarios and generated programs per kernel.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    generate: u64,
    /// How late, in µs, the kernel may run a callback in the parts this process runs (the
    /// host row; a guest's `--local` gets the TCG allowance from the host's command line).
    #[arg(long, value_name = "US", default_value_t = oracle::diff::LATENESS_NS / 1000)]
    lateness_us: u64,
    /// Threads of the generated stories in the parts this process runs (a guest's `--local`
    /// gets its own from the host's command line).
    #[arg(long, value_name = "T", default_value_t = 16)]
    threads: usize,
    /// Guests booted at once.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// A guest's time limit, in seconds.
    #[arg(long, value_name = "S", default_value_t = 900)]
    timeout: u64,
    /// Instead of the suite: fuzz `runtime` or `verifier` differentially in each guest.
    #[arg(long, value_name = "TARGET")]
    fuzz: Option<String>,
    /// Run the suite's parts here, between their console markers (what each guest's init
    /// does), instead of booting guests.
    #[arg(long, conflicts_with = "fuzz")]
    local: bool,
    /// How long the fuzz campaign runs, in seconds.
    #[arg(long, value_name = "S", default_value_t = 60, requires = "fuzz")]
    secs: u64,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum VariantArg {
    Buggy,
    Fixed,
}

/// Generated cases instead of files.
#[derive(Debug, clap::Args)]
struct Generated {
    /// Instead of files: this many generated cases.
    #[arg(long, value_name = "N", conflicts_with = "paths")]
    generate: Option<u64>,
    /// Seed of the generated cases.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Number of the first generated case (to replay one: `--generate 1 --first I`).
    #[arg(long, value_name = "I", default_value_t = 0)]
    first: u64,
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
            lateness_us,
            generated:
                Generated {
                    generate,
                    seed,
                    first,
                },
            until_compared,
            threads,
            paths,
        } => {
            let lateness = lateness_us * 1000;
            match generate {
                Some(n) => conform::generate(n, seed, first, threads, lateness, until_compared),
                None => conform::files(&paths, lateness),
            }
        }
        Command::Record { dry_run, files } => record::run(&files, dry_run),
        Command::VerifyDiff {
            generated:
                Generated {
                    generate,
                    seed,
                    first,
                },
            write,
            paths,
        } => match generate {
            Some(n) => verify_diff::generate(n, seed, first, write.as_deref()),
            None => verify_diff::files(&paths),
        },
        Command::Races {
            names,
            seeds,
            bound,
            iterations,
            variant,
            replay_loom,
            replay_shuttle,
        } => races::run(&races::Opts {
            names,
            seeds,
            bound,
            iterations,
            variant: variant.map(|v| match v {
                VariantArg::Buggy => harnesses::races::Variant::Buggy,
                VariantArg::Fixed => harnesses::races::Variant::Fixed,
            }),
            replay_loom,
            replay_shuttle,
        }),
        Command::Matrix(m) => (if m.local { matrix::local } else { matrix::run })(&matrix::Opts {
            kernels: m.kernels,
            cache: m.cache,
            guest: m.guest,
            testdata: m.testdata,
            generate: m.generate,
            lateness_us: m.lateness_us,
            threads: m.threads,
            jobs: m.jobs,
            timeout: std::time::Duration::from_secs(
                m.timeout + m.fuzz.as_ref().map_or(0, |_| m.secs),
            ),
            fuzz: m.fuzz.map(|t| (t, m.secs)),
        }),
    }
}
