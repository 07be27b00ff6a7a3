//! # Linearizability of the fixed designs against the spec
//!
//! A fixed design is correct when each of its concurrent histories is one the sequential
//! reference semantics (`spec::step`) can produce: some order of the history's events, which
//! keeps every event after those that returned before it was invoked (real-time order), run
//! one at a time through the spec, gives the results the CPUs saw. [`Checker`] decides that
//! for one [`Scenario`] and each of its histories ([`Verdict`]).
//!
//! ## The mapping
//! * The kernel: the spec era whose sequential rules the design has. A fix that changes what
//!   one CPU alone sees must be there (without it no modelled kernel behaves so: unmappable);
//!   a fix against a race may be missing, and the check is then exactly whether that design's
//!   histories still have a sequential explanation. The lock-based design: 6.18; without the
//!   deferred free from callbacks (its sequential effect: the spec era's
//!   `defer_free_in_callback`): 6.1; PREEMPT_RT: 6.12, the newest era whose RT kernels load
//!   `bpf_timer`. The lock-free design: 7.0. `bpf_wq` work items and tracepoint attachment
//!   are not mapped yet.
//! * Objects: each map a hash map of timers, each slot one of its elements (key = its index
//!   among the map's slots), inserted by user space; each prog loaded with its callback and
//!   `used_maps`, holding as many fds as it has user references; each map as many fds as its
//!   usercnt. A helper call names its element by key (`Target::Elem`). A sleepable run is
//!   a sleepable `BPF_PROG_TYPE_SYSCALL` program's.
//! * A program run: `BPF_PROG_TEST_RUN` of a spec program whose main body is the run's calls
//!   (one spec program per distinct call list of a harness prog: they share its callback, and
//!   only reference counts tell them apart, which no helper result shows while user space
//!   holds the prog). User delete / update / close: the syscall ops.
//! * Time: the harness abstracts expiry times (any queued timer may expire next); the spec
//!   fires timers on `Advance` in due-time order. The checker chooses each expiry's time when
//!   it happens: the firing timer's queue entry is moved to `now` and time advances by 0,
//!   the spec run in which that start was given the duration that ends now and every other
//!   start a longer one. Every start asks for 1 ms and time never moves, so no other entry
//!   is ever due with it. An expiry is compared by what BPF can observe of it, its callback's
//!   helper results: a timer the spec has queued must fire and give the recorded results; one
//!   it has not must have run nothing (the harness may have found it not queued, or fired it
//!   with its callback already cleared by a concurrent cancel: both run nothing).
//!
//! ## The search and the verdicts
//! Histories are a few events: the orders consistent with real time are tried, at three
//! granularities ([`Granularity`]), finest last: whole events; then also a delete or update
//! of a run's element between the run's lookup of it and its helper calls (the harness's
//! program holds the element, which it looked up before its first call: the spec runs that
//! as a program deleting its own element, which keeps its pointer); then each helper call
//! of a run a step of its own, in program order (the kernel makes each helper atomic, not a
//! whole program). Failing all three, the history is one of the documented outcomes only
//! overlapping operations produce ([`Concurrent`], each with its kernel mechanism and the
//! overlap it needs), one the spec cannot answer (an order reached a step the spec has no
//! answer for, e.g. a call on an element a concurrent delete removed), or
//! [`Verdict::NotLinearizable`]. Verdicts are memoised per history (loom repeats them).

use crate::kernel::locked;
use crate::kernel::scenario::Scenario;
use crate::kernel::{Action, Call, CbId, Cpu, Design, Event, MapId, ProgId, SlotId};
use spec::world::{EventKey, Life};
use spec::{
    CbIdx, ClockFlags, ElemRef, Era, Errno, Key, MapFlags, MapIdx, MapKind, MapRef, MapSpec, Nanos,
    ObjRef, Op, Outcome, ProgIdx, ProgSpec, ProgType, Ret, Stmt, Target, TimerFlags, UpdateFlags,
    ValueLayout, World,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;

/// How finely an order cuts the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Granularity {
    /// Every event is one spec step.
    Events,
    /// As [`Granularity::Events`], and a delete or update of a run's element may fall
    /// between the run's lookup of the element and its calls.
    HeldElement,
    /// Each helper call of a program run is one spec step.
    HelperCalls,
}

impl Granularity {
    pub const fn name(self) -> &'static str {
        match self {
            Granularity::Events => "whole events",
            Granularity::HeldElement => "element held across a delete",
            Granularity::HelperCalls => "per helper call",
        }
    }
}

/// Which part of an event a step of an order is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    Whole,
    /// One helper call of a run.
    Call(usize),
    /// The whole event, inside the run of the step before it, before that run's call `k`.
    Inside(usize),
}

/// One step of a linearization: (part of) the `action`-th action of `cpu`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    pub cpu: Cpu,
    pub action: usize,
    pub part: Part,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CPU{}#{}", self.cpu, self.action)?;
        match self.part {
            Part::Whole => Ok(()),
            Part::Call(c) => write!(f, " call {c}"),
            Part::Inside(k) => write!(f, " (inside it, before its call {k})"),
        }
    }
}

/// An outcome only overlapping operations produce: no sequential order of spec steps gives
/// it, and the kernel's concurrent code does, by the mechanism [`Concurrent::reason`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Concurrent {
    /// -EDEADLK from a callback's cancel of another timer whose callback cancels back.
    MutualCancel,
    /// Two callbacks each cancelled or freed the other's timer, both having started.
    CrossedCallbacks,
    /// -ENOENT from a start that read the timer before a concurrent free detached it.
    StartOnDetached,
    /// -EINVAL from a callback's helper on its own timer, freed or cancelled while the
    /// callback ran.
    FreedUnderCallback,
    /// An expiry that ran nothing: its callback was cleared by a cancel still in progress.
    SkippedExpiry,
    /// -EPERM from set_callback between a close's usercnt drop and its `map_release_uref`.
    SetCallbackDuringUrefDrop,
    /// 0 from a cancel of a timer an overlapping op freed, whose hrtimer was dequeued first.
    CancelDuringFree,
}

impl Concurrent {
    pub const fn name(self) -> &'static str {
        match self {
            Concurrent::MutualCancel => "mutual-cancel -EDEADLK",
            Concurrent::CrossedCallbacks => "crossed callbacks",
            Concurrent::StartOnDetached => "start -ENOENT on a detached timer",
            Concurrent::FreedUnderCallback => "timer freed under its callback",
            Concurrent::SkippedExpiry => "skipped expiry",
            Concurrent::SetCallbackDuringUrefDrop => "set_callback -EPERM during uref drop",
            Concurrent::CancelDuringFree => "cancel 0 during a free",
        }
    }

    /// The kernel mechanism, and why one operation at a time never shows it.
    pub const fn reason(self) -> &'static str {
        match self {
            Concurrent::MutualCancel => {
                "bpf_timer_cancel in a timer callback returned -EDEADLK for another timer whose \
                 callback ran at the same time and cancelled the caller's timer (the \
                 `cancelling` counter of d4523831f07a refuses to wait for a callback that \
                 waits back); the spec runs one callback at a time and gives -EDEADLK only for \
                 a callback's own timer"
            }
            Concurrent::CrossedCallbacks => {
                "two timers expired together and each callback cancelled or freed the other's \
                 timer, which had already started its callback; one callback at a time, the \
                 first one dequeues or frees the second timer, whose callback then never runs"
            }
            Concurrent::StartOnDetached => {
                "bpf_timer_start returned -ENOENT: it read the timer pointer before a \
                 concurrent cancel_and_free detached the timer and dropped its last reference \
                 (refcount_inc_not_zero failed, 1bfbc267ec91); one op at a time a start before \
                 the free succeeds and one after it finds no timer (-EINVAL)"
            }
            Concurrent::FreedUnderCallback => {
                "a timer callback's helper call on its own timer returned -EINVAL: a \
                 concurrent map_release_uref, element delete / update or cancel freed the \
                 timer or cleared its callback while the callback ran; one op at a time that \
                 op either comes first (the timer never fires) or after the whole callback"
            }
            Concurrent::SkippedExpiry => {
                "a timer expired after a concurrent bpf_timer_cancel or cancel_and_free had \
                 cleared its callback but before it dequeued the hrtimer: the expiry ran \
                 nothing and the cancel found the timer inactive; one op at a time, an armed \
                 timer either runs its callback or is dequeued"
            }
            Concurrent::SetCallbackDuringUrefDrop => {
                "bpf_timer_set_callback returned -EPERM after a concurrent close dropped the \
                 map's last user reference and before map_release_uref freed the timer; one op \
                 at a time the timer is already gone (-EINVAL), which is why the spec leaves \
                 this -EPERM out"
            }
            Concurrent::CancelDuringFree => {
                "bpf_timer_cancel returned 0 on a timer an overlapping op freed: it read the \
                 timer under the element's lock and unlocked, then the free detached the timer \
                 and its hrtimer was dequeued (by the free's own cancel_and_free, or by the \
                 expiry whose callback did the free) before the cancel's hrtimer_cancel found \
                 it inactive (kfree_rcu, 0281b919e175, keeps the memory alive meanwhile); one \
                 op at a time the cancel dequeues the armed timer (1) or finds no timer \
                 (-EINVAL)"
            }
        }
    }
}

/// What the spec says about one history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// This order, cut at this granularity, run through the spec gives every recorded result.
    Linearizable { order: Vec<Step>, by: Granularity },
    /// No order explains it, and it is an outcome of overlapping operations.
    ConcurrentOnly(Concurrent),
    /// No order consistent with real time explains it: `tried` orders failed.
    NotLinearizable { history: Vec<Event>, tried: u64 },
    /// The spec cannot judge it (the scenario, or every order that could explain it).
    Unmappable(String),
}

/// The verdicts of a checker run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// The spec kernel the histories are judged on.
    pub kernel: Option<String>,
    /// Why the scenario cannot be mapped at all (nothing is checked then).
    pub unmappable_scenario: Option<String>,
    pub checked: u64,
    pub linearizable: BTreeMap<Granularity, u64>,
    pub concurrent_only: BTreeMap<Concurrent, u64>,
    /// Reason → histories.
    pub unmappable: BTreeMap<String, u64>,
    pub not_linearizable: u64,
    /// The first history no order explains, readable.
    pub counterexample: Option<String>,
}

impl Tally {
    /// An empty tally for histories judged by `checker` (or not at all: its error).
    pub fn of(checker: &Result<Checker, String>) -> Tally {
        match checker {
            Ok(c) => Tally {
                kernel: Some(c.kernel().to_string()),
                ..Tally::default()
            },
            Err(r) => Tally {
                unmappable_scenario: Some(r.clone()),
                ..Tally::default()
            },
        }
    }

    pub fn add(&mut self, v: &Verdict) {
        self.checked += 1;
        match v {
            Verdict::Linearizable { by, .. } => *self.linearizable.entry(*by).or_default() += 1,
            Verdict::ConcurrentOnly(c) => *self.concurrent_only.entry(*c).or_default() += 1,
            Verdict::Unmappable(r) => *self.unmappable.entry(r.clone()).or_default() += 1,
            Verdict::NotLinearizable { .. } => {
                self.not_linearizable += 1;
                self.counterexample.get_or_insert_with(|| v.to_string());
            }
        }
    }

    /// Histories some order explains.
    pub fn explained(&self) -> u64 {
        self.linearizable.values().sum()
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.unmappable_scenario {
            return write!(f, "not checked: {r}");
        }
        let on = self.kernel.as_deref().unwrap_or("?");
        write!(
            f,
            "{} histories on {on}: {} linearizable",
            self.checked,
            self.explained()
        )?;
        if !self.linearizable.is_empty() {
            let by: Vec<String> = self
                .linearizable
                .iter()
                .map(|(g, n)| format!("{n} {}", g.name()))
                .collect();
            write!(f, " ({})", by.join(", "))?;
        }
        for (c, n) in &self.concurrent_only {
            write!(f, ", {n} concurrent-only ({})", c.name())?;
        }
        for (r, n) in &self.unmappable {
            write!(f, ", {n} unmappable ({r})")?;
        }
        write!(f, ", {} not linearizable", self.not_linearizable)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Linearizable { order, by } => {
                let o: Vec<String> = order.iter().map(Step::to_string).collect();
                write!(f, "linearizable ({}): {}", by.name(), o.join(" → "))
            }
            Verdict::ConcurrentOnly(c) => write!(f, "concurrent-only outcome: {}", c.reason()),
            Verdict::Unmappable(r) => write!(f, "unmappable: {r}"),
            Verdict::NotLinearizable { history, tried } => {
                writeln!(f, "not linearizable ({tried} orders tried); the history:")?;
                for e in history {
                    let got = match e.fired {
                        Some(false) => "found it not queued".to_string(),
                        _ => format!("{:?}", e.rets),
                    };
                    writeln!(
                        f,
                        "  CPU{}: {} → {got}   [steps {}..{}]",
                        e.cpu, e.action, e.invoked, e.returned
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// Why the spec cannot answer a step.
type Gap = String;

const NO_ELEM: &str = "a helper call on an element a delete removed: the harness's program \
                       holds the element pointer, the spec's looks the element up";

/// Results of one spec step as the kernel returns them, and the harness calls they answer.
type Observed = (Vec<i64>, Vec<Call>);

/// A history, up to what its verdict depends on: each event's results in (CPU, action)
/// order, and which events returned before which were invoked.
type HistoryKey = (Vec<(Vec<i64>, Option<bool>)>, Vec<u64>);

/// A spec program that runs `calls` on one element with `op` (a delete or update of that
/// element) inserted before call `at`: a run holding its element across that op.
struct Held {
    prog: ProgId,
    calls: Vec<Call>,
    op: Call,
    at: usize,
    spec: ProgIdx,
}

/// The spec side of one scenario: the world after the setup, and how each harness object
/// and action maps to it.
pub struct Checker {
    kernel: spec::Kernel,
    cpus: Vec<Vec<Action>>,
    /// Each slot's element.
    elems: Vec<ElemRef>,
    slot_map: Vec<MapId>,
    /// Each harness prog's callback calls.
    callbacks: Vec<Vec<Call>>,
    /// Each harness prog runs sleepable.
    sleepable: Vec<bool>,
    /// Harness prog → (its call lists, the spec program running each).
    variants: Vec<Vec<(Vec<Call>, ProgIdx)>>,
    held: Vec<Held>,
    /// Spec program → harness prog.
    harness_prog: Vec<ProgId>,
    /// Harness timer allocation → the spec object, if it lived past its allocating action.
    timers: Vec<Option<u64>>,
    /// Harness timer allocation → its slot, and the prog whose callback it had after setup.
    timer_slot: Vec<SlotId>,
    timer_prog: Vec<Option<ProgId>>,
    start: World,
    memo: Mutex<HashMap<HistoryKey, Verdict>>,
}

/// The spec kernel whose sequential rules the design has.
fn kernel_of(sc: &Scenario) -> Result<spec::Kernel, String> {
    let buggy = |missing: &dyn fmt::Debug| {
        format!(
            "the design lacks the fix {missing:?}, which one CPU alone sees: no modelled \
             kernel behaves so"
        )
    };
    let era = match sc.design {
        Design::Locked(f) => {
            use locked::Fix;
            let replaced = |x: Fix| {
                Fix::ALL
                    .iter()
                    .any(|&g| g.replaced_by() == Some(x) && f.has(g))
            };
            let missing = |x: Fix| sequential(x) && !f.has(x) && !replaced(x);
            if let Some(missing) = Fix::ALL.into_iter().find(|&x| missing(x)) {
                return Err(buggy(&missing));
            }
            match (f.has(Fix::DeferFreeInCb), sc.preempt_rt) {
                (false, _) => Era::V6_1,
                (true, false) => Era::V6_18,
                (true, true) => Era::V6_12,
            }
        }
        // Its fixes are all against races (and tracepoint recursion, which is not mapped).
        Design::LockFree(_) => Era::V7_0,
    };
    let k = spec::Kernel::new(era);
    Ok(if sc.preempt_rt { k.preempt_rt() } else { k })
}

/// A fix of the lock-based design changes what one CPU alone sees (else it only closes a
/// race, and the sequential rules are the same with or without it).
const fn sequential(f: locked::Fix) -> bool {
    use locked::Fix;
    match f {
        // Element frees free the timer; the callback's own free does not wait for itself;
        // the slot holds the prog reference; -EPERM without urefs; init checks the map it
        // is given; the free from a callback is deferred (the era's rule).
        Fix::FreeOnElementFree
        | Fix::SkipCancelInOwnCb
        | Fix::MapOwnsProgRef
        | Fix::EpermWithoutUref
        | Fix::ExplicitMapArg
        | Fix::DeferFreeInCb => true,
        Fix::SpinLock
        | Fix::UnlockBeforeCancel
        | Fix::RecheckUsercnt
        | Fix::KfreeRcu
        | Fix::Cancelling
        | Fix::RtTryToCancel => false,
    }
}

/// The slot a helper call acts on.
fn slot_of(c: Call) -> SlotId {
    match c {
        Call::Init(s, _)
        | Call::SetCallback(s)
        | Call::Start(s)
        | Call::Cancel(s)
        | Call::Delete(s)
        | Call::Update(s)
        | Call::WqInit(s, _)
        | Call::WqSetCallback(s)
        | Call::WqStart(s) => s,
    }
}

/// A program run: its prog, calls, and whether it is sleepable.
fn run_of(a: &Action) -> Option<(ProgId, &[Call], bool)> {
    match a {
        Action::Run(p, calls) => Some((*p, calls, false)),
        Action::RunSleepable(p, calls) => Some((*p, calls, true)),
        _ => None,
    }
}

/// The one slot all of a run's calls act on.
fn one_slot(calls: &[Call]) -> Option<SlotId> {
    let s = slot_of(*calls.first()?);
    calls.iter().all(|&c| slot_of(c) == s).then_some(s)
}

/// The delete or update of a slot's element an action makes, if that is all it does.
fn element_op(a: &Action) -> Option<(Call, bool)> {
    match a {
        Action::UserDelete(s) => Some((Call::Delete(*s), true)),
        Action::UserUpdate(s) => Some((Call::Update(*s), true)),
        a => match run_of(a)?.1 {
            [c @ (Call::Delete(_) | Call::Update(_))] => Some((*c, false)),
            _ => None,
        },
    }
}

fn map_idx(m: MapId) -> MapIdx {
    MapIdx(u8::try_from(m.0).expect("at most 256 maps"))
}

fn prog_idx(i: usize) -> ProgIdx {
    ProgIdx(u8::try_from(i).expect("at most 256 programs"))
}

/// The integer results of a statement list; a call the spec did not make is a gap.
fn ints(rets: &[Ret]) -> Result<Vec<i64>, Gap> {
    rets.iter()
        .map(|r| match *r {
            Ret::Int(v) => Ok(v),
            Ret::NoElem => Err(NO_ELEM.into()),
            r => Err(format!("the spec answers a helper call with {r}")),
        })
        .collect()
}

/// A syscall's result as the harness records it.
fn sys(out: Outcome) -> Result<Observed, Gap> {
    match out {
        Outcome::Ok => Ok((vec![0], Vec::new())),
        Outcome::Err(e) => Ok((vec![-(e as i64)], Vec::new())),
        Outcome::Unsupported(u) => Err(u.to_string()),
        o => Err(format!("a syscall answered {o:?}")),
    }
}

/// A program run's results.
fn ran(out: Outcome) -> Result<Vec<i64>, Gap> {
    match out {
        Outcome::Ran { rets, callbacks } if callbacks.is_empty() => ints(&rets),
        Outcome::Err(Errno::EBADF) => Err("a program runs after its last user fd closed: the \
                                           spec runs programs through a user handle"
            .into()),
        Outcome::Unsupported(u) => Err(u.to_string()),
        o => Err(format!("a program run answered {o:?}")),
    }
}

impl Checker {
    /// Map the scenario and run its setup in the spec.
    pub fn new(sc: &Scenario) -> Result<Checker, String> {
        let kernel = kernel_of(sc)?;
        let mut c = Checker {
            kernel,
            cpus: sc.cpus.clone(),
            elems: Vec::new(),
            slot_map: sc.slots.iter().map(|s| s.map).collect(),
            callbacks: sc.progs.iter().map(|p| p.callback.clone()).collect(),
            sleepable: vec![false; sc.progs.len()],
            variants: vec![Vec::new(); sc.progs.len()],
            held: Vec::new(),
            harness_prog: Vec::new(),
            timers: Vec::new(),
            timer_slot: Vec::new(),
            timer_prog: Vec::new(),
            start: World::new(kernel),
            memo: Mutex::new(HashMap::new()),
        };
        c.check_objects(sc)?;
        for (p, _, sleepable) in sc
            .setup
            .iter()
            .chain(sc.cpus.iter().flatten())
            .filter_map(run_of)
        {
            c.sleepable[p.0] = sleepable;
        }
        let mut w = World::new(kernel);
        for (i, m) in sc.maps.iter().enumerate() {
            let slots = c.slot_map.iter().filter(|&&s| s.0 == i).count();
            let spec = MapSpec {
                kind: MapKind::Hash,
                max_entries: u8::try_from(slots.max(1)).map_err(|_| "a map of 256 slots")?,
                value: ValueLayout {
                    timer: 1,
                    ..ValueLayout::default()
                },
                flags: MapFlags::default(),
                inner: None,
            };
            let out = spec::step(&mut w, &Op::MapCreate(spec));
            if out != Outcome::Ok {
                return Err(format!("the spec refuses map {}: {out:?}", m.name));
            }
        }
        for (s, &m) in c.slot_map.iter().enumerate() {
            let key = c.slot_map[..s].iter().filter(|&&x| x == m).count();
            let elem = ElemRef {
                map: MapRef::Map(map_idx(m)),
                key: Key(u32::try_from(key).expect("few slots")),
            };
            let out = spec::step(
                &mut w,
                &Op::MapUpdate {
                    elem,
                    flags: UpdateFlags::Any,
                },
            );
            if out != Outcome::Ok {
                return Err(format!("the spec refuses t{s}'s element: {out:?}"));
            }
            c.elems.push(elem);
        }
        c.load_progs(sc, &mut w)?;
        for (i, m) in sc.maps.iter().enumerate() {
            let map = ObjRef::Map(map_idx(MapId(i)));
            if m.usercnt == 0 {
                if !sc.progs.iter().any(|p| p.used_maps.contains(&MapId(i))) {
                    return Err(format!("map {} has no reference at all", m.name));
                }
                spec::step(&mut w, &Op::Close(map));
            }
            for _ in 1..m.usercnt {
                spec::step(&mut w, &Op::GetFdById(map));
            }
        }
        for a in &sc.setup {
            c.setup_action(&mut w, a)?;
        }
        for a in sc.cpus.iter().flatten() {
            if let Action::Fire(t) = a
                && t.0 >= c.timers.len()
            {
                return Err(format!(
                    "timer#{} is allocated during the concurrent part: the history does not \
                     record which init allocated it",
                    t.0
                ));
            }
            if let Some((p, calls, _)) = run_of(a) {
                let prog = w.prog(c.variant(p, calls));
                if prog.life != Life::Live || !prog.handles.reachable() {
                    return Err(format!(
                        "prog {} runs after the setup closed its last user reference (in the \
                         kernel a run that began before the detach); the spec runs programs \
                         only through a user handle",
                        sc.progs[p.0].name
                    ));
                }
            }
        }
        c.start = w;
        Ok(c)
    }

    /// The spec kernel the histories are judged on.
    pub fn kernel(&self) -> spec::Kernel {
        self.kernel
    }

    /// Every object, call and action has a spec counterpart.
    fn check_objects(&self, sc: &Scenario) -> Result<(), String> {
        if let Some((i, s)) = sc
            .slots
            .iter()
            .enumerate()
            .find(|(_, s)| s.static_map != s.map)
        {
            return Err(format!(
                "t{i} is an element of an inner map (its programs were verified against \
                 map{}): the mapping builds no map-in-map",
                s.static_map.0
            ));
        }
        let actions = || sc.setup.iter().chain(sc.cpus.iter().flatten());
        let unmapped = |a: &&Action| {
            matches!(
                a,
                Action::WqWork(_) | Action::AttachTracepoint(..) | Action::Work(_)
            )
        };
        if let Some(a) = actions().find(unmapped) {
            return Err(format!(
                "{a}: the mapping has no bpf_wq work items or tracepoints yet"
            ));
        }
        let runs = || actions().filter_map(run_of);
        for (p, _, sleepable) in runs() {
            if runs().any(|(q, _, s)| q == p && s != sleepable) {
                return Err(format!(
                    "prog {} runs both sleepable and not",
                    sc.progs[p.0].name
                ));
            }
        }
        let bodies = sc
            .progs
            .iter()
            .enumerate()
            .map(|(p, d)| (ProgId(p), &d.callback[..]));
        for (p, calls) in runs().map(|(p, calls, _)| (p, calls)).chain(bodies) {
            let decl = &sc.progs[p.0];
            if decl.user_refs == 0 {
                return Err(format!(
                    "prog {} has no user reference: the spec runs programs through one",
                    decl.name
                ));
            }
            for &call in calls {
                if matches!(
                    call,
                    Call::WqInit(..) | Call::WqSetCallback(_) | Call::WqStart(_)
                ) {
                    return Err(format!("{call}: the mapping has no bpf_wq work items yet"));
                }
                let s = slot_of(call);
                if let Call::Init(_, m) = call
                    && m != self.slot_map[s.0]
                {
                    return Err(format!(
                        "{call} passes another map than the element's, which the verifier \
                         refuses since 3e8ce29850f1"
                    ));
                }
                if !decl.used_maps.contains(&self.slot_map[s.0]) {
                    return Err(format!(
                        "prog {} calls {call} on a map it does not use",
                        decl.name
                    ));
                }
            }
        }
        Ok(())
    }

    fn stmt(&self, c: Call, elem: Target) -> Stmt {
        let call = match c {
            Call::Init(..) => spec::Call::TimerInit {
                elem,
                clock: ClockFlags(ClockFlags::MONOTONIC),
            },
            Call::SetCallback(_) => spec::Call::TimerSetCallback { elem, cb: CbIdx(0) },
            Call::Start(_) => spec::Call::TimerStart {
                elem,
                nsecs: Nanos(Nanos::MS),
                flags: TimerFlags(0),
            },
            Call::Cancel(_) => spec::Call::TimerCancel { elem },
            Call::Delete(_) => spec::Call::MapDelete { elem },
            Call::Update(_) => spec::Call::MapUpdate {
                elem,
                flags: UpdateFlags::Any,
            },
            Call::WqInit(..) | Call::WqSetCallback(_) | Call::WqStart(_) => {
                unreachable!("scenarios with bpf_wq are not mapped")
            }
        };
        Stmt { guard: None, call }
    }

    /// A call on its slot's element, found by key.
    fn by_key(&self, c: Call) -> Stmt {
        self.stmt(c, Target::Elem(self.elems[slot_of(c).0]))
    }

    /// One spec program per distinct call list a harness prog runs, per single call of a
    /// concurrent run (for the per-call search), and per way a concurrent delete or update
    /// can fall inside a concurrent one-element run; each with the prog's callback and user
    /// fds.
    fn load_progs(&mut self, sc: &Scenario, w: &mut World) -> Result<(), String> {
        let mut lists: Vec<Vec<Vec<Call>>> = vec![Vec::new(); sc.progs.len()];
        let mut add = |p: ProgId, calls: &[Call]| {
            if !lists[p.0].iter().any(|l| l == calls) {
                lists[p.0].push(calls.to_vec());
            }
        };
        for (p, calls, _) in sc.setup.iter().filter_map(run_of) {
            add(p, calls);
        }
        let concurrent = || {
            sc.cpus
                .iter()
                .enumerate()
                .flat_map(|(c, l)| l.iter().map(move |a| (c, a)))
        };
        for (p, calls, _) in concurrent().filter_map(|(_, a)| run_of(a)) {
            add(p, calls);
            if calls.len() > 1 {
                for c in calls.chunks(1) {
                    add(p, c);
                }
            }
        }
        let mut held = Vec::new();
        for (cpu, a) in concurrent() {
            let Some((p, calls, _)) = run_of(a) else {
                continue;
            };
            let Some(s) = one_slot(calls) else { continue };
            for (other, d) in concurrent() {
                match element_op(d) {
                    Some((op, _)) if other != cpu && slot_of(op) == s => {
                        for at in 0..calls.len() {
                            let dup = |h: &(ProgId, Vec<Call>, Call, usize)| {
                                (h.0, &h.1[..], h.2, h.3) == (p, calls, op, at)
                            };
                            if !held.iter().any(dup) {
                                held.push((p, calls.to_vec(), op, at));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        for (p, decl) in sc.progs.iter().enumerate() {
            if lists[p].is_empty() {
                lists[p].push(Vec::new());
            }
            let callbacks = vec![decl.callback.iter().map(|&c| self.by_key(c)).collect()];
            let sleepable = self.sleepable[p];
            let spec = |self_map, main| ProgSpec {
                ty: if sleepable {
                    ProgType::Syscall
                } else {
                    ProgType::SchedCls
                },
                sleepable,
                gpl: true,
                self_map,
                maps: decl.used_maps.iter().map(|&m| map_idx(m)).collect(),
                main,
                callbacks: callbacks.clone(),
            };
            let mut specs = Vec::new();
            for calls in std::mem::take(&mut lists[p]) {
                let main = calls.iter().map(|&c| self.by_key(c)).collect();
                specs.push((spec(None, main), Some(calls), None));
            }
            for (_, calls, op, at) in held.iter().filter(|h| h.0 == ProgId(p)) {
                let own = |c: Call| self.stmt(c, Target::SelfElem);
                let mut main: Vec<Stmt> = calls.iter().map(|&c| own(c)).collect();
                main.insert(*at, own(*op));
                let self_map = Some(self.elems[slot_of(*op).0].map);
                specs.push((spec(self_map, main), None, Some((calls.clone(), *op, *at))));
            }
            for (ps, calls, h) in specs {
                let out = spec::step(w, &Op::ProgLoad(ps));
                if out != Outcome::Ok {
                    return Err(format!(
                        "the spec refuses to load prog {}: {out:?}",
                        decl.name
                    ));
                }
                let idx = prog_idx(self.harness_prog.len());
                for _ in 1..decl.user_refs {
                    spec::step(w, &Op::GetFdById(ObjRef::Prog(idx)));
                }
                self.harness_prog.push(ProgId(p));
                if let Some(calls) = calls {
                    self.variants[p].push((calls, idx));
                }
                if let Some((calls, op, at)) = h {
                    self.held.push(Held {
                        prog: ProgId(p),
                        calls,
                        op,
                        at,
                        spec: idx,
                    });
                }
            }
        }
        Ok(())
    }

    /// Run a setup action and number the timers it allocates as the harness does: each
    /// init that finds the slot empty allocates one (an init refused for usercnt 0
    /// allocates, publishes and frees it: fd381ce60a2d).
    fn setup_action(&mut self, w: &mut World, a: &Action) -> Result<(), String> {
        let (rets, calls) = self
            .apply(w, a, None)
            .map_err(|g| format!("setup {a}: {g}"))?;
        let mut last: BTreeMap<SlotId, usize> = BTreeMap::new();
        for (&c, &r) in calls.iter().zip(&rets) {
            if let Call::Init(s, _) = c
                && (r == 0 || r == -(Errno::EPERM as i64))
            {
                self.timers.push(None);
                self.timer_slot.push(s);
                self.timer_prog.push(None);
                if r == 0 {
                    last.insert(s, self.timers.len() - 1);
                }
            }
        }
        for (s, i) in last {
            let obj = self.elem_of(w, s).and_then(|e| w.elems[e].timer);
            if let Some(t) = obj.filter(|t| !self.timers.contains(&Some(t.id))) {
                self.timers[i] = Some(t.id);
            }
        }
        for i in 0..self.timers.len() {
            let cb = self.timers[i]
                .and_then(|id| w.elems.iter().find_map(|e| e.timer.filter(|t| t.id == id)))
                .and_then(|t| t.callback);
            self.timer_prog[i] = cb.map(|(p, _)| self.harness_prog[usize::from(p.0)]);
        }
        Ok(())
    }

    /// The element a slot's key names now.
    fn elem_of(&self, w: &World, s: SlotId) -> Option<usize> {
        let r = self.elems[s.0];
        let MapRef::Map(m) = r.map else {
            unreachable!("slots are elements of plain maps")
        };
        w.map(m).elems.get(&r.key).copied()
    }

    fn variant(&self, p: ProgId, calls: &[Call]) -> ProgIdx {
        self.variants[p.0]
            .iter()
            .find(|(l, _)| l == calls)
            .map(|&(_, v)| v)
            .expect("every call list run is loaded")
    }

    /// Apply one action (or one helper call of a run) to the spec world: the results the
    /// kernel would return for it.
    fn apply(&self, w: &mut World, a: &Action, call: Option<usize>) -> Result<Observed, Gap> {
        if let Some((p, calls, _)) = run_of(a) {
            let calls = match call {
                Some(k) => &calls[k..=k],
                None => calls,
            };
            let prog = self.variant(p, calls);
            let rets = ran(spec::step(w, &Op::ProgRun { prog, key: Key(0) }))?;
            return Ok((rets, calls.to_vec()));
        }
        match a {
            Action::Run(..) | Action::RunSleepable(..) => unreachable!("handled above"),
            Action::WqWork(_) | Action::AttachTracepoint(..) => {
                unreachable!("scenarios with bpf_wq or tracepoints are not mapped")
            }
            Action::Work(_) => unreachable!("kworker items are left out of the history"),
            Action::Fire(t) => self.fire(w, *t),
            Action::UserDelete(s) => sys(spec::step(
                w,
                &Op::MapDelete {
                    elem: self.elems[s.0],
                },
            )),
            Action::UserUpdate(s) => sys(spec::step(
                w,
                &Op::MapUpdate {
                    elem: self.elems[s.0],
                    flags: UpdateFlags::Any,
                },
            )),
            Action::CloseMap(m) => sys(spec::step(w, &Op::Close(ObjRef::Map(map_idx(*m))))),
            Action::CloseProg(p) => {
                let all = (0..self.harness_prog.len()).filter(|&i| self.harness_prog[i] == *p);
                for v in all {
                    let r = sys(spec::step(w, &Op::Close(ObjRef::Prog(prog_idx(v)))))?;
                    if r.0 != [0] {
                        return Ok(r);
                    }
                }
                Ok((vec![0], Vec::new()))
            }
        }
    }

    /// Run `r` holding its element across `d` (a delete or update of it) made before its
    /// call `at`: the results of `r`'s calls with `d`'s inserted at `at`. `None` when no
    /// spec program does that.
    fn apply_held(
        &self,
        w: &mut World,
        r: &Action,
        d: &Action,
        at: usize,
    ) -> Option<Result<Vec<i64>, Gap>> {
        let (Some((p, calls, _)), Some((op, user))) = (run_of(r), element_op(d)) else {
            return None;
        };
        let held = self
            .held
            .iter()
            .find(|h| (h.prog, &h.calls[..], h.op, h.at) == (p, calls, op, at))?;
        let elem = self.elems[slot_of(op).0];
        let MapRef::Map(m) = elem.map else {
            unreachable!("slots are elements of plain maps")
        };
        let map = w.map(m);
        if user && !(map.life == Life::Live && map.handles.reachable()) {
            return None; // user space has no fd to delete through
        }
        Some(ran(spec::step(
            w,
            &Op::ProgRun {
                prog: held.spec,
                key: elem.key,
            },
        )))
    }

    /// Timer `t` expires now, if the spec has it queued: its entry moves to `now`, time
    /// advances by 0. Otherwise nothing runs.
    fn fire(&self, w: &mut World, t: CbId) -> Result<Observed, Gap> {
        let queued = self.timers[t.0].and_then(|id| {
            w.elems
                .iter()
                .position(|e| e.timer.is_some_and(|o| o.id == id && o.queued.is_some()))
        });
        let Some(e) = queued else {
            return Ok((Vec::new(), Vec::new()));
        };
        let now = w.now;
        let obj = w.elems[e].timer.as_mut().expect("found above");
        let old = obj.queued.expect("found queued");
        let key = EventKey {
            at: now,
            seq: old.seq,
        };
        obj.queued = Some(key);
        let ev = w.events.remove(&old).expect("a queued timer has its event");
        if w.events.keys().any(|k| k.at <= now) {
            return Err("another expiry is due at the same time".into());
        }
        w.events.insert(key, ev);
        match spec::step(w, &Op::Advance { ns: Nanos(0) }) {
            Outcome::Fired(runs) => match runs.as_slice() {
                [] => Ok((Vec::new(), Vec::new())),
                [r] => {
                    let p = self.harness_prog[usize::from(r.prog.0)];
                    Ok((ints(&r.rets)?, self.callbacks[p.0].clone()))
                }
                _ => Err("callbacks queued meanwhile ran in the same advance".into()),
            },
            Outcome::Unsupported(u) => Err(u.to_string()),
            o => Err(format!("an expiry answered {o:?}")),
        }
    }

    /// The spec's verdict on one history of the scenario (memoised). The kworker's items are
    /// left out: they are the deferred halves of operations, which the spec completes in the
    /// operation itself, and BPF observes nothing of them.
    pub fn check(&self, history: &[Event]) -> Verdict {
        let kworker = |e: &&Event| matches!(e.action, Action::Work(_));
        let mut h: Vec<Event> = history.iter().filter(|e| !kworker(e)).cloned().collect();
        h.sort_by_key(|e| (e.cpu, e.invoked));
        let ids: Vec<(Cpu, usize)> = h
            .iter()
            .enumerate()
            .map(|(i, e)| (e.cpu, h[..i].iter().filter(|f| f.cpu == e.cpu).count()))
            .collect();
        let matches = h.len() == self.cpus.iter().map(Vec::len).sum::<usize>()
            && h.iter()
                .zip(&ids)
                .all(|(e, &(c, a))| self.cpus.get(c).and_then(|l| l.get(a)) == Some(&e.action));
        if !matches {
            return Verdict::Unmappable("the history is not one of this scenario".into());
        }
        if h.len() > 64 {
            return Verdict::Unmappable("more than 64 events".into());
        }
        let before: Vec<u64> = h
            .iter()
            .map(|e| {
                h.iter()
                    .enumerate()
                    .filter(|(_, f)| f.returned < e.invoked)
                    .fold(0, |m, (j, _)| m | 1 << j)
            })
            .collect();
        let key: HistoryKey = (
            h.iter().map(|e| (e.rets.clone(), e.fired)).collect(),
            before.clone(),
        );
        let memo = || {
            self.memo
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(v) = memo().get(&key) {
            return v.clone();
        }
        let v = self.judge(&h, &ids, &before);
        memo().insert(key, v.clone());
        v
    }

    fn judge(&self, h: &[Event], ids: &[(Cpu, usize)], before: &[u64]) -> Verdict {
        let whole: Vec<Unit> = (0..h.len())
            .map(|i| Unit {
                event: i,
                call: None,
                deps: before[i],
            })
            .collect();
        let (mut tried, mut gap, mut no_elem, mut answered) = (0, None, 0, 0);
        let mut search = |units: &[Unit], by: Granularity| {
            let mut s = Search::new(self, h, units, by == Granularity::HeldElement);
            let found = s.dfs(&self.start, 0);
            tried += s.tried;
            gap = gap.take().or(s.gap.take());
            no_elem |= s.no_elem;
            answered |= s.answered;
            found.then(|| Verdict::Linearizable {
                order: s.steps(ids),
                by,
            })
        };
        if let Some(v) = search(&whole, Granularity::Events) {
            return v;
        }
        if !self.held.is_empty()
            && let Some(v) = search(&whole, Granularity::HeldElement)
        {
            return v;
        }
        let split = |e: &Event| run_of(&e.action).map_or(1, |(_, calls, _)| calls.len().max(1));
        if h.iter().any(|e| split(e) > 1) {
            let mut first = Vec::new();
            let mut units: Vec<Unit> = Vec::new();
            for (i, e) in h.iter().enumerate() {
                first.push(units.len());
                let n = split(e);
                for k in 0..n {
                    units.push(Unit {
                        event: i,
                        call: (n > 1).then_some(k),
                        deps: 0,
                    });
                }
            }
            let n = units.len();
            if n > 64 {
                return Verdict::Unmappable("more than 64 helper calls".into());
            }
            let last = |j: usize| first.get(j + 1).copied().unwrap_or(n) - 1;
            for (u, unit) in units.iter_mut().enumerate() {
                let i = unit.event;
                unit.deps = if u > first[i] {
                    1 << (u - 1)
                } else {
                    (0..h.len())
                        .filter(|&j| before[i] >> j & 1 == 1)
                        .fold(0, |m, j| m | 1 << last(j))
                };
            }
            if let Some(v) = search(&units, Granularity::HelperCalls) {
                return v;
            }
        }
        if let Some(c) = self.concurrent_only(h, before) {
            return Verdict::ConcurrentOnly(c);
        }
        // A run that found its element deleted is answered if the spec ran it holding the
        // element across that delete (and its results differed).
        if no_elem & !answered != 0 {
            gap = gap.or(Some(NO_ELEM.into()));
        }
        match gap {
            Some(g) => Verdict::Unmappable(g),
            None => Verdict::NotLinearizable {
                history: h.to_vec(),
                tried,
            },
        }
    }

    /// The progs whose callback timer `t` may run: the one set after setup, and any a
    /// concurrent run or callback sets on its slot.
    fn callback_progs(&self, t: CbId) -> Vec<ProgId> {
        let s = self.timer_slot[t.0];
        let sets = |calls: &[Call]| calls.contains(&Call::SetCallback(s));
        let runs = self
            .cpus
            .iter()
            .flatten()
            .filter_map(run_of)
            .filter(|r| sets(r.1))
            .map(|r| r.0);
        let bodies = (0..self.callbacks.len())
            .filter(|&p| sets(&self.callbacks[p]))
            .map(ProgId);
        let mut progs: Vec<ProgId> = self.timer_prog[t.0]
            .into_iter()
            .chain(runs)
            .chain(bodies)
            .collect();
        progs.sort();
        progs.dedup();
        progs
    }

    /// (helper call, result) pairs an event's results may answer: a run's calls, or the
    /// callback of a prog that may be set on the expiring timer.
    fn call_rets(&self, e: &Event) -> Vec<(Call, i64)> {
        let pair = |calls: &[Call]| -> Vec<(Call, i64)> {
            calls.iter().copied().zip(e.rets.iter().copied()).collect()
        };
        if let Some((_, calls, _)) = run_of(&e.action) {
            return pair(calls);
        }
        match &e.action {
            Action::Fire(t) => self
                .callback_progs(*t)
                .into_iter()
                .filter(|p| self.callbacks[p.0].len() == e.rets.len())
                .flat_map(|p| pair(&self.callbacks[p.0]))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Which documented concurrent-only outcome the history shows, if any; each needs the
    /// events of its mechanism to overlap in real time.
    fn concurrent_only(&self, h: &[Event], before: &[u64]) -> Option<Concurrent> {
        let overlap =
            |i: usize, j: usize| i != j && before[i] >> j & 1 == 0 && before[j] >> i & 1 == 0;
        let fired = |e: &Event| match e.action {
            Action::Fire(t) if e.fired == Some(true) => Some(t),
            _ => None,
        };
        let acts_on = |calls: &[(Call, i64)], s: SlotId| {
            calls
                .iter()
                .any(|&(c, _)| matches!(c, Call::Cancel(x) | Call::Delete(x) | Call::Update(x) if x == s))
        };
        let edeadlk = -(Errno::EDEADLK as i64);
        let eperm = -(Errno::EPERM as i64);
        let enoent = -(Errno::ENOENT as i64);
        let einval = -(Errno::EINVAL as i64);
        // Event j frees slot s's timer: the map's last close, or a delete / update of its
        // element by user space, a run or a callback.
        let frees = |j: usize, s: SlotId| match &h[j].action {
            Action::CloseMap(m) => *m == self.slot_map[s.0],
            _ => self
                .call_rets(&h[j])
                .iter()
                .map(|&(c, _)| c)
                .chain(element_op(&h[j].action).map(|(op, _)| op))
                .any(|c| matches!(c, Call::Delete(x) | Call::Update(x) if x == s)),
        };
        let mut found = Vec::new();
        for (i, e) in h.iter().enumerate() {
            let calls = self.call_rets(e);
            let others = || (0..h.len()).filter(move |&j| overlap(i, j));
            if let Some(t) = fired(e) {
                let mine = self.timer_slot[t.0];
                // Both callbacks ran and each acted on the other's timer.
                for j in others() {
                    let Some(u) = fired(&h[j]) else { continue };
                    let theirs = self.timer_slot[u.0];
                    let back = self.call_rets(&h[j]);
                    if theirs != mine && acts_on(&calls, theirs) && acts_on(&back, mine) {
                        let deadlk = calls
                            .iter()
                            .any(|&(c, r)| c == Call::Cancel(theirs) && r == edeadlk);
                        found.push(if deadlk {
                            Concurrent::MutualCancel
                        } else {
                            Concurrent::CrossedCallbacks
                        });
                    }
                }
                // It ran nothing though its callback makes calls, while an overlapping op
                // cleared that callback.
                let progs = self.callback_progs(t);
                let silent = e.rets.is_empty()
                    && !progs.is_empty()
                    && progs.iter().all(|p| !self.callbacks[p.0].is_empty());
                let clears = |j: usize| match h[j].action {
                    Action::UserDelete(x) | Action::UserUpdate(x) => x == mine,
                    Action::CloseMap(m) => m == self.slot_map[mine.0],
                    _ => acts_on(&self.call_rets(&h[j]), mine),
                };
                if silent && others().any(clears) {
                    found.push(Concurrent::SkippedExpiry);
                }
                // A helper on its own timer found it freed by an overlapping free.
                let own = |c: Call| matches!(c, Call::SetCallback(x) | Call::Start(x) | Call::Cancel(x) if x == mine);
                let freed = calls.iter().any(|&(c, r)| own(c) && r == einval);
                if freed
                    && others().any(|j| frees(j, mine) || acts_on(&self.call_rets(&h[j]), mine))
                {
                    found.push(Concurrent::FreedUnderCallback);
                }
            }
            for &(c, r) in &calls {
                match c {
                    Call::SetCallback(s)
                        if r == eperm
                            && others()
                                .any(|j| h[j].action == Action::CloseMap(self.slot_map[s.0])) =>
                    {
                        found.push(Concurrent::SetCallbackDuringUrefDrop);
                    }
                    Call::Start(s) if r == enoent && others().any(|j| frees(j, s)) => {
                        found.push(Concurrent::StartOnDetached);
                    }
                    Call::Cancel(s) if r == 0 && others().any(|j| frees(j, s)) => {
                        found.push(Concurrent::CancelDuringFree);
                    }
                    _ => {}
                }
            }
        }
        found.into_iter().min()
    }
}

/// One step of a candidate order: an event, or one helper call of a run.
struct Unit {
    event: usize,
    call: Option<usize>,
    /// Units that must come first (bit per unit).
    deps: u64,
}

/// A depth-first search over the orders of `units` that respect their dependencies.
struct Search<'a> {
    checker: &'a Checker,
    h: &'a [Event],
    units: &'a [Unit],
    /// Also let a delete or update fall inside a one-element run (units are whole events).
    held: bool,
    order: Vec<(usize, Part)>,
    /// Orders cut at a step whose results differ, or that the spec cannot answer.
    tried: u64,
    /// The first step the spec could not answer, but for a run's call on a deleted element.
    gap: Option<Gap>,
    /// Runs (event bits) with a call on an element a delete removed, and runs the spec ran
    /// holding their element across a delete.
    no_elem: u64,
    answered: u64,
}

impl<'a> Search<'a> {
    fn new(checker: &'a Checker, h: &'a [Event], units: &'a [Unit], held: bool) -> Search<'a> {
        Search {
            checker,
            h,
            units,
            held,
            order: Vec::new(),
            tried: 0,
            gap: None,
            no_elem: 0,
            answered: 0,
        }
    }

    /// Judge one candidate step's results (`steps`, of `event`); on a match, go on from
    /// `next`.
    fn go(
        &mut self,
        got: Result<Vec<i64>, Gap>,
        want: &[i64],
        next: &World,
        done: u64,
        (event, steps): (usize, &[(usize, Part)]),
    ) -> bool {
        match got {
            Ok(got) if got == want => {
                self.order.extend_from_slice(steps);
                if self.dfs(next, done) {
                    return true;
                }
                self.order.truncate(self.order.len() - steps.len());
            }
            Ok(_) => self.tried += 1,
            Err(g) if g == NO_ELEM => {
                self.tried += 1;
                self.no_elem |= 1 << event;
            }
            Err(g) => {
                self.tried += 1;
                self.gap.get_or_insert(g);
            }
        }
        false
    }

    fn dfs(&mut self, w: &World, done: u64) -> bool {
        if done.count_ones() as usize == self.units.len() {
            return true;
        }
        for (i, u) in self.units.iter().enumerate() {
            if done >> i & 1 == 1 {
                continue;
            }
            let e = &self.h[u.event];
            if u.deps & !done == 0 {
                let mut next = w.clone();
                let (part, want) = match u.call {
                    Some(k) => (Part::Call(k), &e.rets[k..=k]),
                    None => (Part::Whole, &e.rets[..]),
                };
                let got = self
                    .checker
                    .apply(&mut next, &e.action, u.call)
                    .map(|(r, _)| r);
                if self.go(got, want, &next, done | 1 << i, (u.event, &[(i, part)])) {
                    return true;
                }
            }
            if !self.held {
                continue;
            }
            // Event j (a delete or update of this run's element) inside this run.
            for (j, d) in self.units.iter().enumerate() {
                let both = 1 << i | 1 << j;
                let ready = (u.deps | d.deps) & !(done | both) == 0;
                if done & both != 0 || !ready || d.deps >> i & 1 == 1 {
                    continue;
                }
                let inner = &self.h[d.event];
                for at in 0..e.rets.len() {
                    let mut next = w.clone();
                    let Some(got) =
                        self.checker
                            .apply_held(&mut next, &e.action, &inner.action, at)
                    else {
                        break;
                    };
                    self.answered |= 1 << u.event;
                    let mut want = e.rets.clone();
                    want.insert(at, inner.rets[0]);
                    let steps = [(i, Part::Whole), (j, Part::Inside(at))];
                    if self.go(got, &want, &next, done | both, (u.event, &steps)) {
                        return true;
                    }
                }
            }
        }
        false
    }

    fn steps(&self, ids: &[(Cpu, usize)]) -> Vec<Step> {
        self.order
            .iter()
            .map(|&(u, part)| {
                let (cpu, action) = ids[self.units[u].event];
                Step { cpu, action, part }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{Checker, Concurrent, Granularity, Verdict};
    use crate::kernel::{Action, CbId, Event};
    use crate::races::{Race, Variant};
    use crate::races::{
        cancel_vs_cancel_and_free_uaf, mutual_cancel_lockup, uref_leak_pinned_prog,
    };

    const EDEADLK: i64 = -35;
    const EINVAL: i64 = -22;
    const EPERM: i64 = -1;

    fn checker(race: &Race) -> Checker {
        Checker::new(&(race.scenario)(Variant::Fixed)).expect("mappable")
    }

    /// CPU `cpu` did its first action between kernel steps `from` and `to` with results
    /// `rets` (`fired`: an expiry's).
    fn event(
        cpu: usize,
        action: Action,
        rets: &[i64],
        fired: Option<bool>,
        (from, to): (u64, u64),
    ) -> Event {
        Event {
            cpu,
            action,
            rets: rets.to_vec(),
            fired,
            invoked: from,
            returned: to,
        }
    }

    /// Timer `t` expires on CPU `t`: its callback's cancel of the other timer gave `ret`, or
    /// (`None`) it was not queued.
    fn fire(t: usize, ret: Option<i64>, steps: (u64, u64)) -> Event {
        let rets: Vec<i64> = ret.into_iter().collect();
        event(t, Action::Fire(CbId(t)), &rets, Some(ret.is_some()), steps)
    }

    fn by(v: &Verdict) -> Option<Granularity> {
        match v {
            Verdict::Linearizable { by, .. } => Some(*by),
            _ => None,
        }
    }

    fn not_linearizable(v: &Verdict) -> bool {
        matches!(v, Verdict::NotLinearizable { .. })
    }

    #[test]
    fn a_sequential_history_is_linearizable() {
        let c = checker(&mutual_cancel_lockup::RACE);
        let v = c.check(&[fire(0, Some(1), (1, 5)), fire(1, None, (6, 7))]);
        assert_eq!(by(&v), Some(Granularity::Events), "{v}");
        // Overlapping events may go in either order: t1 first.
        let v = c.check(&[fire(1, Some(1), (1, 9)), fire(0, None, (2, 3))]);
        assert_eq!(by(&v), Some(Granularity::Events), "{v}");
    }

    #[test]
    fn an_altered_cancel_result_is_not_linearizable() {
        let c = checker(&mutual_cancel_lockup::RACE);
        // t1 was still queued: the cancel returns 1, not 0.
        let v = c.check(&[fire(0, Some(0), (1, 5)), fire(1, None, (6, 7))]);
        assert!(not_linearizable(&v), "{v}");
    }

    #[test]
    fn results_no_order_explains_are_not_linearizable() {
        let c = checker(&mutual_cancel_lockup::RACE);
        // Both callbacks ran, one after the other, and each dequeued the other's timer.
        let v = c.check(&[fire(0, Some(1), (1, 5)), fire(1, Some(1), (6, 9))]);
        assert!(not_linearizable(&v), "{v}");
        // t0 found nothing queued before t1's callback ran: t0 was queued then.
        let v = c.check(&[fire(0, None, (1, 2)), fire(1, Some(1), (3, 9))]);
        assert!(not_linearizable(&v), "{v}");
    }

    #[test]
    fn a_mutual_edeadlk_needs_overlapping_callbacks() {
        let c = checker(&mutual_cancel_lockup::RACE);
        let v = c.check(&[fire(0, Some(EDEADLK), (1, 10)), fire(1, Some(0), (2, 9))]);
        assert_eq!(v, Verdict::ConcurrentOnly(Concurrent::MutualCancel));
        let v = c.check(&[fire(0, Some(EDEADLK), (1, 3)), fire(1, Some(0), (4, 9))]);
        assert!(not_linearizable(&v), "{v}");
    }

    /// A cancel after a delete of its element: the program holds the element it looked up
    /// before, and finds the timer gone.
    #[test]
    fn a_run_may_hold_its_element_across_a_delete() {
        let race = &cancel_vs_cancel_and_free_uaf::RACE;
        let c = checker(race);
        let sc = (race.scenario)(Variant::Fixed);
        let run = |ret, steps| event(0, sc.cpus[0][0].clone(), &[ret], None, steps);
        let delete = event(1, sc.cpus[1][0].clone(), &[0], None, (1, 5));
        let v = c.check(&[delete.clone(), run(EINVAL, (6, 9))]);
        assert_eq!(by(&v), Some(Granularity::HeldElement), "{v}");
        let v = c.check(&[delete.clone(), run(1, (6, 9))]);
        assert!(not_linearizable(&v), "{v}");
        let v = c.check(&[delete, run(-16, (6, 9))]);
        assert!(not_linearizable(&v), "{v}");
    }

    /// Arming (init, set_callback, start) against the map's last close.
    #[test]
    fn a_close_may_fall_between_two_helper_calls() {
        let race = &uref_leak_pinned_prog::RACE;
        let c = checker(race);
        let sc = (race.scenario)(Variant::Fixed);
        let run = |rets: &[i64], steps| event(0, sc.cpus[0][0].clone(), rets, None, steps);
        let close = |steps| event(1, sc.cpus[1][0].clone(), &[0], None, steps);
        let v = c.check(&[run(&[0, EINVAL, EINVAL], (1, 9)), close((2, 5))]);
        assert_eq!(by(&v), Some(Granularity::HelperCalls), "{v}");
        // The close came after the whole run: nothing fell between its calls.
        let v = c.check(&[run(&[0, EINVAL, EINVAL], (1, 4)), close((5, 9))]);
        assert!(not_linearizable(&v), "{v}");
        // usercnt is 0 but the timer not yet freed: only while the close runs.
        let v = c.check(&[run(&[0, EPERM, EINVAL], (1, 9)), close((2, 5))]);
        assert_eq!(
            v,
            Verdict::ConcurrentOnly(Concurrent::SetCallbackDuringUrefDrop)
        );
        let v = c.check(&[run(&[0, EPERM, EINVAL], (1, 4)), close((5, 9))]);
        assert!(not_linearizable(&v), "{v}");
    }

    #[test]
    fn a_design_is_mapped_unless_one_cpu_alone_tells_it_from_every_kernel() {
        let sc = (mutual_cancel_lockup::RACE.scenario)(Variant::Buggy);
        assert!(
            Checker::new(&sc).is_ok(),
            "the missing fix only closes a race"
        );
        let sc = (uref_leak_pinned_prog::RACE.scenario)(Variant::Buggy);
        let e = Checker::new(&sc).err().expect("no kernel lacks the -EPERM");
        assert!(e.contains("EpermWithoutUref"), "{e}");
    }
}
