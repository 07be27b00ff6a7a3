//! Bounded vectors (Kani's `kani::vec`): the length is one exhaustive choice.

use crate::{Arbitrary, shim};

/// A vector of any length from 0 to `MAX_LENGTH`, each element any value.
pub fn any_vec<T: Arbitrary, const MAX_LENGTH: usize>() -> Vec<T> {
    let length = shim::choose(MAX_LENGTH as u32 + 1) as usize;
    (0..length).map(|_| T::any()).collect()
}

/// A vector of exactly `EXACT_LENGTH` elements, each any value.
pub fn exact_vec<T: Arbitrary, const EXACT_LENGTH: usize>() -> Vec<T> {
    (0..EXACT_LENGTH).map(|_| T::any()).collect()
}
