//! # PREEMPT_RT: overwriting an element waits for its timer's callback under a raw lock
//!
//! Fix: "bpf: Cancel the running bpf_timer through kworker for PREEMPT_RT", 58f038e6d209,
//! merged 2025-01-20 (Hou Tao; reported by Sebastian Andrzej Siewior), in the series
//! "free-htab-element-out-of-bucket-lock". Affected: PREEMPT_RT kernels (in mainline since
//! v6.12, earlier with the RT patch set) up to v6.13, fixed in v6.14.
//!
//! User space overwrites (BPF_MAP_UPDATE_ELEM) an element of a preallocated hash map while
//! the element's timer callback runs on another CPU. The update frees the old value's
//! special fields while it holds the bucket's raw spin lock, so `bpf_timer_cancel_and_free`
//! runs in atomic context, and its `hrtimer_cancel` must wait for the running callback: on
//! PREEMPT_RT that wait (`hrtimer_cancel_wait_running`) takes the timer base's
//! `softirq_expiry_lock`, a sleeping lock: "BUG: scheduling while atomic".
//!
//! The fix: on PREEMPT_RT, cancel_and_free calls `hrtimer_try_to_cancel`, which never
//! waits; if it returns -1 (the callback runs), the timer's `delete_work` goes to a kworker,
//! which waits for the callback outside any atomic context and then frees the timer.

use super::{Race, Variant, rets_of};
use crate::kernel::locked::{Fix, Fixes};
use crate::kernel::scenario::{MapDecl, ProgDecl, Scenario, SlotDecl};
use crate::kernel::{Action, Call, CbId, Design, Event, Invariant, MapId, ProgId, SlotId, Work};

const MAP: MapId = MapId(0);
const T0: SlotId = SlotId(0);

pub static RACE: Race = Race {
    name: "rt_cancel_under_raw_lock",
    fix: "bpf: Cancel the running bpf_timer through kworker for PREEMPT_RT",
    commit: "58f038e6d209",
    date: "2025-01-20",
    affected: "PREEMPT_RT kernels up to v6.13 (mainline RT since v6.12)",
    invariant: Invariant::SleepInAtomic,
    abstracts: "the bucket's raw spin lock is a per-CPU atomic-context count, and any wait \
                for a running callback under it stands for taking the sleeping \
                softirq_expiry_lock",
    scenario,
    outcome,
    // The update met the running callback: try_to_cancel returned -1 and the kworker freed.
    window: &["cb: fired / update: 0 / timer freed by the kworker"],
    pct_depth: 3,
};

fn scenario(v: Variant) -> Scenario {
    let fixes = Fixes::side(Fix::RtTryToCancel, v);
    Scenario {
        design: Design::Locked(fixes),
        preempt_rt: true,
        maps: vec![MapDecl::new("prealloc_htab", 1)],
        slots: vec![SlotDecl::of(MAP)],
        progs: vec![ProgDecl::new("arms_t0", MAP, vec![])],
        setup: vec![Action::Run(ProgId(0), Call::arm(T0, MAP))],
        cpus: vec![vec![Action::Fire(CbId(0))], vec![Action::UserUpdate(T0)]],
        kworker: true,
    }
}

fn outcome(h: &[Event]) -> String {
    let fired = if rets_of(h, 0) == "not fired" {
        "not fired"
    } else {
        "fired"
    };
    let deferred = h
        .iter()
        .any(|e| matches!(e.action, Action::Work(Work::TimerDelete(_))));
    format!(
        "cb: {fired} / update: {} / timer freed {}",
        rets_of(h, 1),
        if deferred { "by the kworker" } else { "inline" }
    )
}

crate::race_tests!(
    RACE,
    finds_rt_cancel_under_raw_lock,
    rt_cancel_under_raw_lock_fixed_holds
);
