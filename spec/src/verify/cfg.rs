//! The structural passes: `check_subprogs`, `check_cfg` and `check_max_stack_depth`
//! (verifier.c, all eras unless noted).
//!
//! [`Code::new`] reads the instructions once: it lays them out in slots and lists the few that
//! matter to these passes (jumps, exits, bpf-to-bpf calls, `ld_imm64`s of subprogram and map
//! addresses), so that the passes look at that list rather than at every instruction again.

use super::{Res, Stop};
use crate::outcome::RejectReason;
use crate::prog::{Callee, Imm64, Insn, Program};

/// The most slots a program may have in the model.
const MAX_SLOTS: usize = 4096;

/// The program as `struct bpf_insn` slots.
pub struct Code<'a> {
    pub prog: &'a Program,
    /// The instruction starting at each slot (`None`: the second half of an `ld_imm64`).
    pub slots: Vec<Option<&'a Insn>>,
    /// Where each subprogram starts, then where the program ends.
    bounds: &'a [Bounds],
    /// The instructions that jump, exit, call a subprogram or load an address, in slot order.
    flow: &'a [Flow],
    /// Some jump lands on or before itself.
    backward: bool,
    /// Some instruction calls a kfunc (else `add_subprog_and_kfunc` has nothing to check).
    pub kfuncs: bool,
}

/// The buffers of a [`Code`], kept from one verification to the next (see
/// [`super::verify`]).
#[derive(Default)]
pub struct Buffers {
    bounds: Vec<Bounds>,
    flow: Vec<Flow>,
}

/// Where a subprogram starts: its first slot and its first entry in [`Code::flow`].
#[derive(Clone, Copy)]
struct Bounds {
    slot: usize,
    flow: usize,
}

/// An instruction that does more than fall through to the next one.
#[derive(Clone, Copy)]
struct Flow {
    pc: usize,
    kind: FlowKind,
}

/// What a [`Flow`] instruction does.
#[derive(Clone, Copy)]
enum FlowKind {
    /// A conditional jump or a `goto` to slot `to` (maybe out of the program).
    Jump {
        to: i64,
        cond: bool,
    },
    Exit,
    /// A bpf-to-bpf call.
    Call(u8),
    /// An `ld_imm64` of a subprogram's address.
    Func(u8),
    /// An `ld_imm64` of a map fd.
    Map(u8),
}

impl Flow {
    /// The slot after the instruction.
    const fn next(&self) -> usize {
        match self.kind {
            FlowKind::Func(_) | FlowKind::Map(_) => self.pc + 2,
            _ => self.pc + 1,
        }
    }

    /// The subprogram a call or address names, and whether it is a call.
    const fn callee(&self) -> Option<(u8, bool)> {
        match self.kind {
            FlowKind::Call(s) => Some((s, true)),
            FlowKind::Func(s) => Some((s, false)),
            _ => None,
        }
    }
}

impl<'a> Code<'a> {
    pub fn new(prog: &'a Program, buf: &'a mut Buffers) -> Res<Code<'a>> {
        if prog.subprogs.iter().any(|s| s.insns.is_empty()) {
            return Err(Stop::Unsupported("an empty subprogram"));
        }
        // At most two slots an instruction: the slots never grow.
        let insns = prog.subprogs.iter().map(|s| s.insns.len()).sum::<usize>();
        let mut slots = Vec::with_capacity(2 * insns);
        let Buffers { bounds, flow } = buf;
        bounds.clear();
        flow.clear();
        let (mut backward, mut kfuncs) = (false, false);
        for s in &prog.subprogs {
            bounds.push(Bounds {
                slot: slots.len(),
                flow: flow.len(),
            });
            for insn in &s.insns {
                let pc = slots.len();
                slots.push(Some(insn));
                let kind = match *insn {
                    Insn::JmpIf { off, .. } | Insn::Ja { off } => {
                        let to = Code::jump_target(pc, off);
                        backward |= to <= pc as i64;
                        FlowKind::Jump {
                            to,
                            cond: matches!(insn, Insn::JmpIf { .. }),
                        }
                    }
                    Insn::Exit => FlowKind::Exit,
                    Insn::Call(Callee::Subprog(s)) => FlowKind::Call(s),
                    Insn::Call(Callee::Kfunc(_)) => {
                        kfuncs = true;
                        continue;
                    }
                    Insn::LdImm64 { imm, .. } => {
                        slots.push(None);
                        match imm {
                            Imm64::Func(s) => FlowKind::Func(s),
                            Imm64::Map(m) => FlowKind::Map(m),
                            Imm64::Const(_) => continue,
                        }
                    }
                    _ => continue,
                };
                flow.push(Flow { pc, kind });
            }
        }
        if slots.len() > MAX_SLOTS {
            return Err(Stop::Unsupported("more than 4096 instructions"));
        }
        bounds.push(Bounds {
            slot: slots.len(),
            flow: flow.len(),
        });
        Ok(Code {
            prog,
            slots,
            bounds,
            flow,
            backward,
            kfuncs,
        })
    }

    /// The slot a jump at `pc` by `off` lands on (may be out of the program).
    pub fn jump_target(pc: usize, off: i16) -> i64 {
        pc as i64 + i64::from(off) + 1
    }

    /// The first slot of subprogram `s`.
    pub fn start(&self, s: u8) -> usize {
        self.bounds[usize::from(s)].slot
    }

    fn end(&self, s: u8) -> usize {
        self.bounds[usize::from(s) + 1].slot
    }

    /// The instructions of subprogram `s` that do more than fall through.
    fn flow(&self, s: u8) -> &[Flow] {
        let s = usize::from(s);
        &self.flow[self.bounds[s].flow..self.bounds[s + 1].flow]
    }

    /// The subprogram a call or address names (`None`: no such subprogram).
    pub fn callee(&self, insn: &Insn) -> Option<u8> {
        match insn {
            Insn::Call(Callee::Subprog(s))
            | Insn::LdImm64 {
                imm: Imm64::Func(s),
                ..
            } => Some(*s),
            _ => None,
        }
    }

    /// The maps the code names, in slot order (`resolve_pseudo_ldimm64`).
    pub fn maps(&self) -> impl Iterator<Item = u8> {
        self.flow.iter().filter_map(|f| match f.kind {
            FlowKind::Map(m) => Some(m),
            _ => None,
        })
    }
}

/// `check_subprogs`: every jump lands inside its own subprogram ("jump out of range from insn
/// %d to %d"), and each subprogram's last slot is an `exit` or a `goto` ("last insn is not an
/// exit or jmp").
pub fn check_subprogs(code: &Code<'_>) -> Res<()> {
    for s in 0..code.prog.subprogs.len() as u8 {
        let (start, end) = (code.start(s), code.end(s));
        for f in code.flow(s) {
            if let FlowKind::Jump { to, .. } = f.kind
                && (to < start as i64 || to >= end as i64)
            {
                return Err(RejectReason::JumpOutOfRange.into());
            }
        }
        if !matches!(code.slots[end - 1], Some(Insn::Exit | Insn::Ja { .. })) {
            return Err(RejectReason::FallsOffEnd.into());
        }
    }
    let n = code.prog.subprogs.len();
    if code
        .flow
        .iter()
        .any(|f| f.callee().is_some_and(|(s, _)| usize::from(s) >= n))
    {
        return Err(Stop::Unsupported(
            "a call of a subprogram that does not exist",
        ));
    }
    Ok(())
}

/// `check_cfg`: a depth-first walk from the first instruction, calls and subprogram addresses
/// being edges into their subprograms; every instruction must be reached ("unreachable insn
/// %d"). Jump loops (allowed to root since 5.3 and verified by bounded exploration) are
/// outside the model.
///
/// Without a backward jump no walk meets a loop, and the one other fault a walk can meet (a
/// jump into the middle of an `ld_imm64`) is met by every walk that reaches that jump, in
/// whatever order: a sweep in slot order finds the same answer, faster ([`sweep`]).
pub fn check_cfg(code: &Code<'_>) -> Res<()> {
    if code.backward {
        walk(code)
    } else {
        sweep(code)
    }
}

/// `check_cfg`'s walk, as the kernel does it.
fn walk(code: &Code<'_>) -> Res<()> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; code.slots.len()];
    // Each subprogram entry is walked as its own tree: edges into a subprogram (calls and
    // callback addresses) may form cycles, which the kernel accepts for root.
    let mut entries = vec![0usize];
    let mut path: Vec<(usize, Successors)> = Vec::new();
    while let Some(entry) = entries.pop() {
        if mark[entry] != Mark::New {
            continue;
        }
        path.push((entry, successors(code, entry)));
        mark[entry] = Mark::OnPath;
        while let Some((pc, succ)) = path.last_mut() {
            let pc = *pc;
            let Some(next) = succ.pop() else {
                mark[pc] = Mark::Done;
                path.pop();
                continue;
            };
            if code.slots[next].is_none() {
                return Err(Stop::Unsupported("a jump into the middle of an ld_imm64"));
            }
            match mark[next] {
                Mark::New => {
                    mark[next] = Mark::OnPath;
                    path.push((next, successors(code, next)));
                }
                Mark::OnPath => return Err(Stop::Unsupported("loops")),
                Mark::Done => {}
            }
            if let Some(callee) = code.slots[pc].and_then(|i| code.callee(i)) {
                entries.push(code.start(callee));
            }
        }
    }
    match (0..code.slots.len()).find(|&pc| code.slots[pc].is_some() && mark[pc] == Mark::New) {
        Some(_) => Err(RejectReason::UnreachableInsn.into()),
        None => Ok(()),
    }
}

/// The slots control may go to after an instruction, within its subprogram: at most two,
/// the one explored first last.
struct Successors {
    slots: [usize; 2],
    len: usize,
}

impl Successors {
    fn pop(&mut self) -> Option<usize> {
        self.len = self.len.checked_sub(1)?;
        Some(self.slots[self.len])
    }
}

/// The successors of the instruction at `pc`.
fn successors(code: &Code<'_>, pc: usize) -> Successors {
    let insn = code.slots[pc].expect("a walk visits instruction starts");
    let next = pc + insn.slots();
    let (slots, len) = match *insn {
        Insn::Exit => ([0, 0], 0),
        Insn::Ja { off } => ([Code::jump_target(pc, off) as usize, 0], 1),
        Insn::JmpIf { off, .. } => ([Code::jump_target(pc, off) as usize, next], 2),
        _ => ([next, 0], 1),
    };
    Successors { slots, len }
}

/// `check_cfg` of code whose jumps all go forward: each reached subprogram is swept in slot
/// order, control reaching a slot when it falls through from a reached instruction or a
/// reached jump lands there (every jump into it has been met before it). Reached jumps into
/// the middle of an `ld_imm64` are refused, then unreached instructions.
fn sweep(code: &Code<'_>) -> Res<()> {
    let n = code.prog.subprogs.len();
    // The subprograms reached, and a stack of those to sweep (each is pushed once).
    let (mut reached, mut todo, mut pending) = ([false; 256], [0u8; 256], 1);
    reached[0] = true;
    let mut targets = SlotSet::default();
    let mut unreached = false;
    while pending > 0 {
        pending -= 1;
        let s = todo[pending];
        // Control is at the subprogram's first slot; `live`: it falls through to `at`.
        let (mut at, mut live) = (code.start(s), true);
        for f in code.flow(s) {
            if !live {
                match targets.first_in(at, f.pc + 1) {
                    Some(to) => {
                        unreached |= to > at;
                        live = true;
                    }
                    None => {
                        unreached = true;
                        at = f.next();
                        continue;
                    }
                }
            }
            match f.kind {
                FlowKind::Jump { to, cond } => {
                    let to = to as usize;
                    if code.slots[to].is_none() {
                        return Err(Stop::Unsupported("a jump into the middle of an ld_imm64"));
                    }
                    targets.insert(to);
                    live = cond;
                }
                FlowKind::Exit => live = false,
                FlowKind::Call(t) | FlowKind::Func(t) => {
                    if !std::mem::replace(&mut reached[usize::from(t)], true) {
                        todo[pending] = t;
                        pending += 1;
                    }
                }
                FlowKind::Map(_) => {}
            }
            at = f.next();
        }
        // The last instruction is an `exit` or a `goto` (`check_subprogs`): control stops.
    }
    if unreached || reached[..n].contains(&false) {
        return Err(RejectReason::UnreachableInsn.into());
    }
    Ok(())
}

/// A set of slots.
struct SlotSet([u64; MAX_SLOTS / 64]);

impl Default for SlotSet {
    fn default() -> SlotSet {
        SlotSet([0; MAX_SLOTS / 64])
    }
}

impl SlotSet {
    fn insert(&mut self, slot: usize) {
        self.0[slot / 64] |= 1 << (slot % 64);
    }

    /// The first slot of the set in `from..to`.
    fn first_in(&self, from: usize, to: usize) -> Option<usize> {
        let (mut word, mut bits) = (from / 64, u64::MAX << (from % 64));
        while word * 64 < to {
            let found = self.0[word] & bits;
            if found != 0 {
                let slot = word * 64 + found.trailing_zeros() as usize;
                return (slot < to).then_some(slot);
            }
            (word, bits) = (word + 1, u64::MAX);
        }
        None
    }
}

/// What the paths revealed about the call graph, by subprogram.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub subprogs: Vec<SubprogInfo>,
}

/// What the paths revealed about one subprogram.
#[derive(Clone, Copy, Debug, Default)]
pub struct SubprogInfo {
    /// The stack depth: the deepest byte any path touched.
    pub depth: i64,
    /// `is_async_cb`.
    pub is_async_cb: bool,
}

impl Graph {
    /// Nothing revealed yet about `n` subprograms.
    pub fn reset(&mut self, n: usize) {
        self.subprogs.clear();
        self.subprogs.resize(n, SubprogInfo::default());
    }
}

/// `MAX_CALL_FRAMES`.
pub const MAX_CALL_FRAMES: usize = 8;
/// `MAX_BPF_STACK`.
const MAX_STACK: i64 = 512;

/// `check_max_stack_depth`: from `main` and from every async callback (since 6.5, "Repeat
/// check_max_stack_depth for async callbacks"), walk the calls in instruction order; each
/// frame costs its depth rounded up to 16 bytes (`round_up_stack_depth`, JIT on). A chain
/// above 512 bytes is "combined stack size of %d calls is %d. Too large", one above eight
/// frames "the call stack of %d frames is too deep !". An async callback's address is not a
/// call ("async callbacks don't increase bpf prog stack size unless called directly").
pub fn check_max_stack_depth(code: &Code<'_>, g: &Graph) -> Res<()> {
    let n = code.prog.subprogs.len();
    for root in (0..n).filter(|&s| s == 0 || g.subprogs[s].is_async_cb) {
        let mut chain = [0; MAX_CALL_FRAMES];
        chain[0] = root as u8;
        walk_depth(code, g, &mut chain, 1, 0)?;
    }
    Ok(())
}

/// The calls from the last of the first `len` subprograms of `chain`, whose callers' frames
/// take `below` bytes.
fn walk_depth(
    code: &Code<'_>,
    g: &Graph,
    chain: &mut [u8; MAX_CALL_FRAMES],
    len: usize,
    below: i64,
) -> Res<()> {
    let s = chain[len - 1];
    let depth = below + round_up(g.subprogs[usize::from(s)].depth);
    if depth > MAX_STACK {
        return Err(RejectReason::CombinedStackTooLarge.into());
    }
    for (callee, direct) in code.flow(s).iter().filter_map(Flow::callee) {
        if !direct && g.subprogs[usize::from(callee)].is_async_cb {
            continue;
        }
        if chain[..len].contains(&callee) {
            return Err(Stop::Unsupported("recursive calls"));
        }
        if len >= MAX_CALL_FRAMES {
            return Err(RejectReason::CallStackTooDeep.into());
        }
        chain[len] = callee;
        walk_depth(code, g, chain, len + 1, depth)?;
    }
    Ok(())
}

const fn round_up(depth: i64) -> i64 {
    (depth + 15) / 16 * 16
}
