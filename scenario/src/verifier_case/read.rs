//! A case file's lines to a [`CaseFile`]. The parts come in order: the header (the scenario
//! format's, with `case` for `scenario`, and `observed` and `log` lines), the `map` lines (the
//! scenario `map` line, plus `nobtf`), the `prog` line with its `on` lines, then the functions,
//! each a `func` line and its indented instructions. A map is named from the line after its
//! own on; a function anywhere (a `call` may come before its `func`).

use super::insn::{self, Names, index_of};
use super::{CaseFile, Observed, VerdictOverride};
use crate::error::{LineError, at};
use crate::lex::{self, Cursor, Line};
use crate::parse::{
    PROG_TYPES, ProgOptions, SharedHeader, map_decl, name_line, on_line, reject_reason,
    split_arrow, split_keyword,
};
use crate::value::{errno, lookup, name, small_index};
use spec::prog::{Case, Linkage, MapDecl, Program, Subprog};
use spec::verify::Verdict;
use spec::{Errno, MapIdx, MapSpec, RejectReason};
use std::iter::Peekable;

/// The parts of a file, in the order they come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Header,
    Maps,
    Prog,
    Funcs,
}

impl Part {
    /// The part a line of `keyword` belongs to; `None` for an unknown keyword.
    fn of(keyword: &str) -> Option<Part> {
        match keyword {
            "case" | "source" | "eras" | "observed" | "log" => Some(Part::Header),
            "map" => Some(Part::Maps),
            "prog" => Some(Part::Prog),
            "func" => Some(Part::Funcs),
            _ => None,
        }
    }

    const fn what(self) -> &'static str {
        match self {
            Part::Header => "the header",
            Part::Maps => "the maps",
            Part::Prog => "the `prog` line",
            Part::Funcs => "the functions",
        }
    }
}

/// A `map` line.
struct MapLine {
    line: usize,
    name: String,
    decl: MapDecl,
    /// `-> -E…`: its creation fails.
    fails: Option<Errno>,
}

/// The `prog` line and its `on` lines; `prog.subprogs` is left empty.
struct ProgLine {
    line: usize,
    prog: Program,
    verdict: Option<Verdict>,
    overrides: Vec<VerdictOverride>,
}

/// A `func` line and its instruction lines.
struct Func<'a> {
    line: usize,
    name: &'a str,
    linkage: Linkage,
    body: Vec<Line<'a>>,
}

/// Parse a whole file.
pub(super) fn case_file(text: &str) -> Result<CaseFile, LineError> {
    let mut lines = lines(text).peekable();
    let (first, name) = name_line(lines.next(), "case")?;
    let mut header = SharedHeader::default();
    let (mut observed, mut log) = (None, Vec::new());
    let (mut maps, mut prog, mut funcs) = (Vec::<MapLine>::new(), None, Vec::<Func<'_>>::new());
    let mut part = Part::Header;
    while let Some(line) = lines.next() {
        let err = at(line.number);
        if line.indent > 0 {
            return Err(err(
                "unexpected indented line (only `on` lines under `prog` and instructions under \
                 `func` are indented)"
                    .to_owned(),
            ));
        }
        let (keyword, rest) =
            log_entry(line.text).map_or_else(|| split_keyword(line.text), |entry| ("log", entry));
        let unknown = || {
            err(format!(
                "unknown statement `{keyword}` (known: source, eras, observed, log, map, prog, \
                 func)"
            ))
        };
        let here = Part::of(keyword).ok_or_else(unknown)?;
        if here < part {
            return Err(err(format!("`{keyword}` must come before {}", part.what())));
        }
        part = here;
        match keyword {
            "case" => return Err(err("duplicate `case` line".to_owned())),
            "log" if log_entry(line.text).is_none() => {
                return Err(err("expected `log | <line>`".to_owned()));
            }
            "log" => log.push(rest.to_owned()),
            "observed" if observed.is_some() => {
                return Err(err("duplicate `observed` line".to_owned()));
            }
            "observed" => observed = Some((line.number, rest)),
            "map" => maps.push(map_line(line, &maps).map_err(&err)?),
            "prog" if prog.is_some() => return Err(err("duplicate `prog` line".to_owned())),
            "prog" => prog = Some(prog_line(line, &map_names(&maps), &mut lines)?),
            "func" => {
                let (name, linkage) = func_line(line.text, &funcs).map_err(&err)?;
                funcs.push(Func {
                    line: line.number,
                    name,
                    linkage,
                    body: std::iter::from_fn(|| lines.next_if(|l| l.indent > 0)).collect(),
                });
            }
            _ if header.take(keyword, rest).map_err(&err)? => {}
            _ => return Err(unknown()),
        }
    }
    let observed = observed
        .map(|(line, rest)| observed_line(rest, &map_names(&maps)).map_err(at(line)))
        .transpose()?;
    let (sources, eras) = header.finish().map_err(at(first.number))?;
    let prog = prog.ok_or_else(|| at(first.number)("missing `prog` line".to_owned()))?;
    if funcs.is_empty() {
        return Err(at(prog.line)(
            "missing `func` lines: the program needs its main function".to_owned(),
        ));
    }
    let subprogs = subprograms(&funcs, &maps)?;
    let verdict = default_verdict(&maps, &prog)?;
    Ok(CaseFile {
        name,
        sources,
        eras,
        observed,
        log,
        map_names: maps.iter().map(|m| m.name.clone()).collect(),
        case: Case {
            maps: maps.iter().map(|m| m.decl).collect(),
            prog: Program {
                subprogs,
                ..prog.prog
            },
        },
        verdict,
        overrides: prog.overrides,
    })
}

/// The functions, their instructions read with every function and map name known.
fn subprograms(funcs: &[Func<'_>], maps: &[MapLine]) -> Result<Vec<Subprog>, LineError> {
    let names = Names {
        maps: map_names(maps),
        subprogs: funcs.iter().map(|f| f.name).collect(),
    };
    funcs
        .iter()
        .map(|f| {
            let insns = f
                .body
                .iter()
                .map(|l| insn::insn(l.text, &names).map_err(at(l.number)));
            Ok(Subprog {
                name: f.name.to_owned(),
                linkage: f.linkage,
                insns: insns.collect::<Result<_, LineError>>()?,
            })
        })
        .collect()
}

/// The significant lines of a case file; a `log |` line whole, `#` included (a kernel log
/// says `call bpf_map_lookup_elem#1`).
fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| match log_entry(raw) {
            Some(_) => Some(Line {
                number: i + 1,
                indent: 0,
                text: raw,
            }),
            None => lex::significant(i + 1, raw),
        })
}

/// The entry of a `log | <line>` line: what follows `| `, verbatim.
fn log_entry(raw: &str) -> Option<&str> {
    let bar = raw.strip_prefix("log")?.trim_start_matches([' ', '\t']);
    let entry = bar.strip_prefix('|')?;
    Some(entry.strip_prefix(' ').unwrap_or(entry))
}

fn map_names(maps: &[MapLine]) -> Vec<&str> {
    maps.iter().map(|m| m.name.as_str()).collect()
}

/// `map <name> <type> ... [nobtf] [-> -E<ERRNO>]`, after the maps `maps`.
fn map_line(line: Line<'_>, maps: &[MapLine]) -> Result<MapLine, String> {
    let (text, failure) = split_arrow(line.text);
    let mut c = Cursor::new(text)?;
    c.word("a keyword")?;
    let decl = map_decl(&mut c, true)?;
    c.end()?;
    if let Some(first) = maps.iter().find(|m| m.name == decl.name) {
        return Err(format!(
            "`{}` is already declared on line {}",
            decl.name, first.line
        ));
    }
    small_index(maps.len(), "maps")?;
    let inner = decl
        .inner
        .map(|inner| index_of(&map_names(maps), inner, "map").map(MapIdx))
        .transpose()
        .map_err(|e| format!("{e} (an inner-map template is declared before its outer map)"))?;
    let fails = failure
        .map(|text| {
            let mut c = Cursor::new(text)?;
            let errno = errno(c.word("an errno (`-EINVAL`)")?)?;
            c.end().map(|()| errno)
        })
        .transpose()?;
    if let Some(first) = maps
        .iter()
        .find(|m| m.fails.is_some())
        .filter(|_| fails.is_some())
    {
        return Err(format!(
            "map `{}` (line {}) already fails: the first failing map decides the verdict, state \
             only its failure",
            first.name, first.line
        ));
    }
    Ok(MapLine {
        line: line.number,
        name: decl.name.to_owned(),
        decl: MapDecl {
            spec: MapSpec { inner, ..decl.spec },
            btf: decl.btf,
        },
        fails,
    })
}

/// `prog <type> [sleepable] [license=GPL|proprietary] [nofuncinfo] [-> <verdict>]` and its
/// `on` lines, after the maps `maps`.
fn prog_line<'a>(
    line: Line<'a>,
    maps: &[&str],
    lines: &mut Peekable<impl Iterator<Item = Line<'a>>>,
) -> Result<ProgLine, LineError> {
    let err = at(line.number);
    let (text, verdict_text) = split_arrow(line.text);
    let (prog, verdict) = prog_decl(text, verdict_text, maps).map_err(&err)?;
    let mut overrides = Vec::new();
    while let Some(l) = lines.next_if(|l| l.indent > 0) {
        let (eras, verdict) = on_line(l, |text| verdict_of(text, maps, false))
            .map_err(at(l.number))?
            .ok_or_else(|| at(l.number)("expected an `on <eras> -> <verdict>` line".to_owned()))?;
        overrides.push(VerdictOverride { eras, verdict });
    }
    Ok(ProgLine {
        line: line.number,
        prog,
        verdict,
        overrides,
    })
}

/// The `prog` line: the program (without its functions) and the verdict after `->`.
fn prog_decl(
    text: &str,
    verdict_text: Option<&str>,
    maps: &[&str],
) -> Result<(Program, Option<Verdict>), String> {
    let mut c = Cursor::new(text)?;
    c.word("a keyword")?;
    let ty = lookup(&PROG_TYPES, c.word("a program type")?, "program type")?;
    let (mut options, mut func_info) = (ProgOptions::default(), true);
    while !c.at_end() {
        match c.word("a program option")? {
            "nofuncinfo" if func_info => func_info = false,
            "nofuncinfo" => return Err("`nofuncinfo` given twice".to_owned()),
            option if options.take(option, &mut c)? => {}
            option => {
                return Err(format!(
                    "unknown program option `{option}` (known: sleepable, license=, nofuncinfo)"
                ));
            }
        }
    }
    let verdict = verdict_text
        .map(|text| verdict_of(text, maps, false))
        .transpose()?;
    if let Some(Verdict::MapCreate { map, errno }) = verdict {
        return Err(format!(
            "a map's failure is stated on its line (`map {} ... -> -{errno}`)",
            maps[usize::from(map)]
        ));
    }
    let prog = Program {
        ty,
        sleepable: options.sleepable(),
        gpl: options.gpl(),
        func_info,
        subprogs: Vec::new(),
    };
    Ok((prog, verdict))
}

/// `accept`, `reject <reason>` or `map <name> fails -E<ERRNO>`; the reason may be
/// `unmapped` (which only a kernel gives) if the verdict is `observed`.
fn verdict_of(text: &str, maps: &[&str], observed: bool) -> Result<Verdict, String> {
    let mut c = Cursor::new(text)?;
    let verdict = match c.word("a verdict (`accept`, `reject <reason>`, `map <name> fails -E…`)")?
    {
        "accept" => Verdict::Accept,
        "reject" if c.eat_word(RejectReason::Unmapped.name()) => {
            if !observed {
                return Err(
                    "a file cannot expect `unmapped`, what a kernel gives for a log line \
                            the message table does not map: map it to a reason, and expect that"
                        .to_owned(),
                );
            }
            Verdict::Reject(RejectReason::Unmapped)
        }
        "reject" => Verdict::Reject(reject_reason(&mut c)?),
        "map" => {
            let map = index_of(maps, c.word("a map name")?, "map")?;
            if !c.eat_word("fails") {
                return Err("expected `fails -E…` after the map".to_owned());
            }
            let errno = errno(c.word("an errno (`-EINVAL`)")?)?;
            Verdict::MapCreate { map, errno }
        }
        other => {
            return Err(format!(
                "unknown verdict `{other}` (known: accept, reject <reason>, map <name> fails -E…)"
            ));
        }
    };
    c.end()?;
    Ok(verdict)
}

/// The verdict of the eras no `on` line names: the failing map's, or the `prog` line's.
fn default_verdict(maps: &[MapLine], prog: &ProgLine) -> Result<Verdict, LineError> {
    let failing = maps.iter().enumerate().find_map(|(i, m)| {
        let errno = m.fails?;
        Some((m, small_index(i, "maps").ok()?, errno))
    });
    match (failing, prog.verdict) {
        (Some((_, map, errno)), None) => Ok(Verdict::MapCreate { map, errno }),
        (None, Some(verdict)) => Ok(verdict),
        (Some((m, ..)), Some(_)) => Err(at(prog.line)(format!(
            "map `{}` fails (line {}): the program is never loaded, so the `prog` line states no \
             verdict",
            m.name, m.line
        ))),
        (None, None) => Err(at(prog.line)(
            "missing `-> <verdict>` (`accept` or `reject <reason>`)".to_owned(),
        )),
    }
}

const LINKAGES: [(&str, Linkage); 2] = [("static", Linkage::Static), ("global", Linkage::Global)];

/// `func <name> [static|global]`, after the functions `funcs`: the name and the linkage. The
/// first function is the program's main one, global unless stated; every other states its
/// linkage.
fn func_line<'a>(text: &'a str, funcs: &[Func<'a>]) -> Result<(&'a str, Linkage), String> {
    let mut c = Cursor::new(text)?;
    c.word("a keyword")?;
    let name = name(c.word("a function name")?)?;
    if insn::is_kernel_function(name) {
        return Err(format!(
            "`{name}` is a helper or kfunc: `call {name}` would call it, not this function"
        ));
    }
    if let Some(first) = funcs.iter().find(|f| f.name == name) {
        return Err(format!(
            "`{name}` is already declared on line {}",
            first.line
        ));
    }
    small_index(funcs.len(), "functions")?;
    let linkage = if !c.at_end() {
        lookup(&LINKAGES, c.word("a linkage")?, "linkage")?
    } else if funcs.is_empty() {
        Linkage::Global
    } else {
        return Err(format!(
            "function `{name}` needs its linkage: `func {name} static` or `func {name} global`"
        ));
    };
    c.end()?;
    Ok((name, linkage))
}

/// `linux <release> (era <era>): <verdict>`, after `observed`.
fn observed_line(rest: &str, maps: &[&str]) -> Result<Observed, String> {
    let form = || "expected `observed linux <release> (era <era>): <verdict>`".to_owned();
    let (release, rest) = rest
        .strip_prefix("linux ")
        .and_then(|r| r.split_once(" (era "))
        .ok_or_else(form)?;
    let (era, verdict) = rest.split_once("):").ok_or_else(form)?;
    if release.is_empty() || release.contains(char::is_whitespace) {
        return Err(form());
    }
    Ok(Observed {
        release: release.to_owned(),
        era: era.parse()?,
        verdict: verdict_of(verdict, maps, true)?,
    })
}
