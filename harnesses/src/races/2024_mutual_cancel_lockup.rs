//! # Mutual `bpf_timer_cancel` from two callbacks locks both CPUs up
//!
//! Fix: "bpf: Fail bpf_timer_cancel when callback is being cancelled", d4523831f07a,
//! 2024-07-09 (Kumar Kartikeya Dwivedi; reported by Dohyun Kim and Neel Natu). Affected:
//! every kernel with `bpf_timer` before it (v5.15 to v6.10-rc), fixed in v6.10 and stable.
//!
//! Timer t0's callback runs on CPU0 and calls `bpf_timer_cancel(t1)`; at the same time t1's
//! callback runs on CPU1 and calls `bpf_timer_cancel(t0)`. Each cancel drops the lock and
//! then `hrtimer_cancel` waits for the other timer's running callback — which is waiting
//! for it. The fix counts cancels issued from callbacks in the target's `cancelling`
//! (incremented before looking, with a full barrier), and a callback whose own timer is
//! being cancelled by someone fails with -EDEADLK instead of waiting. The kernel's selftest
//! `timer_lockup` expects 0 or -EDEADLK from each side.

use super::{Race, Variant, rets_of};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, CbId, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const T0: SlotId = SlotId(0);
const T1: SlotId = SlotId(1);

pub static RACE: Race = Race {
    name: "mutual_cancel_lockup",
    fix: "bpf: Fail bpf_timer_cancel when callback is being cancelled",
    commit: "d4523831f07a",
    date: "2024-07-09",
    affected: "v5.15 to v6.10-rc",
    invariant: Invariant::Deadlock,
    abstracts: "the counter's relaxed increment plus smp_mb__after_atomic is one sequentially \
                consistent step, and the hrtimer softirq runs each callback exactly once",
    scenario,
    outcome,
    window: &["t0 cb: -EDEADLK / t1 cb: 0", "t0 cb: 0 / t1 cb: -EDEADLK"],
    pct_depth: 3,
};

fn scenario(v: Variant) -> Scenario {
    let fixes = Fixes::side(Fix::Cancelling, v);
    let prog = |name, other| ProgDecl::new(name, MAP, vec![Call::Cancel(other)]);
    let arm = |p, t| Action::Run(p, Call::arm(t, MAP));
    Scenario {
        design: Design::Locked(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("timers", 1)],
        slots: vec![SlotDecl::of(MAP), SlotDecl::of(MAP)],
        progs: vec![prog("cb_cancels_t1", T1), prog("cb_cancels_t0", T0)],
        setup: vec![arm(ProgId(0), T0), arm(ProgId(1), T1)],
        cpus: vec![vec![Action::Fire(CbId(0))], vec![Action::Fire(CbId(1))]],
        kworker: false,
    }
}

fn outcome(h: &[Event]) -> String {
    format!("t0 cb: {} / t1 cb: {}", rets_of(h, 0), rets_of(h, 1))
}

crate::race_tests!(
    RACE,
    finds_mutual_cancel_lockup,
    mutual_cancel_lockup_fixed_holds
);
