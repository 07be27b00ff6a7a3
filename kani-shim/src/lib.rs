//! Kani's harness API, run here as exhaustive enumeration instead of bounded model checking.
//!
//! Kani (bounded model checking of Rust through CBMC) cannot be installed on this project's
//! machines, so crates holding proofs depend on this crate *as* `kani` outside `cfg(kani)`:
//!
//! ```toml
//! [target.'cfg(not(kani))'.dependencies]
//! kani = { package = "kani-shim", path = "../kani-shim" }
//! ```
//!
//! Harnesses are written as real Kani source (`#[kani::proof]`, `kani::any()`,
//! `kani::assume`, `kani::cover!`, ...) and `cargo kani` runs them unchanged where Kani exists.
//! Here each `#[kani::proof]` fn also becomes a `#[test]` that replays its body once per
//! combination of its choice points, depth first (see [`shim`]):
//!
//! * `bool`, `u8`, `i8`, derived enums and structs of those, `Option`, `Result`, arrays,
//!   tuples and the length of [`vec::any_vec`] take **every** value;
//! * wider integers (`u16` ..= `u128`, `usize`, `i16` ..= `i128`, `isize`) take only the
//!   boundary set of [`arbitrary::Boundary`], and a harness that draws one is reported
//!   *boundary-sampled*: small-scope testing, not a proof;
//! * [`assume`]`(false)` prunes the path (counted), a panic fails the harness with its choice
//!   vector, and every [`cover!`] must be satisfied on some path or the harness fails as vacuous.

extern crate self as kani;

pub mod arbitrary;
mod explore;
pub mod shim;
pub mod vec;

pub use arbitrary::Arbitrary;
/// `#[derive(kani::Arbitrary)]` for structs and enums: every field (of every variant) from
/// [`any`], the variant as one exhaustive choice.
pub use kani_shim_macros::Arbitrary;
/// `#[kani::proof]`: the fn is a harness. Under the shim it stays callable as it is and gains a
/// `#[test]` (`<fn>::harness`) that runs [`shim::check`] on its [`shim::Harness`]
/// (`<fn>::HARNESS`).
pub use kani_shim_macros::proof;
/// `#[kani::should_panic]`: the harness passes only if some path panics.
pub use kani_shim_macros::should_panic;
/// `#[kani::unwind(N)]`: Kani's loop unwinding bound. The shim runs loops concretely, so it
/// only checks that `N` is an integer.
pub use kani_shim_macros::unwind;

/// A value of `T` that is any value of the type: each one is a path of the harness.
pub fn any<T: Arbitrary>() -> T {
    T::any()
}

/// A value of `T` for which `constraint` holds: the paths where it does not are pruned.
pub fn any_where<T: Arbitrary, F: FnOnce(&T) -> bool>(constraint: F) -> T {
    let value = T::any();
    assume(constraint(&value));
    value
}

/// Only the paths on which `cond` holds are checked: the others are pruned (and counted).
pub fn assume(cond: bool) {
    if !cond {
        explore::prune();
    }
}

/// Kani's assertion with a message: fails the harness (with the path's choice vector) when
/// `cond` does not hold.
#[track_caller]
pub fn assert(cond: bool, msg: &'static str) {
    if !cond {
        panic!("{msg}");
    }
}

/// `kani::cover!(cond[, msg])`: `cond` must hold on at least one path, or the harness fails as
/// vacuous. `kani::cover!()` checks that the statement is reachable. One `cover!` per line: a
/// site is its file and line.
#[macro_export]
macro_rules! cover {
    () => {
        $crate::cover!(true)
    };
    ($cond:expr $(,)?) => {
        $crate::shim::cover_site($cond, file!(), line!())
    };
    ($cond:expr, $msg:literal $(,)?) => {
        $crate::shim::cover_site($cond, file!(), line!())
    };
}
