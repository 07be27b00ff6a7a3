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

/// A pointer's offset from its base: a constant, or a variable one within bounds. Kept as its
/// bounds alone, so that a register is 32 bytes, not 40 (copied at every step and branch):
/// a constant's bounds are equal, a variable offset's never are (it is only made by adding a
/// range whose bounds differ, which stay apart, or is all of `i64` when the sum overflows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Off(Range);

impl Off {
    pub const fn constant(c: i64) -> Off {
        Off(Range::exactly(c))
    }

    /// The offset, if it is a constant.
    pub const fn as_const(self) -> Option<i64> {
        self.0.constant()
    }

    pub fn add(self, r: Range) -> Off {
        match (self.as_const(), r.constant()) {
            (Some(a), Some(b)) => a.checked_add(b).map_or(Off(Range::UNKNOWN), Off::constant),
            (Some(a), None) => Off(shift(r, a)),
            (None, _) => Off(add_ranges(self.0, r)),
        }
    }

    /// The lowest and highest offset.
    pub const fn bounds(self) -> (i64, i64) {
        (self.0.min, self.0.max)
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
/// `null` is the id shared by the copies of one maybe-NULL pointer (0: not NULL). The kind
/// is a byte of its own (`repr(u8)`): matched at every step, it is cheaper to read than a
/// niche in a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
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

/// `MAX_BPF_STACK`.
pub const STACK_SIZE: usize = 512;

/// One frame's stack, byte `i` at `r10 - 512 + i`: which bytes are known to hold zero
/// (`STACK_ZERO`), one bit per byte. The other states of a byte (`STACK_INVALID`,
/// `STACK_MISC`, `STACK_SPILL`) read alike to root (`allow_uninit_stack`): as an unknown
/// scalar, unless an 8-byte load reads a spilled register whole. The spilled registers are in
/// [`State::spills`], so that a frame is a plain value, cheap to copy at every branch; the
/// stack says which of its 8-byte slots hold one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stack {
    zero: [u64; STACK_SIZE / 64],
    /// The slots holding a spilled register, one bit per slot.
    spilled: u64,
}

impl Stack {
    const fn new() -> Stack {
        Stack {
            zero: [0; STACK_SIZE / 64],
            spilled: 0,
        }
    }

    /// The bits of bytes `lo..lo + n` (`n` at most 8, inside the stack): in word `lo / 64`, and
    /// in the next one if they cross into it.
    const fn bits(lo: usize, n: usize) -> (usize, u64, u64) {
        let (w, at) = (lo / 64, lo % 64);
        let ones = (1u64 << n) - 1;
        // `ones >> (64 - at)`, which is 0 when `at` is 0.
        (w, ones << at, (ones >> 1) >> (63 - at))
    }

    /// The bits of the slots bytes `lo..lo + n` touch (likewise).
    const fn slots(lo: usize, n: usize) -> u64 {
        let count = (lo + n).div_ceil(8) - lo / 8;
        ((1u64 << count) - 1) << (lo / 8)
    }

    /// Bytes `lo..lo + n` all hold zero (likewise).
    fn all_zero(&self, lo: usize, n: usize) -> bool {
        let (w, m, over) = Stack::bits(lo, n);
        let next = self.zero.get(w + 1).copied().unwrap_or(0);
        self.zero[w] & m == m && next & over == over
    }

    /// Bytes `lo..lo + n` now hold zero, or not (likewise).
    fn set_zero(&mut self, lo: usize, n: usize, zero: bool) {
        let (w, m, over) = Stack::bits(lo, n);
        for (w, m) in [(w, m), (w + 1, over)] {
            if m == 0 {
                continue;
            }
            if zero {
                self.zero[w] |= m;
            } else {
                self.zero[w] &= !m;
            }
        }
    }
}

/// A register spilled to an 8-byte aligned stack slot (`STACK_SPILL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Spill {
    /// The call frame whose stack holds it.
    pub frame: u8,
    /// The slot: its first byte is `8 * slot`.
    pub slot: u8,
    pub val: Val,
}

/// One call frame (`struct bpf_func_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    pub subprog: u8,
    pub regs: [Val; Reg::COUNT],
    pub stack: Stack,
    /// Where the caller continues (the slot after its call), for frames above 0.
    pub ret_pc: usize,
}

impl Frame {
    /// A fresh frame (`init_func_state`): every register `NOT_INIT` but the frame pointer.
    fn new(subprog: u8, frame: u8, ret_pc: usize) -> Frame {
        let mut regs = [Val::Uninit; Reg::COUNT];
        regs[usize::from(Reg::FP.0)] = Val::Stack { frame, off: 0 };
        Frame {
            subprog,
            regs,
            stack: Stack::new(),
            ret_pc,
        }
    }

    /// Turn this frame, a copy of the caller's, into the callee's in place
    /// (`init_func_state`, one copy fewer than building it apart): the argument registers R1
    /// to R5 stay, the others are `NOT_INIT` but the frame pointer, the stack is empty.
    fn enter(&mut self, subprog: u8, frame: u8, ret_pc: usize) {
        self.subprog = subprog;
        self.regs[0] = Val::Uninit;
        self.regs[Reg::ARGS.len() + 1..].fill(Val::Uninit);
        self.regs[usize::from(Reg::FP.0)] = Val::Stack { frame, off: 0 };
        self.stack = Stack::new();
        self.ret_pc = ret_pc;
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
#[derive(Debug)]
pub struct State {
    /// The innermost call frame, which the instructions work on. A field of its own, apart
    /// from its callers': a register access does not go through a list's length (measured
    /// under cachegrind: 3% fewer instructions a verdict).
    frame: Frame,
    /// The frames of its callers, outermost first (frame `i` of the path is `callers[i]`,
    /// the innermost one is `callers.len()`).
    callers: Vec<Frame>,
    /// The registers spilled to the stacks of the frames, in no particular order (at most one
    /// per frame and slot).
    pub spills: Vec<Spill>,
    /// The next instruction (slot).
    pub pc: usize,
    /// References held: `(ref_id, slot of the acquiring call)`.
    pub refs: Vec<(u32, usize)>,
    pub entry: Entry,
    /// `in_sleepable`.
    pub sleepable: bool,
}

impl Clone for State {
    fn clone(&self) -> State {
        State {
            frame: self.frame,
            callers: self.callers.clone(),
            spills: self.spills.clone(),
            pc: self.pc,
            refs: self.refs.clone(),
            entry: self.entry,
            sleepable: self.sleepable,
        }
    }

    /// Reuses `self`'s buffers: a branch copies its state into a spare one.
    fn clone_from(&mut self, src: &State) {
        self.frame = src.frame;
        self.callers.clone_from(&src.callers);
        self.spills.clone_from(&src.spills);
        self.pc = src.pc;
        self.refs.clone_from(&src.refs);
        self.entry = src.entry;
        self.sleepable = src.sleepable;
    }
}

impl State {
    /// A path starting at `pc` in a fresh frame of `subprog`, holding nothing.
    pub fn new(subprog: u8, pc: usize, entry: Entry, sleepable: bool) -> State {
        State {
            frame: Frame::new(subprog, 0, 0),
            callers: Vec::new(),
            spills: Vec::new(),
            pc,
            refs: Vec::new(),
            entry,
            sleepable,
        }
    }

    /// The same as [`State::new`], reusing `self`'s buffers.
    pub fn reset(&mut self, subprog: u8, pc: usize, entry: Entry, sleepable: bool) {
        self.frame = Frame::new(subprog, 0, 0);
        self.callers.clear();
        self.spills.clear();
        self.pc = pc;
        self.refs.clear();
        self.entry = entry;
        self.sleepable = sleepable;
    }

    /// The innermost frame.
    #[inline(always)]
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    #[inline(always)]
    pub fn frame_mut(&mut self) -> &mut Frame {
        &mut self.frame
    }

    /// How many frames the path has.
    pub fn depth(&self) -> usize {
        self.callers.len() + 1
    }

    /// Every frame, outermost first.
    pub fn frames(&self) -> impl Iterator<Item = &Frame> {
        self.callers.iter().chain([&self.frame])
    }

    /// Frame `i` of the path (0: the outermost).
    #[inline(always)]
    pub fn frame_at(&self, i: u8) -> &Frame {
        self.frame_at_checked(i).expect("a frame of the path")
    }

    /// Frame `i` of the path, if it has one.
    #[inline(always)]
    fn frame_at_checked(&self, i: u8) -> Option<&Frame> {
        let i = usize::from(i);
        match self.callers.get(i) {
            Some(f) => Some(f),
            None if i == self.callers.len() => Some(&self.frame),
            None => None,
        }
    }

    #[inline(always)]
    fn frame_at_mut(&mut self, i: u8) -> &mut Frame {
        let i = usize::from(i);
        if i == self.callers.len() {
            &mut self.frame
        } else {
            &mut self.callers[i]
        }
    }

    /// Register `r`, read in place: a register made in parts and copied whole right after
    /// stalls (see `exec::readable`).
    #[inline(always)]
    pub fn reg(&self, r: Reg) -> &Val {
        &self.frame().regs[usize::from(r.0)]
    }

    /// Register `r` is `NOT_INIT`.
    #[inline(always)]
    pub fn is_uninit(&self, r: Reg) -> bool {
        matches!(self.frame().regs[usize::from(r.0)], Val::Uninit)
    }

    /// `dst = src`.
    #[inline(always)]
    pub fn copy_reg(&mut self, dst: Reg, src: Reg) {
        let regs = &mut self.frame_mut().regs;
        regs[usize::from(dst.0)] = regs[usize::from(src.0)];
    }

    /// Register `r`, to make a value in.
    #[inline(always)]
    pub fn reg_mut(&mut self, r: Reg) -> &mut Val {
        &mut self.frame_mut().regs[usize::from(r.0)]
    }

    #[inline(always)]
    pub fn set(&mut self, r: Reg, v: Val) {
        self.frame_mut().regs[usize::from(r.0)] = v;
    }

    /// Call `subprog` (the caller continues at `ret_pc`): a fresh frame, given the caller's
    /// argument registers.
    pub fn push_frame(&mut self, subprog: u8, ret_pc: usize) {
        let depth = u8::try_from(self.depth()).expect("at most MAX_CALL_FRAMES frames");
        self.callers.push(self.frame);
        self.frame.enter(subprog, depth, ret_pc);
    }

    /// Leave the innermost frame (not the outermost): it and what its stack held go.
    pub fn pop_frame(&mut self) {
        let gone = self.callers.len();
        if self.frame.stack.spilled != 0 {
            self.spills.retain(|s| usize::from(s.frame) < gone);
        }
        self.frame = self.callers.pop().expect("a caller to return to");
    }

    /// The register spilled at byte `lo` of `frame`'s stack.
    #[inline(always)]
    fn spilled(&self, frame: u8, lo: usize) -> Option<Val> {
        let stack = &self.frame_at(frame).stack;
        if !lo.is_multiple_of(8) || stack.spilled & 1 << (lo / 8) == 0 {
            return None;
        }
        self.spills
            .iter()
            .find(|s| s.frame == frame && usize::from(s.slot) == lo / 8)
            .map(|s| s.val)
    }

    /// What an `n`-byte load (at most 8) at byte `lo` of `frame`'s stack reads: a spilled
    /// register read whole, a stored zero, else an unknown scalar (uninitialized bytes are
    /// allowed to root).
    #[inline(always)]
    pub fn stack_read(&self, frame: u8, lo: usize, n: usize) -> Val {
        let stack = &self.frame_at(frame).stack;
        if n == 8
            && let Some(v) = self.spilled(frame, lo)
        {
            return v;
        }
        if stack.all_zero(lo, n) {
            Val::ZERO
        } else {
            Val::UNKNOWN
        }
    }

    /// Store `v` (`None`: an immediate, zero or not) in `n` bytes (at most 8) at `lo` of
    /// `frame`'s stack.
    /// An 8-byte aligned store of a register other than zero is a spill; part of an older
    /// spill overwritten leaves the rest of its slot as plain data.
    pub fn stack_write(&mut self, frame: u8, lo: usize, n: usize, v: Option<Val>, zero: bool) {
        let stack = &mut self.frame_at_mut(frame).stack;
        let slots = Stack::slots(lo, n);
        match v {
            Some(val) if n == 8 && lo.is_multiple_of(8) && !zero => {
                stack.set_zero(lo, n, false);
                let slot = u8::try_from(lo / 8).expect("a stack slot");
                if stack.spilled & slots == 0 {
                    stack.spilled |= slots;
                    self.spills.push(Spill { frame, slot, val });
                } else {
                    let s = self
                        .spills
                        .iter_mut()
                        .find(|s| s.frame == frame && s.slot == slot)
                        .expect("a slot marked spilled has its register");
                    s.val = val;
                }
            }
            _ => {
                stack.set_zero(lo, n, zero);
                if stack.spilled & slots != 0 {
                    stack.spilled &= !slots;
                    self.spills
                        .retain(|s| s.frame != frame || slots & 1 << s.slot == 0);
                }
            }
        }
    }

    /// The 4-byte constant at byte `lo` of `frame`'s stack, if known: stored zeroes, or the
    /// low bytes of a spilled constant.
    pub fn stack_constant_u32(&self, frame: u8, lo: usize) -> Option<i64> {
        let stack = &self.frame_at_checked(frame)?.stack;
        if lo.checked_add(4)? > STACK_SIZE {
            return None;
        }
        if stack.all_zero(lo, 4) {
            return Some(0);
        }
        match self.spilled(frame, lo) {
            Some(Val::Scalar(r)) => r.constant().map(|k| k & 0xffff_ffff),
            _ => None,
        }
    }

    /// Every register and spilled register of every frame, with the same one of `twin`, a
    /// copy of `self` (whose frames and spills are laid out alike).
    pub fn for_each_val_with(&mut self, twin: &mut State, mut f: impl FnMut(&mut Val, &mut Val)) {
        let mut regs = |fr: &mut Frame, twin: &mut Frame| {
            for (v, twin) in fr.regs.iter_mut().zip(&mut twin.regs) {
                f(v, twin);
            }
        };
        for (fr, twin) in self.callers.iter_mut().zip(&mut twin.callers) {
            regs(fr, twin);
        }
        regs(&mut self.frame, &mut twin.frame);
        for (s, twin) in self.spills.iter_mut().zip(&mut twin.spills) {
            f(&mut s.val, &mut twin.val);
        }
    }

    /// Every register and spilled register of every frame.
    pub fn for_each_val(&mut self, mut f: impl FnMut(&mut Val)) {
        for fr in &mut self.callers {
            fr.regs.iter_mut().for_each(&mut f);
        }
        self.frame.regs.iter_mut().for_each(&mut f);
        for s in &mut self.spills {
            f(&mut s.val);
        }
    }
}
