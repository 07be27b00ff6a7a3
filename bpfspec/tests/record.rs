//! `bpfspec record` on the real kernel: expectations written wrong on purpose become the
//! kernel's answers, as the selftest-derived corpus states them, only for the kernel's era, and
//! the file is marked `observed`. Without bpf() the binary exits 77 (SKIP): the test then prints
//! `SKIPPED: <reason>` and asserts nothing more, never a silent pass.

mod common;
use common::{bpfspec, scratch};

use scenario::Scenario;
use spec::Era;
use std::fs;
use std::path::Path;
use std::process::Output;

/// The corpus file whose story the tests copy: `bpf_timer_set_callback`, `bpf_timer_start` and
/// `bpf_timer_cancel` before `bpf_timer_init` return -EINVAL, in every era.
const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../spec/testdata/helpers/timer_ops_before_init_return_einval.bpfs"
);

/// That story with wrong expectations: the map creation failing, every call succeeding.
fn wrong(eras: &str) -> String {
    format!(
        "\
# Wrong on purpose: `bpfspec record` must replace what is wrong for the kernel's era.
scenario wrong_timer_ops_before_init
source bpfspec/tests/record.rs: the story of timer_ops_before_init_return_einval.bpfs
eras {eras}

map arr array max_entries=1 value=timer -> -EINVAL
prog p sched_cls
  main:
    timer_set_callback(self, cb)
    timer_start(self, 1s, 0)
    timer_cancel(self)
  callback cb:

step run p on arr[0] -> 0, 0, 0   # wrong too
"
    )
}

/// `bpfspec record ARGS`; `None`, after printing `SKIPPED: <reason>`, when it exits 77.
fn record(args: &[&str]) -> Option<Output> {
    let out = bpfspec(&[&["record"], args].concat());
    if out.status.code() != Some(77) {
        return Some(out);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reason = stderr
        .lines()
        .find_map(|l| l.strip_prefix("SKIPPED: "))
        .unwrap_or_else(|| panic!("exit 77 without a SKIPPED line: {stderr}"));
    eprintln!("SKIPPED: {reason}");
    None
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn parse(p: &Path) -> Scenario {
    scenario::parse(&fs::read_to_string(p).unwrap(), p).unwrap()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The era of an `observed linux <release> (era <era>)` marker.
fn observed_era(s: &Scenario) -> Era {
    let observed = s.header.observed.as_deref().expect("an `observed` line");
    assert!(observed.starts_with("linux "), "{observed}");
    let era = observed
        .strip_suffix(')')
        .and_then(|o| o.rsplit_once("(era "))
        .unwrap_or_else(|| panic!("no era in `observed {observed}`"))
        .1;
    era.parse().unwrap()
}

#[test]
fn wrong_expectations_become_the_kernels_for_its_era_only() {
    let dir = scratch("record_all_eras");
    let file = dir.join("wrong.bpfs");
    fs::write(&file, wrong("all")).unwrap();
    let before = parse(&file);

    let Some(dry) = record(&["--dry-run", path(&file)]) else {
        return;
    };
    assert_ok(&dry);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        wrong("all"),
        "dry run wrote"
    );
    let shown = String::from_utf8_lossy(&dry.stdout);
    assert!(shown.contains("a: observed linux "), "{shown}");

    let Some(out) = record(&[path(&file)]) else {
        return;
    };
    assert_ok(&out);
    let after = parse(&file);
    let era = observed_era(&after);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("-> era {era}")), "{stdout}");

    let corpus = parse(Path::new(CORPUS));
    assert_eq!(after.steps.len(), corpus.steps.len());
    for ((b, a), c) in before.steps.iter().zip(&after.steps).zip(&corpus.steps) {
        assert_eq!(a.action, c.action, "line {}: not the corpus story", a.line);
        assert_eq!(
            a.expect.for_era(era),
            c.expect.for_era(era),
            "line {}: recorded expectation is not the kernel's",
            a.line
        );
        for other in after.header.eras.iter().filter(|&e| e != era) {
            assert_eq!(a.expect.for_era(other), b.expect.for_era(other), "{other}");
        }
    }

    // Recording again changes nothing.
    let recorded = fs::read_to_string(&file).unwrap();
    let Some(again) = record(&[path(&file)]) else {
        return;
    };
    assert_ok(&again);
    assert_eq!(fs::read_to_string(&file).unwrap(), recorded);
}

#[test]
fn a_file_for_this_era_only_is_rewritten_in_place_comments_kept() {
    let dir = scratch("record_one_era");
    let probe = dir.join("probe.bpfs");
    fs::write(&probe, wrong("all")).unwrap();
    let Some(out) = record(&["--dry-run", path(&probe)]) else {
        return;
    };
    assert_ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let era = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("kernel: ")?
                .split_once("-> era ")?
                .1
                .split(' ')
                .next()
        })
        .unwrap_or_else(|| panic!("no `kernel:` line in: {stdout}"));

    let file = dir.join("wrong.bpfs");
    fs::write(&file, wrong(era)).unwrap();
    let Some(out) = record(&[path(&file)]) else {
        return;
    };
    assert_ok(&out);
    let text = fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], wrong(era).lines().next().unwrap(), "comment kept");
    assert!(lines[4].starts_with("observed linux "), "{text}");
    assert_eq!(lines[6], "map arr array max_entries=1 value=timer -> 0");
    assert_eq!(
        lines[14],
        "step run p on arr[0] -> -EINVAL, -EINVAL, -EINVAL   # wrong too"
    );
    assert_eq!(lines.len(), wrong(era).lines().count() + 1, "{text}");
}

#[test]
fn a_step_too_close_to_call_is_refused_and_the_file_left_alone() {
    let dir = scratch("record_poisoned");
    let file = dir.join("close.bpfs");
    // The timer is due 50 us after the wait ends: within the clock-reading jitter.
    let text = "\
scenario expiry_at_the_wait_end
source bpfspec/tests/record.rs: a wait that ends as a timer expires
eras all

map arr array max_entries=1 value=timer
prog p sched_cls
  main:
    timer_init(self, CLOCK_MONOTONIC)
    timer_set_callback(self, cb)
    timer_start(self, 10ms, 0)
  callback cb:

step run p on arr[0] -> 0, 0, 0
step wait 9950us -> none
";
    fs::write(&file, text).unwrap();
    let Some(out) = record(&[path(&file)]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("NOT RECORDED: line 14"), "{stderr}");
    assert!(stderr.contains("poisoned (timing"), "{stderr}");
    assert_eq!(fs::read_to_string(&file).unwrap(), text);
}

#[test]
fn a_file_that_does_not_parse_is_a_usage_error_before_the_kernel() {
    let dir = scratch("record_malformed");
    let file = dir.join("bad.bpfs");
    fs::write(
        &file,
        "scenario bad\nsource x\neras all\nstep frobnicate -> 0\n",
    )
    .unwrap();
    let out = bpfspec(&["record", path(&file)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.bpfs:4:"), "{stderr}");
    assert!(out.stdout.is_empty(), "the kernel was probed");
}
