//! # A timer created in a map whose user references are gone lives forever
//!
//! Fix: v4 of "bpf: Introduce BPF timers" (Alexei Starovoitov, posted 2021-07-01; merged as
//! b00628b1c7d5 for v5.15): `bpf_timer_init` and `bpf_timer_set_callback` return -EPERM when
//! the map's usercnt is 0. Found by Martin KaFai Lau in v3. Affected: v3 of the patch series
//! (never merged).
//!
//! v3 made maps own their timers and relied on the prog_array "user refcnt" scheme: when the
//! last user reference (fd or bpffs pin) of a map goes, `map_release_uref` cancels and frees
//! every timer in it and drops their prog references, which breaks the cycle timer → prog →
//! map. Martin's reproducer pinned only the program (`bpftool prog load` then attach,
//! traffic, detach), so the map's usercnt reached 0 while the program kept running. CPU1: user
//! space closes the map's last fd; `map_release_uref` finds no timer and frees nothing. CPU0:
//! the pinned program runs `bpf_timer_init`, `bpf_timer_set_callback` and `bpf_timer_start`
//! on the element; v3 checked nothing, so the timer is created, holds a reference on the prog,
//! and no uref release will ever come to free it (the callback can re-arm it forever, and the
//! prog and map are never freed). The fix refuses init and set_callback with -EPERM once the
//! usercnt is 0 ("timers are allowed only in maps held by an fd or pinned in bpffs"). Its
//! check-then-allocate order left a window of its own, closed in 2023 by publishing the
//! timer, then re-checking (fd381ce60a2d); the fixed design here has both.

use super::{Race, Variant, rets_of};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const T0: SlotId = SlotId(0);
const A: ProgId = ProgId(0);

pub static RACE: Race = Race {
    name: "uref_leak_pinned_prog",
    fix: "bpf: Introduce BPF timers (v4: -EPERM without map user references)",
    commit: "b00628b1c7d5",
    date: "2021-07-01",
    affected: "patch series v3 (never merged)",
    invariant: Invariant::UrefRule,
    abstracts: "the pin of the program is its user reference, attach and detach are not \
                modelled, and the uref drop's atomic dec-and-test pairs with init's full \
                barrier as one sequentially consistent step",
    scenario,
    outcome,
    window: &["prog0: -EPERM,-EINVAL,-EINVAL", "prog0: 0,-EPERM,-EINVAL"],
    pct_depth: 2,
};

fn scenario(v: Variant) -> Scenario {
    // Buggy: no usercnt check at all (v3); RecheckUsercnt only moves the check.
    let fixes = Fixes::side(Fix::EpermWithoutUref, v);
    Scenario {
        design: Design::Locked(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("timers", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![ProgDecl::new("pinned_xdp", MAP, vec![])],
        setup: vec![],
        cpus: vec![
            vec![Action::Run(A, Call::arm(T0, MAP))],
            vec![Action::CloseMap(MAP)],
        ],
        kworker: false,
    }
}

fn outcome(h: &[Event]) -> String {
    format!("prog0: {}", rets_of(h, 0))
}

crate::race_tests!(
    RACE,
    finds_uref_leak_pinned_prog,
    uref_leak_pinned_prog_fixed_holds
);
