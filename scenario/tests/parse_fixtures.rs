//! The fixtures parse to the ops, indices and expectations the format defines.

use scenario::{Action, Builds, EraSet, Expected, Scenario, parse};
use spec::{
    Call, CallbackRun, CbIdx, ClockFlags, ElemRef, Era, Errno, Key, MapIdx, MapRef, Nanos, ObjRef,
    Observation, Op, Outcome, ProgIdx, ProgType, Query, Ret, Stmt, Target, TimerFlags, UpdateFlags,
};

fn fixture(name: &str) -> Scenario {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    parse(&text, name).unwrap_or_else(|e| panic!("{e}"))
}

fn op(s: &Scenario, line: usize) -> &Op {
    match &step(s, line).action {
        Action::Op(op) => op,
        Action::Query(q) => panic!("line {line} is a query: {q:?}"),
    }
}

fn step(s: &Scenario, line: usize) -> &scenario::Step {
    s.steps
        .iter()
        .find(|st| st.line == line)
        .unwrap_or_else(|| panic!("no step on line {line}"))
}

fn unguarded(call: Call) -> Stmt {
    Stmt { guard: None, call }
}

#[test]
fn doc_example_compiles_to_the_ops_of_its_story() {
    let s = fixture("cancel_active_timer.bpfs");
    assert_eq!(s.header.slug, "cancel_active_timer_returns_one");
    assert_eq!(s.header.sources.len(), 2);
    assert_eq!(s.header.eras, EraSet::ALL);
    assert_eq!(s.header.builds, Builds::Standard);
    let elem = Target::SelfElem;
    let start = Call::TimerStart {
        elem,
        nsecs: Nanos(10_000_000_000),
        flags: TimerFlags(0),
    };
    let Op::ProgLoad(p) = op(&s, 10) else {
        panic!("line 10 is not a load")
    };
    assert_eq!(p.ty, ProgType::SchedCls);
    assert!(p.gpl && !p.sleepable);
    assert_eq!(p.self_map, Some(MapRef::Map(MapIdx(0))));
    assert_eq!(
        p.main,
        [
            unguarded(Call::TimerInit {
                elem,
                clock: ClockFlags(ClockFlags::MONOTONIC)
            }),
            unguarded(Call::TimerSetCallback { elem, cb: CbIdx(0) }),
            unguarded(start),
            unguarded(Call::TimerCancel { elem }),
            unguarded(start),
        ]
    );
    assert_eq!(p.callbacks, [Vec::<Stmt>::new()]);
    assert_eq!(
        *op(&s, 19),
        Op::ProgRun {
            prog: ProgIdx(0),
            key: Key(0)
        }
    );
    assert_eq!(
        step(&s, 19).expect.default,
        Expected::Outcome(Outcome::Ran {
            rets: vec![
                Ret::OK,
                Ret::OK,
                Ret::OK,
                Ret::Int(1),
                Ret::err(Errno::EINVAL)
            ],
            callbacks: vec![],
        })
    );
    assert_eq!(
        *op(&s, 20),
        Op::Advance {
            ns: Nanos(20_000_000_000)
        }
    );
    assert_eq!(
        step(&s, 20).expect.default,
        Expected::Outcome(Outcome::Fired(vec![]))
    );
    assert_eq!(
        step(&s, 21).action,
        Action::Query(Query::Runs {
            prog: ProgIdx(0),
            cb: CbIdx(0)
        })
    );
    assert_eq!(
        step(&s, 21).expect.default,
        Expected::Observation(Observation::Count(0))
    );
    assert_eq!(s.steps.len(), 5);
    assert_eq!(step(&s, 19).text, "step run p on arr[0]");
}

#[test]
fn maps_and_programs_are_numbered_in_declaration_order_failed_ones_included() {
    let s = fixture("every_construct.bpfs");
    let maps: Vec<&str> = s.maps.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(maps, ["inner_tmpl", "outer", "h", "bad", "other"]);
    let progs: Vec<&str> = s.progs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(progs, ["rearm", "tracer", "empty"]);
    assert_eq!(s.progs[0].callbacks, ["again", "tw"]);
    // `bad` fails creation but keeps index 3; `other` is 4.
    assert_eq!(s.map_spec(MapIdx(4)).unwrap().max_entries, 255);
    assert_eq!(
        step(&s, 10).expect.default,
        Expected::Outcome(Outcome::Err(Errno::EINVAL))
    );
    let Op::MapCreate(outer) = op(&s, 8) else {
        panic!()
    };
    assert_eq!(outer.inner, Some(MapIdx(0)));
    let Op::MapCreate(bad) = op(&s, 10) else {
        panic!()
    };
    assert_eq!((bad.value.timer, bad.value.task_work), (2, 1));
    let other = s.map_spec(MapIdx(4)).unwrap();
    assert!(other.flags.rdonly_prog && other.flags.wronly_prog && !other.flags.no_prealloc);
}

#[test]
fn program_bodies_resolve_elements_callbacks_and_guards() {
    let s = fixture("every_construct.bpfs");
    let rearm = s.prog_spec(ProgIdx(0)).unwrap();
    assert_eq!(
        rearm.self_map,
        Some(MapRef::Inner {
            outer: MapIdx(1),
            key: Key(1)
        })
    );
    assert_eq!(rearm.ty, ProgType::Xdp);
    assert_eq!(
        rearm.main[2].call,
        Call::TimerStart {
            elem: Target::SelfElem,
            nsecs: Nanos(1_000_000),
            flags: TimerFlags(TimerFlags::ABS | TimerFlags::CPU_PIN)
        }
    );
    assert_eq!(
        rearm.main[3].call,
        Call::KptrXchg {
            elem: Target::Elem(ElemRef {
                map: MapRef::Map(MapIdx(2)),
                key: Key(3)
            }),
            new: true
        }
    );
    assert_eq!(rearm.callbacks[0][0].guard, Some((CbIdx(0), 3)));
    let inner_elem = Target::Elem(ElemRef {
        map: MapRef::Inner {
            outer: MapIdx(1),
            key: Key(1),
        },
        key: Key(0),
    });
    assert_eq!(rearm.callbacks[1][1].call.target(), inner_elem);
    assert_eq!(rearm.callbacks[1][1].call.callback(), Some(CbIdx(1)));
    let names: Vec<&str> = rearm.callbacks[1]
        .iter()
        .map(|st| st.call.kernel_name())
        .collect();
    assert_eq!(
        names,
        [
            "bpf_wq_init",
            "bpf_wq_set_callback",
            "bpf_wq_start",
            "bpf_task_work_schedule_signal",
            "bpf_task_work_schedule_resume",
            "bpf_timer_cancel_async",
            "bpf_map_delete_elem"
        ]
    );
    let tracer = s.prog_spec(ProgIdx(1)).unwrap();
    assert_eq!(tracer.self_map, None);
    assert!(tracer.sleepable && !tracer.gpl);
    assert_eq!(tracer.ty, ProgType::Kprobe);
    assert_eq!(s.prog_spec(ProgIdx(2)).unwrap().ty, ProgType::Tracing);
}

#[test]
fn steps_compile_to_their_syscalls() {
    let s = fixture("every_construct.bpfs");
    assert_eq!(
        *op(&s, 38),
        Op::MapUpdateInner {
            outer: MapIdx(1),
            key: Key(1),
            inner: MapIdx(0),
            flags: UpdateFlags::Any
        }
    );
    assert_eq!(
        *op(&s, 40),
        Op::MapUpdate {
            elem: ElemRef {
                map: MapRef::Map(MapIdx(2)),
                key: Key(1)
            },
            flags: UpdateFlags::Exist
        }
    );
    assert_eq!(*op(&s, 44), Op::Advance { ns: Nanos(10) });
    assert_eq!(*op(&s, 48), Op::Close(ObjRef::Prog(ProgIdx(0))));
    assert_eq!(*op(&s, 49), Op::Pin(ObjRef::Map(MapIdx(2))));
    assert_eq!(*op(&s, 50), Op::Unpin(ObjRef::Prog(ProgIdx(1))));
    assert_eq!(*op(&s, 51), Op::GetFdById(ObjRef::Map(MapIdx(1))));
    assert_eq!(
        step(&s, 53).action,
        Action::Query(Query::Alive(ObjRef::Prog(ProgIdx(2))))
    );
}

#[test]
fn on_lines_override_the_expectation_in_their_eras_only() {
    let s = fixture("every_construct.bpfs");
    let run = &step(&s, 41).expect;
    assert_eq!(
        *run.for_era(Era::V7_0),
        Expected::Outcome(Outcome::Err(Errno::EBADF))
    );
    assert_eq!(
        *run.for_era(Era::V6_12),
        Expected::Outcome(Outcome::Ran {
            rets: vec![Ret::OK, Ret::OK, Ret::OK, Ret::Ptr, Ret::OK],
            callbacks: vec![CallbackRun {
                prog: ProgIdx(0),
                cb: CbIdx(1),
                rets: [0, 0, 0, -16, -16, 0, 0].map(Ret::Int).to_vec(),
            }],
        })
    );
    let load = &step(&s, 14).expect;
    assert_eq!(
        *load.for_era(Era::V6_18),
        Expected::Reject("preempt_rt_timer")
    );
    assert_eq!(*load.for_era(Era::V6_12), Expected::Outcome(Outcome::Ok));
    let alive = &step(&s, 53).expect;
    assert_eq!(
        *alive.for_era(Era::V6_1),
        Expected::Observation(Observation::Alive(false))
    );
    assert_eq!(
        *alive.for_era(Era::V6_12),
        Expected::Observation(Observation::Alive(true))
    );
}

#[test]
fn the_first_matching_on_line_wins() {
    let text = "scenario t\nsource s\neras all\nmap m array max_entries=1\n\
                step close m -> 0\n  on >=6.12 -> -EBADF\n  on 6.18 -> -EPERM\n";
    let s = parse(text, "t.bpfs").unwrap();
    let close = &s.steps[1].expect;
    assert_eq!(
        *close.for_era(Era::V6_18),
        Expected::Outcome(Outcome::Err(Errno::EBADF))
    );
    assert_eq!(*close.for_era(Era::V6_1), Expected::Outcome(Outcome::Ok));
    assert_eq!(close.overrides[1].line, 7);
}

#[test]
fn preempt_rt_scenarios_run_on_rt_kernels() {
    let s = fixture("every_construct.bpfs");
    assert_eq!(s.header.builds, Builds::PreemptRt);
    assert_eq!(
        s.header.eras.iter().collect::<Vec<_>>(),
        [Era::V6_1, Era::V6_12, Era::V6_18, Era::V7_0]
    );
    let rt: Vec<bool> = s.kernels_for(Era::V6_18).map(|k| k.preempt_rt).collect();
    assert_eq!(rt, [true]);
    let standard: Vec<bool> = fixture("cancel_active_timer.bpfs")
        .kernels_for(Era::V6_18)
        .map(|k| k.preempt_rt)
        .collect();
    assert_eq!(standard, [false]);
}

#[test]
fn kernel_any_scenarios_run_on_both_builds() {
    let path = "kernel_any.bpfs";
    let s = parse(
        "scenario both\nsource test\neras 6.18\nkernel any\nmap m array max_entries=1\n",
        path,
    )
    .unwrap();
    assert_eq!(s.header.builds, Builds::Any);
    let rt: Vec<bool> = s.kernels_for(Era::V6_18).map(|k| k.preempt_rt).collect();
    assert_eq!(rt, [false, true]);
    let rt_kernel = spec::Kernel::new(Era::V6_18).preempt_rt();
    assert_eq!(s.header.not_for(&rt_kernel), None);
    assert_eq!(s.header.not_for(&spec::Kernel::new(Era::V6_18)), None);
}
