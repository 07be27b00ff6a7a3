//! # Two timer callbacks delete each other's element: both CPUs lock up
//!
//! Fix: "bpf: Defer work in bpf_timer_cancel_and_free", a6fcd19d7eac, 2024-07-09 (Kumar
//! Kartikeya Dwivedi; CVE-2024-41045), first of its two mechanisms (the other is
//! `2024_rearm_then_free_own_element`). Affected: v5.15 to v6.10-rc, fixed in v6.10 and
//! stable.
//!
//! Timer t0's callback runs on CPU0 and deletes t1's map element; at the same time t1's
//! callback runs on CPU1 and deletes t0's. Each delete runs `bpf_timer_cancel_and_free`,
//! which detaches the other timer and then calls `hrtimer_cancel` on it: that waits for the
//! other timer's running callback, which waits for this one. The same cycle as
//! `2024_mutual_cancel_lockup`, through the free path, where -EDEADLK cannot be returned.
//!
//! The fix: inside any timer callback (`hrtimer_running` set on this CPU),
//! cancel_and_free only detaches and queues the timer's `delete_work` to a kworker, which
//! waits for the callback (nobody waits for the kworker) and then frees with `kfree_rcu`.

use super::{Race, Variant, rets_of};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, CbId, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const T0: SlotId = SlotId(0);
const T1: SlotId = SlotId(1);

pub static RACE: Race = Race {
    name: "mutual_free_from_callbacks",
    fix: "bpf: Defer work in bpf_timer_cancel_and_free",
    commit: "a6fcd19d7eac",
    date: "2024-07-09",
    affected: "v5.15 to v6.10-rc",
    invariant: Invariant::Deadlock,
    abstracts: "the hrtimer softirq runs each callback exactly once, and the kworker is one \
                thread that runs the queued delete_work items in order",
    scenario,
    outcome,
    window: &["t0 cb: 0 / t1 cb: 0, overlapping"],
    pct_depth: 3,
};

fn scenario(v: Variant) -> Scenario {
    let fixes = Fixes::side(Fix::DeferFreeInCb, v);
    let prog = |name, other| ProgDecl::new(name, MAP, vec![Call::Delete(other)]);
    let arm = |p, t| Action::Run(p, Call::arm(t, MAP));
    Scenario {
        design: Design::Locked(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("timers", 1)],
        slots: vec![SlotDecl::of(MAP), SlotDecl::of(MAP)],
        progs: vec![prog("cb_deletes_t1", T1), prog("cb_deletes_t0", T0)],
        setup: vec![arm(ProgId(0), T0), arm(ProgId(1), T1)],
        cpus: vec![vec![Action::Fire(CbId(0))], vec![Action::Fire(CbId(1))]],
        kworker: true,
    }
}

/// Each callback's delete result, and whether the two expiries overlapped in time.
fn outcome(h: &[Event]) -> String {
    let (Some(a), Some(b)) = (h.iter().find(|e| e.cpu == 0), h.iter().find(|e| e.cpu == 1)) else {
        return "?".into();
    };
    let overlap = a.invoked < b.returned && b.invoked < a.returned;
    format!(
        "t0 cb: {} / t1 cb: {}{}",
        rets_of(h, 0),
        rets_of(h, 1),
        if overlap { ", overlapping" } else { "" }
    )
}

crate::race_tests!(
    RACE,
    finds_mutual_free_from_callbacks,
    mutual_free_from_callbacks_fixed_holds
);
