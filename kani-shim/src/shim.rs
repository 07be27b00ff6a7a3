//! Running harnesses: what `#[kani::proof]` expands to under the shim, and the report.
//!
//! `#[kani::proof] fn verify_x() { .. }` keeps `verify_x` as it is and adds a module
//! `verify_x` holding `HARNESS` (a [`Harness`]) and a `#[test] fn harness()` that calls [`run`].
//! [`check`] explores every path of a harness and returns its [`Report`]; mutation tests call
//! it to show that a broken rule makes a harness fail.
//!
//! Environment:
//! * `KANI_SHIM_MAX_PATHS=N` — the path budget of harnesses without `max_paths` (default
//!   [`DEFAULT_MAX_PATHS`]);
//! * `KANI_SHIM_REPLAY=<harness name>=<v,v,..>` — [`run`] runs only that path of that harness,
//!   with its panic printed (the command is printed with every failure).

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

pub use crate::explore::Site;
use crate::explore::{self, Explorer, PathEnd};

/// `#[cfg_attr(not(kani), kani::shim::max_paths(N))]` after `#[kani::proof]`: this harness's
/// path budget (the real Kani has no such attribute, hence the `cfg_attr`).
pub use kani_shim_macros::shim_max_paths as max_paths;

/// The path budget of a harness without `max_paths`, unless `KANI_SHIM_MAX_PATHS` says.
pub const DEFAULT_MAX_PATHS: u64 = 1_000_000;

/// One exhaustive choice among `count` values: `0..count`, each a path (`count` 0 prunes).
pub fn choose(count: u32) -> u32 {
    explore::choose(count, false)
}

/// One choice among `count` values that stand for a wider domain: the harness is reported
/// boundary-sampled.
pub fn choose_sampled(count: u32) -> u32 {
    explore::choose(count, true)
}

/// What `kani::cover!` calls: the site at `file`, `line` was reached with `cond`.
pub fn cover_site(cond: bool, file: &'static str, line: u32) {
    explore::cover(cond, (file, line));
}

/// A harness as the shim runs it.
#[derive(Clone, Copy, Debug)]
pub struct Harness {
    /// Its path, `crate::module::fn`.
    pub name: &'static str,
    /// The package to pass to `cargo test -p` in the replay command.
    pub package: &'static str,
    /// The file it is written in.
    pub file: &'static str,
    /// The body, run once per path.
    pub body: fn(),
    /// The lines of `file` holding a `cover!` in the body: each must be satisfied even if no
    /// path reaches it.
    pub cover_lines: &'static [u32],
    /// `#[kani::should_panic]`: passes only if some path panics.
    pub should_panic: bool,
    /// Its path budget, if set by `kani::shim::max_paths`.
    pub max_paths: Option<u64>,
}

impl Harness {
    /// A harness with no static cover sites, expected to hold, with the default budget.
    pub const fn new(name: &'static str, file: &'static str, body: fn()) -> Harness {
        Harness {
            name,
            package: "",
            file,
            body,
            cover_lines: &[],
            should_panic: false,
            max_paths: None,
        }
    }

    /// The package holding the harness (for the replay command).
    pub const fn package(self, package: &'static str) -> Harness {
        Harness { package, ..self }
    }

    /// The lines of `file` holding the body's `cover!`s.
    pub const fn cover_lines(self, cover_lines: &'static [u32]) -> Harness {
        Harness {
            cover_lines,
            ..self
        }
    }

    /// `#[kani::should_panic]`.
    pub const fn should_panic(self) -> Harness {
        Harness {
            should_panic: true,
            ..self
        }
    }

    /// The path budget.
    pub const fn max_paths(self, max_paths: u64) -> Harness {
        Harness {
            max_paths: Some(max_paths),
            ..self
        }
    }

    fn budget(&self) -> u64 {
        self.max_paths.unwrap_or_else(|| {
            std::env::var("KANI_SHIM_MAX_PATHS")
                .ok()
                .map(|v| v.parse().expect("KANI_SHIM_MAX_PATHS must be a number"))
                .unwrap_or(DEFAULT_MAX_PATHS)
        })
    }

    /// The replay command of the path `choices`.
    fn replay_command(&self, choices: &[u32]) -> String {
        let vector = choices
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let test = self.name.rsplit("::").next().unwrap_or(self.name);
        format!(
            "KANI_SHIM_REPLAY='{}={vector}' cargo test -p {} {test} -- --nocapture",
            self.name, self.package
        )
    }
}

/// How a harness ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every path held and every cover was satisfied.
    Held,
    /// A path panicked: its choice vector and message.
    Failed { choices: Vec<u32>, message: String },
    /// Every path held but these covers were never satisfied: the assumptions left the
    /// property nothing (or too little) to check.
    Vacuous { unsatisfied: Vec<Site> },
    /// The budget ran out with paths left: nothing is claimed.
    BudgetExhausted { max_paths: u64 },
    /// `should_panic`: a path panicked, as expected.
    PanickedAsExpected { choices: Vec<u32>, message: String },
    /// `should_panic`: no path panicked.
    NoPanic,
}

/// What one exploration of a harness found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The harness's name.
    pub name: &'static str,
    /// Paths run to their end (every assertion on them held).
    pub paths_checked: u64,
    /// Paths pruned by `kani::assume`.
    pub paths_pruned: u64,
    /// Cover sites satisfied, and all cover sites (static ones and those reached).
    pub covers_hit: usize,
    pub covers_total: usize,
    /// Whether every value of every choice was taken: false when a wider integer was
    /// boundary-sampled.
    pub exhaustive: bool,
    pub elapsed: Duration,
    pub outcome: Outcome,
    /// The replay command of the failing (or expected panicking) path, if any.
    pub replay: Option<String>,
}

impl Report {
    /// Whether the harness passed.
    pub fn passed(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::Held | Outcome::PanickedAsExpected { .. }
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed() { "ok" } else { "FAILED" };
        let scope = if self.exhaustive {
            "exhaustive"
        } else {
            "boundary-sampled"
        };
        write!(
            f,
            "[kani-shim] {}: {verdict}, {} paths checked, {} pruned, covers {}/{}, {scope}, {:.2} s",
            self.name,
            self.paths_checked,
            self.paths_pruned,
            self.covers_hit,
            self.covers_total,
            self.elapsed.as_secs_f64()
        )?;
        match &self.outcome {
            Outcome::Held => Ok(()),
            Outcome::Failed { choices, message } => {
                write!(f, "\n  failing path: choice vector {choices:?}")?;
                message.lines().try_for_each(|l| write!(f, "\n    {l}"))
            }
            Outcome::PanickedAsExpected { choices, message } => {
                write!(
                    f,
                    "\n  panicking path (expected): choice vector {choices:?}"
                )?;
                message.lines().try_for_each(|l| write!(f, "\n    {l}"))
            }
            Outcome::Vacuous { unsatisfied } => {
                write!(f, "\n  vacuous: cover never satisfied at")?;
                unsatisfied
                    .iter()
                    .try_for_each(|(file, line)| write!(f, " {file}:{line}"))
            }
            Outcome::BudgetExhausted { max_paths } => write!(
                f,
                "\n  path budget of {max_paths} exhausted with paths left: nothing is claimed \
                 (raise it with kani::shim::max_paths or KANI_SHIM_MAX_PATHS, or shrink the bounds)"
            ),
            Outcome::NoPanic => write!(f, "\n  should_panic: no path panicked"),
        }?;
        match &self.replay {
            Some(command) => write!(f, "\n  replay: {command}"),
            None => Ok(()),
        }
    }
}

/// Explore every path of `harness` (up to its budget) and report.
pub fn check(harness: &Harness) -> Report {
    let started = Instant::now();
    let budget = harness.budget();
    let mut explorer = Explorer::start(&[]);
    let (mut checked, mut pruned) = (0u64, 0u64);
    let ending = loop {
        let end = explorer.run_path(harness.body, true);
        match end {
            PathEnd::Held => checked += 1,
            PathEnd::Pruned => pruned += 1,
            PathEnd::Panicked(message) => {
                let choices = explorer.choice_vector();
                break if harness.should_panic {
                    Outcome::PanickedAsExpected { choices, message }
                } else {
                    Outcome::Failed { choices, message }
                };
            }
        }
        if !explorer.advance() {
            break if harness.should_panic {
                Outcome::NoPanic
            } else {
                Outcome::Held
            };
        }
        if checked + pruned >= budget {
            break Outcome::BudgetExhausted { max_paths: budget };
        }
    };
    let (reached, hit) = explorer.covers();
    let exhaustive = !explorer.sampled();
    drop(explorer);
    let sites: BTreeSet<Site> = harness
        .cover_lines
        .iter()
        .map(|&line| (harness.file, line))
        .chain(reached)
        .collect();
    let unsatisfied: Vec<Site> = sites.difference(&hit).copied().collect();
    let covers_hit = sites.len() - unsatisfied.len();
    let outcome = match ending {
        Outcome::Held if !unsatisfied.is_empty() => Outcome::Vacuous { unsatisfied },
        other => other,
    };
    let replay = match &outcome {
        Outcome::Failed { choices, .. } | Outcome::PanickedAsExpected { choices, .. } => {
            Some(harness.replay_command(choices))
        }
        _ => None,
    };
    Report {
        name: harness.name,
        paths_checked: checked,
        paths_pruned: pruned,
        covers_hit,
        covers_total: sites.len(),
        exhaustive,
        elapsed: started.elapsed(),
        outcome,
        replay,
    }
}

/// Run the one path `choices` of `harness` with its panic printed; whether the path held (a
/// pruned path counts as held: it checks nothing).
pub fn replay(harness: &Harness, choices: &[u32]) -> bool {
    let mut explorer = Explorer::start(choices);
    match explorer.run_path(harness.body, false) {
        PathEnd::Held => true,
        PathEnd::Pruned => {
            println!(
                "[kani-shim] {}: path {choices:?} is pruned by an assume",
                harness.name
            );
            true
        }
        PathEnd::Panicked(_) => false,
    }
}

/// The `#[test]` of a harness: print its report line, panic unless it passed. With
/// `KANI_SHIM_REPLAY` naming this harness, run only that path.
pub fn run(harness: &Harness) {
    if let Ok(request) = std::env::var("KANI_SHIM_REPLAY") {
        let (name, vector) = request
            .split_once('=')
            .expect("KANI_SHIM_REPLAY is <harness name>=<v,v,..>");
        if name == harness.name {
            let choices: Vec<u32> = vector
                .split(',')
                .filter(|v| !v.is_empty())
                .map(|v| {
                    v.trim()
                        .parse()
                        .expect("KANI_SHIM_REPLAY: a choice is a number")
                })
                .collect();
            let held = replay(harness, &choices);
            assert!(
                held != harness.should_panic,
                "{}: replayed path {choices:?}",
                harness.name
            );
            return;
        }
    }
    let report = check(harness);
    println!("{report}");
    assert!(
        report.passed(),
        "{}: see its [kani-shim] report above",
        harness.name
    );
}
