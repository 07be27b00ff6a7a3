//! # `bpf_timer_start` arms a timer that `map_delete_elem` is freeing
//!
//! Fix: part of "bpf: Enable bpf_timer and bpf_wq in any context", 1bfbc267ec91, 2026-02-01
//! (Alexei Starovoitov, co-developed by Mykyta Yatsenko), the final (v9) revision of the
//! "Avoid locks in bpf_timer and bpf_wq" series; the race is the one its selftest
//! "selftests/bpf: Add a test to stress bpf_timer_start and map_delete race" (b135beb07758)
//! stresses. Affected: earlier revisions of the series on the list (Jan 2026); no release.
//!
//! Without the element's lock, nothing orders a start against the element's free. CPU0's
//! `bpf_timer_start` has read the timer pointer and its prog and is about to call
//! `hrtimer_start`. CPU1's `map_delete_elem` runs `bpf_async_cancel_and_free`: it detaches
//! the timer, `hrtimer_try_to_cancel` finds nothing queued, and dropping the map's
//! reference takes the refcount to zero, which queues the free behind an RCU Tasks Trace
//! grace period. CPU0 then arms the hrtimer. Once both programs have left their read-side
//! sections the memory is freed with the hrtimer queued (or its callback running): the
//! expiry runs on freed memory. The fix makes the start hold a temporary reference
//! (`refcount_inc_not_zero`, -ENOENT once the count is zero) until it has armed, so the
//! count reaches zero only after the arm; and the tasks-trace free callback cancels once
//! more, waiting another grace period while the callback runs. The buggy variant is the
//! merged design without both (the code of the earlier revisions, whose start went through
//! a `bpf_async_process()`, was not retrieved: the variant follows the selftest's account).

use super::{Race, Variant, rets_of};
use crate::kernel::lockfree::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, CbId, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const T: SlotId = SlotId(0);

pub static RACE: Race = Race {
    name: "start_vs_map_delete_uaf",
    fix: "bpf: Enable bpf_timer and bpf_wq in any context (refcount held by bpf_timer_start)",
    commit: "1bfbc267ec91",
    date: "2026-02-01",
    affected: "pre-merge revisions of the lock-free series (Jan 2026)",
    invariant: Invariant::FreedWhileArmed,
    abstracts: "the tasks-trace grace period ends as soon as the programs that were running \
                at the call have left their sections (at the next read-side unlock), and the \
                expiry is an action CPU2 takes whenever the hrtimer is queued",
    scenario,
    outcome,
    window: &[
        "start: 0 / expiry: fired after the delete",
        "start: -ENOENT / expiry: not fired",
    ],
    pct_depth: 3,
};

fn scenario(v: Variant) -> Scenario {
    let fixes = Fixes::side(Fix::StartRef, v);
    // The selftest's two SEC("syscall") programs: sleepable, in tasks-trace sections.
    let prog = |name| ProgDecl::new(name, MAP, vec![]);
    Scenario {
        design: Design::LockFree(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("timer_map", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![prog("start_timer"), prog("delete_elem")],
        setup: vec![Action::RunSleepable(
            ProgId(0),
            vec![Call::Init(T, MAP), Call::SetCallback(T)],
        )],
        cpus: vec![
            vec![Action::RunSleepable(ProgId(0), vec![Call::Start(T)])],
            vec![Action::RunSleepable(ProgId(1), vec![Call::Delete(T)])],
            vec![Action::Fire(CbId(0))],
        ],
        kworker: false,
    }
}

/// The start's result, and whether the timer expired after the delete had returned (it
/// was armed after the delete's cancel: the racy window).
fn outcome(h: &[Event]) -> String {
    let deleted = h.iter().find(|e| e.cpu == 1).map(|e| e.returned);
    let expiry = match h.iter().find(|e| e.cpu == 2) {
        Some(e) if e.fired == Some(true) && deleted.is_some_and(|d| e.invoked > d) => {
            "fired after the delete"
        }
        Some(e) if e.fired == Some(true) => "fired",
        _ => "not fired",
    };
    format!("start: {} / expiry: {expiry}", rets_of(h, 0))
}

crate::race_tests!(
    RACE,
    finds_start_vs_map_delete_uaf,
    start_vs_map_delete_uaf_fixed_holds
);
