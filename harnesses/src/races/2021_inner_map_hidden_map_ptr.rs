//! # A timer in an inner map records the outer map's template, which dies with the outer map
//!
//! Fix: v4 of "bpf: Introduce BPF timers" (Alexei Starovoitov, posted 2021-07-01, merged for
//! v5.15): `bpf_timer_init` takes the map as an explicit argument (b00628b1c7d5), and "bpf:
//! Prevent pointer mismatch in bpf_timer_init." (3e8ce29850f1) has the verifier check that it
//! is the map holding the timer, telling inner maps of one outer map apart by `map_uid`.
//! Affected: v3 of the patch series (never merged).
//!
//! In v3 `bpf_timer_init` got its map as a hidden argument the verifier filled in: the map the
//! program was verified against. For an element of an inner map, reached through an outer map
//! (array or hash of maps), that is not the inner map but the outer map's `inner_map_meta`, a
//! template allocated with the outer map (zeroed: no elements, usercnt 0) and freed by the
//! outer map's `map_free`. Init recorded it in `t->map`, and `bpf_timer_cb` reads `t->map` at
//! every expiry (the map type, key size and array layout to compute the key; the map argument
//! of the callback). The inner map and its armed timer live on without the outer map: the
//! timer holds only the prog of its callback, and a prog that uses the inner map directly
//! (loaded with its fd) does not hold the outer map. CPU1: user space detaches prog P, the
//! outer map's last holder; the outer map's free, deferred to a kworker, frees the template.
//! CPU0: the inner map's timer fires and `bpf_timer_cb` reads the freed template. With the
//! explicit argument the timer records its own inner map, which lives as long as the timer.
//!
//! What the model does not show: the template is also the wrong map while alive (an array
//! template has no value area, so the key is garbage and the callback's map helpers go past
//! the template); the model has no keys or values. The buggy design is v3, which had no
//! usercnt check either: v4 added both. With the usercnt check but the hidden pointer, init
//! reads the template's usercnt, always 0, and every init in an inner map fails with -EPERM
//! (safe, but inner-map timers never work), so this race is not a usercnt one.

use super::{Race, Variant, timing};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, CbId, Design, Event, Invariant, MapId, ProgId, SlotId};

const OUTER: MapId = MapId(0);
const INNER: MapId = MapId(1);
const TEMPLATE: MapId = MapId(2);
const T0: SlotId = SlotId(0);
const VIA_OUTER: ProgId = ProgId(0);
const USES_INNER: ProgId = ProgId(1);

pub static RACE: Race = Race {
    name: "inner_map_hidden_map_ptr",
    fix: "bpf: Prevent pointer mismatch in bpf_timer_init.",
    commit: "3e8ce29850f1",
    date: "2021-07-01",
    affected: "patch series v3 (never merged)",
    invariant: Invariant::UseAfterFree,
    abstracts: "the template is freed by the outer map's free; as user space closed the outer \
                map's fd and its only other holder is prog P, the model gives the template a \
                reference held by P beside the outer map's, and leaves out the outer map's \
                reference on the inner map (its fd keeps it alive)",
    scenario,
    outcome,
    window: &["expiry after P's detach: fired"],
    pct_depth: 3,
};

fn scenario(v: Variant) -> Scenario {
    let fixes = match v {
        // v3: the hidden map pointer and no usercnt check (see the header).
        Variant::Buggy => Fixes::buggy(Fix::ExplicitMapArg).without(Fix::EpermWithoutUref),
        Variant::Fixed => Fixes::fixed(Fix::ExplicitMapArg),
    };
    Scenario {
        design: Design::Locked(fixes),
        preempt_rt: false,
        maps: vec![
            MapDecl::new("outer (array of maps)", 0),
            MapDecl::new("inner", 1),
            MapDecl::new("outer's inner-map template", 0),
        ],
        slots: vec![SlotDecl {
            map: INNER,
            static_map: TEMPLATE,
        }],
        progs: vec![
            ProgDecl {
                name: "via_outer",
                user_refs: 1,
                used_maps: vec![OUTER, TEMPLATE],
                callback: vec![],
            },
            ProgDecl::new("uses_inner", INNER, vec![]),
        ],
        // P looks the inner map up in the outer map and inits the timer; Q arms it.
        setup: vec![
            Action::Run(VIA_OUTER, vec![Call::Init(T0, INNER)]),
            Action::Run(USES_INNER, vec![Call::SetCallback(T0), Call::Start(T0)]),
        ],
        cpus: vec![
            vec![Action::Fire(CbId(0))],
            vec![Action::CloseProg(VIA_OUTER)],
        ],
        kworker: true,
    }
}

/// When CPU0's expiry fell relative to CPU1's detach of P (the kworker then frees the outer
/// map and its template: loom explores where).
fn outcome(h: &[Event]) -> String {
    let fired = h.iter().any(|e| e.cpu == 0 && e.fired == Some(true));
    let what = if fired { "fired" } else { "not fired" };
    format!("expiry {} P's detach: {what}", timing(h, 0, 1))
}

crate::race_tests!(
    RACE,
    finds_inner_map_hidden_map_ptr,
    inner_map_hidden_map_ptr_fixed_holds
);
