//! Lexical layer: significant lines, and the tokens of one line.
//!
//! The format is line-oriented, so lexing is too: [`lines`] yields each non-blank line with
//! its comment stripped and its indentation measured, and a [`Cursor`] walks the tokens of one
//! piece of a line. Errors are plain messages; the parser adds the file and line.

use std::fmt;

/// A line that holds something: comment (`#` to end of line) stripped, blanks trimmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number in the file.
    pub number: usize,
    /// Count of leading blank characters (spaces or tabs).
    pub indent: usize,
    pub text: &'a str,
}

/// The significant lines of a file, in order.
pub fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| significant(i + 1, raw))
}

/// Line `number` of a file, `raw`, if it holds something.
pub fn significant(number: usize, raw: &str) -> Option<Line<'_>> {
    let code = raw.split_once('#').map_or(raw, |(code, _comment)| code);
    let body = code.trim_start();
    let text = body.trim_end();
    (!text.is_empty()).then(|| Line {
        number,
        indent: code.chars().count() - body.chars().count(),
        text,
    })
}

/// A token: a word (names, numbers, durations, errnos, era names) or a punctuation mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tok<'a> {
    Word(&'a str),
    Punct(&'static str),
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) => f.write_str(w),
            Tok::Punct(p) => f.write_str(p),
        }
    }
}

/// Punctuation of scenario lines. `->` is here only to be reported when a line has two.
const PUNCTS: [&str; 11] = ["->", "[", "]", "(", ")", ",", ":", "=", "|", ";", "<"];

/// Punctuation of BPF instruction lines (`r1 <<= 2`, `*(u32 *)(r10 - 4) = r1`, `if r1 s> r2
/// goto +1`), longest first: a mark is never the start of a longer one listed after it.
pub const INSN_PUNCTS: [&str; 21] = [
    "<<=", ">>=", "==", "!=", ">=", "<=", "+=", "-=", "*=", "&=", "|=", "^=", "=", "<", ">", "+",
    "-", "*", "&", "(", ")",
];

const fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Split a piece of a line into tokens, with the punctuation `puncts`. A word is
/// `[A-Za-z0-9_.]+`, optionally preceded by `-` (`-EINVAL`, `-1`).
fn tokenize<'a>(s: &'a str, puncts: &[&'static str]) -> Result<Vec<Tok<'a>>, String> {
    let mut toks = Vec::new();
    let mut rest = s.trim_start();
    while let Some(c) = rest.chars().next() {
        let word_len = match rest.strip_prefix('-') {
            Some(after) if after.starts_with(is_word_char) => {
                1 + after.find(|c| !is_word_char(c)).unwrap_or(after.len())
            }
            _ => rest.find(|c| !is_word_char(c)).unwrap_or(rest.len()),
        };
        if word_len > 0 {
            let (word, after) = rest.split_at(word_len);
            toks.push(Tok::Word(word));
            rest = after;
        } else if let Some(p) = puncts.iter().find(|p| rest.starts_with(*p)) {
            toks.push(Tok::Punct(p));
            rest = &rest[p.len()..];
        } else {
            return Err(format!("unexpected character `{c}`"));
        }
        rest = rest.trim_start();
    }
    Ok(toks)
}

/// A position in the tokens of a piece of a line.
#[derive(Debug)]
pub struct Cursor<'a> {
    toks: Vec<Tok<'a>>,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// The tokens of a piece of a scenario line.
    pub fn new(s: &'a str) -> Result<Cursor<'a>, String> {
        Cursor::with_puncts(s, &PUNCTS)
    }

    /// The tokens of `s`, with the punctuation `puncts` ([`INSN_PUNCTS`] for instructions).
    pub fn with_puncts(s: &'a str, puncts: &[&'static str]) -> Result<Cursor<'a>, String> {
        Ok(Cursor {
            toks: tokenize(s, puncts)?,
            pos: 0,
        })
    }

    pub fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// `found `x`` or `found end of line`, for messages.
    fn found(&self) -> String {
        match self.peek() {
            Some(t) => format!("found `{t}`"),
            None => "found end of line".to_owned(),
        }
    }

    /// The next token, if `pick` takes it; else an error naming `what` was expected.
    fn next_as<T>(&mut self, what: &str, pick: impl Fn(Tok<'a>) -> Option<T>) -> Result<T, String> {
        let Some(taken) = self.peek().and_then(pick) else {
            return Err(format!("expected {what}, {}", self.found()));
        };
        self.pos += 1;
        Ok(taken)
    }

    /// The next token, which must be a word; `what` names it in the error.
    pub fn word(&mut self, what: &str) -> Result<&'a str, String> {
        self.next_as(what, |t| match t {
            Tok::Word(w) => Some(w),
            Tok::Punct(_) => None,
        })
    }

    /// The next token, which must be punctuation; `what` names it in the error.
    pub fn punct(&mut self, what: &str) -> Result<&'static str, String> {
        self.next_as(what, |t| match t {
            Tok::Punct(p) => Some(p),
            Tok::Word(_) => None,
        })
    }

    /// Consume `p` if it is next.
    pub fn eat(&mut self, p: &str) -> bool {
        let here = matches!(self.peek(), Some(Tok::Punct(q)) if q == p);
        self.pos += usize::from(here);
        here
    }

    /// Consume the word `w` if it is next.
    pub fn eat_word(&mut self, w: &str) -> bool {
        let here = self.peek() == Some(Tok::Word(w));
        self.pos += usize::from(here);
        here
    }

    /// The punctuation `p`, which must be next.
    pub fn expect(&mut self, p: &str) -> Result<(), String> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(format!("expected `{p}`, {}", self.found()))
        }
    }

    /// Nothing may follow.
    pub fn end(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected `{t}`")),
        }
    }

    /// Items separated by `sep`; none if the tokens end, or `stop` comes, first.
    pub fn list<T>(
        &mut self,
        sep: &str,
        stop: Option<&str>,
        mut item: impl FnMut(&mut Cursor<'a>) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let mut items = Vec::new();
        let stopped = self.at_end()
            || stop.is_some_and(|s| matches!(self.peek(), Some(Tok::Punct(p)) if p == s));
        if stopped {
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            if !self.eat(sep) {
                return Ok(items);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_instruction_mark_hides_a_longer_one_listed_after_it() {
        for (i, mark) in INSN_PUNCTS.iter().enumerate() {
            let hidden: Vec<&&str> = INSN_PUNCTS[i + 1..]
                .iter()
                .filter(|longer| longer.starts_with(mark))
                .collect();
            assert!(hidden.is_empty(), "`{mark}` hides {hidden:?}");
        }
    }

    #[test]
    fn instruction_lines_split_into_words_and_marks() {
        let toks = tokenize("*(u32 *)(r10 -4) <<= -5", &INSN_PUNCTS).unwrap();
        let shown: Vec<String> = toks.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "*", "(", "u32", "*", ")", "(", "r10", "-4", ")", "<<=", "-5"
            ]
        );
    }
}
