//! `bpfspec races [NAME...]`: the race catalogue of `harnesses`, each race checked on both
//! sides of its fix by loom and by shuttle's PCT scheduler, as one table.
//!
//! Per race: the buggy design must break the race's invariant under loom (every
//! interleaving up to the preemption bound) and under PCT for every seed (the table gives
//! the median iteration count); the fixed design must come out clean under both, and loom's
//! executions of it must reach the race's window outcomes (so the clean result is not
//! vacuous). With one race named, the buggy design's counterexample is printed in kernel
//! vocabulary with the commands that replay it.

use harnesses::check::{self, Replay, Run};
use harnesses::races::{self, Race, Variant};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

pub struct Opts {
    pub names: Vec<String>,
    /// PCT seeds per buggy design (the table shows the median).
    pub seeds: u64,
    pub bound: usize,
    pub iterations: usize,
    /// Replay one execution of this variant instead of checking.
    pub variant: Option<Variant>,
    pub replay_loom: Option<PathBuf>,
    pub replay_shuttle: Option<String>,
}

/// One race's figures.
struct Row {
    race: &'static Race,
    buggy_loom: Run,
    /// Iterations PCT needed per seed (`None`: not found within the budget).
    pct_found: Vec<Option<u64>>,
    pct_elapsed: Duration,
    fixed_loom: Run,
    fixed_pct: Run,
}

impl Row {
    fn window_executions(&self) -> u64 {
        self.race
            .window
            .iter()
            .map(|w| self.fixed_loom.outcomes.get(*w).copied().unwrap_or(0))
            .sum()
    }

    fn window_missing(&self) -> Vec<&'static str> {
        self.race
            .window
            .iter()
            .copied()
            .filter(|w| !self.fixed_loom.outcomes.contains_key(*w))
            .collect()
    }

    fn problems(&self) -> Vec<String> {
        let inv = self.race.invariant;
        let mut p = Vec::new();
        if !self.buggy_loom.found(inv) {
            p.push(format!("loom did not find {inv} on the buggy design"));
        }
        if let Some(seed) = self.pct_found.iter().position(Option::is_none) {
            p.push(format!(
                "shuttle PCT seed {seed} did not find {inv} on the buggy design"
            ));
        }
        for run in [&self.fixed_loom, &self.fixed_pct] {
            if let Some(f) = &run.failure {
                p.push(format!(
                    "{:?} broke the fixed design: {}",
                    run.tool,
                    first_line(&f.message)
                ));
            }
        }
        if self.fixed_loom.lin.not_linearizable + self.fixed_pct.lin.not_linearizable > 0 {
            p.push(format!(
                "a history of the fixed design has no sequential explanation by the spec: {}",
                self.fixed_loom
                    .lin
                    .counterexample
                    .as_deref()
                    .or(self.fixed_pct.lin.counterexample.as_deref())
                    .unwrap_or("")
            ));
        }
        for w in self.window_missing() {
            p.push(format!(
                "loom never reached the window outcome {w:?} on the fixed design"
            ));
        }
        p
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn median(mut v: Vec<u64>) -> Option<u64> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

fn measure(race: &'static Race, o: &Opts) -> Row {
    let buggy = || (race.scenario)(Variant::Buggy);
    let fixed = || (race.scenario)(Variant::Fixed);
    let buggy_loom = check::loom(race, buggy(), o.bound, None);
    let mut pct_elapsed = Duration::ZERO;
    let pct_found = (0..o.seeds)
        .map(|seed| {
            let r = check::shuttle_pct(race, buggy(), o.iterations, race.pct_depth, seed);
            pct_elapsed += r.elapsed;
            r.found(race.invariant).then_some(r.executions)
        })
        .collect();
    Row {
        race,
        buggy_loom,
        pct_found,
        pct_elapsed,
        fixed_loom: check::loom(race, fixed(), o.bound, None),
        fixed_pct: check::shuttle_pct(race, fixed(), o.iterations, race.pct_depth, 0),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn print_table(rows: &[Row], o: &Opts) {
    let w = rows
        .iter()
        .map(|r| r.race.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:w$}  {:12}  {:10}  {:22}  {:36}  {:34}  {:40}  {:26}  linearizable against the spec (loom histories)",
        "race",
        "commit",
        "date",
        "invariant",
        "loom (buggy): found after",
        "shuttle PCT (buggy): found after",
        "fixed: clean",
        "window reached",
    );
    for r in rows {
        let loom = if r.buggy_loom.found(r.race.invariant) {
            format!(
                "{} executions in {}",
                r.buggy_loom.executions,
                ms(r.buggy_loom.elapsed)
            )
        } else {
            "NOT FOUND".into()
        };
        let found: Vec<u64> = r.pct_found.iter().flatten().copied().collect();
        let pct = match median(found.clone()) {
            Some(m) if found.len() == r.pct_found.len() => format!(
                "median {m} iterations ({} seeds, {})",
                found.len(),
                ms(r.pct_elapsed)
            ),
            _ => format!(
                "NOT FOUND by {} of {} seeds",
                r.pct_found.len() - found.len(),
                r.pct_found.len()
            ),
        };
        let clean = |run: &Run| if run.failure.is_none() { "" } else { " BROKEN" };
        let fixed = format!(
            "loom {} at bound {} in {}{}; PCT {}{}",
            r.fixed_loom.executions,
            o.bound,
            ms(r.fixed_loom.elapsed),
            clean(&r.fixed_loom),
            r.fixed_pct.executions,
            clean(&r.fixed_pct),
        );
        println!(
            "{:w$}  {:12}  {:10}  {:22}  {:36}  {:34}  {:40}  {:26}  {}",
            r.race.name,
            r.race.commit,
            r.race.date,
            r.race.invariant.id(),
            loom,
            pct,
            fixed,
            format!(
                "{} of {} executions",
                r.window_executions(),
                r.fixed_loom.executions
            ),
            lin_cell(&r.fixed_loom.lin),
        );
    }
}

/// How the fixed design's histories fared against the sequential spec.
fn lin_cell(t: &harnesses::lin::Tally) -> String {
    if let Some(why) = &t.unmappable_scenario {
        return format!("not checked: {why}");
    }
    fn sum<K>(m: &std::collections::BTreeMap<K, u64>) -> u64 {
        m.values().sum()
    }
    format!(
        "{} of {} on {} ({} concurrent-only, {} unmappable, {} NOT)",
        sum(&t.linearizable),
        t.checked,
        t.kernel.as_deref().unwrap_or("?"),
        sum(&t.concurrent_only),
        sum(&t.unmappable),
        t.not_linearizable
    )
}

/// The buggy design's counterexample and how to replay it.
fn print_counterexample(r: &Row) {
    let Some(f) = &r.buggy_loom.failure else {
        return;
    };
    println!(
        "\n{} ({}, {}): {}",
        r.race.name, r.race.commit, r.race.fix, r.race.abstracts
    );
    println!("loom's counterexample on the buggy design:\n{}", f.message);
    if let Some(Replay::Loom(path)) = &f.replay {
        println!(
            "replay: bpfspec races {} --variant buggy --replay-loom {}",
            r.race.name,
            path.display()
        );
    }
    let pct = check::shuttle_pct(
        r.race,
        (r.race.scenario)(Variant::Buggy),
        1_000,
        r.race.pct_depth,
        0,
    );
    if let Some(Replay::Shuttle(s)) = pct.failure.and_then(|f| f.replay) {
        println!(
            "replay: bpfspec races {} --variant buggy --replay-shuttle '{}'",
            r.race.name,
            s.split_whitespace().collect::<String>()
        );
    }
}

fn replay(
    race: &'static Race,
    v: Variant,
    bound: usize,
    loom: Option<&Path>,
    shuttle: Option<&str>,
) -> ExitCode {
    let sc = (race.scenario)(v);
    let run = match (loom, shuttle) {
        (Some(p), _) => check::loom(race, sc, bound, Some(p)),
        (None, Some(s)) => check::shuttle_replay(race, sc, s),
        (None, None) => unreachable!("a replay names a loom file or a shuttle schedule"),
    };
    match run.failure {
        Some(f) => {
            println!("{}", f.message);
            ExitCode::SUCCESS
        }
        None => {
            println!("the replayed execution broke no invariant");
            ExitCode::FAILURE
        }
    }
}

pub fn run(o: &Opts) -> ExitCode {
    let mut selected = Vec::new();
    for n in &o.names {
        match races::by_name(n) {
            Some(r) => selected.push(r),
            None => {
                let names: Vec<_> = races::ALL.iter().map(|r| r.name).collect();
                eprintln!(
                    "bpfspec races: no race named {n:?}; races: {}",
                    names.join(", ")
                );
                return ExitCode::from(crate::EXIT_USAGE);
            }
        }
    }
    if o.replay_loom.is_some() || o.replay_shuttle.is_some() {
        let ([race], Some(v)) = (selected.as_slice(), o.variant) else {
            eprintln!("bpfspec races: a replay needs exactly one race and --variant");
            return ExitCode::from(crate::EXIT_USAGE);
        };
        return replay(
            race,
            v,
            o.bound,
            o.replay_loom.as_deref(),
            o.replay_shuttle.as_deref(),
        );
    }
    if selected.is_empty() {
        selected = races::ALL.to_vec();
    }
    let rows: Vec<Row> = selected.iter().map(|r| measure(r, o)).collect();
    print_table(&rows, o);
    if rows.len() == 1 {
        print_counterexample(&rows[0]);
    } else {
        println!("\nwhat each model abstracts away:");
        for r in &rows {
            println!("  {}: {}", r.race.name, r.race.abstracts);
        }
    }
    let problems: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.problems()
                .into_iter()
                .map(move |p| format!("{}: {p}", r.race.name))
        })
        .collect();
    println!(
        "\nraces: {} checked, {} with a problem (loom bound {}, PCT {} iterations x {} seeds)",
        rows.len(),
        rows.iter().filter(|r| !r.problems().is_empty()).count(),
        o.bound,
        o.iterations,
        o.seeds
    );
    for p in &problems {
        println!("PROBLEM {p}");
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
