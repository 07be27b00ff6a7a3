//! # bpf-async-spec: the executable reference semantics of Linux BPF async objects
//!
//! `bpf_timer`, `bpf_wq` and `bpf_task_work`, the map and program lifetimes they live in
//! (refcnt, usercnt and uref drop, element update / delete / LRU eviction, map free, inner
//! maps) and kptrs, as a small-step machine:
//!
//! ```text
//! step(&mut World, &Op) -> Outcome
//! ```
//!
//! * [`Op`] is the one vocabulary of user syscalls, program statements and time.
//! * [`World`] is everything the kernel holds: maps with their elements and async slots,
//!   programs, user handles, the virtual clock and the queue of pending timer / work events.
//! * [`Outcome`] is typed: a value or errno, a verifier rejection, or an explicit
//!   [`Unsupported`]. A broken invariant panics with its id.
//! * [`Kernel`] names the kernel version (an [`Era`] and its [`Features`]): every
//!   version-dependent rule matches on a named feature.
//!
//! Every rule cites the kernel function and era it models. The spec paraphrases the kernel;
//! it contains no kernel code.
//!
//! ## What it does not model
//! Concurrency (one CPU; the races live in `harnesses/`), allocation failure (-ENOMEM), NMI /
//! hardirq program contexts, element memory reuse after delete, the exact victim choice of the
//! kernel's approximate LRU, and the verifier beyond the load-time rules in [`verifier`].

pub mod engine;
pub mod era;
pub mod errno;
#[cfg(feature = "arbitrary")]
pub mod generate;
pub mod invariants;
pub mod layout;
pub mod mutants;
pub mod op;
pub mod outcome;
pub mod prog;
mod step;
pub mod verifier;
pub mod verify;
pub mod world;

pub use engine::{Action, Actual, Engine, SpecEngine};
pub use era::{Era, Features, Kernel};
pub use errno::Errno;
pub use op::*;
pub use outcome::{CallbackRun, Observation, Outcome, RejectReason, Ret, Unsupported};
pub use step::{CALLBACKS_PER_ADVANCE, step};
pub use world::World;
