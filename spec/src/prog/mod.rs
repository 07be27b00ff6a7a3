//! The program model: BPF instructions of the fragment the async, kfunc and kptr verifier rules
//! govern, the subprograms they form and the maps they name, at the level the kernel's
//! verifier sees them (`struct bpf_insn` arrays, `func_info`, map fds).
//!
//! It is an instruction-level view, below the statement-level [`crate::ProgSpec`] of the
//! runtime semantics: a [`Case`] is what `BPF_PROG_LOAD` gets (after the maps it names were
//! created), and [`crate::verify`] decides what the verifier answers.
//!
//! The subset: 64-bit ALU on registers and immediates, `ld_imm64` of constants, map fds
//! (`BPF_PSEUDO_MAP_FD`) and subprogram addresses (`BPF_PSEUDO_FUNC`), loads and stores
//! (`LDX`/`STX`/`ST` in `BPF_MEM` mode), conditional and unconditional jumps, calls of helpers,
//! kfuncs (`BPF_PSEUDO_KFUNC_CALL`) and subprograms (`BPF_PSEUDO_CALL`), and `exit`.

pub mod build;
#[cfg(feature = "arbitrary")]
pub mod generate;

use crate::op::{MapSpec, ProgType};

/// A register, `r0` to `r10` (`r10` is the read-only frame pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Reg(pub u8);

impl Reg {
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
    /// `MAX_BPF_REG`.
    pub const COUNT: usize = 11;
    /// The argument registers, `r1` to `r5`.
    pub const ARGS: [Reg; 5] = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5];
}

/// A source operand: a register or a 32-bit immediate (sign-extended to 64 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Operand {
    Reg(Reg),
    Imm(i32),
}

/// 64-bit ALU operations (`BPF_ALU64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum AluOp {
    Mov,
    Add,
    Sub,
    Mul,
    And,
    Or,
    Xor,
    Lsh,
    Rsh,
}

/// Access width of a load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    pub const fn bytes(self) -> i64 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
}

/// Conditions of `BPF_JMP` conditional jumps (unsigned, except `Sgt` / `Slt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Cond {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Sgt,
    Slt,
}

/// An enum of kernel functions, its `ALL` list and its `kernel_name` (documented by
/// `$name_doc`), from each variant's kernel name.
macro_rules! functions {
    ($(#[$doc:meta])* $ty:ident, $name_doc:literal,
     { $($(#[$vdoc:meta])* $v:ident = $name:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
        pub enum $ty {
            $($(#[$vdoc])* $v,)*
        }

        impl $ty {
            pub const ALL: [$ty; [$($name),*].len()] = [$($ty::$v),*];

            #[doc = $name_doc]
            pub const fn kernel_name(self) -> &'static str {
                match self {
                    $($ty::$v => $name,)*
                }
            }
        }
    };
}

/// The helpers and kfuncs of the fragment, each written once with its kernel name: this makes
/// the enums [`Helper`] and [`Kfunc`] ([`functions!`]), and `with_callees!`, which hands every
/// function to a macro (`verify::calls::check_call` makes a copy of its code for each). A
/// function added here is in all of them. (`$d` is a `$`, for the macro it makes.)
macro_rules! callees {
    ($d:tt
     helpers { $($(#[$hdoc:meta])* $h:ident = $hname:literal,)* }
     kfuncs { $($(#[$kdoc:meta])* $k:ident = $kname:literal,)* }) => {
        functions!(
            /// BPF helpers of the fragment, by `enum bpf_func_id` name.
            Helper,
            "The kernel's name (`bpf_` + the `enum bpf_func_id` entry).",
            { $($(#[$hdoc])* $h = $hname,)* }
        );

        functions!(
            /// kfuncs of the fragment, by the name a program calls (a `BTF_KIND_FUNC` of
            /// vmlinux). The `_impl` forms take a trailing hidden `struct bpf_prog_aux *` the
            /// verifier fills in (6.x); since 7.0 (`KF_IMPLICIT_ARGS`) programs call the plain
            /// names, without that argument.
            Kfunc,
            "The BTF function name.",
            { $($(#[$kdoc])* $k = $kname,)* }
        );

        /// `$m!(helper, ... ; kfunc, ...)`: every helper's and kfunc's variant name, given to
        /// macro `$m`.
        macro_rules! with_callees {
            ($d m:ident) => {
                $d m!($($h),* ; $($k),*)
            };
        }
        pub(crate) use with_callees;
    };
}

callees! {$
    helpers {
        MapLookupElem = "bpf_map_lookup_elem",
        MapUpdateElem = "bpf_map_update_elem",
        MapDeleteElem = "bpf_map_delete_elem",
        KtimeGetNs = "bpf_ktime_get_ns",
        GetPrandomU32 = "bpf_get_prandom_u32",
        TimerInit = "bpf_timer_init",
        TimerSetCallback = "bpf_timer_set_callback",
        TimerStart = "bpf_timer_start",
        TimerCancel = "bpf_timer_cancel",
        KptrXchg = "bpf_kptr_xchg",
        /// Sleepable (`might_fault`): the probe of the sleepable rules.
        CopyFromUser = "bpf_copy_from_user",
    }
    kfuncs {
        WqInit = "bpf_wq_init",
        WqStart = "bpf_wq_start",
        /// `bpf_wq_set_callback_impl(wq, cb, flags, aux__prog)` (6.10 to 6.x).
        WqSetCallbackImpl = "bpf_wq_set_callback_impl",
        /// `bpf_wq_set_callback(wq, cb, flags)` (7.0).
        WqSetCallback = "bpf_wq_set_callback",
        /// `bpf_task_work_schedule_signal_impl(task, tw, map, cb, aux__prog)` (6.18).
        TaskWorkScheduleSignalImpl = "bpf_task_work_schedule_signal_impl",
        TaskWorkScheduleResumeImpl = "bpf_task_work_schedule_resume_impl",
        /// `bpf_task_work_schedule_signal(task, tw, map, cb)` (7.0).
        TaskWorkScheduleSignal = "bpf_task_work_schedule_signal",
        TaskWorkScheduleResume = "bpf_task_work_schedule_resume",
        /// `bpf_timer_cancel_async(timer)` (7.0).
        TimerCancelAsync = "bpf_timer_cancel_async",
        /// `KF_ACQUIRE | KF_RET_NULL`: a referenced `struct task_struct *`.
        TaskFromPid = "bpf_task_from_pid",
        /// `KF_RELEASE`.
        TaskRelease = "bpf_task_release",
    }
}

/// What a `call` instruction calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Callee {
    Helper(Helper),
    Kfunc(Kfunc),
    /// A bpf-to-bpf call (`BPF_PSEUDO_CALL`) of a subprogram, by index.
    Subprog(u8),
}

/// What an `ld_imm64` loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Imm64 {
    Const(u64),
    /// `BPF_PSEUDO_MAP_FD`: a map of the case, by index.
    Map(u8),
    /// `BPF_PSEUDO_FUNC`: the address of a subprogram, by index.
    Func(u8),
}

/// One instruction. `ld_imm64` is one `Insn` (two `struct bpf_insn` slots); jump offsets
/// count `Insn`s, and an `ld_imm64` counts as two, as in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Insn {
    Alu {
        op: AluOp,
        dst: Reg,
        src: Operand,
    },
    LdImm64 {
        dst: Reg,
        imm: Imm64,
    },
    /// `dst = *(size *)(src + off)`.
    Load {
        size: Size,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// `*(size *)(dst + off) = src` (`STX` for a register, `ST` for an immediate).
    Store {
        size: Size,
        dst: Reg,
        off: i16,
        src: Operand,
    },
    /// `if dst <cond> src goto +off`.
    JmpIf {
        cond: Cond,
        dst: Reg,
        src: Operand,
        off: i16,
    },
    /// `goto +off`.
    Ja {
        off: i16,
    },
    Call(Callee),
    Exit,
}

impl Insn {
    pub const fn is_ld_imm64(&self) -> bool {
        matches!(self, Insn::LdImm64 { .. })
    }

    /// `struct bpf_insn` slots taken.
    pub const fn slots(&self) -> usize {
        if self.is_ld_imm64() { 2 } else { 1 }
    }
}

/// `func_info` linkage (`BTF_FUNC_STATIC` / `BTF_FUNC_GLOBAL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Linkage {
    Static,
    Global,
}

/// A subprogram: `main` is subprogram 0. Its BTF prototype is `int name(void)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Subprog {
    pub name: String,
    pub linkage: Linkage,
    pub insns: Vec<Insn>,
}

/// A program as `BPF_PROG_LOAD` gets it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Program {
    pub ty: ProgType,
    /// `BPF_F_SLEEPABLE`.
    pub sleepable: bool,
    /// A GPL-compatible license string.
    pub gpl: bool,
    /// BTF `func_info` is passed (one record per subprogram).
    pub func_info: bool,
    pub subprogs: Vec<Subprog>,
}

impl Program {
    /// Every instruction, in slot order.
    pub fn insns(&self) -> impl Iterator<Item = &Insn> {
        self.subprogs.iter().flat_map(|s| &s.insns)
    }

    /// The first slot of each subprogram.
    pub fn starts(&self) -> Vec<usize> {
        let mut at = 0;
        self.subprogs
            .iter()
            .map(|s| {
                let start = at;
                at += s.insns.iter().map(Insn::slots).sum::<usize>();
                start
            })
            .collect()
    }
}

/// A map the program names, created before the load. `inner` of a map-in-map indexes the
/// case's maps (the inner-map template).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MapDecl {
    pub spec: MapSpec,
    /// The map is created with BTF for its key and value (always, when the value holds
    /// special fields).
    pub btf: bool,
}

impl MapDecl {
    /// A map of one entry, with value BTF, no flags and no inner map.
    pub const fn new(kind: crate::op::MapKind, value: crate::op::ValueLayout) -> MapDecl {
        MapDecl {
            spec: MapSpec {
                kind,
                max_entries: 1,
                value,
                flags: crate::op::MapFlags {
                    no_prealloc: false,
                    rdonly_prog: false,
                    wronly_prog: false,
                },
                inner: None,
            },
            btf: true,
        }
    }
}

/// One load: the maps (created first, in order), then the program.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Case {
    pub maps: Vec<MapDecl>,
    pub prog: Program,
}
