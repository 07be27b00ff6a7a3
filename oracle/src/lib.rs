//! # The real kernel as oracle
//!
//! Runs the spec's [`spec::Op`] vocabulary on the running Linux kernel through bpf(2), so
//! that scenarios and generated cases can be compared step by step with the spec:
//!
//! * [`Host`] probes the kernel once: bpf() access (or why not), the era it behaves as, the
//!   kfunc ids in its BTF; and it holds what every case shares.
//! * [`KernelEngine`] implements [`spec::Engine`]: maps with BTF, programs compiled from
//!   [`spec::ProgSpec`] by [`codegen`] with the [`asm`] builder, `BPF_PROG_TEST_RUN`, real
//!   sleeps for waits, reads through an mmap'ed result map.
//! * [`diff`] runs one story on the spec and the kernel side by side and types the result:
//!   agree, diverged at a step, or poisoned (not a deterministic kernel answer).
//! * [`cases`] generates valid-looking stories for differential runs.
//! * [`regression`] words a divergence in kernel vocabulary and writes it as a scenario file
//!   expecting the kernel's answers.
//! * [`verify`] loads a verifier case ([`spec::prog::Case`]) and types the kernel's verdict
//!   as the spec's [`spec::verify::Verdict`], the reason normalized by [`messages`].
//!
//! Only [`sys`] touches C (libbpf) and raw memory.

pub mod asm;
pub mod cases;
pub mod codegen;
pub mod diff;
pub mod engine;
pub mod host;
pub mod messages;
pub mod regression;
pub mod sys;
pub mod vdiff;
pub mod verify;

pub use engine::{KernelEngine, Poison};
pub use host::{Census, Host, Unavailable};
