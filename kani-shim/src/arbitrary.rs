//! `kani::Arbitrary`: the values a type takes under the shim.
//!
//! Types with at most 256 values take every value, one [`shim::choose`] each. Wider integers
//! take their [`Boundary`] set through [`shim::choose_sampled`], which marks the harness
//! boundary-sampled.

use crate::shim;

/// A type whose values a harness can range over (Kani's trait, same items).
pub trait Arbitrary
where
    Self: Sized,
{
    /// Any value of the type.
    fn any() -> Self;

    /// An array of `MAX_ARRAY_LENGTH` values, each any value.
    fn any_array<const MAX_ARRAY_LENGTH: usize>() -> [Self; MAX_ARRAY_LENGTH] {
        core::array::from_fn(|_| Self::any())
    }
}

impl Arbitrary for bool {
    fn any() -> Self {
        shim::choose(2) == 1
    }
}

impl Arbitrary for u8 {
    fn any() -> Self {
        shim::choose(256) as u8
    }
}

impl Arbitrary for i8 {
    fn any() -> Self {
        shim::choose(256) as u8 as i8
    }
}

/// An integer type wider than 8 bits: under the shim it takes only its boundary set, smallest
/// first, without duplicates:
///
/// * unsigned: `0, 1, 2, 3` (empty, single and small counts and indices), `7, 8` (a
///   power-of-two edge), `MAX/2, MAX/2 + 1` (the top bit), `MAX - 1, MAX` (overflow);
/// * signed: `MIN, MIN + 1` (negation overflows), `-2, -1`, then `0, 1, 2, 3, 7, 8` and
///   `MAX - 1, MAX` as above.
pub trait Boundary: Sized + Copy + 'static {
    /// The values the type takes under the shim.
    const SET: &'static [Self];
}

macro_rules! unsigned {
    ($($t:ident),*) => {$(
        impl Boundary for $t {
            const SET: &'static [$t] =
                &[0, 1, 2, 3, 7, 8, $t::MAX / 2, $t::MAX / 2 + 1, $t::MAX - 1, $t::MAX];
        }
    )*};
}
macro_rules! signed {
    ($($t:ident),*) => {$(
        impl Boundary for $t {
            const SET: &'static [$t] =
                &[$t::MIN, $t::MIN + 1, -2, -1, 0, 1, 2, 3, 7, 8, $t::MAX - 1, $t::MAX];
        }
    )*};
}
unsigned!(u16, u32, u64, u128, usize);
signed!(i16, i32, i64, i128, isize);

macro_rules! sampled {
    ($($t:ident),*) => {$(
        impl Arbitrary for $t {
            fn any() -> Self {
                <$t as Boundary>::SET[shim::choose_sampled(<$t as Boundary>::SET.len() as u32) as usize]
            }
        }
    )*};
}
sampled!(u16, u32, u64, u128, usize, i16, i32, i64, i128, isize);

impl Arbitrary for () {
    fn any() -> Self {}
}

impl<T: Arbitrary> Arbitrary for Option<T> {
    fn any() -> Self {
        if bool::any() { Some(T::any()) } else { None }
    }
}

impl<T: Arbitrary, E: Arbitrary> Arbitrary for Result<T, E> {
    fn any() -> Self {
        if bool::any() {
            Ok(T::any())
        } else {
            Err(E::any())
        }
    }
}

impl<T: Arbitrary, const N: usize> Arbitrary for [T; N] {
    fn any() -> Self {
        T::any_array()
    }
}

macro_rules! tuple {
    ($($t:ident),+) => {
        impl<$($t: Arbitrary),+> Arbitrary for ($($t,)+) {
            fn any() -> Self {
                ($($t::any(),)+)
            }
        }
    };
}
tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);
