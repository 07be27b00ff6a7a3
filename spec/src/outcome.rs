//! Typed outcomes. What a step can produce, as the wasm reference interpreter separates them:
//! a value or errno the caller sees, a verifier rejection with a normalized reason, an explicit
//! `Unsupported` for behaviour the spec does not model. A broken spec invariant is not an
//! outcome: it panics, naming the invariant (see `invariants`).

use crate::errno::Errno;
use crate::op::{CbIdx, Field, ProgIdx};
use std::fmt;

/// What one helper / kfunc call returned to the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Ret {
    /// An integer return: 0, 1, -1, or `-errno`.
    Int(i64),
    /// A non-NULL pointer (`bpf_kptr_xchg`, `bpf_map_lookup_elem`).
    Ptr,
    /// NULL.
    Null,
    /// The statement's guard was false; the call was not made.
    Skip,
    /// The target element does not exist (the program's lookup returned NULL); not made.
    NoElem,
}

impl Ret {
    pub const OK: Ret = Ret::Int(0);

    pub const fn err(e: Errno) -> Ret {
        Ret::Int(-(e as i64))
    }
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Ret::Int(v) if v < -1 => match Errno::from_value(-v) {
                Some(e) => write!(f, "-{e}"),
                None => write!(f, "{v}"),
            },
            Ret::Int(v) => write!(f, "{v}"),
            Ret::Ptr => f.write_str("ptr"),
            Ret::Null => f.write_str("null"),
            Ret::Skip => f.write_str("skip"),
            Ret::NoElem => f.write_str("noelem"),
        }
    }
}

/// One run of a callback: which, and what each of its statements returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CallbackRun {
    pub prog: ProgIdx,
    pub cb: CbIdx,
    pub rets: Vec<Ret>,
}

/// Why the verifier refuses a program (normalized; the message table maps kernel log lines to
/// these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum RejectReason {
    /// The helper / kfunc does not exist in this kernel ("unknown func", "invalid kernel
    /// function call").
    UnknownFunc(&'static str),
    /// "tracing progs cannot use bpf_timer yet".
    TracingProgCannotUseTimer,
    /// "tracing progs cannot use bpf_wq yet" (6.10 to 6.x). Found by the kernel oracle.
    TracingProgCannotUseWq,
    /// "bpf_timer cannot be used for PREEMPT_RT.".
    TimerOnPreemptRt,
    /// "map '%s' has no valid %s".
    NoValidField(Field),
    /// A GPL-only helper or a kfunc from a program that is not GPL-compatible ("cannot call
    /// GPL-restricted function from non-GPL compatible program", "cannot call kernel function
    /// from non-GPL compatible program").
    GplOnly(&'static str),
    /// "Syscall programs can only be sleepable" (verifier.c `check_attach_btf_id`, since
    /// 5.14: `BPF_PROG_TYPE_SYSCALL` must be loaded with `BPF_F_SLEEPABLE`). Found by the
    /// kernel oracle: the first scenarios wrote syscall programs without the flag.
    SyscallNotSleepable,
    /// "Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be
    /// sleepable" (verifier.c `check_attach_btf_id` / `can_be_sleepable`, all eras; the list
    /// grew over time, none of its additions is a type the spec names).
    CannotBeSleepable,
    /// A program names `outer[k][key]` of a map that is not a map-in-map: the outer lookup
    /// gives a value, not a map, and the verifier refuses to pass it as one ("R1
    /// type=map_value expected=map_ptr", `check_reg_type`, all eras). Found by the oracle.
    InnerOfPlainMap,
    /// A call on a field of a map-in-map's element: that "value" is the inner map itself, and
    /// reaching a field means adding the field's offset to a map pointer ("R1 pointer
    /// arithmetic on map_ptr prohibited", verifier.c `adjust_ptr_min_max_vals`, all eras;
    /// plain data bytes come first in a value, so no field is at offset 0). Found by the
    /// kernel oracle.
    FieldOfMapInMap,
    /// `bpf_map_update_elem` / `bpf_map_delete_elem` from a program on a map created with
    /// `BPF_F_RDONLY_PROG` ("write into map forbidden", -EACCES, verifier.c
    /// `record_func_map`, since 5.2). Found by the kernel oracle.
    WriteIntoMapForbidden,
    /// `bpf_map_update_elem` / `bpf_map_delete_elem` from a program on a map-in-map: programs
    /// may only look inner maps up ("cannot pass map_type %d into func %s#%d", verifier.c
    /// `check_map_func_compatibility`, all eras). Found by the kernel oracle.
    MapTypeNotForFunc,
    // The instruction-level rules of `crate::verify` (the program model of `crate::prog`).
    /// A register read before it was written ("R%d !read_ok", verifier.c `check_reg_arg`, all
    /// eras).
    UninitRegister,
    /// A write to `r10` ("frame pointer is read only", `check_reg_arg`).
    FramePointerReadOnly,
    /// A load or store through a register that is not a pointer to memory ("R%d invalid mem
    /// access 'scalar'", `check_mem_access`).
    InvalidMemAccess,
    /// A load, store or arithmetic on a pointer that may be NULL ("R%d invalid mem access
    /// 'map_value_or_null'", `check_mem_access`; "R%d pointer arithmetic on map_value_or_null
    /// prohibited, null-check it first", `adjust_ptr_min_max_vals`).
    PossiblyNullDeref,
    /// "invalid access to map value, value_size=%d off=%d size=%d" (`check_map_access_type` /
    /// `__check_mem_access`).
    MapValueOutOfBounds,
    /// A stack access outside the 512-byte frame ("invalid write to stack R%d off=%d size=%d",
    /// `check_stack_access_within_bounds`).
    StackOutOfBounds,
    /// A store through an async callback's key pointer ("write to change key R%d not allowed",
    /// `check_mem_access` on `PTR_TO_MAP_KEY`).
    WriteToKey,
    /// A helper argument of the wrong register type ("R%d type=%s expected=%s",
    /// `check_reg_type`).
    ArgTypeMismatch,
    /// A kfunc argument that must be a map value is not ("arg#%d doesn't point to a map value" /
    /// "R%d doesn't point to a map value", `check_kfunc_args`).
    NotMapValue,
    /// A kfunc `__map` argument that is not a map ("pointer in R%d isn't map pointer").
    NotMapPointer,
    /// A pointer argument of a kfunc with trusted arguments that is neither referenced nor
    /// trusted ("R%d must be referenced or trusted", `check_kfunc_args`): a map value as the
    /// `__map` argument of `bpf_task_work_schedule_*` (`KF_TRUSTED_ARGS`), and since 7.0 of
    /// every kfunc (trusted by default). Found by the verifier differential on 7.2.13.
    UntrustedArg,
    /// A plain load or store touching a special field ("%s cannot be accessed directly by
    /// load/store", `check_map_access`).
    SpecialFieldAccess(Field),
    /// "R%d doesn't have constant offset. %s has to be at the constant offset"
    /// (`check_map_field_pointer` / `process_timer_func`).
    FieldNotConstOffset(Field),
    /// "map '%s' has to have BTF in order to use %s".
    MapNeedsBtf(Field),
    /// The pointer is to a value holding the field, but not at the field: "off %lld doesn't
    /// point to 'struct %s' that is at %d"; for kptrs "off=%d doesn't point to kptr".
    FieldOffsetMismatch(Field),
    /// The async object's map is not the map argument ("timer pointer in R1 map_uid=%d doesn't
    /// match map pointer in R2 map_uid=%d", "workqueue pointer in R1 ...", "bpf_task_work
    /// pointer in R2 ... R3 ..."). The uids are the verifier's register ids, not compared.
    MapMismatch(Field),
    /// A callback that is not a static subprogram ("callback function not static",
    /// `check_ld_imm`).
    CallbackNotStatic,
    /// A subprogram address without BTF `func_info` ("missing btf func_info").
    MissingFuncInfo,
    /// An async callback's R0 at exit outside its range ("At async callback return the register
    /// R0 ... should have been in [%d, %d]", `check_return_code`).
    AsyncCbBadReturn,
    /// A sleepable helper where sleeping is not allowed ("helper call might sleep in a
    /// non-sleepable prog", `check_helper_call`).
    HelperMightSleep,
    /// "combined stack size of %d calls is %d. Too large" (`check_max_stack_depth`).
    CombinedStackTooLarge,
    /// "the call stack of %d frames is too deep !" (`check_max_stack_depth` /
    /// `check_func_call`).
    CallStackTooDeep,
    /// "store to referenced kptr disallowed" (`check_map_kptr_access`).
    KptrStoreToReferenced,
    /// "kptr access size must be BPF_DW".
    KptrBadSize,
    /// "kptr access misaligned expected=%u off=%llu".
    KptrMisaligned,
    /// "off=%d kptr isn't referenced kptr" (`process_kptr_func`).
    KptrNotReferenced,
    /// A store into a kptr field of a register of the wrong type ("invalid kptr access, R%d
    /// type=%s%s expected=%s%s") or of a non-zero immediate ("BPF_ST imm must be 0 when
    /// storing to kptr at off=%u").
    KptrBadStore,
    /// An acquired reference still held at exit ("Unreleased reference id=%d alloc_insn=%d",
    /// `check_reference_leak`).
    UnreleasedReference,
    /// A maybe-NULL pointer where a trusted one is needed ("Possibly NULL pointer passed to
    /// trusted R%d", `check_kfunc_args`).
    NullPointerArg,
    /// A kfunc this program type may not call ("calling kernel function %s is not allowed",
    /// `check_kfunc_call`).
    KfuncNotAllowed(&'static str),
    /// "jump out of range from insn %d to %d" (`check_subprogs`).
    JumpOutOfRange,
    /// "unreachable insn %d" (`check_cfg`).
    UnreachableInsn,
    /// "last insn is not an exit or jmp" (`check_subprogs`).
    FallsOffEnd,
    /// A kernel rejection whose log line the oracle's message table does not map. Only the
    /// kernel oracle produces it; the spec never does, so it always shows as a divergence.
    Unmapped,
}

impl RejectReason {
    /// One reason of each name a file may state (every reason but [`RejectReason::Unmapped`]).
    pub const ALL: [RejectReason; 45] = [
        RejectReason::UnknownFunc(""),
        RejectReason::TracingProgCannotUseTimer,
        RejectReason::TracingProgCannotUseWq,
        RejectReason::TimerOnPreemptRt,
        RejectReason::NoValidField(Field::Timer),
        RejectReason::GplOnly(""),
        RejectReason::SyscallNotSleepable,
        RejectReason::CannotBeSleepable,
        RejectReason::InnerOfPlainMap,
        RejectReason::FieldOfMapInMap,
        RejectReason::WriteIntoMapForbidden,
        RejectReason::MapTypeNotForFunc,
        RejectReason::UninitRegister,
        RejectReason::FramePointerReadOnly,
        RejectReason::InvalidMemAccess,
        RejectReason::PossiblyNullDeref,
        RejectReason::MapValueOutOfBounds,
        RejectReason::StackOutOfBounds,
        RejectReason::WriteToKey,
        RejectReason::ArgTypeMismatch,
        RejectReason::NotMapValue,
        RejectReason::NotMapPointer,
        RejectReason::UntrustedArg,
        RejectReason::SpecialFieldAccess(Field::Timer),
        RejectReason::FieldNotConstOffset(Field::Timer),
        RejectReason::MapNeedsBtf(Field::Timer),
        RejectReason::FieldOffsetMismatch(Field::Timer),
        RejectReason::MapMismatch(Field::Timer),
        RejectReason::CallbackNotStatic,
        RejectReason::MissingFuncInfo,
        RejectReason::AsyncCbBadReturn,
        RejectReason::HelperMightSleep,
        RejectReason::CombinedStackTooLarge,
        RejectReason::CallStackTooDeep,
        RejectReason::KptrStoreToReferenced,
        RejectReason::KptrBadSize,
        RejectReason::KptrMisaligned,
        RejectReason::KptrNotReferenced,
        RejectReason::KptrBadStore,
        RejectReason::UnreleasedReference,
        RejectReason::NullPointerArg,
        RejectReason::KfuncNotAllowed(""),
        RejectReason::JumpOutOfRange,
        RejectReason::UnreachableInsn,
        RejectReason::FallsOffEnd,
    ];

    /// The name used in scenario files.
    pub const fn name(&self) -> &'static str {
        match self {
            RejectReason::UnknownFunc(_) => "unknown_func",
            RejectReason::TracingProgCannotUseTimer => "tracing_prog_timer",
            RejectReason::TracingProgCannotUseWq => "tracing_prog_wq",
            RejectReason::TimerOnPreemptRt => "preempt_rt_timer",
            RejectReason::NoValidField(_) => "no_valid_field",
            RejectReason::GplOnly(_) => "gpl_only",
            RejectReason::SyscallNotSleepable => "syscall_not_sleepable",
            RejectReason::CannotBeSleepable => "cannot_be_sleepable",
            RejectReason::InnerOfPlainMap => "inner_of_plain_map",
            RejectReason::FieldOfMapInMap => "field_of_map_in_map",
            RejectReason::WriteIntoMapForbidden => "write_into_map_forbidden",
            RejectReason::MapTypeNotForFunc => "map_type_not_for_func",
            RejectReason::UninitRegister => "uninit_register",
            RejectReason::FramePointerReadOnly => "frame_pointer_read_only",
            RejectReason::InvalidMemAccess => "invalid_mem_access",
            RejectReason::PossiblyNullDeref => "possibly_null_deref",
            RejectReason::MapValueOutOfBounds => "map_value_out_of_bounds",
            RejectReason::StackOutOfBounds => "stack_out_of_bounds",
            RejectReason::WriteToKey => "write_to_key",
            RejectReason::ArgTypeMismatch => "arg_type_mismatch",
            RejectReason::NotMapValue => "not_map_value",
            RejectReason::NotMapPointer => "not_map_pointer",
            RejectReason::UntrustedArg => "untrusted_arg",
            RejectReason::SpecialFieldAccess(_) => "special_field_access",
            RejectReason::FieldNotConstOffset(_) => "field_not_const_offset",
            RejectReason::MapNeedsBtf(_) => "map_needs_btf",
            RejectReason::FieldOffsetMismatch(_) => "field_offset_mismatch",
            RejectReason::MapMismatch(_) => "map_mismatch",
            RejectReason::CallbackNotStatic => "callback_not_static",
            RejectReason::MissingFuncInfo => "missing_func_info",
            RejectReason::AsyncCbBadReturn => "async_cb_bad_return",
            RejectReason::HelperMightSleep => "helper_might_sleep",
            RejectReason::CombinedStackTooLarge => "combined_stack_too_large",
            RejectReason::CallStackTooDeep => "call_stack_too_deep",
            RejectReason::KptrStoreToReferenced => "kptr_store_to_referenced",
            RejectReason::KptrBadSize => "kptr_bad_size",
            RejectReason::KptrMisaligned => "kptr_misaligned",
            RejectReason::KptrNotReferenced => "kptr_not_referenced",
            RejectReason::KptrBadStore => "kptr_bad_store",
            RejectReason::UnreleasedReference => "unreleased_reference",
            RejectReason::NullPointerArg => "null_pointer_arg",
            RejectReason::KfuncNotAllowed(_) => "kfunc_not_allowed",
            RejectReason::JumpOutOfRange => "jump_out_of_range",
            RejectReason::UnreachableInsn => "unreachable_insn",
            RejectReason::FallsOffEnd => "falls_off_end",
            RejectReason::Unmapped => "unmapped",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::UnknownFunc(n) => write!(f, "unknown_func ({n})"),
            RejectReason::GplOnly(n) => write!(f, "gpl_only ({n})"),
            RejectReason::KfuncNotAllowed(n) => write!(f, "kfunc_not_allowed ({n})"),
            RejectReason::NoValidField(x)
            | RejectReason::SpecialFieldAccess(x)
            | RejectReason::FieldNotConstOffset(x)
            | RejectReason::MapNeedsBtf(x)
            | RejectReason::FieldOffsetMismatch(x)
            | RejectReason::MapMismatch(x) => write!(f, "{} ({})", self.name(), x.kernel_name()),
            r => f.write_str(r.name()),
        }
    }
}

/// Behaviour the spec knowingly does not model. Never a silent default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Unsupported {
    /// An async object created in an element that was already deleted: its fate depends on
    /// when the kernel reuses or frees that memory.
    AsyncInDeletedElement,
    /// `bpf_kptr_xchg` on an element whose memory may hold the kptr of an element freed
    /// before it (7.2 keeps it there: `Features::element_free_keeps_kptr`), or on an element
    /// already freed: the answer depends on when the kernel reuses that memory.
    KptrInFreedMemory,
    /// This era's kernel has a use-after-free here (a callback re-armed its own timer and then
    /// freed its element: CVE-2024-41045, fixed by a6fcd19d7eac).
    KernelUseAfterFree,
    /// A callback kept re-arming with zero delay; the kernel would never leave the wait.
    UnboundedRearm,
    /// `bpf_task_work_schedule_*` outside a program run by a user task (from a callback).
    TaskWorkWithoutUserTask,
    /// A program updating or deleting in a map-in-map at run time. The verifier rejects that
    /// for the map it saw at load ([`RejectReason::MapTypeNotForFunc`]); it is reached only
    /// when a statement's map index names another map at run time than at load (indices
    /// resolve modulo the map table, which may have grown since).
    ProgramUpdatesMapInMap,
    /// This era's verifier oopses on the program (the reason says where): the spec does not
    /// predict a crash, and the oracle must not load it.
    KernelOops(&'static str),
    /// Produced by the kernel oracle, not the spec: the step cannot be driven on this host's
    /// kernel (the reason names why: a program type that cannot load or run here, a hazard
    /// the oracle refuses, a limit of its code generator).
    OracleCannotDrive(&'static str),
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::AsyncInDeletedElement => {
                f.write_str("async object created in a deleted element: depends on element reuse")
            }
            Unsupported::KptrInFreedMemory => {
                f.write_str("a kptr in freed element memory: depends on element reuse")
            }
            Unsupported::KernelOops(why) => write!(f, "this era's kernel oopses: {why}"),
            Unsupported::KernelUseAfterFree => {
                f.write_str("this era's kernel has a use-after-free here (CVE-2024-41045)")
            }
            Unsupported::UnboundedRearm => {
                f.write_str("a callback re-arms itself without delay forever")
            }
            Unsupported::TaskWorkWithoutUserTask => {
                f.write_str("task_work scheduled outside a user task")
            }
            Unsupported::ProgramUpdatesMapInMap => {
                f.write_str("a program updates or deletes in a map-in-map")
            }
            Unsupported::OracleCannotDrive(why) => {
                write!(f, "the kernel oracle cannot drive this here: {why}")
            }
        }
    }
}

/// The result of one [`crate::Op`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Outcome {
    /// A syscall that returned 0 (or an fd).
    Ok,
    /// A syscall that failed with this errno.
    Err(Errno),
    /// A program ran: one result per main statement, then the callbacks that ran before the
    /// syscall returned (task_work on return to user space).
    Ran {
        rets: Vec<Ret>,
        callbacks: Vec<CallbackRun>,
    },
    /// Time passed: the callbacks that ran, in order.
    Fired(Vec<CallbackRun>),
    /// The verifier refused the program.
    Reject(RejectReason),
    /// Not modelled.
    Unsupported(Unsupported),
}

/// The answer to a [`crate::Query`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Observation {
    Alive(bool),
    Count(u64),
}

#[cfg(test)]
mod tests {
    use super::RejectReason;

    #[test]
    fn every_reason_name_is_listed_once() {
        let mut names: Vec<_> = RejectReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a reason is listed twice");
    }
}
