//! One trait for anything that can run a scenario: the spec (here) and the real kernel (the
//! oracle crate) both implement it, so a scenario file, a generated op sequence or a fuzz
//! input runs on either and the observations compare one to one.

use crate::era::Kernel;
use crate::op::{Op, Query};
use crate::outcome::{Observation, Outcome, Unsupported};

/// One step of a story: change the world, or look at it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Action {
    Op(Op),
    Query(Query),
}

/// What a step gives: an op's outcome or a query's observation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(untagged))]
pub enum Actual {
    Outcome(Outcome),
    Observation(Observation),
}
use crate::world::World;

/// Something that executes [`Op`]s and answers [`Query`]s, starting from an empty world.
pub trait Engine {
    /// A short name for reports ("spec", "kernel 6.18.44").
    fn name(&self) -> String;
    /// The kernel this engine behaves as.
    fn kernel(&self) -> Kernel;
    /// Execute one op.
    fn apply(&mut self, op: &Op) -> Outcome;
    /// Observe without changing anything.
    fn observe(&mut self, q: &Query) -> Observation;

    /// Take one step of a story.
    fn act(&mut self, a: &Action) -> Actual {
        match a {
            Action::Op(op) => Actual::Outcome(self.apply(op)),
            Action::Query(q) => Actual::Observation(self.observe(q)),
        }
    }
}

/// The executable spec as an [`Engine`]. With `checked`, every step is followed by
/// [`World::check_invariants`], which panics naming a broken invariant.
///
/// Once a step is [`Outcome::Unsupported`], the world no longer describes a kernel state: the
/// engine is *poisoned* and answers every later op with the same `Unsupported`.
#[derive(Clone, Debug)]
pub struct SpecEngine {
    pub world: World,
    pub checked: bool,
    pub poisoned: Option<Unsupported>,
}

impl SpecEngine {
    pub fn new(kernel: Kernel) -> SpecEngine {
        SpecEngine {
            world: World::new(kernel),
            checked: true,
            poisoned: None,
        }
    }
}

impl Engine for SpecEngine {
    fn name(&self) -> String {
        format!("spec {}", self.world.kernel)
    }

    fn kernel(&self) -> Kernel {
        self.world.kernel
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        if let Some(u) = self.poisoned {
            return Outcome::Unsupported(u);
        }
        let out = crate::step(&mut self.world, op);
        match out {
            Outcome::Unsupported(u) => self.poisoned = Some(u),
            _ if self.checked => self.world.check_invariants(),
            _ => {}
        }
        out
    }

    fn observe(&mut self, q: &Query) -> Observation {
        self.world.observe(q)
    }
}
