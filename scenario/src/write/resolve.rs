//! The objects a story names, as a file names them.
//!
//! A generated story names maps and programs by index, and the spec resolves an index modulo
//! the objects created so far *when it uses it*: a syscall's at its step, a program's map
//! references each time its code runs, a map-in-map's inner template each time it is
//! consulted. A file names objects by declared names, fixed where they are written.
//! [`resolve`] rewrites every index to the object the spec uses, and refuses (naming the step)
//! what a file cannot state with the same meaning:
//!
//! * an object named before any of its kind exists (a file can only name declared objects);
//! * `outer[k][…]` of a map that is not declared as a map of maps (the compiler refuses it);
//! * a program whose self map is not the map of its `run` steps: a file derives a program's
//!   self map from its `run` steps, so a program with a self map must be run, and one without
//!   must not be;
//! * extra maps (`ProgSpec::maps`) beyond those the program's code names: a file's program
//!   references exactly the maps its statements and `run` steps name;
//! * an index stored unresolved that the spec resolves differently later than where the file
//!   names it: a program's map reference when its code runs after maps were created, a
//!   map-in-map's template when consulted after maps were created;
//! * an answer naming a callback of a program the story has not loaded.
//!
//! A callback index past a program's `callbacks` is an empty body to the spec; the resolved
//! program declares empty callbacks up to the highest index the story names for it (in its
//! statements, `runs` queries and answers), so that the file can name each.

use super::RenderError;
use spec::{
    Action, Actual, CallbackRun, CbIdx, ElemRef, MapIdx, MapKind, MapRef, ObjRef, Op, Outcome,
    ProgIdx, ProgSpec, Query, Stmt, Target,
};

/// The story `steps`, every index resolved as the spec resolves it; `answers` tell which code
/// ran at each step.
pub(super) fn resolve(steps: &[Action], answers: &[Actual]) -> Result<Vec<Action>, RenderError> {
    let mut r = Resolver {
        plans: plans(steps, answers),
        maps: Vec::new(),
        progs: Vec::new(),
    };
    steps
        .iter()
        .zip(answers)
        .enumerate()
        .map(|(i, (action, answer))| {
            r.step(action, answer).map_err(|reason| RenderError {
                step: Some(i),
                reason,
            })
        })
        .collect()
}

/// What the whole story asks of one program's declaration.
#[derive(Clone, Copy)]
struct Plan {
    /// Its first `run` step.
    first_run: Option<usize>,
    /// Callbacks to declare: one more than the highest index the story names for it.
    callbacks: usize,
}

/// The programs' plans, from a pass over the story.
fn plans(steps: &[Action], answers: &[Actual]) -> Vec<Plan> {
    let mut plans: Vec<Plan> = Vec::new();
    let name = |plans: &mut Vec<Plan>, p: usize, cb: CbIdx| {
        if let Some(plan) = plans.get_mut(p) {
            plan.callbacks = plan.callbacks.max(usize::from(cb.0) + 1);
        }
    };
    for (i, (action, answer)) in steps.iter().zip(answers).enumerate() {
        let loaded = plans.len();
        let prog = |p: ProgIdx| (loaded > 0).then(|| usize::from(p.0) % loaded);
        match action {
            Action::Op(Op::ProgLoad(spec)) => {
                plans.push(Plan {
                    first_run: None,
                    callbacks: spec.callbacks.len(),
                });
                let stmts = spec.main.iter().chain(spec.callbacks.iter().flatten());
                for s in stmts {
                    for cb in s.call.callback().into_iter().chain(s.guard.map(|g| g.0)) {
                        name(&mut plans, loaded, cb);
                    }
                }
            }
            Action::Op(Op::ProgRun { prog: p, .. }) => {
                if let Some(p) = prog(*p) {
                    plans[p].first_run.get_or_insert(i);
                }
            }
            Action::Query(Query::Runs { prog: p, cb }) => {
                if let Some(p) = prog(*p) {
                    name(&mut plans, p, *cb);
                }
            }
            _ => {}
        }
        for run in callback_runs(answer) {
            name(&mut plans, usize::from(run.prog.0), run.cb);
        }
    }
    plans
}

/// The callbacks an answer says ran.
fn callback_runs(answer: &Actual) -> &[CallbackRun] {
    match answer {
        Actual::Outcome(Outcome::Ran { callbacks, .. } | Outcome::Fired(callbacks)) => callbacks,
        _ => &[],
    }
}

/// `index` modulo `count` objects of `kind`, as the spec resolves it.
fn modulo(index: u8, count: usize, kind: &str) -> Result<u8, String> {
    if count == 0 {
        return Err(format!(
            "names {kind} index {index} before any {kind} exists: a file names only declared \
             objects"
        ));
    }
    // Past 255 objects, every `u8` index names itself.
    Ok(u8::try_from(count).map_or(index, |count| index % count))
}

/// Room for one more object in a table of `len`: the spec (and a file) address at most 256.
fn table_room(len: usize, what: &str) -> Result<(), String> {
    if len < 256 {
        return Ok(());
    }
    Err(format!(
        "more than 256 {what}: the spec addresses at most 256"
    ))
}

/// A created map, as far as later steps resolve through it.
struct MapRec {
    kind: MapKind,
    /// The inner template index of a live map-in-map, as stored (resolved when consulted).
    template: Option<u8>,
}

/// A loaded program, as stored: the spec resolves its map indices each time its code runs.
struct ProgRec {
    spec: ProgSpec,
    maps_at_load: usize,
}

struct Resolver {
    plans: Vec<Plan>,
    maps: Vec<MapRec>,
    progs: Vec<ProgRec>,
}

/// The map index of a map reference (the outer map of an inner one).
fn map_of(r: MapRef) -> MapIdx {
    match r {
        MapRef::Map(m) | MapRef::Inner { outer: m, .. } => m,
    }
}

/// The maps a body's statements name.
fn named_maps(body: &[Stmt]) -> impl Iterator<Item = MapRef> + '_ {
    body.iter().filter_map(|s| match s.call.target() {
        Target::Elem(e) => Some(e.map),
        Target::SelfElem => None,
    })
}

impl Resolver {
    fn step(&mut self, action: &Action, answer: &Actual) -> Result<Action, String> {
        Ok(match action {
            Action::Op(op) => Action::Op(self.op(op, answer)?),
            Action::Query(Query::Alive(obj)) => Action::Query(Query::Alive(self.obj(*obj)?)),
            Action::Query(Query::Runs { prog, cb }) => Action::Query(Query::Runs {
                prog: self.prog(*prog)?,
                cb: *cb,
            }),
        })
    }

    fn op(&mut self, op: &Op, answer: &Actual) -> Result<Op, String> {
        Ok(match op {
            Op::MapCreate(spec) => {
                table_room(self.maps.len(), "maps")?;
                // With no map yet, the template names nothing, and the creation fails.
                let inner = spec.inner.and_then(|m| self.map(m).ok());
                let live = *answer == Actual::Outcome(Outcome::Ok);
                let template = match spec.inner {
                    Some(raw) if inner.is_some() && live && spec.kind.is_map_in_map() => {
                        Some(raw.0)
                    }
                    _ => None,
                };
                self.maps.push(MapRec {
                    kind: spec.kind,
                    template,
                });
                Op::MapCreate(spec::MapSpec { inner, ..*spec })
            }
            Op::MapUpdate { elem, flags } => Op::MapUpdate {
                elem: self.elem(*elem)?,
                flags: *flags,
            },
            Op::MapUpdateInner {
                outer,
                key,
                inner,
                flags,
            } => {
                let outer = self.map(*outer)?;
                self.template_stable(outer)?;
                Op::MapUpdateInner {
                    outer,
                    key: *key,
                    inner: self.map(*inner)?,
                    flags: *flags,
                }
            }
            Op::MapDelete { elem } => Op::MapDelete {
                elem: self.elem(*elem)?,
            },
            Op::MapLookup { elem } => Op::MapLookup {
                elem: self.elem(*elem)?,
            },
            Op::ProgLoad(spec) => Op::ProgLoad(self.load(spec)?),
            Op::ProgRun { prog, key } => {
                let p = self.prog(*prog)?;
                if let Actual::Outcome(Outcome::Ran { .. }) = answer {
                    let spec = &self.progs[usize::from(p.0)].spec;
                    let refs = spec.self_map.into_iter().chain(named_maps(&spec.main));
                    self.code_stable(p, refs)?;
                }
                self.callbacks_stable(answer)?;
                Op::ProgRun { prog: p, key: *key }
            }
            Op::Close(obj) => Op::Close(self.obj(*obj)?),
            Op::Pin(obj) => Op::Pin(self.obj(*obj)?),
            Op::Unpin(obj) => Op::Unpin(self.obj(*obj)?),
            Op::GetFdById(obj) => Op::GetFdById(self.obj(*obj)?),
            Op::Advance { ns } => {
                self.callbacks_stable(answer)?;
                Op::Advance { ns: *ns }
            }
        })
    }

    /// `BPF_PROG_LOAD` of `spec`, its references resolved now (as the verifier does).
    fn load(&mut self, spec: &ProgSpec) -> Result<ProgSpec, String> {
        let p = self.progs.len();
        table_room(p, "programs")?;
        let plan = self.plans[p];
        let body = |r: &Self, body: &[Stmt]| body.iter().map(|s| r.stmt(*s)).collect();
        let mut callbacks = spec
            .callbacks
            .iter()
            .map(|b| body(self, b))
            .collect::<Result<Vec<_>, String>>()?;
        callbacks.resize(plan.callbacks, Vec::new());
        if callbacks.len() > 256 {
            return Err(format!(
                "program p{p} has {} callbacks: a callback index addresses at most 256",
                callbacks.len()
            ));
        }
        let resolved = ProgSpec {
            ty: spec.ty,
            sleepable: spec.sleepable,
            gpl: spec.gpl,
            self_map: spec.self_map.map(|r| self.map_ref(r)).transpose()?,
            maps: Vec::new(),
            main: body(self, &spec.main)?,
            callbacks,
        };
        if let (None, Some(run)) = (resolved.self_map, plan.first_run) {
            return Err(format!(
                "program p{p} has no self map but step {run} runs it: a `run` step in a file \
                 gives a program the map it runs on"
            ));
        }
        let code: Vec<Stmt> = resolved.code().copied().collect();
        let named: Vec<MapRef> = resolved
            .self_map
            .into_iter()
            .chain(named_maps(&code))
            .collect();
        let extra = spec
            .maps
            .iter()
            .map(|&m| self.map(m))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(m) = extra
            .iter()
            .find(|&&m| !named.iter().any(|&r| map_of(r) == m))
        {
            return Err(format!(
                "program p{p} references m{} beyond the maps its code names (ProgSpec.maps): \
                 a file's program references exactly the maps its statements and `run` steps \
                 name",
                m.0
            ));
        }
        // BPF_PROG_LOAD meets the extra maps first (an EBADF or a compatibility rejection
        // comes from the first map that has one): a file names maps in code order only.
        let in_code: Vec<MapIdx> = named.iter().map(|&r| map_of(r)).collect();
        if first_seen(extra.iter().chain(&in_code)) != first_seen(in_code.iter()) {
            return Err(format!(
                "program p{p} references maps ahead of its code (ProgSpec.maps) in an order the \
                 code does not name them: the kernel resolves map fds in that order, and a file's \
                 program names its maps in code order"
            ));
        }
        for r in named {
            if let MapRef::Inner { outer, .. } = r {
                self.template_stable(outer)?;
            }
        }
        self.progs.push(ProgRec {
            spec: spec.clone(),
            maps_at_load: self.maps.len(),
        });
        Ok(resolved)
    }

    fn stmt(&self, s: Stmt) -> Result<Stmt, String> {
        let target = match s.call.target() {
            Target::SelfElem => Target::SelfElem,
            Target::Elem(e) => Target::Elem(self.elem(e)?),
        };
        Ok(Stmt {
            call: s.call.on(target),
            ..s
        })
    }

    fn map(&self, m: MapIdx) -> Result<MapIdx, String> {
        modulo(m.0, self.maps.len(), "map").map(MapIdx)
    }

    fn prog(&self, p: ProgIdx) -> Result<ProgIdx, String> {
        modulo(p.0, self.progs.len(), "program").map(ProgIdx)
    }

    fn obj(&self, obj: ObjRef) -> Result<ObjRef, String> {
        Ok(match obj {
            ObjRef::Map(m) => ObjRef::Map(self.map(m)?),
            ObjRef::Prog(p) => ObjRef::Prog(self.prog(p)?),
        })
    }

    fn map_ref(&self, r: MapRef) -> Result<MapRef, String> {
        match r {
            MapRef::Map(m) => Ok(MapRef::Map(self.map(m)?)),
            MapRef::Inner { outer, key } => {
                let outer = self.map(outer)?;
                if !self.maps[usize::from(outer.0)].kind.is_map_in_map() {
                    return Err(format!(
                        "names an inner map of m{0}, which is not a map of maps: a file cannot \
                         write `m{0}[{1}][…]`",
                        outer.0, key.0
                    ));
                }
                Ok(MapRef::Inner { outer, key })
            }
        }
    }

    fn elem(&self, e: ElemRef) -> Result<ElemRef, String> {
        Ok(ElemRef {
            map: self.map_ref(e.map)?,
            key: e.key,
        })
    }

    /// The inner template of map `outer`, consulted now, is the one it was created with.
    fn template_stable(&self, outer: MapIdx) -> Result<(), String> {
        let o = usize::from(outer.0);
        let Some(raw) = self.maps[o].template else {
            return Ok(());
        };
        // A map's template resolves among the maps created before it: `o` of them.
        let (then, now) = (usize::from(raw) % o, usize::from(raw) % self.maps.len());
        if then == now {
            return Ok(());
        }
        Err(format!(
            "the spec resolves m{o}'s inner template (index {raw}) when it consults it: m{then} \
             at creation, m{now} here (maps were created since); a file names m{then}"
        ))
    }

    /// The map references `refs` of program `p`'s code, run now, name what they named at load.
    fn code_stable(&self, p: ProgIdx, refs: impl Iterator<Item = MapRef>) -> Result<(), String> {
        let prog = &self.progs[usize::from(p.0)];
        let (loaded, now) = (prog.maps_at_load, self.maps.len());
        for raw in refs.map(|r| usize::from(map_of(r).0)) {
            if raw % loaded != raw % now {
                return Err(format!(
                    "the spec resolves program p{}'s map index {raw} when its code runs: m{} at \
                     load, m{} here (maps were created since); a file names m{}",
                    p.0,
                    raw % loaded,
                    raw % now,
                    raw % loaded
                ));
            }
        }
        Ok(())
    }

    /// The callbacks `answer` says ran use the maps they named at load.
    fn callbacks_stable(&self, answer: &Actual) -> Result<(), String> {
        for run in callback_runs(answer) {
            let Some(prog) = self.progs.get(usize::from(run.prog.0)) else {
                return Err(format!(
                    "the answer names a callback of program index {}, which is not loaded",
                    run.prog.0
                ));
            };
            self.code_stable(run.prog, named_maps(prog.spec.callback_body(run.cb)))?;
        }
        Ok(())
    }
}

/// Each map once, in the order first met.
fn first_seen<'m>(maps: impl Iterator<Item = &'m MapIdx>) -> Vec<MapIdx> {
    let mut seen = Vec::new();
    for &m in maps {
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    seen
}
