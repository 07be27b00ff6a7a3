//! # Freeing an idle `bpf_wq` waits for grace periods forever
//!
//! Fix: "bpf: Check for running wq callback when freeing bpf_async_cb", 81502d7f20bf,
//! 2026-02-04 (Kumar Kartikeya Dwivedi; merge 75cd3beb64d0 "fix-for-bpf_wq-retry-loop-
//! during-free"). Affected: the lock-free design from 1bfbc267ec91 (bpf-next, Feb 2026)
//! until the fix, before any release.
//!
//! When the last reference of a `bpf_async_cb` goes, its free waits an RCU Tasks Trace
//! grace period and then cancels once more, because a start holding a temporary reference
//! may have queued the work after cancel_and_free's cancel. For a wq the callback took
//! "`cancel_work()` returned false" to mean "the work item is running: wait another grace
//! period". But `cancel_work()` also returns false for a work item that is not pending at
//! all: never scheduled, or already finished. Such a wq (here: user space deletes the
//! element while CPU0's `bpf_wq_start` and the kworker's run of the work race with it, in
//! every order that leaves the item idle at the re-check) re-queues its free forever: the
//! memory and, before 5000a097f82c, the prog reference leak. The fix waits again only if
//! `work_busy()` says the item is pending or running.
//!
//! The model bounds the loop: a free that waits more than three grace periods in a row is
//! reported as INV-unbounded (the fixed design waits again only while the work function
//! runs, which after the refcount reached zero happens at most once).

use super::{Race, Variant, errno_name};
use crate::kernel::lockfree::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, CbId, Design, Event, Invariant, MapId, ProgId, SlotId};

const MAP: MapId = MapId(0);
const W: SlotId = SlotId(0);

pub static RACE: Race = Race {
    name: "wq_free_retry_loop",
    fix: "bpf: Check for running wq callback when freeing bpf_async_cb",
    commit: "81502d7f20bf",
    date: "2026-02-04",
    affected: "the lock-free design from 1bfbc267ec91 (bpf-next, Feb 2026)",
    invariant: Invariant::Unbounded,
    abstracts: "\"forever\" is more than three grace periods in a row, a grace period ends at \
                the next read-side unlock after its readers left (or when time passes at the \
                end), and the work function's end is one step with its tasks-trace unlock",
    scenario,
    outcome,
    window: &[
        "start: 0 / work: ran",
        "start: 0 / work: not run",
        "start: -ENOENT / work: not run",
    ],
    pct_depth: 2,
};

fn scenario(v: Variant) -> Scenario {
    let fixes = Fixes::side(Fix::WorkBusy, v);
    Scenario {
        design: Design::LockFree(fixes),
        preempt_rt: false,
        maps: vec![MapDecl::new("wq_map", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![ProgDecl::new("wq_prog", MAP, vec![])],
        setup: vec![Action::Run(
            ProgId(0),
            vec![Call::WqInit(W, MAP), Call::WqSetCallback(W)],
        )],
        cpus: vec![
            vec![Action::Run(ProgId(0), vec![Call::WqStart(W)])],
            vec![Action::UserDelete(W)],
            vec![Action::WqWork(CbId(0))],
        ],
        kworker: false,
    }
}

/// The start's result, and whether the kworker on CPU2 ran the work item.
fn outcome(h: &[Event]) -> String {
    let start = h
        .iter()
        .find(|e| e.cpu == 0)
        .map_or("?".into(), |e| errno_name(e.rets[0]));
    let work = match h.iter().find(|e| e.cpu == 2) {
        Some(e) if e.fired == Some(true) => "ran",
        _ => "not run",
    };
    format!("start: {start} / work: {work}")
}

crate::race_tests!(
    RACE,
    finds_wq_free_retry_loop,
    wq_free_retry_loop_fixed_holds
);
