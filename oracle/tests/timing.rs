//! The differential timing model on the real kernel: a timer callback that re-arms itself
//! every 1 ms falls behind the spec's virtual clock by the kernel's lateness at every link, so
//! a wait ending shortly after a long chain's expiry is too close to call (poisoned), while a
//! short chain, or one with room, is compared. Without bpf() each test prints
//! `SKIPPED: <reason>` and asserts nothing more, never a silent pass.
//!
//! Kernel hygiene: every chain re-arms at 1 ms and stops at its guard; the engine closes its
//! fds when the story ends.

use oracle::Host;
use oracle::diff::{self, Diff, LATENESS_NS, Verdict, Why};
use scenario::Scenario;
use spec::Action;

/// The kernel, or `None` after saying loudly why not.
fn host() -> Option<Host> {
    match Host::probe() {
        Ok(h) => Some(h),
        Err(e) => {
            eprintln!("SKIPPED: the kernel oracle is unavailable: {e}");
            None
        }
    }
}

/// The story of a timer armed for 1 ms whose callback re-arms it for 1 ms while it has run
/// fewer than `runs` times, then a wait of `wait`, with the expectations of selftests'
/// `timer_cb1` (`progs/timer.c`): the helpers return 0, each run but the last re-arms.
fn chain(runs: usize, wait: &str) -> Scenario {
    let fired = [vec!["cb(0)"; runs - 1], vec!["cb(skip)"]]
        .concat()
        .join(", ");
    let text = format!(
        "\
scenario rearm_chain
source oracle/tests/timing.rs
eras all
map arr array max_entries=1 value=timer
prog p sched_cls
  main:
    timer_init(self, CLOCK_MONOTONIC)
    timer_set_callback(self, cb)
    timer_start(self, 1ms, 0)
  callback cb:
    if runs(cb) < {runs}: timer_start(self, 1ms, 0)
step run p on arr[0] -> 0, 0, 0
step wait {wait} -> {fired}
step runs cb -> {runs}
"
    );
    scenario::parse(&text, "rearm_chain.bpfs").expect("the story parses")
}

/// The index of the story's wait (map and program declarations are steps too).
fn wait_step(s: &Scenario) -> usize {
    s.steps
        .iter()
        .position(|st| matches!(st.action, Action::Op(spec::Op::Advance { .. })))
        .expect("the story waits")
}

/// `s` on the kernel and the spec; every step compared must meet the file's expectation.
fn run(host: &Host, s: &Scenario) -> Diff {
    let steps: Vec<Action> = s.steps.iter().map(|st| st.action.clone()).collect();
    let d = diff::story(host, &steps, LATENESS_NS).expect("create the oracle map");
    for (st, pair) in s.steps.iter().zip(&d.pairs) {
        let want = st.expect.for_era(host.kernel.era);
        assert!(
            want.is_met_by(&pair.kernel) || !matches!(d.verdict, Verdict::Agree),
            "line {} `{}`: kernel {:?}",
            st.line,
            st.text,
            pair.kernel
        );
    }
    d
}

#[test]
fn wait_ending_shortly_after_a_long_rearm_chain_is_too_close_to_call() {
    let Some(host) = host() else { return };
    // 50 links of 1 ms: the last expiry is due at 50 ms, and the kernel may run it as late
    // as 50 ms plus 50 links' lateness (5 ms), well after the wait ends at 50.3 ms.
    let s = chain(50, "50300us");
    let d = run(&host, &s);
    match &d.verdict {
        Verdict::Poisoned {
            step,
            why: Why::Timing(why),
        } if *step == wait_step(&s) => assert!(why.contains("late as its chain"), "{why}"),
        other => panic!("expected the wait to be poisoned by the chain's lateness: {other:?}"),
    }
}

#[test]
fn wait_ending_shortly_after_a_single_expiry_is_compared() {
    let Some(host) = host() else { return };
    // One expiry at 1 ms, run at most one lateness late: the wait ending at 1.3 ms sees it.
    let d = run(&host, &chain(1, "1300us"));
    assert_eq!(d.verdict, Verdict::Agree, "{:?}", d.pairs);
    assert_eq!(d.pairs.len(), 5);
}

#[test]
fn rearm_chain_with_room_before_the_wait_ends_is_compared() {
    let Some(host) = host() else { return };
    // 50 links end at 50 ms; the wait runs to 100 ms, far beyond any lateness.
    let d = run(&host, &chain(50, "100ms"));
    assert_eq!(d.verdict, Verdict::Agree, "{:?}", d.pairs);
    assert_eq!(d.pairs.len(), 5);
}
