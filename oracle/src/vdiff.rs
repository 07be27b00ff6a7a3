//! The verifier differential: one case's verdict from the spec's verifier model and from the
//! kernel's verifier, compared as typed verdicts with normalized reasons (not raw strings,
//! not just accept / reject).

use crate::host::Host;
use spec::prog::Case;
use spec::verify::{self, Verdict};
use std::fmt;

/// The two verdicts on one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VDiff {
    Agree(Verdict),
    Diverged {
        spec: Verdict,
        kernel: Verdict,
        /// The tail of the kernel's verifier log (rejected loads).
        log: Option<String>,
    },
    /// One side cannot answer for this case (the spec's model or the oracle's reach ends).
    Poisoned {
        why: String,
        spec: Verdict,
        kernel: Verdict,
    },
}

impl fmt::Display for VDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VDiff::Agree(v) => write!(f, "agree: {v}"),
            VDiff::Diverged { spec, kernel, .. } => {
                write!(f, "DIVERGED: spec {spec}, kernel {kernel}")
            }
            VDiff::Poisoned { why, .. } => write!(f, "poisoned: {why}"),
        }
    }
}

/// The spec's verdict against the kernel's, for `case`. A case outside the spec's model is
/// not loaded at all: nothing would be compared, and some such cases endanger the host (a
/// kfunc map argument without a BTF record is read as NULL by the 6.18 verifier).
pub fn compare(host: &Host, case: &Case) -> VDiff {
    compare_verdict(host, case, verify::verify(&host.kernel, case))
}

/// [`compare`] with the spec's verdict already at hand.
pub fn compare_verdict(host: &Host, case: &Case, spec: Verdict) -> VDiff {
    if let Verdict::Unsupported(why) = spec {
        return VDiff::Poisoned {
            why: format!("spec: {why}"),
            spec,
            kernel: Verdict::Unsupported("not loaded"),
        };
    }
    let loaded = crate::verify::load(host, case);
    let kernel = loaded.verdict;
    match (spec, kernel) {
        (_, Verdict::Unsupported(why)) => VDiff::Poisoned {
            why: format!("oracle: {why}"),
            spec,
            kernel,
        },
        (s, k) if s == k => VDiff::Agree(s),
        // The instructions that led to the kernel's verdict, for the report.
        _ => VDiff::Diverged {
            spec,
            kernel,
            log: crate::verify::trace(host, case).log,
        },
    }
}
