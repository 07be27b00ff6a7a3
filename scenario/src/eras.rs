//! Era sets: the kernels an expectation holds for.
//!
//! Syntax (`eras` header lines and `on` lines): `all`, or a space-separated list of eras and
//! ranges. A run of consecutive range tokens is one range, the intersection of its bounds
//! (`>=6.1 <=6.18`); plain eras and ranges are united (`5.15 >=6.12`).

use spec::Era;
use std::fmt;
use std::str::FromStr;

/// A set of [`Era`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EraSet(u8);

impl EraSet {
    /// Every modelled era.
    pub const ALL: EraSet = EraSet((1 << Era::ALL.len()) - 1);

    /// The set holding only `era`.
    pub const fn only(era: Era) -> EraSet {
        EraSet(1 << era as u8)
    }

    pub const fn contains(self, era: Era) -> bool {
        self.0 & EraSet::only(era).0 != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The eras of the set, oldest first.
    pub fn iter(self) -> impl Iterator<Item = Era> {
        Era::ALL.into_iter().filter(move |&e| self.contains(e))
    }

    const fn union(self, other: EraSet) -> EraSet {
        EraSet(self.0 | other.0)
    }

    const fn intersection(self, other: EraSet) -> EraSet {
        EraSet(self.0 & other.0)
    }

    fn matching(keep: impl Fn(Era) -> bool) -> EraSet {
        Era::ALL
            .into_iter()
            .filter(|&e| keep(e))
            .fold(EraSet::default(), |set, e| set.union(EraSet::only(e)))
    }
}

/// A range token (`>=6.12`, `<7.0`, ...) as the set of eras it admits; `None` for a plain era.
fn range_bound(token: &str) -> Result<Option<EraSet>, String> {
    type Cmp = fn(&Era, &Era) -> bool;
    const BOUNDS: [(&str, Cmp); 4] = [
        (">=", Era::ge),
        ("<=", Era::le),
        (">", Era::gt),
        ("<", Era::lt),
    ];
    let Some((bound, cmp)) = BOUNDS
        .iter()
        .find_map(|&(op, cmp)| token.strip_prefix(op).map(|bound| (bound, cmp)))
    else {
        return Ok(None);
    };
    let bound: Era = bound.parse()?;
    Ok(Some(EraSet::matching(|e| cmp(&e, &bound))))
}

impl FromStr for EraSet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let tokens: Vec<&str> = s.split_whitespace().collect();
        match tokens.as_slice() {
            [] => return Err("empty era set".to_owned()),
            ["all"] => return Ok(EraSet::ALL),
            _ if tokens.contains(&"all") => {
                return Err("`all` cannot be combined with other eras".to_owned());
            }
            _ => {}
        }
        let mut set = EraSet::default();
        // The range being built: its tokens (for messages) and the eras it still admits.
        let mut range: Option<(Vec<&str>, EraSet)> = None;
        let close = |range: Option<(Vec<&str>, EraSet)>| -> Result<EraSet, String> {
            match range {
                Some((tokens, eras)) if eras.is_empty() => {
                    Err(format!("era range `{}` contains no era", tokens.join(" ")))
                }
                Some((_, eras)) => Ok(eras),
                None => Ok(EraSet::default()),
            }
        };
        for token in tokens {
            match range_bound(token)? {
                Some(bound) => {
                    let (mut range_tokens, eras) =
                        range.take().unwrap_or((Vec::new(), EraSet::ALL));
                    range_tokens.push(token);
                    range = Some((range_tokens, eras.intersection(bound)));
                }
                None => {
                    set = set.union(close(range.take())?);
                    set = set.union(EraSet::only(token.parse()?));
                }
            }
        }
        Ok(set.union(close(range)?))
    }
}

impl fmt::Display for EraSet {
    /// The eras, space-separated (`6.12 6.18`), or `all`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == EraSet::ALL {
            return f.write_str("all");
        }
        let names: Vec<&str> = self.iter().map(Era::name).collect();
        f.write_str(&names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec::Era::*;

    fn eras(s: &str) -> Vec<Era> {
        s.parse::<EraSet>().unwrap().iter().collect()
    }

    fn error(s: &str) -> String {
        s.parse::<EraSet>().unwrap_err()
    }

    #[test]
    fn all_is_every_era() {
        assert_eq!(eras("all"), Era::ALL);
    }

    #[test]
    fn plain_eras_are_united() {
        assert_eq!(eras("6.18 6.12"), [V6_12, V6_18]);
        assert_eq!(eras("5.15"), [V5_15]);
        assert_eq!(eras("6.1 6.1"), [V6_1]);
    }

    #[test]
    fn each_bound_admits_the_right_eras() {
        assert_eq!(eras(">=6.12"), [V6_12, V6_18, V7_0, V7_2]);
        assert_eq!(eras(">6.12"), [V6_18, V7_0, V7_2]);
        assert_eq!(eras("<=6.1"), [V5_15, V6_1]);
        assert_eq!(eras("<7.0"), [V5_15, V6_1, V6_12, V6_18]);
        assert_eq!(eras("<7.2"), [V5_15, V6_1, V6_12, V6_18, V7_0]);
        assert_eq!(eras(">=7.2"), [V7_2]);
    }

    #[test]
    fn consecutive_bounds_intersect() {
        assert_eq!(eras(">=6.1 <=6.18"), [V6_1, V6_12, V6_18]);
        assert_eq!(eras(">5.15 <7.0 <=6.12"), [V6_1, V6_12]);
    }

    #[test]
    fn a_plain_era_ends_a_range() {
        assert_eq!(eras(">=7.0 5.15"), [V5_15, V7_0, V7_2]);
        assert_eq!(eras("<6.1 6.12 >6.18"), [V5_15, V6_12, V7_0, V7_2]);
        assert_eq!(eras(">=6.12 <6.18 5.15 >6.18"), [V5_15, V6_12, V7_0, V7_2]);
    }

    #[test]
    fn unknown_eras_are_named() {
        assert!(error("6.3").contains("`6.3`"), "{}", error("6.3"));
        assert!(error(">=6.3").contains("`6.3`"));
        assert!(error("=6.12").contains("`=6.12`"));
    }

    #[test]
    fn empty_sets_and_ranges_are_errors() {
        assert_eq!(error(""), "empty era set");
        assert_eq!(error(">7.2"), "era range `>7.2` contains no era");
        assert_eq!(
            error(">=6.18 <6.12 6.1"),
            "era range `>=6.18 <6.12` contains no era"
        );
        assert!(error("all 6.1").contains("`all`"));
    }

    #[test]
    fn display_round_trips() {
        for s in ["all", "5.15", "6.1 6.18", "6.12 6.18 7.0", "7.0 7.2"] {
            assert_eq!(s.parse::<EraSet>().unwrap().to_string(), s);
        }
    }
}
