//! The questionnaire language's second pass: each fault an outside review
//! found, as a test that failed before its fix.

use chrono::NaiveDate;
use prom::core::engine::{Mode, validate};
use prom::core::value::round_half_away;
use prom::core::{Compiled, compile_yaml};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json, json};

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date")
}

fn compiled(src: &str) -> Compiled {
    compile_yaml(src)
}

/// The messages of every diagnostic, with its line and column.
fn diagnostics(src: &str) -> Vec<String> {
    compiled(src)
        .diagnostics
        .iter()
        .map(|d| {
            format!(
                "{}:{} {:?} {}",
                d.pos.line, d.pos.col, d.severity, d.message
            )
        })
        .collect()
}

fn answers(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => panic!("answers are an object"),
    }
}

/// Nine items scored 0-3 with `missing: {allow: 3, impute: mean}`.
fn nine_items(round: u32) -> String {
    let mut src = String::from(
        "id: p\nversion: 1\ntitle: P\nscales:\n  f:\n    - {value: 0, text: a}\n    - {value: 1, text: b}\n    - {value: 2, text: c}\n    - {value: 3, text: d}\nitems:\n",
    );
    for i in 1..=9 {
        src.push_str(&format!(
            "  - {{id: q{i}, type: choice, scale: f, text: Q{i}, required: false}}\n"
        ));
    }
    src.push_str(&format!(
        "scores:\n  - id: total\n    items: [q1, q2, q3, q4, q5, q6, q7, q8, q9]\n    missing: {{allow: 3, impute: mean}}\n    round: {round}\n"
    ));
    src
}

#[test]
fn prorating_is_exact_so_seven_and_a_half_rounds_to_eight() {
    let c = compiled(&nine_items(0));
    let q = c.questionnaire.expect("compiles");
    let a = answers(json!({"q1": 1, "q2": 1, "q3": 1, "q4": 1, "q5": 1, "q6": 0}));
    let ev = validate(&q, &a, Mode::Web, date()).expect("valid");
    // 5 / 6 × 9 = 7.5, half away from zero: 8 (the mean first gave 7).
    assert_eq!(ev.scores[0].value, Some(Decimal::from(8)));
    assert_eq!(ev.scores[0].imputed, 3);
}

/// `x` rounded half away from zero to `digits`, in exact rationals.
fn exact_round(num: i128, den: i128, digits: u32) -> Decimal {
    let scale = 10i128.pow(digits);
    let n = num * scale;
    let q = (2 * n.abs() + den) / (2 * den);
    let q = if n < 0 { -q } else { q };
    Decimal::from_i128_with_scale(q, digits)
}

proptest! {
    #[test]
    fn prorating_agrees_with_exact_rational_arithmetic(
        picks in prop::collection::vec(prop::option::of(0u32..4), 9),
        round in 0u32..3,
    ) {
        let c = compiled(&nine_items(round));
        let q = c.questionnaire.expect("compiles");
        let mut a = Map::new();
        for (i, p) in picks.iter().enumerate() {
            if let Some(p) = p {
                a.insert(format!("q{}", i + 1), json!(p));
            }
        }
        let ev = validate(&q, &a, Mode::Paper, date()).expect("valid");
        let answered: Vec<i128> = picks.iter().flatten().map(|&p| i128::from(p)).collect();
        let missing = 9 - answered.len();
        let want = if answered.is_empty() || missing > 3 {
            None
        } else {
            let sum: i128 = answered.iter().sum();
            Some(exact_round(sum * 9, answered.len() as i128, round))
        };
        prop_assert_eq!(ev.scores[0].value.map(|d| d.normalize()), want.map(|d| d.normalize()));
        // The rounding helper itself agrees with the rationals on .5 cases.
        prop_assert_eq!(round_half_away(Decimal::new(75, 1), 0), Decimal::from(8));
    }
}

const NOT_APPLICABLE: &str = "id: na
version: 1
title: NA
items:
  - id: q1
    type: choice
    text: Q1
    options:
      - {value: 1, text: a}
      - {value: 2, text: b}
      - {value: 3, text: c}
      - {value: 9, text: n/a, not_applicable: true}
scores:
  - id: total
    items: [q1]
    bands:
      - {from: 1, id: low}
      - {from: 3, id: high}
rules:
  - id: none_apply
    when: \"total = 0\"
    level: yellow
    text: nothing applies
";

#[test]
fn a_not_applicable_score_counts_in_range_analysis() {
    let d = diagnostics(NOT_APPLICABLE);
    assert!(
        d.iter().any(|m| m.contains("Error")
            && m.contains("the first band starts at 1, but `total` can be as low as 0")),
        "{d:#?}"
    );
    assert!(!d.iter().any(|m| m.contains("can never fire")), "{d:#?}");
    // With the band from 0 the file compiles, and the rule fires on n/a.
    let fixed = NOT_APPLICABLE.replace("{from: 1, id: low}", "{from: 0, id: low}");
    let q = compiled(&fixed).questionnaire.expect("compiles");
    let ev = validate(&q, &answers(json!({"q1": 9})), Mode::Web, date()).expect("valid");
    assert_eq!(ev.scores[0].value, Some(Decimal::ZERO));
    assert_eq!(prom::core::engine::fire_rules(&q, &ev, &[]), vec![0]);
}

#[test]
fn an_exclusive_option_is_named_in_the_patients_language() {
    let src = "id: ex
version: 1
title: {da: Ex, en: Ex}
languages: [da, en]
items:
  - id: sym
    type: multi
    text: {da: Symptomer, en: Symptoms}
    options:
      - {value: pain, text: {da: Smerter, en: Pain}}
      - {value: none, exclusive: true, text: {da: Ingen af disse, en: None of these}}
";
    let q = compiled(src).questionnaire.expect("compiles");
    let errs = validate(
        &q,
        &answers(json!({"sym": ["pain", "none"]})),
        Mode::Web,
        date(),
    )
    .expect_err("refused");
    assert_eq!(
        errs[0].message("en"),
        "In sym, «None of these» cannot be chosen together with other options"
    );
    assert_eq!(
        errs[0].message("da"),
        "I sym kan «Ingen af disse» ikke vælges sammen med andre svarmuligheder"
    );
}

#[test]
fn an_item_with_one_faulty_key_is_still_declared_and_gives_one_error() {
    let src = "id: c
version: 1
title: C
items:
  - id: pain
    type: slider
    min: 0
    max: 10
    txet: How much pain?
  - id: more
    type: text
    show_if: \"pain >= 5\"
    text: More?
scores:
  - id: total
    items: [pain]
rules:
  - id: high
    when: \"pain >= 8 or total > 9\"
    level: yellow
    text: High
";
    let errors: Vec<String> = diagnostics(src)
        .into_iter()
        .filter(|d| d.contains("Error"))
        .collect();
    assert_eq!(errors, ["9:5 Error unknown key `txet`"]);
}

#[test]
fn a_text_literal_that_is_no_option_is_an_error_at_the_literal() {
    let src = "id: o
version: 1
title: O
items:
  - id: change
    type: choice
    text: Change?
    options:
      - {value: much_better, text: Better}
      - {value: much_worse, text: Worse}
rules:
  - id: worse
    when: \"change = 'much worse'\"
    level: yellow
    text: Worse
";
    let c = compiled(src);
    assert!(c.questionnaire.is_none());
    let d = &c.diagnostics[0];
    assert_eq!(d.message, "'much worse' is not an option of `change`");
    assert_eq!(d.hint.as_deref(), Some("did you mean 'much_worse'?"));
    assert_eq!((d.pos.line, d.pos.col), (13, 21));
    // The right literal compiles, and `contains` reads a multi item.
    assert!(
        compiled(&src.replace("'much worse'", "'much_worse'"))
            .questionnaire
            .is_some()
    );
}
