//! The structured program generator: well-formed programs of the fragment built from snippets
//! (look an element up and NULL-check it, drive its timer / wq / task_work, exchange, load and
//! store kptrs, use the stack, spill pointers and fill them back, call subprograms, read a
//! `BPF_F_RDONLY_PROG` map, branch on scalars, some branches decided by the bounds with a
//! fault in their dead target), each async callback a static subprogram (which may look its
//! element up again through its R1 and R2, sleep when its kind may, call a static subprogram,
//! re-arm or re-init itself), and, about half of the time, exactly one [`Fault`] that breaks
//! one rule. A fault needs a field, a map-in-map or a snippet to be placed: most faulty cases
//! get them (`Needs`). The kernel accepts most fault-free programs, so the differential
//! explores both sides.
//!
//! The kernel matters: kfunc names (`_impl` or not) and the fields a map may hold follow the
//! era, so that a fault, not an era difference, is what a rejection is about.

use super::build::{Builder, Label};
use super::{
    AluOp, Callee, Case, Cond, Helper, Insn, Kfunc, Linkage, MapDecl, Operand, Program, Reg, Size,
    Subprog,
};
use crate::op::{Field, MapFlags, MapIdx, MapKind, MapSpec, ProgType, ValueLayout};
use crate::{Kernel, layout};
use arbitrary::{Result, Unstructured};

/// The one rule a generated program breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Use a lookup result without the NULL check.
    NoNullCheck,
    /// Point a timer / wq / task_work argument one byte past its field.
    FieldOffByOne,
    /// Pass another map than the field's to `bpf_timer_init` / `bpf_wq_init` /
    /// `bpf_task_work_schedule_*` (the kfuncs compare them only when that map has a wq or a
    /// task_work).
    OtherMap,
    /// A callback with global linkage.
    GlobalCallback,
    /// Load without BTF `func_info`.
    NoFuncInfo,
    /// A callback returning 1.
    CallbackReturnsOne,
    /// A callback returning an unknown scalar.
    CallbackReturnsUnknown,
    /// A callback reading R4.
    CallbackReadsR4,
    /// A callback writing through its key pointer.
    CallbackWritesKey,
    /// `bpf_copy_from_user` inside a timer callback of a sleepable program.
    SleepInTimerCallback,
    /// A callback called directly, with a deep stack on both sides.
    DeepStackDirectCall,
    /// Nine nested bpf-to-bpf calls.
    TooManyFrames,
    /// A plain store into a referenced kptr.
    StoreToReferencedKptr,
    /// A 4-byte load of a kptr.
    KptrNarrowLoad,
    /// An 8-byte load across the start of a kptr.
    KptrMisalignedLoad,
    /// An acquired task never released.
    LeakTask,
    /// `bpf_task_release` before the NULL check.
    ReleaseMaybeNull,
    /// A license that is not GPL-compatible.
    NotGpl,
    /// Read a register never written.
    UninitRead,
    /// A load past the end of the value.
    ValuePastEnd,
    /// A plain load of the timer / wq / task_work field.
    DirectFieldLoad,
    /// A `goto` out of the subprogram.
    JumpOut,
    /// Instructions after the final `exit` that nothing reaches.
    DeadCode,
    /// No final `exit`.
    NoExit,
    /// Call the field's functions on a map without that field.
    MissingField,
    /// Call `bpf_timer_init` on a map created without BTF.
    NoBtf,
    /// A variable offset in the field argument.
    VariableFieldOffset,
    /// A store below the 512-byte frame.
    StackOverflowStore,
    /// Write `r10`.
    WriteFramePointer,
    /// Dereference a scalar.
    ScalarDeref,
    /// A stack pointer as the timer argument.
    StackAsTimer,
    /// A map value or a stack pointer as the map argument of `bpf_wq_init`.
    ValueAsMapArg,
    /// `bpf_kptr_xchg` into an untrusted kptr.
    XchgIntoUntrusted,
    /// Update a map-in-map from the program.
    UpdateMapInMap,
    /// A tracing program type with a timer map.
    TracingProgram,
    /// `bpf_task_from_pid` from a program type whose kfunc sets lack it (socket_filter,
    /// kprobe, raw_tracepoint).
    TaskKfuncWrongType,
    /// A store into the untrusted kptr of what is not a task: a non-zero scalar register, the
    /// map value pointer, a pointer into a task, a non-zero immediate.
    KptrBadStore,
    /// The map argument is another element of the same map-in-map (another `map_uid`).
    OtherInnerMap,
    /// A write into a map created with `BPF_F_RDONLY_PROG`: update, delete or a store.
    WriteRdonlyMap,
    /// The element of a plain map used as an inner map.
    InnerOfPlainMap,
    /// A field of a map-in-map's element (the inner map itself) as the field argument.
    FieldOfMapInMap,
    /// A syscall program loaded without `BPF_F_SLEEPABLE`.
    SyscallNotSleepable,
    /// A sleepable sched_cls / xdp / socket_filter program.
    CannotBeSleepable,
    /// A kfunc this era does not have (rare: the oracle answers it without a load).
    UnknownKfunc,
    /// NULL (a constant, or a pointer not NULL-checked) as a trusted kfunc argument or as
    /// the new value of `bpf_kptr_xchg`.
    NullTrustedArg,
    /// A callback returning a pointer.
    CallbackReturnsPointer,
    /// A branch the verifier cannot decide (taken at the edge of the bounds) into a scalar
    /// dereference.
    EdgeBranchDeref,
    /// A lookup result spilled, reloaded and dereferenced before its NULL check.
    SpilledMaybeNull,
    /// `bpf_kptr_xchg` of a kptr loaded from the map (untrusted in a sleepable program).
    XchgLoadedKptr,
}

impl Fault {
    pub const ALL: [Fault; 49] = [
        Fault::NoNullCheck,
        Fault::FieldOffByOne,
        Fault::OtherMap,
        Fault::GlobalCallback,
        Fault::NoFuncInfo,
        Fault::CallbackReturnsOne,
        Fault::CallbackReturnsUnknown,
        Fault::CallbackReadsR4,
        Fault::CallbackWritesKey,
        Fault::SleepInTimerCallback,
        Fault::DeepStackDirectCall,
        Fault::TooManyFrames,
        Fault::StoreToReferencedKptr,
        Fault::KptrNarrowLoad,
        Fault::KptrMisalignedLoad,
        Fault::LeakTask,
        Fault::ReleaseMaybeNull,
        Fault::NotGpl,
        Fault::UninitRead,
        Fault::ValuePastEnd,
        Fault::DirectFieldLoad,
        Fault::JumpOut,
        Fault::DeadCode,
        Fault::NoExit,
        Fault::MissingField,
        Fault::NoBtf,
        Fault::VariableFieldOffset,
        Fault::StackOverflowStore,
        Fault::WriteFramePointer,
        Fault::ScalarDeref,
        Fault::StackAsTimer,
        Fault::ValueAsMapArg,
        Fault::XchgIntoUntrusted,
        Fault::UpdateMapInMap,
        Fault::TracingProgram,
        Fault::TaskKfuncWrongType,
        Fault::KptrBadStore,
        Fault::OtherInnerMap,
        Fault::WriteRdonlyMap,
        Fault::InnerOfPlainMap,
        Fault::FieldOfMapInMap,
        Fault::SyscallNotSleepable,
        Fault::CannotBeSleepable,
        Fault::UnknownKfunc,
        Fault::NullTrustedArg,
        Fault::CallbackReturnsPointer,
        Fault::EdgeBranchDeref,
        Fault::SpilledMaybeNull,
        Fault::XchgLoadedKptr,
    ];
}

/// The map a snippet works on: its index, and whether it is reached through a map-in-map
/// (then `r9` holds the inner map).
#[derive(Clone, Copy)]
struct Target {
    map: u8,
    inner: bool,
}

/// Generation state.
struct Gen<'k> {
    kernel: &'k Kernel,
    fault: Option<Fault>,
    maps: Vec<MapDecl>,
    /// Callback subprograms (index 1..).
    subs: Vec<Subprog>,
    /// The fault was placed somewhere.
    placed: bool,
    /// The program type.
    ty: ProgType,
    /// `BPF_F_SLEEPABLE`.
    sleepable: bool,
    /// Another map, with a timer and maybe a wq and a task_work (a BTF record always).
    other: u8,
    /// A plain array created with `BPF_F_RDONLY_PROG`, if the case has one.
    rdonly: Option<u8>,
    /// The snippet that places the fault, chosen more often until it is placed.
    prefer: Option<u8>,
}

impl Gen<'_> {
    fn is(&mut self, f: Fault) -> bool {
        let hit = self.fault == Some(f) && !self.placed;
        self.placed |= hit;
        hit
    }

    fn subprog_index(&self) -> u8 {
        u8::try_from(self.subs.len() + 1).expect("few subprograms")
    }

    fn add_map(&mut self, d: MapDecl) -> u8 {
        self.maps.push(d);
        u8::try_from(self.maps.len() - 1).expect("few maps")
    }
}

/// Generate a case for `kernel`: maps, then a program, with at most one fault.
pub fn case(u: &mut Unstructured<'_>, kernel: &Kernel) -> Result<Case> {
    let mut fault = if u.ratio(1, 2)? {
        Some(*u.choose(&Fault::ALL)?)
    } else {
        None
    };
    // The oracle answers a missing kfunc without loading anything: keep those few.
    if fault == Some(Fault::UnknownKfunc) && !u.ratio(1, 4)? {
        fault = None;
    }
    let mut g = Gen {
        kernel,
        fault,
        maps: Vec::new(),
        subs: Vec::new(),
        placed: false,
        ty: ProgType::SchedCls,
        sleepable: false,
        other: 0,
        rdonly: None,
        prefer: None,
    };
    let f = &kernel.features;
    let mut fields: Vec<Field> = vec![Field::Timer];
    // Before `process_wq_func` used `check_map_field_pointer` (6.10 to 6.17), a wq argument
    // into a map without a BTF record makes the verifier read through NULL, and a variable
    // offset is judged by its known bits: those faults leave wq out there.
    let wq_hazard = matches!(
        fault,
        Some(Fault::MissingField | Fault::NoBtf | Fault::VariableFieldOffset)
    );
    if f.wq && (f.wq_map_field_checks || !wq_hazard) {
        fields.push(Field::Wq);
    }
    if f.task_work {
        fields.push(Field::TaskWork);
    }
    if f.kptr {
        fields.extend([Field::Kptr, Field::KptrUntrusted]);
    }
    // The main map holds a random subset of the fields (at least one).
    // The fields-missing faults take a plain map (without BTF for `NoBtf`).
    let plain = matches!(g.fault, Some(Fault::MissingField | Fault::NoBtf));
    let mut value = ValueLayout::default();
    for &fld in &fields {
        if u.ratio(2, 3)? && !plain {
            *count_mut(&mut value, fld) = 1;
        }
    }
    if !value.has_special_fields() && !plain {
        *count_mut(&mut value, *u.choose(&fields)?) = 1;
    }
    // What the fault needs to be placed, most of the time.
    let need = match g.fault {
        Some(fault) if u.ratio(3, 4)? => needs(u, fault, &fields)?,
        _ => Needs::default(),
    };
    for &fld in &need.fields {
        *count_mut(&mut value, fld) = 1;
    }
    g.prefer = need.snippet;
    let btf = g.fault != Some(Fault::NoBtf);
    let kind = *u.choose(&[MapKind::Array, MapKind::Hash, MapKind::LruHash])?;
    let through_map_in_map = match need.inner {
        Some(inner) => inner,
        None => u.ratio(1, 5)?,
    };
    let main_map = if through_map_in_map {
        g.maps.push(map(kind, value, btf));
        g.maps.push(MapDecl {
            spec: MapSpec {
                kind: *u.choose(&[MapKind::ArrayOfMaps, MapKind::HashOfMaps])?,
                max_entries: 1,
                value: ValueLayout::default(),
                flags: MapFlags::default(),
                inner: Some(MapIdx(0)),
            },
            btf: false,
        });
        Target {
            map: 1,
            inner: true,
        }
    } else {
        g.maps.push(map(kind, value, btf));
        Target {
            map: 0,
            inner: false,
        }
    };
    // A second map, with a timer (a BTF record, whatever else it holds), maybe a wq and a
    // task_work: another map for `bpf_timer_init` / `bpf_wq_init` /
    // `bpf_task_work_schedule_*`. Without the field the kfuncs do not compare the maps
    // (docs/verifier-rules.md (g) 1).
    let other_value = ValueLayout {
        timer: 1,
        wq: u8::from(f.wq && u.ratio(2, 3)?),
        task_work: u8::from(f.task_work && u.ratio(2, 3)?),
        ..ValueLayout::default()
    };
    g.other = g.add_map(map(MapKind::Array, other_value, true));
    if g.fault == Some(Fault::WriteRdonlyMap) || u.ratio(1, 4)? {
        let mut d = map(MapKind::Array, ValueLayout::default(), true);
        d.spec.flags.rdonly_prog = true;
        g.rdonly = Some(g.add_map(d));
    }

    let mut ty = *u.choose(&[
        ProgType::SchedCls,
        ProgType::SchedCls,
        ProgType::Xdp,
        ProgType::SocketFilter,
        ProgType::Syscall,
    ])?;
    if matches!(
        g.fault,
        Some(Fault::SleepInTimerCallback | Fault::XchgLoadedKptr)
    ) && u.ratio(3, 4)?
    {
        ty = ProgType::Syscall;
    }
    let mut sleepable = ty == ProgType::Syscall;
    if g.is(Fault::TracingProgram) {
        ty = ProgType::Kprobe;
        sleepable = false;
    }
    let wrong_type = f.kptr && g.is(Fault::TaskKfuncWrongType);
    if wrong_type {
        // Tracing types only with a map that `check_map_prog_compatibility` lets through.
        ty = if value.timer == 0 && value.wq == 0 {
            *u.choose(&[
                ProgType::SocketFilter,
                ProgType::Kprobe,
                ProgType::RawTracepoint,
            ])?
        } else {
            ProgType::SocketFilter
        };
        sleepable = false;
    }
    if g.is(Fault::SyscallNotSleepable) {
        ty = ProgType::Syscall;
        sleepable = false;
    }
    if g.is(Fault::CannotBeSleepable) {
        ty = *u.choose(&[ProgType::SchedCls, ProgType::Xdp, ProgType::SocketFilter])?;
        sleepable = true;
    }
    g.ty = ty;
    g.sleepable = sleepable;
    let mut main = Builder::default();
    let end = main.label();
    // The element: `r6` = value of key 0, `r9` = the inner map.
    lookup(&mut g, &mut main, main_map, end);
    if g.is(Fault::UnknownKfunc) {
        // The kfuncs of other eras: the `_impl` names before 7.0, the plain ones since.
        let implicit = f.implicit_kfunc_args;
        let missing: Vec<Kfunc> = [
            (Kfunc::TimerCancelAsync, f.timer_cancel_async),
            (Kfunc::WqSetCallback, f.wq && implicit),
            (Kfunc::WqSetCallbackImpl, f.wq && !implicit),
            (Kfunc::TaskWorkScheduleSignal, f.task_work && implicit),
            (Kfunc::TaskWorkScheduleResumeImpl, f.task_work && !implicit),
            (Kfunc::TaskFromPid, f.kptr),
        ]
        .into_iter()
        .filter_map(|(k, exists)| (!exists).then_some(k))
        .collect();
        if !missing.is_empty() {
            main.mov(Reg::R1, 0).kfunc(*u.choose(&missing)?);
        }
    }
    if wrong_type {
        let skip = main.label();
        acquire_task(&mut main, skip);
        main.mov_reg(Reg::R1, Reg::R7).kfunc(Kfunc::TaskRelease);
        main.bind(skip);
    }
    let n = u.int_in_range(1..=4)?;
    for _ in 0..n {
        snippet(u, &mut g, &mut main, main_map, sleepable)?;
    }
    if g.is(Fault::UninitRead) {
        main.mov_reg(Reg::R0, Reg::R8);
    }
    main.bind(end);
    if g.is(Fault::JumpOut) {
        main.op(Insn::Ja { off: 100 });
    }
    main.mov(Reg::R0, 0);
    if !g.is(Fault::NoExit) {
        main.op(Insn::Exit);
    }
    if g.is(Fault::DeadCode) {
        main.ret(1);
    }
    let mut subprogs = vec![main.finish("main", Linkage::Global)];
    subprogs.append(&mut g.subs);
    let gpl = !g.is(Fault::NotGpl);
    let func_info = !g.is(Fault::NoFuncInfo);
    Ok(Case {
        maps: g.maps,
        prog: Program {
            ty,
            sleepable,
            gpl,
            func_info,
            subprogs,
        },
    })
}

/// What a fault needs to be placed: fields in the main value, a map-in-map or not, and the
/// snippet (a choice of [`snippet`]) that places it.
#[derive(Default)]
struct Needs {
    fields: Vec<Field>,
    inner: Option<bool>,
    snippet: Option<u8>,
}

/// The snippet that works on field `f`.
const fn snippet_of(f: Field) -> u8 {
    match f {
        Field::Timer => 0,
        Field::Wq => 2,
        Field::TaskWork => 3,
        Field::Kptr | Field::KptrUntrusted | Field::SpinLock => 4,
    }
}

/// [`Needs`] of `fault`, with the fields this era has (`fields`).
fn needs(u: &mut Unstructured<'_>, fault: Fault, fields: &[Field]) -> Result<Needs> {
    let has = |f: Field| fields.contains(&f);
    let asyncs: Vec<Field> = fields
        .iter()
        .copied()
        .filter(|&f| matches!(f, Field::Timer | Field::Wq | Field::TaskWork))
        .collect();
    let on = |fs: &[Field]| -> Needs {
        let fs: Vec<Field> = fs.iter().copied().filter(|&f| has(f)).collect();
        Needs {
            snippet: fs.first().map(|&f| snippet_of(f)),
            fields: fs,
            inner: None,
        }
    };
    let any_async = |u: &mut Unstructured<'_>| -> Result<Needs> { Ok(on(&[*u.choose(&asyncs)?])) };
    Ok(match fault {
        Fault::FieldOffByOne
        | Fault::VariableFieldOffset
        | Fault::StackAsTimer
        | Fault::OtherMap
        | Fault::GlobalCallback
        | Fault::CallbackReturnsOne
        | Fault::CallbackReturnsUnknown
        | Fault::CallbackReturnsPointer
        | Fault::CallbackReadsR4
        | Fault::CallbackWritesKey
        | Fault::NoFuncInfo => any_async(u)?,
        Fault::SleepInTimerCallback | Fault::DeepStackDirectCall | Fault::TracingProgram => {
            on(&[Field::Timer])
        }
        Fault::DirectFieldLoad => Needs {
            snippet: Some(9),
            ..on(&[Field::Timer])
        },
        Fault::ValueAsMapArg => on(&[Field::Wq]),
        Fault::StoreToReferencedKptr
        | Fault::KptrNarrowLoad
        | Fault::KptrMisalignedLoad
        | Fault::ReleaseMaybeNull
        | Fault::XchgLoadedKptr => on(&[Field::Kptr]),
        Fault::XchgIntoUntrusted => on(&[Field::Kptr, Field::KptrUntrusted]),
        Fault::KptrBadStore => on(&[Field::KptrUntrusted]),
        Fault::LeakTask | Fault::NullTrustedArg => {
            on(&[*u.choose(&[Field::Kptr, Field::TaskWork])?])
        }
        Fault::OtherInnerMap | Fault::FieldOfMapInMap => Needs {
            inner: Some(true),
            ..any_async(u)?
        },
        Fault::UpdateMapInMap => Needs {
            inner: Some(true),
            ..Needs::default()
        },
        Fault::InnerOfPlainMap => Needs {
            inner: Some(false),
            ..Needs::default()
        },
        Fault::StackOverflowStore | Fault::WriteFramePointer => Needs {
            snippet: Some(5),
            ..Needs::default()
        },
        Fault::TooManyFrames => Needs {
            snippet: Some(6),
            ..Needs::default()
        },
        Fault::WriteRdonlyMap => Needs {
            snippet: Some(8),
            ..Needs::default()
        },
        Fault::ValuePastEnd | Fault::ScalarDeref | Fault::EdgeBranchDeref => Needs {
            snippet: Some(9),
            ..Needs::default()
        },
        _ => Needs::default(),
    })
}

fn count_mut(v: &mut ValueLayout, f: Field) -> &mut u8 {
    match f {
        Field::Timer => &mut v.timer,
        Field::Wq => &mut v.wq,
        Field::TaskWork => &mut v.task_work,
        Field::Kptr => &mut v.kptr,
        Field::KptrUntrusted => &mut v.kptr_untrusted,
        Field::SpinLock => &mut v.spin_lock,
    }
}

fn map(kind: MapKind, value: ValueLayout, btf: bool) -> MapDecl {
    MapDecl {
        btf,
        ..MapDecl::new(kind, value)
    }
}

/// `r6` = the value of key 0 of `t` (through `r9` = the inner map of a map-in-map); NULL
/// goes to `end`.
fn lookup(g: &mut Gen<'_>, b: &mut Builder, t: Target, end: Label) {
    let null_check = !g.is(Fault::NoNullCheck);
    b.lookup(t.map);
    if t.inner && g.is(Fault::UpdateMapInMap) {
        b.key0();
        b.map(Reg::R1, t.map)
            .mov_reg(Reg::R3, Reg::R2)
            .mov(Reg::R4, 0)
            .helper(Helper::MapUpdateElem);
        b.lookup(t.map);
    }
    // A plain map's element taken for an inner map.
    if t.inner || g.is(Fault::InnerOfPlainMap) {
        b.jump_if(Cond::Eq, Reg::R0, 0, end)
            .mov_reg(Reg::R9, Reg::R0);
        b.key0();
        b.mov_reg(Reg::R1, Reg::R9).helper(Helper::MapLookupElem);
    }
    if g.is(Fault::SpilledMaybeNull) {
        b.store(Size::DW, Reg::FP, -16, Operand::Reg(Reg::R0))
            .load(Size::DW, Reg::R1, Reg::FP, -16)
            .load(Size::DW, Reg::R1, Reg::R1, 0);
    }
    if null_check {
        b.jump_if(Cond::Eq, Reg::R0, 0, end);
    }
    b.mov_reg(Reg::R6, Reg::R0);
}

/// `r8` = the inner map of another lookup of the map-in-map of `t` (another `map_uid`);
/// NULL goes to `skip`.
fn second_inner(b: &mut Builder, t: Target, skip: Label) {
    b.lookup(t.map)
        .jump_if(Cond::Eq, Reg::R0, 0, skip)
        .mov_reg(Reg::R8, Reg::R0);
}

/// `reg` = the map of `t` (the inner map is in `r9`).
fn map_reg(b: &mut Builder, t: Target, reg: Reg) {
    if t.inner {
        b.mov_reg(reg, Reg::R9);
    } else {
        b.map(reg, t.map);
    }
}

/// `reg` = the map argument of a call on the field of `t`: the field's map, or, for the
/// faults, another map (`r8`: another inner map of the same map-in-map).
fn map_arg(g: &mut Gen<'_>, b: &mut Builder, t: Target, other_inner: bool, reg: Reg) {
    if g.is(Fault::OtherMap) {
        b.map(reg, g.other);
    } else if other_inner {
        b.mov_reg(reg, Reg::R8);
    } else {
        map_reg(b, t, reg);
    }
}

/// The value layout of the map behind `t`.
fn value_of(g: &Gen<'_>, t: Target) -> ValueLayout {
    let m = &g.maps[usize::from(t.map)];
    match m.spec.inner {
        Some(inner) => g.maps[usize::from(inner.0)].spec.value,
        None => m.spec.value,
    }
}

/// `reg` = the field `f` of the element in `r6`.
fn field_arg(g: &mut Gen<'_>, b: &mut Builder, t: Target, f: Field, reg: Reg) {
    if g.is(Fault::StackAsTimer) {
        b.mov_reg(reg, Reg::FP).add(reg, -16);
        return;
    }
    let mut off = layout::offset(f) as i32;
    if t.inner && g.is(Fault::FieldOfMapInMap) {
        // The outer lookup's "value" is the inner map.
        b.mov_reg(reg, Reg::R9).add(reg, off);
        return;
    }
    if g.is(Fault::FieldOffByOne) {
        off += 1;
    }
    b.mov_reg(reg, Reg::R6).add(reg, off);
    if g.is(Fault::VariableFieldOffset) {
        // The helper clobbers R1 to R5: keep the pointer in r8.
        b.mov_reg(Reg::R8, reg)
            .helper(Helper::GetPrandomU32)
            .op(Insn::Alu {
                op: AluOp::And,
                dst: Reg::R0,
                src: Operand::Imm(8),
            })
            .mov_reg(reg, Reg::R8)
            .op(Insn::Alu {
                op: AluOp::Add,
                dst: reg,
                src: Operand::Reg(Reg::R0),
            });
    }
}

/// One snippet of `main`.
fn snippet(
    u: &mut Unstructured<'_>,
    g: &mut Gen<'_>,
    b: &mut Builder,
    t: Target,
    sleepable: bool,
) -> Result<()> {
    let v = value_of(g, t);
    let f = &g.kernel.features;
    let ty = g.ty;
    let missing = v.timer == 0 && (g.is(Fault::MissingField) || g.is(Fault::NoBtf));
    let choice = match g.prefer {
        _ if missing => 0,
        Some(c) if !g.placed && u.ratio(1, 2)? => c,
        _ => u.int_in_range(0..=9)?,
    };
    match choice {
        0 | 1 if v.timer > 0 || missing => timer(u, g, b, t, sleepable)?,
        2 if v.wq > 0 && f.wq => wq(u, g, b, t)?,
        3 if v.task_work > 0 && f.task_work && task_kfuncs(ty) => task_work(u, g, b, t)?,
        4 if (v.kptr > 0 || v.kptr_untrusted > 0) && f.kptr => kptr(u, g, b, v, ty)?,
        5 => stack(u, g, b)?,
        6 => call_subprogs(u, g, b)?,
        7 => spill(u, g, b, t)?,
        8 if g.rdonly.is_some() => rdonly(u, g, b)?,
        _ => scalars(u, g, b, v)?,
    }
    Ok(())
}

/// The program types that may call `bpf_task_from_pid` / `bpf_task_release`.
const fn task_kfuncs(ty: ProgType) -> bool {
    matches!(ty, ProgType::SchedCls | ProgType::Xdp | ProgType::Syscall)
}

/// Init, set the callback, start and maybe cancel the timer of `r6`.
fn timer(
    u: &mut Unstructured<'_>,
    g: &mut Gen<'_>,
    b: &mut Builder,
    t: Target,
    sleepable: bool,
) -> Result<()> {
    let cb = callback(u, g, CbKind::Timer, value_of(g, t), sleepable)?;
    let skip = b.label();
    let other_inner = t.inner && g.is(Fault::OtherInnerMap);
    if other_inner {
        second_inner(b, t, skip);
    }
    field_arg(g, b, t, Field::Timer, Reg::R1);
    map_arg(g, b, t, other_inner, Reg::R2);
    b.mov(Reg::R3, 1).helper(Helper::TimerInit);
    field_arg(g, b, t, Field::Timer, Reg::R1);
    b.func(Reg::R2, cb).helper(Helper::TimerSetCallback);
    if g.is(Fault::DeepStackDirectCall) {
        // 256 bytes in main, 320 in the callback, called as a plain function.
        b.store(Size::DW, Reg::FP, -256, Operand::Imm(0))
            .call(Callee::Subprog(cb));
    }
    field_arg(g, b, t, Field::Timer, Reg::R1);
    b.mov(Reg::R2, 1_000_000)
        .mov(Reg::R3, 0)
        .helper(Helper::TimerStart);
    if u.ratio(1, 2)? {
        field_arg(g, b, t, Field::Timer, Reg::R1);
        b.helper(Helper::TimerCancel);
    }
    b.bind(skip);
    Ok(())
}

fn wq(u: &mut Unstructured<'_>, g: &mut Gen<'_>, b: &mut Builder, t: Target) -> Result<()> {
    let implicit = g.kernel.features.implicit_kfunc_args;
    let cb = callback(u, g, CbKind::Wq, value_of(g, t), true)?;
    let skip = b.label();
    let other_inner = t.inner && g.is(Fault::OtherInnerMap);
    if other_inner {
        second_inner(b, t, skip);
    }
    field_arg(g, b, t, Field::Wq, Reg::R1);
    if g.is(Fault::ValueAsMapArg) {
        // The element, or a stack pointer.
        if u.ratio(1, 2)? {
            b.mov_reg(Reg::R2, Reg::R6);
        } else {
            b.mov_reg(Reg::R2, Reg::FP).add(Reg::R2, -16);
        }
    } else {
        map_arg(g, b, t, other_inner, Reg::R2);
    }
    b.mov(Reg::R3, 0).kfunc(Kfunc::WqInit);
    field_arg(g, b, t, Field::Wq, Reg::R1);
    b.func(Reg::R2, cb).mov(Reg::R3, 0);
    if implicit {
        b.kfunc(Kfunc::WqSetCallback);
    } else {
        b.mov(Reg::R4, 0).kfunc(Kfunc::WqSetCallbackImpl);
    }
    field_arg(g, b, t, Field::Wq, Reg::R1);
    b.mov(Reg::R2, 0).kfunc(Kfunc::WqStart);
    b.bind(skip);
    Ok(())
}

/// Acquire a task into `r7` (NULL skips to a label the caller binds).
fn acquire_task(b: &mut Builder, skip: Label) {
    b.mov(Reg::R1, 1)
        .kfunc(Kfunc::TaskFromPid)
        .jump_if(Cond::Eq, Reg::R0, 0, skip)
        .mov_reg(Reg::R7, Reg::R0);
}

fn task_work(u: &mut Unstructured<'_>, g: &mut Gen<'_>, b: &mut Builder, t: Target) -> Result<()> {
    let implicit = g.kernel.features.implicit_kfunc_args;
    let cb = callback(u, g, CbKind::TaskWork, value_of(g, t), true)?;
    let skip = b.label();
    let other_inner = t.inner && g.is(Fault::OtherInnerMap);
    if other_inner {
        second_inner(b, t, skip);
    }
    // Which trusted argument is NULL: 0 the task, not NULL-checked; 1 the task, a NULL
    // constant; 2 the task_work; 3 the map.
    let null = if g.is(Fault::NullTrustedArg) {
        Some(u.int_in_range(0..=3u8)?)
    } else {
        None
    };
    b.mov(Reg::R1, 1).kfunc(Kfunc::TaskFromPid);
    if null != Some(0) {
        b.jump_if(Cond::Eq, Reg::R0, 0, skip);
    }
    b.mov_reg(Reg::R7, Reg::R0);
    // The field first: a variable offset calls a helper, which clobbers R1 to R5.
    field_arg(g, b, t, Field::TaskWork, Reg::R2);
    if null == Some(2) {
        b.mov(Reg::R2, 0);
    }
    map_arg(g, b, t, other_inner, Reg::R3);
    if null == Some(3) {
        b.mov(Reg::R3, 0);
    }
    b.func(Reg::R4, cb).mov_reg(Reg::R1, Reg::R7);
    if null == Some(1) {
        b.mov(Reg::R1, 0);
    }
    if implicit {
        b.kfunc(Kfunc::TaskWorkScheduleSignal);
    } else {
        b.mov(Reg::R5, 0).kfunc(Kfunc::TaskWorkScheduleSignalImpl);
    }
    if !g.is(Fault::LeakTask) {
        b.mov_reg(Reg::R1, Reg::R7).kfunc(Kfunc::TaskRelease);
    }
    b.bind(skip);
    Ok(())
}

fn kptr(
    u: &mut Unstructured<'_>,
    g: &mut Gen<'_>,
    b: &mut Builder,
    v: ValueLayout,
    ty: ProgType,
) -> Result<()> {
    let skip = b.label();
    let untrusted = layout::offset(Field::KptrUntrusted) as i16;
    if v.kptr > 0 && task_kfuncs(ty) {
        if g.is(Fault::ReleaseMaybeNull) {
            b.mov(Reg::R1, 1)
                .kfunc(Kfunc::TaskFromPid)
                .mov_reg(Reg::R1, Reg::R0)
                .kfunc(Kfunc::TaskRelease);
            b.bind(skip);
            return Ok(());
        }
        // 0: release a NULL constant; 1: exchange a task not NULL-checked.
        let null = if g.is(Fault::NullTrustedArg) {
            Some(u.int_in_range(0..=1u8)?)
        } else {
            None
        };
        if null == Some(0) {
            b.mov(Reg::R1, 0).kfunc(Kfunc::TaskRelease);
            b.bind(skip);
            return Ok(());
        }
        if g.sleepable && g.is(Fault::XchgLoadedKptr) {
            // Loaded outside an RCU section: an untrusted pointer, not a reference.
            b.load(
                Size::DW,
                Reg::R2,
                Reg::R6,
                layout::offset(Field::Kptr) as i16,
            )
            .jump_if(Cond::Eq, Reg::R2, 0, skip)
            .mov_reg(Reg::R1, Reg::R6)
            .add(Reg::R1, layout::offset(Field::Kptr) as i32)
            .helper(Helper::KptrXchg)
            .jump_if(Cond::Eq, Reg::R0, 0, skip)
            .mov_reg(Reg::R1, Reg::R0)
            .kfunc(Kfunc::TaskRelease);
            b.bind(skip);
            return Ok(());
        }
        b.mov(Reg::R1, 1).kfunc(Kfunc::TaskFromPid);
        if null.is_none() {
            b.jump_if(Cond::Eq, Reg::R0, 0, skip);
        }
        b.mov_reg(Reg::R7, Reg::R0);
        if g.is(Fault::StoreToReferencedKptr) {
            b.store(
                Size::DW,
                Reg::R6,
                layout::offset(Field::Kptr) as i16,
                Operand::Reg(Reg::R7),
            );
        }
        let dest = if v.kptr_untrusted > 0 && g.is(Fault::XchgIntoUntrusted) {
            Field::KptrUntrusted
        } else {
            Field::Kptr
        };
        b.mov_reg(Reg::R1, Reg::R6)
            .add(Reg::R1, layout::offset(dest) as i32)
            .mov_reg(Reg::R2, Reg::R7)
            .helper(Helper::KptrXchg)
            .jump_if(Cond::Eq, Reg::R0, 0, skip);
        if !g.is(Fault::LeakTask) {
            b.mov_reg(Reg::R1, Reg::R0).kfunc(Kfunc::TaskRelease);
        }
    }
    if v.kptr > 0 {
        let (size, off) = if g.is(Fault::KptrNarrowLoad) {
            (Size::W, 0)
        } else if g.is(Fault::KptrMisalignedLoad) {
            (Size::DW, 2)
        } else {
            (Size::DW, 0)
        };
        b.load(
            size,
            Reg::R1,
            Reg::R6,
            layout::offset(Field::Kptr) as i16 + off,
        );
        // The loaded kptr (RCU or untrusted, maybe NULL) may go to the untrusted one.
        if v.kptr_untrusted > 0 && size == Size::DW && off == 0 && u.ratio(1, 3)? {
            b.store(Size::DW, Reg::R6, untrusted, Operand::Reg(Reg::R1));
        }
    }
    if v.kptr_untrusted > 0 {
        if g.is(Fault::KptrBadStore) {
            match u.int_in_range(0..=3u8)? {
                0 => {
                    b.mov(Reg::R1, 7)
                        .store(Size::DW, Reg::R6, untrusted, Operand::Reg(Reg::R1));
                }
                1 => {
                    b.store(Size::DW, Reg::R6, untrusted, Operand::Reg(Reg::R6));
                }
                2 if task_kfuncs(ty) => {
                    // A pointer into the task, not to it.
                    let s = b.label();
                    acquire_task(b, s);
                    b.mov_reg(Reg::R1, Reg::R7)
                        .add(Reg::R1, 8)
                        .store(Size::DW, Reg::R6, untrusted, Operand::Reg(Reg::R1))
                        .mov_reg(Reg::R1, Reg::R7)
                        .kfunc(Kfunc::TaskRelease);
                    b.bind(s);
                }
                _ => {
                    b.store(Size::DW, Reg::R6, untrusted, Operand::Imm(1));
                }
            }
        } else if task_kfuncs(ty) && u.ratio(1, 3)? {
            // A trusted task stored untrusted, then released.
            let s = b.label();
            acquire_task(b, s);
            b.store(Size::DW, Reg::R6, untrusted, Operand::Reg(Reg::R7))
                .mov_reg(Reg::R1, Reg::R7)
                .kfunc(Kfunc::TaskRelease);
            b.bind(s);
        } else {
            b.store(Size::DW, Reg::R6, untrusted, Operand::Imm(0));
        }
    }
    b.bind(skip);
    Ok(())
}

/// Stack use in `main` (its depth adds to every chain of calls from it).
fn stack(u: &mut Unstructured<'_>, g: &mut Gen<'_>, b: &mut Builder) -> Result<()> {
    let depth = i16::from(u.int_in_range(1..=32u8)?) * 8;
    let off = if g.is(Fault::StackOverflowStore) {
        -520
    } else {
        -depth
    };
    b.mov(Reg::R1, 7)
        .store(Size::DW, Reg::FP, off, Operand::Reg(Reg::R1))
        .load(Size::DW, Reg::R8, Reg::FP, off);
    if g.is(Fault::WriteFramePointer) {
        b.mov(Reg::FP, 0);
    }
    Ok(())
}

/// Pointers spilled to the stack and filled back: the element across a helper call, a
/// lookup result spilled before its NULL check (the check marks the spilled copy too, and a
/// check of the filled copy marks the register), a map pointer, an acquired task released
/// through its filled copy.
fn spill(u: &mut Unstructured<'_>, g: &Gen<'_>, b: &mut Builder, t: Target) -> Result<()> {
    let slot = -8 * i16::from(u.int_in_range(2..=8u8)?);
    let skip = b.label();
    match u.int_in_range(0..=4u8)? {
        3 => {
            b.key0();
            map_reg(b, t, Reg::R1);
            b.helper(Helper::MapLookupElem)
                .store(Size::DW, Reg::FP, slot, Operand::Reg(Reg::R0))
                .load(Size::DW, Reg::R1, Reg::FP, slot)
                .jump_if(Cond::Eq, Reg::R1, 0, skip)
                .load(Size::DW, Reg::R1, Reg::R0, 0);
        }
        4 if g.kernel.features.kptr && task_kfuncs(g.ty) => {
            b.mov(Reg::R1, 1)
                .kfunc(Kfunc::TaskFromPid)
                .store(Size::DW, Reg::FP, slot, Operand::Reg(Reg::R0))
                .jump_if(Cond::Eq, Reg::R0, 0, skip)
                .helper(Helper::GetPrandomU32)
                .load(Size::DW, Reg::R1, Reg::FP, slot)
                .kfunc(Kfunc::TaskRelease);
        }
        0 => {
            b.store(Size::DW, Reg::FP, slot, Operand::Reg(Reg::R6))
                .helper(Helper::GetPrandomU32)
                .load(Size::DW, Reg::R6, Reg::FP, slot)
                .load(Size::DW, Reg::R1, Reg::R6, 0);
        }
        1 => {
            b.key0();
            map_reg(b, t, Reg::R1);
            b.helper(Helper::MapLookupElem)
                .store(Size::DW, Reg::FP, slot, Operand::Reg(Reg::R0))
                .jump_if(Cond::Eq, Reg::R0, 0, skip)
                .load(Size::DW, Reg::R1, Reg::FP, slot)
                .load(Size::DW, Reg::R1, Reg::R1, 0);
        }
        _ => {
            map_reg(b, t, Reg::R1);
            b.store(Size::DW, Reg::FP, slot, Operand::Reg(Reg::R1));
            b.key0();
            b.load(Size::DW, Reg::R1, Reg::FP, slot)
                .helper(Helper::MapLookupElem)
                .jump_if(Cond::Eq, Reg::R0, 0, skip)
                .load(Size::DW, Reg::R1, Reg::R0, 0);
        }
    }
    b.bind(skip);
    Ok(())
}

/// The `BPF_F_RDONLY_PROG` map: read an element, or (the fault) update, delete or store.
fn rdonly(u: &mut Unstructured<'_>, g: &mut Gen<'_>, b: &mut Builder) -> Result<()> {
    let Some(m) = g.rdonly else {
        return Ok(());
    };
    let write = g.is(Fault::WriteRdonlyMap);
    let skip = b.label();
    b.key0();
    b.map(Reg::R1, m);
    match if write { u.int_in_range(0..=2u8)? } else { 2 } {
        0 => {
            // The value: 72 bytes below the key.
            b.mov_reg(Reg::R3, Reg::FP)
                .add(Reg::R3, -88)
                .mov(Reg::R4, 0)
                .helper(Helper::MapUpdateElem);
        }
        1 => {
            b.helper(Helper::MapDeleteElem);
        }
        _ => {
            b.helper(Helper::MapLookupElem)
                .jump_if(Cond::Eq, Reg::R0, 0, skip);
            if write {
                b.mov(Reg::R1, 1)
                    .store(Size::DW, Reg::R0, 0, Operand::Reg(Reg::R1));
            } else {
                b.load(Size::DW, Reg::R1, Reg::R0, 0);
            }
        }
    }
    b.bind(skip);
    Ok(())
}

/// Static and global bpf-to-bpf calls; the faults of deep stacks and frames.
fn call_subprogs(u: &mut Unstructured<'_>, g: &mut Gen<'_>, b: &mut Builder) -> Result<()> {
    let frames = if g.is(Fault::TooManyFrames) {
        8
    } else {
        u.int_in_range(1..=3)?
    };
    let global = u.ratio(1, 4)? && frames == 1;
    // A chain: sub_k calls sub_{k+1}; the last returns.
    let first = g.subprog_index();
    for k in 0..frames {
        let mut s = Builder::default();
        let depth = i16::from(u.int_in_range(1..=8u8)?) * 8;
        s.mov(Reg::R1, 0)
            .store(Size::DW, Reg::FP, -depth, Operand::Reg(Reg::R1));
        if k + 1 < frames {
            s.call(Callee::Subprog(first + k + 1));
        }
        s.ret(0);
        let linkage = if global {
            Linkage::Global
        } else {
            Linkage::Static
        };
        g.subs.push(s.finish(&format!("sub{}", first + k), linkage));
    }
    b.call(Callee::Subprog(first));
    Ok(())
}

/// Scalar work on a random value, branches (some of which the verifier decides from the
/// bounds: their targets are dead code that would be refused), and a load from the value.
fn scalars(
    u: &mut Unstructured<'_>,
    g: &mut Gen<'_>,
    b: &mut Builder,
    v: ValueLayout,
) -> Result<()> {
    let skip = b.label();
    let bad = b.label();
    let mask = *u.choose(&[1, 3, 7, 255])?;
    b.helper(Helper::GetPrandomU32)
        .alu(AluOp::And, Reg::R0, mask);
    // A jump the bounds `[0, mask]` decide: never taken, or always over the bad code.
    let guard = u.int_in_range(0..=8u8)?;
    match guard {
        1 => b.jump_if(Cond::Gt, Reg::R0, mask, bad),
        2 => b.jump_if(Cond::Sgt, Reg::R0, mask, bad),
        3 => b.jump_if(Cond::Eq, Reg::R0, mask + 1, bad),
        4 => b.jump_if(Cond::Slt, Reg::R0, 0, bad),
        5 => b.jump_if(Cond::Ge, Reg::R0, mask + 1, bad),
        // The element is not NULL.
        8 => b.jump_if(Cond::Eq, Reg::R6, 0, bad),
        _ => b,
    };
    let edge = g.is(Fault::EdgeBranchDeref);
    if edge {
        // Taken when r0 == mask.
        let cond = *u.choose(&[Cond::Ge, Cond::Eq])?;
        b.jump_if(cond, Reg::R0, mask, bad);
    }
    b.jump_if(Cond::Gt, Reg::R0, mask / 2, skip);
    // Decided by the bounds the fall-through left: `[0, mask / 2]`.
    match guard {
        6 => b.jump_if(Cond::Gt, Reg::R0, mask / 2, bad),
        7 => b
            .alu(AluOp::Sub, Reg::R0, 5)
            .jump_if(Cond::Slt, Reg::R0, -5, bad),
        _ => b,
    };
    b.add(Reg::R0, 1).load(Size::DW, Reg::R1, Reg::R6, 0);
    if g.is(Fault::ValuePastEnd) {
        b.load(Size::DW, Reg::R1, Reg::R6, layout::value_size(&v) as i16);
    }
    if g.is(Fault::ScalarDeref) {
        b.load(Size::DW, Reg::R1, Reg::R0, 0);
    }
    if v.timer > 0 && g.is(Fault::DirectFieldLoad) {
        b.load(
            Size::DW,
            Reg::R1,
            Reg::R6,
            layout::offset(Field::Timer) as i16,
        );
    }
    if guard > 0 || edge {
        // Dead unless the fault's branch is taken: a scalar dereferenced.
        b.goto(skip);
        b.bind(bad);
        b.load(Size::DW, Reg::R1, Reg::R0, 0);
    }
    b.bind(skip);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CbKind {
    Timer,
    Wq,
    TaskWork,
}

/// A callback subprogram of `kind` on an element of layout `v`; returns its index. Its body
/// may look its own element up again (R1 the map, R2 the key), sleep (wq and task_work
/// callbacks may, in a static subprogram they call too), call a static subprogram, re-arm its
/// timer or wq, start the element's other async object, or schedule its task_work again.
fn callback(
    u: &mut Unstructured<'_>,
    g: &mut Gen<'_>,
    kind: CbKind,
    v: ValueLayout,
    sleepable: bool,
) -> Result<u8> {
    let idx = g.subprog_index();
    let mut s = Builder::default();
    let deep = g.fault == Some(Fault::DeepStackDirectCall) && kind == CbKind::Timer;
    let depth = if deep {
        320
    } else {
        i16::from(u.int_in_range(1..=8u8)?) * 8
    };
    // A callback called directly (`deep`) gets no R1 to R3: it does not read them.
    if !deep {
        s.mov_reg(Reg::R6, Reg::R3).mov_reg(Reg::R8, Reg::R1);
    }
    if g.is(Fault::CallbackWritesKey) {
        s.store(Size::W, Reg::R2, 0, Operand::Imm(1));
    }
    if !deep && u.ratio(1, 4)? {
        // The element again, through the callback's map and key.
        let l = s.label();
        s.helper(Helper::MapLookupElem)
            .jump_if(Cond::Eq, Reg::R0, 0, l)
            .load(Size::DW, Reg::R1, Reg::R0, 0);
        s.bind(l);
    }
    s.mov(Reg::R1, 0)
        .store(Size::DW, Reg::FP, -depth, Operand::Reg(Reg::R1));
    if g.is(Fault::CallbackReadsR4) {
        s.mov_reg(Reg::R0, Reg::R4);
    }
    let rearm = !deep && u.ratio(1, 3)?;
    // A callback that registers itself again is verified again from the start, and the
    // kernel's infinite-loop check (`is_state_visited`) looks at the innermost frame's
    // `in_async_callback_fn` only: a state in a static subprogram it calls, equal to the
    // first walk's, is "infinite loop detected" (6.18, found by the verifier differential;
    // not modelled). A task_work callback that schedules itself calls no subprogram.
    let resched = rearm && kind == CbKind::TaskWork;
    // Where the callback sleeps: not at all, in its body, or in the static subprogram it
    // calls (which runs in the callback's context).
    let (sleep, sleep_in_callee) = match kind {
        CbKind::Timer if sleepable && g.is(Fault::SleepInTimerCallback) => {
            let callee = !deep && u.ratio(1, 2)?;
            (!callee, callee)
        }
        CbKind::Timer => (false, false),
        // Sleepable whatever the program (`is_async_cb_sleepable`).
        CbKind::Wq | CbKind::TaskWork => (u.ratio(1, 4)?, !resched && u.ratio(1, 8)?),
    };
    if sleep {
        copy_from_user(&mut s);
    }
    let callee = (!deep && !resched && (sleep_in_callee || u.ratio(1, 4)?)).then(|| idx + 1);
    if let Some(c) = callee {
        s.call(Callee::Subprog(c));
    }
    if rearm {
        // Re-arm itself: start the timer / wq of the value (R3 at entry, in r6), or
        // schedule the task_work again (for a task it acquires, on the map of R1, in r8).
        match kind {
            CbKind::Timer => timer_start(&mut s),
            CbKind::Wq => wq_start(&mut s),
            CbKind::TaskWork if task_kfuncs(g.ty) => {
                let l = s.label();
                acquire_task(&mut s, l);
                s.mov_reg(Reg::R2, Reg::R6)
                    .add(Reg::R2, layout::offset(Field::TaskWork) as i32)
                    .mov_reg(Reg::R3, Reg::R8)
                    .func(Reg::R4, idx)
                    .mov_reg(Reg::R1, Reg::R7);
                if g.kernel.features.implicit_kfunc_args {
                    s.kfunc(Kfunc::TaskWorkScheduleResume);
                } else {
                    s.mov(Reg::R5, 0).kfunc(Kfunc::TaskWorkScheduleResumeImpl);
                }
                s.mov_reg(Reg::R1, Reg::R7).kfunc(Kfunc::TaskRelease);
                s.bind(l);
            }
            CbKind::TaskWork => {}
        }
    }
    if !deep && u.ratio(1, 6)? {
        // Init the callback's own timer / wq again, with the callback's map (R1, in r8): the
        // same map and `map_uid` as the element's.
        match kind {
            CbKind::Timer => {
                s.mov_reg(Reg::R1, Reg::R6)
                    .add(Reg::R1, layout::offset(Field::Timer) as i32)
                    .mov_reg(Reg::R2, Reg::R8)
                    .mov(Reg::R3, 1)
                    .helper(Helper::TimerInit);
            }
            CbKind::Wq => {
                s.mov_reg(Reg::R1, Reg::R6)
                    .add(Reg::R1, layout::offset(Field::Wq) as i32)
                    .mov_reg(Reg::R2, Reg::R8)
                    .mov(Reg::R3, 0)
                    .kfunc(Kfunc::WqInit);
            }
            CbKind::TaskWork => {}
        }
    }
    if !deep && u.ratio(1, 4)? {
        // Start the element's other async object.
        match kind {
            CbKind::Timer if v.wq > 0 && g.kernel.features.wq => wq_start(&mut s),
            CbKind::Wq | CbKind::TaskWork if v.timer > 0 => timer_start(&mut s),
            _ => {}
        }
    }
    if g.is(Fault::CallbackReturnsUnknown) {
        s.helper(Helper::GetPrandomU32).op(Insn::Exit);
    } else if g.is(Fault::CallbackReturnsOne) {
        s.ret(1);
    } else if g.is(Fault::CallbackReturnsPointer) {
        let p = if deep {
            Reg::FP
        } else {
            *u.choose(&[Reg::FP, Reg::R6, Reg::R8])?
        };
        s.mov_reg(Reg::R0, p).op(Insn::Exit);
    } else if kind == CbKind::TaskWork {
        // Any `int` (`set_task_work_schedule_callback_state`).
        s.ret(*u.choose(&[0, 1, -5, i32::MIN])?);
    } else {
        s.ret(0);
    }
    let linkage = if g.is(Fault::GlobalCallback) {
        Linkage::Global
    } else {
        Linkage::Static
    };
    g.subs.push(s.finish(&format!("cb{idx}"), linkage));
    if let Some(c) = callee {
        let mut sub = Builder::default();
        let depth = i16::from(u.int_in_range(1..=8u8)?) * 8;
        sub.mov(Reg::R1, 0)
            .store(Size::DW, Reg::FP, -depth, Operand::Reg(Reg::R1));
        if sleep_in_callee {
            copy_from_user(&mut sub);
        }
        sub.ret(0);
        g.subs.push(sub.finish(&format!("sub{c}"), Linkage::Static));
    }
    Ok(idx)
}

/// `bpf_copy_from_user(r10 - 16, 8, NULL)`: a helper that might sleep.
fn copy_from_user(s: &mut Builder) {
    s.mov_reg(Reg::R1, Reg::FP)
        .add(Reg::R1, -16)
        .mov(Reg::R2, 8)
        .mov(Reg::R3, 0)
        .helper(Helper::CopyFromUser);
}

/// Start the timer of the element in `r6`.
fn timer_start(s: &mut Builder) {
    s.mov_reg(Reg::R1, Reg::R6)
        .add(Reg::R1, layout::offset(Field::Timer) as i32)
        .mov(Reg::R2, 1_000_000)
        .mov(Reg::R3, 0)
        .helper(Helper::TimerStart);
}

/// Start the wq of the element in `r6`.
fn wq_start(s: &mut Builder) {
    s.mov_reg(Reg::R1, Reg::R6)
        .add(Reg::R1, layout::offset(Field::Wq) as i32)
        .mov(Reg::R2, 0)
        .kfunc(Kfunc::WqStart);
}
