//! Without bpf() the kernel half of `bpfspec` must skip loudly, never pass: exit 77 (SKIP)
//! with one line saying what is skipped and why. The test takes bpf() away by running the
//! binary as `nobody` with every capability dropped (`setpriv`, util-linux).

use std::process::Command;

/// `bpfspec ARGS` without privileges: `None` when this machine cannot drop them.
fn unprivileged(args: &[&str]) -> Option<std::process::Output> {
    let bin = env!("CARGO_BIN_EXE_bpfspec");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["--inh-caps=-all", "--bounding-set=-all", bin])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    // setpriv itself fails (status 1 or 127, its own message) where it may not switch users.
    out.status.code().filter(|&c| c == 77 || c == 0 || c == 2)?;
    Some(out)
}

fn assert_skips(args: &[&str], what: &str) {
    let Some(out) = unprivileged(args) else {
        // Not a pass: this test could not take bpf() away here.
        eprintln!("SKIPPED: setpriv cannot drop privileges on this machine");
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "stderr: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("SKIPPED: "))
        .unwrap_or_else(|| panic!("no SKIPPED line in: {stderr}"));
    assert!(line.contains(what), "{line}");
    assert!(line.contains("bpf() refused"), "{line}");
    assert!(line.contains("CAP_BPF"), "{line}");
}

#[test]
fn conform_on_files_skips_with_the_reason_without_bpf() {
    assert_skips(&["conform", "../spec/testdata"], "bpfspec conform needs");
}

#[test]
fn conform_generate_skips_with_the_reason_without_bpf() {
    assert_skips(
        &["conform", "--generate", "3", "--seed", "1"],
        "bpfspec conform --generate needs",
    );
}

#[test]
fn record_skips_with_the_reason_without_bpf() {
    assert_skips(
        &[
            "record",
            "--dry-run",
            "../spec/testdata/helpers/timer_ops_before_init_return_einval.bpfs",
        ],
        "bpfspec record needs",
    );
}
