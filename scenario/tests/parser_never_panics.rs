//! No input makes a parser panic: truncated, shuffled and corrupted versions of the fixtures
//! (scenario files through `parse`, verifier case files through `parse_case`) and plain
//! garbage all give `Ok` or a one-line error on a line of the input.

use scenario::{ParseError, parse, parse_case};

/// A parser of the crate, as the errors it gives.
type Parser = fn(&str) -> Result<(), ParseError>;

fn scenario_file(text: &str) -> Result<(), ParseError> {
    parse(text, "fuzz.bpfs").map(drop)
}

fn case_file(text: &str) -> Result<(), ParseError> {
    parse_case(text, "fuzz.bpfv").map(drop)
}

/// The parser of each format, by the extension of its files.
const FORMATS: [(&str, Parser); 2] = [("bpfs", scenario_file), ("bpfv", case_file)];

/// Each fixture, with the parser of its format.
fn fixtures() -> Vec<(String, Parser)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut fixtures = Vec::new();
    for (extension, parser) in FORMATS {
        let mut texts: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|path| path.extension().is_some_and(|x| x == extension))
            .map(|path| std::fs::read_to_string(path).unwrap())
            .collect();
        assert!(texts.len() >= 2, "`*.{extension}` fixtures missing");
        texts.sort();
        fixtures.extend(texts.into_iter().map(|text| (text, parser)));
    }
    fixtures
}

/// Parse; on error, the error must be one line naming a line of `text` (or line 1).
fn survives(parser: Parser, text: &str) {
    if let Err(e) = parser(text) {
        let shown = e.to_string();
        assert!(!shown.contains('\n'), "multi-line error {shown:?}");
        assert!(
            (1..=text.lines().count().max(1)).contains(&e.line),
            "line {} out of the input: {shown}",
            e.line
        );
    }
}

/// A deterministic pseudo-random sequence (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[test]
fn every_prefix_of_every_fixture_parses_or_errs() {
    for (text, parser) in fixtures() {
        for (i, _) in text.char_indices() {
            survives(parser, &text[..i]);
        }
    }
}

#[test]
fn dropping_or_doubling_any_line_parses_or_errs() {
    for (text, parser) in fixtures() {
        let lines: Vec<&str> = text.lines().collect();
        for i in 0..lines.len() {
            let mut dropped = lines.clone();
            dropped.remove(i);
            survives(parser, &dropped.join("\n"));
            let mut doubled = lines.clone();
            doubled.insert(i, lines[i]);
            survives(parser, &doubled.join("\n"));
        }
    }
}

#[test]
fn corrupted_characters_parse_or_err() {
    const NOISE: [&str; 28] = [
        "[",
        "]",
        "(",
        ")",
        "-",
        "->",
        ":",
        ",",
        ";",
        "|",
        "=",
        " ",
        "\t",
        "\n",
        "#",
        "é",
        "9",
        "99999999999999999999",
        "self",
        "\u{0}",
        "*",
        "&",
        "+",
        "<<=",
        "0x",
        "r11",
        "ll",
        "log |",
    ];
    let mut rng = Lcg(0x5eed);
    for (text, parser) in fixtures() {
        let chars: Vec<char> = text.chars().collect();
        for _ in 0..3_000 {
            let mut mutated: String = chars.iter().collect();
            for _ in 0..=rng.below(3) {
                let at = mutated
                    .char_indices()
                    .nth(rng.below(chars.len()))
                    .map_or(mutated.len(), |(i, _)| i);
                let len = mutated[at..].chars().next().map_or(0, char::len_utf8);
                let noise = NOISE[rng.below(NOISE.len())];
                if rng.below(2) == 0 {
                    mutated.replace_range(at..at + len, noise);
                } else {
                    mutated.insert_str(at, noise);
                }
            }
            survives(parser, &mutated);
        }
    }
}

#[test]
fn garbage_parses_or_errs() {
    for text in [
        "",
        "\n\n\n",
        "\u{feff}scenario x",
        "scenario",
        "scenario x\nsource\n",
        "scenario x\nsource s\neras\n",
        "scenario x\nsource s\neras >=\n",
        "scenario x\nsource s\neras all\nprog\n",
        "scenario x\nsource s\neras all\nprog p xdp\n  callback\n",
        "scenario x\nsource s\neras all\nprog p xdp\n  callback :\n",
        "scenario x\nsource s\neras all\nprog p xdp\n  main:\n    if runs(\n",
        "scenario x\nsource s\neras all\nstep run ->\n",
        "scenario x\nsource s\neras all\nstep wait 1s -> a(\n",
        "scenario x\nsource s\neras all\nstep update m[0] = -> 0\n",
        "scenario x\nsource s\neras all\nmap m array max_entries=1 value=\n",
        "scenario x\nsource s\neras all\n\u{2028}step\u{85}",
        "->->->[[[(((",
        "case",
        "case x\nsource s\neras all\nlog",
        "case x\nsource s\neras all\nobserved linux  (era ):",
        "case x\nsource s\neras all\nobserved linux 1 (era 7.0): map",
        "case x\nsource s\neras all\nmap m array max_entries=1 -> -E\nprog xdp\nfunc f\n",
        "case x\nsource s\neras all\nprog xdp -> accept\nfunc f\n  r1 = -\n  r1 = - ll\n",
        "case x\nsource s\neras all\nprog xdp -> accept\nfunc f\n  *(u8 *)(r1 - -0x) = r\n",
        "case x\nsource s\neras all\nprog xdp -> accept\nfunc f\n  if r1 s\n  goto +-\n",
        "case x\nsource s\neras all\nprog xdp -> accept\nfunc f\n  r1 = &\n  call\n  r\n",
        "case x\nsource s\neras all\nprog xdp -> accept\nfunc f\n  r1 = 0x8000000000000000 ll\n",
        "case x\nsource s\neras all\nprog xdp -> accept\nfunc f\n  goto -32769\n  r1 = -2147483649\n",
    ] {
        for (_, parser) in FORMATS {
            survives(parser, text);
        }
    }
}
