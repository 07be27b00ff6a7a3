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
    /// A kernel rejection whose log line the oracle's message table does not map. Only the
    /// kernel oracle produces it; the spec never does, so it always shows as a divergence.
    Unmapped,
}

impl RejectReason {
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
            RejectReason::Unmapped => "unmapped",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::UnknownFunc(n) => write!(f, "unknown_func ({n})"),
            RejectReason::GplOnly(n) => write!(f, "gpl_only ({n})"),
            RejectReason::NoValidField(x) => write!(f, "no_valid_field ({})", x.kernel_name()),
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
