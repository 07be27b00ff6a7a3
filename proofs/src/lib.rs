//! Kani proofs of the spec's invariants (see README.md). Run here through kani-shim
//! (`make proofs`), unchanged under `cargo kani` (`make kani`).

pub mod kptr;
pub mod ledger;
pub mod refcount;
pub mod step;
pub mod universe;
pub mod uref;

// verifier proofs (proofs-verifier): `pub mod verifier;` goes here.
