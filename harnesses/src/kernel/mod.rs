//! The modelled kernel: the objects the races are about, and the kernel primitives the
//! bpf_timer / bpf_async implementations are built from.
//!
//! # Ground rules
//! * All state is one [`Kernel`] inside a [`Monitor`]; a kernel step is one critical section
//!   ([`Ctx::step`]). Checkers interleave CPUs between steps only, so a step is the
//!   granularity of an atomic instruction or a held spin lock's critical section: a model
//!   splits a kernel function into steps exactly where another CPU could observe it
//!   half-done. Memory is sequentially consistent at step granularity (each race module
//!   says where this abstracts a barrier away).
//! * A modelled CPU is a checker thread running a list of [`Action`]s: program runs (helper
//!   calls in an RCU read section), timer expiries (the hrtimer softirq running a callback)
//!   and syscalls. A kworker is a CPU of its own.
//! * Memory safety is tracked, not assumed: a freed `bpf_hrtimer` / `bpf_async_cb` keeps its
//!   slot in [`Kernel::cbs`] with `freed` set, and every access goes through
//!   [`Kernel::cb`], which reports a use-after-free. Freeing one whose hrtimer is queued, or
//!   whose callback runs on another CPU, is reported at the free.
//! * Waiting is explicit: a CPU that must wait for another (a spin lock held there, a
//!   callback running there) records the edge, and a wait for itself or a cycle of waits is
//!   reported as a deadlock at once, with the chain in kernel vocabulary.
//! * At the end, time passes until nothing is pending ([`scenario`]): queued timers fire,
//!   work runs, grace periods end; then leaks, the uref rule and prog refcounts are checked.
//!
//! Every violation panics with an [`Invariant`] id first, then the interleaving so far.

pub mod locked;
pub mod lockfree;
pub mod scenario;

use crate::sync::{Monitor, Wait};
use std::fmt;

pub type Cpu = usize;

/// A `bpf_timer` (or `bpf_wq`) field of one map element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotId(pub usize);

/// A `bpf_hrtimer` / `bpf_async_cb` allocation, by allocation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CbId(pub usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MapId(pub usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProgId(pub usize);

/// The properties the kernel relies on (`kernel-async.md` §1.6), each with the id a violation
/// panics with and the tests match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invariant {
    /// No path waits for itself or in a cycle (a lockup).
    Deadlock,
    /// No access to a freed timer, prog or map.
    UseAfterFree,
    /// No timer memory freed while its hrtimer is queued or its callback runs elsewhere.
    FreedWhileArmed,
    /// After a map's usercnt reached 0, none of its elements holds an async object.
    UrefRule,
    /// A prog's refcount equals the references that exist to it.
    ProgRefcount,
    /// Every allocation is freed or reachable from a live map element.
    Leak,
    /// Nothing sleeps in atomic context (PREEMPT_RT: under a raw spin lock).
    SleepInAtomic,
    /// A kernel loop that must end does not (a retry or recursion without bound).
    Unbounded,
}

impl Invariant {
    pub const ALL: [Invariant; 8] = [
        Invariant::Deadlock,
        Invariant::UseAfterFree,
        Invariant::FreedWhileArmed,
        Invariant::UrefRule,
        Invariant::ProgRefcount,
        Invariant::Leak,
        Invariant::SleepInAtomic,
        Invariant::Unbounded,
    ];

    pub const fn id(self) -> &'static str {
        match self {
            Invariant::Deadlock => "INV-deadlock",
            Invariant::UseAfterFree => "INV-use-after-free",
            Invariant::FreedWhileArmed => "INV-freed-while-armed",
            Invariant::UrefRule => "INV-uref",
            Invariant::ProgRefcount => "INV-prog-refcount",
            Invariant::Leak => "INV-leak",
            Invariant::SleepInAtomic => "INV-sleep-in-atomic",
            Invariant::Unbounded => "INV-unbounded",
        }
    }

    /// The invariant a panic message names (its first word).
    pub fn of_message(msg: &str) -> Option<Invariant> {
        let first = msg.split(':').next()?;
        Invariant::ALL.into_iter().find(|i| i.id() == first)
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The state of an `hrtimer` embedded in a timer allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HrTimer {
    /// Enqueued on a CPU's timer base.
    pub queued: bool,
    /// Its callback runs on this CPU.
    pub running: Option<Cpu>,
    /// The CPU holding its clock base's raw lock across a tracepoint inside
    /// `hrtimer_start` (lock-free design; the lock is modelled per timer).
    pub base_lock: Option<Cpu>,
}

/// One `bpf_hrtimer` (lock-based eras) / `bpf_async_cb` allocation.
#[derive(Clone, Debug)]
pub struct Cb {
    pub slot: SlotId,
    /// The map it was initialised for (the map `bpf_timer_init` was given).
    pub map: MapId,
    /// The prog whose reference the timer holds (`cb->prog`).
    pub prog: Option<ProgId>,
    /// `callback_fn` (the callback of `prog`), NULL when cleared.
    pub callback: Option<ProgId>,
    pub hr: HrTimer,
    /// `bpf_hrtimer::cancelling` (6.10+): cancels in flight from other callbacks.
    pub cancelling: u32,
    pub freed: bool,
    /// A timer or a workqueue item (the lock-free design allocates both as `bpf_async_cb`).
    /// For a `bpf_wq`, [`Cb::hr`] is its work item's state: `queued` = pending on a
    /// kworker, `running` = its function runs there.
    pub kind: AsyncKind,
    /// `bpf_async_cb::refcnt` (lock-free design): the map's reference plus temporary ones.
    pub refcnt: u32,
    /// `bpf_async_cb::async_cmds` (lock-free design): commands for its irq_work.
    pub cmds: Vec<lockfree::AsyncOp>,
    /// Tasks-trace grace periods its free waited again (lock-free design).
    pub free_retries: u32,
}

/// What a `bpf_async_cb` drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsyncKind {
    /// A `bpf_timer`: an hrtimer.
    Timer,
    /// A `bpf_wq`: a work item on the system workqueue.
    Wq,
}

/// A map element's timer field (`bpf_timer_kern` / `bpf_async_kern`).
#[derive(Clone, Debug)]
pub struct Slot {
    pub map: MapId,
    /// The timer pointer stored in the element.
    pub cb: Option<CbId>,
    /// The element's `bpf_spin_lock` (lock-based eras): the CPU holding it.
    pub lock: Option<Cpu>,
    /// The map the verifier saw for this element's programs (an inner map's template for
    /// an inner map element): the static map pointer of the hidden-argument design.
    pub static_map: MapId,
    /// The element was deleted (or its map freed): programs no longer reach it.
    pub gone: bool,
}

#[derive(Clone, Debug)]
pub struct Map {
    pub name: &'static str,
    /// References from user space: fds and bpffs pins.
    pub usercnt: u32,
    /// `map->refcnt`: user references plus programs' `used_maps`.
    pub refcnt: u32,
    pub freed: bool,
}

#[derive(Clone, Debug)]
pub struct Prog {
    pub name: &'static str,
    pub refcnt: u32,
    /// References held by user space (fds, links, pins), constant in a scenario unless a
    /// `ProgClose` action drops one.
    pub user_refs: u32,
    /// The maps the program uses (each holds a map reference while the prog lives).
    pub used_maps: Vec<MapId>,
    /// The helper calls its timer callback makes.
    pub callback: Vec<Call>,
    pub freed: bool,
}

/// A work item queued to a kworker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// `bpf_timer_delete_work` (6.10+): cancel the hrtimer, then free it after a grace period.
    TimerDelete(CbId),
    /// `bpf_map_free_deferred`: the map's refcnt reached 0.
    MapFree(MapId),
    /// `bpf_wq_work`: a `bpf_wq`'s work item (lock-free design).
    Wq(CbId),
}

/// A free deferred past an RCU grace period (`kfree_rcu`): it may run once every CPU that
/// was in a read-side section at the call has left it.
#[derive(Clone, Debug)]
struct RcuFree {
    cb: CbId,
    /// (CPU, its section generation at the call).
    readers: Vec<(Cpu, u64)>,
}

/// A callback deferred past an RCU Tasks Trace grace period (`call_rcu_tasks_trace`): it may
/// run once every CPU that was in a tasks-trace or an RCU read-side section at the call has
/// left it (a tasks-trace grace period implies an RCU one), and never in the step of the call
/// (a grace period takes time: a callback that re-queues itself waits for a later step).
#[derive(Clone, Debug)]
struct TraceCallback {
    cb: CbId,
    f: fn(&mut Kernel, Cpu, CbId),
    /// (CPU, a tasks-trace section (else RCU), its generation at the call).
    readers: Vec<(Cpu, bool, u64)>,
    /// The step of the call.
    since: u64,
}

/// One modelled CPU's per-CPU state.
#[derive(Clone, Debug, Default)]
pub struct CpuState {
    /// `hrtimer_running`: the timer whose callback runs on this CPU.
    pub hrtimer_running: Option<CbId>,
    /// Nesting of RCU read-side sections.
    pub rcu_depth: u32,
    /// Read-side sections left so far.
    pub rcu_gen: u64,
    /// What this CPU waits for, and why.
    pub waiting: Option<(WaitFor, String)>,
    /// Raw spin locks held (atomic context under PREEMPT_RT).
    pub raw_locks: u32,
    /// Its thread has ended.
    pub finished: bool,
    /// Nesting of RCU Tasks Trace read-side sections (sleepable programs, wq callbacks).
    pub trace_depth: u32,
    /// Tasks-trace read-side sections left so far.
    pub trace_gen: u64,
    /// It runs a hardirq handler (an irq_work).
    pub hardirq: bool,
    /// irq_works queued on this CPU, run when its IRQs are enabled again.
    pub irq_works: std::collections::VecDeque<lockfree::IrqWork>,
    /// `async_cb_running` (64873307e888): the cb whose command list this CPU drains.
    pub async_cb_running: Option<CbId>,
}

/// Which side of a fix a design is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The design before the fix.
    Buggy,
    /// The same design with the fix.
    Fixed,
}

/// Which implementation runs, and how its kernel is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Design {
    /// `bpf_timer_kern` / `bpf_async_kern` with the element's `bpf_spin_lock` (5.15 to 6.19).
    Locked(locked::Fixes),
    /// `bpf_async_kern` without a lock: refcount, cmpxchg, llist and irq_work (7.0, 2026).
    LockFree(lockfree::Fixes),
}

/// One program statement: a helper call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// `bpf_timer_init(&v->timer, map, CLOCK_MONOTONIC)`: `map` is the map argument the
    /// program passes (the element's own map unless a test says otherwise).
    Init(SlotId, MapId),
    /// `bpf_timer_set_callback(&v->timer, cb)` with the running program's callback.
    SetCallback(SlotId),
    /// `bpf_timer_start(&v->timer, 1 ms, 0)`.
    Start(SlotId),
    /// `bpf_timer_cancel(&v->timer)`.
    Cancel(SlotId),
    /// `bpf_map_delete_elem` of the element holding the timer.
    Delete(SlotId),
    /// `bpf_map_update_elem` over the element holding the timer.
    Update(SlotId),
    /// `bpf_wq_init(&v->wq, map, 0)`.
    WqInit(SlotId, MapId),
    /// `bpf_wq_set_callback(&v->wq, cb, 0)` with the running program's callback.
    WqSetCallback(SlotId),
    /// `bpf_wq_start(&v->wq, 0)`.
    WqStart(SlotId),
}

impl Call {
    /// The calls that arm a timer: init on `map`, set the running program's callback, start.
    pub fn arm(slot: SlotId, map: MapId) -> Vec<Call> {
        vec![
            Call::Init(slot, map),
            Call::SetCallback(slot),
            Call::Start(slot),
        ]
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Init(s, m) => write!(f, "bpf_timer_init(t{}, map{})", s.0, m.0),
            Call::SetCallback(s) => write!(f, "bpf_timer_set_callback(t{})", s.0),
            Call::Start(s) => write!(f, "bpf_timer_start(t{})", s.0),
            Call::Cancel(s) => write!(f, "bpf_timer_cancel(t{})", s.0),
            Call::Delete(s) => write!(f, "bpf_map_delete_elem(t{} elem)", s.0),
            Call::Update(s) => write!(f, "bpf_map_update_elem(t{} elem)", s.0),
            Call::WqInit(s, m) => write!(f, "bpf_wq_init(t{}, map{})", s.0, m.0),
            Call::WqSetCallback(s) => write!(f, "bpf_wq_set_callback(t{})", s.0),
            Call::WqStart(s) => write!(f, "bpf_wq_start(t{})", s.0),
        }
    }
}

/// What a modelled CPU does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A program runs these helper calls (in an RCU read-side section).
    Run(ProgId, Vec<Call>),
    /// The hrtimer softirq on this CPU: timer `CbId` expires, if it is queued by then.
    Fire(CbId),
    /// `bpf_map_delete_elem` from user space.
    UserDelete(SlotId),
    /// `bpf_map_update_elem` from user space over the element.
    UserUpdate(SlotId),
    /// `close()` of one user fd of the map (a uref).
    CloseMap(MapId),
    /// `close()` of one user reference of the prog.
    CloseProg(ProgId),
    /// A sleepable program runs these helper calls (in an RCU Tasks Trace read-side section).
    RunSleepable(ProgId, Vec<Call>),
    /// A kworker on this CPU: the `bpf_wq` `CbId`'s work item runs, if it is pending by then.
    WqWork(CbId),
    /// A tracing program is attached to the `hrtimer_start` tracepoint: these helper calls
    /// run inside `hrtimer_start`, under the timer base's raw lock (IRQs off).
    AttachTracepoint(ProgId, Vec<Call>),
    /// The scenario's kworker runs this queued work item (recorded in the history, so an
    /// outcome can tell that work was deferred; not for a CPU's action list).
    Work(Work),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Run(p, _) => write!(f, "prog{} runs", p.0),
            Action::Fire(cb) => write!(f, "hrtimer softirq: timer#{} expires", cb.0),
            Action::UserDelete(s) => write!(f, "BPF_MAP_DELETE_ELEM(t{} elem)", s.0),
            Action::UserUpdate(s) => write!(f, "BPF_MAP_UPDATE_ELEM(t{} elem)", s.0),
            Action::CloseMap(m) => write!(f, "close(map{} fd)", m.0),
            Action::CloseProg(p) => write!(f, "close(prog{} fd)", p.0),
            Action::RunSleepable(p, _) => write!(f, "sleepable prog{} runs", p.0),
            Action::WqWork(cb) => write!(f, "kworker: the work of wq#{} runs", cb.0),
            Action::AttachTracepoint(p, _) => {
                write!(f, "prog{} attached to tracepoint hrtimer_start", p.0)
            }
            Action::Work(Work::TimerDelete(cb)) => {
                write!(f, "kworker: bpf_timer_delete_work(timer#{})", cb.0)
            }
            Action::Work(Work::MapFree(m)) => {
                write!(f, "kworker: bpf_map_free_deferred(map{})", m.0)
            }
            Action::Work(Work::Wq(cb)) => write!(f, "kworker: bpf_wq_work(wq#{})", cb.0),
        }
    }
}

/// One completed action of a concurrent history: what ran where, with its results, between
/// which kernel steps (for real-time order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub cpu: Cpu,
    pub action: Action,
    /// Helper return values (a program run), or the callback's (an expiry that ran one).
    pub rets: Vec<i64>,
    /// An expiry: the callback ran (`Some`) or the timer was not queued (`None`).
    pub fired: Option<bool>,
    pub invoked: u64,
    pub returned: u64,
}

/// Everything the modelled kernel holds.
pub struct Kernel {
    pub design: Design,
    pub preempt_rt: bool,
    pub cpus: Vec<CpuState>,
    pub maps: Vec<Map>,
    pub progs: Vec<Prog>,
    pub slots: Vec<Slot>,
    pub cbs: Vec<Cb>,
    pub works: std::collections::VecDeque<Work>,
    rcu: Vec<RcuFree>,
    trace_rcu: Vec<TraceCallback>,
    /// The program attached to the `hrtimer_start` tracepoint, and its helper calls.
    pub hrtimer_tp: Option<(ProgId, Vec<Call>)>,
    /// Kernel steps taken (the clock of the history).
    pub clock: u64,
    /// The interleaving so far, in kernel vocabulary.
    pub trace: Vec<String>,
    pub history: Vec<Event>,
}

impl Kernel {
    pub fn new(design: Design, preempt_rt: bool, cpus: usize) -> Kernel {
        Kernel {
            design,
            preempt_rt,
            cpus: vec![CpuState::default(); cpus],
            maps: Vec::new(),
            progs: Vec::new(),
            slots: Vec::new(),
            cbs: Vec::new(),
            works: Default::default(),
            rcu: Vec::new(),
            trace_rcu: Vec::new(),
            hrtimer_tp: None,
            clock: 0,
            trace: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Report a broken invariant: its id, what broke, and the interleaving that led there.
    pub fn violated(&self, inv: Invariant, what: impl fmt::Display) -> ! {
        panic!(
            "{}: {what}\ninterleaving:\n{}",
            inv.id(),
            self.trace.join("\n")
        )
    }

    pub fn note(&mut self, cpu: Cpu, what: impl fmt::Display) {
        self.trace.push(format!("  {}: {what}", cpu_name(cpu)));
    }

    /// The timer allocation, which must not have been freed.
    pub fn cb(&mut self, id: CbId) -> &mut Cb {
        if self.cbs[id.0].freed {
            self.violated(
                Invariant::UseAfterFree,
                format_args!("timer#{} is accessed after it was freed", id.0),
            );
        }
        &mut self.cbs[id.0]
    }

    pub fn alloc_cb(&mut self, slot: SlotId, map: MapId) -> CbId {
        self.cbs.push(Cb {
            slot,
            map,
            prog: None,
            callback: None,
            hr: HrTimer::default(),
            cancelling: 0,
            freed: false,
            kind: AsyncKind::Timer,
            refcnt: 1,
            cmds: Vec::new(),
            free_retries: 0,
        });
        CbId(self.cbs.len() - 1)
    }

    /// `kfree`: the memory goes now.
    pub fn free_cb(&mut self, cpu: Cpu, id: CbId) {
        let hr = self.cb(id).hr;
        if hr.queued {
            self.violated(
                Invariant::FreedWhileArmed,
                format_args!("timer#{} is freed while its hrtimer is queued", id.0),
            );
        }
        if let Some(other) = hr.running.filter(|&c| c != cpu) {
            self.violated(
                Invariant::FreedWhileArmed,
                format_args!(
                    "timer#{} is freed while its callback runs on {}",
                    id.0,
                    cpu_name(other)
                ),
            );
        }
        self.cbs[id.0].freed = true;
        self.note(cpu, format_args!("timer#{} freed", id.0));
    }

    /// `kfree_rcu`: freed once the read-side sections open now have ended.
    pub fn free_cb_rcu(&mut self, cpu: Cpu, id: CbId) {
        let readers = self
            .cpus
            .iter()
            .enumerate()
            .filter(|(_, c)| c.rcu_depth > 0)
            .map(|(i, c)| (i, c.rcu_gen))
            .collect();
        self.rcu.push(RcuFree { cb: id, readers });
        self.note(cpu, format_args!("kfree_rcu(timer#{})", id.0));
        self.end_grace_periods(cpu);
    }

    pub fn rcu_read_lock(&mut self, cpu: Cpu) {
        self.cpus[cpu].rcu_depth += 1;
    }

    pub fn rcu_read_unlock(&mut self, cpu: Cpu) {
        let c = &mut self.cpus[cpu];
        c.rcu_depth -= 1;
        if c.rcu_depth == 0 {
            c.rcu_gen += 1;
            self.end_grace_periods(cpu);
        }
    }

    /// Run the deferred frees whose readers have all left (as early as RCU allows: the most
    /// adversarial choice for a use-after-free).
    pub fn end_grace_periods(&mut self, cpu: Cpu) {
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.rcu)
            .into_iter()
            .partition(|f| f.readers.iter().all(|&(c, g)| self.cpus[c].rcu_gen > g));
        self.rcu = waiting;
        for f in done {
            self.free_cb(cpu, f.cb);
        }
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.trace_rcu)
            .into_iter()
            .partition(|f| {
                f.since != self.clock
                    && f.readers.iter().all(|&(c, trace, g)| {
                        g < if trace {
                            self.cpus[c].trace_gen
                        } else {
                            self.cpus[c].rcu_gen
                        }
                    })
            });
        self.trace_rcu = waiting;
        for f in done {
            (f.f)(self, cpu, f.cb);
        }
    }

    /// `call_rcu_tasks_trace(&cb->rcu, f)`.
    pub fn call_rcu_tasks_trace(&mut self, cpu: Cpu, cb: CbId, f: fn(&mut Kernel, Cpu, CbId)) {
        let mut readers = Vec::new();
        for (i, c) in self.cpus.iter().enumerate() {
            if c.trace_depth > 0 {
                readers.push((i, true, c.trace_gen));
            }
            if c.rcu_depth > 0 {
                readers.push((i, false, c.rcu_gen));
            }
        }
        let since = self.clock;
        self.trace_rcu.push(TraceCallback {
            cb,
            f,
            readers,
            since,
        });
        self.note(cpu, format_args!("call_rcu_tasks_trace(timer#{})", cb.0));
    }

    /// Tasks-trace callbacks still wait for their grace period.
    pub fn tasks_trace_pending(&self) -> bool {
        !self.trace_rcu.is_empty()
    }

    pub fn rcu_read_lock_trace(&mut self, cpu: Cpu) {
        self.cpus[cpu].trace_depth += 1;
    }

    pub fn rcu_read_unlock_trace(&mut self, cpu: Cpu) {
        let c = &mut self.cpus[cpu];
        c.trace_depth -= 1;
        if c.trace_depth == 0 {
            c.trace_gen += 1;
            self.end_grace_periods(cpu);
        }
    }

    /// `bpf_prog_inc`.
    pub fn prog_inc(&mut self, cpu: Cpu, p: ProgId) {
        if self.progs[p.0].freed {
            self.violated(
                Invariant::UseAfterFree,
                format_args!("{}: bpf_prog_inc of a freed prog{}", cpu_name(cpu), p.0),
            );
        }
        self.progs[p.0].refcnt += 1;
    }

    /// `bpf_prog_put`: the last reference frees the prog, which drops its maps.
    pub fn prog_put(&mut self, cpu: Cpu, p: ProgId) {
        let prog = &mut self.progs[p.0];
        if prog.freed || prog.refcnt == 0 {
            self.violated(
                Invariant::ProgRefcount,
                format_args!(
                    "{}: bpf_prog_put of prog{} with no reference left",
                    cpu_name(cpu),
                    p.0
                ),
            );
        }
        prog.refcnt -= 1;
        if prog.refcnt == 0 {
            prog.freed = true;
            let maps = prog.used_maps.clone();
            self.note(cpu, format_args!("prog{} freed", p.0));
            for m in maps {
                self.map_put(cpu, m);
            }
        }
    }

    /// `bpf_map_put`: the last reference queues the map's free to a kworker.
    pub fn map_put(&mut self, cpu: Cpu, m: MapId) {
        let map = &mut self.maps[m.0];
        map.refcnt -= 1;
        if map.refcnt == 0 {
            self.note(
                cpu,
                format_args!("map{} refcnt 0: bpf_map_free_deferred queued", m.0),
            );
            self.works.push_back(Work::MapFree(m));
        }
    }

    /// A deadlock report if what this CPU would wait for is held by itself or by a CPU that
    /// (transitively) waits for it.
    fn check_wait(&self, cpu: Cpu, what: WaitFor, why: &str) {
        let mut chain = vec![format!("{} {why}", cpu_name(cpu))];
        let Some(mut h) = what.holder(self) else {
            return;
        };
        loop {
            if h == cpu {
                self.violated(Invariant::Deadlock, chain.join(", while "));
            }
            if self.cpus[h].finished {
                self.violated(
                    Invariant::Deadlock,
                    format_args!(
                        "{}, which has returned and will never release it",
                        chain.join(", while ")
                    ),
                );
            }
            match &self.cpus[h].waiting {
                Some((next, w)) => match next.holder(self) {
                    Some(n) => {
                        chain.push(format!("{} {w}", cpu_name(h)));
                        h = n;
                    }
                    None => return,
                },
                None => return,
            }
        }
    }
}

pub fn cpu_name(cpu: Cpu) -> String {
    format!("CPU{cpu}")
}

/// A modelled CPU's handle on the kernel.
pub struct Ctx<'a> {
    pub m: &'a Monitor<Kernel>,
    pub cpu: Cpu,
    /// The scenario's implementation (constant: read without a kernel step).
    pub design: Design,
    /// `CONFIG_PREEMPT_RT=y` (constant).
    pub preempt_rt: bool,
}

/// What a waiting step found.
pub enum Blocked<R> {
    Ready(R),
    /// Must wait for what another CPU holds (the reason, for a deadlock report).
    On(WaitFor, String),
}

/// What a CPU can wait for. The holder is looked up afresh whenever a chain of waits is
/// followed: a waiter notices a release only when it next runs, so its recorded wait may be
/// over already (a chain through it then ends: that CPU will go on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// An element's `bpf_spin_lock`.
    Lock(SlotId),
    /// A timer's running callback.
    Callback(CbId),
    /// The raw lock of a timer's clock base (lock-free design: [`HrTimer::base_lock`]).
    BaseLock(CbId),
}

impl WaitFor {
    /// The CPU that holds it now, if any.
    fn holder(self, k: &Kernel) -> Option<Cpu> {
        match self {
            WaitFor::Lock(s) => k.slots[s.0].lock,
            // The callback may have freed its own timer: the hrtimer core still tracks it.
            WaitFor::Callback(cb) => k.cbs[cb.0].hr.running,
            WaitFor::BaseLock(cb) => k.cbs[cb.0].hr.base_lock,
        }
    }
}

impl Ctx<'_> {
    /// One kernel step. A step that queues work rings the kworker's doorbell.
    pub fn step<R>(&self, f: impl FnOnce(&mut Kernel, Cpu) -> R) -> R {
        let (r, queued) = self.m.step(|k| {
            k.clock += 1;
            let before = k.works.len();
            let r = f(k, self.cpu);
            (r, k.works.len() > before)
        });
        if queued {
            self.m.kick();
        }
        r
    }

    /// A step that waits for another CPU until `f` is ready; a wait for itself or in a cycle
    /// is a deadlock. Like [`Ctx::step`], it rings the doorbell when it queues work.
    pub fn wait<R>(&self, mut f: impl FnMut(&mut Kernel, Cpu) -> Blocked<R>) -> R {
        let cpu = self.cpu;
        let (r, queued) = self.m.wait_until(|k| {
            let before = k.works.len();
            match f(k, cpu) {
                Blocked::Ready(r) => {
                    k.clock += 1;
                    k.cpus[cpu].waiting = None;
                    Wait::Ready((r, k.works.len() > before))
                }
                Blocked::On(what, why) => {
                    // Waiting for a running callback takes the sleeping softirq_expiry_lock
                    // on PREEMPT_RT; spinning on a bpf_spin_lock (a raw lock) does not sleep.
                    if k.preempt_rt
                        && k.cpus[cpu].raw_locks > 0
                        && matches!(what, WaitFor::Callback(_))
                    {
                        k.violated(
                            Invariant::SleepInAtomic,
                            format_args!(
                                "{} {why} under a raw spin lock (PREEMPT_RT: it sleeps)",
                                cpu_name(cpu)
                            ),
                        );
                    }
                    k.check_wait(cpu, what, &why);
                    if k.cpus[cpu].waiting.is_none() {
                        k.note(cpu, &why);
                    }
                    k.cpus[cpu].waiting = Some((what, why));
                    Wait::Blocked
                }
            }
        });
        if queued {
            self.m.kick();
        }
        r
    }

    /// Take the element's `bpf_spin_lock`.
    pub fn lock(&self, slot: SlotId) {
        self.wait(|k, cpu| match k.slots[slot.0].lock {
            None => {
                k.slots[slot.0].lock = Some(cpu);
                Blocked::Ready(())
            }
            Some(h) => Blocked::On(
                WaitFor::Lock(slot),
                format!(
                    "spins on t{}'s bpf_spin_lock held by {}",
                    slot.0,
                    cpu_name(h)
                ),
            ),
        })
    }

    /// `hrtimer_cancel`: dequeue, and wait while the callback runs (on any CPU: on this one
    /// it never ends).
    pub fn hrtimer_cancel(&self, cb: CbId) -> i64 {
        self.wait(|k, _| {
            let hr = &mut k.cb(cb).hr;
            match hr.running {
                Some(on) => Blocked::On(
                    WaitFor::Callback(cb),
                    format!(
                        "hrtimer_cancel(timer#{}) waits for its callback running on {}",
                        cb.0,
                        cpu_name(on)
                    ),
                ),
                None => {
                    let was = std::mem::take(&mut hr.queued);
                    Blocked::Ready(i64::from(was))
                }
            }
        })
    }
}

impl Kernel {
    /// `hrtimer_try_to_cancel`: -1 while the callback runs, 1 if it dequeued, else 0.
    pub fn hrtimer_try_to_cancel(&mut self, cb: CbId) -> i64 {
        let hr = &mut self.cb(cb).hr;
        if hr.running.is_some() {
            -1
        } else {
            i64::from(std::mem::take(&mut hr.queued))
        }
    }
}
