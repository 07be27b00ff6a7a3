//! The uref rule: once a map's usercnt reaches 0 (its last fd closed and its pin gone), no timer,
//! wq or task_work exists in it, and none can be created. This is what breaks the timer → program →
//! map reference cycle: nothing would ever free an object created later.
//!
//! Bound: every era, every `Shape`, a timer, a wq and a task_work program; the worlds `DEPTH` ops
//! from `Universe::world`.

use spec::{Errno, Outcome, Ret};

use crate::ledger::{map_holds_async, urefs_dropped};
use crate::universe::{Act, Prog, Universe, any_era};

/// One program per async kind: timer, wq (since 6.10), task_work (since 6.18).
const ASYNC_PROGS: [Prog; 3] = [Prog::ArmTimer, Prog::ArmWq, Prog::ScheduleTaskWork];

/// Ops from the setup.
const DEPTH: usize = 4;

fn async_universe() -> Universe {
    Universe {
        era: any_era(|_| true),
        shape: kani::any(),
        progs: &ASYNC_PROGS,
    }
}

/// syscall.c `bpf_map_put_with_uref` → `map_release_uref` (arraymap.c / hashtab.c
/// `*_map_free_internal_structs`, all eras): after every op, a map with usercnt 0 holds no
/// async object — the op that dropped the last uref freed them all.
#[kani::proof]
#[kani::unwind(18)] // the longest loop: any_of over the universe's ≤ 17 acts
pub fn verify_map_put_with_uref_leaves_no_async_object() {
    let u = async_universe();
    let mut w = u.world();
    for _ in 0..DEPTH {
        let act = u.any_act(|_| true);
        let held_async = map_holds_async(&w);
        let had_urefs = w.maps[0].usercnt > 0;
        let held_wq = w.elems.iter().any(|e| e.wq.is_some());
        u.take(&mut w, act);
        if urefs_dropped(&w) {
            kani::assert(
                !map_holds_async(&w),
                "a map with usercnt 0 holds no async object",
            );
            kani::cover!(
                had_urefs && held_async,
                "the last uref went while an async object lived"
            );
            if w.kernel.features.wq {
                kani::cover!(had_urefs && held_wq, "the last uref freed a wq");
            }
        }
    }
}

/// helpers.c `__bpf_async_init` (timer: all eras; wq: since 6.10) and
/// `bpf_task_work_schedule_*` (since 6.18): on a map whose usercnt is 0, `bpf_timer_init`
/// and `bpf_wq_init` are -EPERM and the task_work schedule -EBUSY, and no object is left.
/// The pre-fix order (the usercnt check before the timer is published, fd381ce60a2d) breaks
/// this: see `AsyncInitIgnoresUsercnt` in spec/src/mutants.rs.
#[kani::proof]
#[kani::unwind(18)] // the longest loop: any_of over the universe's ≤ 17 acts
pub fn verify_async_init_refused_after_uref_drop() {
    let u = async_universe();
    let mut w = u.any_world(DEPTH - 1);
    kani::assume(urefs_dropped(&w));
    let act = u.any_act(|a| matches!(a, Act::Run(..)));
    let Act::Run(p, _) = act else {
        unreachable!("a run was chosen")
    };
    let out = u.take(&mut w, act);
    kani::assert(
        !map_holds_async(&w),
        "nothing is created in a map with usercnt 0",
    );
    let Outcome::Ran { rets, .. } = out else {
        return;
    };
    let expected = match p {
        Prog::ScheduleTaskWork => Errno::EBUSY,
        _ => Errno::EPERM,
    };
    kani::assert(
        rets[0] == Ret::err(expected) || rets[0] == Ret::NoElem,
        "init is -EPERM (task_work: -EBUSY) once usercnt is 0",
    );
    let refused = rets[0] == Ret::err(expected);
    kani::cover!(
        refused && p == Prog::ArmTimer,
        "bpf_timer_init refused with -EPERM"
    );
    if w.kernel.features.wq {
        kani::cover!(
            refused && p == Prog::ArmWq,
            "bpf_wq_init refused with -EPERM"
        );
    }
    if w.kernel.features.task_work {
        kani::cover!(
            refused && p == Prog::ScheduleTaskWork,
            "task_work refused with -EBUSY"
        );
    }
}
