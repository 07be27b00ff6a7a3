//! The message table: verifier log lines to normalized [`RejectReason`]s, so that the
//! differentials compare reasons, not raw strings and not just accept / reject. One table
//! serves both: the runtime engine ([`classify`], programs compiled from a
//! [`spec::ProgSpec`]) and the verifier cases ([`classify_case`], a [`spec::prog::Case`]).
//!
//! The last line of a log that is not an instruction echo, a register state or a statistics
//! line is the verifier's verdict ([`verdict_line`]): every message below is one `verbose()`
//! call ending in `\n` that the verifier prints right before it returns the error. Each entry
//! is a list of fragments of the kernel's format string (the `%` parts left out) that must all
//! be in that line, with the kernel function that prints it (`kernel/bpf/verifier.c` unless
//! said otherwise) and the eras it was checked in. First match wins, so an entry whose line
//! another entry's fragments also match comes first.

use spec::mutants::{self, Mutant};
use spec::prog::{Callee, Case, Helper, Insn, Kfunc};
use spec::{Call, Field, ProgSpec, RejectReason};

/// What a table entry stands for.
#[derive(Clone, Copy)]
enum Reason {
    Fixed(RejectReason),
    /// A reason about a special field, named in the line by its `btf_field_type_name`
    /// (`bpf_timer`, `bpf_wq`, `bpf_task_work`, `kptr`, `kptr_untrusted`, `bpf_spin_lock`):
    /// the first such word after the fragments, else anywhere in the line.
    Field(fn(Field) -> RejectReason),
    /// A reason naming a function, which the caller finds (the line, the log, the program).
    Func(fn(&'static str) -> RejectReason, Func),
}

/// Which function a [`Reason::Func`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Func {
    /// A `gpl_only` helper, refused when the verifier reaches the call (its echo is the line
    /// before the verdict at log level 1).
    GplHelper,
    /// A kfunc refused before the program is walked (`add_subprog_and_kfunc`): the first in
    /// instruction order.
    FirstKfunc,
    /// The function the line names.
    InLine,
}

/// `(fragments, reason)`, first match wins.
const TABLE: &[(&[&str], Reason)] = &[
    // `check_map_prog_compatibility`, 5.15 to 6.x.
    (
        &["tracing progs cannot use bpf_timer yet"],
        Reason::Fixed(RejectReason::TracingProgCannotUseTimer),
    ),
    (
        &["tracing progs cannot use bpf_wq yet"],
        Reason::Fixed(RejectReason::TracingProgCannotUseWq),
    ),
    // `process_timer_func`, since 6.18 on PREEMPT_RT.
    (
        &["bpf_timer cannot be used for PREEMPT_RT"],
        Reason::Fixed(RejectReason::TimerOnPreemptRt),
    ),
    // `check_map_field_pointer`: "map '%s' has no valid %s" (the maps are created without a
    // name: `map ''`); `process_kptr_func`: "R%d has no valid kptr".
    (
        &["has no valid "],
        Reason::Field(RejectReason::NoValidField),
    ),
    // The same before `check_map_field_pointer` (`process_timer_func`, 6.1): "map '%s'
    // doesn't have 'struct bpf_timer'" (observed on 6.1.0-56 in the VM matrix).
    (
        &["doesn't have 'struct "],
        Reason::Field(RejectReason::NoValidField),
    ),
    // 6.1's `process_timer_func` for a value with two timers (`btf_find_timer`: -E2BIG):
    // "map '%s' has more than one 'struct bpf_timer'"; since the record (v6.2) the line is
    // "has no valid bpf_timer" (observed on 6.1.0-56 in the VM matrix).
    (
        &["has more than one 'struct "],
        Reason::Field(RejectReason::NoValidField),
    ),
    // `process_kptr_func`: "off=%d doesn't point to kptr" (-EACCES): the value has a kptr
    // field (`BPF_KPTR`: referenced or not), none at this offset.
    (
        &["doesn't point to kptr"],
        Reason::Fixed(RejectReason::FieldOffsetMismatch(Field::Kptr)),
    ),
    // `process_kptr_func`: "off=%d kptr isn't referenced kptr" (-EACCES).
    (
        &["kptr isn't referenced kptr"],
        Reason::Fixed(RejectReason::KptrNotReferenced),
    ),
    // `check_helper_call` (`fn->gpl_only`), all eras.
    (
        &["cannot call GPL-restricted function from non-GPL compatible program"],
        Reason::Func(RejectReason::GplOnly, Func::GplHelper),
    ),
    // `add_kfunc_call` (every kfunc), all eras.
    (
        &["cannot call kernel function from non-GPL compatible program"],
        Reason::Func(RejectReason::GplOnly, Func::FirstKfunc),
    ),
    // `check_attach_btf_id`, all eras.
    (
        &["Syscall programs can only be sleepable"],
        Reason::Fixed(RejectReason::SyscallNotSleepable),
    ),
    (
        &["programs can be sleepable"],
        Reason::Fixed(RejectReason::CannotBeSleepable),
    ),
    // The same since 7.2 ("bpf: Verifier support for sleepable tracepoint programs",
    // 8cfb77d30920): "Program of this type cannot be sleepable" (observed in the VM matrix).
    (
        &["Program of this type cannot be sleepable"],
        Reason::Fixed(RejectReason::CannotBeSleepable),
    ),
    // `map_kptr_match_type` (from `check_map_kptr_access`): "invalid kptr access, R%d
    // type=%s%s expected=%s%s" (before `check_reg_type`'s "type= expected=" below);
    // `check_map_kptr_access`: "BPF_ST imm must be 0 when storing to kptr at off=%u" (for
    // untrusted kptrs too).
    (
        &["invalid kptr access, R"],
        Reason::Fixed(RejectReason::KptrBadStore),
    ),
    (
        &["BPF_ST imm must be 0 when storing to kptr"],
        Reason::Fixed(RejectReason::KptrBadStore),
    ),
    // `check_map_kptr_access`: "store to referenced kptr disallowed".
    (
        &["store to referenced kptr disallowed"],
        Reason::Fixed(RejectReason::KptrStoreToReferenced),
    ),
    // `check_map_access`: "%s access size must be BPF_DW", "%s access misaligned expected=%u
    // off=%llu" (`%s`: "kptr", "kptr_untrusted", ...).
    (
        &["access size must be BPF_DW"],
        Reason::Fixed(RejectReason::KptrBadSize),
    ),
    (
        &["access misaligned expected="],
        Reason::Fixed(RejectReason::KptrMisaligned),
    ),
    // `check_reg_type`: an outer lookup of a plain map passed as a map ("R1 type=map_value
    // expected=map_ptr"). Before the general "type= expected=" entry.
    (
        &["type=map_value expected=map_ptr"],
        Reason::Fixed(RejectReason::InnerOfPlainMap),
    ),
    // `adjust_ptr_min_max_vals`: "R%d pointer arithmetic on %s prohibited, null-check it
    // first" for a maybe-NULL pointer, "R%d pointer arithmetic on %s prohibited" for a map
    // pointer (a field offset added to an inner map).
    (
        &["pointer arithmetic on ", "null-check it first"],
        Reason::Fixed(RejectReason::PossiblyNullDeref),
    ),
    (
        &["pointer arithmetic on map_ptr prohibited"],
        Reason::Fixed(RejectReason::FieldOfMapInMap),
    ),
    // `record_func_map`: update / delete on a BPF_F_RDONLY_PROG map.
    (
        &["write into map forbidden"],
        Reason::Fixed(RejectReason::WriteIntoMapForbidden),
    ),
    // `check_map_func_compatibility`: "cannot pass map_type %d into func %s#%d".
    (
        &["cannot pass map_type"],
        Reason::Fixed(RejectReason::MapTypeNotForFunc),
    ),
    // `check_helper_call` / `get_helper_proto`: "unknown func %s#%d".
    (
        &["unknown func "],
        Reason::Func(RejectReason::UnknownFunc, Func::InLine),
    ),
    // The same refusal (the program type's `get_func_proto` has no such helper), reworded:
    // "program of this type cannot use helper %s#%d" (observed on 6.12.117 in the VM matrix:
    // `bpf_copy_from_user` in a sched_cls program).
    (
        &["program of this type cannot use helper "],
        Reason::Func(RejectReason::UnknownFunc, Func::InLine),
    ),
    // `add_kfunc_call`: "cannot find address for kernel function %s": a BTF function without
    // a symbol, such as the `_impl` prototypes of the `KF_IMPLICIT_ARGS` kfuncs (since 7.0;
    // observed on 7.2 in the VM matrix).
    (
        &["cannot find address for kernel function "],
        Reason::Func(RejectReason::UnknownFunc, Func::InLine),
    ),
    // `__check_reg_arg` (`check_reg_arg`): "R%d !read_ok".
    (&["!read_ok"], Reason::Fixed(RejectReason::UninitRegister)),
    // `__check_reg_arg`: "frame pointer is read only".
    (
        &["frame pointer is read only"],
        Reason::Fixed(RejectReason::FramePointerReadOnly),
    ),
    // `check_mem_access`: "R%d invalid mem access '%s'" with the register's type, which ends
    // in "_or_null" (or, for BTF pointers, holds "or_null_") when it may be NULL.
    (
        &["invalid mem access '", "or_null"],
        Reason::Fixed(RejectReason::PossiblyNullDeref),
    ),
    (
        &["invalid mem access '"],
        Reason::Fixed(RejectReason::InvalidMemAccess),
    ),
    // `__check_mem_access` (from `check_mem_region_access`): "invalid access to map value,
    // value_size=%d off=%d size=%d" (followed by "R%d min value is outside of the allowed
    // memory range": a follow-up, see `verdict_line`).
    (
        &["invalid access to map value, value_size="],
        Reason::Fixed(RejectReason::MapValueOutOfBounds),
    ),
    // `check_stack_access_within_bounds`: "invalid%s stack R%d off=%d size=%d" with " write
    // to", " read from" or " indirect access to" (a helper's memory argument).
    (
        &["invalid write to stack R"],
        Reason::Fixed(RejectReason::StackOutOfBounds),
    ),
    (
        &["invalid read from stack R"],
        Reason::Fixed(RejectReason::StackOutOfBounds),
    ),
    (
        &["invalid indirect access to stack R"],
        Reason::Fixed(RejectReason::StackOutOfBounds),
    ),
    // `check_mem_access` on `PTR_TO_MAP_KEY`: "write to change key R%d not allowed".
    (
        &["write to change key R"],
        Reason::Fixed(RejectReason::WriteToKey),
    ),
    // `check_reg_type`: "R%d type=%s expected=%s" (the accepted types, comma-separated, on
    // the same line).
    // `check_kfunc_args` on a `__map` argument that is a map value: "arg#%d is %s expected
    // %s" (6.18: "arg#1 is map_value expected map_value or socket"). Found by the verifier
    // differential (seed 1, case 91).
    (
        &["arg#", " is ", " expected "],
        Reason::Fixed(RejectReason::ArgTypeMismatch),
    ),
    (
        &[" type=", " expected="],
        Reason::Fixed(RejectReason::ArgTypeMismatch),
    ),
    // `check_kfunc_args`: "arg#%d doesn't point to a map value" / "R%d doesn't point to a map
    // value" (`KF_ARG_PTR_TO_WORKQUEUE` and friends).
    (
        &["doesn't point to a map value"],
        Reason::Fixed(RejectReason::NotMapValue),
    ),
    // `check_kfunc_args` (`KF_ARG_PTR_TO_MAP`): "pointer in R%d isn't map pointer".
    (
        &["isn't map pointer"],
        Reason::Fixed(RejectReason::NotMapPointer),
    ),
    // `check_kfunc_args` (trusted arguments): "R%d must be referenced or trusted" (7.2: a map
    // value as `bpf_wq_init`'s map, found by the verifier differential, seed 1 case 538).
    (
        &["must be referenced or trusted"],
        Reason::Fixed(RejectReason::UntrustedArg),
    ),
    // `check_map_access`: "%s cannot be accessed directly by load/store".
    (
        &["cannot be accessed directly by load/store"],
        Reason::Field(RejectReason::SpecialFieldAccess),
    ),
    // `check_map_field_pointer`: "R%d doesn't have constant offset. %s has to be at the
    // constant offset"; `process_kptr_func`: the same with "kptr".
    (
        &["doesn't have constant offset. "],
        Reason::Field(RejectReason::FieldNotConstOffset),
    ),
    // `process_kptr_func`: "map '%s' has to have BTF in order to use bpf_kptr_xchg" (names
    // the helper, not the field); `check_map_field_pointer`: "map '%s' has to have BTF in
    // order to use %s" (the field).
    (
        &["has to have BTF in order to use bpf_kptr_xchg"],
        Reason::Fixed(RejectReason::MapNeedsBtf(Field::Kptr)),
    ),
    (
        &["has to have BTF in order to use "],
        Reason::Field(RejectReason::MapNeedsBtf),
    ),
    // `check_map_field_pointer`: "off %lld doesn't point to 'struct %s' that is at %d".
    (
        &["doesn't point to 'struct "],
        Reason::Field(RejectReason::FieldOffsetMismatch),
    ),
    // `check_helper_call` (`bpf_timer_init`'s map argument) and `check_kfunc_args` (the
    // `__map` argument of `bpf_wq_init` / `bpf_task_work_schedule_*`): "... pointer in R%d
    // map_uid=%d doesn't match map pointer in R%d map_uid=%d".
    (
        &["timer pointer in R1 map_uid="],
        Reason::Fixed(RejectReason::MapMismatch(Field::Timer)),
    ),
    (
        &["workqueue pointer in R1 map_uid="],
        Reason::Fixed(RejectReason::MapMismatch(Field::Wq)),
    ),
    (
        &["bpf_task_work pointer in R2 map_uid="],
        Reason::Fixed(RejectReason::MapMismatch(Field::TaskWork)),
    ),
    // `check_ld_imm` (`BPF_PSEUDO_FUNC`): "callback function not static", "missing btf
    // func_info".
    (
        &["callback function not static"],
        Reason::Fixed(RejectReason::CallbackNotStatic),
    ),
    (
        &["missing btf func_info"],
        Reason::Fixed(RejectReason::MissingFuncInfo),
    ),
    // `check_return_code` / `verbose_invalid_scalar` on leaving an async callback: "At async
    // callback return the register R0 has smin=%lld smax=%lld should have been in [%d, %d]"
    // or "... is not a known value (%s)" (6.8+; 6.18 verified); before, "At async callback the
    // register R0 has value %s should have been in %s" and "In async callback the register R0
    // is not a known value (%s)" (5.15 to 6.7).
    (
        &["At async callback return the register "],
        Reason::Fixed(RejectReason::AsyncCbBadReturn),
    ),
    (
        &["At async callback the register "],
        Reason::Fixed(RejectReason::AsyncCbBadReturn),
    ),
    (
        &["In async callback the register "],
        Reason::Fixed(RejectReason::AsyncCbBadReturn),
    ),
    // `check_helper_call`: "helper call might sleep in a non-sleepable prog".
    (
        &["helper call might sleep in a non-sleepable prog"],
        Reason::Fixed(RejectReason::HelperMightSleep),
    ),
    // The same, 7.2: "sleepable helper %s#%d in non-sleepable prog" (observed in the VM
    // matrix).
    (
        &["sleepable helper ", " in non-sleepable prog"],
        Reason::Fixed(RejectReason::HelperMightSleep),
    ),
    // `check_max_stack_depth_subprog`: "combined stack size of %d calls is %d. Too large".
    (
        &["combined stack size of ", "Too large"],
        Reason::Fixed(RejectReason::CombinedStackTooLarge),
    ),
    // `__check_func_call` (`check_func_call`): "the call stack of %d frames is too deep" (the
    // call that would make frame 9; 6.18 verified); `check_max_stack_depth_subprog`: "... too
    // deep !".
    (
        &["the call stack of ", "frames is too deep"],
        Reason::Fixed(RejectReason::CallStackTooDeep),
    ),
    // `check_reference_leak`: "Unreleased reference id=%d alloc_insn=%d", one line per
    // reference; in recent kernels (6.18 verified) followed by `check_resource_leak`'s "%s
    // would lead to reference leak" ("BPF_EXIT instruction in main prog", "tail_call", ...): a
    // follow-up, see `verdict_line`. The second entry serves a log without the first.
    (
        &["Unreleased reference id="],
        Reason::Fixed(RejectReason::UnreleasedReference),
    ),
    (
        &[" would lead to reference leak"],
        Reason::Fixed(RejectReason::UnreleasedReference),
    ),
    // `check_kfunc_args`: "Possibly NULL pointer passed to trusted arg%d" ("... trusted R%d"
    // before 6.x).
    (
        &["Possibly NULL pointer passed to trusted "],
        Reason::Fixed(RejectReason::NullPointerArg),
    ),
    // `check_reg_type`: "Possibly NULL pointer passed to helper arg%d" (a maybe-NULL pointer
    // to a release argument: the new value of `bpf_kptr_xchg`; 6.18 verified, found by the
    // verifier differential, seed 1 case 313).
    (
        &["Possibly NULL pointer passed to helper arg"],
        Reason::Fixed(RejectReason::NullPointerArg),
    ),
    // The same, 7.2: "Possibly NULL pointer passed to helper R%d" (observed in the VM matrix,
    // seed 1 case 313).
    (
        &["Possibly NULL pointer passed to helper R"],
        Reason::Fixed(RejectReason::NullPointerArg),
    ),
    // `check_kfunc_call` (`fetch_kfunc_meta`): "calling kernel function %s is not allowed".
    (
        &["calling kernel function ", " is not allowed"],
        Reason::Func(RejectReason::KfuncNotAllowed, Func::InLine),
    ),
    // `check_subprogs` / `push_insn` (`check_cfg`): "jump out of range from insn %d to %d".
    (
        &["jump out of range from insn "],
        Reason::Fixed(RejectReason::JumpOutOfRange),
    ),
    // `check_cfg`: "unreachable insn %d".
    (
        &["unreachable insn "],
        Reason::Fixed(RejectReason::UnreachableInsn),
    ),
    // `check_subprogs`: "last insn is not an exit or jmp".
    (
        &["last insn is not an exit or jmp"],
        Reason::Fixed(RejectReason::FallsOffEnd),
    ),
];

/// The table's entries in order: the fragments a line must hold, and the reason the entry
/// stands for (a field reason about `bpf_timer`, a function reason naming "?"), for checks
/// of the table itself (proofs/src/messages.rs).
pub fn entries() -> impl Iterator<Item = (&'static [&'static str], RejectReason)> {
    TABLE.iter().map(|&(frags, r)| {
        let reason = match r {
            Reason::Fixed(r) => r,
            Reason::Field(f) => f(Field::Timer),
            Reason::Func(f, _) => f("?"),
        };
        (frags, reason)
    })
}

/// The table's entry for a verdict line: the reason and the rest of the line after the
/// entry's last fragment.
fn lookup(line: &str) -> Option<(Reason, &str)> {
    if mutants::active(Mutant::MessageTableGeneralEntryFirst)
        && line.contains("invalid mem access '")
    {
        return Some((Reason::Fixed(RejectReason::InvalidMemAccess), ""));
    }
    TABLE.iter().find_map(|&(frags, r)| {
        let mut rest = line;
        for f in frags {
            let at = line.find(f)?;
            rest = &line[at + f.len()..];
        }
        Some((r, rest))
    })
}

/// The reason a verdict line gives, the function names found by `name`.
fn reason(line: &str, name: impl Fn(Func) -> &'static str) -> RejectReason {
    match lookup(line) {
        None => RejectReason::Unmapped,
        Some((Reason::Fixed(r), _)) => r,
        Some((Reason::Field(f), rest)) => field_in(rest)
            .or_else(|| field_in(line))
            .map_or(RejectReason::Unmapped, f),
        Some((Reason::Func(f, which), _)) => f(name(which)),
    }
}

/// The first word of `s` that is a special field's `btf_field_type_name`.
fn field_in(s: &str) -> Option<Field> {
    words(s).find_map(|w| Field::ALL.into_iter().find(|f| f.kernel_name() == w))
}

/// The identifier-like words of `s`.
fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// The reason a rejected load of `spec` (the runtime engine's program) gives, from its
/// verifier `log`.
pub fn classify(log: &str, spec: &ProgSpec) -> RejectReason {
    let Some(line) = verdict_line(log) else {
        return RejectReason::Unmapped;
    };
    let named = |want: fn(&Call) -> bool| {
        spec.code()
            .map(|s| s.call)
            .find(|c| want(c) && line.contains(c.kernel_name()))
            .or_else(|| spec.code().map(|s| s.call).find(want))
            .map_or("?", |c| c.kernel_name())
    };
    reason(line, |which| match which {
        Func::GplHelper | Func::FirstKfunc => named(|c| c.field().is_some()),
        Func::InLine => named(|_| true),
    })
}

/// The reason a rejected load of the verifier case `case` gives, from its verifier `log`
/// (level 1: the instruction echoes name the helper a GPL refusal is about). A function is
/// named as the log names it, else as the case calls it (the first of the kind in
/// instruction order), else "?".
pub fn classify_case(log: &str, case: &Case) -> RejectReason {
    let Some(line) = verdict_line(log) else {
        return RejectReason::Unmapped;
    };
    let callees = || {
        case.prog.insns().filter_map(|i| match i {
            Insn::Call(c) => Some(*c),
            _ => None,
        })
    };
    reason(line, |which| {
        let named = match which {
            Func::InLine => words(line).find_map(function),
            Func::GplHelper => last_echoed_call(log).and_then(function),
            Func::FirstKfunc => None,
        };
        named
            .or_else(|| {
                callees().find_map(|c| match (which, c) {
                    (Func::FirstKfunc, Callee::Kfunc(k)) => Some(k.kernel_name()),
                    (Func::GplHelper, Callee::Helper(h)) if gpl_only(h) => Some(h.kernel_name()),
                    (Func::InLine, Callee::Helper(h)) => Some(h.kernel_name()),
                    (Func::InLine, Callee::Kfunc(k)) => Some(k.kernel_name()),
                    _ => None,
                })
            })
            .unwrap_or("?")
    })
}

/// The helpers of the program model whose proto says `gpl_only` (the `bpf_timer_*` ones;
/// `bpf_kptr_xchg`, `bpf_copy_from_user`, the map, time and random helpers are not).
const fn gpl_only(h: Helper) -> bool {
    matches!(
        h,
        Helper::TimerInit | Helper::TimerSetCallback | Helper::TimerStart | Helper::TimerCancel
    )
}

/// A helper's or kfunc's kernel name as the program model spells it.
fn function(name: &str) -> Option<&'static str> {
    Helper::ALL
        .iter()
        .map(|h| h.kernel_name())
        .chain(Kfunc::ALL.iter().map(|k| k.kernel_name()))
        .find(|&n| n == name)
}

/// The function of the last call the log echoes (`12: (85) call bpf_timer_init#169`).
fn last_echoed_call(log: &str) -> Option<&str> {
    log.lines().rev().find_map(|l| {
        let l = l.trim();
        if !is_echo(l) {
            return None;
        }
        let (_, call) = l.split_once(") call ")?;
        let (name, _) = call.split_once('#')?;
        Some(name)
    })
}

/// The kfuncs the code generator adds on its own (to acquire and release the objects
/// `kptr_xchg` stores) are not available to every program type; a log ending in such a
/// refusal is about the oracle's encoding, not about the program the spec describes.
pub fn refuses_oracle_kfunc(log: &str) -> bool {
    const ORACLE_KFUNCS: [&str; 2] = ["bpf_task_from_pid", "bpf_task_release"];
    verdict_line(log).is_some_and(|l| {
        l.ends_with("is not allowed") && ORACLE_KFUNCS.iter().any(|k| l.contains(k))
    })
}

/// The verifier gave up exploring paths (verifier.c `push_stack`: "The sequence of N jumps is
/// too complex", past `BPF_COMPLEXITY_LIMIT_JMP_SEQ`; `do_check`: "BPF program is too large",
/// past one million instructions processed). The paths come from the generated encoding (a
/// branch per guard), and the spec does not model these limits.
pub fn hits_complexity_limit(log: &str) -> bool {
    verdict_line(log).is_some_and(|l| {
        (l.starts_with("The sequence of ") && l.contains(" jumps is too complex"))
            || l.starts_with("BPF program is too large")
    })
}

/// The verifier's verdict: the last line that is neither an instruction echo (`12: (85)
/// call …`), a register state dump, nor the statistics trailer; or, when that line is one
/// the verifier adds after the message that says why ([`FOLLOW_UPS`]), the line before it.
pub fn verdict_line(log: &str) -> Option<&str> {
    let mut lines =
        log.lines().map(str::trim).rev().filter(|l| {
            !l.is_empty() && !is_statistics(l) && !l.starts_with("func#") && !is_echo(l)
        });
    let last = lines.next()?;
    if FOLLOW_UPS.iter().any(|f| last.contains(f)) {
        return Some(lines.next().unwrap_or(last));
    }
    Some(last)
}

/// Lines the verifier prints after the message that gives the reason, about the same error:
/// `check_mem_region_access` after `__check_mem_access`'s "invalid access to map value, ..."
/// ("R%d min value is outside of the allowed memory range", "R%d max value is outside of the
/// allowed memory range"), and `check_resource_leak` after `check_reference_leak`'s
/// "Unreleased reference id=%d alloc_insn=%d" ("%s would lead to reference leak"; 6.18
/// verified).
pub const FOLLOW_UPS: [&str; 3] = [
    " min value is outside of the allowed memory range",
    " max value is outside of the allowed memory range",
    " would lead to reference leak",
];

/// The statistics the verifier prints after its verdict (`print_verification_stats`; 7.2 adds
/// an "insns processed %d" line, observed in the VM matrix).
pub fn is_statistics(l: &str) -> bool {
    l.starts_with("processed ")
        || l.starts_with("insns processed ")
        || l.starts_with("verification time")
        || l.starts_with("stack depth")
}

fn is_echo(l: &str) -> bool {
    // "12: (85) call bpf_timer_init#169" or "12: R1=..." or "from 16 to 19: ...".
    let digits = l.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && l[digits..].starts_with(':')) || l.starts_with("from ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tail of a log Linux 6.18 wrote for a generated xdp program (seed 4, case 22895).
    const JMP_SEQ_LOG: &str = "The sequence of 8193 jumps is too complex.\nverification time \
                               65529 usec\nstack depth 208+208\nprocessed 127021 insns (limit \
                               1000000) max_states_per_insn 4 total_states 1247 peak_states 1247 \
                               mark_read 0\n";

    use spec::prog::{Linkage, Program, Subprog};
    use spec::{Field, ProgType};

    /// A case calling `calls`, in order.
    fn case(calls: &[Callee]) -> Case {
        let mut insns: Vec<Insn> = calls.iter().map(|&c| Insn::Call(c)).collect();
        insns.push(Insn::Exit);
        Case {
            maps: vec![],
            prog: Program {
                ty: ProgType::SchedCls,
                sleepable: false,
                gpl: true,
                func_info: true,
                subprogs: vec![Subprog {
                    name: "main".into(),
                    linkage: Linkage::Global,
                    insns,
                }],
            },
        }
    }

    const STATS: &str = "processed 12 insns (limit 1000000) max_states_per_insn 0 total_states 1 \
                         peak_states 1 mark_read 0";

    /// Verdict lines (and the lines around them), most as Linux 6.18 printed them for the
    /// cases of `tests/verify.rs`, the others from the kernel's format strings, with the
    /// reason each stands for.
    #[test]
    fn log_lines_of_this_kernel_classify() {
        let none = case(&[]);
        let lines: &[(&str, RejectReason)] = &[
            ("0: (bf) r0 = r2\nR2 !read_ok", RejectReason::UninitRegister),
            (
                "frame pointer is read only",
                RejectReason::FramePointerReadOnly,
            ),
            (
                "R1 invalid mem access 'scalar'",
                RejectReason::InvalidMemAccess,
            ),
            (
                "R0 invalid mem access 'map_value_or_null'",
                RejectReason::PossiblyNullDeref,
            ),
            (
                "R1 invalid mem access 'ptr_or_null_task_struct'",
                RejectReason::PossiblyNullDeref,
            ),
            (
                "R0 pointer arithmetic on map_value_or_null prohibited, null-check it first",
                RejectReason::PossiblyNullDeref,
            ),
            (
                "R1 pointer arithmetic on map_ptr prohibited",
                RejectReason::FieldOfMapInMap,
            ),
            (
                "8: (79) r1 = *(u64 *)(r0 +72)\ninvalid access to map value, value_size=72 \
                 off=72 size=8\nR0 min value is outside of the allowed memory range",
                RejectReason::MapValueOutOfBounds,
            ),
            (
                "invalid write to stack R10 off=-520 size=8",
                RejectReason::StackOutOfBounds,
            ),
            (
                "write to change key R2 not allowed",
                RejectReason::WriteToKey,
            ),
            (
                "R1 type=scalar expected=map_value",
                RejectReason::ArgTypeMismatch,
            ),
            ("R2 type=fp expected=map_ptr", RejectReason::ArgTypeMismatch),
            (
                "R1 type=map_value expected=map_ptr",
                RejectReason::InnerOfPlainMap,
            ),
            (
                "arg#0 doesn't point to a map value",
                RejectReason::NotMapValue,
            ),
            (
                "pointer in R2 isn't map pointer",
                RejectReason::NotMapPointer,
            ),
            (
                "bpf_timer cannot be accessed directly by load/store",
                RejectReason::SpecialFieldAccess(Field::Timer),
            ),
            (
                "bpf_wq cannot be accessed directly by load/store",
                RejectReason::SpecialFieldAccess(Field::Wq),
            ),
            (
                "R1 doesn't have constant offset. bpf_timer has to be at the constant offset",
                RejectReason::FieldNotConstOffset(Field::Timer),
            ),
            (
                "map '' has to have BTF in order to use bpf_timer",
                RejectReason::MapNeedsBtf(Field::Timer),
            ),
            (
                "map '' has to have BTF in order to use bpf_kptr_xchg",
                RejectReason::MapNeedsBtf(Field::Kptr),
            ),
            (
                "map '' has no valid bpf_timer",
                RejectReason::NoValidField(Field::Timer),
            ),
            (
                "R1 has no valid kptr",
                RejectReason::NoValidField(Field::Kptr),
            ),
            (
                "map '' has more than one 'struct bpf_timer'",
                RejectReason::NoValidField(Field::Timer),
            ),
            (
                "map '' has no valid kptr",
                RejectReason::NoValidField(Field::Kptr),
            ),
            (
                "off 16 doesn't point to 'struct bpf_timer' that is at 8",
                RejectReason::FieldOffsetMismatch(Field::Timer),
            ),
            (
                "off=48 doesn't point to kptr",
                RejectReason::FieldOffsetMismatch(Field::Kptr),
            ),
            (
                "timer pointer in R1 map_uid=0 doesn't match map pointer in R2 map_uid=0",
                RejectReason::MapMismatch(Field::Timer),
            ),
            (
                "workqueue pointer in R1 map_uid=0 doesn't match map pointer in R2 map_uid=0",
                RejectReason::MapMismatch(Field::Wq),
            ),
            (
                "bpf_task_work pointer in R2 map_uid=0 doesn't match map pointer in R3 \
                 map_uid=0",
                RejectReason::MapMismatch(Field::TaskWork),
            ),
            (
                "16: (18) r2 = 0x8\ncallback function not static",
                RejectReason::CallbackNotStatic,
            ),
            ("missing btf func_info", RejectReason::MissingFuncInfo),
            (
                "25: (b7) r0 = 1                       ; R0=1 async_cb\n26: (95) exit\nAt \
                 async callback return the register R0 has smin=1 smax=1 should have been in \
                 [0, 0]",
                RejectReason::AsyncCbBadReturn,
            ),
            (
                "29: (85) call bpf_copy_from_user#148\nhelper call might sleep in a \
                 non-sleepable prog",
                RejectReason::HelperMightSleep,
            ),
            (
                "combined stack size of 2 calls is 1024. Too large",
                RejectReason::CombinedStackTooLarge,
            ),
            (
                "21: (85) call pc+2\nthe call stack of 9 frames is too deep",
                RejectReason::CallStackTooDeep,
            ),
            (
                "store to referenced kptr disallowed",
                RejectReason::KptrStoreToReferenced,
            ),
            ("kptr access size must be BPF_DW", RejectReason::KptrBadSize),
            (
                "kptr access misaligned expected=48 off=44",
                RejectReason::KptrMisaligned,
            ),
            (
                "off=56 kptr isn't referenced kptr",
                RejectReason::KptrNotReferenced,
            ),
            (
                "invalid kptr access, R1 type=scalar expected=ptr_task_struct or \
                 untrusted_ptr_task_struct",
                RejectReason::KptrBadStore,
            ),
            (
                "BPF_ST imm must be 0 when storing to kptr at off=56",
                RejectReason::KptrBadStore,
            ),
            (
                "3: (95) exit\nUnreleased reference id=2 alloc_insn=1\nBPF_EXIT instruction \
                 in main prog would lead to reference leak",
                RejectReason::UnreleasedReference,
            ),
            (
                "Possibly NULL pointer passed to trusted arg0",
                RejectReason::NullPointerArg,
            ),
            (
                "23: (85) call bpf_kptr_xchg#194\nPossibly NULL pointer passed to helper arg2",
                RejectReason::NullPointerArg,
            ),
            (
                "jump out of range from insn 0 to 6",
                RejectReason::JumpOutOfRange,
            ),
            ("unreachable insn 2", RejectReason::UnreachableInsn),
            ("last insn is not an exit or jmp", RejectReason::FallsOffEnd),
            (
                "Syscall programs can only be sleepable",
                RejectReason::SyscallNotSleepable,
            ),
            (
                "At async callback the register R0 has value (0x1; 0x0) should have been in \
                 (0x0; 0x0)",
                RejectReason::AsyncCbBadReturn,
            ),
            (
                "In async callback the register R0 is not a known value (map_value)",
                RejectReason::AsyncCbBadReturn,
            ),
            // 7.2.13's lines (the VM matrix).
            (
                "15: (85) call bpf_kptr_xchg#194\nPossibly NULL pointer passed to helper R2",
                RejectReason::NullPointerArg,
            ),
            (
                "Program of this type cannot be sleepable",
                RejectReason::CannotBeSleepable,
            ),
            (
                "13: (85) call bpf_wq_init#67199\nR2 must be referenced or trusted",
                RejectReason::UntrustedArg,
            ),
            ("something the table does not know", RejectReason::Unmapped),
        ];
        let empty = ProgSpec {
            ty: ProgType::SchedCls,
            sleepable: false,
            gpl: true,
            self_map: None,
            maps: vec![],
            main: vec![],
            callbacks: vec![],
        };
        for &(log, want) in lines {
            let log = format!("{log}\n{STATS}\n");
            assert_eq!(classify_case(&log, &none), want, "{log}");
            // One table: the runtime engine's programs get the same reasons.
            assert_eq!(classify(&log, &empty), want, "{log}");
        }
        assert_eq!(classify_case("", &none), RejectReason::Unmapped);
    }

    /// Functions are named by the log where it names them, else by the case.
    #[test]
    fn functions_are_named_from_the_log() {
        use spec::prog::{Helper, Kfunc};
        let c = case(&[
            Callee::Helper(Helper::MapLookupElem),
            Callee::Kfunc(Kfunc::TaskFromPid),
            Callee::Helper(Helper::TimerInit),
            Callee::Helper(Helper::TimerStart),
        ]);
        let gpl = "13: (b7) r3 = 1\n14: (85) call bpf_timer_start#171\ncannot call \
                   GPL-restricted function from non-GPL compatible program\n";
        assert_eq!(
            classify_case(gpl, &c),
            RejectReason::GplOnly("bpf_timer_start")
        );
        // Without the echo (a log level without the trace): the first gpl_only helper.
        assert_eq!(
            classify_case(
                "cannot call GPL-restricted function from non-GPL compatible program",
                &c
            ),
            RejectReason::GplOnly("bpf_timer_init")
        );
        assert_eq!(
            classify_case(
                "cannot call kernel function from non-GPL compatible program",
                &c
            ),
            RejectReason::GplOnly("bpf_task_from_pid")
        );
        assert_eq!(
            classify_case(
                "calling kernel function bpf_task_from_pid is not allowed",
                &c
            ),
            RejectReason::KfuncNotAllowed("bpf_task_from_pid")
        );
        assert_eq!(
            classify_case("unknown func bpf_copy_from_user#148", &c),
            RejectReason::UnknownFunc("bpf_copy_from_user")
        );
        assert_eq!(
            classify_case(
                "62: (85) call bpf_copy_from_user#148\nprogram of this type cannot use helper \
                 bpf_copy_from_user#148\n",
                &c
            ),
            RejectReason::UnknownFunc("bpf_copy_from_user")
        );
        // 7.2: an `_impl` prototype of a `KF_IMPLICIT_ARGS` kfunc has no address.
        assert_eq!(
            classify_case(
                "cannot find address for kernel function bpf_wq_set_callback_impl",
                &c
            ),
            RejectReason::UnknownFunc("bpf_wq_set_callback_impl")
        );
    }

    #[test]
    fn jump_sequence_limit_is_a_complexity_limit_not_a_reason() {
        assert!(hits_complexity_limit(JMP_SEQ_LOG));
        assert!(!hits_complexity_limit(
            "tracing progs cannot use bpf_timer yet\nprocessed 12 insns (limit 1000000)\n"
        ));
    }
}
