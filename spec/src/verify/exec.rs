//! `do_check`: the path-by-path walk. A path continues on the fall-through of a branch whose
//! outcome is unknown; the taken side is pushed (`push_stack`), and so is each async callback
//! an instruction registers (`push_async_cb`, a fresh state). When a path ends the newest
//! pushed state is explored next, as the kernel pops its stack; so when a program breaks
//! rules on two paths, the spec reports the one the kernel meets first. Pruning equivalent
//! states changes no verdict and is not modelled, except that an async callback is walked once
//! per entry state (the kernel prunes the repeats, which makes a callback that re-arms itself
//! terminate).

use super::calls::{self, Effect};
use super::cfg::{Code, Graph, max_call_frames};
use super::state::{
    AsyncKind, Entry, MapId, Off, Range, STACK_SIZE, State, TaskPtr, Val, add_ranges,
};
use super::{MapInfo, Res, Stop};
use crate::op::{Field, ValueLayout};
use crate::outcome::RejectReason;
use crate::prog::{AluOp, Callee, Case, Cond, Imm64, Insn, Linkage, Operand, Reg, Size};
use crate::{Kernel, layout};

/// Instructions processed before the spec gives up (the kernel's limit is one million; the
/// spec does not prune, so it stops far earlier and says so).
const STEP_LIMIT: usize = 200_000;

/// Spare states kept from one verification to the next (each holds its buffers).
const SPARE_KEPT: usize = 64;

pub struct Checker<'a> {
    pub kernel: &'a Kernel,
    pub case: &'a Case,
    pub maps: &'a [MapInfo],
    pub code: &'a Code<'a>,
    /// `env->id_gen`.
    id_gen: u32,
    steps: usize,
    buf: &'a mut Buffers,
}

/// What a [`Checker`] leaves to the next one: the call graph its paths revealed, and its
/// buffers (a verification reuses those of the one before, see [`super::verify`]).
#[derive(Default)]
#[allow(clippy::vec_box)] // Boxed states move cheaply (see `pending`).
pub struct Buffers {
    pub graph: Graph,
    /// Async callback entries already pushed: (subprogram, kind, map, map_uid).
    async_seen: Vec<(u8, AsyncKind, MapId, u32)>,
    /// Global subprograms called, in order of first call (`sub_aux->called`).
    globals: Vec<u8>,
    /// The states pushed and not explored yet (the kernel's `env->head`), newest last.
    /// States are boxed: pushed, popped and kept spare, they move as a pointer, not as the
    /// half kilobyte of their fields (measured: a tenth of the walk's time went to moves).
    pending: Vec<Box<State>>,
    /// States of ended paths, whose buffers the next pushed states reuse.
    spare: Vec<Box<State>>,
}

/// How a path step ends. Without a field, a `Res<Flow>` is a byte: a step's result is not
/// assembled from parts.
#[derive(Clone, Copy)]
enum Flow {
    Next,
    /// The step has set the path's next instruction.
    Jump,
    /// The path is done.
    End,
}

impl<'a> Checker<'a> {
    pub fn new(
        kernel: &'a Kernel,
        case: &'a Case,
        maps: &'a [MapInfo],
        code: &'a Code<'a>,
        buf: &'a mut Buffers,
    ) -> Checker<'a> {
        buf.graph.reset(case.prog.subprogs.len());
        buf.async_seen.clear();
        buf.globals.clear();
        // The states a refused path left pending are spare now.
        buf.spare.append(&mut buf.pending);
        buf.spare.truncate(SPARE_KEPT);
        Checker {
            kernel,
            case,
            maps,
            code,
            id_gen: 0,
            steps: 0,
            buf,
        }
    }

    /// `do_check_main`, then `do_check_subprogs` for the global subprograms `main` called
    /// (verified lazily since 6.8); before ([`crate::Features::lazy_global_subprogs`]),
    /// `do_check_subprogs` first, for every global subprogram in index order, then
    /// `do_check_main`. The call graph the paths revealed is left in the buffers.
    pub fn run(mut self) -> Res<()> {
        let mut done = 0;
        if !self.kernel.features.lazy_global_subprogs {
            let case = self.case;
            let subprogs = (1..case.prog.subprogs.len()).filter_map(|s| u8::try_from(s).ok());
            self.buf
                .globals
                .extend(subprogs.filter(|&s| linkage(case, s) == Linkage::Global));
            done = self.verify_globals(done)?;
        }
        let mut main = self.fresh(0, Entry::Main, self.case.prog.sleepable);
        main.set(Reg::R1, Val::Ctx);
        self.explore(main)?;
        self.verify_globals(done).map(|_| ())
    }

    /// Verify the global subprograms of the list from `done` on, each on its own (as the
    /// list grows); returns how many are done.
    fn verify_globals(&mut self, mut done: usize) -> Res<usize> {
        while done < self.buf.globals.len() {
            let s = self.buf.globals[done];
            done += 1;
            // `int f(void)`: no argument registers are set.
            let st = self.fresh(s, Entry::Global, self.case.prog.sleepable);
            self.explore(st)?;
        }
        Ok(done)
    }

    fn explore(&mut self, first: Box<State>) -> Res<()> {
        debug_assert!(self.buf.pending.is_empty(), "one exploration at a time");
        self.buf.pending.push(first);
        // Counted in a local, which stays in a register.
        let mut steps = self.steps;
        while let Some(mut st) = self.buf.pending.pop() {
            let walked = self.path(&mut st, &mut steps);
            // Kept spare even when the path is refused: dropped, it would be allocated again
            // (with its lists) by the next verification that forks.
            self.buf.spare.push(st);
            walked?;
        }
        self.steps = steps;
        Ok(())
    }

    /// Walk the path `st` to its end. Inlined into [`Checker::explore`], so that `steps` stays
    /// in a register.
    #[inline(always)]
    fn path(&mut self, st: &mut State, steps: &mut usize) -> Res<()> {
        let slots = self.code.slots;
        // The next instruction, in a local across the ALU and memory instructions (which
        // neither read nor set it), stored in the state for the others.
        let mut pc = st.pc;
        loop {
            *steps += 1;
            if *steps > STEP_LIMIT {
                return Err(Stop::Unsupported("more paths than the spec explores"));
            }
            // Read in place: a copy of the instruction, read back in parts, stalls. Paths start
            // instructions (`check_cfg`).
            let insn = &slots[pc];
            // ALU instructions, two in five, are told apart by one test first: a guess
            // between two is right more often than one among all kinds of instruction.
            if let Insn::Alu { op, dst, src } = *insn {
                self.alu(st, op, dst, src)?;
                pc += 1;
                continue;
            }
            // Then loads and stores, one in eight.
            if let Insn::Load { .. } | Insn::Store { .. } = *insn {
                self.memory(st, insn)?;
                pc += 1;
                continue;
            }
            st.pc = pc;
            match self.step(st, insn)? {
                Flow::Next => pc += insn.slots(),
                Flow::Jump => pc = st.pc,
                Flow::End => return Ok(()),
            }
        }
    }

    /// A new path from the start of `subprog`, in a spare state's buffers if there is one.
    fn fresh(&mut self, subprog: u8, entry: Entry, sleepable: bool) -> Box<State> {
        let pc = self.code.start(subprog);
        match self.buf.spare.pop() {
            Some(mut st) => {
                st.reset(subprog, pc, entry, sleepable);
                st
            }
            None => Box::new(State::new(subprog, pc, entry, sleepable)),
        }
    }

    /// A copy of `st` to push (`push_stack`), in a spare state's buffers if there is one.
    fn fork(&mut self, st: &State) -> Box<State> {
        match self.buf.spare.pop() {
            Some(mut copy) => {
                (*copy).clone_from(st);
                copy
            }
            None => Box::new(st.clone()),
        }
    }

    pub fn fresh_id(&mut self) -> u32 {
        self.id_gen += 1;
        self.id_gen
    }

    fn step(&mut self, st: &mut State, insn: &Insn) -> Res<Flow> {
        match *insn {
            Insn::Alu { .. } => unreachable!("the walk runs ALU instructions itself"),
            Insn::LdImm64 { dst, imm } => {
                writable(dst)?;
                let v = match imm {
                    Imm64::Const(c) => Val::Scalar(Range::exactly(c as i64)),
                    Imm64::Map(m) => Val::Map {
                        map: MapId::Fd(m),
                        uid: 0,
                        null: 0,
                    },
                    Imm64::Func(s) => self.func_address(s)?,
                };
                st.set(dst, v);
                Ok(Flow::Next)
            }
            Insn::Load { .. } | Insn::Store { .. } => {
                unreachable!("the walk runs memory instructions itself")
            }
            Insn::JmpIf {
                cond,
                dst,
                src,
                off,
            } => {
                both_readable(st, dst, src)?;
                let to = Code::jump_target(st.pc, off) as usize;
                Ok(self.branch(st, cond, dst, src, to))
            }
            Insn::Ja { off } => {
                st.pc = Code::jump_target(st.pc, off) as usize;
                Ok(Flow::Jump)
            }
            Insn::Call(Callee::Subprog(s)) => self.call_subprog(st, s),
            Insn::Call(callee) => {
                let effect = calls::check_call(self, st, callee)?;
                self.apply(st, effect);
                Ok(Flow::Next)
            }
            Insn::Exit => self.exit(st),
        }
    }

    /// A load or a store.
    fn memory(&mut self, st: &mut State, insn: &Insn) -> Res<()> {
        match *insn {
            Insn::Load {
                size,
                dst,
                src,
                off,
            } => {
                readable(st, src)?;
                writable(dst)?;
                self.access(st, src, off, size, Access::Load(dst))
            }
            Insn::Store {
                size,
                dst,
                off,
                src,
            } => {
                let access = match src {
                    Operand::Reg(r) => {
                        readable(st, r)?;
                        Access::Store(r)
                    }
                    Operand::Imm(i) => Access::StoreImm(i),
                };
                readable(st, dst)?;
                self.access(st, dst, off, size, access)
            }
            _ => unreachable!("a memory instruction"),
        }
    }

    /// `check_ld_imm` of `BPF_PSEUDO_FUNC`: the program has `func_info` ("missing btf
    /// func_info") and the subprogram is static ("callback function not static").
    fn func_address(&self, s: u8) -> Res<Val> {
        if !self.case.prog.func_info {
            return Err(RejectReason::MissingFuncInfo.into());
        }
        if linkage(self.case, s) != Linkage::Static {
            return Err(RejectReason::CallbackNotStatic.into());
        }
        Ok(Val::Func { subprog: s })
    }

    /// `check_alu_op` / `adjust_reg_min_max_vals` / `adjust_ptr_min_max_vals`.
    fn alu(&mut self, st: &mut State, op: AluOp, dst: Reg, src: Operand) -> Res<()> {
        if op == AluOp::Mov {
            match src {
                Operand::Reg(r) => {
                    readable(st, r)?;
                    writable(dst)?;
                    st.copy_reg(dst, r);
                }
                Operand::Imm(i) => {
                    writable(dst)?;
                    *st.reg_mut(dst) = Val::Scalar(Range::exactly(i64::from(i)));
                }
            }
            return Ok(());
        }
        both_readable(st, dst, src)?;
        writable(dst)?;
        // Read and made in place (see [`readable`]).
        let mut imm = Val::Uninit;
        let s = operand(st, src, &mut imm);
        match (st.reg(dst), s) {
            (&Val::Scalar(a), &Val::Scalar(b)) => {
                *st.reg_mut(dst) = Val::Scalar(scalar_op(op, a, b)?);
            }
            (p, &Val::Scalar(b)) if p.is_pointer() => pointer_op(op, st.reg_mut(dst), b)?,
            (&Val::Scalar(a), &p) if p.is_pointer() && op == AluOp::Add => {
                let out = st.reg_mut(dst);
                *out = p;
                pointer_op(op, out, a)?;
            }
            _ => return Err(Stop::Unsupported("arithmetic between two pointers")),
        }
        Ok(())
    }

    /// `check_mem_access` through `reg` at `off`.
    fn access(
        &mut self,
        st: &mut State,
        reg: Reg,
        off: i16,
        size: Size,
        access: Access,
    ) -> Res<()> {
        let base = st.reg(reg);
        if base.null_id() != 0 {
            return Err(RejectReason::PossiblyNullDeref.into());
        }
        let off = i64::from(off);
        match *base {
            Val::Stack { frame, off: at } => self.stack_access(st, frame, at + off, size, access),
            Val::Value {
                map,
                off: at,
                null: _,
                uid: _,
            } => self.value_access(st, map, at, off, size, access),
            Val::Key { map } => {
                let Access::Load(dst) = access else {
                    return Err(RejectReason::WriteToKey.into());
                };
                let _ = (map, reg);
                if off < 0 || off + size.bytes() > 4 {
                    return Err(Stop::Unsupported("a map key access out of bounds"));
                }
                st.set(dst, Val::UNKNOWN);
                Ok(())
            }
            Val::Ctx => Err(Stop::Unsupported("context access")),
            Val::Task { .. } => Err(Stop::Unsupported("BTF pointer access")),
            _ => Err(RejectReason::InvalidMemAccess.into()),
        }
    }

    /// A stack access at `at` from the frame pointer of `frame`
    /// (`check_stack_access_within_bounds`, `check_stack_read` / `check_stack_write`).
    fn stack_access(
        &mut self,
        st: &mut State,
        frame: u8,
        at: i64,
        size: Size,
        access: Access,
    ) -> Res<()> {
        let n = size.bytes();
        if at < -(STACK_SIZE as i64) || at + n > 0 {
            return Err(RejectReason::StackOutOfBounds.into());
        }
        let subprog = st.frame_at(frame).subprog;
        self.touch_stack(subprog, at);
        let (lo, n) = ((at + STACK_SIZE as i64) as usize, n as usize);
        match access {
            Access::Load(dst) => {
                let v = st.stack_read(frame, lo, n);
                st.set(dst, v);
            }
            Access::Store(r) => {
                let v = st.reg(r);
                if v.is_pointer() && !(n == 8 && at % 8 == 0) {
                    return Err(Stop::Unsupported("a pointer spilled in part"));
                }
                let zero = *v == Val::ZERO;
                st.stack_write(frame, lo, n, Some(*v), zero);
            }
            Access::StoreImm(i) => st.stack_write(frame, lo, n, None, i == 0),
        }
        Ok(())
    }

    /// `update_stack_depth`.
    pub fn touch_stack(&mut self, subprog: u8, at: i64) {
        let d = &mut self.buf.graph.subprogs[usize::from(subprog)].depth;
        *d = (*d).max(-at);
    }

    /// A load or store in a map value (`check_map_access_type`, `check_map_access`,
    /// `check_map_kptr_access`).
    fn value_access(
        &mut self,
        st: &mut State,
        map: MapId,
        at: Off,
        off: i64,
        size: Size,
        access: Access,
    ) -> Res<()> {
        let info = self.map_info(map);
        if !matches!(access, Access::Load(_)) && info.rdonly_prog {
            return Err(RejectReason::WriteIntoMapForbidden.into());
        }
        let (lo, hi) = at.add(Range::exactly(off)).bounds();
        let n = size.bytes();
        if lo < 0 || hi.saturating_add(n) > i64::from(info.value_size) {
            return Err(RejectReason::MapValueOutOfBounds.into());
        }
        if let Some((p, f)) = field_met(&info.recorded, lo, hi + n) {
            if !matches!(f, Field::Kptr | Field::KptrUntrusted) {
                return Err(RejectReason::SpecialFieldAccess(f).into());
            }
            if lo != hi {
                return Err(Stop::Unsupported("a variable offset over a kptr"));
            }
            if p != lo {
                return Err(RejectReason::KptrMisaligned.into());
            }
            if n != 8 {
                return Err(RejectReason::KptrBadSize.into());
            }
            return match access {
                Access::Load(dst) => {
                    let null = self.fresh_id();
                    st.set(
                        dst,
                        Val::Task {
                            ptr: TaskPtr::Loaded,
                            null,
                            off: 0,
                        },
                    );
                    Ok(())
                }
                _ if f.is_referenced_kptr(&self.kernel.features) => {
                    Err(RejectReason::KptrStoreToReferenced.into())
                }
                Access::StoreImm(0) => Ok(()),
                Access::StoreImm(_) => Err(RejectReason::KptrBadStore.into()),
                Access::Store(r)
                    if st.reg(r).is_null_const()
                        || matches!(st.reg(r), Val::Task { off: 0, .. }) =>
                {
                    Ok(())
                }
                Access::Store(_) => Err(RejectReason::KptrBadStore.into()),
            };
        }
        if let Access::Load(dst) = access {
            st.set(dst, Val::UNKNOWN);
        }
        Ok(())
    }

    /// The constant a lookup's key (R2, 4 bytes on the stack) holds, if known: stored
    /// zeroes, or a spilled constant register (its low bytes).
    pub fn lookup_key(&self, st: &State) -> Option<i64> {
        let Val::Stack { frame, off } = *st.reg(Reg::R2) else {
            return None;
        };
        let lo = usize::try_from(off + STACK_SIZE as i64).ok()?;
        st.stack_constant_u32(frame, lo)
    }

    /// The map (or inner-map template) behind `id`.
    pub fn map_info(&self, id: MapId) -> &'a MapInfo {
        match id {
            MapId::Fd(m) => &self.maps[usize::from(m)],
            MapId::InnerOf(outer) => {
                let t = self.maps[usize::from(outer)]
                    .inner
                    .expect("a map-in-map has an inner template");
                &self.maps[usize::from(t)]
            }
        }
    }

    /// `check_cond_jmp_op` of `if dst <cond> src goto to` (both readable): decide the branch
    /// when the abstract values do, else push the taken side and continue on the
    /// fall-through, each refined.
    fn branch(&mut self, st: &mut State, cond: Cond, dst: Reg, src: Operand, to: usize) -> Flow {
        // Read in place (see [`readable`]).
        let mut imm = Val::Uninit;
        let s = operand(st, src, &mut imm);
        let d = st.reg(dst);
        let (id, k) = (d.null_id(), const_of(s));
        // A maybe-NULL pointer against zero: NULL on one side, not NULL on the other
        // (`mark_ptr_or_null_regs`).
        if let (true, Some(0), Some(eq)) = (id != 0, k, null_test(cond)) {
            let mut taken = self.fork(st);
            if eq {
                mark_null(&mut taken, st, id);
            } else {
                mark_null(st, &mut taken, id);
            }
            taken.pc = to;
            self.buf.pending.push(taken);
            return Flow::Next;
        }
        let outcome = match (d, s) {
            (&Val::Scalar(a), &Val::Scalar(b)) => {
                decide(cond, a, b, self.kernel.features.eq_branch_on_ranges)
            }
            (p, &Val::Scalar(b))
                if p.is_pointer() && p.null_id() == 0 && b.constant() == Some(0) =>
            {
                null_test(cond).map(|eq| !eq)
            }
            _ => None,
        };
        let a = match *d {
            Val::Scalar(a) => Some(a),
            _ => None,
        };
        match outcome {
            Some(true) => {
                st.pc = to;
                Flow::Jump
            }
            Some(false) => Flow::Next,
            None => {
                let mut taken = self.fork(st);
                if let (Some(a), Some(b)) = (a, k) {
                    if let Some(r) = refine(cond, a, b, true) {
                        taken.set(dst, Val::Scalar(r));
                    }
                    if let Some(r) = refine(cond, a, b, false) {
                        st.set(dst, Val::Scalar(r));
                    }
                }
                taken.pc = to;
                self.buf.pending.push(taken);
                Flow::Next
            }
        }
    }

    /// `check_func_call` of a bpf-to-bpf call.
    fn call_subprog(&mut self, st: &mut State, s: u8) -> Res<Flow> {
        if linkage(self.case, s) == Linkage::Global {
            // `int f(void)`: verified on its own; the caller gets an unknown scalar.
            if !self.buf.globals.contains(&s) {
                self.buf.globals.push(s);
            }
            clobber(st);
            st.set(Reg::R0, Val::UNKNOWN);
            return Ok(Flow::Next);
        }
        if st.depth() >= max_call_frames(&self.kernel.features) {
            return Err(RejectReason::CallStackTooDeep.into());
        }
        if st.frames().any(|f| f.subprog == s) {
            return Err(Stop::Unsupported("recursive calls"));
        }
        st.push_frame(s, st.pc + 1);
        st.pc = self.code.start(s);
        Ok(Flow::Jump)
    }

    /// `BPF_EXIT`: back to the caller, or the end of a path with its reference and return
    /// checks (`check_reference_leak`, `check_return_code`).
    fn exit(&mut self, st: &mut State) -> Res<Flow> {
        if st.depth() > 1 {
            let (r0, ret_pc) = (*st.reg(Reg::R0), st.frame().ret_pc);
            st.pop_frame();
            if let Val::Stack { frame, .. } = r0
                && usize::from(frame) >= st.depth()
            {
                return Err(Stop::Unsupported("a subprogram returning its own stack"));
            }
            clobber(st);
            st.set(Reg::R0, r0);
            st.pc = ret_pc;
            return Ok(Flow::Jump);
        }
        if !st.refs.is_empty() {
            return Err(RejectReason::UnreleasedReference.into());
        }
        readable(st, Reg::R0)?;
        let r0 = *st.reg(Reg::R0);
        match st.entry {
            Entry::Main => {}
            Entry::Global => {
                if !matches!(r0, Val::Scalar(_)) {
                    return Err(Stop::Unsupported("a global subprogram returning a pointer"));
                }
            }
            Entry::Async(kind) => {
                let Val::Scalar(r) = r0 else {
                    return Err(RejectReason::AsyncCbBadReturn.into());
                };
                let (lo, hi) = calls::async_return_range(kind);
                if r.min < lo || r.max > hi {
                    return Err(RejectReason::AsyncCbBadReturn.into());
                }
            }
        }
        Ok(Flow::End)
    }

    /// What a helper or kfunc call does once its obligations hold.
    fn apply(&mut self, st: &mut State, effect: Effect) {
        if let Some(id) = effect.release {
            st.refs.retain(|&(r, _)| r != id);
            st.for_each_val(|v| {
                if matches!(*v, Val::Task { ptr: TaskPtr::Acquired { ref_id }, .. } if ref_id == id)
                {
                    *v = Val::UNKNOWN;
                }
            });
        }
        if let Some(cb) = effect.callback {
            self.push_async(cb);
        }
        clobber(st);
        if let Some(ref_id) = effect.acquired {
            st.refs.push((ref_id, st.pc));
        }
        st.set(Reg::R0, effect.r0);
    }

    /// `push_async_cb`: a fresh state for the callback, R1 to R3 the map, key and value of
    /// the element holding the async object (`set_timer_callback_state`,
    /// `set_task_work_schedule_callback_state`).
    fn push_async(&mut self, cb: calls::AsyncCb) {
        self.buf.graph.subprogs[usize::from(cb.subprog)].is_async_cb = true;
        let entry = (cb.subprog, cb.kind, cb.map, cb.uid);
        if self.buf.async_seen.contains(&entry) {
            return;
        }
        self.buf.async_seen.push(entry);
        let sleepable =
            calls::async_cb_sleepable(&self.kernel.features, cb.kind, self.case.prog.sleepable);
        let mut st = self.fresh(cb.subprog, Entry::Async(cb.kind), sleepable);
        st.set(
            Reg::R1,
            Val::Map {
                map: cb.map,
                uid: cb.uid,
                null: 0,
            },
        );
        st.set(Reg::R2, Val::Key { map: cb.map });
        st.set(
            Reg::R3,
            Val::Value {
                map: cb.map,
                uid: cb.uid,
                off: Off::constant(0),
                null: 0,
            },
        );
        self.buf.pending.push(st);
    }
}

/// The first special field (offset, kind) that bytes `lo..end` of a value with the fields of
/// `recorded` overlap. The fields follow the data bytes a value starts with: an access to
/// those alone meets none.
fn field_met(recorded: &ValueLayout, lo: i64, end: i64) -> Option<(i64, Field)> {
    if end <= i64::from(layout::DATA) {
        return None;
    }
    layout::placed(recorded)
        .map(|(p, f)| (i64::from(p), f))
        .find(|&(p, f)| lo < p + i64::from(layout::size(f)) && p < end)
}

/// What a memory instruction does.
#[derive(Clone, Copy, Debug)]
enum Access {
    /// A load into this register.
    Load(Reg),
    /// A store of this register (readable).
    Store(Reg),
    StoreImm(i32),
}

/// `check_reg_arg(SRC_OP)`: "R%d !read_ok".
pub fn read(st: &State, r: Reg) -> Res<&Val> {
    readable(st, r)?;
    Ok(st.reg(r))
}

/// The check of [`read`]. The walk checks, then copies the register where it is used, and
/// makes a result in the register it goes to: a value made apart (in a `Result`, or in one
/// arm of a `match` or another) is copied on in wide chunks over the narrow stores that made
/// it, which stalls the processor's store forwarding (measured on straight-line code: a
/// register move or an ALU instruction takes a third less time without).
fn readable(st: &State, r: Reg) -> Res<()> {
    if usize::from(r.0) >= Reg::COUNT {
        return Err(Stop::Unsupported("a register past r10"));
    }
    if st.is_uninit(r) {
        return Err(RejectReason::UninitRegister.into());
    }
    Ok(())
}

/// The source operand, then `dst`, are [`readable`].
fn both_readable(st: &State, dst: Reg, src: Operand) -> Res<()> {
    if let Operand::Reg(r) = src {
        readable(st, r)?;
    }
    readable(st, dst)
}

/// The value of a source operand (readable), read in place (see [`readable`]); an immediate
/// is made in `imm`.
fn operand<'v>(st: &'v State, src: Operand, imm: &'v mut Val) -> &'v Val {
    match src {
        Operand::Reg(r) => st.reg(r),
        Operand::Imm(i) => {
            *imm = Val::Scalar(Range::exactly(i64::from(i)));
            imm
        }
    }
}

/// `check_reg_arg(DST_OP)`: "frame pointer is read only".
fn writable(r: Reg) -> Res<()> {
    // One comparison for the registers below the frame pointer, the ones programs write.
    if r.0 < Reg::FP.0 {
        Ok(())
    } else if r == Reg::FP {
        Err(RejectReason::FramePointerReadOnly.into())
    } else {
        Err(Stop::Unsupported("a register past r10"))
    }
}

/// After a call: R1 to R5 are clobbered (`caller_saved`).
fn clobber(st: &mut State) {
    st.frame_mut().regs[1..=Reg::ARGS.len()].fill(Val::Uninit);
}

fn const_of(v: &Val) -> Option<i64> {
    match *v {
        Val::Scalar(r) => r.constant(),
        _ => None,
    }
}

/// `Eq` / `Ne` against zero: `Some(true)` when the jump is taken if the value is zero.
fn null_test(cond: Cond) -> Option<bool> {
    match cond {
        Cond::Eq => Some(true),
        Cond::Ne => Some(false),
        _ => None,
    }
}

/// Every copy of maybe-NULL pointer `id`: NULL in `null`, not NULL in `not_null` (a copy of
/// `null`, the other side of a branch). A NULL acquired pointer releases its reference (the
/// copies of one pointer hold the same).
fn mark_null(null: &mut State, not_null: &mut State, id: u32) {
    let mut released = None;
    null.for_each_val_with(not_null, |v, twin| {
        // Scalars and uninitialized registers, most of them, told apart by one test first
        // (measured under cachegrind: 1% fewer instructions a verdict).
        if v.is_pointer() && v.null_id() == id {
            if let Val::Task {
                ptr: TaskPtr::Acquired { ref_id },
                ..
            } = *v
            {
                released = Some(ref_id);
            }
            *v = Val::ZERO;
            *twin = twin.non_null();
        }
    });
    if let Some(released) = released {
        null.refs.retain(|&(r, _)| r != released);
    }
}

/// Scalar ALU on signed bounds.
fn scalar_op(op: AluOp, a: Range, b: Range) -> Res<Range> {
    let both = a.constant().zip(b.constant());
    Ok(match op {
        AluOp::Mov => b,
        AluOp::Add => add_ranges(a, b),
        AluOp::Sub => add_ranges(
            a,
            Range {
                min: b.max.checked_neg().unwrap_or(i64::MIN),
                max: b.min.checked_neg().unwrap_or(i64::MAX),
            },
        ),
        AluOp::Mul => both.map_or(Range::UNKNOWN, |(x, y)| Range::exactly(x.wrapping_mul(y))),
        AluOp::And => match (both, b.constant(), a.constant()) {
            (Some((x, y)), _, _) => Range::exactly(x & y),
            (None, Some(m), _) | (None, None, Some(m)) if m >= 0 => Range { min: 0, max: m },
            _ => Range::UNKNOWN,
        },
        AluOp::Or => both.map_or(Range::UNKNOWN, |(x, y)| Range::exactly(x | y)),
        AluOp::Xor => both.map_or(Range::UNKNOWN, |(x, y)| Range::exactly(x ^ y)),
        AluOp::Lsh | AluOp::Rsh => {
            let Some(k) = b.constant().filter(|k| (0..64).contains(k)) else {
                return Err(Stop::Unsupported("a shift by a non-constant or past 63"));
            };
            match (op, a.constant()) {
                (AluOp::Lsh, Some(x)) => Range::exactly(((x as u64) << k) as i64),
                (AluOp::Rsh, Some(x)) => Range::exactly(((x as u64) >> k) as i64),
                (AluOp::Rsh, None) if a.min >= 0 => Range {
                    min: a.min >> k,
                    max: a.max >> k,
                },
                (AluOp::Rsh, None) if k > 0 => Range {
                    min: 0,
                    max: (u64::MAX >> k) as i64,
                },
                _ => Range::UNKNOWN,
            }
        }
    })
}

/// `adjust_ptr_min_max_vals`: pointer `p` plus or minus a scalar, in place.
fn pointer_op(op: AluOp, p: &mut Val, b: Range) -> Res<()> {
    if p.null_id() != 0 {
        return Err(RejectReason::PossiblyNullDeref.into());
    }
    let delta = match op {
        AluOp::Add => b,
        AluOp::Sub => match b.constant().and_then(i64::checked_neg) {
            Some(n) => Range::exactly(n),
            None => return Err(Stop::Unsupported("subtracting a variable from a pointer")),
        },
        _ => {
            return Err(Stop::Unsupported(
                "a bitwise or multiplying operator on a pointer",
            ));
        }
    };
    match p {
        Val::Map { .. } => return Err(RejectReason::FieldOfMapInMap.into()),
        Val::Stack { off, .. } => match delta.constant() {
            Some(d) => *off = off.saturating_add(d),
            None => return Err(Stop::Unsupported("a variable offset on a stack pointer")),
        },
        Val::Value { off, .. } => *off = off.add(delta),
        Val::Task { off, .. } => match delta.constant() {
            Some(d) => *off = off.saturating_add(d),
            None => return Err(Stop::Unsupported("a variable offset on a BTF pointer")),
        },
        _ => return Err(Stop::Unsupported("arithmetic on this pointer type")),
    }
    Ok(())
}

/// `is_branch_taken`: `Some(taken)` when the bounds decide it. Unsigned conditions are
/// decided on signed bounds only when both sides are non-negative (or constants).
fn decide(cond: Cond, a: Range, b: Range, eq_on_ranges: bool) -> Option<bool> {
    if let (Some(x), Some(y)) = (a.constant(), b.constant()) {
        let (ux, uy) = (x as u64, y as u64);
        return Some(match cond {
            Cond::Eq => x == y,
            Cond::Ne => x != y,
            Cond::Gt => ux > uy,
            Cond::Ge => ux >= uy,
            Cond::Lt => ux < uy,
            Cond::Le => ux <= uy,
            Cond::Sgt => x > y,
            Cond::Slt => x < y,
        });
    }
    if matches!(cond, Cond::Gt | Cond::Ge | Cond::Lt | Cond::Le) && (a.min < 0 || b.min < 0) {
        return None;
    }
    let known = |yes: bool, no: bool| {
        if yes {
            Some(true)
        } else if no {
            Some(false)
        } else {
            None
        }
    };
    match cond {
        // Before `eq_branch_on_ranges` (v6.7) `==` and `!=` are decided by constants only.
        Cond::Eq | Cond::Ne if !eq_on_ranges => None,
        Cond::Eq => known(false, a.max < b.min || a.min > b.max),
        Cond::Ne => known(a.max < b.min || a.min > b.max, false),
        Cond::Gt | Cond::Sgt => known(a.min > b.max, a.max <= b.min),
        Cond::Ge => known(a.min >= b.max, a.max < b.min),
        Cond::Lt | Cond::Slt => known(a.max < b.min, a.min >= b.max),
        Cond::Le => known(a.max <= b.min, a.min > b.max),
    }
}

/// The bounds of `a` on one side of `a <cond> b` (`reg_set_min_max`), when the spec can
/// state them.
fn refine(cond: Cond, a: Range, b: i64, taken: bool) -> Option<Range> {
    let signed = matches!(cond, Cond::Sgt | Cond::Slt);
    if !signed && (a.min < 0 || b < 0) && !matches!(cond, Cond::Eq | Cond::Ne) {
        return None;
    }
    let clamp = |min: i64, max: i64| {
        Some(Range {
            min: a.min.max(min),
            max: a.max.min(max),
        })
    };
    match (cond, taken) {
        (Cond::Eq, true) | (Cond::Ne, false) => Some(Range::exactly(b)),
        (Cond::Eq, false) | (Cond::Ne, true) => None,
        (Cond::Gt | Cond::Sgt, true) | (Cond::Le, false) => clamp(b.checked_add(1)?, i64::MAX),
        (Cond::Gt | Cond::Sgt, false) | (Cond::Le, true) => clamp(i64::MIN, b),
        (Cond::Ge, true) | (Cond::Lt | Cond::Slt, false) => clamp(b, i64::MAX),
        (Cond::Ge, false) | (Cond::Lt | Cond::Slt, true) => clamp(i64::MIN, b.checked_sub(1)?),
    }
}

/// A subprogram's linkage as the kernel knows it: without `func_info` every subprogram is
/// static.
fn linkage(case: &Case, s: u8) -> Linkage {
    match (s, case.prog.func_info) {
        (0, _) => Linkage::Global,
        (_, false) => Linkage::Static,
        (s, true) => case.prog.subprogs[usize::from(s)].linkage,
    }
}
