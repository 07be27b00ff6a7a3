//! The invariants can fail: each test builds a reachable world, breaks one fact the way a
//! buggy step would, and expects `check_invariants` to name the invariant.

use spec::*;

const ELEM: Target = Target::SelfElem;

fn stmt(call: Call) -> Stmt {
    Stmt { guard: None, call }
}

/// A world with an array map holding a timer, a program that armed it for 10 s, and the
/// program's fd still open.
fn armed_timer_world() -> World {
    let mut e = SpecEngine::new(Kernel::new(Era::V6_18));
    let value = ValueLayout {
        timer: 1,
        task_work: 1,
        kptr: 1,
        ..ValueLayout::default()
    };
    let map = MapSpec {
        kind: MapKind::Array,
        max_entries: 1,
        value,
        flags: MapFlags::default(),
        inner: None,
    };
    assert_eq!(e.apply(&Op::MapCreate(map)), Outcome::Ok);
    let prog = ProgSpec {
        ty: ProgType::SchedCls,
        sleepable: false,
        gpl: true,
        self_map: Some(MapRef::Map(MapIdx(0))),
        maps: vec![],
        main: vec![
            stmt(Call::TimerInit {
                elem: ELEM,
                clock: ClockFlags(ClockFlags::MONOTONIC),
            }),
            stmt(Call::TimerSetCallback {
                elem: ELEM,
                cb: CbIdx(0),
            }),
            stmt(Call::TimerStart {
                elem: ELEM,
                nsecs: Nanos(10_000 * Nanos::MS),
                flags: TimerFlags(0),
            }),
            stmt(Call::KptrXchg {
                elem: ELEM,
                new: true,
            }),
        ],
        callbacks: vec![vec![]],
    };
    assert_eq!(e.apply(&Op::ProgLoad(prog)), Outcome::Ok);
    let ran = e.apply(&Op::ProgRun {
        prog: ProgIdx(0),
        key: Key(0),
    });
    assert_eq!(
        ran,
        Outcome::Ran {
            rets: vec![Ret::OK, Ret::OK, Ret::OK, Ret::Null],
            callbacks: vec![]
        }
    );
    e.world.check_invariants();
    e.world
}

#[test]
fn the_reference_world_is_consistent() {
    armed_timer_world().check_invariants();
}

#[test]
#[should_panic(expected = "INV-PROG-REFCNT")]
fn a_leaked_program_reference_is_caught() {
    let mut w = armed_timer_world();
    w.progs[0].refcnt += 1;
    w.check_invariants();
}

#[test]
#[should_panic(expected = "INV-MAP-REFCNT")]
fn a_lost_map_reference_is_caught() {
    let mut w = armed_timer_world();
    w.maps[0].refcnt -= 1;
    w.check_invariants();
}

#[test]
#[should_panic(expected = "INV-UREF")]
fn a_timer_surviving_the_uref_drop_is_caught() {
    let mut w = armed_timer_world();
    w.maps[0].usercnt = 0;
    w.maps[0].handles.fds = 0;
    w.maps[0].refcnt -= 1;
    w.check_invariants();
}

#[test]
#[should_panic(expected = "INV-EVENTS")]
fn an_expiry_without_its_timer_is_caught() {
    let mut w = armed_timer_world();
    let e = w.maps[0].elems[&Key(0)];
    w.elems[e].timer.as_mut().unwrap().queued = None;
    w.check_invariants();
}

#[test]
#[should_panic(expected = "INV-KPTR")]
fn a_kptr_freed_twice_is_caught() {
    let mut w = armed_timer_world();
    w.kptr_objects = 0;
    w.check_invariants();
}

#[test]
#[should_panic(expected = "INV-UNLINKED-EMPTY")]
fn a_deleted_element_keeping_its_timer_is_caught() {
    let mut w = armed_timer_world();
    let e = w.maps[0].elems[&Key(0)];
    w.maps[0].elems.clear();
    w.elems[e].linked = false;
    w.check_invariants();
}
