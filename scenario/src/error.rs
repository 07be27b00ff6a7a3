//! Parse errors: one line, `FILE:LINE: what is wrong`.

use std::fmt;

/// Why a scenario file is not valid, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// One line, no trailing period.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A parse error before the file name is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LineError {
    pub line: usize,
    pub message: String,
}

impl LineError {
    /// The error, in `file`.
    pub(crate) fn in_file(self, file: &str) -> ParseError {
        ParseError {
            file: file.to_owned(),
            line: self.line,
            message: self.message,
        }
    }
}

/// `map_err` adaptor: attach `line` to a message.
pub(crate) fn at(line: usize) -> impl Fn(String) -> LineError {
    move |message| LineError { line, message }
}
