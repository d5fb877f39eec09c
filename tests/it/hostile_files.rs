//! Hostile or broken input files get a clear error, never a crash, a hang
//! or a stack overflow. (How fast is measured in `cargo bench`, not here.)

use prom::core::compile_yaml;

/// Every error message for `src`, one per line.
fn errors(src: &str) -> String {
    let c = compile_yaml(src);
    assert!(c.questionnaire.is_none());
    let errors: Vec<String> = c
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    assert!(!errors.is_empty());
    errors.join("\n")
}

#[test]
fn a_file_over_one_mebibyte_is_refused_unread() {
    let src = format!("id: big\n# {}\n", "x".repeat(1024 * 1024));
    assert!(errors(&src).contains("at most 1048576 bytes"));
}

#[test]
fn a_billion_laughs_file_is_refused_at_its_first_anchor() {
    let mut src = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        src.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(", ")));
    }
    assert!(errors(&src).contains("anchors"));
}

#[test]
fn ten_thousand_levels_of_nesting_are_refused_without_overflow() {
    let flow = "[".repeat(10_000) + &"]".repeat(10_000);
    assert!(errors(&format!("items: {flow}\n")).contains("nests deeper"));
    // Block sequences nest on one line: `- - - - ...`.
    let block = "- ".repeat(10_000) + "x\n";
    assert!(errors(&block).contains("nests deeper"));
    let maps = "{a: ".repeat(10_000) + "1" + &"}".repeat(10_000);
    assert!(errors(&maps).contains("nests deeper"));
}

#[test]
fn a_deeply_nested_expression_is_refused_without_overflow() {
    let expr = "(".repeat(50_000) + "1" + &")".repeat(50_000);
    let src = format!(
        "id: x\nversion: 1\ntitle: x\nitems:\n  - {{id: q1, type: boolean, text: x, show_if: \"{expr} > 0\"}}\n"
    );
    assert!(errors(&src).contains("nests too deeply"));
}

#[test]
fn non_finite_numbers_duplicate_keys_and_tags_are_errors() {
    assert!(errors("id: x\nversion: .nan\n").contains("not a finite number"));
    assert!(errors("id: x\nid: y\n").contains("duplicate key `id`"));
    assert!(errors("id: !!str x\n").contains("tags"));
}

#[test]
fn garbage_and_empty_files_get_a_message() {
    assert!(errors("").contains("empty"));
    assert!(errors("\t\u{0}\u{7}: [").contains("a tab character"));
    assert!(errors("just a string").contains("expected a mapping"));
}

#[test]
fn a_huge_list_of_items_compiles_in_one_pass() {
    // A legal but large file: 2,000 items and a score over all of them.
    let mut src = String::from("id: many\nversion: 1\ntitle: Many\nitems:\n");
    for i in 0..2000 {
        src.push_str(&format!(
            "  - {{id: q{i}, type: integer, min: 0, max: 3, text: Q}}\n"
        ));
    }
    let ids: Vec<String> = (0..2000).map(|i| format!("q{i}")).collect();
    src.push_str(&format!(
        "scores:\n  - {{id: total, items: [{}]}}\n",
        ids.join(", ")
    ));
    let c = compile_yaml(&src);
    let q = c.questionnaire.expect("compiles");
    assert_eq!(q.scores[0].range.map(|r| r.1), Some(6000.into()));
}

/// Hostile files, each refused with a bounded report.
fn hostile_sources() -> Vec<(&'static str, String)> {
    let n = 6000;
    let aliases = format!(
        "id: x\nversion: 1\ntitle: X\na: &l [{}]\nb: [{}]\n",
        vec!["1"; n].join(","),
        vec!["*l"; n].join(",")
    );
    let mut laughs = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        laughs.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(", ")));
    }
    let many_keys: String = (0..5000).map(|i| format!("k{i}: 1\n")).collect();
    let long_line_errors = format!(
        "id: x\nversion: 1\ntitle: X\nitems: [{}]\n",
        (0..3000)
            .map(|i| format!("{{id: q{i}, type: nope}}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    vec![
        ("6,000 aliases on one line", aliases),
        ("billion laughs", laughs),
        ("5,000 unknown keys", many_keys),
        ("3,000 broken items on one line", long_line_errors),
        ("deep nesting", "[".repeat(10_000) + &"]".repeat(10_000)),
    ]
}

#[test]
fn every_hostile_file_gets_a_report_of_under_twenty_kilobytes() {
    for (what, src) in hostile_sources() {
        let c = compile_yaml(&src);
        assert!(c.questionnaire.is_none(), "{what}: refused");
        let report = prom::core::diag::render_all(&c.diagnostics, "hostile.yaml", &src);
        assert!(
            report.len() < 20 * 1024,
            "{what}: {} bytes of report",
            report.len()
        );
        assert!(
            c.diagnostics.len() <= 10_000,
            "{what}: {} diagnostics",
            c.diagnostics.len()
        );
    }
}

#[test]
fn reading_stops_after_a_hundred_errors() {
    let (_, src) = &hostile_sources()[0];
    let c = compile_yaml(src);
    assert_eq!(c.diagnostics.len(), 101);
    assert!(
        c.diagnostics[100]
            .message
            .contains("reading stopped after 100 problems")
    );
}
