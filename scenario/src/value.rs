//! Word-level values: names, numbers, durations, errnos, call results, and lookups in the
//! tables of keywords.

use spec::{Errno, Nanos, Ret};

/// `table[word]`; an unknown word is named with the known ones.
pub(crate) fn lookup<T: Copy>(table: &[(&str, T)], word: &str, what: &str) -> Result<T, String> {
    table
        .iter()
        .find(|(name, _)| *name == word)
        .map(|&(_, v)| v)
        .ok_or_else(|| {
            let known: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
            format!("unknown {what} `{word}` (known: {})", known.join(", "))
        })
}

/// A name of a map, program or callback: `[A-Za-z_][A-Za-z0-9_]*`, and not `self`.
pub(crate) fn name(word: &str) -> Result<&str, String> {
    let well_formed = word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match word {
        "self" => Err("`self` is not a name: it is the element a program runs on".to_owned()),
        _ if well_formed => Ok(word),
        _ => Err(format!("`{word}` is not a name")),
    }
}

/// A decimal unsigned integer that fits `T`; `what` names it in messages (`"a key"`).
pub(crate) fn uint<T: TryFrom<u64>>(word: &str, what: &str) -> Result<T, String> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected {what}, found `{word}`"));
    }
    word.parse::<u64>()
        .ok()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("`{word}` is out of range for {what}"))
}

/// An index into a table the spec addresses with a `u8` (maps, programs, callbacks).
pub(crate) fn small_index(i: usize, what: &str) -> Result<u8, String> {
    u8::try_from(i).map_err(|_| format!("too many {what} (the spec addresses at most 256)"))
}

/// `10s`, `500us`, `1ms`, `20ns`, or bare nanoseconds.
pub(crate) fn duration(word: &str) -> Result<Nanos, String> {
    const UNITS: [(&str, u64); 4] = [
        ("ns", 1),
        ("us", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
    ];
    let digits = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    let (count, unit) = word.split_at(digits);
    let scale = if unit.is_empty() {
        1
    } else {
        lookup(&UNITS, unit, "duration unit")?
    };
    uint::<u64>(count, "a duration")?
        .checked_mul(scale)
        .map(Nanos)
        .ok_or_else(|| format!("`{word}` is out of range for a duration"))
}

/// `-EINVAL` and the like.
pub(crate) fn errno(word: &str) -> Result<Errno, String> {
    match word.strip_prefix('-').filter(|name| name.starts_with('E')) {
        Some(name) => name.parse().map_err(|_| format!("unknown errno `{word}`")),
        None => Err(format!(
            "expected an errno (`-EINVAL`, ...), found `{word}`"
        )),
    }
}

/// A call result: `0`, `1`, `-1`, `-E…`, `ptr`, `null`, `skip`, `noelem`.
pub(crate) fn ret(word: &str) -> Result<Ret, String> {
    const WORDS: [(&str, Ret); 4] = [
        ("ptr", Ret::Ptr),
        ("null", Ret::Null),
        ("skip", Ret::Skip),
        ("noelem", Ret::NoElem),
    ];
    if let Some(&(_, r)) = WORDS.iter().find(|(w, _)| *w == word) {
        return Ok(r);
    }
    if word.starts_with("-E") {
        return errno(word).map(Ret::err);
    }
    word.parse().map(Ret::Int).map_err(|_| {
        format!("expected a call result (`0`, `-EINVAL`, `ptr`, `null`, `skip`, `noelem`), found `{word}`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_scale_by_unit() {
        assert_eq!(duration("10s"), Ok(Nanos(10_000_000_000)));
        assert_eq!(duration("1ms"), Ok(Nanos(1_000_000)));
        assert_eq!(duration("500us"), Ok(Nanos(500_000)));
        assert_eq!(duration("7ns"), Ok(Nanos(7)));
        assert_eq!(duration("42"), Ok(Nanos(42)));
    }

    #[test]
    fn bad_durations_are_errors() {
        assert!(
            duration("10h")
                .unwrap_err()
                .contains("unknown duration unit `h`")
        );
        assert!(duration("s").is_err());
        assert!(
            duration("99999999999999999999s")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            duration("99999999999s")
                .unwrap_err()
                .contains("out of range")
        );
    }

    #[test]
    fn integers_must_fit_their_type() {
        assert_eq!(uint::<u8>("255", "max_entries"), Ok(255));
        assert_eq!(
            uint::<u8>("256", "max_entries"),
            Err("`256` is out of range for max_entries".to_owned())
        );
        assert!(uint::<u32>("-1", "a key").is_err());
        assert!(uint::<u32>("", "a key").is_err());
    }

    #[test]
    fn call_results_parse() {
        assert_eq!(ret("0"), Ok(Ret::OK));
        assert_eq!(ret("-1"), Ok(Ret::Int(-1)));
        assert_eq!(ret("-EINVAL"), Ok(Ret::err(Errno::EINVAL)));
        assert_eq!(ret("noelem"), Ok(Ret::NoElem));
        assert!(ret("-EFOO").unwrap_err().contains("unknown errno `-EFOO`"));
        assert!(ret("maybe").is_err());
    }

    #[test]
    fn names_exclude_self_and_numbers() {
        assert_eq!(name("arr_1"), Ok("arr_1"));
        assert!(name("self").is_err());
        assert!(name("1arr").is_err());
        assert!(name("6.12").is_err());
    }
}
