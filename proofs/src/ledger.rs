//! What the harnesses count themselves, from the world's contents: who holds each program
//! and which elements hold kptrs. These are the proofs' reference definitions, written apart
//! from `World::check_invariants`, so that a broken spec rule cannot also break its check.

use spec::world::{Life, TaskWorkCtx};
use spec::{Key, ProgIdx, World};

use crate::universe::MAP;

/// The references on program `p` its holders account for: its user fds and pin, each timer
/// and wq slot whose callback it is, each of its pending task_works.
pub fn prog_holders(w: &World, p: ProgIdx) -> u64 {
    let slots = w
        .elems
        .iter()
        .flat_map(|e| [e.timer, e.wq])
        .flatten()
        .filter(|o| o.callback.is_some_and(|(q, _)| q == p))
        .count();
    let works = w
        .elems
        .iter()
        .filter(|e| matches!(e.task_work, Some(TaskWorkCtx::Pending(q, _)) if q == p))
        .count();
    w.prog(p).handles.count() + slots as u64 + works as u64
}

/// Program refcounts are conserved: a live program's refcnt is exactly what its holders
/// account for (so never 0), and a freed one is held by nothing.
pub fn assert_prog_refs_conserved(w: &World) {
    for i in 0..w.progs.len() {
        let p = ProgIdx(i as u8);
        let (prog, held) = (w.prog(p), prog_holders(w, p));
        match prog.life {
            Life::Live => kani::assert(
                prog.refcnt == held && held > 0,
                "a live program's refcnt is what its holders account for",
            ),
            Life::Freed | Life::Failed => kani::assert(
                prog.refcnt == 0 && held == 0,
                "a freed program has refcnt 0 and nothing holds it",
            ),
        }
    }
}

/// The element linked at `key` of the map, if any.
pub fn linked(w: &World, key: Key) -> Option<usize> {
    w.maps[usize::from(MAP.0)].elems.get(&key).copied()
}

/// The program refcnt of `p`.
pub fn refcnt(w: &World, p: ProgIdx) -> u64 {
    w.prog(p).refcnt
}

/// Whether any element of the map holds a timer, wq or task_work.
pub fn map_holds_async(w: &World) -> bool {
    w.maps[usize::from(MAP.0)]
        .elems
        .values()
        .any(|&e| w.elems[e].holds_async())
}

/// Whether the map lives with no user reference left (its programs keep it).
pub fn urefs_dropped(w: &World) -> bool {
    let map = &w.maps[usize::from(MAP.0)];
    map.life == Life::Live && map.usercnt == 0
}

/// The elements (by cell) holding a kptr.
pub fn kptr_cells(w: &World) -> Vec<usize> {
    (0..w.elems.len()).filter(|&e| w.elems[e].kptr).collect()
}
