//! # A callback re-arms its own timer, then deletes its element: the timer is freed queued
//!
//! Fix: "bpf: Defer work in bpf_timer_cancel_and_free", a6fcd19d7eac, 2024-07-09 (Kumar
//! Kartikeya Dwivedi; CVE-2024-41045), second of its two mechanisms (the other is
//! `2024_mutual_free_from_callbacks`). Affected: v5.15 to v6.10-rc, fixed in v6.10 and
//! stable.
//!
//! Timer t0's callback (CPU0) calls `bpf_timer_start` on its own timer, which queues the
//! hrtimer again while the callback runs, and then deletes t0's element.
//! `bpf_timer_cancel_and_free` detaches the timer and, seeing that it runs inside this very
//! timer's callback (`hrtimer_running == t`), skips `hrtimer_cancel` (waiting for itself
//! would never end) and frees the timer (`kfree_rcu`). The hrtimer is still queued: once
//! the grace period ends the memory is gone while the hrtimer base still links it, and its
//! next expiry uses freed memory.
//!
//! The fix: inside any timer callback, cancel_and_free only detaches and queues
//! `delete_work` to a kworker, which waits for the callback to return, dequeues the re-armed
//! hrtimer with `hrtimer_cancel`, and only then frees the timer.

use super::{Race, Variant, rets_of};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, CbId, Design, Event, Invariant, MapId, ProgId, SlotId, Work};

const MAP: MapId = MapId(0);
const T0: SlotId = SlotId(0);

pub static RACE: Race = Race {
    name: "rearm_then_free_own_element",
    fix: "bpf: Defer work in bpf_timer_cancel_and_free",
    commit: "a6fcd19d7eac",
    date: "2024-07-09",
    affected: "v5.15 to v6.10-rc",
    invariant: Invariant::FreedWhileArmed,
    abstracts: "the re-armed hrtimer's expiry time is not modelled (freeing it while queued \
                is the violation, before any later expiry), and an RCU grace period ends as \
                early as RCU allows",
    scenario,
    outcome,
    window: &["t0 cb: 0,0 / delete_work began during the expiry"],
    pct_depth: 2,
};

fn scenario(v: Variant) -> Scenario {
    let fixes = Fixes::side(Fix::DeferFreeInCb, v);
    Scenario {
        design: Design::Locked(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("timers", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![ProgDecl::new(
            "cb_rearms_then_deletes_t0",
            MAP,
            vec![Call::Start(T0), Call::Delete(T0)],
        )],
        setup: vec![Action::Run(ProgId(0), Call::arm(T0, MAP))],
        cpus: vec![vec![Action::Fire(CbId(0))]],
        kworker: true,
    }
}

/// The callback's re-arm and delete results, and whether the kworker's delete_work began
/// before the expiry (the callback and the softirq's return) ended.
fn outcome(h: &[Event]) -> String {
    let cb = h.iter().find(|e| e.cpu == 0);
    let work = h
        .iter()
        .find(|e| matches!(e.action, Action::Work(Work::TimerDelete(_))));
    let when = match (cb, work) {
        (Some(cb), Some(w)) if w.invoked < cb.returned => "began during",
        (Some(_), Some(_)) => "began after",
        _ => "never ran in",
    };
    format!("t0 cb: {} / delete_work {when} the expiry", rets_of(h, 0))
}

crate::race_tests!(
    RACE,
    finds_rearm_then_free_own_element,
    rearm_then_free_own_element_fixed_holds
);
