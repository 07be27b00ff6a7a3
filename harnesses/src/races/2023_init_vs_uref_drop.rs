//! # `bpf_timer_init` races the last uref drop: a timer in a map nobody can release
//!
//! Fix: "bpf: Check map->usercnt after timer->timer is assigned", fd381ce60a2d, 2023-10-30
//! (Hou Tao; reported by Hsin-Wei Hung). Affected: v5.15 to v6.7-rc (the -EPERM check
//! dates from the v4 timer series), fixed in v6.7 and stable.
//!
//! A map with timers relies on user references: when the last one goes, `map_release_uref`
//! cancels and frees every timer of the map, which breaks the timer → prog → map reference
//! cycle. So `bpf_timer_init` refuses (-EPERM) a map whose usercnt is 0. Before the fix,
//! init (CPU0, under the element's lock) read usercnt first and only then allocated the
//! timer and stored it in the element. If in between user space closed the map's last fd
//! (CPU1), `map_release_uref`'s `bpf_timer_cancel_and_free` read the element's timer pointer
//! without the lock, found NULL, and skipped the element; CPU0 then published its timer. The
//! map now has usercnt 0 and a timer that no release will ever free (the uref rule is
//! broken, and the timer leaks; armed, it would keep its prog and the map alive forever).
//!
//! The fix publishes the timer first, then issues a full barrier, then reads usercnt: either
//! the release's lockless read sees the timer (and frees it, after waiting for the lock),
//! or init sees usercnt 0, unpublishes and frees its timer, and returns -EPERM.

use super::{Race, Variant, rets_of};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const T0: SlotId = SlotId(0);

pub static RACE: Race = Race {
    name: "init_vs_uref_drop",
    fix: "bpf: Check map->usercnt after timer->timer is assigned",
    commit: "fd381ce60a2d",
    date: "2023-10-30",
    affected: "v5.15 to v6.7-rc",
    invariant: Invariant::UrefRule,
    abstracts: "init's smp_mb between publishing the timer and reading usercnt, and its pairing \
                with the release's atomic dec-and-test, are sequentially consistent steps",
    scenario,
    outcome,
    window: &[
        "init: -EPERM, close during init",
        "init: 0, close during init",
    ],
    pct_depth: 3,
};

fn scenario(v: Variant) -> Scenario {
    let fixes = Fixes::side(Fix::RecheckUsercnt, v);
    Scenario {
        design: Design::Locked(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("timers", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![ProgDecl::new("inits_t0", MAP, vec![])],
        setup: vec![],
        cpus: vec![
            vec![Action::Run(ProgId(0), vec![Call::Init(T0, MAP)])],
            vec![Action::CloseMap(MAP)],
        ],
        kworker: false,
    }
}

/// Init's result, and whether the close ran while the program ran.
fn outcome(h: &[Event]) -> String {
    let (Some(init), Some(close)) = (h.iter().find(|e| e.cpu == 0), h.iter().find(|e| e.cpu == 1))
    else {
        return "?".into();
    };
    let when = if close.returned < init.invoked {
        "before"
    } else if close.invoked > init.returned {
        "after"
    } else {
        "during"
    };
    format!("init: {}, close {when} init", rets_of(h, 0))
}

crate::race_tests!(RACE, finds_init_vs_uref_drop, init_vs_uref_drop_fixed_holds);
