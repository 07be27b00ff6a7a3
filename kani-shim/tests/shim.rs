//! The shim's own checks: path counts of known choice trees, pruning, the failing path's
//! vector, vacuous covers, the path budget, should_panic, and the attribute macros.

use std::sync::atomic::{AtomicU32, Ordering};

use kani::shim::{Harness, Outcome, Report, check, replay};

fn explore(body: fn()) -> Report {
    check(&Harness::new("shim::test", file!(), body))
}

/// A harness body drawing one value of `T`.
fn draw<T: kani::Arbitrary>() {
    let _ = kani::any::<T>();
}

fn assert_counts(report: &Report, checked: u64, pruned: u64, exhaustive: bool) {
    assert!(report.passed(), "{report}");
    assert_eq!(
        (report.paths_checked, report.paths_pruned, report.exhaustive),
        (checked, pruned, exhaustive),
        "{report}"
    );
}

#[test]
fn every_combination_of_a_dependent_choice_tree() {
    // false: 256 values of the u8; true: 256 x 2.
    let report = explore(|| {
        let a: bool = kani::any();
        let _: u8 = kani::any();
        if a {
            let _: bool = kani::any();
        }
    });
    assert_counts(&report, 256 + 512, 0, true);
}

// The fields are only drawn, to count the paths.
#[allow(dead_code)]
#[derive(kani::Arbitrary, Clone, Copy, Debug)]
enum Shape {
    Empty,
    Flag(bool),
    Pair { byte: u8, flag: bool },
}

#[allow(dead_code)]
#[derive(kani::Arbitrary)]
struct Holder<T> {
    first: T,
    second: Shape,
}

#[derive(kani::Arbitrary)]
struct Unit;

#[test]
fn derived_enums_and_structs_take_every_value() {
    assert_counts(&explore(draw::<Shape>), 1 + 2 + 512, 0, true);
    // 2 x (1 + 2 + 512)
    assert_counts(&explore(draw::<Holder<bool>>), 1030, 0, true);
    assert_counts(&explore(draw::<Unit>), 1, 0, true);
}

#[test]
fn std_types_take_every_value() {
    assert_counts(&explore(draw::<i8>), 256, 0, true);
    assert_counts(&explore(draw::<Option<bool>>), 3, 0, true);
    assert_counts(&explore(draw::<Result<bool, u8>>), 2 + 256, 0, true);
    assert_counts(&explore(draw::<[bool; 3]>), 8, 0, true);
    assert_counts(&explore(draw::<(bool, u8, ())>), 512, 0, true);
    // Lengths 0..=3 of bools: 1 + 2 + 4 + 8.
    assert_counts(
        &explore(|| drop(kani::vec::any_vec::<bool, 3>())),
        15,
        0,
        true,
    );
    assert_counts(
        &explore(|| drop(kani::vec::exact_vec::<bool, 3>())),
        8,
        0,
        true,
    );
}

#[test]
fn wider_integers_are_boundary_sampled() {
    let u32s = explore(draw::<u32>);
    assert_counts(&u32s, 10, 0, false);
    assert!(u32s.to_string().contains("boundary-sampled"), "{u32s}");
    assert_counts(&explore(draw::<i64>), 12, 0, false);
    // One sampled draw marks the whole harness, even on a path that draws nothing else.
    let mixed = explore(|| {
        if kani::any() {
            let _: u16 = kani::any();
        }
    });
    assert_counts(&mixed, 1 + 10, 0, false);
}

#[test]
fn boundary_sets_hold_distinct_edges() {
    use kani::arbitrary::Boundary;
    fn distinct<T: Ord + Copy>(set: &[T]) -> bool {
        set.windows(2).all(|w| w[0] < w[1])
    }
    assert!(distinct(u16::SET) && distinct(u64::SET) && distinct(usize::SET));
    assert!(distinct(i16::SET) && distinct(i128::SET) && distinct(isize::SET));
    assert!(u32::SET.contains(&u32::MAX) && u32::SET.contains(&0));
    assert!(i32::SET.contains(&i32::MIN) && i32::SET.contains(&-1));
}

#[test]
fn assume_prunes_and_counts() {
    assert_counts(
        &explore(|| kani::assume(kani::any::<u8>() < 10)),
        10,
        246,
        true,
    );
    assert_counts(
        &explore(|| kani::assume(kani::any_where(|b: &u8| b.is_multiple_of(2)) < 128)),
        64,
        64 + 128,
        true,
    );
}

fn fails_on_5_and_true() {
    let a: u8 = kani::any();
    let b: bool = kani::any();
    kani::assert(!(a == 5 && b), "a is 5 and b holds");
}

#[test]
fn a_failing_path_stops_with_its_choice_vector() {
    let harness = Harness::new("shim::fails", file!(), fails_on_5_and_true).package("kani-shim");
    let report = check(&harness);
    assert!(!report.passed());
    // Depth-first: (0,false), (0,true), .., (4,true), (5,false) hold, then (5,true) fails.
    assert_eq!(report.paths_checked, 11);
    match &report.outcome {
        Outcome::Failed { choices, message } => {
            assert_eq!(choices, &[5, 1]);
            assert!(message.contains("a is 5 and b holds"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let printed = report.to_string();
    assert!(
        printed.contains("FAILED") && printed.contains("choice vector [5, 1]"),
        "{printed}"
    );
    assert!(
        printed.contains("KANI_SHIM_REPLAY='shim::fails=5,1'"),
        "{printed}"
    );
    assert!(!replay(&harness, &[5, 1]));
    assert!(replay(&harness, &[5, 0]));
}

#[test]
fn a_cover_never_satisfied_is_vacuous() {
    // Reached on every path, never true.
    let report = explore(|| {
        let a: u8 = kani::any();
        kani::cover!(u16::from(a) > 255);
    });
    assert!(
        matches!(report.outcome, Outcome::Vacuous { ref unsatisfied } if unsatisfied.len() == 1)
    );
    assert_eq!((report.covers_hit, report.covers_total), (0, 1));
    assert!(report.to_string().contains("vacuous"), "{report}");
}

const UNREACHED_COVER: u32 = line!() + 5;
fn unreached_cover() {
    let a: bool = kani::any();
    kani::assume(a);
    if !a {
        kani::cover!();
    }
}

#[test]
fn a_cover_no_path_reaches_is_vacuous() {
    let harness =
        Harness::new("shim::unreached", file!(), unreached_cover).cover_lines(&[UNREACHED_COVER]);
    let report = check(&harness);
    assert_eq!(
        report.outcome,
        Outcome::Vacuous {
            unsatisfied: vec![(file!(), UNREACHED_COVER)]
        }
    );
}

#[test]
fn covers_satisfied_on_some_path_pass() {
    let report = explore(|| {
        let a: u8 = kani::any();
        kani::cover!(a == 255, "the top value");
        kani::cover!(a == 7);
    });
    assert_counts(&report, 256, 0, true);
    assert_eq!((report.covers_hit, report.covers_total), (2, 2));
}

fn two_bytes() {
    let _: u8 = kani::any();
    let _: u8 = kani::any();
}

#[test]
fn the_path_budget_fails_loudly() {
    let over = check(&Harness::new("shim::budget", file!(), two_bytes).max_paths(1000));
    assert_eq!(over.outcome, Outcome::BudgetExhausted { max_paths: 1000 });
    assert_eq!(over.paths_checked, 1000);
    assert!(!over.passed() && over.to_string().contains("budget of 1000 exhausted"));
    // A budget of exactly the tree's size is enough.
    let exact = check(&Harness::new("shim::budget", file!(), two_bytes).max_paths(65536));
    assert_counts(&exact, 65536, 0, true);
}

#[test]
fn should_panic_passes_only_when_a_path_panics() {
    let panics = check(&Harness::new("shim::p", file!(), fails_on_5_and_true).should_panic());
    assert!(
        matches!(panics.outcome, Outcome::PanickedAsExpected { ref choices, .. } if choices == &[5, 1])
    );
    assert!(panics.passed());
    let holds = check(&Harness::new("shim::h", file!(), two_bytes).should_panic());
    assert_eq!(holds.outcome, Outcome::NoPanic);
    assert!(!holds.passed());
}

static RUNS: AtomicU32 = AtomicU32::new(0);

#[test]
fn a_nondeterministic_body_is_reported() {
    let report = explore(|| {
        let values = 2 + RUNS.fetch_add(1, Ordering::Relaxed);
        kani::shim::choose(values);
    });
    assert!(
        matches!(report.outcome, Outcome::Failed { ref message, .. } if message.contains("nondeterministic")),
        "{report}"
    );
}

// The attribute macros: these harnesses run as this file's tests too.

/// Two covers in the body, one per line, both satisfied.
#[kani::proof]
#[kani::unwind(3)]
fn macro_harness_with_covers() {
    let shape: Shape = kani::any();
    kani::cover!(matches!(
        shape,
        Shape::Pair {
            byte: 9,
            flag: true
        }
    ));
    kani::cover!(matches!(shape, Shape::Empty));
}

#[kani::proof]
#[kani::should_panic]
fn macro_should_panic_after_proof() {
    assert!(kani::any::<u8>() != 42);
}

#[kani::should_panic]
#[kani::proof]
fn macro_should_panic_before_proof() {
    assert!(!kani::any::<bool>());
}

#[kani::proof]
#[cfg_attr(not(kani), kani::shim::max_paths(300))]
fn macro_with_budget() {
    let _: u8 = kani::any();
}

#[test]
fn the_proof_macro_describes_the_harness() {
    let h = macro_harness_with_covers::HARNESS;
    assert_eq!(h.name, "shim::macro_harness_with_covers");
    assert_eq!((h.package, h.file), ("kani-shim", file!()));
    assert_eq!(h.cover_lines.len(), 2);
    assert!(!h.should_panic && h.max_paths.is_none());
    const { assert!(macro_should_panic_after_proof::HARNESS.should_panic) };
    const { assert!(macro_should_panic_before_proof::HARNESS.should_panic) };
    assert_eq!(macro_with_budget::HARNESS.max_paths, Some(300));
    // The harness fn itself stays callable as written (what the real Kani sees).
    let report = check(&Harness::new(
        "shim::direct",
        file!(),
        macro_harness_with_covers,
    ));
    assert_counts(&report, 515, 0, true);
}
