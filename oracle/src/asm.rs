//! A BPF instruction builder: typed registers, forward labels, `ld_imm64` of constants, map
//! fds and subprogram addresses, helper / kfunc / bpf-to-bpf calls. Label jumps, label calls
//! and `ld_imm64` function addresses are resolved by [`Asm::finish`]; the `*_raw` forms
//! encode the offset they are given as is, in range or not (the verifier is the one to judge
//! it). Encodings are those of the kernel's UAPI (`include/uapi/linux/bpf.h`,
//! `bpf_common.h`).

use crate::sys::RawInsn;
use std::os::fd::RawFd;

/// Registers are the program model's (`R0` to `R10`, `R10` the read-only frame pointer); the
/// encoding carries 4 bits of register number.
pub use spec::prog::Reg;

/// Access width of a load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    const fn bits(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }
}

/// Conditions of `BPF_JMP` conditional jumps: unsigned, and signed (`S*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    /// `dst & src != 0`.
    Set,
    Sgt,
    Sge,
    Slt,
    Sle,
}

impl Cond {
    const fn op(self) -> u8 {
        match self {
            Cond::Eq => 0x10,
            Cond::Gt => 0x20,
            Cond::Ge => 0x30,
            Cond::Set => 0x40,
            Cond::Ne => 0x50,
            Cond::Sgt => 0x60,
            Cond::Sge => 0x70,
            Cond::Lt => 0xa0,
            Cond::Le => 0xb0,
            Cond::Slt => 0xc0,
            Cond::Sle => 0xd0,
        }
    }
}

/// `BPF_ALU64` operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    Add,
    Sub,
    Mul,
    Div,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    Xor,
    Mov,
    Arsh,
}

impl Alu {
    const fn op(self) -> u8 {
        match self {
            Alu::Add => 0x00,
            Alu::Sub => 0x10,
            Alu::Mul => 0x20,
            Alu::Div => 0x30,
            Alu::Or => 0x40,
            Alu::And => 0x50,
            Alu::Lsh => 0x60,
            Alu::Rsh => 0x70,
            Alu::Mod => 0x90,
            Alu::Xor => 0xa0,
            Alu::Mov => 0xb0,
            Alu::Arsh => 0xc0,
        }
    }
}

/// A source operand: a register (`BPF_X`) or a 32-bit immediate (`BPF_K`), sign-extended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    Reg(Reg),
    Imm(i32),
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
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;
/// `BPF_FETCH`: the atomic returns the old value in the source register.
const FETCH: i32 = 0x01;
// `src_reg` markers.
const PSEUDO_MAP_FD: u8 = 1;
const PSEUDO_CALL: u8 = 1;
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

    /// `dst <op>= src` on 64 bits.
    pub fn alu(&mut self, op: Alu, dst: Reg, src: Src) {
        match src {
            Src::Reg(r) => self.emit(ALU64 | op.op() | X, dst, r.0, 0, 0),
            Src::Imm(imm) => self.emit(ALU64 | op.op() | K, dst, 0, 0, imm),
        }
    }

    pub fn mov_imm(&mut self, dst: Reg, imm: i32) {
        self.alu(Alu::Mov, dst, Src::Imm(imm));
    }

    pub fn mov(&mut self, dst: Reg, src: Reg) {
        self.alu(Alu::Mov, dst, Src::Reg(src));
    }

    pub fn add_imm(&mut self, dst: Reg, imm: i32) {
        self.alu(Alu::Add, dst, Src::Imm(imm));
    }

    pub fn add(&mut self, dst: Reg, src: Reg) {
        self.alu(Alu::Add, dst, Src::Reg(src));
    }

    /// `dst = imm` for any 64-bit value (two instructions).
    pub fn ld_imm64(&mut self, dst: Reg, imm: u64) {
        self.emit(LD | Size::DW.bits() | IMM, dst, 0, 0, imm as u32 as i32);
        self.emit(0, Reg::R0, 0, 0, (imm >> 32) as u32 as i32);
    }

    /// `dst = map` (a map fd, resolved to the map at load).
    pub fn ld_map(&mut self, dst: Reg, fd: RawFd) {
        self.emit(LD | Size::DW.bits() | IMM, dst, PSEUDO_MAP_FD, 0, fd);
        self.emit(0, Reg::R0, 0, 0, 0);
    }

    /// `dst = &subprog` (a callback address).
    pub fn ld_func(&mut self, dst: Reg, target: Label) {
        self.fixups.push((self.pc(), target));
        self.ld_func_raw(dst, 0);
    }

    /// `dst = &subprog` with `imm = rel` as given: the subprogram starts at slot
    /// `pc + 1 + rel`.
    pub fn ld_func_raw(&mut self, dst: Reg, rel: i32) {
        self.emit(LD | Size::DW.bits() | IMM, dst, PSEUDO_FUNC, 0, rel);
        self.emit(0, Reg::R0, 0, 0, 0);
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
        self.jump_if_raw(cond, dst, Src::Imm(imm), 0);
    }

    /// `if dst <cond> src goto +off`, the offset encoded as given (relative to the next
    /// slot).
    pub fn jump_if_raw(&mut self, cond: Cond, dst: Reg, src: Src, off: i16) {
        match src {
            Src::Reg(r) => self.emit(JMP | cond.op() | X, dst, r.0, off, 0),
            Src::Imm(imm) => self.emit(JMP | cond.op() | K, dst, 0, off, imm),
        }
    }

    pub fn goto(&mut self, target: Label) {
        self.fixups.push((self.pc(), target));
        self.goto_raw(0);
    }

    /// `goto +off` (`BPF_JA`), the offset encoded as given.
    pub fn goto_raw(&mut self, off: i16) {
        self.emit(JMP, Reg::R0, 0, off, 0);
    }

    /// A bpf-to-bpf call (`BPF_PSEUDO_CALL`) of the subprogram starting at `target`.
    pub fn call_subprog(&mut self, target: Label) {
        self.fixups.push((self.pc(), target));
        self.call_subprog_raw(0);
    }

    /// A bpf-to-bpf call with `imm = rel` as given: the callee starts at slot
    /// `pc + 1 + rel`.
    pub fn call_subprog_raw(&mut self, rel: i32) {
        self.emit(JMP | CALL, Reg::R0, PSEUDO_CALL, 0, rel);
    }

    /// Call helper `id` (`enum bpf_func_id`).
    pub fn call_helper(&mut self, id: i32) {
        self.emit(JMP | CALL, Reg::R0, 0, 0, id);
    }

    /// Call the kfunc with vmlinux BTF id `btf_id`.
    pub fn call_kfunc(&mut self, btf_id: u32) {
        self.emit(JMP | CALL, Reg::R0, PSEUDO_KFUNC_CALL, 0, btf_id as i32);
    }

    pub fn exit(&mut self) {
        self.emit(JMP | EXIT, Reg::R0, 0, 0, 0);
    }

    /// Resolve labels: jump offsets, call targets and function addresses are relative to
    /// the next instruction.
    pub fn finish(mut self) -> Vec<RawInsn> {
        for &(at, l) in &self.fixups {
            let target = self.labels[l.0].expect("label used but never bound");
            let rel = target as i64 - (at as i64 + 1);
            let insn = &mut self.insns[at];
            if insn.code == LD | Size::DW.bits() | IMM || insn.code == JMP | CALL {
                insn.imm = i32::try_from(rel).expect("function offset fits");
            } else {
                insn.off = i16::try_from(rel).expect("jump offset fits in 16 bits");
            }
        }
        self.insns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> RawInsn {
        RawInsn {
            code,
            regs: (src << 4) | dst,
            off,
            imm,
        }
    }

    /// Encodings as `llvm-objdump` and the kernel's `bpf_insn` macros (`filter.h`) give them.
    #[test]
    fn encodings_match_the_uapi() {
        let mut a = Asm::new();
        a.alu(Alu::Sub, Reg::R1, Src::Reg(Reg::R2)); // BPF_ALU64_REG(BPF_SUB, R1, R2)
        a.alu(Alu::Rsh, Reg::R3, Src::Imm(4)); // BPF_ALU64_IMM(BPF_RSH, R3, 4)
        a.load(Size::B, Reg::R0, Reg::R1, 3); // BPF_LDX_MEM(BPF_B, R0, R1, 3)
        a.store(Size::H, Reg::FP, -2, Reg::R1); // BPF_STX_MEM(BPF_H, R10, R1, -2)
        a.jump_if_raw(Cond::Slt, Reg::R1, Src::Reg(Reg::R2), -7); // BPF_JMP_REG(BPF_JSLT, ...)
        a.goto_raw(300); // out of range on purpose: encoded as given
        a.call_subprog_raw(-9);
        a.ld_func_raw(Reg::R2, 5);
        let l = a.label();
        a.call_subprog(l);
        a.bind(l);
        a.exit();
        assert_eq!(
            a.finish(),
            vec![
                raw(0x1f, 1, 2, 0, 0),
                raw(0x77, 3, 0, 0, 4),
                raw(0x71, 0, 1, 3, 0),
                raw(0x6b, 10, 1, -2, 0),
                raw(0xcd, 1, 2, -7, 0),
                raw(0x05, 0, 0, 300, 0),
                raw(0x85, 0, 1, 0, -9),
                raw(0x18, 2, 4, 0, 5),
                raw(0x00, 0, 0, 0, 0),
                raw(0x85, 0, 1, 0, 0),
                raw(0x95, 0, 0, 0, 0),
            ]
        );
    }
}
