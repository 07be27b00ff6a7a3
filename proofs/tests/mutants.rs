//! Mutation check (issue 6): each harness fails when the spec rule it checks is broken. Each test switches one deliberately broken rule on (spec/src/mutants.rs) and runs
//! the harness through the shim: it must end in a failing path (an assertion), not merely in
//! a vacuous cover or an exhausted budget.

#![cfg(not(kani))]

use kani::shim::{Harness, Outcome, check};
use proofs::{
    async_callbacks, kfunc_args, kfunc_sets, kptr, map_uid, messages, refcount, stack_depth, step,
    uref,
};
use spec::mutants::{self, Mutant};

/// Run `harness` with `mutant` on: it must fail on a path, with `message` in its panic.
fn caught(mutant: Mutant, harness: &Harness, message: &str) {
    let report = mutants::with(mutant, || check(harness));
    let Outcome::Failed {
        message: m,
        choices,
    } = &report.outcome
    else {
        panic!("{mutant:?} is not caught by {}: {report}", harness.name);
    };
    assert!(
        m.contains(message),
        "{mutant:?}: expected `{message}`, got: {m}"
    );
    println!(
        "mutant {mutant:?} caught by {} after {} paths, on a path of {} choices: {}",
        harness.name,
        report.paths_checked,
        choices.len(),
        m.lines().nth(1).unwrap_or(m)
    );
}

#[test]
fn a_kept_swap_reference_breaks_every_eras_step_invariants() {
    for harness in [
        &step::verify_step_preserves_invariants_5_15::HARNESS,
        &step::verify_step_preserves_invariants_6_1::HARNESS,
        &step::verify_step_preserves_invariants_6_12::HARNESS,
        &step::verify_step_preserves_invariants_6_18::HARNESS,
        &step::verify_step_preserves_invariants_7_0::HARNESS,
        &step::verify_step_preserves_invariants_7_2::HARNESS,
    ] {
        caught(
            Mutant::SetCallbackKeepsPreviousRef,
            harness,
            "INV-PROG-REFCNT",
        );
    }
}

#[test]
fn a_kept_swap_reference_is_caught() {
    caught(
        Mutant::SetCallbackKeepsPreviousRef,
        &refcount::verify_async_set_callback_swap_moves_one_reference::HARNESS,
        "refcnt",
    );
}

#[test]
fn a_cancel_keeping_its_reference_is_caught() {
    caught(
        Mutant::TimerCancelKeepsProgRef,
        &refcount::verify_timer_cancel_drops_the_callback_reference::HARNESS,
        "refcnt",
    );
}

#[test]
fn a_cancel_and_free_keeping_its_reference_is_caught() {
    caught(
        Mutant::CancelAndFreeKeepsProgRef,
        &refcount::verify_timer_cancel_and_free_drops_each_freed_reference::HARNESS,
        "refcnt",
    );
}

#[test]
fn a_wq_free_keeping_its_reference_is_caught_at_the_uref_drop() {
    caught(
        Mutant::WqCancelAndFreeKeepsProgRef,
        &refcount::verify_map_put_with_uref_drops_every_async_reference::HARNESS,
        "refcnt",
    );
}

#[test]
fn a_leaked_timer_reference_is_caught_in_the_free_cascade() {
    caught(
        Mutant::CancelAndFreeKeepsProgRef,
        &refcount::verify_free_map_conserves_prog_refcnt::HARNESS,
        "refcnt",
    );
}

#[test]
fn async_objects_surviving_the_uref_drop_are_caught() {
    caught(
        Mutant::UrefDropKeepsAsyncObjects,
        &uref::verify_map_put_with_uref_leaves_no_async_object::HARNESS,
        "usercnt 0 holds no async object",
    );
}

#[test]
fn the_pre_fix_init_order_is_caught() {
    caught(
        Mutant::AsyncInitIgnoresUsercnt,
        &uref::verify_async_init_refused_after_uref_drop::HARNESS,
        "usercnt 0",
    );
}

#[test]
fn kptrs_freed_by_the_uref_drop_are_caught() {
    caught(
        Mutant::UrefDropReleasesKptrs,
        &kptr::verify_map_put_with_uref_keeps_kptrs::HARNESS,
        "survives the uref drop",
    );
}

#[test]
fn a_kptr_kept_by_a_freed_element_is_caught() {
    caught(
        Mutant::ElementFreeKeepsKptr,
        &kptr::verify_free_fields_releases_kptr_once::HARNESS,
        "kptr",
    );
}

#[test]
fn kptrs_dropped_unreleased_by_map_free_are_caught() {
    caught(
        Mutant::MapFreeDropsKptrsUnreleased,
        &kptr::verify_free_map_releases_kptrs_once::HARNESS,
        "released once each",
    );
}

#[test]
fn a_stack_check_without_the_callers_frames_is_caught() {
    caught(
        Mutant::StackDepthOmitsCallers,
        &stack_depth::verify_check_max_stack_depth_matches_recursive_definition::HARNESS,
        "stack of",
    );
}

#[test]
fn a_nine_frame_call_chain_is_caught() {
    caught(
        Mutant::CallChainAllowsNineFrames,
        &stack_depth::verify_check_max_stack_depth_call_chain_limit::HARNESS,
        "a chain of 9 frames",
    );
}

#[test]
fn an_async_callback_counted_in_its_caller_is_caught() {
    caught(
        Mutant::AsyncCallbackCountsInCaller,
        &stack_depth::verify_check_max_stack_depth_async_callback_is_own_root::HARNESS,
        "left == right",
    );
}

#[test]
fn a_timer_map_check_without_map_uid_is_caught() {
    caught(
        Mutant::TimerInitIgnoresMapUid,
        &map_uid::verify_check_func_arg_timer_map_uid::HARNESS,
        "left == right",
    );
}

#[test]
fn an_impl_kfunc_without_its_hidden_argument_is_caught() {
    caught(
        Mutant::WqImplWithoutHiddenArg,
        &kfunc_args::verify_kfunc_args_implicit_pairs_are_a_bijection::HARNESS,
        "hidden argument",
    );
}

#[test]
fn a_shadowed_message_table_entry_is_caught() {
    caught(
        Mutant::MessageTableGeneralEntryFirst,
        &messages::verify_classify_case_each_entry_is_its_reason::HARNESS,
        "or_null",
    );
}

#[test]
fn a_task_work_callback_on_the_fields_map_is_caught() {
    caught(
        Mutant::TaskWorkCallbackGetsFieldMap,
        &async_callbacks::verify_push_async_cb_entry_registers::HARNESS,
        "TaskWork callback, LoadTimer, map m1",
    );
}

#[test]
fn a_task_work_callback_held_to_return_zero_is_caught() {
    caught(
        Mutant::AsyncReturnRangeIgnoresKind,
        &async_callbacks::verify_async_return_range_per_kind::HARNESS,
        "TaskWork callback returning",
    );
}

#[test]
fn a_sleepable_timer_callback_is_caught() {
    caught(
        Mutant::TimerCallbackSleepable,
        &async_callbacks::verify_async_cb_sleepable_per_kind::HARNESS,
        "Timer callback",
    );
}

#[test]
fn task_kfuncs_in_every_program_type_are_caught() {
    caught(
        Mutant::GenericKfuncSetForEveryProgType,
        &kfunc_sets::verify_kfunc_allowed_per_prog_type::HARNESS,
        "right: Reject(KfuncNotAllowed",
    );
}

#[test]
fn a_hidden_argument_read_as_visible_is_caught() {
    caught(
        Mutant::ImplHiddenArgRead,
        &kfunc_args::verify_kfunc_args_hidden_arg_never_read::HARNESS,
        "unset: Some(4)",
    );
}

#[test]
fn async_callbacks_counted_in_their_registrar_are_caught_in_any_call_graph() {
    caught(
        Mutant::AsyncCallbackCountsInCaller,
        &stack_depth::verify_check_max_stack_depth_async_roots_match_recursive_definition::HARNESS,
        "stack of",
    );
}
