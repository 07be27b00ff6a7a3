//! The structural passes: `check_subprogs`, `check_cfg` and `check_max_stack_depth`
//! (verifier.c, all eras unless noted).
//!
//! [`Code::new`] sweeps the slots once (the program laid out as the kernel is given it,
//! [`Slots`]): it finds what the passes need (the sets of kfuncs and maps named, the
//! subprograms each one calls or takes the address of) and what they answer when it does not
//! depend on what else is reached ([`check_subprogs`]'s faults, which slots of each subprogram
//! control reaches), so that the passes do not read every instruction again.

use super::{Res, Stop};
use crate::Features;
use crate::mutants::{self, Mutant};
use crate::outcome::RejectReason;
use crate::prog::{Callee, Imm64, Insn, Kfunc, Program};

/// The most slots a program may have in the model.
const MAX_SLOTS: usize = 4096;

/// The program as `struct bpf_insn` slots.
pub struct Code<'a> {
    pub prog: &'a Program,
    /// The instruction at each slot. The second slot of an `ld_imm64` holds a copy of it, and
    /// is in `halves`: the walks, which start instructions only, read a slot without a test.
    pub slots: &'a [Insn],
    /// The second slots of the `ld_imm64`s.
    halves: &'a SlotSet,
    /// Each subprogram, then where the program ends.
    subprogs: &'a [SubprogCode],
    /// The subprograms each one calls or takes the address of, in slot order.
    edges: &'a [Edge],
    /// The maps the instructions name (`resolve_pseudo_ldimm64`; in slot order:
    /// [`Code::maps_named`]).
    pub maps: ByteSet,
    /// The kfuncs the instructions call, a bit each (`1 << k as u16`: `add_subprog_and_kfunc`;
    /// in slot order: [`Code::kfuncs_called`]).
    pub kfuncs: u16,
    /// Some jump lands on or before itself.
    backward: bool,
    /// Why the code is outside the model (an empty subprogram, too many slots): found as it
    /// is laid out, reported after the kfuncs' faults ([`Code::check_layout`]).
    layout_fault: Option<&'static str>,
    /// What [`check_subprogs`] answers.
    subprogs_fault: Option<Stop>,
}

// [`Code::kfuncs`] holds a bit a kfunc.
const _: () = assert!(
    Kfunc::ALL.len() <= 16,
    "more kfuncs than bits in Code::kfuncs"
);

/// A subprogram as [`Code::new`] found it.
#[derive(Clone, Copy)]
struct SubprogCode {
    /// Its first slot.
    slot: usize,
    /// Its first entry in [`Code::edges`].
    edges: usize,
    /// Entered at its first slot, control reaches a jump into the middle of an `ld_imm64`
    /// (meaningful when every jump goes forward, as [`sweep`] says).
    bad_jump: bool,
    /// Entered at its first slot, control misses some instruction (likewise).
    unreached: bool,
}

/// Where [`Code::new`]'s sweep of a subprogram (slots `start..end`) is: `live`, control falls
/// through to `at`.
struct Sweep {
    start: usize,
    end: usize,
    at: usize,
    live: bool,
    /// Some jump leaves the subprogram.
    jump_out: bool,
    sub: SubprogCode,
}

impl Sweep {
    /// The sweep of subprogram `s`, whose first edge is `edges`, at its first slot.
    fn begin(starts: &[usize], s: usize, edges: usize) -> Sweep {
        let (start, end) = (starts[s], starts[s + 1]);
        Sweep {
            start,
            end,
            at: start,
            live: true,
            jump_out: false,
            sub: SubprogCode {
                slot: start,
                edges,
                bad_jump: false,
                unreached: false,
            },
        }
    }

    /// Whether control reaches the instruction at `pc` (`next` after it), a jump, an exit or
    /// a call of a subprogram or its address: falling through to it, or by a jump met before
    /// (into `targets`); instructions skipped are unreached.
    fn reach(&mut self, targets: &SlotSet, pc: usize, next: usize) -> bool {
        if !self.live {
            match targets.first_in(self.at, pc + 1) {
                Some(to) => {
                    self.sub.unreached |= to > self.at;
                    self.live = true;
                }
                None => self.sub.unreached = true,
            }
        }
        self.at = next;
        self.live
    }

    /// `check_subprogs`' answer for the subprogram: every jump lands inside it, its last slot
    /// is an `exit` or a `goto` (control stops there).
    fn fault(&self, slots: &[Insn]) -> Option<Stop> {
        if self.jump_out {
            Some(RejectReason::JumpOutOfRange.into())
        } else if self.end > self.start
            && !matches!(slots[self.end - 1], Insn::Exit | Insn::Ja { .. })
        {
            Some(RejectReason::FallsOffEnd.into())
        } else {
            None
        }
    }
}

/// A call of a subprogram (`direct`) or an `ld_imm64` of its address.
#[derive(Clone, Copy)]
struct Edge {
    to: u8,
    direct: bool,
    /// Control reaches the instruction, the subprogram being entered at its first slot
    /// (likewise).
    live: bool,
}

/// A program laid out in `struct bpf_insn` slots, as libbpf hands it to `BPF_PROG_LOAD`:
/// subprogram after subprogram, an `ld_imm64` in two slots. Its second slot holds a copy of
/// it and is in `halves`: the walks, which start instructions only, read a slot without a
/// test.
#[derive(Clone, Debug, Default)]
pub struct Slots {
    insns: Vec<Insn>,
    halves: SlotSet,
    /// Each subprogram's first slot, then where the program ends.
    starts: Vec<usize>,
}

impl Slots {
    /// `prog` laid out, in these buffers: a run of instructions up to an `ld_imm64` at a
    /// time, copied whole.
    pub fn lay_out(&mut self, prog: &Program) {
        // At most two slots an instruction.
        let most = 2 * prog.subprogs.iter().map(|s| s.insns.len()).sum::<usize>();
        self.insns.clear();
        self.insns.reserve(most);
        self.halves.reset(most);
        self.starts.clear();
        for s in &prog.subprogs {
            self.starts.push(self.insns.len());
            for run in s.insns.split_inclusive(Insn::is_ld_imm64) {
                self.insns.extend_from_slice(run);
                if let Some(&last @ Insn::LdImm64 { .. }) = run.last() {
                    self.halves.insert(self.insns.len());
                    self.insns.push(last);
                }
            }
        }
        self.starts.push(self.insns.len());
    }
}

/// The buffers of a [`Code`], kept from one verification to the next (see
/// [`super::verify`]).
#[derive(Default)]
pub struct Buffers {
    subprogs: Vec<SubprogCode>,
    edges: Vec<Edge>,
    targets: SlotSet,
}

impl<'a> Code<'a> {
    /// Sweep `prog`, laid out in `laid`: the sweep of a subprogram follows control from its
    /// first slot in slot order, control reaching a slot when it falls through from a reached
    /// instruction or a reached jump lands there; when every jump goes forward, every jump
    /// into a slot has been met before it.
    ///
    /// Shaped for speed: 64 slots at a time, the instructions are sorted by [`kind`] into bit
    /// sets (a load and an OR a slot, without a branch); then only the calls and `ld_imm64`s
    /// are read again, for what they name, and the sweep visits only the instructions that do
    /// more than fall through, in slot order, telling their kinds by the sets. Measured under
    /// cachegrind against a `match` on every instruction: this function's branch mispredicts
    /// a verdict 38 to 14, its instructions as many.
    pub fn new(prog: &'a Program, laid: &'a Slots, buf: &'a mut Buffers) -> Code<'a> {
        let (slots, halves) = (&laid.insns[..], &laid.halves);
        let Buffers {
            subprogs,
            edges,
            targets,
        } = buf;
        targets.reset(slots.len());
        subprogs.clear();
        edges.clear();
        let (mut maps, mut kfuncs) = (ByteSet::default(), 0u16);
        let n = prog.subprogs.len();
        let (mut backward, mut empty) = (false, false);
        let (mut subprogs_fault, mut missing_callee) = (None, false);
        // A subprogram swept.
        let mut finish = |sweep: &Sweep| {
            empty |= sweep.start == sweep.end;
            if subprogs_fault.is_none() {
                subprogs_fault = sweep.fault(slots);
            }
            subprogs.push(sweep.sub);
        };
        let mut s = 0;
        let mut sweep = Sweep::begin(&laid.starts, s, edges.len());
        for (w, word) in slots.chunks(64).enumerate() {
            let base = w * 64;
            // Bit `i` of `kinds[k]`: slot `base + i` holds an instruction of kind `k`.
            let (mut kinds, mut bit) = ([0u64; 8], 1);
            for insn in word {
                kinds[kind(insn)] |= bit;
                bit <<= 1;
            }
            // What the calls, then the `ld_imm64`s, name: the kfuncs and the maps (sets: the
            // passes that need them in slot order, to report the first fault, read the slots
            // again when some fault is there), and the subprograms called or whose addresses
            // are taken (bits of `calls`, their indices in `callees`), which the sweep meets in
            // slot order. All without a branch on which variant of `Callee` or `Imm64` an
            // instruction holds (their payloads lie at one offset): measured under cachegrind
            // against a `match` on each and lists of the kfuncs and maps, 10 fewer branch
            // mispredicts a verdict, as many instructions.
            let (mut calls, mut callees) = (0, [0u8; 64]);
            let mut named = kinds[CALL];
            while named != 0 {
                let i = named.trailing_zeros() as usize;
                named &= named - 1;
                let Insn::Call(callee) = word[i] else {
                    unreachable!("a call")
                };
                let (kfunc, subprog, to) = match callee {
                    Callee::Helper(h) => (false, false, h as u8),
                    Callee::Kfunc(k) => (true, false, k as u8),
                    Callee::Subprog(to) => (false, true, to),
                };
                // A kfunc's index is below 16 (another callee's shift is masked off).
                kfuncs |= u16::from(kfunc) << (to % 16);
                calls |= u64::from(subprog) << i;
                callees[i] = to;
            }
            let mut named = kinds[LD_IMM64] & !halves.0[w];
            while named != 0 {
                let i = named.trailing_zeros() as usize;
                named &= named - 1;
                let Insn::LdImm64 { imm, .. } = word[i] else {
                    unreachable!("an ld_imm64")
                };
                let (map, subprog, to) = match imm {
                    Imm64::Const(_) => (false, false, 0),
                    Imm64::Map(m) => (true, false, m),
                    Imm64::Func(to) => (false, true, to),
                };
                maps.insert_if(map, to);
                calls |= u64::from(subprog) << i;
                callees[i] = to;
            }
            // The sweep.
            let mut control = kinds[JMP_IF] | kinds[JA] | kinds[EXIT] | calls;
            while control != 0 {
                let bit = control & control.wrapping_neg();
                let pc = base + control.trailing_zeros() as usize;
                control ^= bit;
                while pc >= sweep.end {
                    finish(&sweep);
                    s += 1;
                    sweep = Sweep::begin(&laid.starts, s, edges.len());
                }
                if calls & bit != 0 {
                    let (to, direct) = (callees[pc - base], kinds[CALL] & bit != 0);
                    missing_callee |= usize::from(to) >= n;
                    let live = sweep.reach(targets, pc, pc + 2 - usize::from(direct));
                    edges.push(Edge { to, direct, live });
                    continue;
                }
                let live = sweep.reach(targets, pc, pc + 1);
                if kinds[EXIT] & bit != 0 {
                    sweep.live = false;
                    continue;
                }
                let (Insn::JmpIf { off, .. } | Insn::Ja { off }) = slots[pc] else {
                    unreachable!("a jump")
                };
                let to = Code::jump_target(pc, off);
                backward |= to <= pc as i64;
                let inside = (sweep.start as i64..sweep.end as i64).contains(&to);
                sweep.jump_out |= !inside;
                if live {
                    if inside {
                        sweep.sub.bad_jump |= halves.contains(to as usize);
                        targets.insert(to as usize);
                    }
                    sweep.live = kinds[JMP_IF] & bit != 0;
                }
            }
        }
        finish(&sweep);
        for s in s + 1..n {
            finish(&Sweep::begin(&laid.starts, s, edges.len()));
        }
        subprogs.push(SubprogCode {
            slot: slots.len(),
            edges: edges.len(),
            bad_jump: false,
            unreached: false,
        });
        if subprogs_fault.is_none() && missing_callee {
            subprogs_fault = Some(Stop::Unsupported(
                "a call of a subprogram that does not exist",
            ));
        }
        let layout_fault = if empty {
            Some("an empty subprogram")
        } else if slots.len() > MAX_SLOTS {
            Some("more than 4096 instructions")
        } else {
            None
        };
        Code {
            prog,
            slots,
            halves,
            subprogs,
            edges,
            maps,
            kfuncs,
            backward,
            layout_fault,
            subprogs_fault,
        }
    }

    /// The code fits the model: no subprogram is empty, there are at most 4096 slots.
    pub fn check_layout(&self) -> Res<()> {
        self.layout_fault
            .map_or(Ok(()), |why| Err(Stop::Unsupported(why)))
    }

    /// The slot a jump at `pc` by `off` lands on (may be out of the program).
    pub fn jump_target(pc: usize, off: i16) -> i64 {
        pc as i64 + i64::from(off) + 1
    }

    /// The kfuncs the instructions call, in slot order (a second slot, a copy of an
    /// `ld_imm64`, calls nothing).
    pub fn kfuncs_called(&self) -> impl Iterator<Item = Kfunc> {
        self.slots.iter().filter_map(|insn| match insn {
            Insn::Call(Callee::Kfunc(k)) => Some(*k),
            _ => None,
        })
    }

    /// The maps the instructions name, in slot order.
    pub fn maps_named(&self) -> impl Iterator<Item = u8> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, insn)| match insn {
                Insn::LdImm64 {
                    imm: Imm64::Map(m), ..
                } if !self.halves.contains(slot) => Some(*m),
                _ => None,
            })
    }

    /// The first slot of subprogram `s`.
    pub fn start(&self, s: u8) -> usize {
        self.subprogs[usize::from(s)].slot
    }

    /// The subprograms `s` calls or takes the address of.
    fn edges(&self, s: u8) -> &[Edge] {
        let s = usize::from(s);
        &self.edges[self.subprogs[s].edges..self.subprogs[s + 1].edges]
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

/// The kinds of instructions [`Code::new`] tells apart (see [`kind`]).
const LD_IMM64: usize = 1;
const JMP_IF: usize = 4;
const JA: usize = 5;
const CALL: usize = 6;
const EXIT: usize = 7;

/// The kind of `insn`: the position of its variant, which the compiler reads off the
/// discriminant, without a branch.
fn kind(insn: &Insn) -> usize {
    match insn {
        Insn::Alu { .. } => 0,
        Insn::LdImm64 { .. } => LD_IMM64,
        Insn::Load { .. } => 2,
        Insn::Store { .. } => 3,
        Insn::JmpIf { .. } => JMP_IF,
        Insn::Ja { .. } => JA,
        Insn::Call(_) => CALL,
        Insn::Exit => EXIT,
    }
}

/// `check_subprogs`: every jump lands inside its own subprogram ("jump out of range from insn
/// %d to %d"), and each subprogram's last slot is an `exit` or a `goto` ("last insn is not an
/// exit or jmp"), subprogram by subprogram; then every subprogram called exists. [`Code::new`]
/// found the answer.
pub fn check_subprogs(code: &Code<'_>) -> Res<()> {
    code.subprogs_fault.map_or(Ok(()), Err)
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
            if code.halves.contains(next) {
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
            if let Some(callee) = code.callee(&code.slots[pc]) {
                entries.push(code.start(callee));
            }
        }
    }
    match (0..code.slots.len()).find(|&pc| !code.halves.contains(pc) && mark[pc] == Mark::New) {
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
    // A walk visits instruction starts.
    let insn = code.slots[pc];
    let next = pc + insn.slots();
    let (slots, len) = match insn {
        Insn::Exit => ([0, 0], 0),
        Insn::Ja { off } => ([Code::jump_target(pc, off) as usize, 0], 1),
        Insn::JmpIf { off, .. } => ([Code::jump_target(pc, off) as usize, next], 2),
        _ => ([next, 0], 1),
    };
    Successors { slots, len }
}

/// `check_cfg` of code whose jumps all go forward: the subprograms reached from `main`, by the
/// calls and addresses control reaches, each swept by [`Code::new`]. Reached jumps into the
/// middle of an `ld_imm64` are refused, then unreached instructions.
fn sweep(code: &Code<'_>) -> Res<()> {
    let n = code.prog.subprogs.len();
    // The subprograms reached, and those of them still to look at.
    let (mut reached, mut todo) = (ByteSet::default(), ByteSet::default());
    reached.insert(0);
    todo.insert(0);
    let (mut bad_jump, mut unreached) = (false, false);
    while let Some(s) = todo.pop() {
        let sub = &code.subprogs[usize::from(s)];
        bad_jump |= sub.bad_jump;
        unreached |= sub.unreached;
        for e in code.edges(s).iter().filter(|e| e.live) {
            if reached.insert(e.to) {
                todo.insert(e.to);
            }
        }
    }
    if bad_jump {
        return Err(Stop::Unsupported("a jump into the middle of an ld_imm64"));
    }
    if unreached || !reached.holds_below(n) {
        return Err(RejectReason::UnreachableInsn.into());
    }
    Ok(())
}

/// A set of byte-sized indices (subprograms, maps).
#[derive(Default)]
pub struct ByteSet([u64; 4]);

impl ByteSet {
    /// Insert `s`; whether it is new.
    pub fn insert(&mut self, s: u8) -> bool {
        let (w, bit) = (usize::from(s / 64), 1 << (s % 64));
        let new = self.0[w] & bit == 0;
        self.0[w] |= bit;
        new
    }

    /// Insert `s` if `cond`, without a branch.
    fn insert_if(&mut self, cond: bool, s: u8) {
        self.0[usize::from(s / 64)] |= u64::from(cond) << (s % 64);
    }

    /// The indices of the set, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = u8> {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                let bit = bits.trailing_zeros();
                bits &= bits.checked_sub(1)?;
                Some((w * 64) as u8 + bit as u8)
            })
        })
    }

    /// Take out the lowest index of the set.
    fn pop(&mut self) -> Option<u8> {
        let w = self.0.iter().position(|&w| w != 0)?;
        let bit = self.0[w].trailing_zeros();
        self.0[w] &= self.0[w] - 1;
        Some((w * 64) as u8 + bit as u8)
    }

    /// Every index below `n` (at most 256) is in the set.
    fn holds_below(&self, n: usize) -> bool {
        self.0.iter().enumerate().all(|(w, &bits)| {
            let below = n.saturating_sub(64 * w).min(64);
            let want = u64::MAX.checked_shr(64 - below as u32).unwrap_or(0);
            bits & want == want
        })
    }
}

/// A set of slots.
#[derive(Clone, Debug, Default)]
struct SlotSet(Vec<u64>);

impl SlotSet {
    /// Empty, for slots below `n`.
    fn reset(&mut self, n: usize) {
        self.0.clear();
        self.0.resize(n.div_ceil(64), 0);
    }

    fn insert(&mut self, slot: usize) {
        self.0[slot / 64] |= 1 << (slot % 64);
    }

    fn contains(&self, slot: usize) -> bool {
        self.0[slot / 64] & 1 << (slot % 64) != 0
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

/// The largest `MAX_CALL_FRAMES` of any era (see [`max_call_frames`]).
const MAX_CALL_FRAMES: usize = 16;

/// The most frames a call chain may have: `MAX_CALL_FRAMES`, 8 until 7.2 raised it to 16
/// (`Features::sixteen_call_frames`); one more with the `CallChainAllowsNineFrames` mutant.
pub fn max_call_frames(f: &Features) -> usize {
    let frames = if f.sixteen_call_frames {
        MAX_CALL_FRAMES
    } else {
        8
    };
    frames + usize::from(mutants::active(Mutant::CallChainAllowsNineFrames))
}
/// `MAX_BPF_STACK`.
const MAX_STACK: i64 = 512;

/// `check_max_stack_depth`: from `main` and from every async callback (since 6.5, "Repeat
/// check_max_stack_depth for async callbacks"), walk the calls in instruction order; each
/// frame costs its depth rounded up to 16 bytes (`round_up_stack_depth`, JIT on). A chain
/// above 512 bytes is "combined stack size of %d calls is %d. Too large", one above
/// [`max_call_frames`] "the call stack of %d frames is too deep !". An async callback's
/// address is not a call ("async callbacks don't increase bpf prog stack size unless called
/// directly").
pub fn check_max_stack_depth(f: &Features, code: &Code<'_>, g: &Graph) -> Res<()> {
    let n = code.prog.subprogs.len();
    for root in (0..n).filter(|&s| s == 0 || g.subprogs[s].is_async_cb) {
        // One slot more than a chain may hold (see [`max_call_frames`]).
        let mut chain = [0; MAX_CALL_FRAMES + 1];
        chain[0] = root as u8;
        walk_depth(max_call_frames(f), code, g, &mut chain, 1, 0)?;
    }
    Ok(())
}

/// The calls from the last of the first `len` subprograms of `chain`, whose callers' frames
/// take `below` bytes.
fn walk_depth(
    max_frames: usize,
    code: &Code<'_>,
    g: &Graph,
    chain: &mut [u8; MAX_CALL_FRAMES + 1],
    len: usize,
    below: i64,
) -> Res<()> {
    let s = chain[len - 1];
    let below = if mutants::active(Mutant::StackDepthOmitsCallers) {
        0
    } else {
        below
    };
    let depth = below + round_up(g.subprogs[usize::from(s)].depth);
    if depth > MAX_STACK {
        return Err(RejectReason::CombinedStackTooLarge.into());
    }
    for &Edge {
        to: callee, direct, ..
    } in code.edges(s)
    {
        if !direct
            && g.subprogs[usize::from(callee)].is_async_cb
            && !mutants::active(Mutant::AsyncCallbackCountsInCaller)
        {
            continue;
        }
        if chain[..len].contains(&callee) {
            return Err(Stop::Unsupported("recursive calls"));
        }
        if len >= max_frames {
            return Err(RejectReason::CallStackTooDeep.into());
        }
        chain[len] = callee;
        walk_depth(max_frames, code, g, chain, len + 1, depth)?;
    }
    Ok(())
}

const fn round_up(depth: i64) -> i64 {
    (depth + 15) / 16 * 16
}
