//! Generated stories for differential runs on the kernel: valid-looking scenarios built from
//! the spec's `Arbitrary` pieces (map specs, program bodies with their callbacks, op
//! orders), shaped for a real kernel: short waits, bounded virtual time, programs of types
//! `BPF_PROG_TEST_RUN` can run, and a final look at every callback counter and object.

use arbitrary::{Arbitrary, Unstructured};
use spec::{
    Action, Call, CbIdx, ElemRef, Key, MapIdx, MapKind, MapRef, MapSpec, Nanos, ObjRef, Op,
    ProgIdx, ProgSpec, ProgType, Query, TimerFlags, UpdateFlags,
};

/// Waits a generated story uses: half-millisecond offsets keep most wait ends away from
/// the whole-millisecond expiries of timers started at whole-millisecond times.
const WAITS: [u64; 4] = [1_500_000, 2_500_000, 4_500_000, 12_500_000];

/// One story from `bytes` (any bytes make a story; fewer bytes, a shorter one).
pub fn story(bytes: &[u8]) -> Vec<Action> {
    let mut u = Unstructured::new(bytes);
    let mut steps = Vec::new();
    // Out of bytes mid-way is fine: the story built so far is valid.
    let _ = build(&mut u, &mut steps);
    finish(&mut steps);
    steps
}

fn build(u: &mut Unstructured<'_>, steps: &mut Vec<Action>) -> arbitrary::Result<()> {
    let nmaps = u.int_in_range(1..=3u8)?;
    for i in 0..nmaps {
        let mut m = MapSpec::arbitrary(u)?;
        // Mostly the map types async objects live in, now and then any other.
        if u.ratio(3, 4)? {
            m.kind = *u.choose(&[MapKind::Array, MapKind::Hash, MapKind::LruHash])?;
        }
        if m.kind.is_map_in_map() {
            m.inner = Some(MapIdx(u.int_in_range(0..=i.saturating_sub(1))?));
        }
        steps.push(Action::Op(Op::MapCreate(m)));
    }
    let nprogs = u.int_in_range(1..=2u8)?;
    for _ in 0..nprogs {
        let mut p = ProgSpec::arbitrary(u)?;
        if u.ratio(7, 8)? {
            p.ty = *u.choose(&[ProgType::SchedCls, ProgType::SocketFilter, ProgType::Xdp])?;
            p.sleepable = false;
        }
        if u.ratio(7, 8)? {
            p.self_map = Some(MapRef::Map(MapIdx(u.int_in_range(0..=nmaps - 1)?)));
        }
        // Callbacks re-arm relative to now only (the oracle refuses absolute re-arms).
        for s in p.callbacks.iter_mut().flatten() {
            if let Call::TimerStart { flags, .. } = &mut s.call {
                flags.0 &= !TimerFlags::ABS;
            }
        }
        steps.push(Action::Op(Op::ProgLoad(p)));
    }
    let nops = u.int_in_range(3..=12u8)?;
    for _ in 0..nops {
        steps.push(Action::Op(op(u, nmaps, nprogs)?));
    }
    Ok(())
}

/// A user-space step, weighted toward running programs and letting time pass.
fn op(u: &mut Unstructured<'_>, nmaps: u8, nprogs: u8) -> arbitrary::Result<Op> {
    let map = |u: &mut Unstructured<'_>| {
        Ok::<_, arbitrary::Error>(MapIdx(u.int_in_range(0..=nmaps - 1)?))
    };
    let elem = |u: &mut Unstructured<'_>| {
        Ok::<_, arbitrary::Error>(ElemRef {
            map: MapRef::Map(map(u)?),
            key: Key::arbitrary(u)?,
        })
    };
    let obj = |u: &mut Unstructured<'_>| {
        Ok::<_, arbitrary::Error>(if u.ratio(1, 2)? {
            ObjRef::Map(map(u)?)
        } else {
            ObjRef::Prog(ProgIdx(u.int_in_range(0..=nprogs - 1)?))
        })
    };
    Ok(match u.int_in_range(0..=19u8)? {
        0..=6 => Op::ProgRun {
            prog: ProgIdx(u.int_in_range(0..=nprogs - 1)?),
            key: Key::arbitrary(u)?,
        },
        7..=11 => Op::Advance {
            ns: Nanos(*u.choose(&WAITS)?),
        },
        12 => Op::MapUpdate {
            elem: elem(u)?,
            flags: UpdateFlags::arbitrary(u)?,
        },
        13 => Op::MapDelete { elem: elem(u)? },
        14 => Op::MapLookup { elem: elem(u)? },
        15 => Op::Close(obj(u)?),
        16 => Op::Pin(obj(u)?),
        17 => Op::Unpin(obj(u)?),
        18 => Op::GetFdById(obj(u)?),
        _ => Op::MapUpdateInner {
            outer: map(u)?,
            key: Key::arbitrary(u)?,
            inner: map(u)?,
            flags: UpdateFlags::Any,
        },
    })
}

/// Let queued work settle, then read every callback counter and every object's liveness.
fn finish(steps: &mut Vec<Action>) {
    let mut maps = 0u8;
    let mut cbs = Vec::new();
    for s in steps.iter() {
        match s {
            Action::Op(Op::MapCreate(_)) => maps += 1,
            Action::Op(Op::ProgLoad(p)) => cbs.push(p.callbacks.len()),
            _ => {}
        }
    }
    steps.push(Action::Op(Op::Advance {
        ns: Nanos(WAITS[1]),
    }));
    for (p, &n) in cbs.iter().enumerate() {
        for cb in 0..n {
            steps.push(Action::Query(Query::Runs {
                prog: ProgIdx(p as u8),
                cb: CbIdx(cb as u8),
            }));
        }
        steps.push(Action::Query(Query::Alive(ObjRef::Prog(ProgIdx(p as u8)))));
    }
    for m in 0..maps {
        steps.push(Action::Query(Query::Alive(ObjRef::Map(MapIdx(m)))));
    }
}
