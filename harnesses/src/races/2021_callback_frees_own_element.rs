//! # A timer callback frees its own element: `hrtimer_cancel` waits for itself
//!
//! Fix: v2 of "bpf: Introduce BPF timers" (Alexei Starovoitov, posted 2021-06-10; merged as
//! b00628b1c7d5 and 68134668c17f for v5.15), changelog "Fixed deadlock between timer callback
//! and LRU eviction or bpf_map_delete/update". Affected: v1 of the patch series (posted
//! 2021-05-26, never merged). The fix lived until a6fcd19d7eac (2024) replaced it with
//! deferring the free to a kworker (`2024_rearm_then_free_own_element`: skipping the cancel
//! leaves a timer the callback re-armed queued while it is freed).
//!
//! Deleting or updating a map element, or an LRU eviction of it, frees the element's timer
//! with `bpf_timer_cancel_and_free`, which cancels the hrtimer with `hrtimer_cancel`: that
//! dequeues it and waits for a running callback to return. When the callback itself does
//! the delete / update / eviction of its own element (CPU0 here), the callback it waits for
//! is its own caller: v1 spins forever. Meanwhile a program on CPU1 cancels the same timer,
//! so the callback's free also races another CPU's use of the timer. The fix: when the
//! per-CPU `hrtimer_running` is this very timer, cancel_and_free skips `hrtimer_cancel`
//! (`bpf_timer_cb` has read everything it needs and returns `HRTIMER_NORESTART`) and frees
//! at once; any other CPU still waits for the callback.
//!
//! The race's scenario has the callback delete its element; the update trigger is checked by
//! the extra tests below. An LRU eviction of the callback's own element (its update of
//! another key into a full LRU hash) frees the timer on the same path as the update (under
//! the bucket's raw lock, `htab_lru_map_delete_node` in 5.15), so the model has no call of its
//! own for it.

use super::{Race, Variant, rets_of, timing};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, CbId, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const T0: SlotId = SlotId(0);
const P: ProgId = ProgId(0);

pub static RACE: Race = Race {
    name: "callback_frees_own_element",
    fix: "bpf: Introduce BPF timers (v2: no hrtimer_cancel of a timer from its own callback)",
    commit: "b00628b1c7d5",
    date: "2021-06-10",
    affected: "patch series v1 (never merged)",
    invariant: Invariant::Deadlock,
    abstracts: "the callback's wait for itself is reported at once instead of spinning, and \
                the free is kfree_rcu (the 2024 fix 0281b919e175, in both variants, keeps the \
                concurrent bpf_timer_cancel's hrtimer_cancel off freed memory)",
    scenario,
    outcome,
    window: &[
        "t0 cb: 0 / prog0 cancels during the expiry: 0",
        "t0 cb: 0 / prog0 cancels during the expiry: -EINVAL",
    ],
    pct_depth: 2,
};

fn scenario(v: Variant) -> Scenario {
    scenario_with(v, Call::Delete(T0))
}

/// The callback frees its own element with `free` (a delete or an update of it).
fn scenario_with(v: Variant, free: Call) -> Scenario {
    let fixes = Fixes::side(Fix::SkipCancelInOwnCb, v);
    Scenario {
        design: Design::Locked(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("lru", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![ProgDecl::new("cb_frees_own_element", MAP, vec![free])],
        setup: vec![Action::Run(P, Call::arm(T0, MAP))],
        cpus: vec![
            vec![Action::Fire(CbId(0))],
            vec![Action::Run(P, vec![Call::Cancel(T0)])],
        ],
        kworker: false,
    }
}

/// The callback's free result, and when CPU1's cancel ran relative to the expiry, with its
/// result (-EINVAL: the callback had already freed the timer).
fn outcome(h: &[Event]) -> String {
    format!(
        "t0 cb: {} / prog0 cancels {} the expiry: {}",
        rets_of(h, 0),
        timing(h, 1, 0),
        rets_of(h, 1)
    )
}

crate::race_tests!(
    RACE,
    finds_callback_frees_own_element,
    callback_frees_own_element_fixed_holds
);

/// The same race with the callback updating its own element instead of deleting it.
#[cfg(test)]
mod via_update {
    use super::{Call, RACE, Race, Scenario, T0, Variant, scenario_with};
    use crate::races::testing;

    fn scenario(v: Variant) -> Scenario {
        scenario_with(v, Call::Update(T0))
    }

    static VIA_UPDATE: Race = Race {
        name: "callback_frees_own_element (update)",
        scenario,
        ..RACE
    };

    #[test]
    fn finds_callback_updates_own_element() {
        testing::finds(&VIA_UPDATE);
    }

    #[test]
    fn callback_updates_own_element_fixed_holds() {
        testing::holds(&VIA_UPDATE);
    }
}
