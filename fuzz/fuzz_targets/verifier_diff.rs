//! The spec's verifier model against the kernel's verifier: the input bytes make a generated
//! program (`spec::prog::generate`, for this kernel's era), loaded by both
//! (`oracle::vdiff::compare`). A divergence panics with both verdicts, the kernel's log tail
//! and a case file expecting the kernel's verdict (commit it under
//! `spec/testdata/verifier/regressions/`); agreeing and poisoned programs pass. Without bpf()
//! every input is a no-op, said once on stderr at start.
//!
//! Kernel hygiene: programs are only loaded, never run or pinned, and every fd is closed.

#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use oracle::Host;
use oracle::vdiff::{self, VDiff};
use std::sync::OnceLock;

static HOST: OnceLock<Option<Host>> = OnceLock::new();

fn host() -> Option<&'static Host> {
    HOST.get_or_init(|| match Host::probe() {
        Ok(host) => {
            eprintln!("verifier_diff: kernel: {}", host.detection);
            Some(host)
        }
        Err(e) => {
            eprintln!(
                "verifier_diff: SKIPPED: the kernel oracle is unavailable ({e}): every input is \
                 a no-op, nothing is compared with the kernel"
            );
            None
        }
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(host) = host() else {
        return;
    };
    let Ok(case) = spec::prog::generate::case(&mut Unstructured::new(data), &host.kernel) else {
        return;
    };
    if let VDiff::Diverged { spec, kernel, log } = vdiff::compare(host, &case) {
        let file = scenario::CaseFile::observed(
            "fuzzed_verifier_divergence",
            &case,
            &host.kernel,
            &oracle::sys::kernel_release(),
            kernel,
            log.as_deref().unwrap_or(""),
            "oracle: cargo fuzz run verifier_diff (crash file)",
        );
        panic!(
            "verifier divergence: spec {spec}, kernel {kernel}\n{}",
            scenario::render_case(&file)
        );
    }
});
