//! The load-time rules of the verifier that decide whether a program using async objects and
//! kptrs loads at all, one function per pass of `bpf_check`: kfuncs, the attach checks, the
//! map / program compatibility as map fds are resolved (`resolve_pseudo_ldimm64` →
//! `check_map_prog_compatibility`), then each call in instruction order
//! (`check_helper_call` / `check_kfunc_call`). `World::prog_load` runs them in the era's
//! order.

use crate::Features;
use crate::op::{
    Call, CbIdx, Field, MapIdx, MapRef, MapSpec, ProgSpec, ProgType, Stmt, Target, ValueLayout,
};
use crate::outcome::{Outcome, RejectReason, Unsupported};
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
pub fn check_attach(w: &World, spec: &ProgSpec) -> Result<(), RejectReason> {
    attach_rule(&w.kernel.features, spec.ty, spec.sleepable)
}

/// [`check_attach`] on the program's type and sleepable flag.
pub fn attach_rule(f: &Features, ty: ProgType, sleepable: bool) -> Result<(), RejectReason> {
    match (ty, sleepable) {
        (ProgType::Syscall, false) => Err(RejectReason::SyscallNotSleepable),
        (ty, true) if !ty.can_be_sleepable(f) => Err(RejectReason::CannotBeSleepable),
        _ => Ok(()),
    }
}

/// verifier.c `check_map_prog_compatibility`, called by `resolve_pseudo_ldimm64` for each map
/// the first time an instruction names it: timers (5.15 to 6.x), then wqs (6.10 to 6.x); both
/// checks are gone in 7.0.
pub fn check_map_compat(w: &World, spec: &ProgSpec, m: MapIdx) -> Result<(), RejectReason> {
    map_compat(&w.kernel.features, spec.ty, &w.map(m).spec.value)
}

/// [`check_map_compat`] on the program's type and the map's recorded fields.
pub fn map_compat(f: &Features, ty: ProgType, v: &ValueLayout) -> Result<(), RejectReason> {
    if f.tracing_progs_reject_timer && ty.is_tracing() {
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

/// What the 6.10 to 6.17 verifiers do with a `bpf_wq` argument in a map without a BTF record
/// (no special field): `process_wq_func` reads `map->record->wq_off` through NULL.
pub const WQ_WITHOUT_RECORD: &str =
    "process_wq_func reads the BTF record of a map value without special fields (6.10 to 6.17)";

/// The callbacks (by index and the field whose call passes them: timer, wq or task_work)
/// that the verifier walks with more than one map as their element's map: the call sites in
/// them that take that map (`record_func_map`) have a poisoned map pointer, and
/// `do_misc_fixups` leaves those calls to the generic helper
/// ([`crate::Features::map_ops_return_long`]).
pub type SharedCallbacks = Vec<(CbIdx, Field)>;

/// `do_check`, the instruction walk, once the maps are resolved; on success, the callbacks
/// walked with more than one map.
pub fn check(w: &World, spec: &ProgSpec) -> Result<SharedCallbacks, Outcome> {
    // The self element is looked up first, then each live statement of `main` in order.
    if let Some(r) = spec.self_map {
        check_inner(w, r).map_err(Outcome::Reject)?;
    }
    let live = (0..spec.main.len()).filter(|&i| !spec.is_dead(i));
    let mut pending = Vec::new();
    walk(
        w,
        spec,
        live.map(|i| &spec.main[i]),
        spec.self_map,
        &mut pending,
    )?;
    // `push_async_cb`: each call passing a callback pushes the callback's walk, bound to the
    // map of the element it gets, on the verifier's stack; the stack is popped when a path
    // ends, newest first. A callback already walked with that map adds nothing.
    let mut walked = Vec::new();
    while let Some(site) = pending.pop() {
        if !walked.contains(&site) {
            walked.push(site);
            let (cb, _, map) = site;
            walk(
                w,
                spec,
                spec.callback_body(cb).iter(),
                Some(map),
                &mut pending,
            )?;
        }
    }
    let mut shared = SharedCallbacks::new();
    for &(cb, kind, map) in &walked {
        let other_map = |&(c, k, m): &(CbIdx, Field, MapRef)| {
            (c, k) == (cb, kind) && map_ptr(w, m) != map_ptr(w, map)
        };
        if !shared.contains(&(cb, kind)) && walked.iter().any(other_map) {
            shared.push((cb, kind));
        }
    }
    Ok(shared)
}

/// The map pointer the verifier knows for `r`: the map, or the inner-map template of an
/// outer map (the same for every key of it).
fn map_ptr(w: &World, r: MapRef) -> (bool, Option<MapIdx>) {
    match r {
        MapRef::Map(m) => (false, w.map_idx(m)),
        MapRef::Inner { outer, .. } => (true, w.map_idx(outer)),
    }
}

/// Check `body` in order, `this` being the map of its `self` element, and push the callbacks
/// it passes, with the field whose call passes them.
fn walk<'a>(
    w: &World,
    spec: &ProgSpec,
    body: impl Iterator<Item = &'a Stmt>,
    this: Option<MapRef>,
    pending: &mut Vec<(CbIdx, Field, MapRef)>,
) -> Result<(), Outcome> {
    for stmt in body {
        let map = match stmt.call.target() {
            Target::SelfElem => this,
            Target::Elem(e) => Some(e.map),
        };
        check_call(w, spec, map, &stmt.call)?;
        if let (Some(cb), Some(field), Some(map)) = (stmt.call.callback(), stmt.call.field(), map) {
            pending.push((cb, field, map));
        }
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

/// One call of `spec` on an element of `map` (`None`: unknown).
fn check_call(w: &World, spec: &ProgSpec, map: Option<MapRef>, call: &Call) -> Result<(), Outcome> {
    let f = w.kernel.features;
    if let Target::Elem(e) = call.target() {
        check_inner(w, e.map).map_err(Outcome::Reject)?;
    }
    // `adjust_ptr_min_max_vals`: the field pointer is made before the call.
    if call.field().is_some() && target_map(w, map).is_some_and(|m| m.kind.is_map_in_map()) {
        return Err(Outcome::Reject(RejectReason::FieldOfMapInMap));
    }
    exists(w, call).map_err(Outcome::Reject)?;
    // `check_helper_call`: `fn->gpl_only` (the bpf_timer_* helpers; kfuncs were checked
    // early).
    if call.field() == Some(Field::Timer) && !spec.gpl {
        return Err(Outcome::Reject(RejectReason::GplOnly(call.kernel_name())));
    }
    // `record_func_map`: a program may not update or delete in a map created with
    // `BPF_F_RDONLY_PROG` (since 5.2, 591fe9888d78). Found by the kernel oracle.
    if matches!(call, Call::MapUpdate { .. } | Call::MapDelete { .. })
        && target_map(w, map).is_some_and(|m| m.flags.rdonly_prog)
    {
        return Err(Outcome::Reject(RejectReason::WriteIntoMapForbidden));
    }
    // `check_map_func_compatibility`: a map-in-map allows only `bpf_map_lookup_elem`.
    if matches!(call, Call::MapUpdate { .. } | Call::MapDelete { .. })
        && target_map(w, map).is_some_and(|m| m.kind.is_map_in_map())
    {
        return Err(Outcome::Reject(RejectReason::MapTypeNotForFunc));
    }
    let Some(field) = call.field() else {
        return Ok(());
    };
    // `process_timer_func` / `process_wq_func` / `process_kptr_func` /
    // `check_map_field_pointer`: the pointer must be to that field of a map value.
    if let Some(map) = target_map(w, map)
        && field == Field::Wq
        && !f.wq_map_field_checks
    {
        // `process_wq_func` before `check_map_field_pointer` (6.10 to 6.17): the offset
        // against the record's `wq_off`, read through NULL when the value has no record.
        if !map.value.has_special_fields() {
            return Err(Outcome::Unsupported(Unsupported::KernelOops(
                WQ_WITHOUT_RECORD,
            )));
        }
        if map.value.wq == 0 {
            return Err(Outcome::Reject(RejectReason::FieldOffsetMismatch(
                Field::Wq,
            )));
        }
    }
    if let Some(map) = target_map(w, map)
        && map.value.count(field) == 0
    {
        // `process_kptr_func`: a value with only an untrusted kptr has kptrs, none at the
        // referenced kptr's offset ("off=%d doesn't point to kptr").
        if field == Field::Kptr && map.value.kptr_untrusted > 0 {
            return Err(Outcome::Reject(RejectReason::FieldOffsetMismatch(
                Field::Kptr,
            )));
        }
        return Err(Outcome::Reject(RejectReason::NoValidField(field)));
    }
    // `process_kptr_func`: "off=%d kptr isn't referenced kptr" (6.1: the tag `kptr` is the
    // unreferenced kind).
    if field == Field::Kptr && !field.is_referenced_kptr(&f) {
        return Err(Outcome::Reject(RejectReason::KptrNotReferenced));
    }
    // `process_timer_func` (e25ddfb388c8, v6.18 and 6.12.y), once the field pointer is
    // checked: on 6.12-rt a timer call on a map without a timer is "has no valid bpf_timer"
    // (observed in the VM matrix).
    if field == Field::Timer && w.kernel.preempt_rt && f.preempt_rt_rejects_timer {
        return Err(Outcome::Reject(RejectReason::TimerOnPreemptRt));
    }
    Ok(())
}

/// The map (as the verifier knows it: an inner map by its template) behind `r`.
fn target_map(w: &World, r: Option<MapRef>) -> Option<MapSpec> {
    let m = match r? {
        MapRef::Map(m) => w.map_idx(m)?,
        MapRef::Inner { outer, .. } => w.map_idx(w.map(w.map_idx(outer)?).spec.inner?)?,
    };
    Some(w.map(m).spec)
}
