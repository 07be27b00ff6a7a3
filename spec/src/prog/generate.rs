//! The structured program generator: well-formed programs of the fragment built from snippets
//! (look an element up and NULL-check it, drive its timer / wq / task_work, exchange and load
//! kptrs, use the stack, call subprograms, branch on scalars), each async callback a static
//! subprogram, and, about half of the time, exactly one [`Fault`] that breaks one rule. The
//! kernel accepts most fault-free programs, so the differential explores both sides.
//!
//! The kernel matters: kfunc names (`_impl` or not) and the fields a map may hold follow the
//! era, so that a fault, not an era difference, is what a rejection is about.

use super::{
    AluOp, Callee, Case, Cond, Helper, Imm64, Insn, Kfunc, Linkage, MapDecl, Operand, Program, Reg,
    Size, Subprog,
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
    /// Pass another map than the field's to `bpf_timer_init` / `bpf_wq_init`.
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
    /// A map value as the map argument of `bpf_wq_init`.
    ValueAsMapArg,
    /// `bpf_kptr_xchg` into an untrusted kptr.
    XchgIntoUntrusted,
    /// Update a map-in-map from the program.
    UpdateMapInMap,
    /// A tracing program type with a timer map.
    TracingProgram,
}

impl Fault {
    pub const ALL: [Fault; 35] = [
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
    ];
}

/// A jump target inside one subprogram under construction.
#[derive(Clone, Copy)]
struct Label(usize);

/// One subprogram under construction: instructions with symbolic jump targets.
#[derive(Default)]
struct Body {
    insns: Vec<Insn>,
    /// `(instruction index, label)` of each jump to resolve.
    jumps: Vec<(usize, Label)>,
    /// Instruction index each label is bound to.
    labels: Vec<Option<usize>>,
}

impl Body {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }

    fn op(&mut self, i: Insn) -> &mut Body {
        self.insns.push(i);
        self
    }

    fn mov(&mut self, dst: Reg, imm: i32) -> &mut Body {
        self.op(Insn::Alu {
            op: AluOp::Mov,
            dst,
            src: Operand::Imm(imm),
        })
    }

    fn mov_reg(&mut self, dst: Reg, src: Reg) -> &mut Body {
        self.op(Insn::Alu {
            op: AluOp::Mov,
            dst,
            src: Operand::Reg(src),
        })
    }

    fn add(&mut self, dst: Reg, imm: i32) -> &mut Body {
        self.op(Insn::Alu {
            op: AluOp::Add,
            dst,
            src: Operand::Imm(imm),
        })
    }

    fn call(&mut self, c: Callee) -> &mut Body {
        self.op(Insn::Call(c))
    }

    fn helper(&mut self, h: Helper) -> &mut Body {
        self.call(Callee::Helper(h))
    }

    fn kfunc(&mut self, k: Kfunc) -> &mut Body {
        self.call(Callee::Kfunc(k))
    }

    fn ld(&mut self, dst: Reg, imm: Imm64) -> &mut Body {
        self.op(Insn::LdImm64 { dst, imm })
    }

    fn jump_if(&mut self, cond: Cond, dst: Reg, imm: i32, to: Label) -> &mut Body {
        self.jumps.push((self.insns.len(), to));
        self.op(Insn::JmpIf {
            cond,
            dst,
            src: Operand::Imm(imm),
            off: 0,
        })
    }

    fn store(&mut self, size: Size, dst: Reg, off: i16, src: Operand) -> &mut Body {
        self.op(Insn::Store {
            size,
            dst,
            off,
            src,
        })
    }

    fn load(&mut self, size: Size, dst: Reg, src: Reg, off: i16) -> &mut Body {
        self.op(Insn::Load {
            size,
            dst,
            src,
            off,
        })
    }

    fn ret(&mut self, v: i32) -> &mut Body {
        self.mov(Reg::R0, v).op(Insn::Exit)
    }

    /// Resolve jumps to slot offsets.
    fn finish(self, name: &str, linkage: Linkage) -> Subprog {
        let slot_of = |idx: usize| -> usize { self.insns[..idx].iter().map(Insn::slots).sum() };
        let mut insns = self.insns.clone();
        for &(at, l) in &self.jumps {
            let target = self.labels[l.0].expect("every label is bound");
            let off = slot_of(target) as i64 - slot_of(at) as i64 - 1;
            if let Insn::JmpIf { off: o, .. } | Insn::Ja { off: o } = &mut insns[at] {
                *o = i16::try_from(off).expect("generated jumps are short");
            }
        }
        Subprog {
            name: name.into(),
            linkage,
            insns,
        }
    }
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
}

/// Generate a case for `kernel`: maps, then a program, with at most one fault.
pub fn case(u: &mut Unstructured<'_>, kernel: &Kernel) -> Result<Case> {
    let fault = if u.ratio(1, 2)? {
        Some(*u.choose(&Fault::ALL)?)
    } else {
        None
    };
    let mut g = Gen {
        kernel,
        fault,
        maps: Vec::new(),
        subs: Vec::new(),
        placed: false,
    };
    let f = &kernel.features;
    let mut fields: Vec<Field> = vec![Field::Timer];
    if f.wq {
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
    let btf = g.fault != Some(Fault::NoBtf);
    let kind = *u.choose(&[MapKind::Array, MapKind::Hash, MapKind::LruHash])?;
    let through_map_in_map = u.ratio(1, 5)?;
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
    // A second map, with a timer: another map for `bpf_timer_init`.
    let other_value = ValueLayout {
        timer: 1,
        ..ValueLayout::default()
    };
    g.maps.push(map(MapKind::Array, other_value, true));
    let other = u8::try_from(g.maps.len() - 1).expect("few maps");

    let mut ty = *u.choose(&[
        ProgType::SchedCls,
        ProgType::SchedCls,
        ProgType::Xdp,
        ProgType::SocketFilter,
        ProgType::Syscall,
    ])?;
    if g.is(Fault::TracingProgram) {
        ty = ProgType::Kprobe;
    }
    let sleepable = ty == ProgType::Syscall;
    let mut main = Body::default();
    let end = main.label();
    // The element: `r6` = value of key 0, `r9` = the inner map.
    lookup(&mut g, &mut main, main_map, end);
    let n = u.int_in_range(1..=4)?;
    for _ in 0..n {
        snippet(u, &mut g, &mut main, main_map, other, ty, sleepable)?;
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
        spec: MapSpec {
            kind,
            max_entries: 1,
            value,
            flags: MapFlags::default(),
            inner: None,
        },
        btf,
    }
}

/// `r6` = the value of key 0 of `t` (through `r9` = the inner map of a map-in-map); NULL
/// goes to `end`.
fn lookup(g: &mut Gen<'_>, b: &mut Body, t: Target, end: Label) {
    let null_check = !g.is(Fault::NoNullCheck);
    let key = |b: &mut Body| {
        b.mov(Reg::R1, 0)
            .store(Size::W, Reg::FP, -4, Operand::Reg(Reg::R1))
            .mov_reg(Reg::R2, Reg::FP)
            .add(Reg::R2, -4);
    };
    key(b);
    b.ld(Reg::R1, Imm64::Map(t.map))
        .helper(Helper::MapLookupElem);
    if t.inner && g.is(Fault::UpdateMapInMap) {
        key(b);
        b.ld(Reg::R1, Imm64::Map(t.map))
            .mov_reg(Reg::R3, Reg::R2)
            .mov(Reg::R4, 0)
            .helper(Helper::MapUpdateElem);
        key(b);
        b.ld(Reg::R1, Imm64::Map(t.map))
            .helper(Helper::MapLookupElem);
    }
    if t.inner {
        b.jump_if(Cond::Eq, Reg::R0, 0, end)
            .mov_reg(Reg::R9, Reg::R0);
        key(b);
        b.mov_reg(Reg::R1, Reg::R9).helper(Helper::MapLookupElem);
    }
    if null_check {
        b.jump_if(Cond::Eq, Reg::R0, 0, end);
    }
    b.mov_reg(Reg::R6, Reg::R0);
}

/// `reg` = the map of `t` (the inner map is in `r9`).
fn map_reg(b: &mut Body, t: Target, reg: Reg) {
    if t.inner {
        b.mov_reg(reg, Reg::R9);
    } else {
        b.ld(reg, Imm64::Map(t.map));
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

/// `r1` = the field `f` of the element in `r6`.
fn field_arg(g: &mut Gen<'_>, b: &mut Body, f: Field, reg: Reg) {
    if g.is(Fault::StackAsTimer) {
        b.mov_reg(reg, Reg::FP).add(reg, -16);
        return;
    }
    let mut off = layout::offset(f) as i32;
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
    b: &mut Body,
    t: Target,
    other: u8,
    ty: ProgType,
    sleepable: bool,
) -> Result<()> {
    let v = value_of(g, t);
    let f = &g.kernel.features;
    let missing = v.timer == 0 && (g.is(Fault::MissingField) || g.is(Fault::NoBtf));
    let choice = if missing { 0 } else { u.int_in_range(0..=7)? };
    match choice {
        0 | 1 if v.timer > 0 || missing => timer(u, g, b, t, other, sleepable)?,
        2 if v.wq > 0 && f.wq => wq(u, g, b, t)?,
        3 if v.task_work > 0 && f.task_work && task_kfuncs(ty) => task_work(u, g, b, t)?,
        4 if (v.kptr > 0 || v.kptr_untrusted > 0) && f.kptr => kptr(g, b, v, ty)?,
        5 => stack(u, g, b)?,
        6 => call_subprogs(u, g, b)?,
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
    b: &mut Body,
    t: Target,
    other: u8,
    sleepable: bool,
) -> Result<()> {
    let cb = callback(u, g, CbKind::Timer, sleepable)?;
    field_arg(g, b, Field::Timer, Reg::R1);
    if g.is(Fault::OtherMap) {
        b.ld(Reg::R2, Imm64::Map(other));
    } else {
        map_reg(b, t, Reg::R2);
    }
    b.mov(Reg::R3, 1).helper(Helper::TimerInit);
    field_arg(g, b, Field::Timer, Reg::R1);
    b.ld(Reg::R2, Imm64::Func(cb))
        .helper(Helper::TimerSetCallback);
    if g.is(Fault::DeepStackDirectCall) {
        // 256 bytes in main, 320 in the callback, called as a plain function.
        b.store(Size::DW, Reg::FP, -256, Operand::Imm(0))
            .call(Callee::Subprog(cb));
    }
    field_arg(g, b, Field::Timer, Reg::R1);
    b.mov(Reg::R2, 1_000_000)
        .mov(Reg::R3, 0)
        .helper(Helper::TimerStart);
    if u.ratio(1, 2)? {
        field_arg(g, b, Field::Timer, Reg::R1);
        b.helper(Helper::TimerCancel);
    }
    Ok(())
}

fn wq(u: &mut Unstructured<'_>, g: &mut Gen<'_>, b: &mut Body, t: Target) -> Result<()> {
    let implicit = g.kernel.features.implicit_kfunc_args;
    let cb = callback(u, g, CbKind::Wq, true)?;
    field_arg(g, b, Field::Wq, Reg::R1);
    if g.is(Fault::ValueAsMapArg) {
        b.mov_reg(Reg::R2, Reg::R6);
    } else {
        map_reg(b, t, Reg::R2);
    }
    b.mov(Reg::R3, 0).kfunc(Kfunc::WqInit);
    field_arg(g, b, Field::Wq, Reg::R1);
    b.ld(Reg::R2, Imm64::Func(cb)).mov(Reg::R3, 0);
    if implicit {
        b.kfunc(Kfunc::WqSetCallback);
    } else {
        b.mov(Reg::R4, 0).kfunc(Kfunc::WqSetCallbackImpl);
    }
    field_arg(g, b, Field::Wq, Reg::R1);
    b.mov(Reg::R2, 0).kfunc(Kfunc::WqStart);
    Ok(())
}

/// Acquire a task into `r7` (NULL skips to a label the caller binds).
fn acquire_task(b: &mut Body, skip: Label) {
    b.mov(Reg::R1, 1)
        .kfunc(Kfunc::TaskFromPid)
        .jump_if(Cond::Eq, Reg::R0, 0, skip)
        .mov_reg(Reg::R7, Reg::R0);
}

fn task_work(u: &mut Unstructured<'_>, g: &mut Gen<'_>, b: &mut Body, t: Target) -> Result<()> {
    let implicit = g.kernel.features.implicit_kfunc_args;
    let cb = callback(u, g, CbKind::TaskWork, true)?;
    let skip = b.label();
    acquire_task(b, skip);
    // The field first: a variable offset calls a helper, which clobbers R1 to R5.
    field_arg(g, b, Field::TaskWork, Reg::R2);
    map_reg(b, t, Reg::R3);
    b.ld(Reg::R4, Imm64::Func(cb)).mov_reg(Reg::R1, Reg::R7);
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

fn kptr(g: &mut Gen<'_>, b: &mut Body, v: ValueLayout, ty: ProgType) -> Result<()> {
    let skip = b.label();
    if v.kptr > 0 && task_kfuncs(ty) {
        if g.is(Fault::ReleaseMaybeNull) {
            b.mov(Reg::R1, 1)
                .kfunc(Kfunc::TaskFromPid)
                .mov_reg(Reg::R1, Reg::R0)
                .kfunc(Kfunc::TaskRelease);
            b.bind(skip);
            return Ok(());
        }
        acquire_task(b, skip);
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
    }
    if v.kptr_untrusted > 0 {
        b.store(
            Size::DW,
            Reg::R6,
            layout::offset(Field::KptrUntrusted) as i16,
            Operand::Imm(0),
        );
    }
    b.bind(skip);
    Ok(())
}

/// Stack use in `main` (its depth adds to every chain of calls from it).
fn stack(u: &mut Unstructured<'_>, g: &mut Gen<'_>, b: &mut Body) -> Result<()> {
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

/// Static and global bpf-to-bpf calls; the faults of deep stacks and frames.
fn call_subprogs(u: &mut Unstructured<'_>, g: &mut Gen<'_>, b: &mut Body) -> Result<()> {
    let frames = if g.is(Fault::TooManyFrames) {
        8
    } else {
        u.int_in_range(1..=3)?
    };
    let global = u.ratio(1, 4)? && frames == 1;
    // A chain: sub_k calls sub_{k+1}; the last returns.
    let first = g.subprog_index();
    for k in 0..frames {
        let mut s = Body::default();
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

/// Scalar work on a random value, a branch, and a load from the value.
fn scalars(u: &mut Unstructured<'_>, g: &mut Gen<'_>, b: &mut Body, v: ValueLayout) -> Result<()> {
    let skip = b.label();
    let mask = *u.choose(&[1, 3, 7, 255])?;
    b.helper(Helper::GetPrandomU32)
        .op(Insn::Alu {
            op: AluOp::And,
            dst: Reg::R0,
            src: Operand::Imm(mask),
        })
        .jump_if(Cond::Gt, Reg::R0, mask / 2, skip)
        .add(Reg::R0, 1)
        .load(Size::DW, Reg::R1, Reg::R6, 0);
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
    b.bind(skip);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CbKind {
    Timer,
    Wq,
    TaskWork,
}

/// A callback subprogram of `kind`; returns its index.
fn callback(
    u: &mut Unstructured<'_>,
    g: &mut Gen<'_>,
    kind: CbKind,
    sleepable: bool,
) -> Result<u8> {
    let idx = g.subprog_index();
    let mut s = Body::default();
    let deep = g.fault == Some(Fault::DeepStackDirectCall) && kind == CbKind::Timer;
    let depth = if deep {
        320
    } else {
        i16::from(u.int_in_range(1..=8u8)?) * 8
    };
    s.mov(Reg::R1, 0)
        .store(Size::DW, Reg::FP, -depth, Operand::Reg(Reg::R1));
    if g.is(Fault::CallbackReadsR4) {
        s.mov_reg(Reg::R0, Reg::R4);
    }
    if g.is(Fault::CallbackWritesKey) {
        s.store(Size::W, Reg::R2, 0, Operand::Imm(1));
    }
    if kind == CbKind::Timer && sleepable && g.is(Fault::SleepInTimerCallback) {
        s.mov_reg(Reg::R1, Reg::FP)
            .add(Reg::R1, -16)
            .mov(Reg::R2, 8)
            .mov(Reg::R3, 0)
            .helper(Helper::CopyFromUser);
    }
    if kind == CbKind::Timer && !deep && u.ratio(1, 3)? {
        // Re-arm itself: start the timer of the value in r3.
        s.mov_reg(Reg::R1, Reg::R3)
            .add(Reg::R1, layout::offset(Field::Timer) as i32)
            .mov(Reg::R2, 1_000_000)
            .mov(Reg::R3, 0)
            .helper(Helper::TimerStart);
    }
    if g.is(Fault::CallbackReturnsUnknown) {
        s.helper(Helper::GetPrandomU32).op(Insn::Exit);
    } else if g.is(Fault::CallbackReturnsOne) {
        s.ret(1);
    } else {
        s.ret(0);
    }
    let linkage = if g.is(Fault::GlobalCallback) {
        Linkage::Global
    } else {
        Linkage::Static
    };
    g.subs.push(s.finish(&format!("cb{idx}"), linkage));
    Ok(idx)
}
