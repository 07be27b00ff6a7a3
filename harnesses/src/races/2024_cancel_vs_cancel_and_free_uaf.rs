//! # `bpf_timer_cancel` uses a timer that a concurrent element delete has freed
//!
//! Fix: "bpf: Fix racing between bpf_timer_cancel_and_free and bpf_timer_cancel",
//! 0281b919e175, 2024-02-15 (Martin KaFai Lau; CVE-2024-26737). Affected: v5.15 to v6.8-rc
//! (since v5 of the timer series, which drops the lock before `hrtimer_cancel`), fixed in
//! v6.8 and stable.
//!
//! CPU0's program calls `bpf_timer_cancel`: under the element's lock it reads the timer
//! pointer and drops the callback's prog reference, unlocks, and is about to call
//! `hrtimer_cancel` on that timer. CPU1 deletes the element: `bpf_timer_cancel_and_free`
//! takes the lock, detaches the timer, unlocks, cancels the hrtimer and `kfree`s the timer.
//! CPU0's `hrtimer_cancel` then works on freed memory (KASAN: slab-use-after-free).
//!
//! The fix frees the timer with `kfree_rcu` and has `bpf_timer_cancel` hold
//! `rcu_read_lock` across its use of the pointer (needed for sleepable programs, which run
//! under RCU Tasks Trace only): the memory outlives every canceller that could have read
//! the pointer.

use super::{Race, Variant, rets_of};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const T0: SlotId = SlotId(0);
const PROG: ProgId = ProgId(0);

pub static RACE: Race = Race {
    name: "cancel_vs_cancel_and_free_uaf",
    fix: "bpf: Fix racing between bpf_timer_cancel_and_free and bpf_timer_cancel",
    commit: "0281b919e175",
    date: "2024-02-15",
    affected: "v5.15 to v6.8-rc",
    invariant: Invariant::UseAfterFree,
    abstracts: "an RCU grace period ends as early as RCU allows (at the last reader's \
                rcu_read_unlock), and hrtimer_cancel's first access to the timer is one step",
    scenario,
    outcome,
    // 0: the delete's hrtimer_cancel dequeued the timer between the cancel's read of the
    // pointer (under the lock) and its own hrtimer_cancel.
    window: &["cancel: 0 / delete: 0"],
    pct_depth: 3,
};

fn scenario(v: Variant) -> Scenario {
    let fixes = Fixes::side(Fix::KfreeRcu, v);
    Scenario {
        design: Design::Locked(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("timers", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![ProgDecl::new("arms_and_cancels_t0", MAP, vec![])],
        setup: vec![Action::Run(PROG, Call::arm(T0, MAP))],
        cpus: vec![
            vec![Action::Run(PROG, vec![Call::Cancel(T0)])],
            vec![Action::UserDelete(T0)],
        ],
        kworker: false,
    }
}

fn outcome(h: &[Event]) -> String {
    format!("cancel: {} / delete: {}", rets_of(h, 0), rets_of(h, 1))
}

crate::race_tests!(
    RACE,
    finds_cancel_vs_cancel_and_free_uaf,
    cancel_vs_cancel_and_free_uaf_fixed_holds
);
