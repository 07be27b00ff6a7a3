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
use crate::model::{Builds, Divergence, Header};
use crate::syntax::{File, Item, ItemKind, SynElem, SynExpect, SynMap, SynOverride};
use crate::value::{name, uint};
pub(crate) use decl::{ProgOptions, map_decl};
use decl::{prog_block, prog_decl};
use expect::{Form, expect};
use spec::{Key, UpdateFlags};
use std::iter::Peekable;

// The keyword tables, for the writer (`crate::write`): every word is spelt in one place.
pub(crate) use decl::{FIELDS, LICENSES, MAP_FLAGS, MAP_KINDS, PROG_TYPES};
pub(crate) use expect::{REJECT_REASONS, reject_reason};
pub(crate) use stmt::{CLOCKS, TIMER_FLAGS};

/// Parse a whole file.
pub(crate) fn file(text: &str) -> Result<File<'_>, LineError> {
    let mut lines = lex::lines(text).peekable();
    let (first, slug) = name_line(lines.next(), "scenario")?;
    let mut shared = SharedHeader::default();
    let (mut builds, mut diverges, mut observed) = (Builds::Standard, Vec::new(), None);
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
            "kernel" if rest == "preempt_rt" => builds = Builds::PreemptRt,
            "kernel" if rest == "any" => builds = Builds::Any,
            "kernel" => {
                return Err(err(format!(
                    "unknown kernel option `{rest}` (known: preempt_rt, any)"
                )));
            }
            "map" | "prog" | "step" => items.push(item(line, keyword, &mut lines)?),
            "scenario" => return Err(err("duplicate `scenario` line".to_owned())),
            _ if shared.take(keyword, rest).map_err(&err)? => {}
            _ => {
                return Err(err(format!(
                    "unknown statement `{keyword}` (known: source, eras, kernel, diverges, observed, \
                     map, prog, step)"
                )));
            }
        }
    }
    let (sources, eras) = shared.finish().map_err(at(first.number))?;
    Ok(File {
        header: Header {
            slug,
            sources,
            eras,
            builds,
            diverges,
            observed,
        },
        items,
    })
}

/// The header lines every file format of the crate has: `source <text>` (at least one) and
/// `eras <era-set>` (exactly one).
#[derive(Debug, Default)]
pub(crate) struct SharedHeader {
    sources: Vec<String>,
    eras: Option<EraSet>,
}

impl SharedHeader {
    /// Take the line `keyword rest` if it is a `source` or `eras` line (`true`).
    pub(crate) fn take(&mut self, keyword: &str, rest: &str) -> Result<bool, String> {
        match keyword {
            "source" if rest.is_empty() => return Err("`source` needs a text".to_owned()),
            "source" => self.sources.push(rest.to_owned()),
            "eras" if self.eras.is_some() => return Err("duplicate `eras` line".to_owned()),
            "eras" => self.eras = Some(rest.parse::<EraSet>()?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The sources and the eras, once the header is over.
    pub(crate) fn finish(self) -> Result<(Vec<String>, EraSet), String> {
        let missing = |what: &str| format!("missing `{what}` line");
        if self.sources.is_empty() {
            return Err(missing("source"));
        }
        Ok((self.sources, self.eras.ok_or_else(|| missing("eras"))?))
    }
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
pub(crate) fn split_keyword(text: &str) -> (&str, &str) {
    text.split_once(char::is_whitespace)
        .map_or((text, ""), |(keyword, rest)| (keyword, rest.trim()))
}

/// `<keyword> <slug>`, the first statement of a file (`scenario`, `case`): the line and the
/// slug.
pub(crate) fn name_line<'a>(
    first: Option<Line<'a>>,
    keyword: &str,
) -> Result<(Line<'a>, String), LineError> {
    let Some(line) = first else {
        return Err(at(1)(format!("empty file: expected `{keyword} <slug>`")));
    };
    let (word, slug) = split_keyword(line.text);
    let is_slug = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let err = at(line.number);
    if word != keyword {
        Err(err(format!(
            "the first statement must be `{keyword} <slug>`"
        )))
    } else if !is_slug(slug) {
        Err(err(format!(
            "expected a slug (`[A-Za-z0-9_-]+`) after `{keyword}`, found `{slug}`"
        )))
    } else {
        Ok((line, slug.to_owned()))
    }
}

/// A `map`, `prog` or `step` line and the indented lines it owns.
fn item<'a>(
    line: Line<'a>,
    keyword: &str,
    lines: &mut Peekable<impl Iterator<Item = Line<'a>>>,
) -> Result<Item<'a>, LineError> {
    let err = at(line.number);
    let (text, expectation) = split_arrow(line.text);
    let mut c = Cursor::new(text).map_err(&err)?;
    c.word("a keyword").map_err(&err)?;
    let kind = match keyword {
        "map" => map_decl(&mut c, false).map(ItemKind::Map),
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
                let o = override_line(l, form)?.ok_or_else(|| {
                    at(l.number)("expected an `on <eras> -> ...` line".to_owned())
                })?;
                item.overrides.push(o);
            }
        }
    }
    Ok(item)
}

/// A line's statement and what follows its `->`, if it has one.
pub(crate) fn split_arrow(text: &str) -> (&str, Option<&str>) {
    match text.split_once("->") {
        Some((statement, expectation)) => (statement.trim_end(), Some(expectation)),
        None => (text, None),
    }
}

/// `on <eras> -> <expectation>`, the expectation read by `expectation`; `None` if the line is
/// something else.
pub(crate) fn on_line<'a, T>(
    line: Line<'a>,
    expectation: impl FnOnce(&'a str) -> Result<T, String>,
) -> Result<Option<(EraSet, T)>, String> {
    let (keyword, rest) = split_keyword(line.text);
    if keyword != "on" {
        return Ok(None);
    }
    let (eras, text) = rest.split_once("->").ok_or("missing `->` in `on` line")?;
    Ok(Some((eras.parse()?, expectation(text)?)))
}

/// An `on` line of an item whose expectations are in the grammar `form`.
fn override_line(line: Line<'_>, form: Form) -> Result<Option<SynOverride<'_>>, LineError> {
    let o = on_line(line, |text| expect(form, text)).map_err(at(line.number))?;
    Ok(o.map(|(eras, expect)| SynOverride {
        line: line.number,
        eras,
        expect,
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
