//! Program refcount conservation: each program's refcnt is exactly what its holders account for
//! (user handles, the timer / wq slots whose callback it is, pending task_works), across the
//! transitions that move or drop a slot's reference: the set_callback swap, cancel, cancel_and_free
//! (element delete / update / LRU eviction / its own callback), the uref drop and map free.
//!
//! Bound: every era, every `Shape`, the worlds `PREFIX` ops from `Universe::world` with the
//! programs named per harness, then the transition under test on either key.

use spec::world::Life;
use spec::{Outcome, ProgIdx, Ret, World};

use crate::ledger::{assert_prog_refs_conserved, linked, prog_holders, refcnt};
use crate::universe::{Act, Prog, Shape, Slot, Universe, any_era};

/// The timer programs: arm (init, set_callback, start), swap (set_callback, start; its
/// callback deletes its own element), cancel.
const TIMER_PROGS: [Prog; 3] = [Prog::ArmTimer, Prog::SwapTimer, Prog::CancelTimer];

/// Ops before the transition under test.
const PREFIX: usize = 3;

fn timer_universe() -> Universe {
    Universe {
        era: any_era(|_| true),
        shape: kani::any(),
        progs: &TIMER_PROGS,
    }
}

/// The program whose callback the timer at `slot` holds.
fn timer_callback(w: &World, slot: Slot) -> Option<ProgIdx> {
    let e = linked(w, slot.key())?;
    w.elems[e].timer?.callback.map(|(p, _)| p)
}

/// How many slot references of `p` (timer and wq callbacks) left the world between `before`
/// and `after`: slots of `p` in `before` whose cell no longer holds them. No transition checked
/// here creates a slot reference.
fn slot_refs_gone(before: &World, after: &World, p: ProgIdx) -> u64 {
    let held = |o: Option<spec::world::AsyncObj>| {
        o.is_some_and(|o| o.callback.is_some_and(|(q, _)| q == p))
    };
    (0..before.elems.len())
        .map(|e| {
            let (b, a) = (&before.elems[e], &after.elems[e]);
            u64::from(held(b.timer) && !held(a.timer)) + u64::from(held(b.wq) && !held(a.wq))
        })
        .sum()
}

/// helpers.c `__bpf_async_set_callback` via `bpf_timer_set_callback` (all eras): a swap
/// moves exactly one reference — the previous program loses its slot's reference (and is
/// freed if that was its last), the calling program gains one; the same program setting
/// its callback again takes nothing.
#[kani::proof]
#[kani::unwind(18)] // the longest loop: any_of over the universe's ≤ 17 acts
pub fn verify_async_set_callback_swap_moves_one_reference() {
    let u = timer_universe();
    let mut w = u.any_world(PREFIX);
    let slot: Slot = kani::any();
    let swapper = u.prog_idx(Prog::SwapTimer).expect("loaded");
    let before = w.clone();
    let prev = timer_callback(&w, slot);
    let out = u.take(&mut w, Act::Run(Prog::SwapTimer, slot));
    assert_prog_refs_conserved(&w);
    let Outcome::Ran { rets, .. } = out else {
        return;
    };
    match prev {
        Some(p) if p != swapper => {
            kani::assert(rets[0] == Ret::OK, "the swap succeeds");
            kani::assert(
                timer_callback(&w, slot) == Some(swapper),
                "the swapper's callback is set",
            );
            kani::assert(
                refcnt(&w, p) + 1 == refcnt(&before, p),
                "the previous program lost one reference",
            );
            kani::assert(
                refcnt(&w, swapper) == refcnt(&before, swapper) + 1,
                "the swapper gained one reference",
            );
            kani::cover!(
                w.prog(p).life == Life::Freed,
                "the swap freed the previous program"
            );
            kani::cover!(
                w.prog(p).life == Life::Live,
                "the previous program lives on"
            );
        }
        Some(_) => {
            kani::assert(
                refcnt(&w, swapper) == refcnt(&before, swapper),
                "re-setting takes nothing",
            );
            kani::cover!();
        }
        None => {}
    }
}

/// helpers.c `bpf_timer_cancel` (all eras): the callback and its program reference are
/// dropped together (`drop_prog_refcnt`), an armed timer is disarmed, and the result says
/// whether it was armed.
#[kani::proof]
#[kani::unwind(18)] // the longest loop: any_of over the universe's ≤ 17 acts
pub fn verify_timer_cancel_drops_the_callback_reference() {
    let u = timer_universe();
    let mut w = u.any_world(PREFIX);
    let slot: Slot = kani::any();
    let before = w.clone();
    let timer = linked(&w, slot.key()).and_then(|e| w.elems[e].timer);
    let out = u.take(&mut w, Act::Run(Prog::CancelTimer, slot));
    assert_prog_refs_conserved(&w);
    let (Outcome::Ran { rets, .. }, Some(t)) = (out, timer) else {
        return;
    };
    let e = linked(&before, slot.key()).expect("the timer's element");
    let after = w.elems[e].timer.expect("cancel keeps the timer");
    kani::assert(
        after.callback.is_none() && after.queued.is_none(),
        "cancel leaves no callback, nothing armed",
    );
    kani::assert(
        rets[0] == Ret::Int(i64::from(t.queued.is_some())),
        "cancel says whether it was armed",
    );
    if let Some((p, _)) = t.callback {
        kani::assert(
            refcnt(&w, p) + 1 == refcnt(&before, p),
            "the callback's program lost one reference",
        );
        kani::cover!(t.queued.is_some(), "an armed timer cancelled");
        kani::cover!(
            w.prog(p).life == Life::Freed,
            "the cancel freed the program"
        );
    }
}

/// helpers.c `bpf_timer_cancel_and_free`, from `bpf_obj_free_fields` (all eras): an element
/// delete, an update (array: in place; hash: the old element replaced), an LRU eviction,
/// and a callback deleting its own element each drop exactly the references of the timers
/// they free.
#[kani::proof]
#[kani::unwind(18)] // the longest loop: any_of over the universe's ≤ 17 acts
pub fn verify_timer_cancel_and_free_drops_each_freed_reference() {
    let u = timer_universe();
    let mut w = u.any_world(PREFIX);
    let act = u.any_act(|a| matches!(a, Act::Delete(_) | Act::Update(_) | Act::Advance));
    let before = w.clone();
    u.take(&mut w, act);
    assert_prog_refs_conserved(&w);
    let mut gone = 0;
    for i in 0..w.progs.len() {
        let p = ProgIdx(i as u8);
        let dropped = slot_refs_gone(&before, &w, p);
        kani::assert(
            refcnt(&w, p) + dropped == refcnt(&before, p),
            "each freed timer dropped its one reference",
        );
        gone += dropped;
    }
    let (lru, updated) = (u.shape == Shape::LruHash, matches!(act, Act::Update(_)));
    let evicted = match act {
        Act::Update(s) => {
            lru && linked(&before, s.other().key()).is_some_and(|e| !w.elems[e].linked)
        }
        _ => false,
    };
    kani::cover!(
        gone > 0 && matches!(act, Act::Delete(_)),
        "delete freed a timer's reference"
    );
    kani::cover!(
        gone > 0 && updated && !lru,
        "update freed a timer's reference"
    );
    kani::cover!(
        gone > 0 && evicted,
        "LRU eviction freed a timer's reference"
    );
    kani::cover!(
        gone > 0 && act == Act::Advance,
        "a callback deleting its element freed its timer"
    );
}

/// The programs of the uref-drop and map-free harnesses: a timer and a wq to free.
const ASYNC_PROGS: [Prog; 2] = [Prog::ArmTimer, Prog::ArmWq];

/// Ops before the uref drop (the universe is smaller: one op more than `PREFIX`).
const UREF_PREFIX: usize = 4;

/// syscall.c `bpf_map_put_with_uref` → `map_release_uref` (all eras; wq since 6.10): the
/// last user reference going frees every timer and wq of the map and drops exactly their
/// program references.
#[kani::proof]
#[kani::unwind(15)] // the longest loop: any_of over the universe's ≤ 14 acts
#[cfg_attr(not(kani), kani::shim::max_paths(2_000_000))]
pub fn verify_map_put_with_uref_drops_every_async_reference() {
    let u = Universe {
        era: any_era(|_| true),
        shape: kani::any(),
        progs: &ASYNC_PROGS,
    };
    let mut w = u.any_world(UREF_PREFIX);
    let act = u.any_act(|a| matches!(a, Act::CloseMap | Act::UnpinMap));
    let before = w.clone();
    u.take(&mut w, act);
    assert_prog_refs_conserved(&w);
    let dropped = before.maps[0].usercnt > 0 && w.maps[0].usercnt == 0;
    for i in 0..w.progs.len() {
        let p = ProgIdx(i as u8);
        let gone = slot_refs_gone(&before, &w, p);
        kani::assert(
            refcnt(&w, p) + gone == refcnt(&before, p),
            "each freed object dropped its one reference",
        );
        kani::assert(
            dropped || gone == 0,
            "only the last uref frees async objects",
        );
        let timers = before
            .elems
            .iter()
            .filter(|e| e.timer.is_some_and(|t| t.callback.is_some()))
            .count();
        kani::cover!(
            gone > 0 && timers > 0,
            "the uref drop freed a timer's reference"
        );
        if w.kernel.features.wq {
            let wqs = before
                .elems
                .iter()
                .filter(|e| e.wq.is_some_and(|q| q.callback.is_some()))
                .count();
            kani::cover!(gone > 0 && wqs > 0, "the uref drop freed a wq's reference");
        }
    }
}

/// Ops before the step that frees the map (the map fd, the pin and both programs must go).
const FREE_PREFIX: usize = 5;

/// syscall.c `bpf_map_free_deferred` at the end of the free cascade (all eras): the last
/// program reference going frees the program (`bpf_prog_free_deferred` →
/// `bpf_free_used_maps`), which frees the map. By then the uref drop has freed every async
/// object, so map free drops no program reference; refcounts stay conserved through the
/// cascade, also when a uref drop starts it within one step.
#[kani::proof]
#[kani::unwind(15)] // the longest loop: any_of over the universe's ≤ 14 acts
pub fn verify_free_map_conserves_prog_refcnt() {
    let u = Universe {
        era: any_era(|_| true),
        shape: kani::any(),
        progs: &ASYNC_PROGS,
    };
    let mut w = u.world();
    for _ in 0..FREE_PREFIX {
        let act = u.any_act(|a| !matches!(a, Act::PinMap | Act::Update(_) | Act::Delete(_)));
        let before = w.clone();
        u.take(&mut w, act);
        assert_prog_refs_conserved(&w);
        if before.maps[0].life == Life::Live && w.maps[0].life == Life::Freed {
            kani::assert(
                w.progs.iter().all(|p| p.life != Life::Live),
                "no live program uses a freed map",
            );
            let held = (0..w.progs.len())
                .map(|i| prog_holders(&w, ProgIdx(i as u8)))
                .sum::<u64>();
            kani::assert(held == 0, "nothing is left holding a program");
            let held_timer = before.elems.iter().any(|e| e.timer.is_some());
            kani::cover!(
                held_timer,
                "the step that freed the map freed a timer (uref drop) first"
            );
            kani::cover!(!held_timer, "map freed after an earlier uref drop");
        }
    }
}
