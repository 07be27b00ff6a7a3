//! # The map goes while its timer's callback runs: the timer is never freed
//!
//! Fix: v2 of "bpf: Introduce BPF timers" (Alexei Starovoitov, posted 2021-06-10; the map
//! side merged as 68134668c17f "bpf: Add map side support for bpf timers." for v5.15),
//! changelog "Fixed memory leaks due to map destruction and LRU eviction". Affected: v1 of
//! the patch series (posted 2021-05-26, never merged).
//!
//! A `bpf_timer` field only holds a pointer: the `bpf_hrtimer` it points to is a separate
//! allocation made by `bpf_timer_init`. In v1 the paths that destroy a map's elements
//! dropped the elements without looking at that pointer, so the allocation was lost. Here
//! user space closes the map's last fd on CPU1 (`map_release_uref`, the map-destruction
//! path of the merged design) while CPU0 runs the timer's callback, which re-arms its
//! timer. The fix: every free path of an element (delete, update, LRU eviction, uref drop,
//! map free) calls `bpf_timer_cancel_and_free`, which detaches the timer under the element's
//! lock, waits for a running callback with `hrtimer_cancel` (dequeuing a re-arm it made
//! first) and frees it. A re-arm that comes after the detach finds no timer (-EINVAL).

use super::{Race, Variant, rets_of, timing};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, CbId, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const T0: SlotId = SlotId(0);

pub static RACE: Race = Race {
    name: "timer_leak_on_free",
    fix: "bpf: Add map side support for bpf timers (v2: free paths cancel and free the timer)",
    commit: "68134668c17f",
    date: "2021-06-10",
    affected: "patch series v1 (never merged)",
    invariant: Invariant::Leak,
    abstracts: "every free path of an element is one model function, so the unfixed design \
                forgets the timer on all of them (v1 already freed it on delete and update, as \
                callback_frees_own_element shows), and the map's destruction is the uref drop \
                of the merged design",
    scenario,
    outcome,
    window: &[
        "t0 cb: 0 / map closed during the expiry",
        "t0 cb: -EINVAL / map closed during the expiry",
    ],
    pct_depth: 1,
};

fn scenario(v: Variant) -> Scenario {
    let fixes = Fixes::side(Fix::FreeOnElementFree, v);
    Scenario {
        design: Design::Locked(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("timers", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![ProgDecl::new("cb_rearms_t0", MAP, vec![Call::Start(T0)])],
        setup: vec![Action::Run(ProgId(0), Call::arm(T0, MAP))],
        cpus: vec![vec![Action::Fire(CbId(0))], vec![Action::CloseMap(MAP)]],
        kworker: false,
    }
}

/// The callback's re-arm result, and when the map's last fd was closed relative to the
/// expiry.
fn outcome(h: &[Event]) -> String {
    format!(
        "t0 cb: {} / map closed {} the expiry",
        rets_of(h, 0),
        timing(h, 1, 0)
    )
}

crate::race_tests!(
    RACE,
    finds_timer_leak_on_free,
    timer_leak_on_free_fixed_holds
);
