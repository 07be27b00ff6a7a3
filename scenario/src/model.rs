//! A compiled scenario: the header, the names it declares and its steps, each an [`Op`] or a
//! [`Query`] with the expectation it carries for every era.

use crate::eras::EraSet;
pub use spec::{Action, Actual};
use spec::{
    CbIdx, Era, Kernel, MapIdx, MapSpec, Observation, Op, Outcome, ProgIdx, ProgSpec, Unsupported,
};

/// A scenario file, resolved to spec vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The file, as named to [`crate::parse()`]; every message starts with it.
    pub file: String,
    pub header: Header,
    /// Maps by [`MapIdx`] (declaration order among maps, failed creations included).
    pub maps: Vec<MapDecl>,
    /// Programs by [`ProgIdx`] (declaration order among programs, rejected loads included).
    pub progs: Vec<ProgDecl>,
    /// Declarations and steps, in file order.
    pub steps: Vec<Step>,
}

/// The lines before the first declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// `scenario <slug>`.
    pub slug: String,
    /// `source <text>` lines.
    pub sources: Vec<String>,
    /// `eras <era-set>`: the kernels the expectations hold for.
    pub eras: EraSet,
    /// `kernel preempt_rt` / `kernel any`: the kernel builds the expectations hold for.
    pub builds: Builds,
    /// `diverges <eras>: <reason>`: where the real kernel is known not to agree with the
    /// spec on this story (or cannot be made to run it), and why.
    pub diverges: Vec<Divergence>,
    /// `observed <kernel>`: the expectations were recorded from this kernel
    /// (`bpfspec record`), e.g. `linux 6.18.44 (era 6.18)`.
    pub observed: Option<String>,
}

impl Header {
    /// Why the file's story is not for `kernel` (its `eras` do not hold the kernel's era, or
    /// its `kernel` line does not admit the kernel's build), or `None` when it is.
    pub fn not_for(&self, kernel: &Kernel) -> Option<String> {
        if !self.eras.contains(kernel.era) {
            Some(format!(
                "its eras ({}) do not include this kernel's era {}",
                self.eras, kernel.era
            ))
        } else if !self.builds.admit(kernel.preempt_rt) {
            Some(if kernel.preempt_rt {
                "it is not for a PREEMPT_RT kernel, this one is".to_owned()
            } else {
                "it is for a PREEMPT_RT kernel, this one is not".to_owned()
            })
        } else {
            None
        }
    }
}

/// The kernel builds a story's expectations hold for. PREEMPT_RT changes what async objects
/// may be made (no `bpf_timer`), so a story is for one build unless it says both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Builds {
    /// Kernels built without `CONFIG_PREEMPT_RT` (no `kernel` line).
    #[default]
    Standard,
    /// `kernel preempt_rt`: only `CONFIG_PREEMPT_RT` builds.
    PreemptRt,
    /// `kernel any`: both, with the same expectations (stories without a timer).
    Any,
}

impl Builds {
    /// Whether a kernel built with `CONFIG_PREEMPT_RT` or not (`preempt_rt`) is one of these.
    pub fn admit(self, preempt_rt: bool) -> bool {
        match self {
            Builds::Standard => !preempt_rt,
            Builds::PreemptRt => preempt_rt,
            Builds::Any => true,
        }
    }
}

/// A listed divergence from the kernel, counted by `bpfspec conform`, never hidden.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    pub line: usize,
    pub eras: EraSet,
    pub reason: String,
}

/// A declared map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDecl {
    pub name: String,
    /// Index in [`Scenario::steps`] of its `MapCreate`.
    pub step: usize,
}

/// A declared program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgDecl {
    pub name: String,
    /// Callback names by [`CbIdx`].
    pub callbacks: Vec<String>,
    /// Index in [`Scenario::steps`] of its `ProgLoad`.
    pub step: usize,
}

/// One line of the story: a declaration or a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// 1-based line in the file.
    pub line: usize,
    /// The statement as written, without its expectation (`step run p on arr[0]`).
    pub text: String,
    pub action: Action,
    pub expect: Expectation,
}

/// What a step should give on one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Exactly this outcome (never `Unsupported`: files do not expect it).
    Outcome(Outcome),
    /// A verifier rejection for the reason of this [`spec::RejectReason::name`].
    Reject(&'static str),
    Observation(Observation),
}

impl Expected {
    /// The expectation `actual` meets (a rejection by its reason name); an `Unsupported`
    /// answer is none a file can state.
    pub fn of(actual: &Actual) -> Result<Expected, Unsupported> {
        Ok(match actual {
            Actual::Outcome(Outcome::Unsupported(u)) => return Err(*u),
            Actual::Outcome(Outcome::Reject(r)) => Expected::Reject(r.name()),
            Actual::Outcome(o) => Expected::Outcome(o.clone()),
            Actual::Observation(o) => Expected::Observation(*o),
        })
    }

    /// Does `actual` meet the expectation? Rejections compare by reason name.
    pub fn is_met_by(&self, actual: &Actual) -> bool {
        match (self, actual) {
            (Expected::Outcome(e), Actual::Outcome(a)) => e == a,
            (Expected::Reject(name), Actual::Outcome(Outcome::Reject(r))) => r.name() == *name,
            (Expected::Observation(e), Actual::Observation(a)) => e == a,
            _ => false,
        }
    }
}

/// A step's expectation: its own `->`, and `on` lines for some eras.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub default: Expected,
    pub overrides: Vec<Override>,
}

/// `on <eras> -> <expectation>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    pub line: usize,
    pub eras: EraSet,
    pub expected: Expected,
}

impl Expectation {
    /// The first `on` whose set holds `era`, else the step's own expectation.
    pub fn for_era(&self, era: Era) -> &Expected {
        self.overrides
            .iter()
            .find(|o| o.eras.contains(era))
            .map_or(&self.default, |o| &o.expected)
    }
}

/// Name of an index that the scenario does not declare (an engine answered with it).
const UNKNOWN: &str = "?";

impl Scenario {
    /// The kernels to run the scenario on in `era`: its builds of that era.
    pub fn kernels_for(&self, era: Era) -> impl Iterator<Item = Kernel> + use<> {
        let builds = self.header.builds;
        [Kernel::new(era), Kernel::new(era).preempt_rt()]
            .into_iter()
            .filter(move |k| builds.admit(k.preempt_rt))
    }

    pub fn map_name(&self, m: MapIdx) -> &str {
        self.maps
            .get(usize::from(m.0))
            .map_or(UNKNOWN, |d| d.name.as_str())
    }

    pub fn prog_name(&self, p: ProgIdx) -> &str {
        self.progs
            .get(usize::from(p.0))
            .map_or(UNKNOWN, |d| d.name.as_str())
    }

    pub fn callback_name(&self, p: ProgIdx, cb: CbIdx) -> &str {
        self.progs
            .get(usize::from(p.0))
            .and_then(|d| d.callbacks.get(usize::from(cb.0)))
            .map_or(UNKNOWN, String::as_str)
    }

    /// The `BPF_MAP_CREATE` arguments of a declared map.
    pub fn map_spec(&self, m: MapIdx) -> Option<&MapSpec> {
        let decl = self.maps.get(usize::from(m.0))?;
        match &self.steps.get(decl.step)?.action {
            Action::Op(Op::MapCreate(spec)) => Some(spec),
            _ => None,
        }
    }

    /// The `BPF_PROG_LOAD` arguments of a declared program.
    pub fn prog_spec(&self, p: ProgIdx) -> Option<&ProgSpec> {
        let decl = self.progs.get(usize::from(p.0))?;
        match &self.steps.get(decl.step)?.action {
            Action::Op(Op::ProgLoad(spec)) => Some(spec),
            _ => None,
        }
    }
}
