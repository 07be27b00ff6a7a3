//! `map` and `prog` declarations, and the block of a program.

use super::expect::Form;
use super::stmt::stmt;
use super::{map, override_line};
use crate::error::{LineError, at};
use crate::lex::{Cursor, Line};
use crate::syntax::{CallbackDecl, MapDecl, ProgDecl, SynOverride};
use crate::value::{lookup, name, uint};
use spec::{MapFlags, MapKind, MapSpec, ProgType, ValueLayout};
use std::iter::Peekable;

pub(crate) const MAP_KINDS: [(&str, MapKind); 7] = [
    ("array", MapKind::Array),
    ("percpu_array", MapKind::PercpuArray),
    ("hash", MapKind::Hash),
    ("percpu_hash", MapKind::PercpuHash),
    ("lru_hash", MapKind::LruHash),
    ("array_of_maps", MapKind::ArrayOfMaps),
    ("hash_of_maps", MapKind::HashOfMaps),
];

/// The counter of one kind of value field.
type FieldCount = fn(&mut ValueLayout) -> &mut u8;

/// Value fields by file name.
pub(crate) const FIELDS: [(&str, FieldCount); 6] = [
    ("timer", |v| &mut v.timer),
    ("wq", |v| &mut v.wq),
    ("task_work", |v| &mut v.task_work),
    ("kptr", |v| &mut v.kptr),
    ("kptr_untrusted", |v| &mut v.kptr_untrusted),
    ("spin_lock", |v| &mut v.spin_lock),
];

/// The switch of one map flag.
type MapFlag = fn(&mut MapFlags) -> &mut bool;

pub(crate) const MAP_FLAGS: [(&str, MapFlag); 3] = [
    ("no_prealloc", |f| &mut f.no_prealloc),
    ("rdonly_prog", |f| &mut f.rdonly_prog),
    ("wronly_prog", |f| &mut f.wronly_prog),
];

/// Set an option given at most once.
fn once<T>(slot: &mut Option<T>, value: T, option: &str) -> Result<(), String> {
    match slot.replace(value) {
        Some(_) => Err(format!("`{option}=` given twice")),
        None => Ok(()),
    }
}

/// `map <name> <type> max_entries=<N> [value=...] [flags=...] [inner=<map>]`, and `nobtf` if
/// `nobtf_allowed` (verifier case files: the map is created without key / value BTF).
pub(crate) fn map_decl<'a>(c: &mut Cursor<'a>, nobtf_allowed: bool) -> Result<MapDecl<'a>, String> {
    let map = name(c.word("a map name")?)?;
    let kind = lookup(&MAP_KINDS, c.word("a map type")?, "map type")?;
    let (mut max_entries, mut value, mut flags, mut inner) = (None, None, None, None);
    let mut btf = true;
    while !c.at_end() {
        let option = c.word("a map option")?;
        if nobtf_allowed && option == "nobtf" {
            if !btf {
                return Err("`nobtf` given twice".to_owned());
            }
            btf = false;
            continue;
        }
        c.expect("=")?;
        match option {
            "max_entries" => once(
                &mut max_entries,
                uint(c.word("max_entries")?, "max_entries")?,
                option,
            )?,
            "value" => {
                let mut layout = ValueLayout::default();
                for field in c.list(",", None, |c| {
                    lookup(&FIELDS, c.word("a value field")?, "value field")
                })? {
                    let count = field(&mut layout);
                    *count = count.checked_add(1).ok_or("too many fields of one kind")?;
                }
                once(&mut value, layout, option)?;
            }
            "flags" => {
                let mut map_flags = MapFlags::default();
                for flag in c.list("|", None, |c| {
                    lookup(&MAP_FLAGS, c.word("a map flag")?, "map flag")
                })? {
                    *flag(&mut map_flags) = true;
                }
                once(&mut flags, map_flags, option)?;
            }
            "inner" => once(&mut inner, name(c.word("a map name")?)?, option)?,
            _ => {
                return Err(format!(
                    "unknown map option `{option}` (known: max_entries, value, flags, inner{})",
                    if nobtf_allowed { ", nobtf" } else { "" }
                ));
            }
        }
    }
    Ok(MapDecl {
        name: map,
        spec: MapSpec {
            kind,
            max_entries: max_entries.ok_or("missing `max_entries=<N>`")?,
            value: value.unwrap_or_default(),
            flags: flags.unwrap_or_default(),
            inner: None,
        },
        inner,
        btf,
    })
}

pub(crate) const PROG_TYPES: [(&str, ProgType); 11] = [
    ("socket_filter", ProgType::SocketFilter),
    ("sched_cls", ProgType::SchedCls),
    ("xdp", ProgType::Xdp),
    ("syscall", ProgType::Syscall),
    ("kprobe", ProgType::Kprobe),
    ("tracepoint", ProgType::Tracepoint),
    ("perf_event", ProgType::PerfEvent),
    ("raw_tracepoint", ProgType::RawTracepoint),
    ("fentry", ProgType::Tracing),
    ("tp_btf", ProgType::Tracing),
    ("lsm", ProgType::Lsm),
];

pub(crate) const LICENSES: [(&str, bool); 2] = [("GPL", true), ("proprietary", false)];

/// The options of a `prog` line that every file format has: `sleepable` and
/// `license=GPL|proprietary`.
#[derive(Debug, Default)]
pub(crate) struct ProgOptions {
    sleepable: Option<bool>,
    gpl: Option<bool>,
}

impl ProgOptions {
    /// Take `option`, the word just read from `c`, if it is one of them (`true`).
    pub(crate) fn take(&mut self, option: &str, c: &mut Cursor<'_>) -> Result<bool, String> {
        match option {
            "sleepable" => once(&mut self.sleepable, true, option)?,
            "license" => {
                c.expect("=")?;
                let license = lookup(&LICENSES, c.word("a license")?, "license")?;
                once(&mut self.gpl, license, option)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `BPF_F_SLEEPABLE`: off unless stated.
    pub(crate) fn sleepable(&self) -> bool {
        self.sleepable.unwrap_or(false)
    }

    /// A GPL-compatible license: `GPL` unless stated.
    pub(crate) fn gpl(&self) -> bool {
        self.gpl.unwrap_or(true)
    }
}

/// `prog <name> <type> [sleepable] [license=GPL|proprietary] [on <map>]`; the body comes from
/// the block.
pub(super) fn prog_decl<'a>(c: &mut Cursor<'a>) -> Result<ProgDecl<'a>, String> {
    let name = name(c.word("a program name")?)?;
    let ty = lookup(&PROG_TYPES, c.word("a program type")?, "program type")?;
    let (mut options, mut on) = (ProgOptions::default(), None);
    while !c.at_end() {
        match c.word("a program option")? {
            "on" => {
                let m = map(c)?;
                once(&mut on, m, "on")?;
            }
            option if options.take(option, c)? => {}
            option => {
                return Err(format!(
                    "unknown program option `{option}` (known: sleepable, license=, on)"
                ));
            }
        }
    }
    Ok(ProgDecl {
        name,
        ty,
        sleepable: options.sleepable(),
        gpl: options.gpl(),
        on,
        main: Vec::new(),
        callbacks: Vec::new(),
    })
}

/// A section of a program block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body<'a> {
    Main,
    Callback(&'a str),
}

/// `main:` or `callback <name>:`; `None` if the line is something else.
fn section_header(text: &str) -> Result<Option<Body<'_>>, String> {
    let Some(head) = text.strip_suffix(':') else {
        return Ok(None);
    };
    let mut c = Cursor::new(head)?;
    let body = if c.eat_word("main") {
        Body::Main
    } else if c.eat_word("callback") {
        Body::Callback(name(c.word("a callback name")?)?)
    } else {
        return Ok(None);
    };
    c.end()?;
    Ok(Some(body))
}

/// The indented lines of a `prog`: sections and their statements, and `on` lines.
pub(super) fn prog_block<'a>(
    decl: &mut ProgDecl<'a>,
    form: Form,
    overrides: &mut Vec<SynOverride<'a>>,
    lines: &mut Peekable<impl Iterator<Item = Line<'a>>>,
) -> Result<(), LineError> {
    // Each section: its header line, indentation and kind, and its statement lines.
    let mut sections: Vec<(Line<'a>, Body<'a>, Vec<Line<'a>>)> = Vec::new();
    while let Some(l) = lines.next_if(|l| l.indent > 0) {
        let err = at(l.number);
        if let Some(o) = override_line(l, form)? {
            overrides.push(o);
        } else if let Some(body) = section_header(l.text).map_err(&err)? {
            sections.push((l, body, Vec::new()));
        } else {
            match sections.last_mut() {
                Some((header, _, stmts)) if l.indent > header.indent => stmts.push(l),
                Some(_) => {
                    return Err(err(
                        "a statement must be indented under its `main:` or `callback NAME:`"
                            .to_owned(),
                    ));
                }
                None => return Err(err("expected `main:` or `callback NAME:`".to_owned())),
            }
        }
    }
    let callbacks: Vec<&str> = sections
        .iter()
        .filter_map(|(_, body, _)| match body {
            Body::Callback(name) => Some(*name),
            Body::Main => None,
        })
        .collect();
    let mut main_line = None;
    for (header, body, stmt_lines) in sections {
        let stmts = stmt_lines
            .into_iter()
            .map(|l| stmt(l, &callbacks).map_err(at(l.number)))
            .collect::<Result<Vec<_>, _>>()?;
        match body {
            Body::Main => {
                if let Some(first) = main_line.replace(header.number) {
                    return Err(at(header.number)(format!(
                        "second `main:` (the first is on line {first})"
                    )));
                }
                decl.main = stmts;
            }
            Body::Callback(name) => decl.callbacks.push(CallbackDecl {
                line: header.number,
                name,
                body: stmts,
            }),
        }
    }
    Ok(())
}
