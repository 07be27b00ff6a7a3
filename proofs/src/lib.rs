//! Kani proofs of the spec's invariants (see README.md). Run here through kani-shim
//! (`make proofs`), unchanged under `cargo kani` (`make kani`).

pub mod async_callbacks;
pub mod kfunc_args;
pub mod kfunc_sets;
pub mod kptr;
pub mod ledger;
pub mod map_uid;
pub mod messages;
pub mod programs;
pub mod refcount;
pub mod stack_depth;
pub mod step;
pub mod universe;
pub mod uref;
