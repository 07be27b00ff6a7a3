//! # Race harnesses: the kernel's bpf_timer / bpf_async implementations under loom and shuttle
//!
//! The kernel defends these designs with stress selftests and KASAN: probabilistic, slow,
//! and only on sanitizer kernels. Here each race of the patch history is a small model of
//! the kernel code on both sides of its fix ([`kernel`]), run by loom (every interleaving up
//! to a preemption bound) and shuttle (PCT schedules) through one shim ([`sync`]): the buggy
//! design must break its invariant, the fixed one must not, and the fixed one's executions
//! must be seen entering the racy window ([`races`], [`check`]).
//!
//! ## What it does not model
//! Weak memory orderings (steps are sequentially consistent: barriers are assumed where the
//! kernel has them, and each race says so), interrupts nesting inside a step, hrtimer
//! expiry times (an expiry is an action a CPU takes when the timer is queued), allocation
//! failure, and the BPF programs' own instructions beyond their helper calls.

pub mod check;
pub mod kernel;
pub mod lin;
pub mod races;
pub mod sync;
