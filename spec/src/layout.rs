//! Where special fields sit in a map value. The spec and the kernel oracle share one canonical
//! layout: every kind of field has a fixed offset whether or not the value holds it (an absent
//! field is a hole of plain bytes), so one callback body is right for elements of every map it
//! may run on. A second field of a kind (the duplicate rules) follows the canonical part.
//!
//! Sizes are the UAPI ones (`include/uapi/linux/bpf.h`: `struct bpf_timer { __u64
//! __opaque[2]; }`, `struct bpf_wq` likewise, `struct bpf_task_work { __u64 __opaque; }`,
//! `struct bpf_spin_lock { __u32 val; }`); kptrs are pointers. The oracle checks them against
//! the running kernel's BTF.

use crate::op::{Field, ValueLayout};

/// The value starts with 8 plain data bytes (`u64 data`).
pub const DATA: u32 = 8;

/// The UAPI size of a special field.
pub const fn size(f: Field) -> u32 {
    match f {
        Field::Timer | Field::Wq => 16,
        Field::TaskWork | Field::Kptr | Field::KptrUntrusted => 8,
        Field::SpinLock => 4,
    }
}

const fn index(f: Field) -> usize {
    match f {
        Field::Timer => 0,
        Field::Wq => 1,
        Field::TaskWork => 2,
        Field::Kptr => 3,
        Field::KptrUntrusted => 4,
        Field::SpinLock => 5,
    }
}

/// The canonical offsets, in `Field::ALL` order, and the end of the canonical part.
const fn canonical() -> ([u32; 6], u32) {
    let mut offsets = [0; 6];
    let mut off = DATA;
    let mut i = 0;
    while i < 6 {
        let s = size(Field::ALL[i]);
        let align = if s < 8 { s } else { 8 };
        off = off.next_multiple_of(align);
        offsets[i] = off;
        off += s;
        i += 1;
    }
    (offsets, off.next_multiple_of(8))
}

const CANONICAL: ([u32; 6], u32) = canonical();

/// The byte offset of the (first) field of kind `f`.
pub const fn offset(f: Field) -> u32 {
    CANONICAL.0[index(f)]
}

/// Byte offsets of every field a value holds, in offset order: the first of each kind at its
/// canonical offset, extra ones after the canonical part.
pub fn fields(v: &ValueLayout) -> Vec<(u32, Field)> {
    placed(v).collect()
}

/// The same as [`fields`], without a list: the canonical offsets grow in `Field::ALL` order
/// and the extra fields follow them, so placing the first of each kind, then the extras, is
/// offset order.
pub fn placed(v: &ValueLayout) -> impl Iterator<Item = (u32, Field)> + use<> {
    let v = *v;
    let firsts = Field::ALL
        .into_iter()
        .filter(move |&f| v.count(f) > 0)
        .map(|f| (offset(f), f));
    let extras = Field::ALL
        .into_iter()
        .flat_map(move |f| std::iter::repeat_n(f, usize::from(v.count(f).saturating_sub(1))))
        .scan(CANONICAL.1, |at, f| {
            let off = *at;
            *at += size(f);
            Some((off, f))
        });
    firsts.chain(extras)
}

/// The value size of a map with these fields.
pub const fn value_size(v: &ValueLayout) -> u32 {
    let mut extra = 0;
    let mut i = 0;
    while i < 6 {
        let f = Field::ALL[i];
        extra += v.count(f).saturating_sub(1) as u32 * size(f);
        i += 1;
    }
    (CANONICAL.1 + extra).next_multiple_of(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_offsets_are_aligned_and_disjoint() {
        let all = ValueLayout {
            timer: 2,
            wq: 1,
            task_work: 1,
            kptr: 1,
            kptr_untrusted: 1,
            spin_lock: 1,
        };
        let fs = fields(&all);
        for w in fs.windows(2) {
            assert!(w[0].0 + size(w[0].1) <= w[1].0, "{w:?} overlap");
        }
        for (o, f) in &fs {
            assert_eq!(o % size(*f).min(8), 0, "{f:?} at {o} misaligned");
        }
        let (last_off, last) = fs[fs.len() - 1];
        assert!(last_off + size(last) <= value_size(&all));
        assert_eq!(offset(Field::Timer), DATA);
    }
}
