//! Phase one: the lines of a file to a [`File`] (the syntax tree).
//!
//! Each top-level line is a header line, a declaration (`map`, `prog`, in [`decl`]) or a
//! `step` ([`mod@step`]). A `prog` owns the indented lines below it (`main:`, `callback NAME:`,
//! their statements ([`mod@stmt`]), `on` lines); a `map` or `step` owns only `on` lines. What
//! follows `->` is an expectation ([`mod@expect`]). Callback names are resolved here, inside
//! their program; every other name is left for [`crate::compile`].

mod decl;
mod expect;
mod step;
mod stmt;

use crate::eras::EraSet;
use crate::error::{LineError, at};
use crate::lex::{self, Cursor, Line};
use crate::model::{Divergence, Header};
use crate::syntax::{File, Item, ItemKind, SynElem, SynExpect, SynMap, SynOverride};
use crate::value::{name, uint};
use decl::{map_decl, prog_block, prog_decl};
use expect::{Form, expect};
use spec::{Key, UpdateFlags};
use std::iter::Peekable;

// The keyword tables, for the writer (`crate::write`): every word is spelt in one place.
pub(crate) use decl::{FIELDS, LICENSES, MAP_FLAGS, MAP_KINDS, PROG_TYPES};
pub(crate) use expect::REJECT_REASONS;
pub(crate) use stmt::{CLOCKS, TIMER_FLAGS};

/// Parse a whole file.
pub(crate) fn file(text: &str) -> Result<File<'_>, LineError> {
    let mut lines = lex::lines(text).peekable();
    let Some(first) = lines.next() else {
        return Err(at(1)("empty file: expected `scenario <slug>`".to_owned()));
    };
    let slug = scenario_line(first).map_err(at(first.number))?;
    let (mut sources, mut eras, mut preempt_rt) = (Vec::new(), None, false);
    let (mut diverges, mut observed) = (Vec::new(), None);
    let mut items = Vec::new();
    while let Some(line) = lines.next() {
        let err = at(line.number);
        if line.indent > 0 {
            return Err(err(
                "unexpected indented line (only `prog` blocks and `on` lines are indented)"
                    .to_owned(),
            ));
        }
        let (keyword, rest) = split_keyword(line.text);
        match keyword {
            "source" | "eras" | "kernel" | "diverges" | "observed" if !items.is_empty() => {
                return Err(err(format!(
                    "`{keyword}` must come before maps, programs and steps"
                )));
            }
            "source" if rest.is_empty() => return Err(err("`source` needs a text".to_owned())),
            "source" => sources.push(rest.to_owned()),
            "eras" if eras.is_some() => return Err(err("duplicate `eras` line".to_owned())),
            "eras" => eras = Some(rest.parse::<EraSet>().map_err(&err)?),
            "diverges" => diverges.push(divergence(line.number, rest).map_err(&err)?),
            "observed" if observed.is_some() => {
                return Err(err("duplicate `observed` line".to_owned()));
            }
            "observed" if rest.is_empty() => {
                return Err(err(
                    "`observed` needs the kernel the expectations came from".to_owned(),
                ));
            }
            "observed" => observed = Some(rest.to_owned()),
            "kernel" if rest == "preempt_rt" => preempt_rt = true,
            "kernel" => {
                return Err(err(format!(
                    "unknown kernel option `{rest}` (known: preempt_rt)"
                )));
            }
            "map" | "prog" | "step" => items.push(item(line, keyword, &mut lines)?),
            "scenario" => return Err(err("duplicate `scenario` line".to_owned())),
            _ => {
                return Err(err(format!(
                    "unknown statement `{keyword}` (known: source, eras, kernel, diverges, observed, \
                     map, prog, step)"
                )));
            }
        }
    }
    let missing = |what: &str| at(first.number)(format!("missing `{what}` line"));
    if sources.is_empty() {
        return Err(missing("source"));
    }
    let eras = eras.ok_or_else(|| missing("eras"))?;
    Ok(File {
        header: Header {
            slug,
            sources,
            eras,
            preempt_rt,
            diverges,
            observed,
        },
        items,
    })
}

/// `diverges <era-set>: <reason>`.
fn divergence(line: usize, rest: &str) -> Result<Divergence, String> {
    let (eras, reason) = rest
        .split_once(':')
        .ok_or("`diverges` needs `<eras>: <reason>`")?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err("`diverges` needs a reason after `:`".to_owned());
    }
    Ok(Divergence {
        line,
        eras: eras.trim().parse::<EraSet>()?,
        reason: reason.to_owned(),
    })
}

/// The first word of a line and the rest, trimmed.
fn split_keyword(text: &str) -> (&str, &str) {
    text.split_once(char::is_whitespace)
        .map_or((text, ""), |(keyword, rest)| (keyword, rest.trim()))
}

/// `scenario <slug>`, the first statement.
fn scenario_line(line: Line<'_>) -> Result<String, String> {
    let (keyword, slug) = split_keyword(line.text);
    let is_slug = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    match keyword {
        "scenario" if is_slug(slug) => Ok(slug.to_owned()),
        "scenario" => Err(format!(
            "expected a slug (`[A-Za-z0-9_-]+`) after `scenario`, found `{slug}`"
        )),
        _ => Err("the first statement must be `scenario <slug>`".to_owned()),
    }
}

/// A `map`, `prog` or `step` line and the indented lines it owns.
fn item<'a>(
    line: Line<'a>,
    keyword: &str,
    lines: &mut Peekable<impl Iterator<Item = Line<'a>>>,
) -> Result<Item<'a>, LineError> {
    let err = at(line.number);
    let (text, expectation) = match line.text.split_once("->") {
        Some((text, expectation)) => (text.trim_end(), Some(expectation)),
        None => (line.text, None),
    };
    let mut c = Cursor::new(text).map_err(&err)?;
    c.word("a keyword").map_err(&err)?;
    let kind = match keyword {
        "map" => map_decl(&mut c).map(ItemKind::Map),
        "prog" => prog_decl(&mut c).map(ItemKind::Prog),
        _ => step::step(&mut c).map(ItemKind::Step),
    }
    .and_then(|kind| c.end().map(|()| kind))
    .map_err(&err)?;
    let form = Form::of(&kind);
    let expect = match expectation {
        Some(e) => expect(form, e).map_err(&err)?,
        None if keyword == "step" => {
            return Err(err("missing `->` and the expected result".to_owned()));
        }
        None => SynExpect::Status(None),
    };
    let mut item = Item {
        line: line.number,
        text,
        kind,
        expect,
        overrides: Vec::new(),
    };
    match &mut item.kind {
        ItemKind::Prog(decl) => prog_block(decl, form, &mut item.overrides, lines)?,
        _ => {
            while let Some(l) = lines.next_if(|l| l.indent > 0) {
                let o = on_line(l, form).map_err(at(l.number))?.ok_or_else(|| {
                    at(l.number)("expected an `on <eras> -> ...` line".to_owned())
                })?;
                item.overrides.push(o);
            }
        }
    }
    Ok(item)
}

/// `on <eras> -> <expectation>`; `None` if the line is something else.
fn on_line(line: Line<'_>, form: Form) -> Result<Option<SynOverride<'_>>, String> {
    let (keyword, rest) = split_keyword(line.text);
    if keyword != "on" {
        return Ok(None);
    }
    let (eras, expectation) = rest.split_once("->").ok_or("missing `->` in `on` line")?;
    Ok(Some(SynOverride {
        line: line.number,
        eras: eras.parse()?,
        expect: expect(form, expectation)?,
    }))
}

pub(crate) const UPDATE_FLAGS: [(&str, UpdateFlags); 3] = [
    ("BPF_ANY", UpdateFlags::Any),
    ("BPF_NOEXIST", UpdateFlags::NoExist),
    ("BPF_EXIST", UpdateFlags::Exist),
];

fn key(c: &mut Cursor<'_>) -> Result<Key, String> {
    c.expect("[")?;
    let key = uint(c.word("a key")?, "a key").map(Key)?;
    c.expect("]")?;
    Ok(key)
}

/// `<map>` or `<outer>[<okey>]`.
fn map<'a>(c: &mut Cursor<'a>) -> Result<SynMap<'a>, String> {
    let map = name(c.word("a map (`map` or `outer[key]`)")?)?;
    let inner_at = if c.peek() == Some(lex::Tok::Punct("[")) {
        Some(key(c)?)
    } else {
        None
    };
    Ok(SynMap { map, inner_at })
}

/// `<map>[<key>]` or `<outer>[<okey>][<key>]`.
fn elem<'a>(c: &mut Cursor<'a>) -> Result<SynElem<'a>, String> {
    let map = name(c.word("a map element (`map[key]`)")?)?;
    let first = key(c)?;
    Ok(if c.peek() == Some(lex::Tok::Punct("[")) {
        SynElem {
            map,
            inner_at: Some(first),
            key: key(c)?,
        }
    } else {
        SynElem {
            map,
            inner_at: None,
            key: first,
        }
    })
}
