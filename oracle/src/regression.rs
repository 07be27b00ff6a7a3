//! A divergence as a regression case: a story replayed on the real kernel and on the spec,
//! the divergence worded in kernel vocabulary, and the story written as a scenario file whose
//! expectations are the kernel's answers (what `bpfspec conform --generate`, the
//! `runtime_diff` fuzz target and its `divergence_to_scenario` converter print and write).

use crate::Host;
use crate::diff::{self, Diff, LATENESS_NS};
use scenario::{Scenario, Story};
use spec::{Action, Actual, Outcome, SpecEngine};

/// One story, run on a fresh kernel engine and on the spec, step by step.
pub struct Replay {
    pub steps: Vec<Action>,
    pub diff: Diff,
}

impl Replay {
    /// The story `input` makes ([`crate::cases::story`]), compared with `bpfspec conform`'s
    /// default lateness. An error is the oracle failing to create its result map.
    pub fn run(host: &Host, input: &[u8]) -> Result<Replay, crate::sys::Sys> {
        let steps = crate::cases::story(input);
        let diff = diff::story(host, &steps, LATENESS_NS)?;
        Ok(Replay { steps, diff })
    }

    /// The divergence at `step` in kernel vocabulary: the step as a scenario line, both
    /// answers, what the spec says of the file that states the kernel's answers, and that
    /// file. When no file can state the story, the step and answers as the spec types them.
    pub fn describe_divergence(
        &self,
        host: &Host,
        step: usize,
        slug: &str,
        source: &str,
    ) -> String {
        let pair = &self.diff.pairs[step];
        let mut out = format!(
            "the spec diverges from the kernel (linux {}, era {}) at step {step} of a {}-step \
             generated story",
            host.detection.release,
            host.kernel.era,
            self.steps.len()
        );
        match self.written(host, step, slug, source) {
            Ok((text, scenario)) => {
                let st = &scenario.steps[step];
                out += &format!(
                    ", line {}: `{}`\n  kernel: {}\n  spec:   {}",
                    st.line,
                    st.text,
                    scenario::render_actual(&scenario, st, &pair.kernel),
                    scenario::render_actual(&scenario, st, &pair.spec),
                );
                let mut spec = SpecEngine::new(host.kernel);
                let run = scenario::run(&scenario, &mut spec);
                out += "\n  the spec against the kernel's answers (`bpfspec check` wording):";
                for problem in run.problems() {
                    out += &format!("\n    {problem}");
                }
                out += "\n  the story as a scenario file, the kernel's answers expected:\n";
                for line in text.lines() {
                    out += &format!("    {line}\n");
                }
            }
            Err(why) => {
                out += &format!(
                    ": {:?}\n  kernel: {:?}\n  spec:   {:?}\n  (no scenario file can state this \
                     story: {why})",
                    self.steps[step], pair.kernel, pair.spec
                );
            }
        }
        if let (Actual::Outcome(Outcome::Reject(_)), Some(log)) =
            (&pair.kernel, &self.diff.kernel_log)
        {
            out += &format!("\n  kernel verifier log: {}", log.replace('\n', " | "));
        }
        out
    }

    /// The story up to and including step `last` as a scenario file `scenario <slug>` for
    /// this kernel's era, each step expecting the kernel's answer (never the spec's), and the
    /// scenario it parses back to. `source` says where the input comes from; the file's
    /// `source` line adds the kernel that answered. An error says why no file can state it
    /// (a [`scenario::RenderError`]).
    pub fn written(
        &self,
        host: &Host,
        last: usize,
        slug: &str,
        source: &str,
    ) -> Result<(String, Scenario), String> {
        if host.kernel.preempt_rt {
            return Err(
                "this kernel is PREEMPT_RT, and a written story has no `kernel \
                        preempt_rt` line"
                    .to_owned(),
            );
        }
        let answers: Vec<Actual> = self.diff.pairs[..=last]
            .iter()
            .map(|pair| pair.kernel.clone())
            .collect();
        let sources = [format!(
            "{source}: the answers of linux {} (era {})",
            host.detection.release, host.kernel.era
        )];
        let text = scenario::render(&Story {
            slug,
            sources: &sources,
            eras: &host.kernel.era.to_string(),
            steps: &self.steps[..=last],
            answers: &answers,
        })
        .map_err(|e| e.to_string())?;
        let scenario = scenario::parse(&text, format!("{slug}.bpfs"))
            .map_err(|e| format!("the written file does not parse back: {e}"))?;
        Ok((text, scenario))
    }
}
