//! Phase two: a [`syntax::File`] to a [`Scenario`]: names resolved to the
//! spec's indices, declarations and steps to [`Op`]s and [`Query`]s, expectations checked
//! against the programs they describe.
//!
//! A name is visible from the line after its declaration on (so a program can only name maps
//! created before it is loaded, as a loader holds their fds). Maps and programs are numbered
//! in declaration order, failed ones included, as the spec's `World` appends them. A program's
//! self map is the map of its `run` steps, found by a pass over the steps before compiling.

use crate::error::{LineError, at};
use crate::model::{Action, Expectation, Expected, MapDecl, Override, ProgDecl, Scenario, Step};
use crate::syntax::{
    self, File, Item, ItemKind, SynCallbackRun, SynElem, SynExpect, SynMap, SynStep, SynTarget,
};
use crate::value::small_index;
use spec::{
    CallbackRun, CbIdx, ElemRef, MapIdx, MapRef, ObjRef, Observation, Op, Outcome, ProgIdx,
    ProgSpec, Query, Stmt, Target,
};
use std::collections::HashMap;

/// What a name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sym {
    Map(MapIdx),
    Prog(ProgIdx),
    Callback(ProgIdx, CbIdx),
}

impl Sym {
    const fn what(self) -> &'static str {
        match self {
            Sym::Map(_) => "a map",
            Sym::Prog(_) => "a program",
            Sym::Callback(..) => "a callback",
        }
    }
}

struct Compiler<'a> {
    scenario: Scenario,
    /// Declared names, with their line.
    names: HashMap<&'a str, (usize, Sym)>,
    /// For each program that a `run` step runs: the first such step's line and element.
    runs_on: HashMap<&'a str, (usize, SynElem<'a>)>,
}

/// Compile a parsed file named `file`.
pub(crate) fn compile(file: String, syntax: File<'_>) -> Result<Scenario, LineError> {
    let mut c = Compiler {
        scenario: Scenario {
            file,
            header: syntax.header,
            maps: Vec::new(),
            progs: Vec::new(),
            steps: Vec::new(),
        },
        names: HashMap::new(),
        runs_on: runs_on(&syntax.items)?,
    };
    for item in &syntax.items {
        c.item(item)?;
    }
    Ok(c.scenario)
}

/// The element each program is run on (by its first `run` step); a second map is an error.
fn runs_on<'a>(items: &[Item<'a>]) -> Result<HashMap<&'a str, (usize, SynElem<'a>)>, LineError> {
    let mut runs_on: HashMap<&str, (usize, SynElem<'_>)> = HashMap::new();
    for item in items {
        let ItemKind::Step(SynStep::Run { prog, on }) = item.kind else {
            continue;
        };
        match runs_on.get(prog) {
            Some((line, first)) if first.map_text() != on.map_text() => {
                return Err(at(item.line)(format!(
                    "program `{prog}` is run on `{}` on line {line} and on `{}` here: a program runs on elements of one map",
                    first.map_text(),
                    on.map_text()
                )));
            }
            Some(_) => {}
            None => {
                runs_on.insert(prog, (item.line, on));
            }
        }
    }
    Ok(runs_on)
}

impl<'a> Compiler<'a> {
    fn item(&mut self, item: &Item<'a>) -> Result<(), LineError> {
        let err = at(item.line);
        let action = match &item.kind {
            ItemKind::Map(decl) => self.map(item.line, decl)?,
            ItemKind::Prog(decl) => self.prog(item.line, decl)?,
            ItemKind::Step(step) => self.step(step).map_err(&err)?,
        };
        let default = self.expected(&action, &item.expect).map_err(&err)?;
        let overrides = item
            .overrides
            .iter()
            .map(|o| {
                Ok(Override {
                    line: o.line,
                    eras: o.eras,
                    expected: self.expected(&action, &o.expect).map_err(at(o.line))?,
                })
            })
            .collect::<Result<_, LineError>>()?;
        self.scenario.steps.push(Step {
            line: item.line,
            text: item.text.to_owned(),
            action,
            expect: Expectation { default, overrides },
        });
        Ok(())
    }

    /// Make `name` denote `sym` from now on.
    fn declare(&mut self, line: usize, name: &'a str, sym: Sym) -> Result<(), LineError> {
        if let Some((first, _)) = self.names.insert(name, (line, sym)) {
            return Err(at(line)(format!(
                "`{name}` is already declared on line {first}"
            )));
        }
        Ok(())
    }

    fn lookup(&self, name: &str) -> Result<Sym, String> {
        self.names
            .get(name)
            .map(|&(_, sym)| sym)
            .ok_or_else(|| format!("`{name}` is not declared (before this line)"))
    }

    fn map_idx(&self, name: &str) -> Result<MapIdx, String> {
        match self.lookup(name)? {
            Sym::Map(m) => Ok(m),
            other => Err(format!("`{name}` is {}, not a map", other.what())),
        }
    }

    fn prog_idx(&self, name: &str) -> Result<ProgIdx, String> {
        match self.lookup(name)? {
            Sym::Prog(p) => Ok(p),
            other => Err(format!("`{name}` is {}, not a program", other.what())),
        }
    }

    fn obj_ref(&self, name: &str) -> Result<ObjRef, String> {
        match self.lookup(name)? {
            Sym::Map(m) => Ok(ObjRef::Map(m)),
            Sym::Prog(p) => Ok(ObjRef::Prog(p)),
            Sym::Callback(..) => Err(format!("`{name}` is a callback, not a map or program")),
        }
    }

    fn callback_idx(&self, name: &str) -> Result<(ProgIdx, CbIdx), String> {
        match self.lookup(name)? {
            Sym::Callback(p, cb) => Ok((p, cb)),
            other => Err(format!("`{name}` is {}, not a callback", other.what())),
        }
    }

    /// `m` or `outer[okey]` (the inner map stored there; `outer` must be a map of maps).
    fn map_ref(&self, m: &SynMap<'_>) -> Result<MapRef, String> {
        let map = self.map_idx(m.map)?;
        let Some(key) = m.inner_at else {
            return Ok(MapRef::Map(map));
        };
        match self.scenario.map_spec(map) {
            Some(spec) if spec.kind.is_map_in_map() => Ok(MapRef::Inner { outer: map, key }),
            _ => Err(format!(
                "`{}` is not a map of maps: `{}` names no inner map",
                m.map,
                m.text()
            )),
        }
    }

    fn elem_ref(&self, e: &SynElem<'_>) -> Result<ElemRef, String> {
        Ok(ElemRef {
            map: self.map_ref(&e.map_part())?,
            key: e.key,
        })
    }

    fn map(&mut self, line: usize, decl: &syntax::MapDecl<'a>) -> Result<Action, LineError> {
        let err = at(line);
        let idx = MapIdx(small_index(self.scenario.maps.len(), "maps").map_err(&err)?);
        let inner = decl
            .inner
            .map(|m| self.map_idx(m))
            .transpose()
            .map_err(&err)?;
        self.declare(line, decl.name, Sym::Map(idx))?;
        self.scenario.maps.push(MapDecl {
            name: decl.name.to_owned(),
            step: self.scenario.steps.len(),
        });
        Ok(Action::Op(Op::MapCreate(spec::MapSpec {
            inner,
            ..decl.spec
        })))
    }

    fn prog(&mut self, line: usize, decl: &syntax::ProgDecl<'a>) -> Result<Action, LineError> {
        let idx = ProgIdx(small_index(self.scenario.progs.len(), "programs").map_err(at(line))?);
        self.declare(line, decl.name, Sym::Prog(idx))?;
        for (i, cb) in decl.callbacks.iter().enumerate() {
            let cb_idx = CbIdx(small_index(i, "callbacks").map_err(at(cb.line))?);
            self.declare(cb.line, cb.name, Sym::Callback(idx, cb_idx))?;
        }
        // The self map, resolved now; an error names `err_line`.
        let resolve = |m: SynMap<'_>, err_line: usize| {
            self.map_ref(&m).map_err(|e| {
                at(err_line)(match self.names.get(m.map) {
                    None => format!(
                        "map `{}` must be declared before program `{}` (line {line}), which runs on it",
                        m.map, decl.name
                    ),
                    Some(_) => e,
                })
            })
        };
        let self_map = match (self.runs_on.get(decl.name), decl.on) {
            (None, None) => None,
            (None, Some(on)) => Some(resolve(on, line)?),
            (Some((run_line, run)), on) => {
                if let Some(on) = on.filter(|on| on.text() != run.map_text()) {
                    return Err(at(*run_line)(format!(
                        "program `{}` is declared `on {}` (line {line}) and run on `{}` here: a \
                         program runs on elements of one map",
                        decl.name,
                        on.text(),
                        run.map_text()
                    )));
                }
                Some(resolve(run.map_part(), *run_line)?)
            }
        };
        let body = |stmts: &[syntax::SynStmt<'_>]| -> Result<Vec<Stmt>, LineError> {
            stmts
                .iter()
                .map(|s| {
                    let target = match &s.target {
                        SynTarget::SelfElem => Target::SelfElem,
                        SynTarget::Elem(e) => Target::Elem(self.elem_ref(e).map_err(at(s.line))?),
                    };
                    Ok(Stmt {
                        guard: s.guard,
                        call: s.call.on(target),
                    })
                })
                .collect()
        };
        let spec = ProgSpec {
            ty: decl.ty,
            sleepable: decl.sleepable,
            gpl: decl.gpl,
            self_map,
            // A scenario's programs reference no map beyond those their statements and
            // `run` steps name.
            maps: Vec::new(),
            main: body(&decl.main)?,
            callbacks: decl
                .callbacks
                .iter()
                .map(|cb| body(&cb.body))
                .collect::<Result<_, _>>()?,
        };
        self.scenario.progs.push(ProgDecl {
            name: decl.name.to_owned(),
            callbacks: decl.callbacks.iter().map(|cb| cb.name.to_owned()).collect(),
            step: self.scenario.steps.len(),
        });
        Ok(Action::Op(Op::ProgLoad(spec)))
    }

    fn step(&self, step: &SynStep<'_>) -> Result<Action, String> {
        Ok(match step {
            SynStep::Run { prog, on } => Action::Op(Op::ProgRun {
                prog: self.prog_idx(prog)?,
                key: on.key,
            }),
            SynStep::Update { elem, flags } => Action::Op(Op::MapUpdate {
                elem: self.elem_ref(elem)?,
                flags: *flags,
            }),
            SynStep::UpdateInner {
                outer,
                key,
                inner,
                flags,
            } => Action::Op(Op::MapUpdateInner {
                outer: self.map_idx(outer)?,
                key: *key,
                inner: self.map_idx(inner)?,
                flags: *flags,
            }),
            SynStep::Delete(elem) => Action::Op(Op::MapDelete {
                elem: self.elem_ref(elem)?,
            }),
            SynStep::Lookup(elem) => Action::Op(Op::MapLookup {
                elem: self.elem_ref(elem)?,
            }),
            SynStep::Handle { op, name } => Action::Op(op(self.obj_ref(name)?)),
            SynStep::Wait(ns) => Action::Op(Op::Advance { ns: *ns }),
            SynStep::Runs(cb) => {
                let (prog, cb) = self.callback_idx(cb)?;
                Action::Query(Query::Runs { prog, cb })
            }
            SynStep::Alive(name) => Action::Query(Query::Alive(self.obj_ref(name)?)),
        })
    }

    /// The expectation of a step doing `action`. Result lists must have one result per
    /// statement of the body they describe.
    fn expected(&self, action: &Action, expect: &SynExpect<'_>) -> Result<Expected, String> {
        Ok(match expect {
            SynExpect::Status(None) => Expected::Outcome(Outcome::Ok),
            SynExpect::Status(Some(e)) => Expected::Outcome(Outcome::Err(*e)),
            SynExpect::Reject(reason) => Expected::Reject(reason),
            SynExpect::Ran { rets, callbacks } => {
                if let Action::Op(Op::ProgRun { prog, .. }) = action {
                    let main = self.scenario.prog_spec(*prog).map_or(0, |s| s.main.len());
                    let name = self.scenario.prog_name(*prog);
                    count_results(&format!("program `{name}`'s main"), main, rets.len()).map_err(
                        |e| match rets.len() {
                            1 => format!("{e} (a `run` that fails as a whole is `-> fails -E…`)"),
                            _ => e,
                        },
                    )?;
                }
                Expected::Outcome(Outcome::Ran {
                    rets: rets.clone(),
                    callbacks: self.callback_runs(callbacks)?,
                })
            }
            SynExpect::Fired(runs) => Expected::Outcome(Outcome::Fired(self.callback_runs(runs)?)),
            SynExpect::Count(n) => Expected::Observation(Observation::Count(*n)),
            SynExpect::Alive(alive) => Expected::Observation(Observation::Alive(*alive)),
        })
    }

    fn callback_runs(&self, runs: &[SynCallbackRun<'_>]) -> Result<Vec<CallbackRun>, String> {
        runs.iter()
            .map(|run| {
                let (prog, cb) = self.callback_idx(run.name)?;
                let stmts = self
                    .scenario
                    .prog_spec(prog)
                    .and_then(|s| s.callbacks.get(usize::from(cb.0)))
                    .map_or(0, Vec::len);
                count_results(&format!("callback `{}`", run.name), stmts, run.rets.len())?;
                Ok(CallbackRun {
                    prog,
                    cb,
                    rets: run.rets.clone(),
                })
            })
            .collect()
    }
}

/// One result per statement of `body`.
fn count_results(body: &str, stmts: usize, results: usize) -> Result<(), String> {
    let s = |n: usize| if n == 1 { "" } else { "s" };
    if stmts == results {
        return Ok(());
    }
    Err(format!(
        "{body} has {stmts} statement{}, but {results} result{} given",
        s(stmts),
        s(results)
    ))
}
