//! The verifier model on generated programs (`spec::prog::generate`), in every era: every
//! program stays inside the model (no `Unsupported`), the verdict is deterministic and the
//! same in two parts (`prepare`, then `load`, as the benchmark times it), the kernel's
//! side of the differential gets programs of both kinds (at least 40% accepted), and the
//! faults reach many distinct reasons.

use arbitrary::Unstructured;
use spec::prog::generate;
use spec::verify::{Verdict, load, prepare, verify};
use spec::{Era, Kernel};
use std::collections::BTreeSet;

const PROGRAMS: u64 = 3000;

#[test]
fn generated_programs_stay_in_the_model_and_reach_both_verdicts() {
    for era in Era::ALL {
        let kernel = Kernel::new(era);
        let (mut accepted, mut total) = (0, 0);
        let mut reasons = BTreeSet::new();
        for i in 0..PROGRAMS {
            let bytes = spec::generate::seeded_bytes(spec::generate::splitmix64(7) ^ i, 1024);
            let case = generate::case(&mut Unstructured::new(&bytes), &kernel)
                .expect("1024 bytes make a program");
            let v = verify(&kernel, &case);
            assert_eq!(
                v,
                verify(&kernel, &case),
                "{era}: program {i} verdict changed"
            );
            let in_two_parts =
                prepare(&kernel, &case).map_or_else(|v| v, |p| load(&kernel, &case, &p));
            assert_eq!(v, in_two_parts, "{era}: program {i} verdict in two parts");
            total += 1;
            match v {
                Verdict::Accept => accepted += 1,
                Verdict::Reject(r) => {
                    reasons.insert(r.name());
                }
                other => panic!("{era}: program {i} is outside the model: {other}\n{case:?}"),
            }
        }
        let share = accepted as f64 / total as f64;
        assert!(share >= 0.4, "{era}: only {:.0}% accepted", share * 100.0);
        assert!(
            reasons.len() >= 25,
            "{era}: the faults reach only {} reasons: {reasons:?}",
            reasons.len()
        );
    }
}
