//! # The element's lock is held across `hrtimer_cancel`: both CPUs spin forever
//!
//! Fix: v5 of "bpf: Introduce BPF timers" (Alexei Starovoitov, posted 2021-07-07; merged as
//! b00628b1c7d5 for v5.15), found with stress tests: cancel_and_free and `bpf_timer_cancel`
//! drop the prog reference and unlock before `hrtimer_cancel`. Affected: v4 of the patch
//! series (and the v2 to v4 locking it inherited; never merged).
//!
//! v4's `bpf_timer_cancel_and_free` (here from `map_release_uref`, the
//! `htab_free_prealloced_timers` path of the cover letter, as user space closes the map's
//! last fd on CPU1) took the element's `bpf_spin_lock`, detached the timer and called
//! `hrtimer_cancel`, which waits for a running callback, before unlocking. The timer's
//! callback runs on CPU0 and calls a `bpf_timer_*` helper on its own timer (here it re-arms
//! it), which spins on that same lock: CPU1 waits for CPU0's callback, CPU0 waits for CPU1's
//! lock. `bpf_timer_cancel` had the same shape (the extra tests below). The fix drops the
//! prog reference and unlocks first, and only then waits in `hrtimer_cancel`; the callback's
//! helper then finds the timer detached or its callback cleared (-EINVAL), and a timer that
//! fires in between finds `callback_fn` NULL, which `bpf_timer_cb` has tolerated since.

use super::{Race, Variant, rets_of};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, CbId, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const T0: SlotId = SlotId(0);
const P: ProgId = ProgId(0);

pub static RACE: Race = Race {
    name: "lock_held_across_cancel",
    fix: "bpf: Introduce BPF timers (v5: drop_prog_refcnt and unlock before hrtimer_cancel)",
    commit: "b00628b1c7d5",
    date: "2021-07-07",
    affected: "patch series v2 to v4 (never merged)",
    invariant: Invariant::Deadlock,
    abstracts: "a spin on the bpf_spin_lock and hrtimer_cancel's wait are blocking waits \
                whose cycle is reported at once, and the callback's helper stands for any \
                bpf_timer_* call on the same timer",
    scenario,
    outcome,
    window: &["t0 cb: - / CPU1: 0", "t0 cb: -EINVAL / CPU1: 0"],
    pct_depth: 2,
};

fn scenario(v: Variant) -> Scenario {
    scenario_with(v, Action::CloseMap(MAP))
}

/// CPU1 cancels the timer with `canceller` while its callback may run on CPU0.
fn scenario_with(v: Variant, canceller: Action) -> Scenario {
    let fixes = Fixes::side(Fix::UnlockBeforeCancel, v);
    Scenario {
        design: Design::Locked(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("hash (prealloc)", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![ProgDecl::new("cb_rearms_t0", MAP, vec![Call::Start(T0)])],
        setup: vec![Action::Run(P, Call::arm(T0, MAP))],
        cpus: vec![vec![Action::Fire(CbId(0))], vec![canceller]],
        kworker: false,
    }
}

/// The callback's helper result ("-": it fired with `callback_fn` NULL, between CPU1's
/// unlock and its `hrtimer_cancel`), and CPU1's result.
fn outcome(h: &[Event]) -> String {
    format!("t0 cb: {} / CPU1: {}", rets_of(h, 0), rets_of(h, 1))
}

crate::race_tests!(
    RACE,
    finds_lock_held_across_cancel,
    lock_held_across_cancel_fixed_holds
);

/// The same race with a program's `bpf_timer_cancel` on CPU1 instead of the map's release.
#[cfg(test)]
mod via_bpf_timer_cancel {
    use super::{Action, Call, P, RACE, Race, Scenario, T0, Variant, scenario_with};
    use crate::races::testing;

    fn scenario(v: Variant) -> Scenario {
        scenario_with(v, Action::Run(P, vec![Call::Cancel(T0)]))
    }

    static VIA_CANCEL: Race = Race {
        name: "lock_held_across_cancel (bpf_timer_cancel)",
        scenario,
        ..RACE
    };

    #[test]
    fn finds_lock_held_across_bpf_timer_cancel() {
        testing::finds(&VIA_CANCEL);
    }

    #[test]
    fn lock_held_across_bpf_timer_cancel_fixed_holds() {
        testing::holds(&VIA_CANCEL);
    }
}
