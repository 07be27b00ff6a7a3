//! Per-transition invariant preservation: for every world within the bounds and every op,
//! `invariants(w) ⇒ invariants(step(w, op))`, one harness per era.
//!
//! Bound: the worlds are those of `Universe::world` (each `Shape`, every catalogue program the era
//! loads) after up to `DEPTH - 1` ops, and the op is every `Act` the era has; the invariants
//! (`World::check_invariants`, spec/src/invariants.rs) are asserted on every world along the way,
//! so each step of each sequence is a checked transition.

use spec::world::Life;
use spec::{Era, Field, Outcome, World};

use crate::universe::{Prog, Universe};

/// Ops after the setup.
const DEPTH: usize = 4;

/// `step` from every world `DEPTH - 1` ops from the setup, by every op, in `era`.
fn step_preserves_invariants(era: Era) {
    let u = Universe {
        era,
        shape: kani::any(),
        progs: &Prog::ALL,
    };
    let mut w = u.world();
    w.check_invariants();
    for _ in 0..DEPTH {
        let act = u.any_act(|_| true);
        let out = u.take(&mut w, act);
        w.check_invariants();
        cover_reached_states(&w, &out);
    }
}

/// The states worth reaching: each era's async objects armed and run, a uref drop that leaves
/// the map to its programs, a program freed.
fn cover_reached_states(w: &World, out: &Outcome) {
    let f = w.kernel.features;
    let map = &w.maps[0];
    kani::cover!(
        w.elems
            .iter()
            .any(|e| e.timer.is_some_and(|t| t.queued.is_some()))
    );
    kani::cover!(matches!(out, Outcome::Fired(runs) if !runs.is_empty()));
    kani::cover!(map.life == Life::Live && map.usercnt == 0);
    kani::cover!(w.progs.iter().any(|p| p.life == Life::Freed));
    if f.wq {
        kani::cover!(
            w.elems
                .iter()
                .any(|e| e.wq.is_some_and(|q| q.queued.is_some()))
        );
    }
    if f.task_work {
        kani::cover!(matches!(out, Outcome::Ran { callbacks, .. } if !callbacks.is_empty()));
    }
    if Field::Kptr.is_referenced_kptr(&f) {
        kani::cover!(w.kptr_objects > 0);
    }
}

/// Every modelled kernel path the ops reach (bpf(2) map / program syscalls, the `bpf_timer_*`
/// helpers, `hrtimer` expiry, `map_release_uref`, `bpf_map_free_deferred`) as `step` models it
/// for v5.15: timers only (`bpf_timer`, b00628b1c7d5).
#[kani::proof]
#[kani::unwind(27)] // the longest loop: any_of over the era's ≤ 26 acts
pub fn verify_step_preserves_invariants_5_15() {
    step_preserves_invariants(Era::V5_15);
}

/// The same kernel paths for v6.1: timers; its `kptr` field is the unreferenced kind (the tag
/// names the referenced one since v6.4), so `bpf_kptr_xchg` does not load.
#[kani::proof]
#[kani::unwind(27)] // the longest loop: any_of over the era's ≤ 26 acts
pub fn verify_step_preserves_invariants_6_1() {
    step_preserves_invariants(Era::V6_1);
}

/// The same kernel paths for v6.12: adds the `bpf_wq` kfuncs and `bpf_wq_work`, and
/// `bpf_timer_cancel_and_free` deferred from callbacks (a6fcd19d7eac).
#[kani::proof]
#[kani::unwind(27)] // the longest loop: any_of over the era's ≤ 26 acts
pub fn verify_step_preserves_invariants_6_12() {
    step_preserves_invariants(Era::V6_12);
}

/// The same kernel paths for v6.18: adds `bpf_task_work_schedule_signal` and
/// `bpf_task_work_callback`.
#[kani::proof]
#[kani::unwind(27)] // the longest loop: any_of over the era's ≤ 26 acts
#[cfg_attr(not(kani), kani::shim::max_paths(2_000_000))]
pub fn verify_step_preserves_invariants_6_18() {
    step_preserves_invariants(Era::V6_18);
}

/// The same kernel paths for v7.0: the lock-free `bpf_async_cb` (timers in any context).
#[kani::proof]
#[kani::unwind(27)] // the longest loop: any_of over the era's ≤ 26 acts
#[cfg_attr(not(kani), kani::shim::max_paths(2_000_000))]
pub fn verify_step_preserves_invariants_7_0() {
    step_preserves_invariants(Era::V7_0);
}

/// The same kernel paths for v7.2: an element's update, delete or eviction leaves its
/// referenced kptr in place (`Features::element_free_keeps_kptr`).
#[kani::proof]
#[kani::unwind(27)] // the longest loop: any_of over the era's ≤ 26 acts
#[cfg_attr(not(kani), kani::shim::max_paths(2_000_000))]
pub fn verify_step_preserves_invariants_7_2() {
    step_preserves_invariants(Era::V7_2);
}
