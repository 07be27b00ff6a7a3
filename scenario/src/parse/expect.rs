//! Expectations: what follows `->`, in the grammar of the item it belongs to.

use crate::lex::Cursor;
use crate::syntax::{ItemKind, SynCallbackRun, SynExpect, SynStep};
use crate::value::{errno, lookup, name, ret, uint};
use spec::RejectReason;

/// The expectation grammar of an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Form {
    /// `0` or `-E…`.
    Status,
    /// `0`, `-E…` or `reject <reason>`.
    Load,
    /// `<r>, ... [; <runs>]` or `fails -E…`.
    Run,
    /// `none` or `<runs>`.
    Wait,
    Count,
    Alive,
}

impl Form {
    pub(super) fn of(kind: &ItemKind<'_>) -> Form {
        match kind {
            ItemKind::Map(_) => Form::Status,
            ItemKind::Prog(_) => Form::Load,
            ItemKind::Step(SynStep::Run { .. }) => Form::Run,
            ItemKind::Step(SynStep::Wait(_)) => Form::Wait,
            ItemKind::Step(SynStep::Runs(_)) => Form::Count,
            ItemKind::Step(SynStep::Alive(_)) => Form::Alive,
            ItemKind::Step(_) => Form::Status,
        }
    }
}

/// The reasons a file may state, by [`RejectReason::name`] (each as the one of that name in
/// [`RejectReason::ALL`]).
pub(crate) const REJECT_REASONS: [(&str, RejectReason); RejectReason::ALL.len()] = {
    let mut out = [("", RejectReason::Unmapped); RejectReason::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = (RejectReason::ALL[i].name(), RejectReason::ALL[i]);
        i += 1;
    }
    out
};

/// An expectation (what follows `->`) in the grammar `form`.
pub(super) fn expect(form: Form, text: &str) -> Result<SynExpect<'_>, String> {
    let mut c = Cursor::new(text)?;
    let status = |c: &mut Cursor<'_>| match c.word("`0` or an errno")? {
        "0" => Ok(None),
        w => errno(w).map(Some),
    };
    let expect = match form {
        Form::Status => SynExpect::Status(status(&mut c)?),
        Form::Load if c.eat_word("reject") => SynExpect::Reject(reject_reason(&mut c)?.name()),
        Form::Load => SynExpect::Status(status(&mut c)?),
        Form::Run if c.eat_word("fails") => SynExpect::Status(Some(errno(c.word("an errno")?)?)),
        Form::Run => {
            let rets = c.list(",", Some(";"), |c| ret(c.word("a call result")?))?;
            let callbacks = if c.eat(";") {
                callback_runs(&mut c)?
            } else {
                Vec::new()
            };
            SynExpect::Ran { rets, callbacks }
        }
        Form::Wait => SynExpect::Fired(callback_runs(&mut c)?),
        Form::Count => SynExpect::Count(uint(c.word("a count")?, "a count")?),
        Form::Alive => SynExpect::Alive(lookup(
            &[("yes", true), ("no", false)],
            c.word("`yes` or `no`")?,
            "answer",
        )?),
    };
    c.end()?;
    Ok(expect)
}

/// The reason after `reject`.
pub(crate) fn reject_reason(c: &mut Cursor<'_>) -> Result<RejectReason, String> {
    lookup(&REJECT_REASONS, c.word("a reject reason")?, "reject reason")
}

/// `none`, or `<cb>(<r>, ...), ...`.
fn callback_runs<'a>(c: &mut Cursor<'a>) -> Result<Vec<SynCallbackRun<'a>>, String> {
    if c.eat_word("none") {
        return Ok(Vec::new());
    }
    if c.at_end() {
        return Err("expected `none` or callback runs (`cb(0, ...)`)".to_owned());
    }
    c.list(",", None, |c| {
        let name = name(c.word("a callback run")?)?;
        c.expect("(")?;
        let rets = c.list(",", Some(")"), |c| ret(c.word("a call result")?))?;
        c.expect(")")?;
        Ok(SynCallbackRun { name, rets })
    })
}
