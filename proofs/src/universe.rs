//! The bounded universe the harnesses range over, as small `Copy` descriptions (Kani-friendly:
//! enums over a handful of ids, no maps or vectors in the descriptions themselves).
//!
//! * One map (`MapIdx(0)`) of a chosen [`Shape`], `max_entries` 1, whose value holds a
//!   `bpf_timer`, a `bpf_wq`, a `bpf_task_work` and a kptr (tag `kptr`: referenced since
//!   v6.4). Keys 0 and 1: with one entry, key 1 is out of range for an array, -E2BIG for a
//!   full hash, and evicts key 0 from an LRU hash.
//! * Programs from the catalogue [`Prog`], each a SchedCls program run on its element of the
//!   map, doing one async thing. A program the era cannot load (its kfunc does not exist yet)
//!   is a failed load; [`Universe::acts`] leaves ops on it out.
//! * [`Act`]: the user and time ops over these objects.
//!
//! A harness's world is [`Universe::world`] followed by a bounded sequence of [`Act`]s; the
//! bound is each harness's own (see README.md).

use spec::{
    Call, CbIdx, ClockFlags, Era, Features, Field, Kernel, Key, KfuncFlags, MapFlags, MapIdx,
    MapKind, MapRef, MapSpec, Nanos, ObjRef, Op, Outcome, ProgIdx, ProgSpec, ProgType, Stmt,
    Target, TaskWorkMode, TimerFlags, UpdateFlags, ValueLayout, World,
};

/// A kernel era, as a choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, kani::Arbitrary)]
enum EraChoice {
    V5_15,
    V6_1,
    V6_12,
    V6_18,
    V7_0,
    V7_2,
}

/// Any era whose features satisfy `has` (the others are pruned).
pub fn any_era(has: impl Fn(&Features) -> bool) -> Era {
    let era = match kani::any::<EraChoice>() {
        EraChoice::V5_15 => Era::V5_15,
        EraChoice::V6_1 => Era::V6_1,
        EraChoice::V6_12 => Era::V6_12,
        EraChoice::V6_18 => Era::V6_18,
        EraChoice::V7_0 => Era::V7_0,
        EraChoice::V7_2 => Era::V7_2,
    };
    kani::assume(has(&era.features()));
    era
}

/// Any one of `items` (not empty): a chain of yes / no choices, so each item is exactly one
/// path and none is pruned.
pub fn any_of<T: Copy>(items: &[T]) -> T {
    let (last, rest) = items.split_last().expect("a choice among no items");
    rest.iter().copied().find(|_| kani::any()).unwrap_or(*last)
}

/// The kind of the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, kani::Arbitrary)]
pub enum Shape {
    Array,
    Hash,
    LruHash,
}

impl Shape {
    fn kind(self) -> MapKind {
        match self {
            Shape::Array => MapKind::Array,
            Shape::Hash => MapKind::Hash,
            Shape::LruHash => MapKind::LruHash,
        }
    }
}

/// A key of the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, kani::Arbitrary)]
pub enum Slot {
    K0,
    K1,
}

impl Slot {
    pub fn key(self) -> Key {
        Key(self as u32)
    }

    /// The other key.
    pub fn other(self) -> Slot {
        match self {
            Slot::K0 => Slot::K1,
            Slot::K1 => Slot::K0,
        }
    }
}

/// The program catalogue: what each program's main body does to its element (`self`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, kani::Arbitrary)]
pub enum Prog {
    /// `bpf_timer_init`, `bpf_timer_set_callback` (an empty callback), `bpf_timer_start` 1 ms.
    ArmTimer,
    /// `bpf_timer_set_callback` and `bpf_timer_start` 1 ms on a timer another program
    /// initialised: the swap. Its callback deletes its own element (cancel_and_free from the
    /// timer's own callback).
    SwapTimer,
    /// `bpf_timer_cancel`.
    CancelTimer,
    /// `bpf_wq_init`, `bpf_wq_set_callback`, `bpf_wq_start` (an empty callback; since 6.10).
    ArmWq,
    /// `bpf_task_work_schedule_signal` (an empty callback; since 6.18).
    ScheduleTaskWork,
    /// `bpf_kptr_xchg` of an acquired object into the slot (since 5.19); the program releases
    /// the old one.
    StoreKptr,
}

impl Prog {
    pub const ALL: [Prog; 6] = [
        Prog::ArmTimer,
        Prog::SwapTimer,
        Prog::CancelTimer,
        Prog::ArmWq,
        Prog::ScheduleTaskWork,
        Prog::StoreKptr,
    ];

    /// Whether `era` has the helpers and kfuncs the program calls.
    pub fn loads_in(self, era: Era) -> bool {
        let f = era.features();
        match self {
            Prog::ArmTimer | Prog::SwapTimer | Prog::CancelTimer => true,
            Prog::ArmWq => f.wq,
            Prog::ScheduleTaskWork => f.task_work,
            Prog::StoreKptr => Field::Kptr.is_referenced_kptr(&f),
        }
    }

    fn spec(self) -> ProgSpec {
        let elem = Target::SelfElem;
        let cb = CbIdx(0);
        let flags = KfuncFlags(0);
        let start = Call::TimerStart {
            elem,
            nsecs: Nanos(Nanos::MS),
            flags: TimerFlags(0),
        };
        let (main, callback) = match self {
            Prog::ArmTimer => (
                vec![
                    Call::TimerInit {
                        elem,
                        clock: ClockFlags(ClockFlags::MONOTONIC),
                    },
                    Call::TimerSetCallback { elem, cb },
                    start,
                ],
                vec![],
            ),
            Prog::SwapTimer => (
                vec![Call::TimerSetCallback { elem, cb }, start],
                vec![Call::MapDelete { elem }],
            ),
            Prog::CancelTimer => (vec![Call::TimerCancel { elem }], vec![]),
            Prog::ArmWq => (
                vec![
                    Call::WqInit { elem, flags },
                    Call::WqSetCallback { elem, cb, flags },
                    Call::WqStart { elem, flags },
                ],
                vec![],
            ),
            Prog::ScheduleTaskWork => (
                vec![Call::TaskWorkSchedule {
                    elem,
                    cb,
                    mode: TaskWorkMode::Signal,
                }],
                vec![],
            ),
            Prog::StoreKptr => (vec![Call::KptrXchg { elem, new: true }], vec![]),
        };
        let stmts = |calls: Vec<Call>| -> Vec<Stmt> {
            calls
                .into_iter()
                .map(|call| Stmt { guard: None, call })
                .collect()
        };
        ProgSpec {
            ty: ProgType::SchedCls,
            sleepable: false,
            gpl: true,
            self_map: Some(MapRef::Map(MAP)),
            maps: vec![],
            main: stmts(main),
            callbacks: vec![stmts(callback)],
        }
    }
}

/// The one map.
pub const MAP: MapIdx = MapIdx(0);

/// A user or time op on the universe's objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// `BPF_PROG_TEST_RUN` of a program on an element.
    Run(Prog, Slot),
    /// User `BPF_MAP_UPDATE_ELEM` (`BPF_ANY`): the old value's fields are freed.
    Update(Slot),
    /// User `BPF_MAP_DELETE_ELEM`.
    Delete(Slot),
    /// `close()` of the map's fd.
    CloseMap,
    /// `BPF_OBJ_PIN` of the map.
    PinMap,
    /// `unlink()` of the map's pin.
    UnpinMap,
    /// `close()` of a program's fd.
    CloseProg(Prog),
    /// 1 ms passes: armed timers fire, queued work runs.
    Advance,
}

/// One bounded world: a kernel era, the map's shape and the programs loaded (in this order,
/// each one a [`Prog`] at most once).
#[derive(Clone, Copy, Debug)]
pub struct Universe {
    pub era: Era,
    pub shape: Shape,
    pub progs: &'static [Prog],
}

impl Universe {
    /// The program's index in the world, if it is loaded.
    pub fn prog_idx(&self, p: Prog) -> Option<ProgIdx> {
        let i = self.progs.iter().position(|&q| q == p)?;
        Some(ProgIdx(i as u8))
    }

    /// The spec op of `act` (one of [`Universe::acts`]).
    pub fn op(&self, act: Act) -> Op {
        let elem = |s: Slot| spec::ElemRef {
            map: MapRef::Map(MAP),
            key: s.key(),
        };
        let prog = |p: Prog| self.prog_idx(p).expect("an op of this universe");
        match act {
            Act::Run(p, s) => Op::ProgRun {
                prog: prog(p),
                key: s.key(),
            },
            Act::Update(s) => Op::MapUpdate {
                elem: elem(s),
                flags: UpdateFlags::Any,
            },
            Act::Delete(s) => Op::MapDelete { elem: elem(s) },
            Act::CloseMap => Op::Close(ObjRef::Map(MAP)),
            Act::PinMap => Op::Pin(ObjRef::Map(MAP)),
            Act::UnpinMap => Op::Unpin(ObjRef::Map(MAP)),
            Act::CloseProg(p) => Op::Close(ObjRef::Prog(prog(p))),
            Act::Advance => Op::Advance {
                ns: Nanos(Nanos::MS),
            },
        }
    }

    /// The world before any [`Act`]: the map created, then the programs loaded.
    pub fn world(&self) -> World {
        let mut w = World::new(Kernel::new(self.era));
        let map = MapSpec {
            kind: self.shape.kind(),
            max_entries: 1,
            value: ValueLayout {
                timer: 1,
                wq: 1,
                task_work: 1,
                kptr: 1,
                ..ValueLayout::default()
            },
            flags: MapFlags::default(),
            inner: None,
        };
        assert_eq!(spec::step(&mut w, &Op::MapCreate(map)), Outcome::Ok);
        for &p in self.progs {
            let loaded = spec::step(&mut w, &Op::ProgLoad(p.spec())) == Outcome::Ok;
            assert_eq!(loaded, p.loads_in(self.era), "{p:?} on {}", self.era);
        }
        w
    }

    /// The world after any `n` ops of this universe.
    pub fn any_world(&self, n: usize) -> World {
        let mut w = self.world();
        for _ in 0..n {
            let act = self.any_act(|_| true);
            self.take(&mut w, act);
        }
        w
    }

    /// Every op of this universe: each program it loads run on each key and closed, each
    /// key updated and deleted, the map's fd closed, pinned and unpinned, time advanced.
    pub fn acts(&self) -> Vec<Act> {
        let progs = self.progs.iter().copied().filter(|p| p.loads_in(self.era));
        let slots = [Slot::K0, Slot::K1];
        let mut acts: Vec<Act> = progs
            .clone()
            .flat_map(|p| slots.map(|s| Act::Run(p, s)))
            .collect();
        acts.extend(slots.map(Act::Update));
        acts.extend(slots.map(Act::Delete));
        acts.extend([Act::CloseMap, Act::PinMap, Act::UnpinMap, Act::Advance]);
        acts.extend(progs.map(Act::CloseProg));
        acts
    }

    /// Any op of this universe for which `relevant` holds.
    pub fn any_act(&self, relevant: impl Fn(Act) -> bool) -> Act {
        let acts: Vec<Act> = self.acts().into_iter().filter(|&a| relevant(a)).collect();
        any_of(&acts)
    }

    /// Take `act`; a step the spec does not model ([`Outcome::Unsupported`]) ends the path
    /// (pruned): the world would no longer be a kernel state.
    pub fn take(&self, w: &mut World, act: Act) -> Outcome {
        let out = spec::step(w, &self.op(act));
        kani::assume(!matches!(out, Outcome::Unsupported(_)));
        out
    }
}
