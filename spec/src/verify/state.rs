//! The abstract state of one verifier path (`struct bpf_verifier_state`): the call frames with
//! their registers and stacks, the acquired references, the id generator.

use crate::prog::Reg;

/// A map as the verifier knows it: a map fd of the case, or the inner-map template of a
/// map-in-map (`inner_map_meta`), which is another map than the template's own fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapId {
    Fd(u8),
    /// The inner map of the map-in-map with this index.
    InnerOf(u8),
}

/// A scalar's signed bounds (`smin_value` / `smax_value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Range {
    pub min: i64,
    pub max: i64,
}

impl Range {
    pub const UNKNOWN: Range = Range {
        min: i64::MIN,
        max: i64::MAX,
    };

    pub const fn exactly(v: i64) -> Range {
        Range { min: v, max: v }
    }

    pub const fn constant(self) -> Option<i64> {
        if self.min == self.max {
            Some(self.min)
        } else {
            None
        }
    }

    /// `[0, u32::MAX]`: a 32-bit unsigned result (`bpf_get_prandom_u32`).
    pub const U32: Range = Range {
        min: 0,
        max: u32::MAX as i64,
    };
}

/// Where a `PTR_TO_BTF_ID` to a `struct task_struct` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskPtr {
    /// Acquired (`KF_ACQUIRE` / `bpf_kptr_xchg`): trusted, holding reference `ref_id`.
    Acquired { ref_id: u32 },
    /// Loaded from a kptr field: `PTR_UNTRUSTED` or `MEM_RCU`, never trusted for release.
    Loaded,
}

/// A pointer's offset from its base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Off {
    Const(i64),
    Var(Range),
}

impl Off {
    pub fn add(self, r: Range) -> Off {
        match (self, r.constant()) {
            (Off::Const(a), Some(b)) => a
                .checked_add(b)
                .map_or(Off::Var(Range::UNKNOWN), Off::Const),
            (Off::Const(a), None) => Off::Var(shift(r, a)),
            (Off::Var(v), _) => Off::Var(add_ranges(v, r)),
        }
    }

    /// The lowest and highest offset.
    pub const fn bounds(self) -> (i64, i64) {
        match self {
            Off::Const(c) => (c, c),
            Off::Var(r) => (r.min, r.max),
        }
    }
}

fn shift(r: Range, by: i64) -> Range {
    match (r.min.checked_add(by), r.max.checked_add(by)) {
        (Some(min), Some(max)) => Range { min, max },
        _ => Range::UNKNOWN,
    }
}

pub fn add_ranges(a: Range, b: Range) -> Range {
    match (a.min.checked_add(b.min), a.max.checked_add(b.max)) {
        (Some(min), Some(max)) => Range { min, max },
        _ => Range::UNKNOWN,
    }
}

/// A register's abstract value (`struct bpf_reg_state`, as far as the fragment needs it).
/// `null` is the id shared by the copies of one maybe-NULL pointer (0: not NULL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Val {
    /// `NOT_INIT`.
    Uninit,
    /// `SCALAR_VALUE`.
    Scalar(Range),
    /// `PTR_TO_CTX` (main's R1).
    Ctx,
    /// `PTR_TO_STACK` into the stack of call frame `frame`.
    Stack { frame: u8, off: i64 },
    /// `CONST_PTR_TO_MAP` (`map_uid`: the id of the lookup that found an inner map, else 0).
    Map { map: MapId, uid: u32, null: u32 },
    /// `PTR_TO_MAP_VALUE`.
    Value {
        map: MapId,
        uid: u32,
        off: Off,
        null: u32,
    },
    /// `PTR_TO_MAP_KEY` (an async callback's R2).
    Key { map: MapId },
    /// `PTR_TO_FUNC`.
    Func { subprog: u8 },
    /// `PTR_TO_BTF_ID` of `struct task_struct`, `off` bytes into it.
    Task { ptr: TaskPtr, null: u32, off: i64 },
}

impl Val {
    pub const ZERO: Val = Val::Scalar(Range::exactly(0));
    pub const UNKNOWN: Val = Val::Scalar(Range::UNKNOWN);

    pub const fn is_pointer(&self) -> bool {
        !matches!(self, Val::Uninit | Val::Scalar(_))
    }

    /// The id of a maybe-NULL pointer.
    pub const fn null_id(&self) -> u32 {
        match *self {
            Val::Map { null, .. } | Val::Value { null, .. } | Val::Task { null, .. } => null,
            _ => 0,
        }
    }

    /// The same pointer, known not to be NULL.
    pub fn non_null(self) -> Val {
        match self {
            Val::Map { map, uid, .. } => Val::Map { map, uid, null: 0 },
            Val::Value { map, uid, off, .. } => Val::Value {
                map,
                uid,
                off,
                null: 0,
            },
            Val::Task { ptr, off, .. } => Val::Task { ptr, null: 0, off },
            v => v,
        }
    }

    /// `register_is_null`: a known zero scalar.
    pub fn is_null_const(&self) -> bool {
        *self == Val::ZERO
    }
}

/// The state of one stack byte (`STACK_INVALID` / `STACK_MISC` / `STACK_ZERO` /
/// `STACK_SPILL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Byte {
    Invalid,
    Misc,
    Zero,
    /// Part of an 8-byte aligned register spill (the value is in [`Stack::spills`]).
    Spill,
}

/// `MAX_BPF_STACK`.
pub const STACK_SIZE: usize = 512;

/// One frame's stack: byte `i` is at `r10 - 512 + i`. Spilled registers are kept apart, by
/// the index of their first byte, so that a state is cheap to copy at every branch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Stack {
    bytes: [Byte; STACK_SIZE],
    spills: Vec<(usize, Val)>,
}

impl Stack {
    fn new() -> Stack {
        Stack {
            bytes: [Byte::Invalid; STACK_SIZE],
            spills: Vec::new(),
        }
    }

    /// What an `n`-byte load at byte `lo` reads: a spilled register read whole, a stored
    /// zero, else an unknown scalar (uninitialized bytes are allowed to root).
    pub fn read(&self, lo: usize, n: usize) -> Val {
        if n == 8
            && let Some(&(_, v)) = self.spills.iter().find(|&&(at, _)| at == lo)
        {
            return v;
        }
        if self.bytes[lo..lo + n].iter().all(|b| *b == Byte::Zero) {
            Val::ZERO
        } else {
            Val::UNKNOWN
        }
    }

    /// Store `v` (`None`: an immediate, zero or not) in `n` bytes at `lo`. An 8-byte aligned
    /// store of a register other than zero is a spill; part of an older spill overwritten
    /// leaves the rest of its slot as plain data.
    pub fn write(&mut self, lo: usize, n: usize, v: Option<Val>, zero: bool) {
        let (slot, end) = (lo / 8 * 8, (lo + n).div_ceil(8) * 8);
        self.spills.retain(|&(at, _)| !(slot..end).contains(&at));
        for b in &mut self.bytes[slot..end.min(STACK_SIZE)] {
            if *b == Byte::Spill {
                *b = Byte::Misc;
            }
        }
        let byte = match v {
            Some(v) if n == 8 && lo.is_multiple_of(8) && !zero => {
                self.spills.push((lo, v));
                Byte::Spill
            }
            _ if zero => Byte::Zero,
            _ => Byte::Misc,
        };
        self.bytes[lo..lo + n].fill(byte);
    }

    /// The 4-byte constant at `lo`, if known: stored zeroes, or the low bytes of a spilled
    /// constant.
    pub fn constant_u32(&self, lo: usize) -> Option<i64> {
        if self.bytes.get(lo..lo + 4)?.iter().all(|b| *b == Byte::Zero) {
            return Some(0);
        }
        match self.spills.iter().find(|&&(at, _)| at == lo) {
            Some(&(_, Val::Scalar(r))) => r.constant().map(|k| k & 0xffff_ffff),
            _ => None,
        }
    }

    pub fn spilled_mut(&mut self) -> impl Iterator<Item = &mut Val> {
        self.spills.iter_mut().map(|(_, v)| v)
    }
}

/// One call frame (`struct bpf_func_state`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    pub subprog: u8,
    pub regs: [Val; Reg::COUNT],
    pub stack: Stack,
    /// Where the caller continues (the slot after its call), for frames above 0.
    pub ret_pc: usize,
}

impl Frame {
    /// A fresh frame (`init_func_state`): every register `NOT_INIT` but the frame pointer.
    pub fn new(subprog: u8, frame: u8, ret_pc: usize) -> Frame {
        let mut regs = [Val::Uninit; Reg::COUNT];
        regs[usize::from(Reg::FP.0)] = Val::Stack { frame, off: 0 };
        Frame {
            subprog,
            regs,
            stack: Stack::new(),
            ret_pc,
        }
    }
}

/// Which kind of entry a path started at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    /// The program's main function.
    Main,
    /// A global subprogram, verified on its own (`do_check_subprogs`).
    Global,
    /// An async callback (`push_async_cb`) of this kind.
    Async(AsyncKind),
}

/// The async callback kinds, with their entry state and return range
/// (`set_timer_callback_state`, `set_task_work_schedule_callback_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AsyncKind {
    Timer,
    Wq,
    TaskWork,
}

/// One path of the verifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub frames: Vec<Frame>,
    /// The next instruction (slot).
    pub pc: usize,
    /// References held: `(ref_id, slot of the acquiring call)`.
    pub refs: Vec<(u32, usize)>,
    pub entry: Entry,
    /// `in_sleepable`.
    pub sleepable: bool,
}

impl State {
    pub fn frame(&self) -> &Frame {
        self.frames.last().expect("a path has a frame")
    }

    pub fn frame_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a path has a frame")
    }

    pub fn reg(&self, r: Reg) -> Val {
        self.frame().regs[usize::from(r.0)]
    }

    pub fn set(&mut self, r: Reg, v: Val) {
        self.frame_mut().regs[usize::from(r.0)] = v;
    }

    /// Every register and spilled register of every frame.
    pub fn for_each_val(&mut self, mut f: impl FnMut(&mut Val)) {
        for fr in &mut self.frames {
            fr.regs.iter_mut().for_each(&mut f);
            fr.stack.spilled_mut().for_each(&mut f);
        }
    }
}
