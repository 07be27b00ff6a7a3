//! The race catalogue: one module per race of the bpf_timer / bpf_async patch history
//! (`kernel-async.md` §3), each with the design that had the bug and the design that fixed
//! it, selected by a named [`Fix`](crate::kernel::locked::Fix).
//!
//! A module's file is named `<year>_<what>.rs`; its `//!` header gives the commit, date,
//! affected versions and the mechanism, and it declares one [`Race`]: the scenario (objects,
//! what each CPU does), the invariant the bug breaks, and the litmus outcomes that prove the
//! fixed design's executions entered the racy window. [`race_tests!`] gives each module its
//! `finds_<bug>` and `<bug>_fixed_holds` tests.

use crate::kernel::{Event, Invariant, scenario::Scenario};

#[path = "2021_callback_frees_own_element.rs"]
pub mod callback_frees_own_element;
#[path = "2024_cancel_vs_cancel_and_free_uaf.rs"]
pub mod cancel_vs_cancel_and_free_uaf;
#[path = "2023_init_vs_uref_drop.rs"]
pub mod init_vs_uref_drop;
#[path = "2021_inner_map_hidden_map_ptr.rs"]
pub mod inner_map_hidden_map_ptr;
#[path = "2026_irqs_off_deadlock.rs"]
pub mod irqs_off_deadlock;
#[path = "2021_lock_held_across_cancel.rs"]
pub mod lock_held_across_cancel;
#[path = "2024_mutual_cancel_lockup.rs"]
pub mod mutual_cancel_lockup;
#[path = "2024_mutual_free_from_callbacks.rs"]
pub mod mutual_free_from_callbacks;
#[path = "2021_parallel_ops_without_lock.rs"]
pub mod parallel_ops_without_lock;
#[path = "2021_prog_ref_per_start.rs"]
pub mod prog_ref_per_start;
#[path = "2024_rearm_then_free_own_element.rs"]
pub mod rearm_then_free_own_element;
#[path = "2025_rt_cancel_under_raw_lock.rs"]
pub mod rt_cancel_under_raw_lock;
#[path = "2026_start_vs_map_delete_uaf.rs"]
pub mod start_vs_map_delete_uaf;
#[path = "2021_timer_leak_on_free.rs"]
pub mod timer_leak_on_free;
#[path = "2026_tracepoint_recursion.rs"]
pub mod tracepoint_recursion;
#[path = "2021_uref_leak_pinned_prog.rs"]
pub mod uref_leak_pinned_prog;
#[path = "2026_wq_free_retry_loop.rs"]
pub mod wq_free_retry_loop;

pub use crate::kernel::Variant;

/// One race of the history.
pub struct Race {
    /// Short name (the module's), as `bpfspec races NAME` takes it.
    pub name: &'static str,
    /// The fix's subject line.
    pub fix: &'static str,
    pub commit: &'static str,
    pub date: &'static str,
    /// Kernel versions with the bug.
    pub affected: &'static str,
    /// The invariant the buggy design breaks.
    pub invariant: Invariant,
    /// One sentence: what the model abstracts away.
    pub abstracts: &'static str,
    pub scenario: fn(Variant) -> Scenario,
    /// A label for an execution's result (its helper return values, what fired).
    pub outcome: fn(&[Event]) -> String,
    /// Outcomes the fixed design must reach: its executions entered the racy window, so
    /// "no violation" is not vacuous.
    pub window: &'static [&'static str],
    /// PCT depth: the number of ordering constraints the bug needs.
    pub pct_depth: usize,
}

/// Every race, oldest fix first (`bpfspec races` prints them in this order).
pub const ALL: &[&Race] = &[
    &callback_frees_own_element::RACE,
    &timer_leak_on_free::RACE,
    &parallel_ops_without_lock::RACE,
    &prog_ref_per_start::RACE,
    &uref_leak_pinned_prog::RACE,
    &inner_map_hidden_map_ptr::RACE,
    &lock_held_across_cancel::RACE,
    &init_vs_uref_drop::RACE,
    &cancel_vs_cancel_and_free_uaf::RACE,
    &mutual_cancel_lockup::RACE,
    &mutual_free_from_callbacks::RACE,
    &rearm_then_free_own_element::RACE,
    &rt_cancel_under_raw_lock::RACE,
    &start_vs_map_delete_uaf::RACE,
    &irqs_off_deadlock::RACE,
    &tracepoint_recursion::RACE,
    &wq_free_retry_loop::RACE,
];

pub fn by_name(name: &str) -> Option<&'static Race> {
    ALL.iter().copied().find(|r| r.name == name)
}

/// The bounds the catalogue is checked at.
pub mod bounds {
    /// loom's preemption bound for clearing a fixed design (and finding a bug).
    pub const LOOM_PREEMPTIONS: usize = 2;
    /// shuttle PCT iterations for clearing a fixed design (and the budget to find a bug).
    pub const PCT_ITERATIONS: usize = 1_000;
}

/// A helper result as the kernel names it.
pub fn errno_name(ret: i64) -> String {
    match ret {
        0 => "0".into(),
        1 => "1".into(),
        -1 => "-EPERM".into(),
        -2 => "-ENOENT".into(),
        -16 => "-EBUSY".into(),
        -22 => "-EINVAL".into(),
        -35 => "-EDEADLK".into(),
        r => r.to_string(),
    }
}

/// When the first action of `cpu` ran relative to the first action of `other`, by their kernel
/// steps: "before", "after" or "during" it.
pub fn timing(h: &[Event], cpu: usize, other: usize) -> &'static str {
    let on = |c| {
        h.iter()
            .find(|e| e.cpu == c)
            .expect("each CPU ran an action")
    };
    let (a, b) = (on(cpu), on(other));
    if a.returned < b.invoked {
        "before"
    } else if a.invoked > b.returned {
        "after"
    } else {
        "during"
    }
}

/// The helper results of the event at `cpu` (its first action), "-" when it made no call.
pub fn rets_of(h: &[Event], cpu: usize) -> String {
    match h.iter().find(|e| e.cpu == cpu) {
        Some(e) if e.fired == Some(false) => "not fired".into(),
        Some(e) if e.rets.is_empty() => "-".into(),
        Some(e) => e
            .rets
            .iter()
            .map(|&r| errno_name(r))
            .collect::<Vec<_>>()
            .join(","),
        None => "?".into(),
    }
}

/// `finds_<bug>` and `<bug>_fixed_holds` for a module's [`Race`].
#[macro_export]
macro_rules! race_tests {
    ($race:ident, $finds:ident, $holds:ident) => {
        #[cfg(test)]
        mod tests {
            #[test]
            fn $finds() {
                $crate::races::testing::finds(&super::$race);
            }
            #[test]
            fn $holds() {
                $crate::races::testing::holds(&super::$race);
            }
        }
    };
}

/// The tests every race module has.
#[cfg(test)]
pub mod testing {
    use super::{Race, Variant, bounds};
    use crate::check;

    /// loom and shuttle PCT each report the bug, on the race's own invariant.
    pub fn finds(race: &Race) {
        let sc = || (race.scenario)(Variant::Buggy);
        let l = check::loom(race, sc(), bounds::LOOM_PREEMPTIONS, None);
        assert!(
            l.found(race.invariant),
            "loom did not find {} in {} executions: {:?}",
            race.invariant,
            l.executions,
            l.failure.map(|f| f.message)
        );
        let s = check::shuttle_pct(race, sc(), bounds::PCT_ITERATIONS, race.pct_depth, 0);
        assert!(
            s.found(race.invariant),
            "shuttle PCT did not find {} in {} iterations: {:?}",
            race.invariant,
            s.executions,
            s.failure.map(|f| f.message)
        );
    }

    /// loom at the bound and shuttle PCT find nothing, and both reach the racy window.
    pub fn holds(race: &Race) {
        let sc = || (race.scenario)(Variant::Fixed);
        let l = check::loom(race, sc(), bounds::LOOM_PREEMPTIONS, None);
        if let Some(f) = &l.failure {
            panic!("loom broke the fixed design:\n{}", f.message);
        }
        let s = check::shuttle_pct(race, sc(), bounds::PCT_ITERATIONS, race.pct_depth, 0);
        if let Some(f) = &s.failure {
            panic!("shuttle broke the fixed design:\n{}", f.message);
        }
        for w in race.window {
            assert!(
                l.outcomes.contains_key(*w),
                "loom never reached the window outcome {w:?}; outcomes: {:?}",
                l.outcomes
            );
        }
        // Against the spec: every history it can judge is explained or a documented
        // concurrent-only outcome, and some history is explained (not vacuous).
        for r in [&l, &s] {
            let lin = &r.lin;
            let example = lin.counterexample.as_deref().unwrap_or_default();
            assert_eq!(lin.not_linearizable, 0, "{:?}: {lin}\n{example}", r.tool);
            assert!(
                lin.unmappable_scenario.is_some() || lin.explained() > 0,
                "{:?}: no history of the fixed design is linearizable: {lin}",
                r.tool
            );
        }
    }
}
