//! The scenario parser: any UTF-8 text either parses or is a `ParseError` naming its line;
//! no input may panic. Seed it with `spec/testdata` (the Makefile's `fuzz-smoke` does).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = scenario::parse(text, "fuzz.bpfs");
    }
});
