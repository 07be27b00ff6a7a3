//! The README's era table (`Features` switches × eras) names every switch of `Features`, and
//! each row's marks are the switch's value in each era, so the table cannot drift from
//! `spec/src/era.rs`.

use spec::Era;

/// `(name, value)` of every switch, from `Features`' `Debug` form.
fn switches(era: Era) -> Vec<(String, bool)> {
    let debug = format!("{:?}", era.features());
    let fields = debug
        .trim_start_matches("Features {")
        .trim_end_matches('}')
        .split(',');
    fields
        .map(|f| {
            let (name, value) = f.split_once(':').expect("`name: value`");
            (name.trim().to_owned(), value.trim() == "true")
        })
        .collect()
}

#[test]
fn readme_era_table_matches_features() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let per_era: Vec<Vec<(String, bool)>> = Era::ALL.iter().map(|&e| switches(e)).collect();
    assert!(!per_era[0].is_empty());
    for (i, (name, _)) in per_era[0].iter().enumerate() {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` ")))
            .unwrap_or_else(|| panic!("README's era table has no row for `{name}`"));
        let marks: Vec<bool> = row
            .rsplit('|')
            .skip(1)
            .take(Era::ALL.len())
            .map(|c| c.trim() == "✓")
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let want: Vec<bool> = per_era.iter().map(|s| s[i].1).collect();
        assert_eq!(marks, want, "README row for `{name}` (eras {:?})", Era::ALL);
    }
}
