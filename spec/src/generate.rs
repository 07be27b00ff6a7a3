//! Generated op sequences for quickcheck, cargo-fuzz and the benchmark: a fixture that gives
//! generated programs something to act on, then ops decoded from bytes with `arbitrary`.

use crate::op::{ElemRef, Key, MapIdx, MapKind, MapRef, MapSpec, Op, UpdateFlags, ValueLayout};
use arbitrary::{Arbitrary, Unstructured};

/// Three maps whose values hold a timer, a wq, a task_work and a kptr (an array of 2, a hash
/// of 2 and an LRU hash of 1), with every hash element present.
pub fn fixture() -> Vec<Op> {
    let value = ValueLayout {
        timer: 1,
        wq: 1,
        task_work: 1,
        kptr: 1,
        ..ValueLayout::default()
    };
    let map = |kind, max_entries| {
        Op::MapCreate(MapSpec {
            kind,
            max_entries,
            value,
            flags: Default::default(),
            inner: None,
        })
    };
    let insert = |m, k| Op::MapUpdate {
        elem: ElemRef {
            map: MapRef::Map(MapIdx(m)),
            key: Key(k),
        },
        flags: UpdateFlags::Any,
    };
    vec![
        map(MapKind::Array, 2),
        map(MapKind::Hash, 2),
        map(MapKind::LruHash, 1),
        insert(1, 0),
        insert(1, 1),
        insert(2, 0),
    ]
}

/// The fixture followed by the ops `bytes` decode to.
pub fn sequence(bytes: &[u8]) -> Vec<Op> {
    let mut u = Unstructured::new(bytes);
    let mut ops = fixture();
    while let Ok(op) = Op::arbitrary(&mut u) {
        ops.push(op);
        if u.is_empty() {
            break;
        }
    }
    ops
}

/// A fixed-seed byte stream (xorshift64* from a splitmix64-scrambled seed, so that seeds
/// differing in one bit give unrelated streams): reproducible generator input for
/// measurements that must not depend on luck (the benchmark, the properties' coverage counts).
pub fn seeded_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = splitmix64(seed).max(1);
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// The splitmix64 finalizer: a bijection on `u64` that spreads every input bit.
pub fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
