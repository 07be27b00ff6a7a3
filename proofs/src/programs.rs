//! Verifier cases for the verifier harnesses, built from small `Copy` descriptions: the
//! shapes of `check_max_stack_depth`'s call graphs and of `bpf_timer_init`'s arguments.

use spec::ProgType;
use spec::prog::build::Builder;
use spec::prog::{Case, Linkage, MapDecl, Operand, Program, Reg, Size, Subprog};

/// A frame's stack depth, as the deepest byte a subprogram writes (`*(u64 *)(r10 - n) = 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, kani::Arbitrary)]
pub enum Frame {
    Empty,
    B8,
    B136,
    B264,
    B512,
}

impl Frame {
    /// The bytes below `r10` it touches.
    pub const fn bytes(self) -> i64 {
        match self {
            Frame::Empty => 0,
            Frame::B8 => 8,
            Frame::B136 => 136,
            Frame::B264 => 264,
            Frame::B512 => 512,
        }
    }

    /// `round_up_stack_depth` with the JIT on: what the frame costs a call chain.
    pub const fn cost(self) -> i64 {
        (self.bytes() + 15) / 16 * 16
    }

    /// Write the deepest 8 bytes of the frame.
    pub fn touch(self, b: &mut Builder) {
        if self.bytes() > 0 {
            let off = i16::try_from(-self.bytes()).expect("a frame is at most 512 bytes");
            b.store(Size::DW, Reg::FP, off, Operand::Imm(0));
        }
    }
}

/// A SchedCls GPL case with BTF `func_info`: `main` (global) then `subprogs` (static).
pub fn case(maps: Vec<MapDecl>, main: Subprog, subprogs: Vec<Subprog>) -> Case {
    Case {
        maps,
        prog: Program {
            ty: ProgType::SchedCls,
            sleepable: false,
            gpl: true,
            func_info: true,
            subprogs: std::iter::once(main).chain(subprogs).collect(),
        },
    }
}

/// The static subprogram `f<i>`.
pub fn static_subprog(b: &mut Builder, i: usize) -> Subprog {
    b.finish(&format!("f{i}"), Linkage::Static)
}

/// A case without maps of `n` subprograms, `main` and the static `f1` to `f<n-1>`: `body`
/// writes subprogram `i`, which then returns 0.
pub fn subprogs_case(n: usize, body: impl Fn(usize, &mut Builder)) -> Case {
    let mut b = Builder::default();
    let mut subprogs = (0..n).map(|i| {
        body(i, &mut b);
        b.ret(0);
        match i {
            0 => b.finish("main", Linkage::Global),
            _ => static_subprog(&mut b, i),
        }
    });
    let main = subprogs.next().expect("a program has main");
    case(vec![], main, subprogs.collect())
}
