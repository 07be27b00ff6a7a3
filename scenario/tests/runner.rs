//! The runner judges each step against the expectation for the engine's era, counts
//! `Unsupported` on its own, and words disagreements in kernel vocabulary.

use scenario::{Scenario, Verdict, parse, run};
use spec::{
    CallbackRun, CbIdx, Engine, Era, Errno, Field, Kernel, Observation, Op, Outcome, ProgIdx,
    Query, RejectReason, Ret, SpecEngine, Unsupported,
};
use std::collections::VecDeque;

/// An engine that answers from a script, to test the runner apart from the spec's rules.
struct Scripted {
    kernel: Kernel,
    outcomes: VecDeque<Outcome>,
    observations: VecDeque<Observation>,
}

impl Scripted {
    fn new(era: Era, outcomes: Vec<Outcome>, observations: Vec<Observation>) -> Scripted {
        Scripted {
            kernel: Kernel::new(era),
            outcomes: outcomes.into(),
            observations: observations.into(),
        }
    }
}

impl Engine for Scripted {
    fn name(&self) -> String {
        "scripted".to_owned()
    }
    fn kernel(&self) -> Kernel {
        self.kernel
    }
    fn apply(&mut self, _: &Op) -> Outcome {
        self.outcomes.pop_front().expect("script too short")
    }
    fn observe(&mut self, _: &Query) -> Observation {
        self.observations.pop_front().expect("script too short")
    }
}

/// Lines 1-14: a timer map, a program with a task_work callback and a timer callback.
const STORY: &str = "\
scenario story
source runner test
eras all
map arr array max_entries=1 value=timer,task_work
prog p sched_cls -> reject unknown_func
  on >=6.18 -> 0
  main:
    timer_init(self, CLOCK_MONOTONIC)
    timer_set_callback(self, cb)
    timer_start(self, 10s, 0)
    task_work_schedule_signal(self, tw)
  callback cb:
    timer_start(self, 1s, 0)
  callback tw:
";

fn story(steps: &str) -> Scenario {
    parse(&format!("{STORY}{steps}"), "timer/x.bpfs").unwrap_or_else(|e| panic!("{e}"))
}

fn ran(rets: &[Ret], callbacks: Vec<CallbackRun>) -> Outcome {
    Outcome::Ran {
        rets: rets.to_vec(),
        callbacks,
    }
}

fn tw_run() -> CallbackRun {
    CallbackRun {
        prog: ProgIdx(0),
        cb: CbIdx(1),
        rets: vec![],
    }
}

#[test]
fn rejections_compare_by_reason_name() {
    let s = story("");
    let map_ok = Outcome::Ok;
    let unknown = Outcome::Reject(RejectReason::UnknownFunc("bpf_task_work_schedule_signal"));
    let mut e = Scripted::new(Era::V6_12, vec![map_ok.clone(), unknown], vec![]);
    assert!(run(&s, &mut e).agrees());
    let other = Outcome::Reject(RejectReason::NoValidField(Field::TaskWork));
    let mut e = Scripted::new(Era::V6_12, vec![map_ok, other], vec![]);
    let r = run(&s, &mut e);
    assert_eq!(r.mismatches(), 1);
    assert_eq!(
        r.problems().collect::<Vec<_>>(),
        [
            "timer/x.bpfs:5 [6.12] prog p sched_cls: the verifier rejected the program: no_valid_field (bpf_task_work), expected reject unknown_func"
        ]
    );
}

#[test]
fn the_engine_era_picks_the_expectation() {
    let s = story("");
    let loads = |era| Scripted::new(era, vec![Outcome::Ok, Outcome::Ok], vec![]);
    assert!(run(&s, &mut loads(Era::V6_18)).agrees());
    assert!(run(&s, &mut loads(Era::V7_0)).agrees());
    let r = run(&s, &mut loads(Era::V6_12));
    assert_eq!(
        r.problems().collect::<Vec<_>>(),
        [
            "timer/x.bpfs:5 [6.12] prog p sched_cls: BPF_PROG_LOAD returned 0, expected reject unknown_func"
        ]
    );
}

#[test]
fn statement_results_are_reported_by_helper_and_position() {
    let s = story("step run p on arr[0] -> 0, 0, 0, 0 ; tw()\n");
    let got = ran(
        &[Ret::OK, Ret::OK, Ret::err(Errno::EINVAL), Ret::Skip],
        vec![],
    );
    let mut e = Scripted::new(Era::V7_0, vec![Outcome::Ok, Outcome::Ok, got], vec![]);
    let r = run(&s, &mut e);
    assert_eq!(
        r.problems().collect::<Vec<_>>(),
        [
            "timer/x.bpfs:15 [7.0] step run p on arr[0]: bpf_timer_start (stmt 3) returned -EINVAL, expected 0; \
          bpf_task_work_schedule_signal (stmt 4) was skipped (guard false), expected 0; \
          on return to user space: expected tw() to run, none ran"
        ]
    );
}

#[test]
fn waits_report_the_callbacks_that_did_or_did_not_run() {
    let s = story("step wait 20s -> cb(0)\nstep wait 20s -> none\nstep wait 1s -> cb(0)\n");
    let cb = |r| {
        Outcome::Fired(vec![CallbackRun {
            prog: ProgIdx(0),
            cb: CbIdx(0),
            rets: vec![r],
        }])
    };
    let script = vec![
        Outcome::Ok,
        Outcome::Ok,
        Outcome::Fired(vec![]),
        Outcome::Fired(vec![tw_run()]),
        cb(Ret::err(Errno::EINVAL)),
    ];
    let r = run(&s, &mut Scripted::new(Era::V7_0, script, vec![]));
    assert_eq!(
        r.problems().collect::<Vec<_>>(),
        [
            "timer/x.bpfs:15 [7.0] step wait 20s: expected cb(0) to run, none ran",
            "timer/x.bpfs:16 [7.0] step wait 20s: expected no callback to run, tw() ran",
            "timer/x.bpfs:17 [7.0] step wait 1s: cb (callback run 1 of this step): bpf_timer_start (stmt 1) returned -EINVAL, expected 0",
        ]
    );
}

#[test]
fn observations_and_syscalls_are_worded() {
    let s = story(
        "step runs cb -> 2\nstep alive arr -> yes\nstep close arr -> 0\nstep run p on arr[0] -> fails -EBADF\n",
    );
    let script = vec![
        Outcome::Ok,
        Outcome::Ok,
        Outcome::Err(Errno::EBADF),
        ran(&[Ret::OK; 4], vec![]),
    ];
    let seen = vec![Observation::Count(3), Observation::Alive(false)];
    let r = run(&s, &mut Scripted::new(Era::V7_0, script, seen));
    assert_eq!(
        r.problems().collect::<Vec<_>>(),
        [
            "timer/x.bpfs:15 [7.0] step runs cb: counted 3, expected 2",
            "timer/x.bpfs:16 [7.0] step alive arr: gone (its id is no longer listed), expected yes",
            "timer/x.bpfs:17 [7.0] step close arr: close() returned -EBADF, expected 0",
            "timer/x.bpfs:18 [7.0] step run p on arr[0]: the program ran: 0, 0, 0, 0, expected fails -EBADF",
        ]
    );
    assert_eq!(r.mismatches(), 4);
}

#[test]
fn unsupported_is_its_own_verdict_and_stops_the_run() {
    let s = story("step wait 1s -> none\nstep runs cb -> 0\n");
    let script = vec![
        Outcome::Ok,
        Outcome::Unsupported(Unsupported::TaskWorkWithoutUserTask),
    ];
    let r = run(&s, &mut Scripted::new(Era::V7_0, script, vec![]));
    assert_eq!(r.results.len(), 2);
    assert_eq!(
        r.results[1].verdict,
        Verdict::Unsupported(Unsupported::TaskWorkWithoutUserTask)
    );
    assert_eq!((r.mismatches(), r.unsupported(), r.not_run()), (0, 1, 2));
    assert!(!r.agrees());
    assert_eq!(
        r.problems().collect::<Vec<_>>(),
        [
            "timer/x.bpfs:5 [7.0] prog p sched_cls: not modelled by the spec: task_work scheduled outside a user task (2 later steps not run)"
        ]
    );
}

#[test]
fn the_doc_example_agrees_with_the_spec_in_every_era() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cancel_active_timer.bpfs"
    );
    let s = parse(&std::fs::read_to_string(path).unwrap(), path).unwrap();
    for era in s.header.eras.iter() {
        let kernels: Vec<_> = s.kernels_for(era).collect();
        assert_eq!(
            kernels.len(),
            1,
            "a story without a `kernel` line is for one build"
        );
        let r = run(&s, &mut SpecEngine::new(kernels[0]));
        assert_eq!(r.kernel.era, era);
        assert_eq!(r.problems().collect::<Vec<_>>(), Vec::<String>::new());
        assert!(r.agrees());
        assert_eq!(r.results.len(), 5);
    }
}
