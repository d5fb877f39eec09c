//! Property tests: validation and scoring never panic on any answers; a score
//! always lies in its computed range; compiled JSON round-trips.

use chrono::NaiveDate;
use prom::core::engine::{Mode, fire_rules, validate};
use prom::core::model::{ItemType, Questionnaire};
use prom::core::{compile_json, compile_yaml};
use proptest::prelude::*;
use serde_json::{Map, Value as Json, json};

fn shipped() -> Vec<Questionnaire> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires");
    prom::catalog::load(&dir)
        .expect("loads")
        .into_iter()
        .filter_map(|e| e.compiled.questionnaire)
        .collect()
}

fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        (-1e30f64..1e30).prop_map(|f| json!(f)),
        prop_oneof![Just(0.1), Just(2.5), Just(1e-300), Just(f64::MAX)].prop_map(|f| json!(f)),
        ".{0,30}".prop_map(Json::String),
        Just(json!("2026-02-29")),
        Just(json!("2024-02-29")),
    ];
    leaf.prop_recursive(3, 20, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::vec(("[a-z0-9]{1,4}", inner), 0..4)
                .prop_map(|kv| Json::Object(kv.into_iter().collect())),
        ]
    })
}

/// A valid answer for item `i`, or null.
fn valid_answer(q: &Questionnaire, i: usize, pick: u32, null: bool) -> Json {
    let it = &q.items[i];
    if null {
        return Json::Null;
    }
    match it.kind {
        ItemType::Choice => it.options[pick as usize % it.options.len()].value.to_json(),
        ItemType::Multi => {
            let o = &it.options[pick as usize % it.options.len()];
            json!([o.value.to_json()])
        }
        ItemType::Integer | ItemType::Slider | ItemType::Decimal => {
            let lo = it.min.unwrap_or_default();
            let step = it.step.unwrap_or(rust_decimal::Decimal::ONE);
            let hi = it
                .max
                .unwrap_or(lo + step * rust_decimal::Decimal::from(20));
            let steps = ((hi - lo) / step).floor();
            let n = rust_decimal::Decimal::from(pick) % (steps + rust_decimal::Decimal::ONE);
            prom::core::value::decimal_to_json(lo + n * step)
        }
        ItemType::Boolean => json!(pick.is_multiple_of(2)),
        ItemType::Date => json!("2026-03-04"),
        ItemType::Text => json!("fine"),
        ItemType::Display | ItemType::Section => Json::Null,
    }
}

fn check_ranges(q: &Questionnaire, picks: &[(u32, bool)]) -> Result<(), TestCaseError> {
    let mut answers = Map::new();
    for (i, it) in q.items.iter().enumerate() {
        if it.kind.answerable() {
            let (pick, null) = picks[i % picks.len()];
            answers.insert(it.id.clone(), valid_answer(q, i, pick, null));
        }
    }
    let date = NaiveDate::from_ymd_opt(2026, 5, 1).expect("date");
    let ev = validate(q, &answers, Mode::Paper, date)
        .map_err(|e| TestCaseError::fail(format!("valid answers refused: {e:?}")))?;
    for (s, r) in q.scores.iter().zip(&ev.scores) {
        if let (Some(v), Some((lo, hi))) = (r.value, s.range) {
            prop_assert!(lo <= v && v <= hi, "{}: {} outside {}..{}", s.id, v, lo, hi);
        }
    }
    let _ = fire_rules(q, &ev, &[]);
    Ok(())
}

/// A random but valid questionnaire, as compiled JSON.
fn any_questionnaire() -> impl Strategy<Value = Json> {
    let item = prop_oneof![
        (1usize..6, prop::collection::vec(-3i64..5, 6), any::<bool>()).prop_map(
            |(n, scores, with_score)| {
                let options: Vec<Json> = (0..n)
                    .map(|k| {
                        let mut o = json!({"value": k, "text": {"en": format!("o{k}")}});
                        if with_score {
                            o["score"] = json!(scores[k]);
                        }
                        o
                    })
                    .collect();
                json!({"type": "choice", "options": options})
            }
        ),
        (-5i64..5, 0i64..10)
            .prop_map(|(lo, span)| json!({"type": "integer", "min": lo, "max": lo + span})),
        (0i64..3, 1i64..20).prop_map(
            |(lo, span)| json!({"type": "decimal", "min": lo, "max": lo + span, "step": 0.5})
        ),
        (0i64..1, 1i64..100)
            .prop_map(|(lo, span)| json!({"type": "slider", "min": lo, "max": lo + span})),
        Just(json!({"type": "boolean"})),
    ];
    let score = (
        prop::collection::vec(any::<prop::sample::Index>(), 1..5),
        prop::bool::ANY,
        0u32..3,
        prop::bool::ANY,
        prop::option::of(0u32..3),
        prop::sample::select(vec![
            "",
            "raw * 2 - 1",
            "(raw - 3) / 7 * 100",
            "abs(raw) + 1",
        ]),
        prop::bool::ANY,
    );
    (prop::collection::vec(item, 1..8), prop::collection::vec(score, 0..4), prop::bool::ANY).prop_map(
        |(items, scores, conditional)| {
            let n = items.len();
            let items: Vec<Json> = items
                .into_iter()
                .enumerate()
                .map(|(i, mut it)| {
                    it["id"] = json!(format!("q{i}"));
                    it["text"] = json!({"en": format!("Question {i}")});
                    if conditional && i > 0 && it["type"] != "boolean" {
                        it["show_if"] = json!("count_answered(q0) > 0");
                    }
                    it
                })
                .collect();
            let scores: Vec<Json> = scores
                .into_iter()
                .enumerate()
                .map(|(j, (idx, mean, allow, impute, round, transform, rev))| {
                    let mut ids: Vec<String> = idx.iter().map(|x| format!("q{}", x.index(n))).collect();
                    ids.sort();
                    ids.dedup();
                    let mut s = json!({
                        "id": format!("s{j}"),
                        "items": ids,
                        "method": if mean { "mean" } else { "sum" },
                        "missing": {"allow": (allow as usize).min(ids.len()), "impute": if impute { "mean" } else { "none" }},
                    });
                    if let Some(r) = round {
                        s["round"] = json!(r);
                    }
                    if !transform.is_empty() {
                        s["transform"] = json!(transform);
                    }
                    if rev {
                        s["reverse"] = json!([ids[0]]);
                    }
                    s
                })
                .collect();
            json!({"id": "generated", "version": 1, "title": {"en": "Generated"}, "items": items, "scores": scores})
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn validation_scoring_and_rules_never_panic_on_any_answers(
        answers in prop::collection::vec((prop::sample::select(vec!["q1", "q9", "q10", "pain_now", "sleep", "change", "contact", "bloating", "zzz", "notes", "contact_info"]), any_json()), 0..12),
        paper in any::<bool>(),
    ) {
        let answers: Map<String, Json> = answers.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let mode = if paper { Mode::Paper } else { Mode::Web };
        let date = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
        for q in shipped() {
            if let Ok(ev) = validate(&q, &answers, mode, date) {
                let _ = fire_rules(&q, &ev, &[]);
            }
        }
    }

    #[test]
    fn shipped_scores_always_lie_in_their_computed_range(picks in prop::collection::vec((any::<u32>(), prop::bool::weighted(0.15)), 1..20)) {
        for q in shipped() {
            check_ranges(&q, &picks)?;
        }
    }

    #[test]
    fn generated_questionnaires_compile_round_trip_and_stay_in_range(
        src in any_questionnaire(),
        picks in prop::collection::vec((any::<u32>(), prop::bool::weighted(0.2)), 1..20),
    ) {
        let c = compile_json(&src);
        let q = c.questionnaire.ok_or_else(|| TestCaseError::fail(format!("{:?}\n{src}", c.diagnostics)))?;
        let again = compile_json(&q.to_json()).questionnaire.expect("compiled JSON compiles");
        prop_assert_eq!(&again, &q);
        prop_assert_eq!(again.to_json(), q.to_json());
        check_ranges(&q, &picks)?;
    }

    #[test]
    fn the_compiler_never_panics_on_any_text(src in "(id|version|title|items|type|text|show_if|[:\\-\\[\\]{}, \n'\"&*!#a-z0-9.]){0,200}") {
        let _ = compile_yaml(&src);
    }

    #[test]
    fn the_expression_parser_never_panics(src in "[a-z0-9_ ()\\[\\],'\"=<>!+*/.-]{0,80}") {
        let _ = prom::core::expr::syntax::parse(&src);
    }
}

#[test]
fn every_shipped_questionnaire_round_trips_through_its_compiled_json() {
    for q in shipped() {
        let again = compile_json(&q.to_json());
        assert!(
            again.diagnostics.is_empty(),
            "{}: {:?}",
            q.id,
            again.diagnostics
        );
        let again = again.questionnaire.expect("compiles");
        assert_eq!(again, q, "{}", q.id);
        assert_eq!(again.hash, q.hash);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Storage reads a page of the newest responses first; whenever the
    /// rules say the page was enough, they must fire exactly as on the whole
    /// history.
    #[test]
    fn rules_on_a_page_of_history_agree_with_the_whole_history(
        answers in prop::collection::vec(prop::collection::vec(0u8..11, 11), 1..25),
        page in 0usize..6,
    ) {
        use prom::core::engine::{evaluate, fire_rules_on_page, history_entry, lenient_values};
        for q in shipped() {
            let mut history: Vec<prom::core::HistoryEntry> = Vec::new();
            let start = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
            for (k, a) in answers.iter().enumerate() {
                let map: Map<String, Json> = q
                    .items
                    .iter()
                    .enumerate()
                    .filter(|(_, it)| it.kind.answerable())
                    .map(|(i, it)| (it.id.clone(), valid_answer(&q, i, u32::from(a[i % a.len()]), false)))
                    .collect();
                let date = start + chrono::Days::new(7 * k as u64);
                let ev = evaluate(&q, lenient_values(&q, &map), date);
                let whole = fire_rules(&q, &ev, &history);
                let cut = page.min(history.len());
                if let Some(partial) = fire_rules_on_page(&q, &ev, &history[..cut]) {
                    prop_assert_eq!(&partial, &whole, "{} with {} of {} earlier", q.id, cut, history.len());
                }
                history.insert(0, history_entry(&q, &ev, &whole));
            }
        }
    }
}

/// A FHIR `Questionnaire` item of any type, with options and conditions
/// drawn from a small pool so they sometimes meet, sometimes not.
fn fhir_item(depth: u32) -> BoxedStrategy<Json> {
    let link = prop_oneof![
        "[a-z]{1,6}",
        "/[0-9]{1,3}(/[a-zA-Z]{1,5})?",
        "[A-Z][a-z]{1,5}[A-Z][a-z]{1,4}",
        Just("1.1".to_string()),
        Just("".to_string()),
        ".{0,8}",
    ];
    let kind = prop::sample::select(vec![
        "group",
        "display",
        "boolean",
        "decimal",
        "integer",
        "date",
        "dateTime",
        "time",
        "string",
        "text",
        "url",
        "choice",
        "open-choice",
        "attachment",
        "reference",
        "quantity",
        "nonsense",
    ]);
    let option = prop_oneof![
        "[a-z0-9]{1,3}".prop_map(|c| json!({"valueCoding": {"code": c, "display": c}})),
        (0i64..5).prop_map(|n| json!({"valueInteger": n})),
        ".{0,6}".prop_map(|s| json!({"valueString": s})),
        Just(json!({"valueCoding": {"code": "1"},
            "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 2.5}]})),
        Just(json!({})),
    ];
    let condition = (
        prop_oneof!["[a-z]{1,6}", Just("1.1".to_string())],
        prop::sample::select(vec!["=", "!=", "<", ">=", "exists", "??"]),
        prop_oneof![
            "[a-z0-9]{1,3}".prop_map(|c| json!({"answerCoding": {"code": c}})),
            any::<bool>().prop_map(|b| json!({"answerBoolean": b})),
            (0i64..9).prop_map(|n| json!({"answerInteger": n})),
            Just(json!({"answerDate": "2026-01-01"})),
            Just(json!({})),
        ],
    )
        .prop_map(|(q, op, mut a)| {
            a["question"] = json!(q);
            a["operator"] = json!(op);
            a
        });
    let children = if depth == 0 {
        Just(Vec::new()).boxed()
    } else {
        prop::collection::vec(fhir_item(depth - 1), 0..3).boxed()
    };
    (
        link,
        kind,
        prop::option::of(".{0,20}"),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(option, 0..4),
        prop::collection::vec(condition, 0..3),
        any::<bool>(),
        children,
    )
        .prop_map(
            |(link, kind, text, required, repeats, options, when, any, children)| {
                let mut it =
                    json!({"linkId": link, "type": kind, "required": required, "repeats": repeats});
                if let Some(t) = text {
                    it["text"] = json!(t);
                }
                if !options.is_empty() {
                    it["answerOption"] = json!(options);
                }
                if !when.is_empty() {
                    it["enableWhen"] = json!(when);
                    if any {
                        it["enableBehavior"] = json!("any");
                    }
                }
                if !children.is_empty() {
                    it["item"] = json!(children);
                }
                it
            },
        )
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever a FHIR Questionnaire holds, `prom import fhir` either says
    /// why it cannot import it or writes a file that compiles without
    /// errors: what it cannot carry becomes a comment, never a broken file.
    #[test]
    fn an_imported_fhir_questionnaire_always_compiles_or_is_refused_with_a_reason(
        items in prop::collection::vec(fhir_item(2), 0..6),
        title in prop::option::of(".{0,20}"),
        language in prop::option::of(prop::sample::select(vec!["da", "en-US", "x", "DE"])),
    ) {
        let mut q = json!({"resourceType": "Questionnaire", "status": "active", "item": items});
        if let Some(t) = title {
            q["title"] = json!(t);
        }
        if let Some(l) = language {
            q["language"] = json!(l);
        }
        match prom::fhir::import::to_yaml(&q, &[], None) {
            Err(why) => prop_assert!(!why.is_empty()),
            Ok(imported) => {
                let compiled = compile_yaml(&imported.yaml);
                prop_assert!(
                    !compiled.has_errors(),
                    "{}\n{}",
                    prom::core::diag::render_all(&compiled.diagnostics, "imported.yaml", &imported.yaml),
                    imported.yaml
                );
            }
        }
    }
}
