//! Verifier cases for the verifier harnesses, built from small `Copy` descriptions: the
//! shapes of `check_max_stack_depth`'s call graphs, of `bpf_timer_init`'s arguments, and of
//! the registration of an async callback.

use spec::prog::build::Builder;
use spec::prog::{
    Callee, Case, Cond, Helper, Kfunc, Linkage, MapDecl, Operand, Program, Reg, Size, Subprog,
};
use spec::{Features, Field, MapKind, ProgType, ValueLayout, layout};

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

    /// What the frame costs a call chain.
    pub const fn cost(self) -> i64 {
        stack_cost(self.bytes())
    }

    /// Write the deepest 8 bytes of the frame.
    pub fn touch(self, b: &mut Builder) {
        if self.bytes() > 0 {
            let off = i16::try_from(-self.bytes()).expect("a frame is at most 512 bytes");
            b.store(Size::DW, Reg::FP, off, Operand::Imm(0));
        }
    }
}

/// `round_up_stack_depth` with the JIT on: what a frame whose deepest byte is `bytes` below
/// `r10` costs a call chain.
pub const fn stack_cost(bytes: i64) -> i64 {
    (bytes + 15) / 16 * 16
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

/// A case of `maps` and `n` subprograms, `main` and the static `f1` to `f<n-1>`: `body`
/// writes subprogram `i`, which then returns 0.
pub fn subprogs_case(maps: Vec<MapDecl>, n: usize, body: impl Fn(usize, &mut Builder)) -> Case {
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
    case(maps, main, subprogs.collect())
}

/// The async object whose callback a case registers, by the function the era's BTF has for
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, kani::Arbitrary)]
pub enum Async {
    /// `bpf_timer_set_callback(timer, cb)`.
    Timer,
    /// `bpf_wq_set_callback_impl(wq, cb, flags, aux__prog)` (6.10 to 6.x),
    /// `bpf_wq_set_callback(wq, cb, flags)` (7.0).
    Wq,
    /// `bpf_task_work_schedule_signal_impl(task, tw, map, cb, aux__prog)` (6.18),
    /// `bpf_task_work_schedule_signal(task, tw, map, cb)` (7.0).
    TaskWork,
}

/// What an argument register of the registering call is set to.
#[derive(Clone, Copy)]
enum ArgVal {
    /// The referenced task.
    Task,
    /// The element's field of the kind.
    Field,
    /// The registration's map argument (`ld_imm64` of its fd).
    Map,
    /// The callback, subprogram 1.
    Callback,
    /// A constant: flags, or the hidden `aux__prog` (NULL: the verifier fills it in).
    Zero,
}

impl Async {
    /// The field that holds it.
    pub const fn field(self) -> Field {
        match self {
            Async::Timer => Field::Timer,
            Async::Wq => Field::Wq,
            Async::TaskWork => Field::TaskWork,
        }
    }

    /// Whether the era has it.
    pub const fn in_era(self, f: &Features) -> bool {
        match self {
            Async::Timer => true,
            Async::Wq => f.wq,
            Async::TaskWork => f.task_work,
        }
    }

    /// The function a program of this era calls to register the callback: the `_impl` form
    /// on 6.x, the plain one with `KF_IMPLICIT_ARGS` (7.0).
    pub const fn registrar(self, f: &Features) -> Callee {
        let implicit = f.implicit_kfunc_args;
        match self {
            Async::Timer => Callee::Helper(Helper::TimerSetCallback),
            Async::Wq if implicit => Callee::Kfunc(Kfunc::WqSetCallback),
            Async::Wq => Callee::Kfunc(Kfunc::WqSetCallbackImpl),
            Async::TaskWork if implicit => Callee::Kfunc(Kfunc::TaskWorkScheduleSignal),
            Async::TaskWork => Callee::Kfunc(Kfunc::TaskWorkScheduleSignalImpl),
        }
    }

    /// The registering call's arguments from R1 on, as the kernel's selftests pass them: the
    /// visible ones, then a NULL for the hidden `aux__prog` of an `_impl` form.
    fn args(self, f: &Features) -> &'static [ArgVal] {
        use ArgVal::*;
        match (self, f.implicit_kfunc_args) {
            (Async::Timer, _) => &[Field, Callback],
            (Async::Wq, true) => &[Field, Callback, Zero],
            (Async::Wq, false) => &[Field, Callback, Zero, Zero],
            (Async::TaskWork, true) => &[Task, Field, Map, Callback],
            (Async::TaskWork, false) => &[Task, Field, Map, Callback, Zero],
        }
    }
}

/// How [`registering_case`] registers the callback.
#[derive(Clone, Copy, Debug)]
pub struct Registration {
    pub kind: Async,
    /// The map argument of `bpf_task_work_schedule_*`: map 0, whose element holds the
    /// task_work, or map 1, which holds only a timer (and so passes the map check of
    /// `check_kfunc_args`' `KF_ARG_PTR_TO_MAP`, which looks for a wq or task_work).
    pub map_arg: u8,
    /// An argument register the program leaves unset (`None`: it sets them all).
    pub unset: Option<Reg>,
}

impl Registration {
    /// Every argument set, the map argument the field's own map.
    pub const fn of(kind: Async) -> Registration {
        Registration {
            kind,
            map_arg: 0,
            unset: None,
        }
    }
}

/// `main`'s register holding the element the lookup found.
const ELEM: Reg = Reg::R6;
/// `main`'s register holding the task `bpf_task_from_pid` gave (task_work only).
const TASK: Reg = Reg::R7;

/// A GPL case of program type `ty` whose `main` (started by `before`) looks up the element
/// of map 0 (a hash map whose value holds the kind's field; map 1 is a hash map whose value
/// holds a timer only), takes a referenced task for a task_work (and releases it after), and
/// registers subprogram 1 (static, written by `callback`, which must end in `exit`) as the
/// callback by `reg`.
pub fn registering_case(
    f: &Features,
    ty: ProgType,
    sleepable: bool,
    reg: Registration,
    before: impl FnOnce(&mut Builder),
    callback: impl FnOnce(&mut Builder),
) -> Case {
    let field_map = MapDecl::new(MapKind::Hash, holding(reg.kind.field()));
    let timer_map = MapDecl::new(MapKind::Hash, holding(Field::Timer));
    let mut b = Builder::default();
    let done = b.label();
    before(&mut b);
    b.lookup(0).jump_if(Cond::Eq, Reg::R0, 0, done);
    b.mov_reg(ELEM, Reg::R0);
    if reg.kind == Async::TaskWork {
        b.mov(Reg::R1, 1).kfunc(Kfunc::TaskFromPid);
        b.jump_if(Cond::Eq, Reg::R0, 0, done).mov_reg(TASK, Reg::R0);
    }
    for (&arg, r) in reg.kind.args(f).iter().zip(Reg::ARGS) {
        if reg.unset == Some(r) {
            continue;
        }
        match arg {
            ArgVal::Task => b.mov_reg(r, TASK),
            ArgVal::Field => b
                .mov_reg(r, ELEM)
                .add(r, layout::offset(reg.kind.field()) as i32),
            ArgVal::Map => b.map(r, reg.map_arg),
            ArgVal::Callback => b.func(r, 1),
            ArgVal::Zero => b.mov(r, 0),
        };
    }
    b.call(reg.kind.registrar(f));
    if reg.kind == Async::TaskWork {
        b.mov_reg(Reg::R1, TASK).kfunc(Kfunc::TaskRelease);
    }
    b.at(done).ret(0);
    let main = b.finish("main", Linkage::Global);
    callback(&mut b);
    let cb = static_subprog(&mut b, 1);
    let mut c = case(vec![field_map, timer_map], main, vec![cb]);
    c.prog.ty = ty;
    c.prog.sleepable = sleepable;
    c
}

/// A value holding one `f`.
pub fn holding(f: Field) -> ValueLayout {
    let mut v = ValueLayout::default();
    match f {
        Field::Timer => v.timer = 1,
        Field::Wq => v.wq = 1,
        Field::TaskWork => v.task_work = 1,
        Field::Kptr => v.kptr = 1,
        Field::KptrUntrusted => v.kptr_untrusted = 1,
        Field::SpinLock => v.spin_lock = 1,
    }
    v
}

/// `bpf_copy_from_user(r10 - 16, 8, NULL)`: a helper that might sleep (`fn->might_sleep`).
pub fn copy_from_user(b: &mut Builder) {
    b.mov_reg(Reg::R1, Reg::FP)
        .add(Reg::R1, -16)
        .mov(Reg::R2, 8)
        .mov(Reg::R3, 0)
        .helper(Helper::CopyFromUser);
}
