//! Referenced kptrs (since 5.19): they survive the uref drop, and each stored object is released
//! exactly once when its element goes — update, delete, LRU eviction — or the map is freed
//! (7.2: not by an array update in place).
//!
//! Bound: every era whose `kptr` field is a referenced kptr (6.12 on: the tag names the
//! referenced kind since v6.4, `Field::is_referenced_kptr`), every `Shape`, the kptr-storing
//! program (and a timer program for the uref drop); the worlds `PREFIX` ops from
//! `Universe::world`.

use spec::world::Life;
use spec::{Field, Outcome, World};

use crate::ledger::{kptr_cells, linked, urefs_dropped};
use crate::universe::{Act, Prog, Shape, Universe, any_era};

/// Ops before the transition under test.
const PREFIX: usize = 4;

fn kptr_universe(progs: &'static [Prog]) -> Universe {
    Universe {
        era: any_era(|f| Field::Kptr.is_referenced_kptr(f)),
        shape: kani::any(),
        progs,
    }
}

/// Cells that held a kptr in `before` and hold none in `after`: the objects released.
fn released(before: &World, after: &World) -> u64 {
    kptr_cells(before)
        .into_iter()
        .filter(|&e| !after.elems[e].kptr)
        .count() as u64
}

/// No unlinked cell holds a kptr (its object would leak).
fn assert_no_leaked_kptr(w: &World) {
    kani::assert(
        w.elems.iter().all(|e| e.linked || !e.kptr),
        "no element that left its map still holds a kptr",
    );
}

/// arraymap.c / hashtab.c `*_map_free_internal_structs`, run by `map_release_uref` (6.1 on):
/// the uref drop frees timers, wq and task_work only; every kptr stays where it is.
#[kani::proof]
#[kani::unwind(15)] // the longest loop: any_of over the universe's ≤ 14 acts
pub fn verify_map_put_with_uref_keeps_kptrs() {
    const PROGS: [Prog; 2] = [Prog::StoreKptr, Prog::ArmTimer];
    let u = kptr_universe(&PROGS);
    let mut w = u.any_world(PREFIX);
    let act = u.any_act(|a| matches!(a, Act::CloseMap | Act::UnpinMap));
    let before = w.clone();
    u.take(&mut w, act);
    if before.maps[0].usercnt > 0 && urefs_dropped(&w) {
        kani::assert(
            kptr_cells(&w) == kptr_cells(&before),
            "every kptr survives the uref drop",
        );
        kani::assert(
            w.kptr_objects == before.kptr_objects,
            "no object is released",
        );
        let timer = before.elems.iter().any(|e| e.timer.is_some());
        kani::cover!(
            w.kptr_objects > 0 && timer,
            "the uref drop freed a timer beside a kptr"
        );
    }
}

/// `bpf_obj_free_fields` on the old value (6.1 on): an element update (array: in place;
/// hash: the old element replaced), delete or LRU eviction releases its kptr's object
/// exactly once, and leaves none in an element that left the map nor in the value the
/// update wrote; except that 7.2 keeps the kptr of an array element updated in place
/// (`Features::element_free_keeps_kptr`, observed on 7.2.13).
#[kani::proof]
#[kani::unwind(12)] // the longest loop: any_of over the universe's ≤ 11 acts
pub fn verify_free_fields_releases_kptr_once() {
    const PROGS: [Prog; 1] = [Prog::StoreKptr];
    let u = kptr_universe(&PROGS);
    let mut w = u.any_world(PREFIX);
    let act = u.any_act(|a| matches!(a, Act::Update(_) | Act::Delete(_)));
    let before = w.clone();
    let out = u.take(&mut w, act);
    let gone = released(&before, &w);
    kani::assert(
        w.kptr_objects + gone == before.kptr_objects,
        "each released object once",
    );
    assert_no_leaked_kptr(&w);
    if let (Act::Update(slot), Outcome::Ok) = (act, out)
        && let Some(e) = linked(&w, slot.key())
    {
        if w.kernel.features.element_free_keeps_kptr && u.shape == Shape::Array {
            let had = before.elems.get(e).is_some_and(|c| c.kptr);
            kani::assert(
                w.elems[e].kptr == had,
                "7.2: an array update keeps the kptr",
            );
            kani::cover!(had, "7.2: an array update kept a kptr in place");
        } else {
            kani::assert(!w.elems[e].kptr, "the updated value holds no kptr");
        }
    }
    let evicted = match act {
        Act::Update(s) => {
            u.shape == Shape::LruHash
                && linked(&before, s.other().key()).is_some_and(|e| !w.elems[e].linked)
        }
        _ => false,
    };
    kani::cover!(
        gone > 0 && matches!(act, Act::Delete(_)),
        "delete released a kptr"
    );
    kani::cover!(
        gone > 0 && matches!(act, Act::Update(_)) && u.shape == Shape::Array,
        "array update released a kptr in place"
    );
    kani::cover!(
        gone > 0 && matches!(act, Act::Update(_)) && u.shape == Shape::Hash,
        "hash update released the replaced kptr"
    );
    kani::cover!(gone > 0 && evicted, "LRU eviction released a kptr");
}

/// `bpf_map_free_deferred` → `map->ops->map_free` (6.1 on): when the map is freed (its last
/// fd, pin and program gone), every kptr it holds is released exactly once. Checked at every
/// step of `PREFIX` ops (the shortest free: store, close the map, close the program).
#[kani::proof]
#[kani::unwind(12)] // the longest loop: any_of over the universe's ≤ 11 acts
pub fn verify_free_map_releases_kptrs_once() {
    const PROGS: [Prog; 1] = [Prog::StoreKptr];
    let u = kptr_universe(&PROGS);
    let mut w = u.world();
    for _ in 0..PREFIX {
        let act = u.any_act(|_| true);
        let before = w.clone();
        u.take(&mut w, act);
        if before.maps[0].life == Life::Live && w.maps[0].life == Life::Freed {
            let held = kptr_cells(&before).len() as u64;
            kani::assert(
                w.kptr_objects + held == before.kptr_objects,
                "the map's kptrs released once each",
            );
            kani::assert(kptr_cells(&w).is_empty(), "a freed map holds no kptr");
            kani::cover!(held > 0, "a map freed with a kptr stored");
        }
    }
}
