//! Running a scenario on an [`Engine`] and judging every step against the expectation for
//! the engine's era.
//!
//! An `Unsupported` outcome is its own verdict, never a mismatch and never agreement: the
//! engine does not model that state, so the run stops there (the world no longer describes
//! a kernel) and the remaining steps are counted as not run.

use crate::model::{Actual, Expected, Scenario, Step};
use spec::{Engine, Kernel, Outcome, Unsupported};

/// One scenario on one kernel.
#[derive(Clone, Debug)]
pub struct ScenarioRun<'s> {
    pub scenario: &'s Scenario,
    pub kernel: Kernel,
    /// The steps run, in order: all of them, or up to the first unsupported one.
    pub results: Vec<StepResult<'s>>,
}

/// What one step gave, and whether that is what the file expects.
#[derive(Clone, Debug)]
pub struct StepResult<'s> {
    pub step: &'s Step,
    pub actual: Actual,
    pub verdict: Verdict<'s>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict<'s> {
    Agree,
    Mismatch {
        expected: &'s Expected,
    },
    /// The engine does not model this step.
    Unsupported(Unsupported),
}

/// Apply every step of `scenario` to `engine`, in order, and judge each.
pub fn run<'s>(scenario: &'s Scenario, engine: &mut dyn Engine) -> ScenarioRun<'s> {
    let kernel = engine.kernel();
    let mut results = Vec::with_capacity(scenario.steps.len());
    for step in &scenario.steps {
        let actual = engine.act(&step.action);
        let expected = step.expect.for_era(kernel.era);
        let verdict = match actual {
            Actual::Outcome(Outcome::Unsupported(u)) => Verdict::Unsupported(u),
            _ if expected.is_met_by(&actual) => Verdict::Agree,
            _ => Verdict::Mismatch { expected },
        };
        let unsupported = matches!(verdict, Verdict::Unsupported(_));
        results.push(StepResult {
            step,
            actual,
            verdict,
        });
        if unsupported {
            break;
        }
    }
    ScenarioRun {
        scenario,
        kernel,
        results,
    }
}

impl ScenarioRun<'_> {
    /// Steps after an unsupported one, which were not run.
    pub fn not_run(&self) -> usize {
        self.scenario.steps.len() - self.results.len()
    }

    pub fn mismatches(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Mismatch { .. }))
    }

    pub fn unsupported(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Unsupported(_)))
    }

    /// Every step ran and met its expectation.
    pub fn agrees(&self) -> bool {
        self.results.iter().all(|r| r.verdict == Verdict::Agree) && self.not_run() == 0
    }

    fn count(&self, pick: impl Fn(&Verdict<'_>) -> bool) -> usize {
        self.results.iter().filter(|r| pick(&r.verdict)).count()
    }
}
