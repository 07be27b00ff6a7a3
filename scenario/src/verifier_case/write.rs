//! A [`CaseFile`] as text, in the order and spelling module `read` reads: the header, the maps
//! (the map that fails in the default verdict says so on its line), the `prog` line and its
//! `on` lines, then the functions.

use super::CaseFile;
use super::insn::{Names, insn_text, name_of};
use crate::parse::{LICENSES, PROG_TYPES};
use crate::write::text::{header_lines, map_line, word};
use spec::prog::{Linkage, Program};
use spec::verify::Verdict;
use std::fmt::Write;

pub(super) fn case_text(file: &CaseFile) -> String {
    let maps: Vec<&str> = file.map_names.iter().map(String::as_str).collect();
    let mut out = header_lines("case", &file.name, &file.sources, file.eras);
    // Writing to a String cannot fail.
    if let Some(o) = &file.observed {
        let _ = writeln!(
            out,
            "observed linux {} (era {}): {}",
            o.release,
            o.era.name(),
            verdict_text(o.verdict, &maps)
        );
    }
    for entry in &file.log {
        let _ = writeln!(out, "log | {entry}");
    }
    out.push('\n');
    let failing = match file.verdict {
        Verdict::MapCreate { map, errno } if usize::from(map) < file.case.maps.len() => {
            Some((usize::from(map), errno))
        }
        _ => None,
    };
    for (i, decl) in file.case.maps.iter().enumerate() {
        out += &map_line(&name_of(&maps, i), &decl.spec, |m| name_of(&maps, m.0));
        if !decl.btf {
            out += " nobtf";
        }
        if let Some((_, errno)) = failing.filter(|&(map, _)| map == i) {
            let _ = write!(out, " -> -{errno}");
        }
        out.push('\n');
    }
    let prog = &file.case.prog;
    out += "prog ";
    out += word(&PROG_TYPES, prog.ty);
    if prog.sleepable {
        out += " sleepable";
    }
    if !prog.gpl {
        let _ = write!(out, " license={}", word(&LICENSES, false));
    }
    if !prog.func_info {
        out += " nofuncinfo";
    }
    if failing.is_none() {
        let _ = write!(out, " -> {}", verdict_text(file.verdict, &maps));
    }
    out.push('\n');
    for o in &file.overrides {
        let _ = writeln!(out, "  on {} -> {}", o.eras, verdict_text(o.verdict, &maps));
    }
    out.push('\n');
    out + &program_text(prog, &file.map_names)
}

/// The functions: `func <name> [linkage]` and an indented instruction a line, a blank line
/// between two functions.
pub(super) fn program_text(prog: &Program, map_names: &[String]) -> String {
    let names = Names {
        maps: map_names.iter().map(String::as_str).collect(),
        subprogs: prog.subprogs.iter().map(|s| s.name.as_str()).collect(),
    };
    let funcs: Vec<String> = prog
        .subprogs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let linkage = match s.linkage {
                // The main function is global unless stated.
                Linkage::Global if i == 0 => "",
                Linkage::Global => " global",
                Linkage::Static => " static",
            };
            let mut func = format!("func {}{linkage}\n", s.name);
            for insn in &s.insns {
                let _ = writeln!(func, "  {}", insn_text(insn, &names));
            }
            func
        })
        .collect();
    funcs.join("\n")
}

/// A verdict as `->` states it.
fn verdict_text(verdict: Verdict, maps: &[&str]) -> String {
    match verdict {
        Verdict::Accept => "accept".to_owned(),
        Verdict::Reject(reason) => format!("reject {}", reason.name()),
        Verdict::MapCreate { map, errno } => format!("map {} fails -{errno}", name_of(maps, map)),
        Verdict::Unsupported(why) => format!("unsupported: {why}"),
    }
}
