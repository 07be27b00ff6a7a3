//! # Scenario files (`*.bpfs`) for bpf-async-spec
//!
//! A scenario is a test vector as data: maps, programs, user syscalls, program runs and
//! waits, with the outcome the kernel gives at every step (the format:
//! `docs/scenario-format.md`). This crate
//!
//! * parses a file ([`parse()`]) into a [`Scenario`]: every declaration and step compiled to
//!   the spec's [`spec::Op`] or [`spec::Query`], with its expectation per era. A bad file is
//!   a [`ParseError`] that names its line; no input makes the parser panic;
//! * runs a scenario on any [`spec::Engine`] ([`run()`]) and judges each step: agree,
//!   mismatch, or unsupported (never silently accepted);
//! * words the results ([`render_actual`], [`ScenarioRun::problems`]) in file syntax and
//!   kernel vocabulary, with the file's names;
//! * writes a generated story (steps and the answers to expect) as a file ([`render`]), the
//!   inverse of [`parse()`];
//! * reads and writes verifier case files (`*.bpfv`, `docs/verifier-case-format.md`): one
//!   program load in BPF assembly with its verdict per era ([`parse_case`], [`render_case`]),
//!   sharing the header, `map` line and era sets of scenario files.
//!
//! Parsing is two phases: module `parse` turns lines into a syntax tree with names
//! unresolved, and module `compile` resolves names to the spec's indices in declaration
//! order.

mod compile;
mod eras;
mod error;
mod lex;
mod model;
mod parse;
mod report;
mod run;
mod syntax;
mod value;
mod verifier_case;
mod write;

pub use eras::EraSet;
pub use error::ParseError;
pub use model::{
    Action, Actual, Builds, Divergence, Expectation, Expected, Header, MapDecl, Override, ProgDecl,
    Scenario, Step,
};
pub use report::{render_actual, render_expected};
pub use run::{ScenarioRun, StepResult, Verdict, run};
pub use verifier_case::{
    CaseFile, Observed, VerdictOverride, as_stated, parse_case, render_case, render_program,
};
pub use write::{RenderError, Story, as_written, render};

use std::path::Path;

/// Parse the scenario `text`; `file` names it in errors and reports.
pub fn parse(text: &str, file: impl AsRef<Path>) -> Result<Scenario, ParseError> {
    let file = file.as_ref().display().to_string();
    let syntax = parse::file(text).map_err(|e| e.in_file(&file))?;
    compile::compile(file.clone(), syntax).map_err(|e| e.in_file(&file))
}
