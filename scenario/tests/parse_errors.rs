//! Every invalid file is one `FILE:LINE: what is wrong` error naming the right line.

mod support;

use scenario::parse;

/// Lines 1 to 3.
const HEADER: &str = "scenario t\nsource test\neras all\n";

/// Parse `HEADER + body` and return the error, checking its shape.
fn error_in(body: &str) -> (usize, String) {
    error_of(&format!("{HEADER}{body}"))
}

fn error_of(text: &str) -> (usize, String) {
    let e = parse(text, "dir/t.bpfs").expect_err("the file should not parse");
    support::line_and_message(e, "dir/t.bpfs")
}

/// The error is on `line` and its message contains `words`.
#[track_caller]
fn assert_error(body: &str, line: usize, words: &str) {
    support::assert_at(error_in(body), line, words);
}

const TIMER_MAP: &str = "map arr array max_entries=1 value=timer\n";

#[test]
fn unknown_helper_is_named() {
    assert_error(
        &format!("{TIMER_MAP}prog p sched_cls\n  main:\n    timer_strat(self, 1s, 0)\n"),
        7,
        "unknown helper `timer_strat`",
    );
}

#[test]
fn unknown_era_is_named() {
    let (line, message) = error_of("scenario t\nsource s\neras 6.3\n");
    assert_eq!(line, 3);
    assert!(message.contains("era `6.3`"), "{message}");
    assert_error(
        &format!("{TIMER_MAP}step close arr -> 0\n  on >=6.13 -> -EBADF\n"),
        6,
        "era `6.13`",
    );
}

#[test]
fn out_of_range_numbers_are_errors() {
    assert_error(
        "map m array max_entries=256\n",
        4,
        "`256` is out of range for max_entries",
    );
    assert_error(
        &format!("{TIMER_MAP}step delete arr[4294967296] -> 0\n"),
        5,
        "out of range for a key",
    );
    assert_error(
        &format!(
            "{TIMER_MAP}prog p sched_cls\n  main:\n    if runs(cb) < 256: timer_cancel(self)\n  callback cb:\n"
        ),
        7,
        "out of range for a guard's run count",
    );
    assert_error(
        "step wait 18446744073709551616 -> none\n",
        4,
        "out of range",
    );
    assert_error("step wait 20000000000s -> none\n", 4, "out of range");
}

#[test]
fn names_must_be_declared_before_use() {
    assert_error("step close nothing -> 0\n", 4, "`nothing` is not declared");
    assert_error(
        "prog p sched_cls\n  main:\n    timer_cancel(later[0])\nmap later array max_entries=1\n",
        6,
        "`later` is not declared",
    );
    assert_error(
        "map m array_of_maps max_entries=1 inner=tmpl\n",
        4,
        "`tmpl` is not declared",
    );
    assert_error(
        "step wait 1s -> cb()\nprog p sched_cls\n  callback cb:\n",
        4,
        "`cb` is not declared",
    );
}

#[test]
fn names_must_denote_the_right_kind_of_object() {
    assert_error(
        &format!("{TIMER_MAP}step runs arr -> 0\n"),
        5,
        "`arr` is a map, not a callback",
    );
    assert_error(
        &format!("{TIMER_MAP}step run arr on arr[0] -> 0\n"),
        5,
        "`arr` is a map, not a program",
    );
    assert_error(
        "prog p sched_cls\n  callback cb:\nstep close cb -> 0\n",
        6,
        "`cb` is a callback, not a map or program",
    );
    assert_error(
        &format!("{TIMER_MAP}step update arr[0][1] -> 0\n"),
        5,
        "`arr` is not a map of maps",
    );
}

#[test]
fn steps_need_an_expectation() {
    assert_error(&format!("{TIMER_MAP}step close arr\n"), 5, "missing `->`");
    assert_error(
        &format!("{TIMER_MAP}step close arr ->\n"),
        5,
        "expected `0` or an errno",
    );
    assert_error("step wait 1s ->\n", 4, "expected `none` or callback runs");
    assert_error(
        &format!("{TIMER_MAP}step close arr -> 0\n  on 6.1 -EBADF\n"),
        6,
        "missing `->` in `on` line",
    );
    assert_error(
        &format!("{TIMER_MAP}step close arr -> 0 -> 0\n"),
        5,
        "unexpected `->`",
    );
}

#[test]
fn duplicate_names_are_errors() {
    assert_error(
        &format!("{TIMER_MAP}map arr hash max_entries=1\n"),
        5,
        "`arr` is already declared on line 4",
    );
    assert_error(
        &format!("{TIMER_MAP}prog p sched_cls\n  callback arr:\n"),
        6,
        "`arr` is already declared on line 4",
    );
    assert_error(
        "prog p sched_cls\n  callback cb:\nprog q sched_cls\n  callback cb:\n",
        7,
        "`cb` is already declared on line 5",
    );
}

#[test]
fn a_program_runs_on_one_map() {
    assert_error(
        &format!(
            "{TIMER_MAP}map two array max_entries=1\nprog p sched_cls\nstep run p on arr[0] ->\nstep run p on two[0] ->\n"
        ),
        8,
        "program `p` is run on `arr` on line 7 and on `two` here",
    );
    assert_error(
        "prog p sched_cls\nmap late array max_entries=1\nstep run p on late[0] ->\n",
        6,
        "map `late` must be declared before program `p` (line 4)",
    );
}

#[test]
fn results_match_the_statements_they_describe() {
    let prog = "prog p sched_cls\n  main:\n    timer_cancel(self)\n    timer_cancel(self)\n  callback cb:\n    timer_cancel(self)\n";
    assert_error(
        &format!("{TIMER_MAP}{prog}step run p on arr[0] -> 0\n"),
        11,
        "program `p`'s main has 2 statements, but 1 result given (a `run` that fails as a whole is `-> fails -E…`)",
    );
    assert_error(
        &format!("{TIMER_MAP}{prog}step wait 1s -> cb(0, 0)\n"),
        11,
        "callback `cb` has 1 statement, but 2 results given",
    );
    assert_error(
        &format!("{TIMER_MAP}{prog}step run p on arr[0] -> 0, 0\n  on 7.0 -> 0, 0, 0\n"),
        12,
        "has 2 statements, but 3 results given",
    );
}

#[test]
fn callbacks_belong_to_their_program() {
    let progs = "prog q sched_cls\n  callback theirs:\nprog p sched_cls\n  main:\n";
    assert_error(
        &format!("{progs}    timer_set_callback(self, theirs)\n"),
        8,
        "`theirs` is not a callback of this program",
    );
    assert_error(
        &format!("{progs}    if runs(theirs) < 2: timer_cancel(self)\n"),
        8,
        "`theirs` is not a callback of this program",
    );
}

#[test]
fn blocks_are_indented_and_sections_are_named() {
    assert_error(
        "  map m array max_entries=1\n",
        4,
        "unexpected indented line",
    );
    assert_error(
        "prog p sched_cls\n    timer_cancel(self)\n",
        5,
        "expected `main:` or `callback NAME:`",
    );
    assert_error(
        "prog p sched_cls\n  main:\n  timer_cancel(self)\n",
        6,
        "must be indented under its `main:`",
    );
    assert_error(
        "prog p sched_cls\n  main:\n  main:\n",
        6,
        "second `main:` (the first is on line 5)",
    );
    assert_error(
        "map m array max_entries=1\n  max_entries=2\n",
        5,
        "expected an `on <eras> -> ...` line",
    );
}

#[test]
fn the_header_comes_first_and_is_complete() {
    assert_eq!(error_of("").0, 1);
    assert!(error_of("# only a comment\n").1.contains("empty file"));
    let (line, message) = error_of("\n\nsource s\nscenario t\n");
    assert_eq!(
        (line, message.as_str()),
        (3, "the first statement must be `scenario <slug>`")
    );
    assert_eq!(
        error_of("scenario t\neras all\n"),
        (1, "missing `source` line".to_owned())
    );
    assert_eq!(
        error_of("scenario t\nsource s\n"),
        (1, "missing `eras` line".to_owned())
    );
    assert_error("eras all\n", 4, "duplicate `eras` line");
    assert_error(
        "map m array max_entries=1\nsource late\n",
        5,
        "`source` must come before maps, programs and steps",
    );
    assert_error("kernel rt\n", 4, "unknown kernel option `rt`");
    assert_error("scenario again\n", 4, "duplicate `scenario` line");
    assert_error("frobnicate\n", 4, "unknown statement `frobnicate`");
}

#[test]
fn words_are_checked_against_their_tables() {
    assert_error(
        "map m arry max_entries=1\n",
        4,
        "unknown map type `arry` (known: array,",
    );
    assert_error(
        "map m array max_entries=1 value=timer,clock\n",
        4,
        "unknown value field `clock`",
    );
    assert_error(
        "map m array max_entries=1 flags=fast\n",
        4,
        "unknown map flag `fast`",
    );
    assert_error("map m array\n", 4, "missing `max_entries=<N>`");
    assert_error(
        "map m array max_entries=1 max_entries=2\n",
        4,
        "`max_entries=` given twice",
    );
    assert_error("prog p bpf_iter\n", 4, "unknown program type `bpf_iter`");
    assert_error("prog p xdp license=BSD\n", 4, "unknown license `BSD`");
    assert_error(
        "prog p xdp -> reject too_big\n",
        4,
        "unknown reject reason `too_big`",
    );
    assert_error(
        "map m array max_entries=1 -> -ENOPE\n",
        4,
        "unknown errno `-ENOPE`",
    );
    assert_error("step wait 3h -> none\n", 4, "unknown duration unit `h`");
    assert_error(
        &format!("{TIMER_MAP}prog p xdp\n  main:\n    timer_init(self, CLOCK_SOMETIME)\n"),
        7,
        "unknown clock `CLOCK_SOMETIME`",
    );
    assert_error(
        &format!("{TIMER_MAP}step alive arr -> maybe\n"),
        5,
        "unknown answer `maybe`",
    );
    assert_error("step jump 3 -> 0\n", 4, "unknown step `jump`");
    assert_error("map self array max_entries=1\n", 4, "`self` is not a name");
    assert_error(
        "map m array max_entries=1 @\n",
        4,
        "unexpected character `@`",
    );
}

#[test]
fn inner_maps_of_one_outer_map_are_different_maps() {
    assert_error(
        "map tmpl array max_entries=1\nmap o array_of_maps max_entries=2 inner=tmpl\nprog p sched_cls\n\
         step run p on o[0][0] ->\nstep run p on o[1][0] ->\n",
        8,
        "program `p` is run on `o[0]` on line 7 and on `o[1]` here",
    );
}

#[test]
fn a_program_declared_on_one_map_and_run_on_another_is_an_error() {
    assert_error(
        &format!(
            "{TIMER_MAP}map other array max_entries=1 value=timer\nprog p sched_cls on arr\n  \
             main:\n    timer_cancel(self)\nstep run p on other[0] -> -EINVAL\n"
        ),
        9,
        "declared `on arr` (line 6) and run on `other`",
    );
}
