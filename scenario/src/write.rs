//! Writing a story as a scenario file: the inverse of [`crate::parse()`] for the stories that
//! generators produce ([`spec::Action`]s with the answer of some engine at every step).
//!
//! [`render`] writes one item per step, in order, with the step's answer as its expectation.
//! Indices become names (maps `m0, m1, …`, programs `p0, …`, callbacks `p0_cb0, …`), each
//! resolved as the spec resolves it at that step; [`as_written`] gives the steps the file
//! compiles back to. What the format cannot state with the same meaning is a [`RenderError`]
//! naming the step, never a silent change (the list is in module `resolve`).

mod resolve;
pub(crate) mod text;

use crate::eras::EraSet;
use crate::model::{Builds, Expected, Header, ProgDecl, Scenario};
use crate::parse::REJECT_REASONS;
use crate::report::expected_text;
use spec::{
    Action, Actual, CallbackRun, CbIdx, Observation, Op, Outcome, ProgIdx, ProgSpec, Query,
};
use std::fmt;

/// A story to write: its header and its steps, each with the answer to expect.
#[derive(Clone, Copy, Debug)]
pub struct Story<'a> {
    /// `scenario <slug>`: `[A-Za-z0-9_-]+`.
    pub slug: &'a str,
    /// `source <text>` lines: at least one, each one line without `#`.
    pub sources: &'a [String],
    /// `eras <era-set>` (`6.18`, `>=6.12`, `all`).
    pub eras: &'a str,
    /// The steps, in order: each becomes one declaration or `step` line.
    pub steps: &'a [Action],
    /// The expectation of each step: `answers[i]` for `steps[i]`.
    pub answers: &'a [Actual],
}

/// Why a story cannot be written as a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderError {
    /// The step (index into [`Story::steps`]); `None` for the header or the story as a whole.
    pub step: Option<usize>,
    /// What the file cannot state, and why.
    pub reason: String,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(i) => write!(f, "step {i}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for RenderError {}

/// The steps the file [`render`]ed from `story` compiles to: every index resolved as the spec
/// resolves it at that step, and every program declaring a callback for each index the story
/// names (the spec runs a missing one as an empty body).
pub fn as_written(story: &Story<'_>) -> Result<Vec<Action>, RenderError> {
    if story.answers.len() != story.steps.len() {
        return Err(whole(format!(
            "{} steps but {} answers",
            story.steps.len(),
            story.answers.len()
        )));
    }
    resolve::resolve(story.steps, story.answers)
}

/// The text of a scenario file stating `story`: [`crate::parse()`] accepts it, and its steps
/// are [`as_written`] with `story.answers` as their expectations.
pub fn render(story: &Story<'_>) -> Result<String, RenderError> {
    let header = header(story)?;
    let steps = as_written(story)?;
    // The declarations so far: callback names for the expectations, the programs' code for
    // `run` steps and result counts, the count of maps for the next map's name.
    let mut names = Scenario {
        file: String::new(),
        header,
        maps: Vec::new(),
        progs: Vec::new(),
        steps: Vec::new(),
    };
    let (mut progs, mut maps): (Vec<&ProgSpec>, usize) = (Vec::new(), 0);
    let mut out = text::header_lines("scenario", story.slug, story.sources, story.eras);
    out.push('\n');
    for (i, (action, answer)) in steps.iter().zip(story.answers).enumerate() {
        let head = text::head(action, maps, &progs);
        let mut block = String::new();
        match action {
            Action::Op(Op::MapCreate(_)) => maps += 1,
            Action::Op(Op::ProgLoad(spec)) => {
                let p = ProgIdx(index(progs.len()));
                names.progs.push(ProgDecl {
                    name: text::prog_name(p),
                    callbacks: (0..spec.callbacks.len())
                        .map(|cb| text::callback_name(p, CbIdx(index(cb))))
                        .collect(),
                    step: i,
                });
                progs.push(spec);
                block = text::prog_block(p, spec);
            }
            _ => {}
        }
        let expected = expected(action, answer, &progs).map_err(|reason| RenderError {
            step: Some(i),
            reason,
        })?;
        out += &format!(
            "{head} -> {}\n{block}",
            expected_text(&names, action, &expected)
        );
    }
    Ok(out)
}

fn whole(reason: String) -> RenderError {
    RenderError { step: None, reason }
}

/// A program or callback index: [`as_written`] refuses a story with more than 256.
fn index(i: usize) -> u8 {
    u8::try_from(i).expect("resolve: at most 256 programs, and callbacks per program")
}

/// The header lines of `story`, checked to parse back to themselves.
fn header(story: &Story<'_>) -> Result<Header, RenderError> {
    let slug_ok = !story.slug.is_empty()
        && story
            .slug
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !slug_ok {
        return Err(whole(format!(
            "`{}` is not a slug (`[A-Za-z0-9_-]+`)",
            story.slug
        )));
    }
    if story.sources.is_empty() {
        return Err(whole("a scenario needs at least one source".to_owned()));
    }
    for source in story.sources {
        if source.trim() != source || source.is_empty() || source.contains(['#', '\n', '\r']) {
            return Err(whole(format!(
                "source {source:?} is not one trimmed line of text without `#`"
            )));
        }
    }
    let eras: EraSet = story
        .eras
        .parse()
        .map_err(|e| whole(format!("eras `{}`: {e}", story.eras)))?;
    Ok(Header {
        slug: story.slug.to_owned(),
        sources: story.sources.to_vec(),
        eras,
        builds: Builds::Standard,
        diverges: Vec::new(),
        observed: None,
    })
}

/// `answer` as the expectation of a step doing `action` (`progs`: the programs loaded so
/// far), if the file's grammar for that step can state it.
fn expected(action: &Action, answer: &Actual, progs: &[&ProgSpec]) -> Result<Expected, String> {
    let expected = Expected::of(answer)
        .map_err(|u| format!("the answer is `unsupported: {u}`, which a file cannot expect"))?;
    let fits = match (action, answer) {
        (Action::Query(Query::Alive(_)), Actual::Observation(Observation::Alive(_)))
        | (Action::Query(Query::Runs { .. }), Actual::Observation(Observation::Count(_))) => true,
        (Action::Op(op), Actual::Outcome(o)) => match (op, o) {
            (Op::ProgLoad(_), Outcome::Reject(r)) => {
                REJECT_REASONS.iter().any(|(name, _)| *name == r.name())
            }
            (Op::ProgRun { prog, .. }, Outcome::Ran { rets, callbacks }) => {
                let main = progs[usize::from(prog.0)].main.len();
                counts_fit(progs, callbacks) && rets.len() == main
            }
            (Op::ProgRun { .. }, o) => matches!(o, Outcome::Err(_)),
            (Op::Advance { .. }, Outcome::Fired(runs)) => counts_fit(progs, runs),
            (Op::Advance { .. }, _) => false,
            (_, o) => matches!(o, Outcome::Ok | Outcome::Err(_)),
        },
        _ => false,
    };
    if !fits {
        return Err(format!(
            "the answer {answer:?} is not an expectation a file can state for this step"
        ));
    }
    Ok(expected)
}

/// Each callback run has one result per statement of its callback.
fn counts_fit(progs: &[&ProgSpec], runs: &[CallbackRun]) -> bool {
    runs.iter().all(|r| {
        progs
            .get(usize::from(r.prog.0))
            .is_some_and(|p| p.callback_body(r.cb).len() == r.rets.len())
    })
}
