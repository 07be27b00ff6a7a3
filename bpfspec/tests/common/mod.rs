//! What the `bpfspec` integration tests share: a scratch directory per test and the binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// `bpfspec ARGS`, run to completion.
pub fn bpfspec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfspec"))
        .args(args)
        .output()
        .unwrap()
}
