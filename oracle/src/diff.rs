//! One story on the spec and on the kernel, side by side, with a typed result: agree,
//! diverged at a step (with both answers), or poisoned (the kernel's answer is not a
//! deterministic one the spec could be held to).
//!
//! Poison is decided from facts, never from the answers: an `Unsupported` on either side,
//! an allocation failure or a full callback log in the kernel, or *timing*. The spec fires a
//! timer exactly at its virtual due time; in the kernel, ops take real time, so its clock
//! runs ahead of the virtual one by the engine's *drift*, and a timer fires at its virtual
//! due time plus the drift when it was armed. Every queued event is stamped with that drift;
//! a step is too close to call when an event may fire in the kernel before the step while
//! the spec has it later, or when the kernel may still be running, at a wait's end, a
//! callback the spec ran in that wait. A callback runs up to `lateness` after its due time
//! (softirq or kworker latency), and what it arms is due from when it ran: along a chain of
//! callbacks re-arming each other the lateness adds up, so a long chain may fall a run
//! behind the spec's.

use crate::engine::{KernelEngine, Poison};
use spec::world::{Event, EventKey};
use spec::{
    Action, Actual, Engine, Nanos, ObjRef, Observation, Op, Outcome, Query, SpecEngine, Unsupported,
};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// Default `lateness`: how late the kernel may run one timer or work callback after its due
/// time (hrtimer softirq or kworker latency).
pub const LATENESS_NS: u64 = 100_000;
/// Timers never fire early: an expiry after the kernel's clock reading needs only this much
/// room for clock-reading skew.
const JITTER_NS: u64 = 100_000;

/// Why a story's kernel answers are not held against the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// The spec does not model the state.
    Spec(Unsupported),
    /// The oracle cannot drive the step here.
    Oracle(&'static str),
    /// The kernel's answer was not deterministic (ENOMEM, full log).
    Kernel(Poison),
    /// An expiry too close to a step to call.
    Timing(String),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Spec(u) => write!(f, "spec: {u}"),
            Why::Oracle(w) => write!(f, "oracle: {w}"),
            Why::Kernel(p) => write!(f, "kernel: {p}"),
            Why::Timing(t) => write!(f, "timing: {t}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Agree,
    /// The first step whose answers differ.
    Diverged {
        step: usize,
    },
    /// From this step on, nothing is compared.
    Poisoned {
        step: usize,
        why: Why,
    },
}

/// Both answers of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub spec: Actual,
    pub kernel: Actual,
}

/// The result of one story.
#[derive(Clone, Debug)]
pub struct Diff {
    /// One pair per step run (up to the divergence or poison).
    pub pairs: Vec<Pair>,
    pub verdict: Verdict,
    /// The kernel's log tail of the last rejected load, for reports.
    pub kernel_log: Option<String>,
}

/// Do two answers agree? Rejections compare by normalized reason.
pub fn same(a: &Actual, b: &Actual) -> bool {
    match (a, b) {
        (Actual::Outcome(Outcome::Reject(x)), Actual::Outcome(Outcome::Reject(y))) => {
            x.name() == y.name()
        }
        _ => a == b,
    }
}

/// Run `steps` on a fresh kernel engine (torn down afterwards) and on the spec.
pub fn story(host: &crate::Host, steps: &[Action], lateness: u64) -> Result<Diff, crate::sys::Sys> {
    let mut kernel = KernelEngine::new(host)?;
    Ok(run(&mut kernel, steps, lateness))
}

/// Run `steps` on a fresh spec engine and on `kernel`, comparing after every step.
pub fn run(kernel: &mut KernelEngine<'_>, steps: &[Action], lateness: u64) -> Diff {
    let mut spec = SpecEngine::new(kernel.kernel());
    let mut clock = Clock {
        lateness,
        stamps: HashMap::new(),
    };
    let mut pairs = Vec::with_capacity(steps.len());
    let mut verdict = Verdict::Agree;
    for (i, step) in steps.iter().enumerate() {
        let (s, k, timing) = match step {
            Action::Op(Op::Advance { ns }) => clock.advance(&mut spec, kernel, ns.0),
            _ => {
                let before = clock.too_close(&spec, kernel, false);
                let drift = kernel.drift();
                let (s, k) = match step {
                    Action::Query(Query::Alive(o)) => alive(&mut spec, kernel, *o),
                    Action::Op(Op::GetFdById(o)) => get_fd_by_id(&mut spec, kernel, *o),
                    _ => {
                        let s = spec.act(step);
                        // A step the spec knows this era's kernel oopses on is not taken
                        // there: the story ends poisoned by the spec's reason.
                        let k = match &s {
                            Actual::Outcome(Outcome::Unsupported(Unsupported::KernelOops(_))) => {
                                s.clone()
                            }
                            _ => kernel.act(step),
                        };
                        (s, k)
                    }
                };
                clock.stamp(&spec, drift);
                let after = clock.too_close(&spec, kernel, true);
                let alongside = clock.alongside_task_work(&spec, &s);
                (s, k, before.or(after).or(alongside))
            }
        };
        if std::env::var_os("BPFSPEC_TRACE").is_some() {
            eprintln!(
                "step {i}: virtual {} ns, drift {} ns: {step:?}\n  spec {s:?}\n  kernel {k:?}",
                spec.world.now,
                kernel.drift()
            );
        }
        let why = match (&s, &k) {
            (Actual::Outcome(Outcome::Unsupported(u)), _) => Some(Why::Spec(*u)),
            (_, Actual::Outcome(Outcome::Unsupported(Unsupported::OracleCannotDrive(w)))) => {
                Some(Why::Oracle(w))
            }
            _ => kernel
                .poison()
                .cloned()
                .map(Why::Kernel)
                .or(timing.map(Why::Timing)),
        };
        let agree = same(&s, &k);
        pairs.push(Pair { spec: s, kernel: k });
        if let Some(why) = why {
            verdict = Verdict::Poisoned { step: i, why };
            break;
        }
        if !agree {
            verdict = Verdict::Diverged { step: i };
            break;
        }
    }
    Diff {
        pairs,
        verdict,
        kernel_log: kernel.last_log.clone(),
    }
}

/// For each queued spec event (by arming order): the kernel's drift when it was queued, and
/// how many callbacks ran, one arming the next, since a step armed the chain it ends.
struct Clock {
    /// How late the kernel may run one callback.
    lateness: u64,
    stamps: HashMap<u64, Stamp>,
}

#[derive(Clone, Copy)]
struct Stamp {
    drift: u64,
    /// Callbacks in the chain that armed it (0: armed by a step).
    depth: u64,
}

impl Clock {
    /// Stamp events queued since the last call with `drift`, as links `depth` of a chain.
    fn stamp_at(&mut self, spec: &SpecEngine, drift: u64, depth: u64) {
        for k in spec.world.events.keys() {
            self.stamps.entry(k.seq).or_insert(Stamp { drift, depth });
        }
    }

    /// Stamp events a step queued.
    fn stamp(&mut self, spec: &SpecEngine, drift: u64) {
        self.stamp_at(spec, drift, 0);
    }

    fn stamp_of(&self, k: &EventKey, now_drift: u64) -> Stamp {
        self.stamps.get(&k.seq).copied().unwrap_or(Stamp {
            drift: now_drift,
            depth: 0,
        })
    }

    /// When the kernel fires an event the spec has due at `k.at`, at the earliest, on the
    /// virtual time line (the kernel's clock minus today's drift `now_drift`).
    fn kernel_due(&self, k: &EventKey, now_drift: u64) -> u64 {
        (k.at + self.stamp_of(k, now_drift).drift).saturating_sub(now_drift)
    }

    /// When the kernel has run the callback of an event the spec has due at `k.at`, at the
    /// latest, on the kernel's clock minus `now_drift`: its own lateness and that of every
    /// link of its chain.
    fn kernel_done(&self, k: &EventKey, now_drift: u64) -> u64 {
        let stamp = self.stamp_of(k, now_drift);
        (k.at + stamp.drift + (stamp.depth + 1) * self.lateness).saturating_sub(now_drift)
    }

    /// Has an event the spec still holds possibly fired in the kernel already? After a
    /// step, events the step queued to happen at once (work items, absolute expiries in
    /// the past) are not counted: the kernel logs who ran them, so a callback that ran early
    /// is still reported at the next wait; only a later step can interact with it, and that
    /// step's own check sees it. Except a timer due at once whose callback schedules
    /// task_work: its softirq may interrupt this very step, and the task_work then runs on
    /// this task on its way back to user space, inside the step's answer.
    fn too_close(
        &self,
        spec: &SpecEngine,
        kernel: &KernelEngine<'_>,
        after: bool,
    ) -> Option<String> {
        let now = spec.world.now;
        let drift = kernel.drift();
        let w = &spec.world;
        if after
            && let Some((k, e)) = w.events.iter().find(|(k, e)| {
                k.at <= now
                    && matches!(e, Event::TimerExpiry { elem, .. } if schedules_task_work(w, *elem))
            })
        {
            return Some(describe(
                e,
                k.at,
                now,
                "the step that armed it, whose task it may reach",
            ));
        }
        w.events
            .iter()
            .filter(|(k, e)| !after || (matches!(e, Event::TimerExpiry { .. }) && k.at > now))
            .find(|(k, _)| self.kernel_due(k, drift) <= now + JITTER_NS)
            .map(|(k, e)| describe(e, k.at, now, "the next step"))
    }

    /// A work item or timer the step queued to run at once, when the step also ran task_work
    /// callbacks: those run on this task on its way back to user space, while a kworker or
    /// the timer softirq may already be running the event on another CPU; the spec runs the
    /// event at the next wait, after them.
    fn alongside_task_work(&self, spec: &SpecEngine, answer: &Actual) -> Option<String> {
        let Actual::Outcome(Outcome::Ran { callbacks, .. }) = answer else {
            return None;
        };
        if callbacks.is_empty() {
            return None;
        }
        let now = spec.world.now;
        spec.world
            .events
            .iter()
            .find(|(k, _)| k.at <= now)
            .map(|(k, e)| {
                describe(
                    e,
                    k.at,
                    now,
                    "the task_work callbacks of the step that queued it",
                )
            })
    }

    /// A wait. The spec's half runs event by event, so that what each callback arms is
    /// stamped as the next link of its chain; then no event may remain that the kernel may
    /// fire before its clock reading at the wait's end, and none the spec fired may still be
    /// running late in the kernel then.
    fn advance(
        &mut self,
        spec: &mut SpecEngine,
        kernel: &mut KernelEngine<'_>,
        ns: u64,
    ) -> (Actual, Actual, Option<String>) {
        let start = spec.world.now;
        let end = start + ns;
        let drift = kernel.drift();
        let mut fired = Vec::new();
        // The latest the kernel may finish an expiry the spec fires in this wait.
        let mut late: Option<(u64, EventKey, Event)> = None;
        loop {
            let next = spec.world.events.keys().next().map(|k| k.at);
            let to = next
                .filter(|&at| at <= end)
                .map_or(end, |at| at.max(spec.world.now));
            let due: Vec<(EventKey, Event)> = spec
                .world
                .events
                .range(
                    ..=EventKey {
                        at: to,
                        seq: u64::MAX,
                    },
                )
                .map(|(k, e)| (*k, *e))
                .collect();
            for (k, e) in &due {
                let done = self.kernel_done(k, drift);
                if late.is_none_or(|(d, ..)| done > d) {
                    late = Some((done, *k, *e));
                }
            }
            let answer = spec.apply(&Op::Advance {
                ns: Nanos(to - spec.world.now),
            });
            match answer {
                // The whole wait's cap on callback runs, as one advance has it.
                Outcome::Fired(f) if fired.len() + f.len() <= spec::CALLBACKS_PER_ADVANCE => {
                    fired.extend(f);
                }
                Outcome::Fired(_) => {
                    let k = kernel.apply(&Op::Advance { ns: Nanos(ns) });
                    let u = Outcome::Unsupported(Unsupported::UnboundedRearm);
                    return (Actual::Outcome(u), Actual::Outcome(k), None);
                }
                other => {
                    let k = kernel.apply(&Op::Advance { ns: Nanos(ns) });
                    return (Actual::Outcome(other), Actual::Outcome(k), None);
                }
            }
            // What these callbacks armed is the next link of their chains.
            let depth = due
                .iter()
                .map(|(k, _)| self.stamp_of(k, drift).depth + 1)
                .max();
            self.stamp_at(spec, drift, depth.unwrap_or(0));
            if spec.world.now >= end && due.is_empty() {
                break;
            }
        }
        let k = kernel.apply(&Op::Advance { ns: Nanos(ns) });
        // The kernel read its log at `end` plus the oversleep.
        let read_at = end + kernel.drift().saturating_sub(drift) + JITTER_NS;
        let timing = spec
            .world
            .events
            .iter()
            .find(|(k, _)| self.kernel_due(k, drift) <= read_at)
            .map(|(k, e)| describe(e, k.at, end, "the wait's end"))
            .or_else(|| {
                late.filter(|(done, ..)| *done > read_at).map(|(_, k, e)| {
                    describe(
                        &e,
                        k.at,
                        end,
                        "the wait's end, as late as its chain may run",
                    )
                })
            });
        (
            Actual::Outcome(Outcome::Fired(fired)),
            Actual::Outcome(k),
            timing,
        )
    }
}

/// Whether the callback of the timer in element `elem` schedules task_work.
fn schedules_task_work(w: &spec::World, elem: usize) -> bool {
    w.elems[elem]
        .timer
        .and_then(|t| t.callback)
        .is_some_and(|(p, cb)| {
            w.prog(p)
                .spec
                .callback_body(cb)
                .iter()
                .any(|s| matches!(s.call, spec::Call::TaskWorkSchedule { .. }))
        })
}

fn describe(e: &Event, at: u64, when: u64, what: &str) -> String {
    let ms = |ns: u64| ns as f64 / 1e6;
    let who = match e {
        Event::TimerExpiry { .. } => "a timer expiry",
        Event::WorkRun { .. } => "a queued bpf_wq work item",
    };
    format!(
        "{who} due at {:.3} ms is too close to {what} at {:.3} ms",
        ms(at),
        ms(when)
    )
}

/// How long the kernel gets to finish deferred frees (RCU grace periods, then a kworker)
/// when the spec, which frees at once, says an object is gone.
const FREE_PATIENCE: Duration = Duration::from_millis(100);

/// Liveness: the kernel gets time for deferred frees when the spec says the object is gone.
fn alive(spec: &mut SpecEngine, kernel: &mut KernelEngine<'_>, o: ObjRef) -> (Actual, Actual) {
    let s = spec.observe(&Query::Alive(o));
    // Waiting only helps an object on its way out; one that is listed stays listed.
    let patience = if s == Observation::Alive(false) {
        FREE_PATIENCE
    } else {
        Duration::ZERO
    };
    let k = Observation::Alive(kernel.alive(o, patience));
    (Actual::Observation(s), Actual::Observation(k))
}

/// `BPF_*_GET_FD_BY_ID`: when the spec says the object is gone, the kernel first gets time
/// to finish its deferred frees (watched through the id list, which takes no reference), so
/// that a free still in flight does not answer for the settled state.
fn get_fd_by_id(
    spec: &mut SpecEngine,
    kernel: &mut KernelEngine<'_>,
    o: ObjRef,
) -> (Actual, Actual) {
    let step = Action::Op(Op::GetFdById(o));
    let s = spec.act(&step);
    if s == Actual::Outcome(Outcome::Err(spec::Errno::ENOENT)) {
        kernel.alive(o, FREE_PATIENCE);
    }
    (s, kernel.act(&step))
}
