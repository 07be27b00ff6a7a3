//! `bpf_timer_init(timer, map, flags)`: `map` must be the map whose element holds `timer`,
//! and two inner maps of one map-in-map are told apart by `map_uid` (the id of the lookup
//! that found each), so that a timer is never bound to the wrong inner map (the "hidden map
//! pointer" of timers in inner maps, 3e8ce29850f1).
//!
//! Bounds: a plain hash map holding a timer and an array-of-maps whose inner maps are such
//! hash maps, looked up twice; the timer from any of the three, the map argument any of the
//! three; every era.

use spec::prog::build::Builder;
use spec::prog::{Cond, Helper, MapDecl, Reg};
use spec::verify::{Verdict, verify};
use spec::{Field, Kernel, MapIdx, MapKind, RejectReason, ValueLayout, layout};

use crate::programs::case;
use crate::universe::any_era;

/// Where a map pointer comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, kani::Arbitrary)]
pub enum Source {
    /// The plain hash map, by its fd (map 2).
    Plain,
    /// The inner map of the first lookup in the map-in-map (in r6).
    FirstInner,
    /// The inner map of the second lookup in the same map-in-map (in r7).
    SecondInner,
}

impl Source {
    /// `dst = ` the map.
    fn load(self, b: &mut Builder, dst: Reg) {
        match self {
            Source::Plain => b.map(dst, 2),
            Source::FirstInner => b.mov_reg(dst, Reg::R6),
            Source::SecondInner => b.mov_reg(dst, Reg::R7),
        };
    }
}

/// verifier.c `check_helper_call` → `check_func_arg` (`ARG_CONST_MAP_PTR` of
/// `bpf_timer_init`, all eras): "timer pointer in R1 map_uid=%d doesn't match map pointer in
/// R2 map_uid=%d" unless the map argument is the very map (and map_uid) of the timer's
/// element.
#[kani::proof]
pub fn verify_check_func_arg_timer_map_uid() {
    let era = any_era(|_| true);
    let (timer_from, map_arg): (Source, Source) = kani::any();
    let timer = ValueLayout {
        timer: 1,
        ..ValueLayout::default()
    };
    let inner = MapDecl::new(MapKind::Hash, timer);
    let mut outer = MapDecl::new(MapKind::ArrayOfMaps, ValueLayout::default());
    outer.spec.max_entries = 2;
    outer.spec.inner = Some(MapIdx(0));
    let plain = MapDecl::new(MapKind::Hash, timer);
    let mut b = Builder::default();
    let done = b.label();
    // r6, r7 = outer[0], outer[0] (two lookups: two map_uids), r0 = the timer's element.
    b.lookup(1).jump_if(Cond::Eq, Reg::R0, 0, done);
    b.mov_reg(Reg::R6, Reg::R0);
    b.lookup(1).jump_if(Cond::Eq, Reg::R0, 0, done);
    b.mov_reg(Reg::R7, Reg::R0);
    b.key0();
    timer_from.load(&mut b, Reg::R1);
    b.helper(Helper::MapLookupElem)
        .jump_if(Cond::Eq, Reg::R0, 0, done);
    b.mov_reg(Reg::R1, Reg::R0)
        .add(Reg::R1, layout::offset(Field::Timer) as i32);
    map_arg.load(&mut b, Reg::R2);
    b.mov(Reg::R3, 1).helper(Helper::TimerInit);
    b.at(done).ret(0);
    let main = b.finish("main", spec::prog::Linkage::Global);
    let c = case(vec![inner, outer, plain], main, vec![]);
    let verdict = verify(&Kernel::new(era), &c);
    let expected = if timer_from == map_arg {
        Verdict::Accept
    } else {
        Verdict::Reject(RejectReason::MapMismatch(Field::Timer))
    };
    assert_eq!(verdict, expected);
    kani::cover!(
        timer_from == Source::FirstInner && map_arg == Source::FirstInner,
        "a timer of an inner map bound to its own inner map"
    );
    kani::cover!(
        timer_from == Source::FirstInner && map_arg == Source::SecondInner,
        "the same inner-map template, another lookup"
    );
}
