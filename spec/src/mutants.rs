//! Mutation flags: deliberately broken spec rules, each switched on only inside a mutation
//! test, to show that a proof harness fails when the rule it checks is broken (issue 6).
//!
//! A rule reads `if mutants::active(Mutant::X) { ..broken.. }`. Without the `mutants` feature
//! [`active`] is a constant `false` and the branch compiles away; with it, `with` switches
//! one mutant on for the current thread while a closure runs (a harness body runs on one
//! thread).

/// A deliberately broken spec rule, switched on per thread only in mutation tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutant {
    // runtime mutants (proofs-core): each names the rule it breaks in spec/src/step/ and the
    // harness of proofs/ that must catch it.
    /// `__bpf_async_set_callback` swaps the callback without putting the previous program's
    /// reference (a leak: the old program is never freed). Caught by the swap harness.
    SetCallbackKeepsPreviousRef,
    /// `bpf_timer_cancel` drops the callback but not its program reference
    /// (`drop_prog_refcnt` skipped). Caught by the cancel harness.
    TimerCancelKeepsProgRef,
    /// `bpf_timer_cancel_and_free` frees the timer without putting its program reference.
    /// Caught by the cancel_and_free harness.
    CancelAndFreeKeepsProgRef,
    /// `bpf_wq_cancel_and_free` frees the wq without putting its program reference. Caught by
    /// the uref-drop refcount harness (the uref drop frees the wq).
    WqCancelAndFreeKeepsProgRef,
    /// `bpf_map_put_with_uref` drops usercnt to 0 without `map_release_uref`: timers, wq and
    /// task_work survive, and with them the timer → prog → map cycle the uref drop exists to
    /// break (the 2021 design before the v3 "user refcnt" scheme). Caught by the uref harness.
    UrefDropKeepsAsyncObjects,
    /// `__bpf_async_init` creates the object although the map's usercnt is 0. The 2021 v3
    /// design had no check (Martin Lau's pinned-prog leak, fixed in v4 by -EPERM); the order
    /// before "bpf: Check map->usercnt after timer->timer is assigned" (fd381ce60a2d) checked
    /// usercnt before publishing the timer, and a uref drop on another CPU between the two
    /// ends in exactly this state on one CPU: a timer published after the uref drop. Caught by
    /// the init-after-uref harness.
    AsyncInitIgnoresUsercnt,
    /// The uref drop frees kptrs as well, which `*_map_free_internal_structs` must not ("we
    /// don't reset or free fields other than timer and workqueue on uref dropping to zero").
    /// Caught by the kptr uref harness.
    UrefDropReleasesKptrs,
    /// `bpf_obj_free_fields` on element update / delete / LRU eviction keeps the referenced
    /// kptr: the object leaks with the unlinked element. Caught by the kptr free_fields
    /// harness.
    ElementFreeKeepsKptr,
    /// `bpf_map_free_deferred` clears the elements' kptr slots without running the kptr
    /// destructor: the objects of a freed map leak. Caught by the kptr map-free harness.
    MapFreeDropsKptrsUnreleased,
    // verifier mutants: each names the rule it breaks in spec/src/verify/ (or the oracle's
    // message table) and the harness of proofs/ that must catch it.
    /// `check_max_stack_depth` charges each frame its own depth only, not its callers'
    /// (the combined size of a call chain is never checked). Caught by the stack-depth
    /// harness.
    StackDepthOmitsCallers,
    /// `check_max_stack_depth` follows the address of an async callback as a call (before
    /// 6.5's "async callbacks don't increase bpf prog stack size unless called directly").
    /// Caught by the async-root harness.
    AsyncCallbackCountsInCaller,
    /// `MAX_CALL_FRAMES` off by one: a chain of nine frames passes. Caught by the call-chain
    /// harness.
    CallChainAllowsNineFrames,
    /// `bpf_timer_init`'s map argument is compared with the timer's map without its
    /// `map_uid`: two inner maps of one map-in-map pass as one (the hidden map pointer bug of
    /// timers in inner maps, 3e8ce29850f1). Caught by the map_uid harness.
    TimerInitIgnoresMapUid,
    /// `bpf_wq_set_callback_impl`'s hidden `aux__prog` is left out of its prototype: the
    /// `_impl` form no longer takes its plain form's arguments plus the hidden one. Caught by
    /// the implicit-args harness.
    WqImplWithoutHiddenArg,
    /// The message table tries its general "invalid mem access" entry before the NULL one:
    /// a maybe-NULL dereference classifies as a plain invalid access. Caught by the message
    /// table harness.
    MessageTableGeneralEntryFirst,
    /// A task_work callback starts on the element of the field's map, as timer and wq
    /// callbacks do, not on that of the kfunc's map argument
    /// (`set_task_work_schedule_callback_state`: the spec's rule before the verifier
    /// differential found it, regression `task_work_callback_gets_the_map_argument_element`).
    /// Caught by the callback entry-registers harness.
    TaskWorkCallbackGetsFieldMap,
    /// Every async callback must return 0, a task_work callback too (whose range is any
    /// `int`). Caught by the callback return-range harness.
    AsyncReturnRangeIgnoresKind,
    /// A timer callback is verified as sleepable, as wq and task_work callbacks are: a
    /// sleeping helper would run in the hrtimer's softirq. Caught by the callback sleepable
    /// harness.
    TimerCallbackSleepable,
    /// `generic_kfunc_set` (`bpf_task_from_pid`, `bpf_task_release`) registered for every
    /// program type, as `common_kfunc_set` is. Caught by the kfunc-set harness.
    GenericKfuncSetForEveryProgType,
    /// The hidden `aux__prog` argument of an `_impl` kfunc is read as a visible one: a program
    /// that leaves it unset, as it may, is refused. Caught by the hidden-argument harness.
    ImplHiddenArgRead,
}

#[cfg(feature = "mutants")]
thread_local! {
    static ACTIVE: std::cell::Cell<Option<Mutant>> = const { std::cell::Cell::new(None) };
}

/// Whether `m` is switched on (always false without the `mutants` feature: the check compiles
/// away).
#[inline(always)]
pub fn active(m: Mutant) -> bool {
    #[cfg(feature = "mutants")]
    {
        ACTIVE.get() == Some(m)
    }
    #[cfg(not(feature = "mutants"))]
    {
        let _ = m;
        false
    }
}

/// Run `f` with `m` switched on for this thread (only with the `mutants` feature).
#[cfg(feature = "mutants")]
pub fn with<R>(m: Mutant, f: impl FnOnce() -> R) -> R {
    /// Switches the mutant off again, also when `f` panics.
    struct Off(Option<Mutant>);
    impl Drop for Off {
        fn drop(&mut self) {
            ACTIVE.set(self.0);
        }
    }
    let _off = Off(ACTIVE.replace(Some(m)));
    f()
}
