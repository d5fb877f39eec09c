//! The questionnaires we ship compile cleanly, carry enough tests, and pass
//! them; and `prom check` / `prom test` behave as the interface says.

use std::process::Command;

fn shipped() -> Vec<prom::catalog::Entry> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires");
    prom::catalog::load(&dir).expect("questionnaires/ loads")
}

#[test]
fn every_shipped_questionnaire_compiles_without_errors_or_warnings() {
    let entries = shipped();
    assert!(entries.len() >= 5);
    for e in &entries {
        assert!(e.compiled.diagnostics.is_empty(), "{}", e.render());
    }
}

#[test]
fn every_shipped_questionnaire_is_bilingual_sourced_licensed_and_well_tested() {
    for e in shipped() {
        let q = e.questionnaire().expect("compiles");
        let tests = &e.compiled.tests;
        assert_eq!(q.languages, ["da", "en"], "{}: Danish first", q.id);
        assert!(
            q.source.is_some() && q.license.is_some(),
            "{}: source and licence",
            q.id
        );
        assert!(tests.len() >= 8, "{}: at least 8 tests", q.id);
        for r in &q.rules {
            let covered = tests.iter().any(|t| {
                t.expect
                    .flags
                    .as_ref()
                    .is_some_and(|f| f.contains(&q.rule_index(&r.id).unwrap_or(usize::MAX)))
            });
            assert!(covered, "{}: no test fires rule `{}`", q.id, r.id);
        }
        for t in tests {
            let fails = prom::core::testing::run(q, t);
            assert!(fails.is_empty(), "{} › {}: {fails:?}", q.id, t.name);
        }
    }
}

fn prom(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prom"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("prom runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn prom_test_ends_with_the_summary_line_and_exit_status() {
    let (code, out) = prom(&["test", "questionnaires"]);
    assert_eq!(code, 0, "{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    let (code, out) = prom(&["test", "tests/broken/cycle.yaml"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");
}

#[test]
fn prom_check_exits_1_on_errors_and_2_on_a_missing_path() {
    let (code, out) = prom(&["check", "questionnaires"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = prom(&["check", "tests/broken/double_equals.yaml"]);
    assert_eq!(code, 1);
    assert!(out.starts_with("tests/broken/double_equals.yaml:6:59: error: `==` is not an operator (at items[1].show_if)"), "{out}");
    let (code, out) = prom(&["check", "tests/broken/warnings_only.yaml"]);
    assert_eq!(code, 0, "warnings alone pass: {out}");
    let (code, out) = prom(&["check", "no/such/folder"]);
    assert_eq!(code, 2);
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn a_failing_test_is_reported_with_what_differed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires/pain_nrs.yaml"),
    )
    .expect("read");
    let broken = src.replace(
        "expect: {scores: {pain: 0}, bands: {pain: none}, flags: [], level: green}",
        "expect: {scores: {pain: 1}, bands: {pain: none}, flags: [], level: green}",
    );
    assert_ne!(src, broken);
    let path = dir.path().join("pain.yaml");
    std::fs::write(&path, broken).expect("write");
    let (code, out) = prom(&["test", path.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1);
    assert!(out.contains("score `pain`: expected 1, got 0"), "{out}");
    assert!(out.ends_with("1 failed\n"), "{out}");
}

#[test]
fn every_shipped_rule_cites_its_source_and_is_in_the_guides_table() {
    let guide = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires/README.md"),
    )
    .expect("the authoring guide");
    for e in shipped() {
        let q = e.questionnaire().expect("compiles");
        for r in &q.rules {
            let source = r.source.as_deref().unwrap_or("");
            assert!(source.len() > 20, "{} › {}: no source", q.id, r.id);
            let row = format!("| `{}` | `{}` | {} |", q.id, r.id, r.level.name());
            assert!(guide.contains(&row), "the guide's table lacks {row}");
        }
    }
}

#[test]
fn every_shipped_rule_on_a_safety_item_errs_towards_yellow_when_it_is_blank() {
    // Answer nothing at all on paper: no shipped questionnaire may call
    // that green.
    for e in shipped() {
        let q = e.questionnaire().expect("compiles");
        let ev = prom::core::engine::validate(
            q,
            &serde_json::Map::new(),
            prom::core::engine::Mode::Paper,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
        )
        .expect("paper may leave everything blank");
        let fired = prom::core::engine::fire_rules(q, &ev, &[]);
        let level = prom::core::engine::level_of(q, &fired);
        assert!(
            level >= prom::core::Level::Yellow,
            "{}: a blank paper form is {}",
            q.id,
            level.name()
        );
    }
}
