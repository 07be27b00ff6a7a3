//! A BPF instruction builder: typed registers, forward labels, `ld_imm64` of map fds and
//! subprogram addresses, helper / kfunc calls. Jump and `ld_imm64` function offsets are
//! resolved by [`Asm::finish`]. Encodings are those of the kernel's UAPI
//! (`include/uapi/linux/bpf.h`, `bpf_common.h`).

use crate::sys::RawInsn;
use std::os::fd::RawFd;

/// A register, `R0` to `R10` (`R10` is the read-only frame pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg(u8);

pub const R0: Reg = Reg(0);
pub const R1: Reg = Reg(1);
pub const R2: Reg = Reg(2);
pub const R3: Reg = Reg(3);
pub const R4: Reg = Reg(4);
pub const R5: Reg = Reg(5);
pub const R6: Reg = Reg(6);
pub const R7: Reg = Reg(7);
pub const R8: Reg = Reg(8);
pub const R9: Reg = Reg(9);
pub const FP: Reg = Reg(10);

/// Access width of a load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    W,
    DW,
}

impl Size {
    const fn bits(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::DW => 0x18,
        }
    }
}

/// Conditions of conditional jumps against an immediate (unsigned comparisons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Eq,
    Ne,
    Ge,
}

impl Cond {
    const fn op(self) -> u8 {
        match self {
            Cond::Eq => 0x10,
            Cond::Ge => 0x30,
            Cond::Ne => 0x50,
        }
    }
}

/// A jump target, bound once with [`Asm::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

// Instruction classes, modes and operations.
const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const ST: u8 = 0x02;
const STX: u8 = 0x03;
const JMP: u8 = 0x05;
const ALU64: u8 = 0x07;
const MEM: u8 = 0x60;
const ATOMIC: u8 = 0xc0;
const IMM: u8 = 0x00;
const K: u8 = 0x00;
const X: u8 = 0x08;
const ADD: u8 = 0x00;
const MOV: u8 = 0xb0;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;
/// `BPF_FETCH`: the atomic returns the old value in the source register.
const FETCH: i32 = 0x01;
// `src_reg` markers.
const PSEUDO_MAP_FD: u8 = 1;
const PSEUDO_KFUNC_CALL: u8 = 2;
const PSEUDO_FUNC: u8 = 4;

/// A program under construction.
#[derive(Default)]
pub struct Asm {
    insns: Vec<RawInsn>,
    labels: Vec<Option<usize>>,
    /// Jumps (`off`) and `ld_imm64` function addresses (`imm`) to resolve, by position.
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    /// The index of the next instruction.
    pub fn pc(&self) -> usize {
        self.insns.len()
    }

    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Does any jump or address refer to `l` yet?
    pub fn is_used(&self, l: Label) -> bool {
        self.fixups.iter().any(|&(_, x)| x == l)
    }

    /// Bind `l` to the next instruction.
    pub fn bind(&mut self, l: Label) {
        assert!(self.labels[l.0].is_none(), "label bound twice");
        self.labels[l.0] = Some(self.pc());
    }

    fn emit(&mut self, code: u8, dst: Reg, src: u8, off: i16, imm: i32) {
        self.insns.push(RawInsn {
            code,
            regs: (src << 4) | dst.0,
            off,
            imm,
        });
    }

    pub fn mov_imm(&mut self, dst: Reg, imm: i32) {
        self.emit(ALU64 | MOV | K, dst, 0, 0, imm);
    }

    pub fn mov(&mut self, dst: Reg, src: Reg) {
        self.emit(ALU64 | MOV | X, dst, src.0, 0, 0);
    }

    pub fn add_imm(&mut self, dst: Reg, imm: i32) {
        self.emit(ALU64 | ADD | K, dst, 0, 0, imm);
    }

    pub fn add(&mut self, dst: Reg, src: Reg) {
        self.emit(ALU64 | ADD | X, dst, src.0, 0, 0);
    }

    /// `dst = imm` for any 64-bit value (two instructions).
    pub fn ld_imm64(&mut self, dst: Reg, imm: u64) {
        self.emit(LD | Size::DW.bits() | IMM, dst, 0, 0, imm as u32 as i32);
        self.emit(0, R0, 0, 0, (imm >> 32) as u32 as i32);
    }

    /// `dst = map` (a map fd, resolved to the map at load).
    pub fn ld_map(&mut self, dst: Reg, fd: RawFd) {
        self.emit(LD | Size::DW.bits() | IMM, dst, PSEUDO_MAP_FD, 0, fd);
        self.emit(0, R0, 0, 0, 0);
    }

    /// `dst = &subprog` (a callback address).
    pub fn ld_func(&mut self, dst: Reg, target: Label) {
        self.fixups.push((self.pc(), target));
        self.emit(LD | Size::DW.bits() | IMM, dst, PSEUDO_FUNC, 0, 0);
        self.emit(0, R0, 0, 0, 0);
    }

    /// `dst = *(size *)(src + off)`.
    pub fn load(&mut self, size: Size, dst: Reg, src: Reg, off: i16) {
        self.emit(LDX | size.bits() | MEM, dst, src.0, off, 0);
    }

    /// `*(size *)(dst + off) = src`.
    pub fn store(&mut self, size: Size, dst: Reg, off: i16, src: Reg) {
        self.emit(STX | size.bits() | MEM, dst, src.0, off, 0);
    }

    /// `*(size *)(dst + off) = imm`.
    pub fn store_imm(&mut self, size: Size, dst: Reg, off: i16, imm: i32) {
        self.emit(ST | size.bits() | MEM, dst, 0, off, imm);
    }

    /// `src = atomic_fetch_add((u64 *)(dst + off), src)`.
    pub fn fetch_add(&mut self, dst: Reg, off: i16, src: Reg) {
        self.emit(
            STX | Size::DW.bits() | ATOMIC,
            dst,
            src.0,
            off,
            ADD as i32 | FETCH,
        );
    }

    /// `if dst <cond> imm goto target`.
    pub fn jump_if(&mut self, cond: Cond, dst: Reg, imm: i32, target: Label) {
        self.fixups.push((self.pc(), target));
        self.emit(JMP | cond.op() | K, dst, 0, 0, imm);
    }

    pub fn goto(&mut self, target: Label) {
        self.fixups.push((self.pc(), target));
        self.emit(JMP, R0, 0, 0, 0);
    }

    /// Call helper `id` (`enum bpf_func_id`).
    pub fn call_helper(&mut self, id: i32) {
        self.emit(JMP | CALL, R0, 0, 0, id);
    }

    /// Call the kfunc with vmlinux BTF id `btf_id`.
    pub fn call_kfunc(&mut self, btf_id: u32) {
        self.emit(JMP | CALL, R0, PSEUDO_KFUNC_CALL, 0, btf_id as i32);
    }

    pub fn exit(&mut self) {
        self.emit(JMP | EXIT, R0, 0, 0, 0);
    }

    /// Resolve labels: jump offsets and function addresses are relative to the next
    /// instruction.
    pub fn finish(mut self) -> Vec<RawInsn> {
        for &(at, l) in &self.fixups {
            let target = self.labels[l.0].expect("label used but never bound");
            let rel = target as i64 - (at as i64 + 1);
            let insn = &mut self.insns[at];
            if insn.code == LD | Size::DW.bits() | IMM {
                insn.imm = i32::try_from(rel).expect("function offset fits");
            } else {
                insn.off = i16::try_from(rel).expect("jump offset fits in 16 bits");
            }
        }
        self.insns
    }
}
