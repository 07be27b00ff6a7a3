//! File syntax of resolved steps: the line of a declaration or step (without its expectation)
//! and the block of a program, spelt with the parser's own keyword tables. Objects are named
//! by index: maps `m0, m1, …`, programs `p0, p1, …`, callbacks `p0_cb0, p0_cb1, …`.

use crate::parse::{
    CLOCKS, FIELDS, LICENSES, MAP_FLAGS, MAP_KINDS, PROG_TYPES, TIMER_FLAGS, UPDATE_FLAGS,
};
use spec::{
    Action, Call, CbIdx, ElemRef, MapIdx, MapRef, MapSpec, Nanos, ObjRef, Op, ProgIdx, ProgSpec,
    Query, Stmt, Target, TaskWorkMode,
};
use std::fmt::Write;

pub(super) fn map_name(m: MapIdx) -> String {
    format!("m{}", m.0)
}

pub(super) fn prog_name(p: ProgIdx) -> String {
    format!("p{}", p.0)
}

pub(super) fn callback_name(p: ProgIdx, cb: CbIdx) -> String {
    format!("p{}_cb{}", p.0, cb.0)
}

/// `<keyword> <slug>` (`scenario`, `case`), then a `source` line for each source and the
/// `eras` line.
pub(crate) fn header_lines(
    keyword: &str,
    slug: &str,
    sources: &[String],
    eras: impl std::fmt::Display,
) -> String {
    let mut out = format!("{keyword} {slug}\n");
    for source in sources {
        let _ = writeln!(out, "source {source}");
    }
    let _ = writeln!(out, "eras {eras}");
    out
}

/// The line of a declaration or step doing `action`, without its expectation. `maps` maps
/// and `progs` were declared before it.
pub(super) fn head(action: &Action, maps: usize, progs: &[&ProgSpec]) -> String {
    let op = match action {
        Action::Query(Query::Alive(obj)) => return format!("step alive {}", obj_name(*obj)),
        Action::Query(Query::Runs { prog, cb }) => {
            return format!("step runs {}", callback_name(*prog, *cb));
        }
        Action::Op(op) => op,
    };
    let step = match op {
        Op::MapCreate(spec) => return map_line(&format!("m{maps}"), spec, map_name),
        Op::ProgLoad(spec) => return prog_decl(progs.len(), spec),
        Op::MapUpdate { elem: e, flags } => {
            format!("update {} {}", elem(*e), word(&UPDATE_FLAGS, *flags))
        }
        Op::MapUpdateInner {
            outer,
            key,
            inner,
            flags,
        } => format!(
            "update {}[{}] = {} {}",
            map_name(*outer),
            key.0,
            map_name(*inner),
            word(&UPDATE_FLAGS, *flags)
        ),
        Op::MapDelete { elem: e } => format!("delete {}", elem(*e)),
        Op::MapLookup { elem: e } => format!("lookup {}", elem(*e)),
        Op::ProgRun { prog, key } => {
            let on = progs[usize::from(prog.0)]
                .self_map
                .expect("resolve: a program that is run has a self map");
            format!("run {} on {}[{}]", prog_name(*prog), map_ref(on), key.0)
        }
        Op::Close(obj) => format!("close {}", obj_name(*obj)),
        Op::Pin(obj) => format!("pin {}", obj_name(*obj)),
        Op::Unpin(obj) => format!("unpin {}", obj_name(*obj)),
        Op::GetFdById(obj) => format!("get_fd {}", obj_name(*obj)),
        Op::Advance { ns } => format!("wait {}", duration(*ns)),
    };
    format!("step {step}")
}

/// The indented block of program `p`: `main:` and each callback, with their statements.
pub(super) fn prog_block(p: ProgIdx, spec: &ProgSpec) -> String {
    let mut block = String::from("  main:\n");
    let body = |block: &mut String, stmts: &[Stmt]| {
        for s in stmts {
            // Writing to a String cannot fail.
            let _ = writeln!(block, "    {}", stmt(p, s));
        }
    };
    body(&mut block, &spec.main);
    for (cb, stmts) in (0..=u8::MAX).map(CbIdx).zip(&spec.callbacks) {
        let _ = writeln!(block, "  callback {}:", callback_name(p, cb));
        body(&mut block, stmts);
    }
    block
}

/// The parser's word for `value` (its tables name every value of these types).
pub(crate) fn word<T: PartialEq + Copy>(table: &[(&'static str, T)], value: T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map(|(w, _)| *w)
        .expect("the parser's tables name every value")
}

fn obj_name(obj: ObjRef) -> String {
    match obj {
        ObjRef::Map(m) => map_name(m),
        ObjRef::Prog(p) => prog_name(p),
    }
}

/// `m1`, or `m1[2]` for the inner map at `m1[2]`.
fn map_ref(r: MapRef) -> String {
    match r {
        MapRef::Map(m) => map_name(m),
        MapRef::Inner { outer, key } => format!("{}[{}]", map_name(outer), key.0),
    }
}

fn elem(e: ElemRef) -> String {
    format!("{}[{}]", map_ref(e.map), e.key.0)
}

/// In the largest unit that divides it exactly: `10s`, `1500us`, `7ns`.
fn duration(ns: Nanos) -> String {
    const UNITS: [(&str, u64); 3] = [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)];
    let (unit, scale) = UNITS
        .into_iter()
        .find(|(_, scale)| ns.0.is_multiple_of(*scale))
        .unwrap_or(("ns", 1));
    format!("{}{unit}", ns.0 / scale)
}

/// `map m0 hash max_entries=2 value=timer,wq flags=no_prealloc inner=m1`: map `name`; other
/// maps are named by `map_name`.
pub(crate) fn map_line(name: &str, spec: &MapSpec, map_name: impl Fn(MapIdx) -> String) -> String {
    let mut line = format!(
        "map {name} {} max_entries={}",
        word(&MAP_KINDS, spec.kind),
        spec.max_entries
    );
    let fields: Vec<&str> = FIELDS
        .iter()
        .flat_map(|&(w, count)| {
            std::iter::repeat_n(w, usize::from(*count(&mut spec.value.clone())))
        })
        .collect();
    if !fields.is_empty() {
        let _ = write!(line, " value={}", fields.join(","));
    }
    let flags: Vec<&str> = MAP_FLAGS
        .iter()
        .filter(|(_, flag)| *flag(&mut spec.flags.clone()))
        .map(|(w, _)| *w)
        .collect();
    if !flags.is_empty() {
        let _ = write!(line, " flags={}", flags.join("|"));
    }
    if let Some(t) = spec.inner {
        let _ = write!(line, " inner={}", map_name(t));
    }
    line
}

/// `prog p0 sched_cls [sleepable] [license=proprietary] [on m0]` (the self map, stated even
/// when `run` steps name it, so that a program never run keeps it).
fn prog_decl(index: usize, spec: &ProgSpec) -> String {
    let mut line = format!("prog p{index} {}", word(&PROG_TYPES, spec.ty));
    if spec.sleepable {
        line.push_str(" sleepable");
    }
    if !spec.gpl {
        let _ = write!(line, " license={}", word(&LICENSES, false));
    }
    if let Some(m) = spec.self_map {
        let _ = write!(line, " on {}", map_ref(m));
    }
    line
}

/// `[if runs(<cb>) < <N>:] <call>` in program `p`.
fn stmt(p: ProgIdx, s: &Stmt) -> String {
    let guard = s.guard.map_or(String::new(), |(cb, n)| {
        format!("if runs({}) < {n}: ", callback_name(p, cb))
    });
    format!("{guard}{}", call(p, &s.call))
}

fn call(p: ProgIdx, c: &Call) -> String {
    let t = match c.target() {
        Target::SelfElem => "self".to_owned(),
        Target::Elem(e) => elem(e),
    };
    let cb = |cb| callback_name(p, cb);
    match *c {
        Call::TimerInit { clock, .. } => {
            let clock = CLOCKS
                .iter()
                .find(|(_, v)| *v == clock.0)
                .map_or_else(|| clock.0.to_string(), |(w, _)| (*w).to_owned());
            format!("timer_init({t}, {clock})")
        }
        Call::TimerSetCallback { cb: c, .. } => format!("timer_set_callback({t}, {})", cb(c)),
        Call::TimerStart { nsecs, flags, .. } => {
            format!(
                "timer_start({t}, {}, {})",
                duration(nsecs),
                timer_flags(flags.0)
            )
        }
        Call::TimerCancel { .. } => format!("timer_cancel({t})"),
        Call::TimerCancelAsync { .. } => format!("timer_cancel_async({t})"),
        Call::WqInit { flags, .. } => format!("wq_init({t}, {})", flags.0),
        Call::WqSetCallback { cb: c, flags, .. } => {
            format!("wq_set_callback({t}, {}, {})", cb(c), flags.0)
        }
        Call::WqStart { flags, .. } => format!("wq_start({t}, {})", flags.0),
        Call::TaskWorkSchedule { cb: c, mode, .. } => {
            let mode = match mode {
                TaskWorkMode::Signal => "signal",
                TaskWorkMode::Resume => "resume",
            };
            format!("task_work_schedule_{mode}({t}, {})", cb(c))
        }
        Call::KptrXchg { new, .. } => {
            format!("kptr_xchg({t}, {})", if new { "new" } else { "null" })
        }
        Call::MapUpdate { flags, .. } => format!("map_update({t}, {})", word(&UPDATE_FLAGS, flags)),
        Call::MapDelete { .. } => format!("map_delete({t})"),
        Call::MapLookup { .. } => format!("map_lookup({t})"),
    }
}

/// `0`, `BPF_F_TIMER_ABS|BPF_F_TIMER_CPU_PIN`, or known flags and the other bits as a number
/// (`BPF_F_TIMER_ABS|4`).
fn timer_flags(flags: u64) -> String {
    let mut words: Vec<String> = TIMER_FLAGS
        .iter()
        .filter(|(_, bit)| flags & bit != 0)
        .map(|(w, _)| (*w).to_owned())
        .collect();
    let rest = TIMER_FLAGS.iter().fold(flags, |f, (_, bit)| f & !bit);
    if rest != 0 || words.is_empty() {
        words.push(rest.to_string());
    }
    words.join("|")
}
