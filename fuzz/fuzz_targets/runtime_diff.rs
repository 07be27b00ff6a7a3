//! The spec against the real kernel: the input bytes make a generated story
//! (`oracle::cases::story`), which runs on a fresh kernel engine and on the spec, compared
//! after every step (`oracle::diff`, the default lateness as `bpfspec conform`). A divergence panics
//! with both answers in kernel vocabulary; a poisoned story (a step too close to call, or
//! not a deterministic kernel answer) and an agreeing one pass. Without bpf() every input is
//! a no-op, said once on stderr at start.
//!
//! Kernel hygiene: every story's engine closes its fds when dropped. The host, shared by
//! every input, mounts a private bpffs for pins on first use; the process runs in its own
//! mount namespace so that mount ends with the process however libFuzzer ends it, and at
//! exit or on a panic the mount is detached and its directory removed.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oracle::Host;
use oracle::diff::Verdict;
use oracle::regression::Replay;
use std::sync::OnceLock;

/// The kernel, probed once; `None` when the oracle is unavailable.
static HOST: OnceLock<Option<Host>> = OnceLock::new();

fn host() -> Option<&'static Host> {
    HOST.get_or_init(|| match Host::probe() {
        Ok(host) => {
            eprintln!("runtime_diff: kernel: {}", host.detection);
            Some(host)
        }
        Err(e) => {
            eprintln!(
                "runtime_diff: SKIPPED: the kernel oracle is unavailable ({e}): every input is \
                 a no-op, nothing is compared with the kernel"
            );
            None
        }
    })
    .as_ref()
}

/// Detach the host's bpffs and remove its directory (an exit handler, and the first thing
/// the panic hook does).
extern "C" fn unmount_bpffs() {
    if let Some(Some(host)) = HOST.get() {
        host.unmount_bpffs();
    }
}

/// A private mount namespace (mounts propagate neither way), entered while the process is
/// still single-threaded: libFuzzer ends a timeout, an interrupt or a crash with `_Exit`,
/// which runs no exit handler, and the bpffs must not outlive the process then either.
fn enter_private_mount_namespace() {
    // SAFETY: plain syscalls with NUL-terminated strings and no data argument.
    let entered = unsafe {
        libc::unshare(libc::CLONE_NEWNS) == 0
            && libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
    };
    if !entered {
        eprintln!(
            "runtime_diff: no private mount namespace ({}): a run ended by a timeout, an \
             interrupt or a crash may leave the oracle's bpffs mounted under /tmp",
            std::io::Error::last_os_error()
        );
    }
}

/// Once, before the first input: the mount namespace, the cleanup hooks, the probe.
fn init() {
    enter_private_mount_namespace();
    // SAFETY: registers a function that takes no arguments and does not unwind.
    if unsafe { libc::atexit(unmount_bpffs) } != 0 {
        eprintln!("runtime_diff: atexit failed: the oracle's bpffs may stay mounted");
    }
    let fuzzer_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        unmount_bpffs();
        fuzzer_hook(info);
    }));
    host();
}

/// One input: its story on the kernel and the spec; a divergence panics.
fn compare(input: &[u8]) {
    let Some(host) = host() else {
        return;
    };
    let replay = Replay::run(host, input)
        .unwrap_or_else(|e| panic!("runtime_diff: the oracle cannot create its result map: {e}"));
    if let Verdict::Diverged { step } = replay.diff.verdict {
        panic!(
            "runtime_diff: DIVERGED: {}\nreplay: cargo +nightly fuzz run runtime_diff <the crash \
             file libFuzzer names below> (BPFSPEC_TRACE=1 prints both engines' answers at every \
             step); as a scenario file replaying in `make ci`: cargo run --release \
             --manifest-path fuzz/Cargo.toml --bin divergence_to_scenario -- <crash file> \
             spec/testdata/<topic>/<name>.bpfs",
            replay.describe_divergence(host, step, "runtime_diff", "cargo-fuzz runtime_diff input")
        );
    }
}

fuzz_target!(init: init(), |input: &[u8]| compare(input));
