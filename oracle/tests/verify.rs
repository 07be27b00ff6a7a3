//! The kernel side of the verifier differential (`oracle::verify`) on the real kernel: small
//! hand-written cases, each with the verdict this kernel gives and the reason the message
//! table makes of its log. These are facts about the kernel, verified by running; each case
//! says which kernel message it stands for. Without bpf() each test prints `SKIPPED: <reason>`
//! and asserts nothing more, never a silent pass.
//!
//! Kernel hygiene: programs are only loaded, never run; every fd is closed (checked).

use oracle::verify::{self, Loaded};
use oracle::{Census, Host};
use spec::prog::build::Builder;
use spec::prog::{
    AluOp, Callee, Case, Cond, Helper, Insn, Kfunc, Linkage, MapDecl, Operand, Program, Reg, Size,
    Subprog,
};
use spec::verify::Verdict;
use std::sync::{Mutex, MutexGuard, PoisonError};

use spec::{Errno, Field, MapKind, ProgType, RejectReason, ValueLayout};

/// The tests of this file run one at a time, so that the fd count one of them checks is its
/// own.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The kernel, held by one test at a time.
struct Kernel {
    host: Host,
    _serial: MutexGuard<'static, ()>,
}

impl std::ops::Deref for Kernel {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.host
    }
}

/// The kernel, or `None` after saying loudly why not.
fn host() -> Option<Kernel> {
    let serial = serial();
    match Host::probe() {
        Ok(host) => Some(Kernel {
            host,
            _serial: serial,
        }),
        Err(e) => {
            eprintln!("SKIPPED: the kernel oracle is unavailable: {e}");
            None
        }
    }
}

const R0: Reg = Reg::R0;
const R1: Reg = Reg::R1;
const R2: Reg = Reg::R2;
const R3: Reg = Reg::R3;
const R6: Reg = Reg::R6;
const FP: Reg = Reg::FP;

fn timer_map() -> MapDecl {
    MapDecl::new(
        MapKind::Array,
        ValueLayout {
            timer: 1,
            ..ValueLayout::default()
        },
    )
}

fn program(ty: ProgType, subprogs: Vec<Subprog>) -> Program {
    Program {
        ty,
        sleepable: ty == ProgType::Syscall,
        gpl: true,
        func_info: true,
        subprogs,
    }
}

const TIMER: i32 = spec::layout::offset(Field::Timer) as i32;
const KPTR: i16 = spec::layout::offset(Field::Kptr) as i16;
const CLOCK_MONOTONIC: i32 = 1;

/// `timer_init(&v->timer + timer_off, map init_map)`, `set_callback(cb)`, `start(1000)`
/// on element 0 of map 0, then `return 0`; subprogram 1 is the callback.
fn timer_main(timer_off: i32, init_map: u8, cb: u8) -> Subprog {
    let mut b = Builder::default();
    let out = b.label();
    b.lookup(0)
        .jump_if(Cond::Eq, R0, 0, out)
        .mov_reg(R6, R0)
        .add(R6, timer_off)
        .mov_reg(R1, R6)
        .map(R2, init_map)
        .mov(R3, CLOCK_MONOTONIC)
        .helper(Helper::TimerInit)
        .mov_reg(R1, R6)
        .func(R2, cb)
        .helper(Helper::TimerSetCallback)
        .mov_reg(R1, R6)
        .mov(R2, 1000)
        .mov(R3, 0)
        .helper(Helper::TimerStart)
        .at(out)
        .ret(0)
        .finish("main", Linkage::Global)
}

fn static_cb(ret: i32) -> Subprog {
    Builder::default().ret(ret).finish("cb", Linkage::Static)
}

/// The accepted timer program: lookup, `timer_init` with the map, `set_callback` with a
/// static callback returning 0, `start`, exit.
fn timer_case() -> Case {
    Case {
        maps: vec![timer_map()],
        prog: program(
            ProgType::SchedCls,
            vec![timer_main(TIMER, 0, 1), static_cb(0)],
        ),
    }
}

fn load(host: &Host, case: &Case) -> Loaded {
    let l = verify::load(host, case);
    eprintln!(
        "verdict: {}  errno: {:?}\n{}\n---",
        l.verdict,
        l.errno,
        l.log.as_deref().unwrap_or("(no log)")
    );
    l
}

/// Load `case`, expect a rejection for `want`, and check that the kernel's verdict line
/// holds `line` (the message the reason stands for).
fn rejects(host: &Host, case: &Case, want: RejectReason, line: &str) {
    let l = load(host, case);
    assert_eq!(l.verdict, Verdict::Reject(want), "log:\n{:?}", l.log);
    let log = l.log.expect("a rejected load has a log");
    let verdict = oracle::messages::verdict_line(&log).expect("a verdict line");
    assert!(
        verdict.contains(line),
        "verdict line `{verdict}` does not hold `{line}`"
    );
}

#[test]
fn timer_program_is_accepted() {
    let Some(host) = host() else { return };
    let l = load(&host, &timer_case());
    assert_eq!(l.verdict, Verdict::Accept);
    assert_eq!(l.log, None);
}

#[test]
fn uninit_register_read() {
    let Some(host) = host() else { return };
    let case = Case {
        maps: vec![],
        prog: program(
            ProgType::SchedCls,
            vec![
                Builder::default()
                    .mov_reg(R0, R2)
                    .exit()
                    .finish("main", Linkage::Global),
            ],
        ),
    };
    rejects(&host, &case, RejectReason::UninitRegister, "R2 !read_ok");
}

/// `*(u64 *)(lookup(m, &key) + 0)` without a NULL check.
fn deref_lookup(m: MapDecl, key: i32) -> Case {
    let main = Builder::default()
        .mov(R1, key)
        .store(Size::W, FP, -4, Operand::Reg(R1))
        .mov_reg(R2, FP)
        .add(R2, -4)
        .map(R1, 0)
        .helper(Helper::MapLookupElem)
        .load(Size::DW, R1, R0, 0)
        .ret(0)
        .finish("main", Linkage::Global);
    Case {
        maps: vec![m],
        prog: program(ProgType::SchedCls, vec![main]),
    }
}

#[test]
fn lookup_result_dereferenced_without_null_check() {
    let Some(host) = host() else { return };
    let hash = MapDecl::new(MapKind::Hash, ValueLayout::default());
    rejects(
        &host,
        &deref_lookup(hash, 0),
        RejectReason::PossiblyNullDeref,
        "R0 invalid mem access 'map_value_or_null'",
    );
    // An array lookup with a constant key past `max_entries` may be NULL.
    let array = MapDecl::new(MapKind::Array, ValueLayout::default());
    rejects(
        &host,
        &deref_lookup(array, 1),
        RejectReason::PossiblyNullDeref,
        "R0 invalid mem access 'map_value_or_null'",
    );
}

/// An array lookup with a constant key below `max_entries` cannot be NULL, and the verifier
/// knows it (verifier.c `can_elide_value_nullness`: "bpf: verifier: Support eliding map
/// lookup nullness", v6.14): R0 is a `map_value`, its dereference is accepted.
#[test]
fn array_lookup_with_constant_key_in_range_is_not_null() {
    let Some(host) = host() else { return };
    let (major, minor) = {
        let r = &host.detection.release;
        let mut it = r
            .split(|c: char| !c.is_ascii_digit())
            .map(|x| x.parse::<u32>());
        (
            it.next().and_then(Result::ok).unwrap_or(0),
            it.next().and_then(Result::ok).unwrap_or(0),
        )
    };
    let array = MapDecl::new(MapKind::Array, ValueLayout::default());
    let want = if (major, minor) >= (6, 14) {
        Verdict::Accept
    } else {
        Verdict::Reject(RejectReason::PossiblyNullDeref)
    };
    assert_eq!(load(&host, &deref_lookup(array, 0)).verdict, want);
}

#[test]
fn timer_at_wrong_offset() {
    let Some(host) = host() else { return };
    let case = Case {
        maps: vec![timer_map()],
        prog: program(
            ProgType::SchedCls,
            vec![timer_main(TIMER + 8, 0, 1), static_cb(0)],
        ),
    };
    rejects(
        &host,
        &case,
        RejectReason::FieldOffsetMismatch(Field::Timer),
        "doesn't point to 'struct bpf_timer' that is at 8",
    );
}

#[test]
fn timer_init_with_another_map() {
    let Some(host) = host() else { return };
    let case = Case {
        maps: vec![timer_map(), timer_map()],
        prog: program(
            ProgType::SchedCls,
            vec![timer_main(TIMER, 1, 1), static_cb(0)],
        ),
    };
    rejects(
        &host,
        &case,
        RejectReason::MapMismatch(Field::Timer),
        "timer pointer in R1 map_uid=0 doesn't match map pointer in R2 map_uid=0",
    );
}

#[test]
fn timer_callback_returning_one() {
    let Some(host) = host() else { return };
    let case = Case {
        maps: vec![timer_map()],
        prog: program(
            ProgType::SchedCls,
            vec![timer_main(TIMER, 0, 1), static_cb(1)],
        ),
    };
    rejects(
        &host,
        &case,
        RejectReason::AsyncCbBadReturn,
        "At async callback return the register R0 has smin=1 smax=1 should have been in [0, 0]",
    );
}

#[test]
fn global_callback() {
    let Some(host) = host() else { return };
    let cb = Builder::default().ret(0).finish("cb", Linkage::Global);
    let case = Case {
        maps: vec![timer_map()],
        prog: program(ProgType::SchedCls, vec![timer_main(TIMER, 0, 1), cb]),
    };
    rejects(
        &host,
        &case,
        RejectReason::CallbackNotStatic,
        "callback function not static",
    );
}

#[test]
fn callback_without_func_info() {
    let Some(host) = host() else { return };
    let mut case = timer_case();
    case.prog.func_info = false;
    rejects(
        &host,
        &case,
        RejectReason::MissingFuncInfo,
        "missing btf func_info",
    );
}

#[test]
fn copy_from_user_in_timer_callback_of_sleepable_prog() {
    let Some(host) = host() else { return };
    let cb = Builder::default()
        .mov_reg(R1, FP)
        .add(R1, -8)
        .mov(R2, 8)
        .mov(R3, 0)
        .helper(Helper::CopyFromUser)
        .ret(0)
        .finish("cb", Linkage::Static);
    let case = Case {
        maps: vec![timer_map()],
        prog: program(ProgType::Syscall, vec![timer_main(TIMER, 0, 1), cb]),
    };
    assert!(case.prog.sleepable);
    rejects(
        &host,
        &case,
        RejectReason::HelperMightSleep,
        "helper call might sleep in a non-sleepable prog",
    );
}

#[test]
fn kptr_stored_directly() {
    let Some(host) = host() else { return };
    let kptr_map = MapDecl::new(
        MapKind::Array,
        ValueLayout {
            kptr: 1,
            ..ValueLayout::default()
        },
    );
    let mut b = Builder::default();
    let out = b.label();
    let main = b
        .lookup(0)
        .jump_if(Cond::Eq, R0, 0, out)
        .mov(R1, 0)
        .store(Size::DW, R0, KPTR, Operand::Reg(R1))
        .at(out)
        .ret(0)
        .finish("main", Linkage::Global);
    let case = Case {
        maps: vec![kptr_map],
        prog: program(ProgType::SchedCls, vec![main]),
    };
    rejects(
        &host,
        &case,
        RejectReason::KptrStoreToReferenced,
        "store to referenced kptr disallowed",
    );
}

#[test]
fn acquired_task_not_released() {
    let Some(host) = host() else { return };
    let main = Builder::default()
        .mov(R1, 1)
        .kfunc(Kfunc::TaskFromPid)
        .ret(0)
        .finish("main", Linkage::Global);
    let case = Case {
        maps: vec![],
        prog: program(ProgType::SchedCls, vec![main]),
    };
    // 6.18: check_reference_leak's line, then check_resource_leak's follow-up "BPF_EXIT
    // instruction in main prog would lead to reference leak".
    rejects(
        &host,
        &case,
        RejectReason::UnreleasedReference,
        "Unreleased reference id=2 alloc_insn=1",
    );
}

#[test]
fn kfunc_this_kernel_lacks_is_unknown_without_a_load() {
    let Some(host) = host() else { return };
    let Some(missing) = Kfunc::ALL
        .into_iter()
        .find(|&k| host.funcs.kfunc(k).is_none())
    else {
        eprintln!("SKIPPED: this kernel has every kfunc of the program model");
        return;
    };
    let main = Builder::default()
        .kfunc(missing)
        .ret(0)
        .finish("main", Linkage::Global);
    let case = Case {
        maps: vec![],
        prog: program(ProgType::SchedCls, vec![main]),
    };
    let l = load(&host, &case);
    assert_eq!(
        l.verdict,
        Verdict::Reject(RejectReason::UnknownFunc(missing.kernel_name()))
    );
    assert_eq!(l.log, None, "no load, no log");
}

#[test]
fn map_creation_failure_is_typed() {
    let Some(host) = host() else { return };
    let mut bad = timer_map();
    bad.spec.max_entries = 0;
    let case = Case {
        maps: vec![timer_map(), bad],
        prog: timer_case().prog,
    };
    let l = load(&host, &case);
    assert_eq!(
        l.verdict,
        Verdict::MapCreate {
            map: 1,
            errno: Errno::EINVAL
        }
    );
}

#[test]
fn attach_target_program_types_are_unsupported() {
    let Some(host) = host() else { return };
    for ty in [ProgType::Tracing, ProgType::Lsm] {
        let mut case = timer_case();
        case.prog.ty = ty;
        assert!(matches!(
            verify::load(&host, &case).verdict,
            Verdict::Unsupported(_)
        ));
    }
}

/// Every fd a load opens is closed: the process's fd count is what it was once the host (and
/// its BTF caches) is gone, and repeated loads on a warm host leave it where it was. Every
/// kernel object a load makes (maps, BTF, programs) is held by an fd of this process and
/// nothing is pinned, so the fd count is the leak check; the live BPF programs and maps are
/// counted system-wide too (other processes may change those: reported, not asserted).
#[test]
fn loads_leak_no_fd() {
    let serial = serial();
    let before = Census::take();
    let host = match Host::probe() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("SKIPPED: the kernel oracle is unavailable: {e}");
            return;
        }
    };
    let cases: Vec<Case> = {
        let mut no_fi = timer_case();
        no_fi.prog.func_info = false;
        let mut bad_map = timer_case();
        bad_map.maps[0].spec.max_entries = 0;
        vec![
            timer_case(),
            no_fi,
            bad_map,
            Case {
                maps: vec![timer_map()],
                prog: program(
                    ProgType::SchedCls,
                    vec![timer_main(TIMER, 0, 1), static_cb(1)],
                ),
            },
        ]
    };
    for c in &cases {
        verify::load(&host, c);
    }
    let warm = oracle::sys::open_fds();
    for _ in 0..20 {
        for c in &cases {
            verify::load(&host, c);
        }
    }
    assert_eq!(
        oracle::sys::open_fds(),
        warm,
        "fds leaked by repeated loads"
    );
    drop(host);
    let after = Census::settled(before);
    assert_eq!(
        after.fds, before.fds,
        "census before: {before}; after: {after}"
    );
    if after != before {
        eprintln!("note: system-wide BPF objects changed (other processes?): {before} -> {after}");
    }
    drop(serial);
}

/// `bpf_kptr_xchg(r0 + off, NULL)` on the looked-up element.
fn xchg_null(b: &mut Builder, off: impl Into<i64>) -> &mut Builder {
    b.mov_reg(R1, R0)
        .add(R1, off.into() as i32)
        .mov(R2, 0)
        .helper(Helper::KptrXchg)
}

/// More of the table, each entry against this kernel: `(what, case, reason, verdict line
/// fragment)`. Every case is loaded and every mismatch reported before the test fails.
#[test]
fn the_table_names_what_this_kernel_prints() {
    let Some(host) = host() else { return };
    let main = |b: &mut Builder| b.finish("main", Linkage::Global);
    let prog = |subprogs: Vec<Subprog>| program(ProgType::SchedCls, subprogs);
    let one = |maps: Vec<MapDecl>, b: &mut Builder| Case {
        maps,
        prog: prog(vec![main(b)]),
    };
    let value = |f: fn(&mut ValueLayout)| {
        let mut v = ValueLayout::default();
        f(&mut v);
        MapDecl::new(MapKind::Array, v)
    };
    let kptr_map = || value(|v| v.kptr = 1);
    let untrusted_map = || value(|v| v.kptr_untrusted = 1);
    let wq_map = || value(|v| v.wq = 1);
    const WQ: i32 = spec::layout::offset(Field::Wq) as i32;
    const UNTRUSTED: i32 = spec::layout::offset(Field::KptrUntrusted) as i32;
    let vs = spec::layout::value_size(&ValueLayout::default()) as i16;
    // `if r0 == 0 goto out` after a lookup of map 0, then `body`, `out: return 0`.
    let checked = |maps: Vec<MapDecl>, body: fn(&mut Builder) -> &mut Builder| {
        let mut b = Builder::default();
        let out = b.label();
        b.lookup(0).jump_if(Cond::Eq, R0, 0, out);
        one(maps, body(&mut b).at(out).ret(0))
    };
    let mut no_gpl = timer_case();
    no_gpl.prog.gpl = false;
    let mut no_btf = timer_map();
    no_btf.btf = false;
    let mut kfunc_no_gpl = one(
        vec![],
        Builder::default()
            .mov(R1, 1)
            .kfunc(Kfunc::TaskFromPid)
            .ret(0),
    );
    kfunc_no_gpl.prog.gpl = false;
    let mut not_sleepable = one(vec![], Builder::default().ret(0));
    not_sleepable.prog.ty = ProgType::Syscall;
    // A chain of 9 frames: main calls f1, f1 calls f2, ... f8 (MAX_CALL_FRAMES is 8).
    let deep: Vec<Subprog> = (0..9u8)
        .map(|i| {
            let mut b = Builder::default();
            if i < 8 {
                b.call(Callee::Subprog(i + 1));
            }
            b.ret(0);
            let name = if i == 0 {
                "main".to_owned()
            } else {
                format!("f{i}")
            };
            let linkage = if i == 0 {
                Linkage::Global
            } else {
                Linkage::Static
            };
            b.finish(&name, linkage)
        })
        .collect();
    let big_frame = |name: &str, call: Option<u8>| {
        let mut b = Builder::default();
        b.store(Size::DW, FP, -512, Operand::Imm(0));
        if let Some(s) = call {
            b.call(Callee::Subprog(s));
        }
        let linkage = if call.is_some() {
            Linkage::Global
        } else {
            Linkage::Static
        };
        b.ret(0).finish(name, linkage)
    };
    let key_writer = Builder::default()
        .store(Size::W, R2, 0, Operand::Imm(0))
        .ret(0)
        .finish("cb", Linkage::Static);
    let cases: Vec<(&str, Case, RejectReason, &str)> = vec![
        (
            "write to r10",
            one(vec![], Builder::default().mov(FP, 0).ret(0)),
            RejectReason::FramePointerReadOnly,
            "frame pointer is read only",
        ),
        (
            "load through a scalar",
            one(
                vec![],
                Builder::default()
                    .mov(R1, 0)
                    .load(Size::DW, R0, R1, 0)
                    .exit(),
            ),
            RejectReason::InvalidMemAccess,
            "R1 invalid mem access 'scalar'",
        ),
        (
            "arithmetic on a maybe-NULL lookup",
            one(
                vec![MapDecl::new(MapKind::Hash, ValueLayout::default())],
                Builder::default().lookup(0).add(R0, 8).ret(0),
            ),
            RejectReason::PossiblyNullDeref,
            "R0 pointer arithmetic on map_value_or_null prohibited, null-check it first",
        ),
        (
            "load past the value",
            checked(
                vec![MapDecl::new(MapKind::Array, ValueLayout::default())],
                |b| b.load(Size::DW, R1, R0, 72),
            ),
            RejectReason::MapValueOutOfBounds,
            "invalid access to map value, value_size=72 off=72 size=8",
        ),
        (
            "store below the stack",
            one(
                vec![],
                Builder::default()
                    .store(Size::DW, FP, -520, Operand::Imm(0))
                    .ret(0),
            ),
            RejectReason::StackOutOfBounds,
            "invalid write to stack R10 off=-520 size=8",
        ),
        (
            "timer_init of a scalar",
            one(
                vec![timer_map()],
                Builder::default()
                    .mov(R1, 0)
                    .map(R2, 0)
                    .mov(R3, 0)
                    .helper(Helper::TimerInit)
                    .ret(0),
            ),
            RejectReason::ArgTypeMismatch,
            "R1 type=scalar expected=map_value",
        ),
        (
            "store into the timer",
            checked(vec![timer_map()], |b| {
                b.store(Size::DW, R0, TIMER as i16, Operand::Imm(0))
            }),
            RejectReason::SpecialFieldAccess(Field::Timer),
            "bpf_timer cannot be accessed directly by load/store",
        ),
        (
            "timer of a map without BTF",
            Case {
                maps: vec![no_btf],
                prog: timer_case().prog,
            },
            RejectReason::MapNeedsBtf(Field::Timer),
            "has to have BTF in order to use bpf_timer",
        ),
        (
            "timer of a map without one",
            Case {
                maps: vec![MapDecl::new(MapKind::Array, ValueLayout::default())],
                prog: timer_case().prog,
            },
            RejectReason::NoValidField(Field::Timer),
            "has no valid bpf_timer",
        ),
        (
            "timer at a variable offset",
            checked(vec![timer_map()], |b| {
                b.mov_reg(R6, R0)
                    .helper(Helper::GetPrandomU32)
                    .alu(AluOp::And, R0, 8)
                    .op(Insn::Alu {
                        op: AluOp::Add,
                        dst: R6,
                        src: Operand::Reg(R0),
                    })
                    .mov_reg(R1, R6)
                    .map(R2, 0)
                    .mov(R3, 0)
                    .helper(Helper::TimerInit)
            }),
            RejectReason::FieldNotConstOffset(Field::Timer),
            "doesn't have constant offset. bpf_timer has to be at the constant offset",
        ),
        (
            "jump past the end",
            one(vec![], Builder::default().op(Insn::Ja { off: 5 }).ret(0)),
            RejectReason::JumpOutOfRange,
            "jump out of range from insn 0 to 6",
        ),
        (
            "dead code",
            one(vec![], Builder::default().ret(0).ret(1)),
            RejectReason::UnreachableInsn,
            "unreachable insn 2",
        ),
        (
            "no exit",
            one(vec![], Builder::default().mov(R0, 0)),
            RejectReason::FallsOffEnd,
            "last insn is not an exit or jmp",
        ),
        (
            "timer helpers from a proprietary program",
            no_gpl,
            RejectReason::GplOnly("bpf_timer_init"),
            "cannot call GPL-restricted function from non-GPL compatible program",
        ),
        (
            "kfunc from a proprietary program",
            kfunc_no_gpl,
            RejectReason::GplOnly("bpf_task_from_pid"),
            "cannot call kernel function from non-GPL compatible program",
        ),
        (
            "syscall program not sleepable",
            not_sleepable,
            RejectReason::SyscallNotSleepable,
            "Syscall programs can only be sleepable",
        ),
        (
            "u32 load of a kptr",
            checked(vec![kptr_map()], |b| b.load(Size::W, R1, R0, KPTR)),
            RejectReason::KptrBadSize,
            "kptr access size must be BPF_DW",
        ),
        (
            "kptr load across its start",
            checked(vec![kptr_map()], |b| b.load(Size::DW, R1, R0, KPTR - 4)),
            RejectReason::KptrMisaligned,
            "kptr access misaligned expected=48 off=44",
        ),
        (
            "kptr_xchg into an untrusted kptr",
            checked(vec![untrusted_map()], |b| xchg_null(b, UNTRUSTED)),
            RejectReason::KptrNotReferenced,
            "kptr isn't referenced kptr",
        ),
        (
            "kptr_xchg where no kptr is",
            checked(vec![untrusted_map()], |b| xchg_null(b, KPTR)),
            RejectReason::FieldOffsetMismatch(Field::Kptr),
            "off=48 doesn't point to kptr",
        ),
        (
            "kptr_xchg on a map without BTF",
            checked(
                vec![MapDecl {
                    btf: false,
                    ..kptr_map()
                }],
                |b| xchg_null(b, KPTR),
            ),
            RejectReason::MapNeedsBtf(Field::Kptr),
            "has to have BTF in order to use bpf_kptr_xchg",
        ),
        (
            "kptr_xchg on a map without kptrs",
            checked(vec![timer_map()], |b| xchg_null(b, KPTR)),
            RejectReason::NoValidField(Field::Kptr),
            "has no valid kptr",
        ),
        (
            "scalar stored into an untrusted kptr",
            checked(vec![untrusted_map()], |b| {
                b.mov(R1, 1)
                    .store(Size::DW, R0, UNTRUSTED as i16, Operand::Reg(R1))
            }),
            RejectReason::KptrBadStore,
            "invalid kptr access, R1 type=scalar",
        ),
        (
            "non-zero immediate stored into an untrusted kptr",
            checked(vec![untrusted_map()], |b| {
                b.store(Size::DW, R0, UNTRUSTED as i16, Operand::Imm(1))
            }),
            RejectReason::KptrBadStore,
            "BPF_ST imm must be 0 when storing to kptr at off=56",
        ),
        (
            "maybe-NULL task released",
            one(
                vec![],
                Builder::default()
                    .mov(R1, 1)
                    .kfunc(Kfunc::TaskFromPid)
                    .mov_reg(R1, R0)
                    .kfunc(Kfunc::TaskRelease)
                    .ret(0),
            ),
            RejectReason::NullPointerArg,
            "Possibly NULL pointer passed to trusted",
        ),
        (
            "nine frames",
            Case {
                maps: vec![],
                prog: prog(deep),
            },
            RejectReason::CallStackTooDeep,
            "the call stack of 9 frames is too deep",
        ),
        (
            "two 512-byte frames",
            Case {
                maps: vec![],
                prog: prog(vec![big_frame("main", Some(1)), big_frame("f", None)]),
            },
            RejectReason::CombinedStackTooLarge,
            "combined stack size of 2 calls is 1024. Too large",
        ),
        (
            "timer callback writes its key",
            Case {
                maps: vec![timer_map()],
                prog: prog(vec![timer_main(TIMER, 0, 1), key_writer]),
            },
            RejectReason::WriteToKey,
            "write to change key R2 not allowed",
        ),
        (
            "wq_init of a stack pointer",
            one(
                vec![wq_map()],
                Builder::default()
                    .mov_reg(R1, FP)
                    .add(R1, -16)
                    .map(R2, 0)
                    .mov(R3, 0)
                    .kfunc(Kfunc::WqInit)
                    .ret(0),
            ),
            RejectReason::NotMapValue,
            "doesn't point to a map value",
        ),
        (
            "wq_init with a scalar for the map",
            checked(vec![wq_map()], |b| {
                b.mov_reg(R1, R0)
                    .add(R1, WQ)
                    .mov(R2, 0)
                    .mov(R3, 0)
                    .kfunc(Kfunc::WqInit)
            }),
            RejectReason::NotMapPointer,
            "pointer in R2 isn't map pointer",
        ),
        (
            "wq_init with another map",
            checked(vec![wq_map(), wq_map()], |b| {
                b.mov_reg(R1, R0)
                    .add(R1, WQ)
                    .map(R2, 1)
                    .mov(R3, 0)
                    .kfunc(Kfunc::WqInit)
            }),
            RejectReason::MapMismatch(Field::Wq),
            "workqueue pointer in R1 map_uid=0 doesn't match map pointer in R2 map_uid=0",
        ),
        (
            // Every helper of the program model is in `bpf_base_func_proto` for root on 6.18,
            // bpf_copy_from_user included (CAP_PERFMON): it is known to sched_cls, and refused
            // there for sleeping, not as an unknown function.
            "bpf_copy_from_user in sched_cls",
            one(
                vec![],
                Builder::default()
                    .mov_reg(R1, FP)
                    .add(R1, -8)
                    .mov(R2, 8)
                    .mov(R3, 0)
                    .helper(Helper::CopyFromUser)
                    .ret(0),
            ),
            RejectReason::HelperMightSleep,
            "helper call might sleep in a non-sleepable prog",
        ),
        (
            "a kfunc socket filters may not call",
            Case {
                maps: vec![],
                prog: program(
                    ProgType::SocketFilter,
                    vec![main(
                        Builder::default()
                            .mov(R1, 1)
                            .kfunc(Kfunc::TaskFromPid)
                            .ret(0),
                    )],
                ),
            },
            RejectReason::KfuncNotAllowed("bpf_task_from_pid"),
            "calling kernel function bpf_task_from_pid is not allowed",
        ),
    ];
    let _ = vs;
    let mut wrong = Vec::new();
    for (what, case, want, line) in &cases {
        let l = verify::load(&host, case);
        let log = l.log.clone().unwrap_or_default();
        let verdict = oracle::messages::verdict_line(&log)
            .unwrap_or("")
            .to_owned();
        eprintln!("{what}: {}\n  | {verdict}", l.verdict);
        if l.verdict != Verdict::Reject(*want) || !verdict.contains(line) {
            wrong.push(format!(
                "{what}: want {want} with `{line}`, got {} with\n{log}",
                l.verdict
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n\n"));
}
