//! Helper and kfunc calls: each function's prototype is a list of argument *obligations*
//! (`enum bpf_arg_type` for helpers, the kfunc argument kinds of `check_kfunc_args`),
//! discharged against the registers in argument order after the function-level checks
//! (`check_helper_call` / `check_kfunc_call`).

use super::exec::{Checker, read};
use super::state::{AsyncKind, MapId, Off, Range, STACK_SIZE, State, TaskPtr, Val};
use super::{Res, Stop};
use crate::mutants::{self, Mutant};
use crate::op::{Field, MapKind, ProgType};
use crate::outcome::RejectReason;
use crate::prog::{Callee, Helper, Kfunc, Program, Reg, with_callees};
use crate::{Kernel, layout};

/// One argument obligation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// `ARG_CONST_MAP_PTR`.
    MapPtr,
    /// `ARG_CONST_MAP_PTR` of `bpf_timer_init`: also the map of the field argument before it
    /// (`map_uid` included: "timer pointer in R1 map_uid=%d doesn't match map pointer in R2").
    MapOfField,
    /// `ARG_PTR_TO_MAP_KEY`: `key_size` readable bytes.
    Key,
    /// `ARG_PTR_TO_MAP_VALUE`: `value_size` readable bytes.
    Value,
    /// `ARG_PTR_TO_TIMER` (`process_timer_func`).
    HelperField(Field),
    /// `ARG_PTR_TO_FUNC`.
    Func,
    /// `ARG_ANYTHING`: readable.
    Anything,
    /// `ARG_KPTR_XCHG_DEST` (`process_kptr_func`).
    KptrDest,
    /// `ARG_PTR_TO_BTF_ID_OR_NULL | OBJ_RELEASE` (the new value of `bpf_kptr_xchg`).
    TaskOrNullReleased,
    /// `ARG_PTR_TO_UNINIT_MEM` followed by its `ARG_CONST_SIZE_OR_ZERO`.
    MemAndSize,
    /// The size argument paired with the one before.
    Size,
    /// A kfunc pointer to a special field (`KF_ARG_PTR_TO_WORKQUEUE`, `_TASK_WORK`,
    /// `_TIMER`; `check_map_field_pointer`).
    KfuncField(Field),
    /// A kfunc `__map` argument: the map of the field argument before it.
    KfuncMap,
    /// `KF_ARG_PTR_TO_CALLBACK`.
    KfuncCallback,
    /// A kfunc scalar.
    KfuncScalar,
    /// A trusted `struct task_struct *`.
    TrustedTask,
    /// The argument of a `KF_RELEASE` kfunc.
    ReleasedTask,
    /// `__prog` / `__ign`: filled by the verifier, never checked.
    Hidden,
}

/// An async callback a call registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsyncCb {
    pub subprog: u8,
    pub kind: AsyncKind,
    pub map: MapId,
    pub uid: u32,
}

/// What a call does once its obligations hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effect {
    /// What R0 becomes, made by [`check_call`]'s copy of each function, which knows its kind
    /// of result: applying it is a copy, not a jump on the kind (measured under cachegrind: 2%
    /// fewer instructions a verdict).
    pub r0: Val,
    /// The reference the call acquires (`acquire_reference`): R0's.
    pub acquired: Option<u32>,
    pub release: Option<u32>,
    pub callback: Option<AsyncCb>,
}

/// What the arguments revealed (`struct bpf_call_arg_meta`).
#[derive(Default)]
struct Meta {
    /// The map of a map argument.
    map: Option<(MapId, u32)>,
    /// The map of the special field argument.
    field_map: Option<(MapId, u32)>,
    subprog: Option<u8>,
    release: Option<u32>,
}

use Arg::*;

fn helper_args(h: Helper) -> &'static [Arg] {
    match h {
        Helper::MapLookupElem | Helper::MapDeleteElem => &[MapPtr, Key],
        Helper::MapUpdateElem => &[MapPtr, Key, Value, Anything],
        Helper::KtimeGetNs | Helper::GetPrandomU32 => &[],
        Helper::TimerInit => &[HelperField(Field::Timer), MapOfField, Anything],
        Helper::TimerSetCallback => &[HelperField(Field::Timer), Func],
        Helper::TimerStart => &[HelperField(Field::Timer), Anything, Anything],
        Helper::TimerCancel => &[HelperField(Field::Timer)],
        Helper::KptrXchg => &[KptrDest, TaskOrNullReleased],
        Helper::CopyFromUser => &[MemAndSize, Size, Anything],
    }
}

/// A kfunc's prototype: its argument obligations in order, `Hidden` for the ones the
/// verifier fills in.
pub fn kfunc_args(k: Kfunc) -> &'static [Arg] {
    const WQ: Arg = KfuncField(Field::Wq);
    const TW: Arg = KfuncField(Field::TaskWork);
    match k {
        Kfunc::WqInit => &[WQ, KfuncMap, KfuncScalar],
        Kfunc::WqStart => &[WQ, KfuncScalar],
        Kfunc::WqSetCallbackImpl if mutants::active(Mutant::WqImplWithoutHiddenArg) => {
            &[WQ, KfuncCallback, KfuncScalar]
        }
        Kfunc::WqSetCallbackImpl => &[WQ, KfuncCallback, KfuncScalar, Hidden],
        Kfunc::WqSetCallback => &[WQ, KfuncCallback, KfuncScalar],
        Kfunc::TaskWorkScheduleSignalImpl | Kfunc::TaskWorkScheduleResumeImpl => {
            &[TrustedTask, TW, KfuncMap, KfuncCallback, Hidden]
        }
        Kfunc::TaskWorkScheduleSignal | Kfunc::TaskWorkScheduleResume => {
            &[TrustedTask, TW, KfuncMap, KfuncCallback]
        }
        Kfunc::TimerCancelAsync => &[KfuncField(Field::Timer)],
        Kfunc::TaskFromPid => &[KfuncScalar],
        Kfunc::TaskRelease => &[ReleasedTask],
    }
}

/// `KF_TRUSTED_ARGS` (and `KF_RELEASE`, implicitly trusted): a maybe-NULL pointer argument is
/// refused before its kind is looked at ("Possibly NULL pointer passed to trusted R%d").
const fn trusted_args(k: Kfunc) -> bool {
    matches!(
        k,
        Kfunc::TaskWorkScheduleSignalImpl
            | Kfunc::TaskWorkScheduleResumeImpl
            | Kfunc::TaskWorkScheduleSignal
            | Kfunc::TaskWorkScheduleResume
            | Kfunc::TaskRelease
    )
}

/// The async callback a function registers, by its callback argument.
const fn async_kind(c: Callee) -> Option<AsyncKind> {
    match c {
        Callee::Helper(Helper::TimerSetCallback) => Some(AsyncKind::Timer),
        Callee::Kfunc(Kfunc::WqSetCallbackImpl | Kfunc::WqSetCallback) => Some(AsyncKind::Wq),
        Callee::Kfunc(
            Kfunc::TaskWorkScheduleSignalImpl
            | Kfunc::TaskWorkScheduleResumeImpl
            | Kfunc::TaskWorkScheduleSignal
            | Kfunc::TaskWorkScheduleResume,
        ) => Some(AsyncKind::TaskWork),
        _ => None,
    }
}

/// `callback_ret_range`: timer and wq callbacks return 0 (`set_timer_callback_state`), a
/// task_work callback any `int` (`set_task_work_schedule_callback_state`, 6.18).
pub fn async_return_range(kind: AsyncKind) -> (i64, i64) {
    match kind {
        _ if mutants::active(Mutant::AsyncReturnRangeIgnoresKind) => (0, 0),
        AsyncKind::Timer | AsyncKind::Wq => (0, 0),
        AsyncKind::TaskWork => (i32::MIN as i64, i32::MAX as i64),
    }
}

/// `push_async_cb`'s sleepable flag (`is_async_cb_sleepable`): timer callbacks never sleep,
/// wq and task_work callbacks always may (since 6.10, "add is_sleepable argument to
/// push_callback_call"); before [`crate::Features::async_cb_sleepable_by_kind`] a callback of
/// a sleepable program may sleep whatever its kind (`in_sleepable` OR-ed the program's flag
/// in).
pub fn async_cb_sleepable(f: &crate::Features, kind: AsyncKind, prog_sleepable: bool) -> bool {
    !matches!(kind, AsyncKind::Timer)
        || mutants::active(Mutant::TimerCallbackSleepable)
        || (prog_sleepable && !f.async_cb_sleepable_by_kind)
}

/// `add_subprog_and_kfunc` / `add_kfunc_call` over the kfuncs `prog` calls (`code`'s, in
/// instruction order). The loader resolves each by name in vmlinux BTF first: one the BTF
/// lacks fails before any load (the first such). Then, call by call, the verifier needs a
/// GPL program ("cannot call kernel function from non-GPL compatible program") and the
/// function's address ("cannot find address for kernel function %s": 7.0's `_impl`
/// prototypes are in BTF but not callable; observed on 7.2.13 in the VM matrix, where a
/// non-GPL program calling one gets the GPL line).
///
/// The common answer comes first, from the set of the kfuncs called, without a branch a
/// kfunc: when every kfunc called exists (and so is in BTF) and the program is GPL or calls
/// none, nothing fails; else the kfuncs are read in instruction order. Measured under
/// cachegrind: 3 fewer branch mispredicts a verdict (the `match`es of [`kfunc_exists`] and
/// [`kfunc_in_btf`] on each kfunc).
pub fn check_kfuncs_exist(kernel: &Kernel, prog: &Program, code: &super::cfg::Code<'_>) -> Res<()> {
    let bit = |k: Kfunc| 1u16 << k as u16;
    let existing = Kfunc::ALL.iter().fold(0, |set, &k| {
        set | if kfunc_exists(kernel, k) { bit(k) } else { 0 }
    });
    if code.kfuncs & !existing == 0 && (prog.gpl || code.kfuncs == 0) {
        return Ok(());
    }
    if let Some(k) = code.kfuncs_called().find(|&k| !kfunc_in_btf(kernel, k)) {
        return Err(RejectReason::UnknownFunc(k.kernel_name()).into());
    }
    for k in code.kfuncs_called() {
        if !prog.gpl {
            return Err(RejectReason::GplOnly(k.kernel_name()).into());
        }
        if !kfunc_exists(kernel, k) {
            return Err(RejectReason::UnknownFunc(k.kernel_name()).into());
        }
    }
    Ok(())
}

/// Whether vmlinux BTF has a function named as `k`: the era's kfuncs ([`kfunc_exists`]),
/// and since 7.0 the `_impl` prototypes `resolve_btfids` adds for the `KF_IMPLICIT_ARGS` kfuncs
/// (the full prototype, hidden `aux` included, kept for the verifier to read: 9d199965990c,
/// v7.0), which have no symbol.
pub const fn kfunc_in_btf(kernel: &Kernel, k: Kfunc) -> bool {
    let f = &kernel.features;
    kfunc_exists(kernel, k)
        || match k {
            Kfunc::WqSetCallbackImpl => f.wq && f.implicit_kfunc_args,
            Kfunc::TaskWorkScheduleSignalImpl | Kfunc::TaskWorkScheduleResumeImpl => {
                f.task_work && f.implicit_kfunc_args
            }
            _ => false,
        }
}

/// The kfuncs each era can call: the `_impl` forms with a hidden `aux` argument on 6.x, the
/// plain names on 7.0 (`KF_IMPLICIT_ARGS`, b236134f70ba).
pub const fn kfunc_exists(kernel: &Kernel, k: Kfunc) -> bool {
    let f = &kernel.features;
    match k {
        Kfunc::WqInit | Kfunc::WqStart => f.wq,
        Kfunc::WqSetCallbackImpl => f.wq && !f.implicit_kfunc_args,
        Kfunc::WqSetCallback => f.wq && f.implicit_kfunc_args,
        Kfunc::TaskWorkScheduleSignalImpl | Kfunc::TaskWorkScheduleResumeImpl => {
            f.task_work && !f.implicit_kfunc_args
        }
        Kfunc::TaskWorkScheduleSignal | Kfunc::TaskWorkScheduleResume => {
            f.task_work && f.implicit_kfunc_args
        }
        Kfunc::TimerCancelAsync => f.timer_cancel_async,
        Kfunc::TaskFromPid | Kfunc::TaskRelease => f.task_kfuncs,
    }
}

/// The program types whose kfunc sets hold `k` (`register_btf_kfunc_id_set` in helpers.c:
/// the `generic_kfunc_set` of the task kfuncs is registered for a list of types, the
/// `common_kfunc_set` of the wq / task_work / timer kfuncs for every type).
fn kfunc_allowed(f: &crate::Features, ty: ProgType, k: Kfunc) -> bool {
    match k {
        _ if mutants::active(Mutant::GenericKfuncSetForEveryProgType) => true,
        Kfunc::TaskFromPid | Kfunc::TaskRelease => match ty {
            ProgType::SchedCls
            | ProgType::Xdp
            | ProgType::Syscall
            | ProgType::Tracing
            | ProgType::Lsm => true,
            ProgType::Tracepoint | ProgType::PerfEvent => f.task_kfuncs_in_tracepoints,
            ProgType::RawTracepoint => f.task_kfuncs_in_raw_tracepoints,
            ProgType::SocketFilter | ProgType::Kprobe => false,
        },
        _ => true,
    }
}

/// `get_helper_proto`: whether this program type has the helper ("unknown func %s#%d";
/// "program of this type cannot use helper %s#%d" in later kernels, 6.12 observed).
/// `bpf_copy_from_user` is a tracing helper: see [`crate::Features::might_sleep_helpers`] and
/// [`crate::Features::copy_from_user_for_every_prog_type`].
fn helper_exists(f: &crate::Features, prog: &Program, h: Helper) -> bool {
    match h {
        Helper::KptrXchg => f.kptr,
        Helper::CopyFromUser => {
            (f.copy_from_user_for_every_prog_type || prog.ty.has_tracing_helpers())
                && (f.might_sleep_helpers || prog.sleepable)
        }
        _ => true,
    }
}

/// `fn->gpl_only`.
const fn helper_gpl_only(h: Helper) -> bool {
    matches!(
        h,
        Helper::TimerInit | Helper::TimerSetCallback | Helper::TimerStart | Helper::TimerCancel
    )
}

/// `check_helper_call` / `check_kfunc_call` of `callee` on the path `st`: [`check_callee`],
/// in one copy per function (every one: `with_callees!`), in which the prototype is a
/// constant: its arguments' checks unroll and each folds to its own obligation's, so one
/// jump on the callee replaces one on each argument's obligation (measured under cachegrind:
/// 10% fewer instructions and 15% fewer mispredicts a verdict). Inlined into the walk: its answer, returned through memory,
/// is read back in wider parts than it was written in, which stalls.
#[inline(always)]
pub fn check_call(c: &mut Checker<'_>, st: &State, callee: Callee) -> Res<Effect> {
    macro_rules! check_each {
        ($($h:ident),* ; $($k:ident),*) => {
            match callee {
                $(Callee::Helper(Helper::$h) => check_callee(c, st, Callee::Helper(Helper::$h)),)*
                $(Callee::Kfunc(Kfunc::$k) => check_callee(c, st, Callee::Kfunc(Kfunc::$k)),)*
                Callee::Subprog(_) => unreachable!("bpf-to-bpf calls are not helper calls"),
            }
        };
    }
    with_callees!(check_each)
}

/// [`check_call`] of one function (inlined into each copy).
#[inline(always)]
fn check_callee(c: &mut Checker<'_>, st: &State, callee: Callee) -> Res<Effect> {
    let prog = &c.case.prog;
    let args = match callee {
        Callee::Helper(h) => {
            if !helper_exists(&c.kernel.features, prog, h) {
                return Err(RejectReason::UnknownFunc(h.kernel_name()).into());
            }
            if helper_gpl_only(h) && !prog.gpl {
                return Err(RejectReason::GplOnly(h.kernel_name()).into());
            }
            if h == Helper::CopyFromUser && !st.sleepable {
                return Err(RejectReason::HelperMightSleep.into());
            }
            helper_args(h)
        }
        Callee::Kfunc(k) => {
            if !kfunc_allowed(&c.kernel.features, prog.ty, k) {
                return Err(RejectReason::KfuncNotAllowed(k.kernel_name()).into());
            }
            kfunc_args(k)
        }
        Callee::Subprog(_) => unreachable!("bpf-to-bpf calls are not helper calls"),
    };
    let trusted = matches!(callee, Callee::Kfunc(k)
        if trusted_args(k) || c.kernel.features.kfunc_args_trusted_by_default);
    debug_assert!(args.len() <= Reg::ARGS.len(), "at most five arguments");
    let mut meta = Meta::default();
    argument(c, st, trusted, args, 0, &mut meta)?;
    argument(c, st, trusted, args, 1, &mut meta)?;
    argument(c, st, trusted, args, 2, &mut meta)?;
    argument(c, st, trusted, args, 3, &mut meta)?;
    argument(c, st, trusted, args, 4, &mut meta)?;
    post_args(c, callee, &meta)?;
    let mut acquired = None;
    let r0 = match callee {
        Callee::Helper(Helper::MapLookupElem) => {
            let (map, uid) = meta.map.expect("lookup has a map argument");
            match (map, c.map_info(map).kind.is_map_in_map()) {
                (MapId::Fd(m), true) => {
                    let id = c.fresh_id();
                    Val::Map {
                        map: MapId::InnerOf(m),
                        uid: id,
                        null: id,
                    }
                }
                (MapId::InnerOf(_), true) => {
                    return Err(Stop::Unsupported("maps of maps of maps"));
                }
                (_, false) => Val::Value {
                    map,
                    uid,
                    off: Off::constant(0),
                    null: if elides_null(c, st, map) {
                        0
                    } else {
                        c.fresh_id()
                    },
                },
            }
        }
        Callee::Helper(Helper::GetPrandomU32) => Val::Scalar(Range::U32),
        Callee::Helper(Helper::KptrXchg) | Callee::Kfunc(Kfunc::TaskFromPid) => {
            let ref_id = c.fresh_id();
            acquired = Some(ref_id);
            Val::Task {
                ptr: TaskPtr::Acquired { ref_id },
                null: c.fresh_id(),
                off: 0,
            }
        }
        _ => Val::UNKNOWN,
    };
    // The callback's R1 to R3 are of the map of the caller's R1 (the timer or wq: the
    // field's map, `set_timer_callback_state`), but of the caller's R3 for task_work: the
    // map *argument* (`set_task_work_schedule_callback_state`, 6.18: "map_ptr =
    // caller->regs[BPF_REG_3].map_ptr"). The two differ when the map check let another map
    // through (see `KfuncMap`); then the callback works on that map's element. Found by the
    // verifier differential (regression `task_work_callback_gets_the_map_argument_element`).
    let callback = async_kind(callee).map(|kind| {
        let (map, uid) = match kind {
            AsyncKind::TaskWork if !mutants::active(Mutant::TaskWorkCallbackGetsFieldMap) => {
                meta.map
            }
            AsyncKind::TaskWork | AsyncKind::Timer | AsyncKind::Wq => meta.field_map,
        }
        .expect("a callback registration has a field and a map argument");
        AsyncCb {
            subprog: meta
                .subprog
                .expect("a callback registration has a callback argument"),
            kind,
            map,
            uid,
        }
    });
    Ok(Effect {
        r0,
        acquired,
        release: meta.release,
        callback,
    })
}

/// Argument `i` of prototype `args`, if it has one: its register is readable
/// (`check_reg_arg`), not maybe-NULL if it is a trusted pointer, and its obligation is
/// [`discharge`]d. Called once per argument register, not in a loop over `args`: a loop is not
/// unrolled in [`check_call`]'s copies (its body is large), and its obligations would not
/// fold.
#[inline(always)]
fn argument(
    c: &mut Checker<'_>,
    st: &State,
    trusted: bool,
    args: &[Arg],
    i: usize,
    meta: &mut Meta,
) -> Res<()> {
    let Some(&arg) = args.get(i) else {
        return Ok(());
    };
    let r = Reg::ARGS[i];
    if arg == Hidden && !mutants::active(Mutant::ImplHiddenArgRead) {
        return Ok(());
    }
    let v = read(st, r)?;
    let pointer_arg = matches!(arg, KfuncField(_) | KfuncMap | TrustedTask | ReleasedTask);
    if trusted && pointer_arg && (v.is_null_const() || v.null_id() != 0) {
        return Err(RejectReason::NullPointerArg.into());
    }
    discharge(c, st, trusted, arg, r, v, meta)
}

/// The checks after the arguments: `record_func_map` (a program may not write to a
/// `BPF_F_RDONLY_PROG` map, since 5.2) and `check_map_func_compatibility` (programs only look
/// inner maps up).
fn post_args(c: &Checker<'_>, callee: Callee, meta: &Meta) -> Res<()> {
    let writes = matches!(
        callee,
        Callee::Helper(Helper::MapUpdateElem | Helper::MapDeleteElem)
    );
    if let (true, Some((map, _))) = (writes, meta.map) {
        let info = c.map_info(map);
        if info.rdonly_prog {
            return Err(RejectReason::WriteIntoMapForbidden.into());
        }
        if info.kind.is_map_in_map() {
            return Err(RejectReason::MapTypeNotForFunc.into());
        }
    }
    Ok(())
}

/// Discharge one argument obligation (`trusted`: the callee is a kfunc whose pointer
/// arguments must be trusted). Inlined, so that it folds to `arg`'s arm in each copy of
/// [`check_call`].
#[inline(always)]
fn discharge(
    c: &mut Checker<'_>,
    st: &State,
    trusted: bool,
    arg: Arg,
    r: Reg,
    v: &Val,
    meta: &mut Meta,
) -> Res<()> {
    match arg {
        Anything | Hidden => Ok(()),
        MapPtr | MapOfField => {
            let (map, uid) = match *v {
                Val::Map { map, uid, null: 0 } => (map, uid),
                Val::Value { null: 0, .. } => return Err(RejectReason::InnerOfPlainMap.into()),
                _ => return Err(RejectReason::ArgTypeMismatch.into()),
            };
            let same = match meta.field_map {
                Some(f) if mutants::active(Mutant::TimerInitIgnoresMapUid) => f.0 == map,
                f => f == Some((map, uid)),
            };
            if arg == MapOfField && !same {
                return Err(RejectReason::MapMismatch(Field::Timer).into());
            }
            meta.map = Some((map, uid));
            Ok(())
        }
        Key | Value => {
            let (map, _) = meta.map.expect("a key or value argument follows its map");
            let size = match arg {
                Key => 4,
                _ => i64::from(c.map_info(map).value_size),
            };
            match *v {
                Val::Stack { frame, off } => stack_range(c, st, frame, off, size),
                // An async callback's key, for a lookup in its own map (4 bytes).
                Val::Key { .. } if arg == Key => Ok(()),
                Val::Value { null: 0, .. } => {
                    Err(Stop::Unsupported("a map value as a key or value argument"))
                }
                _ => Err(RejectReason::ArgTypeMismatch.into()),
            }
        }
        HelperField(f) | KfuncField(f) => {
            let Val::Value {
                map,
                uid,
                off,
                null: 0,
            } = *v
            else {
                return Err(match arg {
                    HelperField(_) => RejectReason::ArgTypeMismatch,
                    _ => RejectReason::NotMapValue,
                }
                .into());
            };
            field_pointer(c, map, off, f)?;
            // `process_timer_func` (e25ddfb388c8, v6.18 and 6.12.y), once the field pointer
            // is checked (see `crate::verifier::check`).
            if f == Field::Timer
                && c.kernel.preempt_rt
                && c.kernel.features.preempt_rt_rejects_timer
            {
                return Err(RejectReason::TimerOnPreemptRt.into());
            }
            meta.field_map = Some((map, uid));
            Ok(())
        }
        // `check_kfunc_args`, `KF_ARG_PTR_TO_MAP`: the map of `bpf_wq_init` /
        // `bpf_task_work_schedule_*` is compared with the field's (map and `map_uid`) only when
        // the map argument's BTF record holds a bpf_wq *or* a bpf_task_work, whichever the
        // kfunc's field is ("record->wq_off >= 0 || record->task_work_off >= 0"); the message
        // names bpf_task_work when that record has one, else the workqueue (6.18, since the
        // task_work series; found by the verifier differential: `bpf_wq_init` with a map that
        // holds only a task_work is "bpf_task_work pointer in R2 ... R3", regressions
        // `wq_init_with_map_holding_task_work_is_map_mismatch` and
        // `task_work_with_map_holding_wq_is_map_mismatch`). 6.10 to 6.17 look at `wq_off`
        // only, which is the same rule for the fields those eras have; the 7.0 code is the
        // same. A map without any record would be read through a NULL record: the spec
        // refuses to go there, so the oracle never loads such a case.
        //
        // A map value carries its map too, so it passes the "isn't map pointer" test and the
        // map comparison (observed on 6.18 and 7.2: "workqueue pointer in R1 ... doesn't match
        // map pointer in R2" for the value of another map); then it is refused as no map: by
        // the trusted-argument check when the kfunc's arguments are trusted ("R%d must be
        // referenced or trusted": `bpf_task_work_schedule_*`, and every kfunc since 7.0, found
        // by the verifier differential on 7.2.13, seed 1 case 538), else by the type check
        // ("arg#%d is map_value expected map_value or socket", 6.18, seed 1 case 91).
        KfuncMap => {
            let (map, uid, is_map) = match *v {
                Val::Map { map, uid, null: 0 } => (map, uid, true),
                Val::Value { map, uid, .. } => (map, uid, false),
                _ => return Err(RejectReason::NotMapPointer.into()),
            };
            let recorded = &c.map_info(map).recorded;
            if !recorded.has_special_fields() {
                return Err(Stop::Unsupported(
                    "a kfunc map argument without a BTF record (the verifier reads it as NULL)",
                ));
            }
            let has = |f: Field| recorded.count(f) > 0;
            let checked = has(Field::Wq) || has(Field::TaskWork);
            if checked && meta.field_map != Some((map, uid)) {
                let named = if has(Field::TaskWork) {
                    Field::TaskWork
                } else {
                    Field::Wq
                };
                return Err(RejectReason::MapMismatch(named).into());
            }
            if !is_map {
                return Err(if trusted {
                    RejectReason::UntrustedArg
                } else {
                    RejectReason::ArgTypeMismatch
                }
                .into());
            }
            meta.map = Some((map, uid));
            Ok(())
        }
        Func | KfuncCallback => match *v {
            Val::Func { subprog } => {
                meta.subprog = Some(subprog);
                Ok(())
            }
            _ => Err(RejectReason::ArgTypeMismatch.into()),
        },
        KfuncScalar => match *v {
            Val::Scalar(_) => Ok(()),
            _ => Err(RejectReason::ArgTypeMismatch.into()),
        },
        KptrDest => {
            let Val::Value {
                map, off, null: 0, ..
            } = *v
            else {
                return Err(RejectReason::ArgTypeMismatch.into());
            };
            kptr_dest(c, map, off)
        }
        // A NULL constant, or a reference the call takes over (a maybe-NULL one is refused:
        // "Possibly NULL pointer passed to helper arg2", it is a release argument). A kptr
        // loaded in a non-sleepable program is an RCU pointer, refused with a message no
        // reason names.
        TaskOrNullReleased => match *v {
            _ if v.is_null_const() => Ok(()),
            // Not the object itself but a member of it: "invalid kptr access" (the new
            // value must match the kptr's type, `map_kptr_match_type`).
            Val::Task { off, .. } if off != 0 => Err(RejectReason::KptrBadStore.into()),
            Val::Task {
                ptr: TaskPtr::Acquired { ref_id },
                null,
                ..
            } => {
                if null != 0 {
                    return Err(RejectReason::NullPointerArg.into());
                }
                meta.release = Some(ref_id);
                Ok(())
            }
            Val::Task {
                ptr: TaskPtr::Loaded,
                ..
            } if !st.sleepable => Err(Stop::Unsupported(
                "an RCU kptr as a release argument (\"must be referenced\")",
            )),
            _ => Err(RejectReason::ArgTypeMismatch.into()),
        },
        TrustedTask | ReleasedTask => match *v {
            Val::Task {
                ptr: TaskPtr::Acquired { ref_id },
                null: 0,
                off: 0,
            } => {
                if arg == ReleasedTask {
                    meta.release = Some(ref_id);
                }
                Ok(())
            }
            Val::Task {
                ptr: TaskPtr::Loaded,
                ..
            } => Err(Stop::Unsupported(
                "a kptr loaded from a map as a trusted argument",
            )),
            _ => Err(RejectReason::ArgTypeMismatch.into()),
        },
        MemAndSize => match *v {
            Val::Stack { .. } => Ok(()),
            _ => Err(Stop::Unsupported("a helper buffer outside the stack")),
        },
        Size => {
            let Val::Stack { frame, off } = *read(st, Reg(r.0 - 1))? else {
                unreachable!("the buffer argument was checked first")
            };
            let Val::Scalar(n) = v else {
                return Err(RejectReason::ArgTypeMismatch.into());
            };
            let Some(n) = n.constant().filter(|n| *n >= 0) else {
                return Err(Stop::Unsupported("a helper buffer of variable size"));
            };
            stack_range(c, st, frame, off, n)
        }
    }
}

/// `check_helper_mem_access` on the stack: `size` bytes from `off` inside the frame
/// ("invalid indirect access to stack R%d off=%d size=%d"). Uninitialized bytes are allowed
/// to root (`allow_uninit_stack`).
fn stack_range(c: &mut Checker<'_>, st: &State, frame: u8, off: i64, size: i64) -> Res<()> {
    if off < -(STACK_SIZE as i64) || off + size > 0 || (size == 0 && off == 0) {
        return Err(RejectReason::StackOutOfBounds.into());
    }
    let subprog = st.frame_at(frame).subprog;
    c.touch_stack(subprog, off);
    Ok(())
}

/// `check_map_field_pointer` / `process_timer_func` / `process_wq_func`: a constant offset
/// ("R%d doesn't have constant offset. %s has to be at the constant offset"), a map with BTF
/// ("map '%s' has to have BTF in order to use %s"), holding the field ("map '%s' has no valid
/// %s"), at the field ("off %lld doesn't point to 'struct %s' that is at %d").
fn field_pointer(c: &Checker<'_>, map: MapId, off: Off, f: Field) -> Res<()> {
    if f == Field::Wq && !c.kernel.features.wq_map_field_checks {
        return wq_record_offset(c, map, off);
    }
    let Some(off) = off.as_const() else {
        return Err(RejectReason::FieldNotConstOffset(f).into());
    };
    let info = c.map_info(map);
    if !info.btf {
        return Err(RejectReason::MapNeedsBtf(f).into());
    }
    // The first field of a kind is at its canonical offset.
    if info.recorded.count(f) == 0 {
        Err(RejectReason::NoValidField(f).into())
    } else if i64::from(layout::offset(f)) != off {
        Err(RejectReason::FieldOffsetMismatch(f).into())
    } else {
        Ok(())
    }
}

/// `process_wq_func` before it used `check_map_field_pointer` (6.10 to 6.17): the offset
/// (the known bits of a variable one: Debian's 6.12.117 accepts wq_failures.c's
/// `test_bad_wq_off`, observed in the VM matrix) against the record's `wq_off`, -EINVAL when
/// the value has none ("off %lld doesn't point to 'struct bpf_wq' that is at %d"); the record
/// of a map without one is read through NULL.
fn wq_record_offset(c: &Checker<'_>, map: MapId, off: Off) -> Res<()> {
    let Some(off) = off.as_const() else {
        return Err(Stop::Unsupported(
            "a variable offset to a bpf_wq (6.10 to 6.17 compare its known bits)",
        ));
    };
    let info = c.map_info(map);
    if !info.btf || !info.recorded.has_special_fields() {
        return Err(Stop::Unsupported(crate::verifier::WQ_WITHOUT_RECORD));
    }
    if info.recorded.wq > 0 && i64::from(layout::offset(Field::Wq)) == off {
        Ok(())
    } else {
        Err(RejectReason::FieldOffsetMismatch(Field::Wq).into())
    }
}

/// `process_kptr_func`: the destination of `bpf_kptr_xchg` is a referenced kptr field.
fn kptr_dest(c: &Checker<'_>, map: MapId, off: Off) -> Res<()> {
    let info = c.map_info(map);
    // The map's BTF, then the constant offset; the other way round before 6.12.
    let needs_btf = || -> Res<()> {
        if info.btf {
            Ok(())
        } else {
            Err(RejectReason::MapNeedsBtf(Field::Kptr).into())
        }
    };
    let btf_first = c.kernel.features.kptr_xchg_checks_btf_first;
    if btf_first {
        needs_btf()?;
    }
    let Some(off) = off.as_const() else {
        return Err(RejectReason::FieldNotConstOffset(Field::Kptr).into());
    };
    if !btf_first {
        needs_btf()?;
    }
    let is_kptr = |f: Field| matches!(f, Field::Kptr | Field::KptrUntrusted);
    if !Field::ALL
        .into_iter()
        .any(|f| is_kptr(f) && info.recorded.count(f) > 0)
    {
        return Err(RejectReason::NoValidField(Field::Kptr).into());
    }
    match layout::placed(&info.recorded).find(|&(at, f)| is_kptr(f) && i64::from(at) == off) {
        None => Err(RejectReason::FieldOffsetMismatch(Field::Kptr).into()),
        Some((_, f)) if !f.is_referenced_kptr(&c.kernel.features) => {
            Err(RejectReason::KptrNotReferenced.into())
        }
        Some(_) => Ok(()),
    }
}

/// `can_elide_value_nullness` / `get_constant_map_key` (since 6.14): an array lookup whose
/// key (R2, on the stack) is a known constant below `max_entries` cannot miss. The key is
/// known when its bytes were stored as zeroes, or spilled as a constant register.
fn elides_null(c: &Checker<'_>, st: &State, map: MapId) -> bool {
    let info = c.map_info(map);
    if !c.kernel.features.array_lookup_elides_null
        || !matches!(info.kind, MapKind::Array | MapKind::PercpuArray)
    {
        return false;
    }
    let Some(key) = c.lookup_key(st) else {
        return false;
    };
    key < i64::from(info.max_entries)
}
