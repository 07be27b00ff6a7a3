//! Which program types may call which kfuncs: the kfunc sets `kfunc_init` (helpers.c)
//! registers per BTF kfunc hook, and the hook `bpf_prog_type_to_kfunc_hook` (btf.c) gives
//! each program type.
//!
//! Bounds: every era, every program type of the spec, every kfunc of the program model, a
//! program that calls it once: exhaustive.

use spec::prog::build::Builder;
use spec::prog::{Kfunc, Linkage};
use spec::verify::{Verdict, kfunc_exists, verify};
use spec::{Era, Kernel, ProgType, RejectReason};

use crate::programs::case;
use crate::universe::{any_era, any_of};

/// The program types of the spec.
const PROG_TYPES: [ProgType; 10] = [
    ProgType::SocketFilter,
    ProgType::SchedCls,
    ProgType::Xdp,
    ProgType::Syscall,
    ProgType::Kprobe,
    ProgType::Tracepoint,
    ProgType::PerfEvent,
    ProgType::RawTracepoint,
    ProgType::Tracing,
    ProgType::Lsm,
];

/// The BTF kfunc hooks (`enum btf_kfunc_hook`) the spec's program types map to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hook {
    Tracing,
    Tc,
    Xdp,
    Syscall,
    /// A hook `generic_kfunc_set` is not registered for (kprobe, raw tracepoint, socket
    /// filter: their own hooks, or none before those existed).
    Unregistered,
}

/// `bpf_prog_type_to_kfunc_hook`: fentry / fexit and LSM programs share the tracing hook,
/// and tracepoint and perf_event programs do since bc638d8cb5be ("bpf: allow kfuncs within
/// tracepoint and perf event programs", v6.12); raw tracepoint programs reach the generic
/// set since 342297d51146 ("bpf: allow calling kfuncs from raw_tp programs", v7.0; Debian's
/// 7.2.13 loads `task_kfunc_raw_tp`, observed in the VM matrix).
const fn hook(era: Era, ty: ProgType) -> Hook {
    match ty {
        ProgType::RawTracepoint if matches!(era, Era::V7_0 | Era::V7_2) => Hook::Tracing,
        ProgType::Tracing | ProgType::Lsm => Hook::Tracing,
        ProgType::Tracepoint | ProgType::PerfEvent
            if matches!(era, Era::V6_12 | Era::V6_18 | Era::V7_0 | Era::V7_2) =>
        {
            Hook::Tracing
        }
        ProgType::SchedCls => Hook::Tc,
        ProgType::Xdp => Hook::Xdp,
        ProgType::Syscall => Hook::Syscall,
        _ => Hook::Unregistered,
    }
}

/// `kfunc_init`: `generic_kfunc_set` (`bpf_task_from_pid`, `bpf_task_release`) is registered
/// for the tracing, tc, xdp and syscall hooks (and others the spec has no type of);
/// `common_kfunc_set` (the wq, task_work and `bpf_timer_cancel_async` kfuncs) for
/// `BPF_PROG_TYPE_UNSPEC`, every program type.
const fn in_set(k: Kfunc, hook: Hook) -> bool {
    match k {
        Kfunc::TaskFromPid | Kfunc::TaskRelease => !matches!(hook, Hook::Unregistered),
        _ => true,
    }
}

/// verifier.c `check_kfunc_call` (`fetch_kfunc_meta` → `btf_kfunc_id_set_contains`), every
/// era: a kfunc the era's BTF has may be called from a program type exactly when its set is
/// registered for the type's hook, else "calling kernel function %s is not allowed" when the
/// call is walked; one the BTF lacks never gets that far (`add_kfunc_call`). Whatever the
/// arguments: the set is checked before them.
#[kani::proof]
#[kani::unwind(12)] // the choice among the eleven kfuncs
pub fn verify_kfunc_allowed_per_prog_type() {
    let era = any_era(|_| true);
    let ty = any_of(&PROG_TYPES);
    let k = any_of(&Kfunc::ALL);
    let kernel = Kernel::new(era);
    let mut main = Builder::default();
    main.kfunc(k).ret(0);
    let mut c = case(vec![], main.finish("main", Linkage::Global), vec![]);
    c.prog.ty = ty;
    // A Syscall program must be sleepable, the others are not.
    c.prog.sleepable = ty == ProgType::Syscall;
    let verdict = verify(&kernel, &c);
    let not_allowed = Verdict::Reject(RejectReason::KfuncNotAllowed(k.kernel_name()));
    let unknown = Verdict::Reject(RejectReason::UnknownFunc(k.kernel_name()));
    if !kfunc_exists(&kernel, k) {
        assert_eq!(verdict, unknown);
    } else if in_set(k, hook(era, ty)) {
        assert!(
            verdict != not_allowed && verdict != unknown,
            "{} from {ty:?}: {verdict}",
            k.kernel_name()
        );
    } else {
        assert_eq!(verdict, not_allowed, "{} from {ty:?}", k.kernel_name());
    }
    kani::cover!(
        ty == ProgType::Kprobe && k == Kfunc::TaskRelease && verdict == not_allowed,
        "bpf_task_release refused to a kprobe"
    );
    kani::cover!(
        ty == ProgType::Tracepoint
            && k == Kfunc::TaskFromPid
            && verdict != unknown
            && verdict != not_allowed,
        "bpf_task_from_pid allowed to a tracepoint (6.12 on)"
    );
    kani::cover!(
        ty == ProgType::SocketFilter && k == Kfunc::WqInit && verdict != not_allowed,
        "a common kfunc from a socket filter"
    );
}
