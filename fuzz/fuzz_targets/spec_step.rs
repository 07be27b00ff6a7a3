//! The spec alone: the input bytes make an op sequence (`spec::generate::sequence`: a fixture
//! of maps holding every async object, then ops decoded with `arbitrary`), stepped through
//! the spec in every era with the invariants checked after every step. No input may panic: a
//! panic names a broken invariant or a step that cannot handle a state, a spec bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spec::{Engine, Era, Kernel, SpecEngine};

fuzz_target!(|input: &[u8]| {
    let ops = spec::generate::sequence(input);
    for era in Era::ALL {
        // `SpecEngine::new` checks `World::check_invariants` after every step.
        let mut engine = SpecEngine::new(Kernel::new(era));
        for op in &ops {
            engine.apply(op);
        }
    }
});
