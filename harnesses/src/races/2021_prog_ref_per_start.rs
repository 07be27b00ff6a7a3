//! # v2's prog reference per `bpf_timer_start`: the callback's final put races with a re-arm
//!
//! Fix: the v3 design of "bpf: Introduce BPF timers" (Alexei Starovoitov, posted 2021-06-23;
//! merged in v7 as b00628b1c7d5 for v5.15): timers are owned by maps. Race reported by
//! Yonghong Song in the review of v2 (2021-06-14) and acknowledged by the author ("Indeed there
//! is a race"). Affected: v2 of the patch series only (never merged).
//!
//! In v2 a program's `bpf_timer_start` took a reference on the timer's prog whenever the
//! timer was idle or its callback was running (`!hrtimer_active || hrtimer_callback_running`),
//! and `bpf_timer_cb` dropped one after the BPF callback returned, without the timer's lock:
//! the prog kept itself alive while armed. Program runs hold no reference (RCU keeps a running
//! program's code alive), so once user space has detached prog A (its fd closed, its link
//! gone), the armed timer's reference is A's last. CPU0: the timer fires and the callback's
//! `bpf_prog_put` drops that last reference: A's refcount is 0, its free is under way. CPU1:
//! a run of A that began before the detach calls `bpf_timer_start`; the timer is no longer
//! queued (or its callback still counts as running), so the start takes a reference with
//! `bpf_prog_inc` on a prog whose count already reached zero and arms a timer that will call
//! freed code. The v3 fix: the map element owns the prog reference (taken when the callback
//! is set, dropped by cancel, set_callback's swap and cancel_and_free, the last one run by
//! `map_release_uref` when user space drops the map); the callback never drops it, so a
//! program run can never find its own prog at refcount zero.

use super::{Race, Variant, rets_of, timing};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, CbId, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const T0: SlotId = SlotId(0);
const A: ProgId = ProgId(0);

pub static RACE: Race = Race {
    name: "prog_ref_per_start",
    fix: "bpf: Introduce BPF timers (v3: timers owned by maps, no prog reference per start)",
    commit: "b00628b1c7d5",
    date: "2021-06-23",
    affected: "patch series v2 (never merged)",
    invariant: Invariant::UseAfterFree,
    abstracts: "a prog is freed the moment its refcount reaches zero (the kernel defers the free \
                past a grace period, which the late bpf_prog_inc cannot stop), and CPU1's program \
                run stands for one that began before user space detached the prog",
    scenario,
    outcome,
    window: &[
        "prog0 re-arms during the expiry: 0",
        "prog0 re-arms after the expiry: 0",
    ],
    pct_depth: 2,
};

fn scenario(v: Variant) -> Scenario {
    let fixes = Fixes::side(Fix::MapOwnsProgRef, v);
    Scenario {
        design: Design::Locked(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("timers", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![ProgDecl::new("arms_t0", MAP, vec![])],
        // Prog A arms the timer, then user space detaches it: the timer's reference is A's last.
        setup: vec![Action::Run(A, Call::arm(T0, MAP)), Action::CloseProg(A)],
        cpus: vec![
            vec![Action::Fire(CbId(0))],
            vec![Action::Run(A, vec![Call::Start(T0)])],
        ],
        kworker: false,
    }
}

/// When CPU1's program run fell relative to CPU0's expiry, and its start's result.
fn outcome(h: &[Event]) -> String {
    format!(
        "prog0 re-arms {} the expiry: {}",
        timing(h, 1, 0),
        rets_of(h, 1)
    )
}

crate::race_tests!(
    RACE,
    finds_prog_ref_per_start,
    prog_ref_per_start_fixed_holds
);
