//! The message table of the kernel oracle (`oracle::messages`): kernel verifier log lines to
//! normalized `RejectReason`s. The differentials compare reasons through it, so it must be
//! total (every reason the spec gives has a line) and injective (no line of one reason is
//! read as another: no entry is shadowed by an earlier one of another reason).
//!
//! Bounds: every entry of the table, every reason of `RejectReason::ALL`: exhaustive.

use oracle::messages::{classify_case, entries};
use spec::prog::build::Builder;
use spec::{Field, RejectReason};

use crate::programs::case;
use crate::universe::any_of;

/// Whether `r` names a function (the name comes from the log or the program, not the table).
const fn names_function(r: RejectReason) -> bool {
    matches!(
        r,
        RejectReason::UnknownFunc(_) | RejectReason::GplOnly(_) | RejectReason::KfuncNotAllowed(_)
    )
}

/// The verdict line an entry stands for: a register, then its fragments with a number where
/// the kernel's format has a `%d` between and after them, and the field a field reason names.
fn line_of(fragments: &[&str], reason: RejectReason) -> String {
    let mut line = format!("R1 {} 1", fragments.join(" 1 "));
    // The table's field reasons are about `bpf_timer`.
    if has_field(reason) {
        line.push(' ');
        line.push_str(Field::Timer.kernel_name());
    }
    line
}

/// Whether `r` is about a special field named in the line.
const fn has_field(r: RejectReason) -> bool {
    matches!(
        r,
        RejectReason::NoValidField(_)
            | RejectReason::SpecialFieldAccess(_)
            | RejectReason::FieldNotConstOffset(_)
            | RejectReason::MapNeedsBtf(_)
            | RejectReason::FieldOffsetMismatch(_)
    )
}

/// `oracle::messages::classify_case` over the table (verifier.c's `verbose()` lines, each
/// entry citing its kernel function and eras): the line each entry stands for is classified
/// as that entry's reason, so no entry is shadowed by an earlier one and no line is read as
/// two reasons.
#[kani::proof]
#[kani::unwind(80)] // the table's entries, fewer than 80
pub fn verify_classify_case_each_entry_is_its_reason() {
    let table: Vec<_> = entries().collect();
    let (fragments, reason) = any_of(&table);
    let mut main = Builder::default();
    main.ret(0);
    let none = case(
        vec![],
        main.finish("main", spec::prog::Linkage::Global),
        vec![],
    );
    let line = line_of(fragments, reason);
    let got = classify_case(&line, &none);
    if names_function(reason) {
        assert_eq!(got.name(), reason.name(), "{line:?}");
    } else {
        assert_eq!(got, reason, "{line:?}");
    }
    kani::cover!(has_field(reason), "a field named in the line");
    kani::cover!(fragments.len() > 1, "an entry of several fragments");
}

/// The table is total: every reason a verifier case may state (`RejectReason::ALL`, all but
/// `Unmapped`, which only the oracle gives) has an entry.
#[kani::proof]
#[kani::unwind(80)] // the table's entries, fewer than 80
pub fn verify_entries_cover_every_reason() {
    let reason = any_of(&RejectReason::ALL);
    let covered = entries().any(|(_, r)| r.name() == reason.name());
    assert!(covered, "{} has no message", reason.name());
    kani::cover!(names_function(reason));
    kani::cover!(has_field(reason));
}
