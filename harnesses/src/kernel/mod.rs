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
}

/// A free deferred past an RCU grace period (`kfree_rcu`): it may run once every CPU that
/// was in a read-side section at the call has left it.
#[derive(Clone, Debug)]
struct RcuFree {
    cb: CbId,
    /// (CPU, its section generation at the call).
    readers: Vec<(Cpu, u64)>,
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
    /// The CPU this one waits for, and why.
    pub waiting: Option<(Cpu, String)>,
    /// Raw spin locks held (atomic context under PREEMPT_RT).
    pub raw_locks: u32,
    /// Its thread has ended.
    pub finished: bool,
}

/// Which implementation runs, and how its kernel is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Design {
    /// `bpf_timer_kern` / `bpf_async_kern` with the element's `bpf_spin_lock` (5.15 to 6.19).
    Locked(locked::Fixes),
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
    fn end_grace_periods(&mut self, cpu: Cpu) {
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.rcu)
            .into_iter()
            .partition(|f| f.readers.iter().all(|&(c, g)| self.cpus[c].rcu_gen > g));
        self.rcu = waiting;
        for f in done {
            self.free_cb(cpu, f.cb);
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

    /// Who holds what this CPU would wait for, or a deadlock report if that is itself or a
    /// CPU that (transitively) waits for it.
    fn check_wait(&self, cpu: Cpu, holder: Cpu, why: &str) {
        let mut chain = vec![format!("{} {why}", cpu_name(cpu))];
        let mut h = holder;
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
                Some((next, w)) => {
                    chain.push(format!("{} {w}", cpu_name(h)));
                    h = *next;
                }
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
}

/// What a waiting step found.
pub enum Blocked<R> {
    Ready(R),
    /// Must wait for the CPU that holds what we need (the reason, for a deadlock report).
    On(Cpu, String),
}

impl Ctx<'_> {
    /// One kernel step.
    pub fn step<R>(&self, f: impl FnOnce(&mut Kernel, Cpu) -> R) -> R {
        self.m.step(|k| {
            k.clock += 1;
            f(k, self.cpu)
        })
    }

    /// A step that waits for another CPU until `f` is ready; a wait for itself or in a cycle
    /// is a deadlock.
    pub fn wait<R>(&self, mut f: impl FnMut(&mut Kernel, Cpu) -> Blocked<R>) -> R {
        let cpu = self.cpu;
        self.m.wait_until(|k| match f(k, cpu) {
            Blocked::Ready(r) => {
                k.clock += 1;
                k.cpus[cpu].waiting = None;
                Wait::Ready(r)
            }
            Blocked::On(holder, why) => {
                if k.preempt_rt && k.cpus[cpu].raw_locks > 0 {
                    k.violated(
                        Invariant::SleepInAtomic,
                        format_args!(
                            "{} {why} under a raw spin lock (PREEMPT_RT: it sleeps)",
                            cpu_name(cpu)
                        ),
                    );
                }
                k.check_wait(cpu, holder, &why);
                if k.cpus[cpu].waiting.is_none() {
                    k.note(cpu, &why);
                }
                k.cpus[cpu].waiting = Some((holder, why));
                Wait::Blocked
            }
        })
    }

    /// Take the element's `bpf_spin_lock`.
    pub fn lock(&self, slot: SlotId) {
        self.wait(|k, cpu| match k.slots[slot.0].lock {
            None => {
                k.slots[slot.0].lock = Some(cpu);
                Blocked::Ready(())
            }
            Some(h) => Blocked::On(
                h,
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
                    on,
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
