//! The verifier model: what `BPF_PROG_LOAD` answers for a [`Case`] of the program model, per
//! era, as root (`bpf_capable`, `perfmon_capable`: uninitialized stack reads and pointer
//! leaks are allowed; the JIT is on).
//!
//! The passes run in `bpf_check`'s order (verifier.c, all eras):
//! 1. the maps are created (`BPF_MAP_CREATE`, by the runtime spec's rules, without a world)
//!    and the program is laid out in slots, as a loader does before `BPF_PROG_LOAD`
//!    ([`prepare`]);
//! 2. `add_subprog_and_kfunc`: every kfunc exists in this era and the program is GPL;
//! 3. `check_subprogs` (`cfg`): jumps stay in their subprogram, each ends in `exit` / `ja`;
//! 4. `check_attach_btf_id` and `resolve_pseudo_ldimm64` (map / program compatibility), in
//!    the era's order;
//! 5. `check_cfg` (`cfg`): every instruction is reachable;
//! 6. `do_check_main`, then the global subprograms it calls (`exec`): a path-by-path
//!    abstract interpretation in which each instruction states its *obligations* (register
//!    readable, pointer not NULL, access in bounds, argument of the right type, callback
//!    static, ...), discharged in the kernel's order; the first one that fails is the
//!    rejection;
//! 7. `check_max_stack_depth` (`cfg`) over the call graph the paths revealed.

mod calls;
mod cfg;
mod exec;
mod state;

pub use calls::{Arg, kfunc_args, kfunc_exists};
pub use cfg::{Slots, max_call_frames};

use crate::era::Kernel;
use crate::errno::Errno;
use crate::op::{MapIdx, MapKind, ValueLayout};
use crate::outcome::RejectReason;
use crate::prog::Case;
use crate::{layout, verifier};
use std::cell::RefCell;
use std::fmt;

/// What loading a case gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Verdict {
    /// The program loads.
    Accept,
    /// The verifier refuses it.
    Reject(RejectReason),
    /// Map `map` of the case cannot be created (`BPF_MAP_CREATE` fails with `errno`).
    MapCreate { map: u8, errno: Errno },
    /// The case leaves the modelled fragment (the reason says how).
    Unsupported(&'static str),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Reject(r) => write!(f, "reject {r}"),
            Verdict::MapCreate { map, errno } => write!(f, "map m{map} fails -{errno}"),
            Verdict::Unsupported(why) => write!(f, "unsupported: {why}"),
        }
    }
}

/// Why a pass stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Reject(RejectReason),
    Unsupported(&'static str),
}

impl From<RejectReason> for Stop {
    fn from(r: RejectReason) -> Stop {
        Stop::Reject(r)
    }
}

type Res<T> = Result<T, Stop>;

/// A created map as the verifier sees it.
#[derive(Clone, Debug)]
struct MapInfo {
    kind: MapKind,
    btf: bool,
    rdonly_prog: bool,
    /// The special fields of the map's BTF record (where they are: [`layout`]).
    recorded: ValueLayout,
    value_size: u32,
    max_entries: u8,
    /// Inner-map template of a map-in-map.
    inner: Option<u8>,
}

/// The buffers a verification leaves to the next one on the same thread, cleared and
/// refilled: once they have grown to the size of the programs verified, a verification
/// allocates little.
#[derive(Default)]
struct Scratch {
    prepared: Prepared,
    code: cfg::Buffers,
    exec: exec::Buffers,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// The verifier's answer for `case` on `kernel`: the case prepared ([`prepare`]), then its
/// program loaded ([`load`]).
pub fn verify(kernel: &Kernel, case: &Case) -> Verdict {
    // Borrowed in place (taking and putting back copies them twice): nothing a verification
    // calls verifies.
    SCRATCH.with_borrow_mut(|scratch| match scratch.prepared.fill(kernel, case) {
        Ok(()) => verdict(check(
            kernel,
            case,
            &scratch.prepared,
            &mut scratch.code,
            &mut scratch.exec,
        )),
        Err(v) => v,
    })
}

/// A case as `BPF_PROG_LOAD` is given it: its maps as `BPF_MAP_CREATE` made them (what the
/// verifier sees of them), its program laid out in slots.
#[derive(Clone, Debug, Default)]
pub struct Prepared {
    maps: Vec<MapInfo>,
    slots: Slots,
}

impl Prepared {
    /// `case` prepared, in these buffers.
    fn fill(&mut self, kernel: &Kernel, case: &Case) -> Result<(), Verdict> {
        create(kernel, case, &mut self.maps)?;
        self.slots.lay_out(&case.prog);
        Ok(())
    }
}

/// `BPF_MAP_CREATE` of each map of `case`, in order (the first that fails is the verdict),
/// and the program laid out: what a loader does before `BPF_PROG_LOAD`. With [`load`], what
/// [`verify`] does, in two parts.
pub fn prepare(kernel: &Kernel, case: &Case) -> Result<Prepared, Verdict> {
    let mut prepared = Prepared::default();
    prepared.fill(kernel, case).map(|()| prepared)
}

/// `BPF_PROG_LOAD` of `case`'s program, prepared (by [`prepare`] of the same case on the same
/// kernel).
pub fn load(kernel: &Kernel, case: &Case, prepared: &Prepared) -> Verdict {
    SCRATCH.with_borrow_mut(|scratch| {
        verdict(check(
            kernel,
            case,
            prepared,
            &mut scratch.code,
            &mut scratch.exec,
        ))
    })
}

/// What `bpf_check`'s answer is to the program.
fn verdict(checked: Res<()>) -> Verdict {
    match checked {
        Ok(()) => Verdict::Accept,
        Err(Stop::Reject(r)) => Verdict::Reject(r),
        Err(Stop::Unsupported(why)) => Verdict::Unsupported(why),
    }
}

/// `BPF_MAP_CREATE` of each map, in order, by the runtime spec's rules
/// ([`crate::op::MapSpec::create`]): what the verifier sees of them into `maps`.
fn create(kernel: &Kernel, case: &Case, maps: &mut Vec<MapInfo>) -> Result<(), Verdict> {
    maps.clear();
    for (i, d) in case.maps.iter().enumerate() {
        let i = u8::try_from(i).map_err(|_| Verdict::Unsupported("more than 255 maps"))?;
        if !d.btf && d.spec.value.has_special_fields() {
            return Err(Verdict::Unsupported("special fields need value BTF"));
        }
        if let Some(MapIdx(t)) = d.spec.inner
            && t >= i
        {
            return Err(Verdict::Unsupported(
                "an inner-map template declared after its outer map",
            ));
        }
        // The maps before this one were created, and their fds are open.
        let (spec, created) = d.spec.create(kernel, |t| Some(maps[usize::from(t.0)].kind));
        if let Err(errno) = created {
            return Err(Verdict::MapCreate { map: i, errno });
        }
        maps.push(MapInfo {
            kind: spec.kind,
            btf: d.btf,
            rdonly_prog: spec.flags.rdonly_prog,
            recorded: spec.value,
            // A map-in-map's value is the inner map's fd.
            value_size: if spec.kind.is_map_in_map() {
                4
            } else {
                layout::value_size(&d.spec.value)
            },
            max_entries: spec.max_entries,
            inner: spec.inner.map(|m| m.0),
        });
    }
    Ok(())
}

/// `bpf_check`, after the maps exist.
fn check(
    kernel: &Kernel,
    case: &Case,
    prepared: &Prepared,
    code_buf: &mut cfg::Buffers,
    exec_buf: &mut exec::Buffers,
) -> Res<()> {
    let (prog, maps) = (&case.prog, &prepared.maps[..]);
    if prog.subprogs.is_empty() || prog.subprogs.len() > 256 {
        return Err(Stop::Unsupported("a program needs 1 to 256 subprograms"));
    }
    // The code is swept first, and finds the kfuncs it calls; its own faults come after those
    // of the kfuncs.
    let code = cfg::Code::new(prog, &prepared.slots, code_buf);
    calls::check_kfuncs_exist(kernel, prog, &code)?;
    code.check_layout()?;
    cfg::check_subprogs(&code)?;
    let attach = || verifier::attach_rule(&kernel.features, prog.ty, prog.sleepable);
    if !kernel.features.attach_checks_after_maps {
        attach()?;
    }
    resolve_maps(kernel, case, maps, &code)?;
    if kernel.features.attach_checks_after_maps {
        attach()?;
    }
    cfg::check_cfg(&code)?;
    exec::Checker::new(kernel, case, maps, &code, exec_buf).run()?;
    cfg::check_max_stack_depth(&kernel.features, &code, &exec_buf.graph)
}

/// `resolve_pseudo_ldimm64`: each map the code names, in instruction order, the first time
/// it is named, goes through `check_map_prog_compatibility`.
///
/// The common answer comes first, from the set of the maps named (which [`cfg::Code::new`]
/// finds without a branch a map, see there): when each exists and is compatible, nothing
/// fails; else the maps are read in instruction order, for the first fault.
fn resolve_maps(kernel: &Kernel, case: &Case, maps: &[MapInfo], code: &cfg::Code<'_>) -> Res<()> {
    let compatible =
        |info: &MapInfo| verifier::map_compat(&kernel.features, case.prog.ty, &info.recorded);
    if code.maps.iter().all(|m| {
        maps.get(usize::from(m))
            .is_some_and(|info| compatible(info).is_ok())
    }) {
        return Ok(());
    }
    let mut seen = cfg::ByteSet::default();
    for m in code.maps_named() {
        let Some(info) = maps.get(usize::from(m)) else {
            // The kernel's `fdget` of an fd the case never opened.
            return Err(Stop::Unsupported("a map index past the case's maps"));
        };
        if seen.insert(m) {
            compatible(info)?;
        }
    }
    Ok(())
}
