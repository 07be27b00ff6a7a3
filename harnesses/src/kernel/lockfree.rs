//! The lock-free implementation (v7.0, 2026): "bpf: Enable bpf_timer and bpf_wq in any
//! context" (1bfbc267ec91) and the fixes that followed it (`kernel/bpf/helpers.c`).
//!
//! `bpf_async_kern` is only the pointer to a `bpf_async_cb` (the spin lock is gone). Init
//! publishes with cmpxchg; set_callback and cancel_and_free update `prog` / `callback_fn`
//! with a lock-free xchg loop; cancel_and_free detaches with xchg. The cb carries a
//! refcount: 1 for the map slot, dropped once by cancel_and_free, plus one temporary
//! reference per start in flight. Where a start or cancel may not touch the hrtimer or the
//! workqueue directly (hardirq, IRQs off) it queues a command on the cb's llist and an
//! irq_work on this CPU drains it. The last reference queues the free behind an RCU Tasks
//! Trace grace period, whose callback cancels once more before freeing.
//!
//! Ownership: the slot's prog reference is taken by set_callback's loop and dropped by
//! cancel_and_free's reset (5000a097f82c) or, for one a racing set_callback left, by the
//! final free. The model runs the final code except for the [`Fix`] a race module removes.

use super::scenario::{self, element_delete, element_update};
use super::{Action, AsyncKind, Blocked, Call, CbId, Cpu, Ctx, Design, Invariant, Kernel};
use super::{MapId, ProgId, SlotId, WaitFor, Work, cpu_name, locked};

/// The fixes to the lock-free design, in the order they were made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fix {
    /// 1bfbc267ec91 as merged (v9, 2026-02-01): bpf_timer_start / bpf_wq_start hold a
    /// temporary reference (`refcount_inc_not_zero`, -ENOENT at 0) until the hrtimer is
    /// armed or the work queued, and the tasks-trace free callback cancels again, waiting
    /// another grace period while a callback still runs.
    StartRef,
    /// 7d49635e3775 (Feb 2026): defer to the irq_work also with IRQs off, not
    /// only in hardirq (`defer_timer_wq_op()`): a tracing program inside hrtimer code holding
    /// the clock base's raw lock must not call `hrtimer_start` itself.
    IrqsOff,
    /// 64873307e888 (2026-02-03): a command for the cb whose command list this CPU's
    /// irq_work is draining fails with -EDEADLK (per-CPU `async_cb_running`).
    RecursionCheck,
    /// 81502d7f20bf (2026-02-04): the wq free waits again only if the work is busy
    /// (`work_busy()`), not whenever `cancel_work()` found nothing pending.
    WorkBusy,
}

impl Fix {
    pub const ALL: [Fix; 4] = [
        Fix::StartRef,
        Fix::IrqsOff,
        Fix::RecursionCheck,
        Fix::WorkBusy,
    ];

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// A set of fixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fixes(u32);

impl Fixes {
    pub const fn has(self, f: Fix) -> bool {
        self.0 & f.bit() != 0
    }

    /// Every fix (none of them replaced another).
    pub const fn fixed(_: Fix) -> Fixes {
        let mut bits = 0;
        let mut i = 0;
        while i < Fix::ALL.len() {
            bits |= Fix::ALL[i].bit();
            i += 1;
        }
        Fixes(bits)
    }

    /// Every fix but `f`.
    pub const fn buggy(f: Fix) -> Fixes {
        Fixes(Fixes::fixed(f).0 & !f.bit())
    }

    /// The design on `v`'s side of `f`.
    pub const fn side(f: Fix, v: super::Variant) -> Fixes {
        match v {
            super::Variant::Buggy => Fixes::buggy(f),
            super::Variant::Fixed => Fixes::fixed(f),
        }
    }
}

/// A `struct bpf_async_cmd` on a cb's llist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsyncOp {
    Start,
    Cancel,
}

/// An irq_work queued on a CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqWork {
    /// `bpf_async_irq_worker`: drain the cb's command list.
    Cmds(CbId),
    /// `worker_for_call_rcu` (1ace9bac1ad2): the last reference went with IRQs off, so
    /// `call_rcu_tasks_trace` runs from the irq_work.
    CallRcu(CbId),
}

impl IrqWork {
    fn cb(self) -> CbId {
        match self {
            IrqWork::Cmds(t) | IrqWork::CallRcu(t) => t,
        }
    }
}

const EPERM: i64 = -1;
const ENOENT: i64 = -2;
const EBUSY: i64 = -16;
const EINVAL: i64 = -22;
const EDEADLK: i64 = -35;
const EOPNOTSUPP: i64 = -95;

/// The model's stand-in for "forever": how many tasks-trace grace periods one free may wait
/// again, and how many times one irq_work may run within one drain. The fixed design needs
/// at most two of each in the catalogue's scenarios: once the refcount is 0 nothing re-arms
/// or re-queues, so only a callback or work function already running makes a free wait.
const LOOP_BOUND: u32 = 3;

/// `irqs_disabled()`: in hardirq (an irq_work) or under a raw spin lock.
fn irqs_off(k: &Kernel, cpu: Cpu) -> bool {
    k.cpus[cpu].hardirq || k.cpus[cpu].raw_locks > 0
}

/// `defer_timer_wq_op()`: in hardirq, or (with [`Fix::IrqsOff`]) with IRQs off.
fn deferred(k: &Kernel, cpu: Cpu, f: Fixes) -> bool {
    k.cpus[cpu].hardirq || (f.has(Fix::IrqsOff) && irqs_off(k, cpu))
}

fn fixes(k: &Kernel) -> Fixes {
    match k.design {
        Design::LockFree(f) => f,
        d => unreachable!("a lock-free callback under {d:?}"),
    }
}

/// The design's answer to one helper call of `prog` (its result is in the history; the
/// trace shows what it did).
pub fn call(ctx: &Ctx, f: Fixes, prog: ProgId, c: Call) -> i64 {
    match c {
        Call::Init(s, m) => init(ctx, f, s, m, AsyncKind::Timer),
        Call::WqInit(s, m) => init(ctx, f, s, m, AsyncKind::Wq),
        Call::SetCallback(s) | Call::WqSetCallback(s) => set_callback(ctx, prog, s),
        Call::Start(s) | Call::WqStart(s) => start(ctx, f, s),
        Call::Cancel(s) => cancel(ctx, f, s),
        Call::Delete(s) => element_delete(ctx, s),
        Call::Update(s) => element_update(ctx, s),
    }
}

/// `__bpf_async_init`: publish a fresh cb with cmpxchg, then re-check usercnt.
fn init(ctx: &Ctx, f: Fixes, slot: SlotId, map: MapId, kind: AsyncKind) -> i64 {
    if ctx.step(|k, _| k.slots[slot.0].cb.is_some()) {
        return EBUSY;
    }
    let published = ctx.step(|k, cpu| {
        if k.slots[slot.0].cb.is_some() {
            return false; // lost the cmpxchg: the unpublished allocation is freed at once
        }
        let t = k.alloc_cb(slot, map);
        k.cbs[t.0].kind = kind;
        k.slots[slot.0].cb = Some(t);
        k.note(
            cpu,
            format_args!(
                "t{}: timer#{} allocated and published (refcnt 1)",
                slot.0, t.0
            ),
        );
        true
    });
    if !published {
        return EBUSY;
    }
    // smp_mb() after the cmpxchg pairs with the uref drop's atomic dec-and-test.
    if ctx.step(|k, _| k.maps[map.0].usercnt == 0) {
        cancel_and_free(ctx, f, slot);
        return EPERM;
    }
    0
}

/// `__bpf_async_set_callback`.
fn set_callback(ctx: &Ctx, prog: ProgId, slot: SlotId) -> i64 {
    match ctx.step(|k, _| k.slots[slot.0].cb) {
        None => EINVAL,
        Some(t) => {
            update_prog_callback(ctx, t, Some(prog));
            0
        }
    }
}

/// `bpf_async_update_prog_callback` (8bb1e32b3fac): under a guard reference, each round
/// takes a reference, swaps it into `cb->prog`, stores `callback_fn` and puts the previous
/// prog, until both fields read back as this CPU wrote them.
fn update_prog_callback(ctx: &Ctx, t: CbId, prog: Option<ProgId>) {
    if let Some(p) = prog {
        ctx.step(|k, cpu| k.prog_inc(cpu, p));
    }
    loop {
        ctx.step(|k, cpu| {
            if let Some(p) = prog {
                k.prog_inc(cpu, p);
            }
            let cb = k.cb(t);
            let prev = std::mem::replace(&mut cb.prog, prog);
            cb.callback = prog;
            if let Some(p) = prev {
                k.prog_put(cpu, p);
            }
        });
        if ctx.step(|k, _| {
            let cb = k.cb(t);
            cb.prog == prog && cb.callback == prog
        }) {
            break;
        }
    }
    if let Some(p) = prog {
        ctx.step(|k, cpu| k.prog_put(cpu, p));
    }
}

/// `bpf_timer_start` / `bpf_wq_start`. The two READ_ONCEs (the pointer, then its prog) are
/// one step: a reset between them returns -EINVAL, as a read after both does.
fn start(ctx: &Ctx, f: Fixes, slot: SlotId) -> i64 {
    let Some(t) = ctx.step(|k, _| k.slots[slot.0].cb.filter(|&t| k.cb(t).prog.is_some())) else {
        return EINVAL;
    };
    let defer = if f.has(Fix::StartRef) {
        let inc = ctx.step(|k, cpu| {
            let cb = k.cb(t);
            let live = cb.refcnt > 0;
            if live {
                cb.refcnt += 1;
            } else {
                k.note(
                    cpu,
                    format_args!("timer#{}: refcount_inc_not_zero fails", t.0),
                );
            }
            live.then(|| deferred(k, cpu, f))
        });
        match inc {
            Some(d) => d,
            None => return ENOENT,
        }
    } else {
        ctx.step(|k, cpu| deferred(k, cpu, f))
    };
    if defer {
        return schedule_op(ctx, f, t, AsyncOp::Start);
    }
    arm(ctx, f, t);
    if f.has(Fix::StartRef) {
        ctx.step(|k, cpu| refcount_put(k, cpu, t));
    }
    0
}

/// `hrtimer_start` or `schedule_work`. `hrtimer_start` takes the clock base's raw lock
/// (IRQs off); a program on its tracepoint runs under it.
fn arm(ctx: &Ctx, f: Fixes, t: CbId) {
    let tp = ctx.wait(|k, cpu| {
        if k.cb(t).kind == AsyncKind::Wq {
            schedule_work(k, cpu, t);
            return Blocked::Ready(None);
        }
        if let Some(h) = k.cb(t).hr.base_lock {
            return Blocked::On(
                WaitFor::BaseLock(t),
                format!(
                    "hrtimer_start(timer#{}) spins on its base lock held by {}",
                    t.0,
                    cpu_name(h)
                ),
            );
        }
        k.cb(t).hr.queued = true;
        k.note(cpu, format_args!("hrtimer_start(timer#{})", t.0));
        let tp = k.hrtimer_tp.clone();
        if tp.is_some() {
            k.cb(t).hr.base_lock = Some(cpu);
            k.cpus[cpu].raw_locks += 1;
        }
        Blocked::Ready(tp)
    });
    if let Some((p, calls)) = tp {
        let ev = scenario::act(ctx, &Action::Run(p, calls));
        ctx.step(|k, cpu| {
            k.history.push(ev);
            k.cb(t).hr.base_lock = None;
            k.cpus[cpu].raw_locks -= 1;
        });
        irqs_enabled(ctx, f);
    }
}

fn schedule_work(k: &mut Kernel, cpu: Cpu, t: CbId) {
    let hr = &mut k.cb(t).hr;
    if !std::mem::replace(&mut hr.queued, true) {
        k.works.push_back(Work::Wq(t));
    }
    k.note(cpu, format_args!("schedule_work(wq#{})", t.0));
}

/// `cancel_work`: dequeue a pending work item, without waiting for a running one.
fn cancel_work(k: &mut Kernel, t: CbId) -> bool {
    let was = std::mem::take(&mut k.cb(t).hr.queued);
    k.works.retain(|&w| w != Work::Wq(t));
    was
}

/// `bpf_async_schedule_op`: queue a command for the cb's irq_work. The caller's reference
/// (a start's temporary one, cancel_and_free's map one) goes with the command.
fn schedule_op(ctx: &Ctx, f: Fixes, t: CbId, op: AsyncOp) -> i64 {
    ctx.step(|k, cpu| {
        if f.has(Fix::RecursionCheck) && k.cpus[cpu].async_cb_running == Some(t) {
            if holds_ref(f, op) {
                refcount_put(k, cpu, t);
            }
            k.note(
                cpu,
                format_args!("timer#{}: its irq_work runs here: -EDEADLK", t.0),
            );
            return EDEADLK;
        }
        let cb = k.cb(t);
        let first = cb.cmds.is_empty();
        cb.cmds.push(op);
        k.note(cpu, format_args!("timer#{}: {op:?} command queued", t.0));
        if first {
            irq_work_queue(k, cpu, IrqWork::Cmds(t));
        }
        0
    })
}

/// The command holds a reference its processing drops.
fn holds_ref(f: Fixes, op: AsyncOp) -> bool {
    op == AsyncOp::Cancel || f.has(Fix::StartRef)
}

/// `irq_work_queue` on this CPU, unless that irq_work is pending already.
fn irq_work_queue(k: &mut Kernel, cpu: Cpu, w: IrqWork) {
    if k.cpus.iter().all(|c| !c.irq_works.contains(&w)) {
        k.cpus[cpu].irq_works.push_back(w);
    }
}

/// This CPU enables IRQs again: its pending irq_works run (in hardirq context), each
/// possibly queueing more.
pub fn irqs_enabled(ctx: &Ctx, f: Fixes) {
    let mut runs: Vec<(IrqWork, u32)> = Vec::new();
    while let Some(w) = ctx.step(|k, cpu| {
        let c = &mut k.cpus[cpu];
        if c.hardirq || c.raw_locks > 0 {
            return None;
        }
        let w = c.irq_works.pop_front();
        c.hardirq = w.is_some();
        w
    }) {
        let i = runs.iter().position(|(r, _)| *r == w).unwrap_or_else(|| {
            runs.push((w, 0));
            runs.len() - 1
        });
        runs[i].1 += 1;
        let n = runs[i].1;
        if n > LOOP_BOUND {
            ctx.step(|k, cpu| {
                k.violated(
                    Invariant::Unbounded,
                    format_args!("{}: the irq_work of timer#{} runs for the {n}th time in one drain: it re-queues itself forever", cpu_name(cpu), w.cb().0),
                )
            });
        }
        match w {
            IrqWork::Cmds(t) => async_irq_worker(ctx, f, t),
            IrqWork::CallRcu(t) => {
                ctx.step(|k, cpu| k.call_rcu_tasks_trace(cpu, t, tasks_trace_free))
            }
        }
        ctx.step(|k, cpu| k.cpus[cpu].hardirq = false);
    }
}

/// `bpf_async_irq_worker`: take the whole command list and process it in order, with
/// `async_cb_running` naming the cb.
fn async_irq_worker(ctx: &Ctx, f: Fixes, t: CbId) {
    let cmds = ctx.step(|k, cpu| {
        let cmds = std::mem::take(&mut k.cb(t).cmds);
        k.cpus[cpu].async_cb_running = Some(t);
        k.note(
            cpu,
            format_args!("irq_work: timer#{} commands {cmds:?}", t.0),
        );
        cmds
    });
    for op in cmds {
        process_op(ctx, f, t, op);
    }
    ctx.step(|k, cpu| k.cpus[cpu].async_cb_running = None);
}

/// `bpf_async_process_op`: do the operation, then drop the reference it held.
fn process_op(ctx: &Ctx, f: Fixes, t: CbId, op: AsyncOp) {
    match op {
        AsyncOp::Start => arm(ctx, f, t),
        AsyncOp::Cancel => ctx.step(|k, cpu| {
            let r = match k.cb(t).kind {
                AsyncKind::Timer => k.hrtimer_try_to_cancel(t),
                AsyncKind::Wq => i64::from(cancel_work(k, t)),
            };
            k.note(cpu, format_args!("timer#{}: try to cancel = {r}", t.0));
        }),
    }
    if holds_ref(f, op) {
        ctx.step(|k, cpu| refcount_put(k, cpu, t));
    }
}

/// `bpf_async_refcount_put`: the last reference queues the free behind a tasks-trace grace
/// period (through an irq_work when IRQs are off).
fn refcount_put(k: &mut Kernel, cpu: Cpu, t: CbId) {
    let cb = k.cb(t);
    cb.refcnt -= 1;
    if cb.refcnt > 0 {
        return;
    }
    k.note(cpu, format_args!("timer#{}: refcnt 0", t.0));
    if irqs_off(k, cpu) {
        irq_work_queue(k, cpu, IrqWork::CallRcu(t));
    } else {
        k.call_rcu_tasks_trace(cpu, t, tasks_trace_free);
    }
}

/// `bpf_async_cb_rcu_tasks_trace_free`, then `bpf_async_cb_rcu_free`: with
/// [`Fix::StartRef`], cancel once more (a start holding a reference may have armed it
/// after cancel_and_free) and wait another grace period while a callback runs; then put a
/// prog a racing set_callback left, and free.
fn tasks_trace_free(k: &mut Kernel, cpu: Cpu, t: CbId) {
    let f = fixes(k);
    let retry = f.has(Fix::StartRef)
        && match k.cb(t).kind {
            AsyncKind::Timer => k.hrtimer_try_to_cancel(t) < 0,
            AsyncKind::Wq => {
                let busy = k.cb(t).hr.running.is_some();
                !cancel_work(k, t) && (busy || !f.has(Fix::WorkBusy))
            }
        };
    if retry {
        let cb = k.cb(t);
        cb.free_retries += 1;
        let n = cb.free_retries;
        if n > LOOP_BOUND {
            k.violated(
                Invariant::Unbounded,
                format_args!("the free of timer#{} waits a tasks-trace grace period for the {n}th time: it never ends", t.0),
            );
        }
        k.note(
            cpu,
            format_args!(
                "timer#{}: its callback may still run: another grace period",
                t.0
            ),
        );
        k.call_rcu_tasks_trace(cpu, t, tasks_trace_free);
        return;
    }
    if let Some(p) = k.cb(t).prog.take() {
        k.prog_put(cpu, p);
    }
    k.free_cb(cpu, t);
}

/// `bpf_async_cancel_and_free`: detach, reset prog and callback, and drop the map's
/// reference with a non-waiting cancel (inline, or queued when IRQs are off). The lockless
/// early-out is folded into the xchg.
pub fn cancel_and_free(ctx: &Ctx, f: Fixes, slot: SlotId) {
    let Some((t, defer)) = ctx.step(|k, cpu| {
        let t = k.slots[slot.0].cb.take()?;
        k.note(
            cpu,
            format_args!("cancel_and_free(t{}): timer#{} detached", slot.0, t.0),
        );
        Some((t, deferred(k, cpu, f)))
    }) else {
        return;
    };
    update_prog_callback(ctx, t, None);
    if defer {
        schedule_op(ctx, f, t, AsyncOp::Cancel);
    } else {
        process_op(ctx, f, t, AsyncOp::Cancel);
    }
}

/// `bpf_timer_cancel`: not with IRQs off; -EDEADLK from its own callback or when a callback
/// cancelling us runs (the `cancelling` counter, as in the lock-based design since
/// d4523831f07a); else reset prog and callback and wait for a running callback.
fn cancel(ctx: &Ctx, f: Fixes, slot: SlotId) -> i64 {
    let (t, counted) = match ctx.step(|k, cpu| {
        if deferred(k, cpu, f) {
            return Err(EOPNOTSUPP);
        }
        let t = k.slots[slot.0].cb.ok_or(EINVAL)?;
        let cur = k.cpus[cpu].hrtimer_running;
        if cur == Some(t) {
            return Err(EDEADLK);
        }
        if cur.is_some() {
            k.cb(t).cancelling += 1;
        }
        Ok((t, cur.is_some()))
    }) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if counted
        && ctx.step(|k, cpu| {
            // Read after the increment (smp_mb__after_atomic): a callback cancelling us.
            let cur = k.cpus[cpu]
                .hrtimer_running
                .expect("counted only in a callback");
            let mutual = k.cb(cur).cancelling > 0;
            if mutual {
                k.cb(t).cancelling -= 1;
            }
            mutual
        })
    {
        return EDEADLK;
    }
    update_prog_callback(ctx, t, None);
    let r = ctx.hrtimer_cancel(t);
    if counted {
        ctx.step(|k, _| k.cb(t).cancelling -= 1);
    }
    r
}

/// `bpf_timer_cb`: the same in every design since the map owns the prog reference.
pub fn timer_cb(ctx: &Ctx, t: CbId) -> Option<Vec<i64>> {
    locked::timer_cb(ctx, locked::Fixes::fixed(locked::Fix::MapOwnsProgRef), t)
}

/// `bpf_wq_work`, run by a kworker: `None` if the work is not pending. It reads
/// `callback_fn` (NULL: return), then calls it in a tasks-trace read-side section.
pub fn wq_work(ctx: &Ctx, t: CbId) -> Option<Vec<i64>> {
    let p = ctx.step(|k, cpu| {
        if k.cbs.get(t.0).is_none_or(|c| c.freed || !c.hr.queued) {
            return None;
        }
        k.works.retain(|&w| w != Work::Wq(t));
        let cb = k.cb(t);
        cb.hr.queued = false;
        let p = cb.callback;
        cb.hr.running = p.map(|_| cpu);
        k.note(cpu, format_args!("wq#{} work runs, callback {p:?}", t.0));
        Some(p)
    })?;
    let Some(p) = p else {
        return Some(Vec::new());
    };
    let calls = ctx.step(|k, cpu| {
        k.rcu_read_lock_trace(cpu);
        if k.progs[p.0].freed {
            k.violated(
                Invariant::UseAfterFree,
                format_args!(
                    "{}: wq#{} calls the callback of freed prog{}",
                    cpu_name(cpu),
                    t.0,
                    p.0
                ),
            );
        }
        k.progs[p.0].callback.clone()
    });
    let rets = calls
        .into_iter()
        .map(|c| scenario::call(ctx, p, c))
        .collect();
    ctx.step(|k, cpu| {
        // The workqueue core is done with the item when the function returns.
        k.cbs[t.0].hr.running = None;
        k.note(cpu, format_args!("wq#{} callback returns", t.0));
        k.rcu_read_unlock_trace(cpu);
    });
    Some(rets)
}
