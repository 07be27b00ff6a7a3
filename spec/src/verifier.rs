//! The load-time rules of the verifier that decide whether a program using async objects and
//! kptrs loads at all, one function per pass of `bpf_check`: kfuncs, the attach checks, the
//! map / program compatibility as map fds are resolved (`resolve_pseudo_ldimm64` →
//! `check_map_prog_compatibility`), then each call in instruction order
//! (`check_helper_call` / `check_kfunc_call`). `World::prog_load` runs them in the era's
//! order.

use crate::op::{Call, Field, MapIdx, MapRef, MapSpec, ProgSpec, ProgType, Target};
use crate::outcome::RejectReason;
use crate::world::World;

/// `add_subprog_and_kfunc`, the first pass: every kfunc must exist (else the loader fails
/// before the verifier sees an instruction) and kfuncs need a GPL program.
pub fn check_kfuncs(w: &World, spec: &ProgSpec) -> Result<(), RejectReason> {
    // A kfunc this kernel lacks has no BTF id: the loader (libbpf resolving the ksym) fails
    // before the verifier sees any instruction.
    let kfuncs = || spec.code().map(|s| &s.call).filter(|c| is_kfunc(c));
    for call in kfuncs() {
        exists(w, call)?;
    }
    match kfuncs().next() {
        Some(call) if !spec.gpl => Err(RejectReason::GplOnly(call.kernel_name())),
        _ => Ok(()),
    }
}

/// verifier.c `check_attach_btf_id` (all eras): a syscall program must be sleepable, other
/// types may be only if `can_be_sleepable` says so. It runs before the map fds are resolved
/// until the kernels with [`crate::Features::attach_checks_after_maps`], after them since.
pub fn check_attach(spec: &ProgSpec) -> Result<(), RejectReason> {
    match (spec.ty, spec.sleepable) {
        (ProgType::Syscall, false) => Err(RejectReason::SyscallNotSleepable),
        (ty, true) if !ty.can_be_sleepable() => Err(RejectReason::CannotBeSleepable),
        _ => Ok(()),
    }
}

/// verifier.c `check_map_prog_compatibility`, called by `resolve_pseudo_ldimm64` for each map
/// the first time an instruction names it: timers (5.15 to 6.x), then wqs (6.10 to 6.x); both
/// checks are gone in 7.0.
pub fn check_map_compat(w: &World, spec: &ProgSpec, m: MapIdx) -> Result<(), RejectReason> {
    let f = w.kernel.features;
    if f.tracing_progs_reject_timer && spec.ty.is_tracing() {
        let v = w.map(m).spec.value;
        if v.timer > 0 {
            return Err(RejectReason::TracingProgCannotUseTimer);
        }
        if f.wq && v.wq > 0 {
            return Err(RejectReason::TracingProgCannotUseWq);
        }
    }
    Ok(())
}

/// The calls that are kfuncs (the others are helpers).
fn is_kfunc(call: &Call) -> bool {
    matches!(
        call,
        Call::WqInit { .. }
            | Call::WqSetCallback { .. }
            | Call::WqStart { .. }
            | Call::TaskWorkSchedule { .. }
            | Call::TimerCancelAsync { .. }
    )
}

/// `get_helper_proto` ("unknown func") / `fetch_kfunc_meta` ("invalid kernel function
/// call"): the function must exist in this era.
fn exists(w: &World, call: &Call) -> Result<(), RejectReason> {
    let f = w.kernel.features;
    let exists = match call {
        Call::WqInit { .. } | Call::WqSetCallback { .. } | Call::WqStart { .. } => f.wq,
        Call::TaskWorkSchedule { .. } => f.task_work,
        Call::KptrXchg { .. } => f.kptr,
        Call::TimerCancelAsync { .. } => f.timer_cancel_async,
        _ => true,
    };
    if exists {
        Ok(())
    } else {
        Err(RejectReason::UnknownFunc(call.kernel_name()))
    }
}

/// `do_check`, the instruction walk, once the maps are resolved.
pub fn check(w: &World, spec: &ProgSpec) -> Result<(), RejectReason> {
    // The self element is looked up first, then each statement in instruction order.
    if let Some(r) = spec.self_map {
        check_inner(w, r)?;
    }
    for stmt in spec.walked() {
        check_call(w, spec, &stmt.call)?;
    }
    Ok(())
}

/// `check_reg_type`: an element of an inner map is reached through a map-in-map lookup,
/// which only a map-in-map answers with a map.
fn check_inner(w: &World, r: MapRef) -> Result<(), RejectReason> {
    match r {
        MapRef::Inner { outer, .. }
            if !w
                .map_idx(outer)
                .is_some_and(|m| w.map(m).spec.kind.is_map_in_map()) =>
        {
            Err(RejectReason::InnerOfPlainMap)
        }
        _ => Ok(()),
    }
}

fn check_call(w: &World, spec: &ProgSpec, call: &Call) -> Result<(), RejectReason> {
    let f = w.kernel.features;
    if let Target::Elem(e) = call.target() {
        check_inner(w, e.map)?;
    }
    // `adjust_ptr_min_max_vals`: the field pointer is made before the call.
    if call.field().is_some()
        && target_map(w, spec, call.target()).is_some_and(|m| m.kind.is_map_in_map())
    {
        return Err(RejectReason::FieldOfMapInMap);
    }
    exists(w, call)?;
    // `check_helper_call`: `fn->gpl_only` (the bpf_timer_* helpers; kfuncs were checked
    // early).
    if call.field() == Some(Field::Timer) && !spec.gpl {
        return Err(RejectReason::GplOnly(call.kernel_name()));
    }
    // `record_func_map`: a program may not update or delete in a map created with
    // `BPF_F_RDONLY_PROG` (since 5.2, 591fe9888d78). Found by the kernel oracle.
    if matches!(call, Call::MapUpdate { .. } | Call::MapDelete { .. })
        && target_map(w, spec, call.target()).is_some_and(|m| m.flags.rdonly_prog)
    {
        return Err(RejectReason::WriteIntoMapForbidden);
    }
    let Some(field) = call.field() else {
        return Ok(());
    };
    // `process_timer_func` (since 6.18, e25ddfb388c8).
    if field == Field::Timer && w.kernel.preempt_rt && f.preempt_rt_rejects_timer {
        return Err(RejectReason::TimerOnPreemptRt);
    }
    // `process_timer_func` / `process_wq_func` / `process_kptr_func` /
    // `check_map_field_pointer`: the pointer must be to that field of a map value.
    if let Some(map) = target_map(w, spec, call.target())
        && map.value.count(field) == 0
    {
        return Err(RejectReason::NoValidField(field));
    }
    Ok(())
}

/// The map (as the verifier knows it: an inner map by its template) a statement's pointer
/// points into; `None` when unknown (no self map).
fn target_map(w: &World, spec: &ProgSpec, t: Target) -> Option<MapSpec> {
    let r = match t {
        Target::SelfElem => spec.self_map?,
        Target::Elem(e) => e.map,
    };
    let m = match r {
        MapRef::Map(m) => w.map_idx(m)?,
        MapRef::Inner { outer, .. } => w.map_idx(w.map(w.map_idx(outer)?).spec.inner?)?,
    };
    Some(w.map(m).spec)
}
