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
    text.lines().enumerate().filter_map(|(i, raw)| {
        let code = raw.split_once('#').map_or(raw, |(code, _comment)| code);
        let body = code.trim_start();
        let text = body.trim_end();
        (!text.is_empty()).then(|| Line {
            number: i + 1,
            indent: code.chars().count() - body.chars().count(),
            text,
        })
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

/// Punctuation. `->` is here only to be reported when a line has two.
const PUNCTS: [&str; 11] = ["->", "[", "]", "(", ")", ",", ":", "=", "|", ";", "<"];

const fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Split a piece of a line into tokens. A word is `[A-Za-z0-9_.]+`, optionally preceded by
/// `-` (`-EINVAL`, `-1`).
fn tokenize(s: &str) -> Result<Vec<Tok<'_>>, String> {
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
        } else if let Some(p) = PUNCTS.iter().find(|p| rest.starts_with(*p)) {
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
    pub fn new(s: &'a str) -> Result<Cursor<'a>, String> {
        Ok(Cursor {
            toks: tokenize(s)?,
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

    /// The next token, which must be a word; `what` names it in the error.
    pub fn word(&mut self, what: &str) -> Result<&'a str, String> {
        match self.peek() {
            Some(Tok::Word(w)) => {
                self.pos += 1;
                Ok(w)
            }
            _ => Err(format!("expected {what}, {}", self.found())),
        }
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
