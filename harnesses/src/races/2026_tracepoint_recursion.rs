//! # A tracing program re-arms its timer from the irq_work that arms it, forever
//!
//! Fix: "bpf: Add a recursion check to prevent loops in bpf_timer", 64873307e888,
//! 2026-02-03 (Alexei Starovoitov; merge 4af526698b15, whose v3 narrowed the check to one
//! cb and added the missing `refcount_put`). Affected: the lock-free design from
//! 1bfbc267ec91 with deferral under IRQs off (7d49635e3775), bpf-next, Feb 2026, before
//! any release.
//!
//! Since the lock-free design, tracing programs may use timers, and a start in hardirq or
//! with IRQs off does not touch the hrtimer: it queues a command on the cb's llist and an
//! irq_work on this CPU. A program attached to a tracepoint inside `hrtimer_start` (it runs
//! under the timer base's raw lock, IRQs off) calls `bpf_timer_start` on the timer being
//! armed: its start is deferred. When IRQs come back on, the irq_work drains the command
//! and calls `hrtimer_start`, which hits the tracepoint again; the program queues another
//! command, the list being empty again re-queues the irq_work, and it runs again as soon as
//! it returns: an endless loop in hardirq context. The loop needs no second CPU (CPU1 only
//! lets the timer expire meanwhile): the "race" is CPU0 with itself, one irq_work run
//! after another. The fix records in the per-CPU
//! `async_cb_running` which cb the irq_work is draining and fails a command for that cb on
//! that CPU with -EDEADLK (dropping the start's reference).

use super::{Race, Variant, errno_name};
use crate::kernel::lockfree::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, CbId, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const T: SlotId = SlotId(0);
const TP_PROG: ProgId = ProgId(1);

pub static RACE: Race = Race {
    name: "tracepoint_recursion",
    fix: "bpf: Add a recursion check to prevent loops in bpf_timer",
    commit: "64873307e888",
    date: "2026-02-03",
    affected: "the lock-free design from 1bfbc267ec91 (bpf-next, Feb 2026)",
    invariant: Invariant::Unbounded,
    abstracts: "\"forever\" is one irq_work running more than three times in one drain, the \
                irq_work runs when the CPU leaves the raw lock that disabled IRQs, and the \
                tracepoint is one hook inside hrtimer_start",
    scenario,
    outcome,
    window: &[
        "tracepoint prog: 0, -EDEADLK / expiry: fired",
        "tracepoint prog: 0, -EDEADLK / expiry: not fired",
    ],
    pct_depth: 1,
};

fn scenario(v: Variant) -> Scenario {
    tracepoint_scenario(Fixes::side(Fix::RecursionCheck, v))
}

/// CPU0 starts a timer that a program on the `hrtimer_start` tracepoint starts again;
/// CPU1's softirq lets it expire.
pub(super) fn tracepoint_scenario(fixes: Fixes) -> Scenario {
    let prog = |name| ProgDecl::new(name, MAP, vec![]);
    Scenario {
        design: Design::LockFree(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("timer_map", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![prog("arms_timer"), prog("tp_hrtimer_start")],
        setup: vec![
            Action::Run(ProgId(0), vec![Call::Init(T, MAP), Call::SetCallback(T)]),
            Action::AttachTracepoint(TP_PROG, vec![Call::Start(T)]),
        ],
        cpus: vec![
            vec![Action::Run(ProgId(0), vec![Call::Start(T)])],
            vec![Action::Fire(CbId(0))],
        ],
        kworker: false,
    }
}

/// The results of the tracing program's runs, in order, and whether CPU1 saw the timer
/// expire.
pub(super) fn outcome(h: &[Event]) -> String {
    let runs: Vec<String> = h
        .iter()
        .filter(|e| matches!(e.action, Action::Run(p, _) if p == TP_PROG))
        .flat_map(|e| e.rets.iter().map(|&r| errno_name(r)))
        .collect();
    let fired = h.iter().any(|e| e.cpu == 1 && e.fired == Some(true));
    let expiry = if fired { "fired" } else { "not fired" };
    format!("tracepoint prog: {} / expiry: {expiry}", runs.join(", "))
}

crate::race_tests!(
    RACE,
    finds_tracepoint_recursion,
    tracepoint_recursion_fixed_holds
);
