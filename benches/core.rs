//! Benchmarks of the pure core: compiling questionnaires and processing one
//! response. Run with `cargo bench --bench core`; figures go in
//! docs/PERFORMANCE.md.

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use prom::core::engine::{Mode, history_entry, process};
use prom::core::{HistoryEntry, compile_yaml};
use serde_json::{Map, Value, json};
use std::hint::black_box;

fn read(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("questionnaires")
        .join(name);
    std::fs::read_to_string(path).expect("shipped questionnaire")
}

/// A 100-item questionnaire with a show_if on every tenth item, three
/// scores and five rules.
fn hundred_items() -> String {
    let mut s = String::from(
        "id: big\nversion: 1\ntitle: {da: Stor, en: Big}\nlanguages: [da, en]\nscales:\n  f:\n",
    );
    for v in 0..4 {
        s.push_str(&format!(
            "    - {{value: {v}, text: {{da: \"S{v}\", en: \"O{v}\"}}}}\n"
        ));
    }
    s.push_str("items:\n");
    for i in 0..100 {
        let show = if i % 10 == 9 {
            format!(", show_if: \"q{} > 0\"", i - 1)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "  - {{id: q{i}, type: choice, scale: f, text: {{da: \"Spørgsmål {i}\", en: \"Question {i}\"}}{show}}}\n"
        ));
    }
    let ids = |r: std::ops::Range<usize>| r.map(|i| format!("q{i}")).collect::<Vec<_>>().join(", ");
    s.push_str(&format!(
        "scores:\n  - {{id: a, items: [{}], missing: {{allow: 3, impute: mean}}, round: 0, bands: [{{from: 0, id: low}}, {{from: 50, id: high}}]}}\n  - {{id: b, items: [{}], method: mean, transform: \"raw * 25\"}}\n  - {{id: c, method: expr, expr: \"a + b / 10\"}}\n",
        ids(0..50),
        ids(50..100)
    ));
    s.push_str("rules:\n");
    for r in 0..5 {
        s.push_str(&format!(
            "  - {{id: r{r}, when: \"q{r} >= 3 or a - previous(a) >= {r}\", level: yellow, text: {{da: R, en: R}}}}\n"
        ));
    }
    s
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    for name in [
        "phq9.yaml",
        "gad7.yaml",
        "pain_nrs.yaml",
        "ovarian_followup.yaml",
        "chronic_followup.yaml",
    ] {
        let src = read(name);
        g.bench_function(name, |b| b.iter(|| compile_yaml(black_box(&src))));
    }
    let big = hundred_items();
    assert!(
        compile_yaml(&big).questionnaire.is_some(),
        "the 100-item file compiles"
    );
    g.bench_function("100 items", |b| b.iter(|| compile_yaml(black_box(&big))));
    g.finish();

    let q = compile_yaml(&read("phq9.yaml"))
        .questionnaire
        .expect("phq9 compiles");
    let date = NaiveDate::from_ymd_opt(2026, 6, 1).expect("date");
    // Twenty earlier responses, newest first, as storage hands them over.
    let mut history: Vec<HistoryEntry> = Vec::new();
    for k in 0..20u64 {
        let answers: Map<String, Value> = (1..=9)
            .map(|i| (format!("q{i}"), json!((k + i) % 3)))
            .collect();
        let d = date
            .checked_sub_days(chrono::Days::new(14 * (20 - k)))
            .expect("date");
        let o = process(&q, &answers, Mode::Paper, d, &history).expect("valid");
        history.insert(0, history_entry(&q, &o.evaluation, &o.fired));
    }
    let answers: Map<String, Value> = (1..=9)
        .map(|i| (format!("q{i}"), json!(i % 4)))
        .chain([("q10".to_string(), json!(1))])
        .collect();
    c.bench_function("process one PHQ-9 response with 20 earlier", |b| {
        b.iter(|| {
            process(
                black_box(&q),
                black_box(&answers),
                Mode::Web,
                date,
                black_box(&history),
            )
            .expect("valid")
        })
    });

    // The FHIR side, beside processing one response (the baseline above).
    c.bench_function("PHQ-9 as a FHIR Questionnaire (with FHIRPath)", |b| {
        b.iter(|| prom::fhir::questionnaire(black_box(&q)).to_string())
    });
    let fhir = prom::fhir::questionnaire(&q);
    c.bench_function("PHQ-9 FHIR Questionnaire back to YAML and compiled", |b| {
        b.iter(|| {
            let y = prom::fhir::import::to_yaml(black_box(&fhir), &[], None).expect("imports");
            compile_yaml(&y.yaml)
        })
    });

    let mut hostile = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        hostile.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 9].join(", ")
        ));
    }
    c.bench_function("refuse a billion-laughs file", |b| {
        b.iter(|| compile_yaml(black_box(&hostile)))
    });
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    c.bench_function("refuse 10,000-deep nesting", |b| {
        b.iter(|| compile_yaml(black_box(&deep)))
    });
    // The whole of `prom check` on a hostile file but reading it: compile
    // and render the (capped) report.
    let aliases = format!(
        "id: x\nversion: 1\ntitle: X\na: &l [{}]\nb: [{}]\n",
        vec!["1"; 6000].join(","),
        vec!["*l"; 6000].join(",")
    );
    c.bench_function("refuse and report 6,000 aliases on one 30 KB line", |b| {
        b.iter(|| {
            let c = compile_yaml(black_box(&aliases));
            prom::core::diag::render_all(&c.diagnostics, "hostile.yaml", &aliases)
        })
    });
    let broken_items = format!(
        "id: x\nversion: 1\ntitle: X\nitems: [{}]\n",
        (0..3000)
            .map(|i| format!("{{id: q{i}, type: nope}}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    c.bench_function("refuse and report 3,000 broken items on one line", |b| {
        b.iter(|| {
            let c = compile_yaml(black_box(&broken_items));
            prom::core::diag::render_all(&c.diagnostics, "hostile.yaml", &broken_items)
        })
    });
}

/// The patient's form page: its view from the compiled questionnaire and
/// the template rendered (what `GET /a` does after its database reads).
fn pages(c: &mut Criterion) {
    let pages = prom::web::pages::Pages::load().expect("templates");
    let src = read("phq9.yaml");
    let q = compile_yaml(&src).questionnaire.expect("compiles");
    let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    let answers = serde_json::Map::new();
    c.bench_function("render the PHQ-9 form page (view + template)", |b| {
        b.iter(|| {
            let view = prom::core::form::page_view(&q, "da", &answers, 0, &[], date);
            let mut ctx = tera::Context::new();
            ctx.insert("page", &view);
            ctx.insert("errors", &Vec::<serde_json::Value>::new());
            ctx.insert("csrf", "x");
            ctx.insert("more", &false);
            pages.render(
                actix_web::http::StatusCode::OK,
                "patient/form.html",
                "da",
                ctx,
            )
        })
    });
}

/// The same page as the patients' `GET /a` serves it: from the page cache
/// after the first visitor (the view is built and hashed every time).
fn cached_pages(c: &mut Criterion) {
    #[derive(serde::Serialize)]
    struct FormPage<'a> {
        page: &'a prom::core::form::PageView,
        errors: Vec<serde_json::Value>,
        more: bool,
    }
    let pages = prom::web::pages::Pages::load().expect("templates");
    let src = read("phq9.yaml");
    let q = compile_yaml(&src).questionnaire.expect("compiles");
    let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    let answers = serde_json::Map::new();
    c.bench_function("render the PHQ-9 form page (view + cached page)", |b| {
        b.iter(|| {
            let view = prom::core::form::page_view(&q, "da", &answers, 0, &[], date);
            pages.render_cached(
                actix_web::http::StatusCode::OK,
                "patient/form.html",
                "da",
                &FormPage {
                    page: &view,
                    errors: Vec::new(),
                    more: false,
                },
                "x",
            )
        })
    });
}

criterion_group!(core, benches, pages, cached_pages);
criterion_main!(core);
