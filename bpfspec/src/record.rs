//! `bpfspec record`: a scenario file's expectations from the real kernel, so that the corpus
//! grows from what the kernel does, never from what the spec predicts.
//!
//! Each file whose `eras` include the detected kernel runs step by step on the kernel through
//! [`diff::story`], the run `conform` makes, timing model included. A file is refused when a
//! step is too close to call (poisoned), or when the spec diverges from the kernel before the
//! last step: the run stops there, so the later steps have no answer the timing model vouches
//! for.
//!
//! The file is edited line by line, everything else kept as written: where this era's
//! expectation is not met by the kernel's answer, that expectation is rewritten (a
//! declaration without `->` gets one). If the expectation also holds for another era of the
//! file, an `on <era> -> ...` line states this era's answer instead, so other eras keep
//! theirs. An `observed` header line names the kernel. The new text is parsed back and must
//! state the same story with the kernel's answer for this era and the old expectations for
//! every other, or the file is left alone.

use crate::EXIT_USAGE;
use crate::{conform, files};
use oracle::Host;
use oracle::diff::{self, Diff, Verdict};
use scenario::{Expected, Scenario, Step};
use spec::{Actual, Era};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Indentation of an `on` line added under an item that has none.
const ON_INDENT: &str = "  ";

/// A file read and parsed.
struct Source {
    path: PathBuf,
    text: String,
    scenario: Scenario,
}

/// What became of one file.
enum Recorded {
    /// The kernel's answers are in the text (`changed` expectations, plus the marker if new).
    Done { edits: Edits, changed: usize },
    /// Not for this kernel.
    Skipped(String),
}

/// Line edits of a file, by 1-based line number of the original text.
#[derive(Default)]
struct Edits {
    /// The new text of a line.
    replace: BTreeMap<usize, String>,
    /// A new line after a line.
    insert_after: BTreeMap<usize, String>,
}

impl Edits {
    fn is_empty(&self) -> bool {
        self.replace.is_empty() && self.insert_after.is_empty()
    }

    /// `text` with the edits made; line endings kept, an added line takes its anchor's.
    fn apply(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for (n, (line, eol)) in lines(text).enumerate().map(|(i, l)| (i + 1, l)) {
            out += self.replace.get(&n).map_or(line, String::as_str);
            match self.insert_after.get(&n) {
                Some(added) => {
                    out += if eol.is_empty() { "\n" } else { eol };
                    out += added;
                    out += eol;
                }
                None => out += eol,
            }
        }
        out
    }

    /// The edits as old and new lines with their numbers in the original text (`12a`: a line
    /// added after line 12).
    fn print(&self, path: &Path, text: &str) {
        println!("--- {}", path.display());
        println!("+++ {} (recorded)", path.display());
        for (n, (line, _)) in lines(text).enumerate().map(|(i, l)| (i + 1, l)) {
            if let Some(new) = self.replace.get(&n) {
                println!("-{n:>5}: {line}");
                println!("+{n:>5}: {new}");
            }
            if let Some(added) = self.insert_after.get(&n) {
                println!("+{n:>5}a: {added}");
            }
        }
    }
}

/// Each line of `text` and its ending (`\n`, `\r\n`, or none on a last line without one).
fn lines(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split_inclusive('\n').map(|raw| {
        let line = raw.trim_end_matches(['\n', '\r']);
        (line, &raw[line.len()..])
    })
}

/// `bpfspec record [--dry-run] FILE...`.
pub fn run(paths: &[PathBuf], dry_run: bool) -> ExitCode {
    let mut sources = Vec::new();
    for path in paths {
        match files::read(path) {
            Ok((text, scenario)) => sources.push(Source {
                path: path.clone(),
                text,
                scenario,
            }),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    let host = match conform::host("bpfspec record") {
        Ok(h) => h,
        Err(code) => return code,
    };
    let observed = format!("linux {} (era {})", host.detection.release, host.kernel.era);
    let (mut recorded, mut skipped, mut refused) = (0, 0, 0);
    for s in &sources {
        let path = s.path.display();
        match record(&host, s, &observed) {
            Ok(Recorded::Skipped(why)) => {
                skipped += 1;
                println!("{path}: skipped: {why}");
            }
            Ok(Recorded::Done { edits, .. }) if edits.is_empty() => {
                recorded += 1;
                println!("{path}: already the kernel's answers, unchanged");
            }
            Ok(Recorded::Done { edits, changed }) if dry_run => {
                recorded += 1;
                edits.print(&s.path, &s.text);
                println!("{path}: expectations to change: {changed} (dry run, not written)");
            }
            Ok(Recorded::Done { edits, changed }) => {
                match fs::write(&s.path, edits.apply(&s.text)) {
                    Ok(()) => {
                        recorded += 1;
                        println!("{path}: recorded, expectations changed: {changed}");
                    }
                    Err(e) => {
                        refused += 1;
                        eprintln!("{path}: NOT RECORDED: cannot write: {e}");
                    }
                }
            }
            Err(why) => {
                refused += 1;
                eprintln!("{path}: NOT RECORDED: {why}");
            }
        }
    }
    println!(
        "record: {recorded} files {} on {} ({skipped} not for this kernel, {refused} not \
         recorded)",
        if dry_run {
            "to record (dry run)"
        } else {
            "recorded"
        },
        host.detection.release,
    );
    if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Run one file on the kernel and work out its edits; `Err` says why it cannot be recorded.
/// `observed` is the text of the marker line (`linux 6.18.44 (era 6.18)`).
fn record(host: &Host, src: &Source, observed: &str) -> Result<Recorded, String> {
    let s = &src.scenario;
    let era = host.kernel.era;
    if let Some(why) = s.header.not_for(&host.kernel) {
        return Ok(Recorded::Skipped(why));
    }
    let steps: Vec<spec::Action> = s.steps.iter().map(|st| st.action.clone()).collect();
    let d = diff::story(host, &steps, diff::LATENESS_NS)
        .map_err(|e| format!("cannot set up the oracle: {e}"))?;
    let answers = kernel_answers(s, &d)?;
    let text: Vec<&str> = lines(&src.text).map(|(line, _)| line).collect();
    let mut edits = Edits::default();
    let mut changed = 0;
    for (st, answer) in s.steps.iter().zip(&answers) {
        if st.expect.for_era(era).is_met_by(answer) {
            continue;
        }
        let expected = Expected::of(answer).map_err(|u| {
            format!(
                "line {}: `{}`: the kernel's answer is `unsupported: {u}`",
                st.line, st.text
            )
        })?;
        let written = scenario::render_expected(s, st, &expected);
        expect_edit(s, st, era, &written, &text, &mut edits);
        changed += 1;
    }
    marker_edit(s, observed, &text, &mut edits);
    check_rewrite(s, era, &answers, &edits.apply(&src.text), &src.path)?;
    Ok(Recorded::Done { edits, changed })
}

/// The kernel's answer at every step, if the run vouches for each.
fn kernel_answers<'d>(s: &Scenario, d: &'d Diff) -> Result<Vec<&'d Actual>, String> {
    let at = |step: usize| {
        let st = &s.steps[step];
        format!("line {}: `{}`", st.line, st.text)
    };
    match &d.verdict {
        Verdict::Poisoned { step, why } => {
            return Err(format!(
                "{}: poisoned ({why}); the kernel's answer there is not one to record",
                at(*step)
            ));
        }
        Verdict::Diverged { step } if d.pairs.len() < s.steps.len() => {
            let pair = &d.pairs[*step];
            let said = |a| scenario::render_actual(s, &s.steps[*step], a);
            return Err(format!(
                "{}: the spec diverges from the kernel (spec {}, kernel {}), and the run \
                 stops there: the timing model cannot vouch for the {} steps after it",
                at(*step),
                said(&pair.spec),
                said(&pair.kernel),
                s.steps.len() - d.pairs.len()
            ));
        }
        Verdict::Diverged { .. } | Verdict::Agree => {}
    }
    Ok(d.pairs.iter().map(|p| &p.kernel).collect())
}

/// Make `written` the expectation of `st` in `era`: rewrite the `->` that `era` reads, or add
/// an `on <era>` line ahead of it when another era of the file reads it too.
fn expect_edit(s: &Scenario, st: &Step, era: Era, written: &str, text: &[&str], edits: &mut Edits) {
    let current = st.expect.for_era(era);
    let from = st
        .expect
        .overrides
        .iter()
        .find(|o| std::ptr::eq(&o.expected, current));
    let shared = s
        .header
        .eras
        .iter()
        .any(|e| e != era && std::ptr::eq(st.expect.for_era(e), current));
    if shared {
        // Ahead of the `on` line that `era` reads now, or (the step's own `->`) under the item.
        let (after, indent) = match (from, st.expect.overrides.first()) {
            (Some(o), _) => (o.line - 1, indentation(text[o.line - 1])),
            (None, Some(first)) => (st.line, indentation(text[first.line - 1])),
            (None, None) => (st.line, ON_INDENT),
        };
        edits
            .insert_after
            .insert(after, format!("{indent}on {era} -> {written}"));
    } else {
        let line = from.map_or(st.line, |o| o.line);
        edits
            .replace
            .insert(line, with_expectation(text[line - 1], written));
    }
}

fn indentation(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// A line's code and its comment (from `#` on, or empty).
fn split_comment(line: &str) -> (&str, &str) {
    line.split_at(line.find('#').unwrap_or(line.len()))
}

/// The first word of a line's code.
fn keyword(line: &str) -> Option<&str> {
    split_comment(line).0.split_whitespace().next()
}

/// `line` with its code replaced by `code`, the blanks before its comment and the comment kept.
fn with_code(line: &str, code: &str) -> String {
    let (old, comment) = split_comment(line);
    format!("{code}{}{comment}", &old[old.trim_end().len()..])
}

/// `line` with what follows its `->` replaced by `written`, or ` -> written` appended.
fn with_expectation(line: &str, written: &str) -> String {
    let code = split_comment(line).0;
    let statement = code
        .split_once("->")
        .map_or(code, |(statement, _)| statement);
    with_code(line, &format!("{} -> {written}", statement.trim_end()))
}

/// The `observed` header line: the old one rewritten, or a new one after the last header line.
fn marker_edit(s: &Scenario, observed: &str, text: &[&str], edits: &mut Edits) {
    if s.header.observed.as_deref() == Some(observed) {
        return;
    }
    let marker = format!("observed {observed}");
    // The header: every line before the first declaration or step.
    let header = &text[..s.steps.first().map_or(text.len(), |st| st.line - 1)];
    match header.iter().position(|l| keyword(l) == Some("observed")) {
        Some(i) => {
            edits.replace.insert(i + 1, with_code(header[i], &marker));
        }
        None => {
            // The header parsed, so it has statements (`scenario`, `source`, `eras`).
            let last = header
                .iter()
                .rposition(|l| keyword(l).is_some())
                .unwrap_or(0);
            edits.insert_after.insert(last + 1, marker);
        }
    }
}

/// The rewritten text must tell the same story with `answers` for `era` and the old
/// expectations for every other era of the file.
fn check_rewrite(
    old: &Scenario,
    era: Era,
    answers: &[&Actual],
    new_text: &str,
    path: &Path,
) -> Result<(), String> {
    let new = scenario::parse(new_text, path)
        .map_err(|e| format!("the rewritten file would not parse ({e}); left as it was"))?;
    if new.steps.len() != old.steps.len() {
        return Err("the rewritten file would tell another story; left as it was".to_owned());
    }
    for ((o, n), &answer) in old.steps.iter().zip(&new.steps).zip(answers) {
        let other_eras_kept = old
            .header
            .eras
            .iter()
            .filter(|&e| e != era)
            .all(|e| o.expect.for_era(e) == n.expect.for_era(e));
        if o.action != n.action || !n.expect.for_era(era).is_met_by(answer) || !other_eras_kept {
            return Err(format!(
                "line {}: `{}`: the file cannot state the kernel's answer {} for era {era} \
                 without changing the story or another era's expectation; left as it was",
                o.line,
                o.text,
                scenario::render_actual(old, o, answer)
            ));
        }
    }
    Ok(())
}
