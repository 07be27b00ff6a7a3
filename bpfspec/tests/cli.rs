//! `bpfspec` as a user runs it: exit codes, one-line errors, output formats.

mod common;
use common::{bpfspec, scratch};

use std::fs;
use std::path::{Path, PathBuf};

/// A valid scenario (the format document's example): lines 6 to 17.
const GOOD: &str = "\
scenario cancel_active_timer_returns_one
source tools/testing/selftests/bpf/progs/timer.c: bpf_timer_cancel(active) == 1
eras all

# An array timer.
map arr array max_entries=1 value=timer
prog p sched_cls
  main:
    timer_init(self, CLOCK_MONOTONIC)
    timer_set_callback(self, cb)
    timer_start(self, 10s, 0)
    timer_cancel(self)
    timer_start(self, 10s, 0)
  callback cb:
step run p on arr[0] -> 0, 0, 0, 1, -EINVAL
step wait 20s -> none
step runs cb -> 0
";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_malformed_file_is_one_line_naming_its_line() {
    let dir = scratch("malformed");
    let bad = write(
        &dir,
        "bad.bpfs",
        &GOOD.replace("timer_cancel(self)", "timer_strat(self)"),
    );
    for cmd in ["run", "check"] {
        let out = bpfspec(&[cmd, path(&bad)]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("{}:12: unknown helper `timer_strat`", path(&bad))),
            "{err}"
        );
    }
}

#[test]
fn an_unknown_era_is_a_usage_error_naming_it() {
    let dir = scratch("unknown_era");
    let good = write(&dir, "good.bpfs", GOOD);
    let out = bpfspec(&["check", "--kernel", "6.3", path(&good)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown kernel era `6.3`"));
    let in_file = write(
        &dir,
        "era.bpfs",
        &GOOD.replace("eras all", "eras >=6.1 6.4"),
    );
    let out = bpfspec(&["check", path(&in_file)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(":3: unknown kernel era `6.4`"));
}

#[test]
fn run_json_is_one_document_with_every_step() {
    let dir = scratch("json");
    let good = write(&dir, "good.bpfs", GOOD);
    let out = bpfspec(&["run", "--json", path(&good)]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = json.as_array().unwrap();
    let eras: Vec<&str> = runs.iter().map(|r| r["era"].as_str().unwrap()).collect();
    assert_eq!(eras, ["5.15", "6.1", "6.12", "6.18", "7.0", "7.2"]);
    for r in runs {
        assert_eq!(r["scenario"], "cancel_active_timer_returns_one");
        assert_eq!(r["file"], path(&good));
        let steps = r["steps"].as_array().unwrap();
        let lines: Vec<u64> = steps.iter().map(|s| s["line"].as_u64().unwrap()).collect();
        assert_eq!(lines, [6, 7, 15, 16, 17]);
        assert_eq!(steps[2]["step"], "step run p on arr[0]");
        assert_eq!(steps[2]["text"], "0, 0, 0, 1, -EINVAL");
        assert_eq!(steps[2]["outcome"]["Ran"]["rets"][3]["Int"], 1);
        assert_eq!(steps[4]["outcome"]["Count"], 0);
        assert!(steps.iter().all(|s| s["verdict"] == "agree"));
    }
}

#[test]
fn run_prints_one_aligned_line_per_step_for_the_era_asked() {
    let dir = scratch("run_text");
    let narrow = write(&dir, "narrow.bpfs", &GOOD.replace("eras all", "eras 6.18"));
    let out = bpfspec(&["run", "--kernel", "6.1", path(&narrow)]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("{} [6.1] cancel_active_timer_returns_one", path(&narrow))
    );
    assert_eq!(
        lines[3],
        "   15  step run p on arr[0]                     -> 0, 0, 0, 1, -EINVAL"
    );
    assert_eq!(
        lines[4],
        "   16  step wait 20s                            -> none"
    );
    assert_eq!(lines.len(), 6);
}

#[test]
fn check_of_a_valid_scenario_agrees_in_every_era() {
    let dir = scratch("check_good");
    let good = write(&dir, "good.bpfs", GOOD);
    let out = bpfspec(&["check", path(&good)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stdout),
        "checked 1 scenario (6 scenario×era runs, 30 steps): all agree\n"
    );
    let out = bpfspec(&["check", "--kernel", "7.0", path(&good)]);
    assert_eq!(
        text(&out.stdout),
        "checked 1 scenario (1 scenario×era run, 5 steps): all agree\n"
    );
}

#[test]
fn check_reports_mismatches_in_kernel_vocabulary_and_fails() {
    let dir = scratch("check_bad");
    let wrong = GOOD
        .replace("1, -EINVAL", "1, 0")
        .replace("wait 20s -> none", "wait 20s -> cb()")
        .replace("eras all", "eras >=6.12 <7.0");
    let bad = write(&dir, "timer/x.bpfs", &wrong);
    let out = bpfspec(&["check", path(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    let f = path(&bad);
    assert_eq!(
        text(&out.stdout),
        format!(
            "{f}:15 [6.12] step run p on arr[0]: bpf_timer_start (stmt 5) returned -EINVAL, expected 0\n\
             {f}:16 [6.12] step wait 20s: expected cb() to run, none ran\n\
             {f}:15 [6.18] step run p on arr[0]: bpf_timer_start (stmt 5) returned -EINVAL, expected 0\n\
             {f}:16 [6.18] step wait 20s: expected cb() to run, none ran\n\
             checked 1 scenario (2 scenario×era runs, 10 steps): 4 mismatches in 1 scenario\n"
        )
    );
}

#[test]
fn check_searches_directories_in_name_order_and_counts_parse_failures() {
    let dir = scratch("check_dir");
    write(&dir, "b/two.bpfs", &GOOD.replace("eras all", "eras 6.1"));
    write(&dir, "a.bpfs", &GOOD.replace("eras all", "eras 7.0"));
    write(&dir, "notes.txt", "not a scenario");
    let out = bpfspec(&["check", path(&dir)]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "checked 2 scenarios (2 scenario×era runs, 10 steps): all agree\n"
    );
    let broken = write(&dir, "c.bpfs", "scenario broken\n");
    let out = bpfspec(&["check", path(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!("{}:1: missing `source` line\n", path(&broken))
    );
    assert!(text(&out.stdout).ends_with("all agree; 1 file not parsed\n"));
}

#[test]
fn check_fails_on_unsupported_steps() {
    let dir = scratch("check_unsupported");
    let deleted = write(
        &dir,
        "deleted.bpfs",
        "scenario timer_in_deleted_element\n\
         source a program deletes its element, then creates a timer in it\n\
         eras 6.12\n\
         map h hash max_entries=1 value=timer\n\
         prog p sched_cls\n\
         \x20 main:\n\
         \x20   map_delete(self)\n\
         \x20   timer_init(self, CLOCK_MONOTONIC)\n\
         step update h[0] -> 0\n\
         step run p on h[0] -> 0, 0\n",
    );
    let out = bpfspec(&["check", path(&deleted)]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "{}:10 [6.12] step run p on h[0]: not modelled by the spec: async object created in a deleted element",
            path(&deleted)
        )),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("1 unsupported step in 1 scenario\n"),
        "{stdout}"
    );
}

#[test]
fn check_of_nothing_is_a_usage_error() {
    let dir = scratch("check_empty");
    let out = bpfspec(&["check", path(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no *.bpfs files"));
    let out = bpfspec(&["check", path(&dir.join("missing.bpfs"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no such file or directory"));
}
