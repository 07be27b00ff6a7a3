//! # `bpf_timer_start` reads the timer pointer while a delete frees the timer
//!
//! Fix: v2 of "bpf: Introduce BPF timers" (Alexei Starovoitov, posted 2021-06-10; merged as
//! b00628b1c7d5 with c1b3fed319d3 "bpf: Factor out bpf_spin_lock into helpers." for v5.15),
//! changelog "Fixed race between parallel bpf_timer_*() ops". Race reported by Andrii
//! Nakryiko in his review of v1 (2021-06-02). Affected: v1 of the patch series (posted
//! 2021-05-26, never merged).
//!
//! In v1 the element's `bpf_timer` held only the pointer to the `bpf_hrtimer`; its spin lock
//! lived inside that allocation. `bpf_timer_start` read the pointer with `READ_ONCE` and only
//! then locked and armed the timer it pointed to, while `bpf_timer_cancel_and_free` (a delete
//! of the element, CPU1 here) cancelled, freed and cleared the same pointer with no lock in
//! common. CPU0's program reads the pointer; CPU1's delete frees the timer; CPU0 goes on to
//! lock and arm freed memory. The fix puts a `bpf_spin_lock` next to the pointer in the
//! element (`struct bpf_timer_kern`): every helper reads and uses the pointer under it, and
//! cancel_and_free detaches the timer under it before freeing, so a start either arms the
//! timer before the detach (and the cancel that follows dequeues it) or finds no timer
//! (-EINVAL).
//!
//! v1 also published a new timer with `cmpxchg`, so two parallel `bpf_timer_init` calls were
//! already safe; the unlocked pointer read in start and cancel was the race.

use super::{Race, Variant, rets_of, timing};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const T0: SlotId = SlotId(0);
const P: ProgId = ProgId(0);

pub static RACE: Race = Race {
    name: "parallel_ops_without_lock",
    fix: "bpf: Introduce BPF timers (v2: the timer pointer guarded by the element's bpf_spin_lock)",
    commit: "b00628b1c7d5",
    date: "2021-06-10",
    affected: "patch series v1 (never merged)",
    invariant: Invariant::UseAfterFree,
    abstracts: "the unlocked design is the merged one without the element's lock (v1's lock \
                inside the allocation is left out: taking it is already the use of freed \
                memory), and both variants free with kfree, as in 2021 (the 2024 kfree_rcu \
                would hold the free past the program's RCU read section)",
    scenario,
    outcome,
    window: &[
        "start during the delete: 0",
        "start during the delete: -EINVAL",
    ],
    pct_depth: 2,
};

fn scenario(v: Variant) -> Scenario {
    let fixes = Fixes::side(Fix::SpinLock, v);
    Scenario {
        design: Design::Locked(fixes.without(Fix::KfreeRcu)),
        preempt_rt: false,
        maps: vec![MapDecl::new("hash", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![ProgDecl::new("starts_t0", MAP, vec![])],
        setup: vec![Action::Run(
            P,
            vec![Call::Init(T0, MAP), Call::SetCallback(T0)],
        )],
        cpus: vec![
            vec![Action::Run(P, vec![Call::Start(T0)])],
            vec![Action::UserDelete(T0)],
        ],
        kworker: false,
    }
}

/// When CPU0's program ran relative to CPU1's delete, and its start's result.
fn outcome(h: &[Event]) -> String {
    format!("start {} the delete: {}", timing(h, 0, 1), rets_of(h, 0))
}

crate::race_tests!(
    RACE,
    finds_parallel_ops_without_lock,
    parallel_ops_without_lock_fixed_holds
);
