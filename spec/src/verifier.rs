//! The load-time rules of the verifier that decide whether a program using async objects and
//! kptrs loads at all. Checked in the kernel's order: map/program compatibility when the map
//! fds are resolved (`resolve_pseudo_ldimm64` → `check_map_prog_compatibility`), then each
//! call in instruction order (`check_helper_call` / `check_kfunc_call`).

use crate::op::{Call, Field, MapIdx, MapRef, MapSpec, ProgSpec, Target};
use crate::outcome::RejectReason;
use crate::world::World;

/// Would the verifier accept `spec`, whose `used_maps` are `used`?
pub fn check(w: &World, spec: &ProgSpec, used: &[MapIdx]) -> Result<(), RejectReason> {
    let f = w.kernel.features;
    // verifier.c `check_map_prog_compatibility` (5.15 to 6.x; gone in 7.0).
    if f.tracing_progs_reject_timer
        && spec.ty.is_tracing()
        && used.iter().any(|&m| w.map(m).spec.value.timer > 0)
    {
        return Err(RejectReason::TracingProgCannotUseTimer);
    }
    for stmt in spec.stmts() {
        check_call(w, spec, &stmt.call)?;
    }
    Ok(())
}

fn check_call(w: &World, spec: &ProgSpec, call: &Call) -> Result<(), RejectReason> {
    let f = w.kernel.features;
    let name = call.kernel_name();
    // `get_helper_proto` ("unknown func") / `fetch_kfunc_meta` ("invalid kernel function
    // call"): the function must exist in this era.
    let exists = match call {
        Call::WqInit { .. } | Call::WqSetCallback { .. } | Call::WqStart { .. } => f.wq,
        Call::TaskWorkSchedule { .. } => f.task_work,
        Call::KptrXchg { .. } => f.kptr,
        Call::TimerCancelAsync { .. } => f.timer_cancel_async,
        _ => true,
    };
    if !exists {
        return Err(RejectReason::UnknownFunc(name));
    }
    // `check_helper_call`: `fn->gpl_only` (the bpf_timer_* helpers); `check_kfunc_call`:
    // every kfunc needs a GPL-compatible program.
    let gpl_only = matches!(
        call.field(),
        Some(Field::Timer | Field::Wq | Field::TaskWork)
    );
    if gpl_only && !spec.gpl {
        return Err(RejectReason::GplOnly(name));
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
