//! Finding and loading scenario files.

use scenario::Scenario;
use std::fs;
use std::path::{Path, PathBuf};

/// The scenario files under `paths`: files as given, directories searched recursively for
/// `*.bpfs`, each directory's entries in name order.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    collect_ext(paths, "bpfs")
}

/// The files under `paths` as [`collect`] finds them, with extension `ext`.
pub fn collect_ext(paths: &[PathBuf], ext: &str) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = found.len();
            walk(path, ext, &mut found)?;
            if found.len() == before {
                return Err(format!("{}: no *.{ext} files", path.display()));
            }
        } else if path.exists() {
            found.push(path.clone());
        } else {
            return Err(format!("{}: no such file or directory", path.display()));
        }
    }
    Ok(found)
}

fn walk(dir: &Path, ext: &str, found: &mut Vec<PathBuf>) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("{}: {e}", dir.display());
    let mut entries = fs::read_dir(dir)
        .map_err(cannot)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(cannot)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, ext, found)?;
        } else if path.extension().is_some_and(|e| e == ext) {
            found.push(path);
        }
    }
    Ok(())
}

/// Read and parse one file; the error is one line (`FILE:LINE: what is wrong`).
pub fn load(path: &Path) -> Result<Scenario, String> {
    read(path).map(|(_, scenario)| scenario)
}

/// One file's text and what it parses to; the error as [`load`]'s.
pub fn read(path: &Path) -> Result<(String, Scenario), String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let scenario = scenario::parse(&text, path).map_err(|e| e.to_string())?;
    Ok((text, scenario))
}
