//! Verifier case files (`*.bpfv`): one `BPF_PROG_LOAD`, the maps it names and the program as
//! BPF assembly, with the verdict the kernel gives per era (the format:
//! `docs/verifier-case-format.md`). The same file runs on the spec's verifier model
//! ([`spec::verify`]) and on the real kernel.
//!
//! [`parse_case`] reads a file into a [`CaseFile`]: the spec's [`Case`], every name resolved
//! to its index, and the expectations; [`render_case`] is its inverse, and [`render_program`]
//! writes the functions alone, for reports. The header, the `map` line and the era sets are
//! the scenario format's, read and written by the same code; the instruction lines are the
//! kernel verifier log's (module `insn`).
//!
//! A file states a rejection by its reason's name ([`spec::RejectReason::name`]), not by what
//! the reason carries (the field, the function): [`as_stated`] gives the verdict a file can
//! state, so that an engine's answer compares with [`CaseFile::expected`].

mod insn;
mod read;
mod write;

use crate::eras::EraSet;
use crate::error::ParseError;
use crate::parse::REJECT_REASONS;
use spec::prog::{Case, Program};
use spec::verify::Verdict;
use spec::{Era, Kernel};
use std::path::Path;

/// A verifier case file, resolved to the spec's program model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFile {
    /// `case <slug>`.
    pub name: String,
    /// `source <text>` lines.
    pub sources: Vec<String>,
    /// `eras <era-set>`: the kernels the expectations hold for.
    pub eras: EraSet,
    /// `observed linux <release> (era <era>): <verdict>`: what a kernel answered when the case
    /// was recorded; informational.
    pub observed: Option<Observed>,
    /// `log | <line>`: the tail of that kernel's verifier log, verbatim; informational.
    pub log: Vec<String>,
    /// The names of `case.maps`, by index.
    pub map_names: Vec<String>,
    pub case: Case,
    /// The verdict in every era of `eras` no override names: the `prog` line's `->`, or the
    /// `map` line that states a failure (`-> -EINVAL`: [`Verdict::MapCreate`]).
    pub verdict: Verdict,
    /// `on <eras> -> <verdict>` lines under `prog`, in file order: the first whose set holds an
    /// era decides it.
    pub overrides: Vec<VerdictOverride>,
}

/// `on <eras> -> <verdict>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerdictOverride {
    pub eras: EraSet,
    pub verdict: Verdict,
}

/// `observed linux <release> (era <era>): <verdict>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The kernel release (`6.18.44`), without blanks.
    pub release: String,
    pub era: Era,
    /// As stated ([`as_stated`]); a rejection may also be [`spec::RejectReason::Unmapped`],
    /// which only a kernel gives.
    pub verdict: Verdict,
}

impl CaseFile {
    /// A file for `case` with generated map names (`m0`, `m1`, …; subprograms keep their
    /// names), expecting `verdict` (as stated: [`as_stated`]) in every era of `eras`.
    pub fn generated(
        name: impl Into<String>,
        sources: Vec<String>,
        eras: EraSet,
        case: Case,
        verdict: Verdict,
    ) -> CaseFile {
        CaseFile {
            name: name.into(),
            sources,
            eras,
            observed: None,
            log: Vec::new(),
            map_names: (0..case.maps.len()).map(|i| format!("m{i}")).collect(),
            case,
            verdict: as_stated(verdict),
            overrides: Vec::new(),
        }
    }

    /// A file recording what `kernel` (release `release`) answered for `case`: it expects that
    /// `verdict` in the kernel's era, and keeps the answer as `observed` and the verifier `log`
    /// (one `log` line a line of it); generated map names, as [`CaseFile::generated`]. A file
    /// cannot expect [`spec::RejectReason::Unmapped`]: with it, the text does not parse until
    /// the kernel's message is mapped to a reason and the expectation is edited.
    pub fn observed(
        name: &str,
        case: &Case,
        kernel: &Kernel,
        release: &str,
        verdict: Verdict,
        log: &str,
        source: &str,
    ) -> CaseFile {
        let mut file = CaseFile::generated(
            name,
            vec![source.to_owned()],
            EraSet::only(kernel.era),
            case.clone(),
            verdict,
        );
        file.observed = Some(Observed {
            release: release.to_owned(),
            era: kernel.era,
            verdict: file.verdict,
        });
        file.log = log.lines().map(str::to_owned).collect();
        file
    }

    /// The verdict the file expects on `era`; `None` outside its `eras`.
    pub fn expected(&self, era: Era) -> Option<Verdict> {
        if !self.eras.contains(era) {
            return None;
        }
        let decided = self.overrides.iter().find(|o| o.eras.contains(era));
        Some(decided.map_or(self.verdict, |o| o.verdict))
    }
}

/// `verdict` as a file states it: a rejection becomes the reason of its name in
/// [`spec::RejectReason::ALL`] (what it carries is dropped). [`CaseFile::expected`] compares
/// with `as_stated` of an engine's answer.
pub fn as_stated(verdict: Verdict) -> Verdict {
    match verdict {
        Verdict::Reject(reason) => Verdict::Reject(
            REJECT_REASONS
                .iter()
                .find(|(name, _)| *name == reason.name())
                .map_or(reason, |&(_, stated)| stated),
        ),
        other => other,
    }
}

/// Parse the verifier case `text`; `file` names it in errors. A bad file is a [`ParseError`]
/// that names its line; no input makes the parser panic.
pub fn parse_case(text: &str, file: impl AsRef<Path>) -> Result<CaseFile, ParseError> {
    read::case_file(text).map_err(|e| e.in_file(&file.as_ref().display().to_string()))
}

/// The text of `file`: [`parse_case`] reads it back to `file`. That holds for every file
/// [`parse_case`] gives, and for one built otherwise if: its name is a slug; its map and
/// function names are unique identifiers, no function named as a helper or kfunc; its sources
/// are trimmed lines without `#` and its log lines have no line break; its verdicts are as
/// stated ([`as_stated`]), none unsupported or unmapped (but the observed one); and its indices
/// name maps and functions of the case. An index past the names is written `?<index>` and an
/// unsupported verdict `unsupported: <why>`, which do not parse.
pub fn render_case(file: &CaseFile) -> String {
    write::case_text(file)
}

/// The functions of `prog` as a file writes them (`func <name>`, then an instruction a line),
/// with `map_names` for the maps its `ld_imm64`s name.
pub fn render_program(prog: &Program, map_names: &[String]) -> String {
    write::program_text(prog, map_names)
}
