//! Running a race's scenario under a checker: loom (every interleaving up to a preemption
//! bound) or shuttle's PCT scheduler (randomised priority schedules of a given depth), and
//! what comes back: how many executions ran, how long it took, the first broken invariant
//! with its replay handle, and the set of outcomes seen (the litmus side: which racy windows
//! the executions entered).

use crate::kernel::{Invariant, scenario::Scenario};
use crate::races::Race;
use crate::sync::{Tool, with_tool};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How to re-run the failing execution alone.
#[derive(Clone, Debug)]
pub enum Replay {
    /// A loom checkpoint file holding the failing execution's path.
    Loom(PathBuf),
    /// A shuttle schedule (as `shuttle::replay` takes it).
    Shuttle(String),
}

#[derive(Clone, Debug)]
pub struct Failure {
    /// The invariant the panic names (`None`: a panic that names none, a harness bug).
    pub invariant: Option<Invariant>,
    /// The panic message: the invariant, what broke, the interleaving.
    pub message: String,
    pub replay: Option<Replay>,
}

/// What one checker run found.
#[derive(Clone, Debug)]
pub struct Run {
    pub tool: Tool,
    pub executions: u64,
    pub elapsed: Duration,
    pub failure: Option<Failure>,
    /// Outcome label → executions that ended with it.
    pub outcomes: BTreeMap<String, u64>,
    /// The executions' histories judged against the spec ([`crate::lin`]).
    pub lin: crate::lin::Tally,
}

impl Run {
    /// The run failed on exactly `inv`.
    pub fn found(&self, inv: Invariant) -> bool {
        self.failure
            .as_ref()
            .is_some_and(|f| f.invariant == Some(inv))
    }
}

/// Count executions and collect outcomes around each execution of the scenario.
struct Probe {
    executions: AtomicU64,
    outcomes: Mutex<BTreeMap<String, u64>>,
    lin: Mutex<crate::lin::Tally>,
}

impl Probe {
    fn body(
        self: &Arc<Self>,
        sc: Scenario,
        outcome: fn(&[crate::kernel::Event]) -> String,
    ) -> impl Fn() + Send + Sync + 'static {
        let probe = Arc::clone(self);
        let lin = crate::lin::Checker::new(&sc);
        *probe
            .lin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = crate::lin::Tally::of(&lin);
        let lin = lin.ok();
        move || {
            probe.executions.fetch_add(1, Ordering::Relaxed);
            let history = sc.run();
            let label = outcome(&history);
            *probe
                .outcomes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(label)
                .or_default() += 1;
            if let Some(c) = &lin {
                let v = c.check(&history);
                probe
                    .lin
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .add(&v);
            }
        }
    }

    fn finish(&self, tool: Tool, start: Instant, failure: Option<Failure>) -> Run {
        Run {
            tool,
            executions: self.executions.load(Ordering::Relaxed),
            elapsed: start.elapsed(),
            failure,
            outcomes: std::mem::take(
                &mut self
                    .outcomes
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            ),
            lin: std::mem::take(
                &mut self
                    .lin
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            ),
        }
    }
}

fn new_probe() -> Arc<Probe> {
    Arc::new(Probe {
        executions: AtomicU64::new(0),
        outcomes: Mutex::new(BTreeMap::new()),
        lin: Mutex::new(crate::lin::Tally::default()),
    })
}

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

fn failure(payload: &(dyn std::any::Any + Send), replay: Option<Replay>) -> Failure {
    let message = message(payload);
    Failure {
        invariant: Invariant::of_message(&message),
        message,
        replay,
    }
}

thread_local! {
    /// Set while a checker runs whose panics are results, not crashes: the panic hook stays
    /// quiet then (the report prints the failure once).
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Silence panics of checker runs on this thread; other threads' panics print as usual.
/// Shuttle chains a hook of its own for each run and leaves it behind when the run panics:
/// the hook is set afresh after every run.
fn quiet_panics<R>(f: impl FnOnce() -> R) -> R {
    fn set_quiet_hook() {
        let _ = std::panic::take_hook();
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                default(info);
            }
        }));
    }
    set_quiet_hook();
    QUIET.with(|q| q.set(true));
    let r = f();
    QUIET.with(|q| q.set(false));
    set_quiet_hook();
    r
}

/// A fresh path for the replay files of one run, in this process's scratch directory.
fn scratch(name: &str) -> PathBuf {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("bpfspec-races-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the replay scratch directory");
    dir.join(format!("{}.{name}", RUNS.fetch_add(1, Ordering::Relaxed)))
}

/// One checker run at a time in a process: shuttle installs a process-wide panic hook for the
/// length of a run, which would take another thread's checker panics (loom's included) for
/// its own. Tests running in parallel queue here.
fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static CHECKER: Mutex<()> = Mutex::new(());
    CHECKER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// loom over the scenario; a checkpoint file, when given, is loaded first (if it exists) and
/// rewritten before every execution.
fn loom_check(
    probe: &Arc<Probe>,
    race: &Race,
    sc: Scenario,
    bound: usize,
    checkpoint: Option<&Path>,
) -> Option<Box<dyn std::any::Any + Send>> {
    let body = probe.body(sc, race.outcome);
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(bound);
    b.max_branches = 100_000;
    b.checkpoint_file = checkpoint.map(Path::to_path_buf);
    b.checkpoint_interval = 1;
    quiet_panics(|| catch_unwind(AssertUnwindSafe(|| with_tool(Tool::Loom, || b.check(body)))))
        .err()
}

/// Every interleaving up to `bound` preemptions (loom's DPOR), stopping at the first broken
/// invariant. With `replay`, the execution stored in that checkpoint file runs first.
/// Writing a checkpoint per execution is slow, so a search runs without; when it fails, the
/// same (deterministic) search runs again writing checkpoints, and the last one written is
/// the failing execution's.
pub fn loom(race: &Race, sc: Scenario, bound: usize, replay: Option<&Path>) -> Run {
    let _one = exclusive();
    let probe = new_probe();
    let start = Instant::now();
    let found = loom_check(&probe, race, sc.clone(), bound, replay);
    // The search's own time, without the re-run that records the replay.
    let elapsed = start.elapsed();
    let failure = found.map(|e| {
        let replay = match replay {
            Some(p) => Some(p.to_path_buf()),
            None => {
                let checkpoint = scratch(&format!("{}.loom.json", race.name));
                loom_check(&new_probe(), race, sc, bound, Some(&checkpoint)).map(|_| checkpoint)
            }
        };
        failure(e.as_ref(), replay.map(Replay::Loom))
    });
    let mut run = probe.finish(Tool::Loom, start, failure);
    run.elapsed = elapsed;
    run
}

/// `iterations` PCT schedules of depth `depth` from `seed`, stopping at the first broken
/// invariant.
pub fn shuttle_pct(race: &Race, sc: Scenario, iterations: usize, depth: usize, seed: u64) -> Run {
    let _one = exclusive();
    let probe = new_probe();
    let body = probe.body(sc, race.outcome);
    let dir = scratch(&format!("{}.shuttle.{seed}", race.name));
    std::fs::create_dir_all(&dir).expect("create the shuttle schedule directory");
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::File(Some(dir.clone()));
    config.silence_warnings = true;
    let scheduler = shuttle::scheduler::PctScheduler::new_from_seed(seed, depth, iterations);
    let start = Instant::now();
    let r = quiet_panics(|| {
        catch_unwind(AssertUnwindSafe(|| {
            with_tool(Tool::Shuttle, || {
                shuttle::Runner::new(scheduler, config).run(body)
            })
        }))
    });
    let failure = r.err().map(|p| {
        let schedule = std::fs::read_dir(&dir)
            .ok()
            .and_then(|d| d.filter_map(Result::ok).map(|e| e.path()).max())
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|s| Replay::Shuttle(s.trim().to_string()));
        failure(p.as_ref(), schedule)
    });
    if failure.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    probe.finish(Tool::Shuttle, start, failure)
}

/// Re-run one shuttle schedule.
pub fn shuttle_replay(race: &Race, sc: Scenario, schedule: &str) -> Run {
    let _one = exclusive();
    let probe = new_probe();
    let body = probe.body(sc, race.outcome);
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::None;
    let scheduler = shuttle::scheduler::ReplayScheduler::new_from_encoded(schedule);
    let start = Instant::now();
    let r = quiet_panics(|| {
        catch_unwind(AssertUnwindSafe(|| {
            with_tool(Tool::Shuttle, || {
                shuttle::Runner::new(scheduler, config).run(body)
            })
        }))
    });
    let failure = r.err().map(|p| failure(p.as_ref(), None));
    probe.finish(Tool::Shuttle, start, failure)
}
