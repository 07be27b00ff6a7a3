//! A builder of subprograms with symbolic jump targets (labels), for the generator and for
//! tests that write programs in Rust.

use super::{
    AluOp, Callee, Cond, Helper, Imm64, Insn, Kfunc, Linkage, Operand, Reg, Size, Subprog,
};

/// A jump target inside one subprogram under construction.
#[derive(Clone, Copy, Debug)]
pub struct Label(usize);

/// One subprogram under construction: instructions with symbolic jump targets.
#[derive(Default)]
pub struct Builder {
    insns: Vec<Insn>,
    /// `(instruction index, label)` of each jump to resolve.
    jumps: Vec<(usize, Label)>,
    /// Instruction index each label is bound to.
    labels: Vec<Option<usize>>,
}

impl Builder {
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Bind `l` to the next instruction.
    pub fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }

    /// [`Builder::bind`], in a chain.
    pub fn at(&mut self, l: Label) -> &mut Builder {
        self.bind(l);
        self
    }

    pub fn op(&mut self, i: Insn) -> &mut Builder {
        self.insns.push(i);
        self
    }

    pub fn mov(&mut self, dst: Reg, imm: i32) -> &mut Builder {
        self.op(Insn::Alu {
            op: AluOp::Mov,
            dst,
            src: Operand::Imm(imm),
        })
    }

    pub fn mov_reg(&mut self, dst: Reg, src: Reg) -> &mut Builder {
        self.op(Insn::Alu {
            op: AluOp::Mov,
            dst,
            src: Operand::Reg(src),
        })
    }

    pub fn add(&mut self, dst: Reg, imm: i32) -> &mut Builder {
        self.op(Insn::Alu {
            op: AluOp::Add,
            dst,
            src: Operand::Imm(imm),
        })
    }

    pub fn alu(&mut self, op: AluOp, dst: Reg, imm: i32) -> &mut Builder {
        self.op(Insn::Alu {
            op,
            dst,
            src: Operand::Imm(imm),
        })
    }

    pub fn call(&mut self, c: Callee) -> &mut Builder {
        self.op(Insn::Call(c))
    }

    pub fn helper(&mut self, h: Helper) -> &mut Builder {
        self.call(Callee::Helper(h))
    }

    pub fn kfunc(&mut self, k: Kfunc) -> &mut Builder {
        self.call(Callee::Kfunc(k))
    }

    pub fn ld(&mut self, dst: Reg, imm: Imm64) -> &mut Builder {
        self.op(Insn::LdImm64 { dst, imm })
    }

    pub fn jump_if(&mut self, cond: Cond, dst: Reg, imm: i32, to: Label) -> &mut Builder {
        self.jumps.push((self.insns.len(), to));
        self.op(Insn::JmpIf {
            cond,
            dst,
            src: Operand::Imm(imm),
            off: 0,
        })
    }

    pub fn goto(&mut self, to: Label) -> &mut Builder {
        self.jumps.push((self.insns.len(), to));
        self.op(Insn::Ja { off: 0 })
    }

    pub fn store(&mut self, size: Size, dst: Reg, off: i16, src: Operand) -> &mut Builder {
        self.op(Insn::Store {
            size,
            dst,
            off,
            src,
        })
    }

    pub fn load(&mut self, size: Size, dst: Reg, src: Reg, off: i16) -> &mut Builder {
        self.op(Insn::Load {
            size,
            dst,
            src,
            off,
        })
    }

    /// `dst = map m` (`BPF_PSEUDO_MAP_FD`).
    pub fn map(&mut self, dst: Reg, m: u8) -> &mut Builder {
        self.ld(dst, Imm64::Map(m))
    }

    /// `dst = &subprogram s` (`BPF_PSEUDO_FUNC`).
    pub fn func(&mut self, dst: Reg, s: u8) -> &mut Builder {
        self.ld(dst, Imm64::Func(s))
    }

    pub fn exit(&mut self) -> &mut Builder {
        self.op(Insn::Exit)
    }

    /// `r0 = v; exit`.
    pub fn ret(&mut self, v: i32) -> &mut Builder {
        self.mov(Reg::R0, v).exit()
    }

    /// `r2 = &key`, key 0 at `r10 - 4`: a lookup's key argument.
    pub fn key0(&mut self) -> &mut Builder {
        self.mov(Reg::R1, 0)
            .store(Size::W, Reg::FP, -4, Operand::Reg(Reg::R1))
            .mov_reg(Reg::R2, Reg::FP)
            .add(Reg::R2, -4)
    }

    /// `r0 = bpf_map_lookup_elem(map m, &key)`, key 0 at `r10 - 4`.
    pub fn lookup(&mut self, m: u8) -> &mut Builder {
        self.key0().map(Reg::R1, m).helper(Helper::MapLookupElem)
    }

    /// The subprogram, its jumps resolved to slot offsets; the builder is left empty.
    pub fn finish(&mut self, name: &str, linkage: Linkage) -> Subprog {
        let done = std::mem::take(self);
        done.into_subprog(name, linkage)
    }

    fn into_subprog(self, name: &str, linkage: Linkage) -> Subprog {
        let slot_of = |idx: usize| -> usize { self.insns[..idx].iter().map(Insn::slots).sum() };
        let mut insns = self.insns.clone();
        for &(at, l) in &self.jumps {
            let target = self.labels[l.0].expect("every label is bound");
            let off = slot_of(target) as i64 - slot_of(at) as i64 - 1;
            if let Insn::JmpIf { off: o, .. } | Insn::Ja { off: o } = &mut insns[at] {
                *o = i16::try_from(off).expect("jumps within one subprogram are short");
            }
        }
        Subprog {
            name: name.into(),
            linkage,
            insns,
        }
    }
}
