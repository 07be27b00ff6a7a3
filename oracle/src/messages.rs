//! The message table: verifier log lines to normalized [`RejectReason`]s, so that the
//! differential compares reasons, not raw strings and not just accept / reject.
//!
//! The last line of a log that is not an instruction echo or a statistics line is the
//! verifier's verdict. Each entry is a fragment of a message string the kernel prints
//! (`verifier.c`, `btf.c`), with the eras that print it.

use spec::{Call, Field, ProgSpec, RejectReason};

/// `(fragment, reason)`, first match wins. The `%s` parts of the kernel's format strings are
/// left out of the fragments.
const TABLE: &[(&str, Reason)] = &[
    // verifier.c `check_map_prog_compatibility`, 5.15 to 6.x.
    (
        "tracing progs cannot use bpf_timer yet",
        Reason::Fixed(RejectReason::TracingProgCannotUseTimer),
    ),
    (
        "tracing progs cannot use bpf_wq yet",
        Reason::Fixed(RejectReason::TracingProgCannotUseWq),
    ),
    // verifier.c `process_timer_func`, since 6.18 on PREEMPT_RT.
    (
        "bpf_timer cannot be used for PREEMPT_RT",
        Reason::Fixed(RejectReason::TimerOnPreemptRt),
    ),
    // verifier.c `check_map_field_pointer` / `process_*_func`: "map '%s' has no valid %s".
    ("has no valid bpf_timer", Reason::Field(Field::Timer)),
    ("has no valid bpf_wq", Reason::Field(Field::Wq)),
    ("has no valid bpf_task_work", Reason::Field(Field::TaskWork)),
    ("has no valid kptr", Reason::Field(Field::Kptr)),
    // verifier.c `process_kptr_func`: the pointer is not at a kptr field.
    ("doesn't point to kptr", Reason::Field(Field::Kptr)),
    // verifier.c `check_helper_call` (gpl_only helpers), `check_kfunc_call` (every kfunc).
    ("cannot call GPL-restricted function", Reason::Gpl),
    ("cannot call kernel function from non-GPL", Reason::Gpl),
    // verifier.c `check_attach_btf_id`, all eras.
    (
        "Syscall programs can only be sleepable",
        Reason::Fixed(RejectReason::SyscallNotSleepable),
    ),
    (
        "programs can be sleepable",
        Reason::Fixed(RejectReason::CannotBeSleepable),
    ),
    // verifier.c `check_reg_type`: an outer lookup of a plain map passed as a map.
    (
        "type=map_value expected=map_ptr",
        Reason::Fixed(RejectReason::InnerOfPlainMap),
    ),
    // verifier.c `adjust_ptr_min_max_vals`: a field offset added to an inner map pointer.
    (
        "pointer arithmetic on map_ptr prohibited",
        Reason::Fixed(RejectReason::FieldOfMapInMap),
    ),
    // verifier.c `record_func_map`: update / delete on a BPF_F_RDONLY_PROG map.
    (
        "write into map forbidden",
        Reason::Fixed(RejectReason::WriteIntoMapForbidden),
    ),
    // verifier.c `check_map_func_compatibility`: "cannot pass map_type %d into func %s#%d".
    (
        "cannot pass map_type",
        Reason::Fixed(RejectReason::MapTypeNotForFunc),
    ),
    // verifier.c `get_helper_proto`: "unknown func %s#%d".
    ("unknown func", Reason::Unknown),
];

#[derive(Clone, Copy)]
enum Reason {
    Fixed(RejectReason),
    Field(Field),
    /// Needs the name of the function the program calls.
    Gpl,
    Unknown,
}

/// The reason a rejected load of `spec` gives, from its verifier `log`.
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
    TABLE
        .iter()
        .find(|(frag, _)| line.contains(frag))
        .map_or(RejectReason::Unmapped, |&(_, r)| match r {
            Reason::Fixed(r) => r,
            Reason::Field(f) => RejectReason::NoValidField(f),
            Reason::Gpl => RejectReason::GplOnly(named(|c| c.field().is_some())),
            Reason::Unknown => RejectReason::UnknownFunc(named(|_| true)),
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
/// call …`), a register state dump, nor the statistics trailer.
pub fn verdict_line(log: &str) -> Option<&str> {
    log.lines().map(str::trim).rev().find(|l| {
        !l.is_empty()
            && !l.starts_with("processed ")
            && !l.starts_with("verification time")
            && !l.starts_with("stack depth")
            && !l.starts_with("func#")
            && !is_echo(l)
    })
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

    #[test]
    fn jump_sequence_limit_is_a_complexity_limit_not_a_reason() {
        assert!(hits_complexity_limit(JMP_SEQ_LOG));
        assert!(!hits_complexity_limit(
            "tracing progs cannot use bpf_timer yet\nprocessed 12 insns (limit 1000000)\n"
        ));
    }
}
