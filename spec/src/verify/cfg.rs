//! The structural passes: `check_subprogs`, `check_cfg` and `check_max_stack_depth`
//! (verifier.c, all eras unless noted).

use super::{Res, Stop};
use crate::outcome::RejectReason;
use crate::prog::{Callee, Imm64, Insn, Program};

/// The program as `struct bpf_insn` slots.
pub struct Code<'a> {
    pub prog: &'a Program,
    /// The instruction starting at each slot (`None`: the second half of an `ld_imm64`).
    pub slots: Vec<Option<Insn>>,
    /// The first slot of each subprogram, then the end of the program.
    pub starts: Vec<usize>,
}

impl<'a> Code<'a> {
    pub fn new(prog: &'a Program) -> Res<Code<'a>> {
        if prog.subprogs.iter().any(|s| s.insns.is_empty()) {
            return Err(Stop::Unsupported("an empty subprogram"));
        }
        let mut slots = Vec::new();
        for insn in prog.insns() {
            slots.push(Some(*insn));
            if insn.slots() == 2 {
                slots.push(None);
            }
        }
        if slots.len() > 4096 {
            return Err(Stop::Unsupported("more than 4096 instructions"));
        }
        let mut starts = prog.starts();
        starts.push(slots.len());
        Ok(Code {
            prog,
            slots,
            starts,
        })
    }

    /// The slot a jump at `pc` by `off` lands on (may be out of the program).
    pub fn jump_target(pc: usize, off: i16) -> i64 {
        pc as i64 + i64::from(off) + 1
    }

    /// The first slot of subprogram `s`.
    pub fn start(&self, s: u8) -> usize {
        self.starts[usize::from(s)]
    }

    fn end(&self, s: u8) -> usize {
        self.starts[usize::from(s) + 1]
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
}

/// `check_subprogs`: every jump lands inside its own subprogram ("jump out of range from insn
/// %d to %d"), and each subprogram's last slot is an `exit` or a `goto` ("last insn is not an
/// exit or jmp").
pub fn check_subprogs(code: &Code<'_>) -> Res<()> {
    for s in 0..code.prog.subprogs.len() as u8 {
        let (start, end) = (code.start(s), code.end(s));
        for pc in start..end {
            if let Some(Insn::JmpIf { off, .. } | Insn::Ja { off }) = code.slots[pc] {
                let to = Code::jump_target(pc, off);
                if to < start as i64 || to >= end as i64 {
                    return Err(RejectReason::JumpOutOfRange.into());
                }
            }
        }
        if !matches!(code.slots[end - 1], Some(Insn::Exit | Insn::Ja { .. })) {
            return Err(RejectReason::FallsOffEnd.into());
        }
    }
    for insn in code.slots.iter().flatten() {
        if code
            .callee(insn)
            .is_some_and(|s| usize::from(s) >= code.prog.subprogs.len())
        {
            return Err(Stop::Unsupported(
                "a call of a subprogram that does not exist",
            ));
        }
    }
    Ok(())
}

/// `check_cfg`: a depth-first walk from the first instruction, calls and subprogram addresses
/// being edges into their subprograms; every instruction must be reached ("unreachable insn
/// %d"). Jump loops (allowed to root since 5.3 and verified by bounded exploration) are
/// outside the model.
pub fn check_cfg(code: &Code<'_>) -> Res<()> {
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
    while let Some(entry) = entries.pop() {
        if mark[entry] != Mark::New {
            continue;
        }
        let mut path: Vec<(usize, Vec<usize>)> = vec![(entry, successors(code, entry)?)];
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
                    path.push((next, successors(code, next)?));
                }
                Mark::OnPath => return Err(Stop::Unsupported("loops")),
                Mark::Done => {}
            }
            if let Some(callee) = code.slots[pc].and_then(|i| code.callee(&i)) {
                entries.push(code.start(callee));
            }
        }
    }
    match (0..code.slots.len()).find(|&pc| code.slots[pc].is_some() && mark[pc] == Mark::New) {
        Some(_) => Err(RejectReason::UnreachableInsn.into()),
        None => Ok(()),
    }
}

/// The slots control may go to after `pc` within its subprogram, the one explored first last.
fn successors(code: &Code<'_>, pc: usize) -> Res<Vec<usize>> {
    let insn = code.slots[pc].expect("a walk visits instruction starts");
    let next = pc + insn.slots();
    Ok(match insn {
        Insn::Exit => vec![],
        Insn::Ja { off } => vec![Code::jump_target(pc, off) as usize],
        Insn::JmpIf { off, .. } => vec![Code::jump_target(pc, off) as usize, next],
        _ => vec![next],
    })
}

/// What the paths revealed about the call graph: each subprogram's stack depth (the deepest
/// byte any path touched) and whether it is an async callback (`is_async_cb`).
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub depth: Vec<i64>,
    pub is_async_cb: Vec<bool>,
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
    for root in (0..n).filter(|&s| s == 0 || g.is_async_cb[s]) {
        walk_depth(code, g, &mut vec![root as u8], 0)?;
    }
    Ok(())
}

fn walk_depth(code: &Code<'_>, g: &Graph, chain: &mut Vec<u8>, below: i64) -> Res<()> {
    let s = *chain.last().expect("a chain has a frame");
    let depth = below + round_up(g.depth[usize::from(s)]);
    if depth > MAX_STACK {
        return Err(RejectReason::CombinedStackTooLarge.into());
    }
    for pc in code.start(s)..code.end(s) {
        let Some(insn) = code.slots[pc] else { continue };
        let Some(callee) = code.callee(&insn) else {
            continue;
        };
        let direct = matches!(insn, Insn::Call(_));
        if !direct && g.is_async_cb[usize::from(callee)] {
            continue;
        }
        if chain.contains(&callee) {
            return Err(Stop::Unsupported("recursive calls"));
        }
        if chain.len() >= MAX_CALL_FRAMES {
            return Err(RejectReason::CallStackTooDeep.into());
        }
        chain.push(callee);
        walk_depth(code, g, chain, depth)?;
        chain.pop();
    }
    Ok(())
}

const fn round_up(depth: i64) -> i64 {
    (depth + 15) / 16 * 16
}
