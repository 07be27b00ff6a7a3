//! The frame of an async callback as the verifier walks it: the registers it starts with
//! (`set_timer_callback_state`, `set_task_work_schedule_callback_state`), what it may return
//! (`callback_ret_range`) and whether it may sleep (`is_async_cb_sleepable`), per kind of
//! async object.
//!
//! Bounds: a SchedCls program (or a sleepable Syscall one) registering a static callback on
//! the element of a hash map, by `bpf_timer_set_callback`, `bpf_wq_set_callback[_impl]` or
//! `bpf_task_work_schedule_signal[_impl]` (task_work also with another map as its map
//! argument); every era that has the kind; every probe of the callback's registers, every
//! return value of a set of ten covering each range's bounds. Each case goes through
//! `spec::verify::verify` whole; the expected verdict is written here from the kernel's rules,
//! apart from the spec's walk.

use spec::prog::build::Builder;
use spec::prog::{Helper, Imm64, Operand, Reg, Size};
use spec::verify::{Verdict, verify};
use spec::{Era, Field, Kernel, ProgType, RejectReason, layout};

use crate::programs::{Async, Registration, copy_from_user, holding, registering_case};
use crate::universe::any_era;

/// Any kind of async object the era has (the others are pruned).
fn any_kind(era: Era) -> Async {
    let kind: Async = kani::any();
    kani::assume(kind.in_era(&era.features()));
    kind
}

/// What the callback does with the registers it starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, kani::Arbitrary)]
pub enum Probe {
    /// `r0 = r1` .. `r0 = r5`: the register is readable.
    ReadR1,
    ReadR2,
    ReadR3,
    ReadR4,
    ReadR5,
    /// `bpf_map_lookup_elem(r1, r2)`: R1 is a map and R2 a key of it.
    Lookup,
    /// `*(u32 *)(r2 + 0) = 0`: R2 points to a key, which a program may not change.
    WriteKey,
    /// `r0 = *(u64 *)(r3 + off)` at the offset of a timer, wq or task_work: R3 points to the
    /// start of an element's value, whose special fields cannot be loaded.
    LoadTimer,
    LoadWq,
    LoadTaskWork,
}

impl Probe {
    /// The field a load probe reads at.
    const fn loads(self) -> Option<Field> {
        match self {
            Probe::LoadTimer => Some(Field::Timer),
            Probe::LoadWq => Some(Field::Wq),
            Probe::LoadTaskWork => Some(Field::TaskWork),
            _ => None,
        }
    }

    /// The callback: the probe, then `r0 = 0; exit`.
    fn write(self, b: &mut Builder) {
        let read = |b: &mut Builder, r: Reg| {
            b.mov_reg(Reg::R0, r);
        };
        match self {
            Probe::ReadR1 => read(b, Reg::R1),
            Probe::ReadR2 => read(b, Reg::R2),
            Probe::ReadR3 => read(b, Reg::R3),
            Probe::ReadR4 => read(b, Reg::R4),
            Probe::ReadR5 => read(b, Reg::R5),
            Probe::Lookup => {
                b.helper(Helper::MapLookupElem);
            }
            Probe::WriteKey => {
                b.store(Size::W, Reg::R2, 0, Operand::Imm(0));
            }
            Probe::LoadTimer | Probe::LoadWq | Probe::LoadTaskWork => {
                let f = self.loads().expect("a load probe");
                b.load(Size::DW, Reg::R0, Reg::R3, layout::offset(f) as i16);
            }
        }
        b.ret(0);
    }
}

/// verifier.c `push_async_cb` with `set_timer_callback_state` (timer, all eras; wq, 6.10 on)
/// and `set_task_work_schedule_callback_state` (task_work, 6.18 on): an async callback starts
/// with R1 the map, R2 a key and R3 the value of an element, R4 and R5 not initialised; the
/// map is the one of the caller's R1 (the timer's or wq's own element) but for a task_work
/// that of the caller's R3, the kfunc's map argument (found by the verifier differential:
/// regression `task_work_callback_gets_the_map_argument_element`).
#[kani::proof]
#[kani::unwind(6)] // the registering call's argument registers, at most five
pub fn verify_push_async_cb_entry_registers() {
    let era = any_era(|_| true);
    let kind = any_kind(era);
    // task_work only: map 1, which holds a timer and no task_work, as the map argument.
    let map_arg = u8::from(kind == Async::TaskWork && kani::any());
    let probe: Probe = kani::any();
    let reg = Registration {
        map_arg,
        ..Registration::of(kind)
    };
    let f = era.features();
    let c = registering_case(
        &f,
        ProgType::SchedCls,
        false,
        reg,
        |_| {},
        |b| probe.write(b),
    );
    let verdict = verify(&Kernel::new(era), &c);
    // The callback's element: map 0 holds the kind's field, map 1 a timer.
    let elem = match (kind, map_arg) {
        (Async::TaskWork, 1) => holding(Field::Timer),
        _ => holding(kind.field()),
    };
    let expected = match probe {
        Probe::ReadR1 | Probe::ReadR2 | Probe::ReadR3 | Probe::Lookup => Verdict::Accept,
        Probe::ReadR4 | Probe::ReadR5 => Verdict::Reject(RejectReason::UninitRegister),
        Probe::WriteKey => Verdict::Reject(RejectReason::WriteToKey),
        Probe::LoadTimer | Probe::LoadWq | Probe::LoadTaskWork => {
            let f = probe.loads().expect("a load probe");
            if elem.count(f) > 0 {
                Verdict::Reject(RejectReason::SpecialFieldAccess(f))
            } else {
                Verdict::Accept
            }
        }
    };
    assert_eq!(
        verdict, expected,
        "{kind:?} callback, {probe:?}, map m{map_arg}"
    );
    kani::cover!(
        map_arg == 1 && verdict == Verdict::Reject(RejectReason::SpecialFieldAccess(Field::Timer)),
        "a task_work callback on the element of its map argument"
    );
    kani::cover!(
        kind == Async::Wq && probe == Probe::Lookup && verdict == Verdict::Accept,
        "a wq callback looks its own element up"
    );
}

/// What an async callback returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, kani::Arbitrary)]
pub enum Ret {
    Zero,
    One,
    MinusOne,
    S32Min,
    S32Max,
    /// `bpf_get_prandom_u32()`: any of 0 to `u32::MAX`.
    RandomU32,
    /// `ld_imm64` of 2^32.
    TwoPow32,
    /// R1, the map pointer.
    MapPtr,
    /// Nothing: R0 was never written.
    Unset,
}

impl Ret {
    /// `r0 = ..; exit`.
    fn write(self, b: &mut Builder) {
        match self {
            Ret::Zero => b.mov(Reg::R0, 0),
            Ret::One => b.mov(Reg::R0, 1),
            Ret::MinusOne => b.mov(Reg::R0, -1),
            Ret::S32Min => b.mov(Reg::R0, i32::MIN),
            Ret::S32Max => b.mov(Reg::R0, i32::MAX),
            Ret::RandomU32 => b.helper(Helper::GetPrandomU32),
            Ret::TwoPow32 => b.ld(Reg::R0, Imm64::Const(1 << 32)),
            Ret::MapPtr => b.mov_reg(Reg::R0, Reg::R1),
            Ret::Unset => b,
        };
        b.exit();
    }

    /// The smallest and largest value R0 may hold, if a scalar.
    const fn range(self) -> Option<(i64, i64)> {
        match self {
            Ret::Zero => Some((0, 0)),
            Ret::One => Some((1, 1)),
            Ret::MinusOne => Some((-1, -1)),
            Ret::S32Min => Some((i32::MIN as i64, i32::MIN as i64)),
            Ret::S32Max => Some((i32::MAX as i64, i32::MAX as i64)),
            Ret::RandomU32 => Some((0, u32::MAX as i64)),
            Ret::TwoPow32 => Some((1 << 32, 1 << 32)),
            Ret::MapPtr | Ret::Unset => None,
        }
    }
}

/// verifier.c `check_return_code` on leaving an async callback (`in_async_callback_fn`),
/// all eras: R0 must be read-ok ("R0 !read_ok"), a scalar, and within the callback's range:
/// 0 for timer and wq callbacks (`set_timer_callback_state`: `retval_range(0, 0)`; 5.15 to
/// 6.7 `tnum_in(tnum_const(0), ..)`, the same set), any `int` for a task_work callback
/// (`set_task_work_schedule_callback_state`, 6.18: `retval_range(S32_MIN, S32_MAX)`, checked
/// on the 64-bit bounds), else "At async callback return the register R0 ...".
#[kani::proof]
#[kani::unwind(6)] // the registering call's argument registers, at most five
pub fn verify_async_return_range_per_kind() {
    let era = any_era(|_| true);
    let kind = any_kind(era);
    let ret: Ret = kani::any();
    let f = era.features();
    let reg = Registration::of(kind);
    let c = registering_case(&f, ProgType::SchedCls, false, reg, |_| {}, |b| ret.write(b));
    let verdict = verify(&Kernel::new(era), &c);
    let (lo, hi) = match kind {
        Async::Timer | Async::Wq => (0, 0),
        Async::TaskWork => (i64::from(i32::MIN), i64::from(i32::MAX)),
    };
    let expected = match (ret, ret.range()) {
        (Ret::Unset, _) => Verdict::Reject(RejectReason::UninitRegister),
        (_, Some((min, max))) if lo <= min && max <= hi => Verdict::Accept,
        _ => Verdict::Reject(RejectReason::AsyncCbBadReturn),
    };
    assert_eq!(verdict, expected, "{kind:?} callback returning {ret:?}");
    kani::cover!(
        kind == Async::TaskWork && ret == Ret::S32Min && verdict == Verdict::Accept,
        "a task_work callback returns any int"
    );
    kani::cover!(
        kind == Async::Wq && ret == Ret::One && verdict != Verdict::Accept,
        "a wq callback returns 0 only"
    );
}

/// Where the callback case calls `bpf_copy_from_user`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, kani::Arbitrary)]
pub enum Sleeps {
    /// In `main`, first.
    InMain,
    /// In the callback.
    InCallback,
}

/// verifier.c `get_helper_proto`, `push_async_cb` / `is_async_cb_sleepable` and
/// `check_helper_call`'s `fn->might_sleep` check ("helper call might sleep in a non-sleepable
/// prog"), on `bpf_copy_from_user` in `main` or in an async callback.
///
/// The program type must offer the helper: a syscall program (its protos fall back to the
/// tracing ones) always does, a sched_cls one only once `bpf_base_func_proto` has it
/// (ee971630f20f, v6.16; "unknown func" / "program of this type cannot use helper" before).
/// Where it is offered, `main` may sleep exactly when the program is sleepable; a wq or
/// task_work callback always may (a kworker, the task's task_work), whatever the program
/// that registers it; a timer callback (the hrtimer's softirq) never may since 469d638d1520
/// ("bpf: Fix sleepable context for async callbacks", v6.19, in 6.18.y: the spec's 6.18, 7.0
/// and 7.2), but before it may in a sleepable program (`in_sleepable` OR-ed the program's flag
/// in; Debian's 6.12.117 and 6.1.0-56 load it, observed in the VM matrix).
#[kani::proof]
#[kani::unwind(6)] // the registering call's argument registers, at most five
pub fn verify_async_cb_sleepable_per_kind() {
    let era = any_era(|_| true);
    let kind = any_kind(era);
    let sleepable_prog: bool = kani::any();
    let at: Sleeps = kani::any();
    // A Syscall program must be sleepable, a SchedCls one cannot be.
    let ty = if sleepable_prog {
        ProgType::Syscall
    } else {
        ProgType::SchedCls
    };
    let f = era.features();
    let c = registering_case(
        &f,
        ty,
        sleepable_prog,
        Registration::of(kind),
        |b| {
            if at == Sleeps::InMain {
                copy_from_user(b);
            }
        },
        |b| {
            if at == Sleeps::InCallback {
                copy_from_user(b);
            }
            b.ret(0);
        },
    );
    let verdict = verify(&Kernel::new(era), &c);
    let offered = sleepable_prog || f.copy_from_user_for_every_prog_type;
    let timer_cb_sleeps_with_prog = sleepable_prog && !f.async_cb_sleepable_by_kind;
    let may_sleep = match at {
        Sleeps::InMain => sleepable_prog,
        Sleeps::InCallback => kind != Async::Timer || timer_cb_sleeps_with_prog,
    };
    let expected = if !offered {
        Verdict::Reject(RejectReason::UnknownFunc("bpf_copy_from_user"))
    } else if may_sleep {
        Verdict::Accept
    } else {
        Verdict::Reject(RejectReason::HelperMightSleep)
    };
    assert_eq!(
        verdict, expected,
        "{era}: {kind:?} callback, sleepable program: {sleepable_prog}, {at:?}"
    );
    kani::cover!(
        sleepable_prog && kind == Async::Timer && at == Sleeps::InCallback && !may_sleep,
        "a sleepable program's timer callback may not sleep"
    );
    kani::cover!(
        kind == Async::Timer && at == Sleeps::InCallback && timer_cb_sleeps_with_prog,
        "a sleepable program's timer callback sleeps, before the fix"
    );
    kani::cover!(
        !sleepable_prog && kind != Async::Timer && verdict == Verdict::Accept,
        "a non-sleepable program's wq / task_work callback sleeps"
    );
    kani::cover!(
        !offered && kind == Async::Wq && at == Sleeps::InCallback,
        "a sched_cls program's wq callback without bpf_copy_from_user"
    );
}
