//! What the error tests of both formats check of a [`ParseError`].

use scenario::ParseError;

/// The line and message of `e`, an error in `file`, once checked to show as one
/// `FILE:LINE: what is wrong` line.
pub fn line_and_message(e: ParseError, file: &str) -> (usize, String) {
    let shown = e.to_string();
    assert_eq!(shown, format!("{file}:{}: {}", e.line, e.message));
    assert!(!shown.contains('\n'), "more than one line: {shown:?}");
    (e.line, e.message)
}

/// The error `(line, message)` is on `line` and its message contains `words`.
#[track_caller]
pub fn assert_at((at, message): (usize, String), line: usize, words: &str) {
    assert_eq!(at, line, "{message}");
    assert!(message.contains(words), "`{message}` lacks `{words}`");
}
