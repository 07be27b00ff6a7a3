//! # A tracing program under the hrtimer base lock starts its timer: the CPU spins on itself
//!
//! Fix: "bpf: Tighten conditions when timer/wq can be called synchronously", 7d49635e3775
//! (Alexei Starovoitov; the first patch of the series merged 2026-02-04 as 4af526698b15
//! with the selftest `timer_start_deadlock`; its date is inferred from the series, posted
//! after the lock-free merge of 2026-02-03). Affected: the lock-free design from 1bfbc267ec91 (bpf-next,
//! Feb 2026), before any release.
//!
//! The lock-free design lets tracing programs use timers, and defers a start or cancel to
//! the cb's irq_work only in hardirq (`in_hardirq()`). A tracepoint inside the hrtimer code
//! runs with the clock base's raw lock held and IRQs off, but not in hardirq. CPU0 starts
//! the timer; inside that `hrtimer_start` the tracepoint runs a program that starts the same
//! timer. Not being in hardirq, the start calls `hrtimer_start` directly, which spins on the
//! base lock CPU0 already holds: a self-deadlock (CPU1 meanwhile lets the timer expire).
//! The fix defers whenever IRQs are off too (`defer_timer_wq_op()` = in hardirq or IRQs
//! disabled): the nested start queues a command and returns 0, and the irq_work arms the
//! timer once the lock is released (its own nested start then gets -EDEADLK from the
//! recursion check, 64873307e888). The selftest attaches to `tp_btf/hrtimer_cancel`, which
//! `hrtimer_start` hits when it re-queues an armed timer; the model has one tracepoint
//! inside `hrtimer_start`.

use super::tracepoint_recursion::{outcome, tracepoint_scenario};
use super::{Race, Variant};
use crate::kernel::Invariant;
use crate::kernel::lockfree::{Fix, Fixes};
use crate::kernel::scenario::Scenario;

pub static RACE: Race = Race {
    name: "irqs_off_deadlock",
    fix: "bpf: Tighten conditions when timer/wq can be called synchronously",
    commit: "7d49635e3775",
    date: "2026-02-03",
    affected: "the lock-free design from 1bfbc267ec91 (bpf-next, Feb 2026)",
    invariant: Invariant::Deadlock,
    abstracts: "the clock base's raw lock is modelled per timer and only hrtimer_start takes \
                it (the expiry on CPU1 does not wait for it), and the tracepoint is one hook \
                inside hrtimer_start",
    scenario,
    outcome,
    window: &["tracepoint prog: 0, -EDEADLK / expiry: fired"],
    pct_depth: 1,
};

fn scenario(v: Variant) -> Scenario {
    tracepoint_scenario(Fixes::side(Fix::IrqsOff, v))
}

crate::race_tests!(RACE, finds_irqs_off_deadlock, irqs_off_deadlock_fixed_holds);
