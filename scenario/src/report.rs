//! Outcomes and disagreements in words: file syntax for what a step gave (the notation of
//! expectations), kernel vocabulary for why a step disagrees (`bpf_timer_start (stmt 3)
//! returned -EINVAL, expected 0`). Every message names objects by their names in the file.

use crate::model::{Action, Actual, Expected, Scenario, Step};
use crate::run::{ScenarioRun, StepResult, Verdict};
use spec::{CallbackRun, ObjRef, Observation, Op, Outcome, Ret, Stmt};

/// The syscall (or event) an op stands for.
fn syscall(op: &Op) -> &'static str {
    match op {
        Op::MapCreate(_) => "BPF_MAP_CREATE",
        Op::MapUpdate { .. } | Op::MapUpdateInner { .. } => "BPF_MAP_UPDATE_ELEM",
        Op::MapDelete { .. } => "BPF_MAP_DELETE_ELEM",
        Op::MapLookup { .. } => "BPF_MAP_LOOKUP_ELEM",
        Op::ProgLoad(_) => "BPF_PROG_LOAD",
        Op::ProgRun { .. } => "BPF_PROG_TEST_RUN",
        Op::Close(_) => "close()",
        Op::Pin(_) => "BPF_OBJ_PIN",
        Op::Unpin(_) => "unlink() of the pin",
        Op::GetFdById(ObjRef::Map(_)) => "BPF_MAP_GET_FD_BY_ID",
        Op::GetFdById(ObjRef::Prog(_)) => "BPF_PROG_GET_FD_BY_ID",
        Op::Advance { .. } => "the wait",
    }
}

/// Comma-separated call results.
fn rets(rets: &[Ret]) -> String {
    rets.iter()
        .map(Ret::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `none`, or `cb(0, 1), cb2()`.
fn runs(s: &Scenario, runs: &[CallbackRun]) -> String {
    if runs.is_empty() {
        return "none".to_owned();
    }
    runs.iter()
        .map(|r| format!("{}({})", s.callback_name(r.prog, r.cb), rets(&r.rets)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn observation(o: &Observation) -> String {
    match o {
        Observation::Count(n) => n.to_string(),
        Observation::Alive(true) => "yes".to_owned(),
        Observation::Alive(false) => "no".to_owned(),
    }
}

fn is_run(action: &Action) -> bool {
    matches!(action, Action::Op(Op::ProgRun { .. }))
}

/// An outcome of a step doing `action`, as its expectation would be written.
fn outcome(s: &Scenario, action: &Action, o: &Outcome) -> String {
    match o {
        Outcome::Ok => "0".to_owned(),
        Outcome::Err(e) if is_run(action) => format!("fails -{e}"),
        Outcome::Err(e) => format!("-{e}"),
        Outcome::Ran { rets: r, callbacks } if callbacks.is_empty() => rets(r),
        Outcome::Ran { rets: r, callbacks } => format!("{} ; {}", rets(r), runs(s, callbacks))
            .trim_start()
            .to_owned(),
        Outcome::Fired(fired) => runs(s, fired),
        Outcome::Reject(r) => format!("reject {r}"),
        Outcome::Unsupported(u) => format!("unsupported: {u}"),
    }
}

/// What `step` gave, in the notation of expectations (`0, 0, 1, -EINVAL`, `cb(0)`, `yes`).
pub fn render_actual(s: &Scenario, step: &Step, actual: &Actual) -> String {
    match actual {
        Actual::Outcome(o) => outcome(s, &step.action, o),
        Actual::Observation(o) => observation(o),
    }
}

/// An expectation of `step`, as written in the file.
pub fn render_expected(s: &Scenario, step: &Step, expected: &Expected) -> String {
    expected_text(s, &step.action, expected)
}

/// An expectation of a step doing `action`, as written in the file.
pub(crate) fn expected_text(s: &Scenario, action: &Action, expected: &Expected) -> String {
    match expected {
        Expected::Outcome(o) => outcome(s, action, o),
        Expected::Reject(reason) => format!("reject {reason}"),
        Expected::Observation(o) => observation(o),
    }
}

/// What a call did, as the kernel would say it.
fn ret_phrase(r: Ret) -> String {
    match r {
        Ret::Skip => "was skipped (guard false)".to_owned(),
        Ret::NoElem => "found no element".to_owned(),
        r => format!("returned {r}"),
    }
}

/// `bpf_timer_start (stmt 3) returned -EINVAL, expected 0`, for each statement that differs.
fn stmt_diffs(body: &[Stmt], expected: &[Ret], actual: &[Ret]) -> Vec<String> {
    expected
        .iter()
        .zip(actual)
        .enumerate()
        .filter(|(_, (e, a))| e != a)
        .map(|(i, (e, a))| {
            let helper = body.get(i).map_or("?", |s| s.call.kernel_name());
            format!("{helper} (stmt {}) {}, expected {e}", i + 1, ret_phrase(*a))
        })
        .collect()
}

/// Why two lists of callback runs differ: per statement if the same callbacks ran.
fn runs_diff(s: &Scenario, expected: &[CallbackRun], actual: &[CallbackRun]) -> String {
    let same_shape = expected.len() == actual.len()
        && expected
            .iter()
            .zip(actual)
            .all(|(e, a)| (e.prog, e.cb, e.rets.len()) == (a.prog, a.cb, a.rets.len()));
    if !same_shape {
        let expected = match expected {
            [] => "no callback".to_owned(),
            _ => runs(s, expected),
        };
        return format!("expected {expected} to run, {} ran", runs(s, actual));
    }
    expected
        .iter()
        .zip(actual)
        .enumerate()
        .flat_map(|(i, (e, a))| {
            let name = s.callback_name(e.prog, e.cb);
            let body = s
                .prog_spec(e.prog)
                .and_then(|p| p.callbacks.get(usize::from(e.cb.0)))
                .map_or(&[][..], Vec::as_slice);
            stmt_diffs(body, &e.rets, &a.rets)
                .into_iter()
                .map(move |d| format!("{name} (callback run {} of this step): {d}", i + 1))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What `step` gave, as a clause (`BPF_MAP_UPDATE_ELEM returned -E2BIG`).
fn actual_phrase(s: &Scenario, step: &Step, actual: &Actual) -> String {
    let (op, o) = match (&step.action, actual) {
        (_, Actual::Observation(Observation::Count(n))) => return format!("counted {n}"),
        (_, Actual::Observation(Observation::Alive(true))) => return "alive".to_owned(),
        (_, Actual::Observation(Observation::Alive(false))) => {
            return "gone (its id is no longer listed)".to_owned();
        }
        (Action::Op(op), Actual::Outcome(o)) => (op, o),
        (Action::Query(_), Actual::Outcome(o)) => return outcome(s, &step.action, o),
    };
    match o {
        Outcome::Ok => format!("{} returned 0", syscall(op)),
        Outcome::Err(e) => format!("{} returned -{e}", syscall(op)),
        Outcome::Reject(r) => format!("the verifier rejected the program: {r}"),
        Outcome::Ran { .. } => format!("the program ran: {}", outcome(s, &step.action, o)),
        Outcome::Fired(fired) => format!("{} ran", runs(s, fired)),
        Outcome::Unsupported(u) => format!("not modelled by the spec: {u}"),
    }
}

/// Why `actual` does not meet `expected`, in kernel vocabulary.
fn mismatch(s: &Scenario, step: &Step, expected: &Expected, actual: &Actual) -> String {
    match (&step.action, expected, actual) {
        (
            Action::Op(Op::ProgRun { prog, .. }),
            Expected::Outcome(Outcome::Ran {
                rets: er,
                callbacks: ec,
            }),
            Actual::Outcome(Outcome::Ran {
                rets: ar,
                callbacks: ac,
            }),
        ) if er.len() == ar.len() => {
            let main = s.prog_spec(*prog).map_or(&[][..], |p| p.main.as_slice());
            let mut parts = stmt_diffs(main, er, ar);
            if ec != ac {
                parts.push(format!("on return to user space: {}", runs_diff(s, ec, ac)));
            }
            parts.join("; ")
        }
        (_, Expected::Outcome(Outcome::Fired(e)), Actual::Outcome(Outcome::Fired(a))) => {
            runs_diff(s, e, a)
        }
        _ => format!(
            "{}, expected {}",
            actual_phrase(s, step, actual),
            render_expected(s, step, expected)
        ),
    }
}

impl ScenarioRun<'_> {
    /// One line per step that did not agree:
    /// `FILE:LINE [ERA] STEP: what happened, expected what`.
    pub fn problems(&self) -> impl Iterator<Item = String> + '_ {
        self.results.iter().filter_map(|r| {
            let detail = match &r.verdict {
                Verdict::Agree => return None,
                Verdict::Mismatch { expected } => {
                    mismatch(self.scenario, r.step, expected, &r.actual)
                }
                Verdict::Unsupported(u) => format!(
                    "not modelled by the spec: {u} ({} later steps not run)",
                    self.not_run()
                ),
            };
            Some(self.locate(r, &detail))
        })
    }

    fn locate(&self, r: &StepResult<'_>, detail: &str) -> String {
        format!(
            "{}:{} [{}] {}: {detail}",
            self.scenario.file, r.step.line, self.kernel, r.step.text
        )
    }
}
