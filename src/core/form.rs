//! The form as a patient sees it, as plain values: which page holds which
//! items (a `section` starts a page), which items show for the answers so
//! far (the server's `show_if`, the one evaluator), their texts in one
//! language, the answers given and the refusals to show beside them. The
//! pages' templates only lay this out; the web form's strings are read
//! into answers here too, so the form and the API share validation.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::engine::{AnswerError, evaluate, lenient_values};
use super::model::{ItemType, Questionnaire, Text};
use super::value::{Value, exact_decimal, fmt_num};

/// The pages of a questionnaire: item index ranges. A `section` item starts
/// a new page (and is that page's title); items before the first section
/// form the first page.
pub fn pages(q: &Questionnaire) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, it) in q.items.iter().enumerate() {
        if it.kind == ItemType::Section && i > start {
            out.push(start..i);
            start = i;
        }
    }
    if start < q.items.len() {
        out.push(start..q.items.len());
    }
    out
}

/// One option as a radio button or checkbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptionView {
    /// The value as the form sends it.
    pub value: String,
    pub text: String,
    pub checked: bool,
    pub exclusive: bool,
}

/// One item of a page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemView {
    pub id: String,
    /// The item type's name (`choice`, `slider`, …).
    pub kind: &'static str,
    /// The question's number on the paper form (0 for texts), for typing
    /// a paper form in.
    pub number: usize,
    pub text: String,
    pub help: Option<String>,
    pub required: bool,
    /// Hidden by its `show_if` for the answers so far. Without JavaScript a
    /// hidden item is left out of the page; with it, it is shown again
    /// when the server says so.
    pub visible: bool,
    pub options: Vec<OptionView>,
    pub min: Option<String>,
    pub max: Option<String>,
    pub step: Option<String>,
    pub unit: Option<String>,
    pub min_text: Option<String>,
    pub max_text: Option<String>,
    pub max_length: Option<u32>,
    /// The answer so far, as the form shows it (`""` when none).
    pub value: String,
    /// Why the answer was refused, in the page's language.
    pub error: Option<String>,
}

/// One page of the form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageView {
    pub language: String,
    pub title: String,
    /// The section's title, when the page starts with a section.
    pub heading: Option<String>,
    pub instructions: Option<String>,
    /// 1-based, for "side 2 af 4".
    pub number: usize,
    pub count: usize,
    pub items: Vec<ItemView>,
    pub source: Option<String>,
    pub license: Option<String>,
    pub copyright: Option<String>,
}

fn text(t: &Option<Text>, lang: &str) -> Option<String> {
    t.as_ref().map(|t| t.get(lang).to_string())
}

/// An answer as the form shows it in its field.
fn shown(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Num(d) => fmt_num(*d),
        Value::Str(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::List(xs) => xs.iter().map(shown).collect::<Vec<_>>().join(","),
    }
}

/// The number item `i` has on the paper form: answerable items counted
/// in order (0 for a text or section).
fn paper_number(q: &Questionnaire, i: usize) -> usize {
    if !q.items[i].kind.answerable() {
        return 0;
    }
    q.items[..=i]
        .iter()
        .filter(|it| it.kind.answerable())
        .count()
}

/// The view of page `page` (0-based; past the end is the last page) for
/// `answers` (as JSON, the way they are stored), with `errors` beside the
/// items they name.
pub fn page_view(
    q: &Questionnaire,
    lang: &str,
    answers: &Map<String, Json>,
    page: usize,
    errors: &[AnswerError],
    date: NaiveDate,
) -> PageView {
    let lang = q.language(lang).to_string();
    let all = pages(q);
    let page = page.min(all.len().saturating_sub(1));
    let range = all.get(page).cloned().unwrap_or(0..0);
    // Visibility from everything answered so far, on every page.
    let ev = evaluate(q, lenient_values(q, answers), date);
    let mut heading = None;
    let mut items = Vec::new();
    for i in range {
        let it = &q.items[i];
        if it.kind == ItemType::Section {
            heading = Some(it.text.get(&lang).to_string());
            continue;
        }
        let value = answers.get(&it.id).map(|v| match v {
            Json::String(s) => s.clone(),
            Json::Array(xs) => xs
                .iter()
                .map(|x| match x {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            Json::Null => String::new(),
            other => other.to_string(),
        });
        let value = value.unwrap_or_else(|| shown(&ev.values[i]));
        let chosen = |o: &Value| match &ev.values[i] {
            Value::List(xs) => xs.iter().any(|x| x.same(o)),
            v => v.same(o),
        };
        items.push(ItemView {
            id: it.id.clone(),
            kind: it.kind.name(),
            number: paper_number(q, i),
            text: it.text.get(&lang).to_string(),
            help: text(&it.help, &lang),
            required: it.required,
            visible: ev.visible[i],
            options: it
                .options
                .iter()
                .map(|o| OptionView {
                    value: shown(&o.value),
                    text: o.text.get(&lang).to_string(),
                    checked: chosen(&o.value),
                    exclusive: o.exclusive,
                })
                .collect(),
            min: it.min.map(fmt_num),
            max: it.max.map(fmt_num),
            step: it.step.map(fmt_num),
            unit: text(&it.unit, &lang),
            min_text: text(&it.min_text, &lang),
            max_text: text(&it.max_text, &lang),
            max_length: it.max_length,
            value,
            error: errors.iter().find(|e| e.item == it.id).map(|e| {
                let question = format!("«{}»", it.text.get(&lang));
                e.message_about(&lang, &question)
            }),
        });
    }
    PageView {
        title: q.title.get(&lang).to_string(),
        heading,
        instructions: if page == 0 {
            text(&q.instructions, &lang)
        } else {
            None
        },
        number: page + 1,
        count: all.len(),
        items,
        source: q.source.clone(),
        license: q.license.clone(),
        copyright: q.copyright.clone(),
        language: lang,
    }
}

/// The name of the hidden fields by which a form page says which questions
/// it showed: one per shown question, disabled while the question is hidden
/// (the page's script keeps them in step as it shows and hides questions).
pub const SHOWN_FIELD: &str = "_shown";

/// The questions of page `page` (0-based) that `answers` show and the
/// patient has not seen yet, in page order: not among the page's
/// `SHOWN_FIELD`s, or, for a page sent without them, neither shown by the
/// answers `before` nor answered. A page that brings such questions must
/// come back with them before the patient moves on or sends it.
pub fn unseen_questions(
    q: &Questionnaire,
    before: &Map<String, Json>,
    answers: &Map<String, Json>,
    page: usize,
    fields: &[(String, String)],
    date: NaiveDate,
) -> Vec<String> {
    let Some(range) = pages(q).get(page).cloned() else {
        return Vec::new();
    };
    let now = evaluate(q, lenient_values(q, answers), date).visible;
    let listed: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == SHOWN_FIELD)
        .map(|(_, v)| v.as_str())
        .collect();
    let was = if fields.iter().any(|(k, _)| k == SHOWN_FIELD) {
        None
    } else {
        Some(evaluate(q, lenient_values(q, before), date).visible)
    };
    range
        .filter(|&i| q.items[i].kind != ItemType::Section && now[i])
        .filter(|&i| {
            let id = q.items[i].id.as_str();
            match &was {
                None => !listed.contains(&id),
                Some(was) => {
                    !was[i] && !fields.iter().any(|(k, v)| k == id && !v.trim().is_empty())
                }
            }
        })
        .map(|i| q.items[i].id.clone())
        .collect()
}

/// A page sent from the form: which page it was (the `page` field, 1-based;
/// clamped to the pages there are) as a 0-based index, and the answers so
/// far with that page's answers replaced by the fields sent.
pub fn merge_page(
    q: &Questionnaire,
    mut answers: Map<String, Json>,
    fields: &[(String, String)],
) -> (usize, Map<String, Json>) {
    let all = pages(q);
    let page = fields
        .iter()
        .find(|(k, _)| k == "page")
        .and_then(|(_, p)| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, all.len().max(1))
        - 1;
    if let Some(r) = all.get(page) {
        for it in &q.items[r.clone()] {
            answers.remove(&it.id);
        }
    }
    answers.extend(answers_from_form(q, fields));
    (page, answers)
}

/// Reads a web form's fields (name, value; a multi item's name repeated)
/// into answers as the API takes them: numbers for numeric items and
/// numeric options, `true`/`false` for booleans, lists for multi items, and
/// an empty field as no answer. What cannot be read is kept as the text
/// it was, so that validation refuses it with its usual message.
pub fn answers_from_form(q: &Questionnaire, fields: &[(String, String)]) -> Map<String, Json> {
    let mut out = Map::new();
    for it in &q.items {
        if !it.kind.answerable() {
            continue;
        }
        let given: Vec<&str> = fields
            .iter()
            .filter(|(k, _)| *k == it.id)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect();
        let number = |s: &str| match exact_decimal(s) {
            Some(d) => serde_json::from_str::<Json>(&fmt_num(d)).unwrap_or(Json::String(s.into())),
            None => Json::String(s.into()),
        };
        let numeric_options = matches!(it.options.first().map(|o| &o.value), Some(Value::Num(_)));
        let option = |s: &str| {
            if numeric_options {
                number(s)
            } else {
                Json::String(s.into())
            }
        };
        let answer = match (it.kind, given.as_slice()) {
            (ItemType::Multi, []) => continue,
            (ItemType::Multi, vs) => Json::Array(vs.iter().map(|v| option(v)).collect()),
            (_, []) => continue,
            (ItemType::Choice, [v, ..]) => option(v),
            (ItemType::Integer | ItemType::Decimal | ItemType::Slider, [v, ..]) => {
                // A decimal comma, as Danish keyboards write it.
                number(&v.replace(',', "."))
            }
            (ItemType::Boolean, [v, ..]) => match *v {
                "true" => Json::Bool(true),
                "false" => Json::Bool(false),
                other => Json::String(other.into()),
            },
            (_, [v, ..]) => Json::String((*v).to_string()),
        };
        out.insert(it.id.clone(), answer);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::compile_yaml;

    const Q: &str = "id: f
version: 1
title: {da: Skema, en: Form}
languages: [da, en]
instructions: {da: Svar ærligt, en: Answer honestly}
items:
  - id: pain
    type: slider
    min: 0
    max: 10
    text: {da: Smerter, en: Pain}
  - id: more
    type: text
    required: false
    show_if: \"pain >= 5\"
    text: {da: Mere, en: More}
  - id: s2
    type: section
    text: {da: Andet, en: Other}
  - id: sym
    type: multi
    text: {da: Symptomer, en: Symptoms}
    options:
      - {value: 1, text: {da: Kvalme, en: Nausea}}
      - {value: 2, text: {da: Træthed, en: Tiredness}}
  - id: ok
    type: boolean
    text: {da: Har du det godt?, en: Are you well?}
";

    fn q() -> Questionnaire {
        compile_yaml(Q).questionnaire.expect("compiles")
    }

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).expect("date")
    }

    #[test]
    fn a_section_starts_a_page() {
        assert_eq!(pages(&q()), vec![0..2, 2..5]);
    }

    #[test]
    fn a_page_shows_texts_in_one_language_and_show_if_as_the_server_decides() {
        let q = q();
        let p = page_view(&q, "en", &Map::new(), 0, &[], date());
        assert_eq!((p.number, p.count), (1, 2));
        assert_eq!(p.title, "Form");
        assert_eq!(p.instructions.as_deref(), Some("Answer honestly"));
        assert_eq!(p.items[0].text, "Pain");
        assert!(!p.items[1].visible, "hidden until pain >= 5");
        let mut a = Map::new();
        a.insert("pain".into(), Json::from(6));
        let p = page_view(&q, "da", &a, 0, &[], date());
        assert!(p.items[1].visible);
        assert_eq!(p.items[0].value, "6");
        let p = page_view(&q, "xx", &a, 9, &[], date());
        assert_eq!(
            (p.language.as_str(), p.number),
            ("da", 2),
            "the default language, the last page"
        );
        assert_eq!(p.heading.as_deref(), Some("Andet"));
    }

    #[test]
    fn form_fields_become_the_answers_the_api_takes() {
        let q = q();
        let fields = |xs: &[(&str, &str)]| -> Vec<(String, String)> {
            xs.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let a = answers_from_form(
            &q,
            &fields(&[
                ("pain", "7"),
                ("more", " "),
                ("sym", "1"),
                ("sym", "2"),
                ("ok", "false"),
            ]),
        );
        assert_eq!(
            Json::Object(a),
            serde_json::json!({"pain": 7, "sym": [1, 2], "ok": false})
        );
        // A decimal comma is read, nonsense is kept for validation to refuse.
        let a = answers_from_form(&q, &fields(&[("pain", "2,5"), ("ok", "maybe")]));
        assert_eq!(a["pain"], serde_json::json!(2.5));
        assert_eq!(a["ok"], serde_json::json!("maybe"));
        let errs = crate::core::engine::validate(&q, &a, crate::core::engine::Mode::Web, date())
            .expect_err("refused");
        let p = page_view(&q, "en", &a, 0, &errs, date());
        assert!(p.items[0].error.is_some(), "2.5 is off the slider's step");
        assert_eq!(p.items[0].value, "2.5", "the patient's answer is kept");
    }
}

/// One question of the paper form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrintItem {
    pub kind: &'static str,
    /// The question's number on paper (sections and texts have none).
    pub number: usize,
    pub text: String,
    pub help: Option<String>,
    /// Asked only when earlier answers call for it (`show_if`).
    pub conditional: bool,
    pub options: Vec<String>,
    /// The numbers to tick, for a slider or integer of at most 11 steps.
    pub scale: Option<Vec<String>>,
    pub min: Option<String>,
    pub max: Option<String>,
    pub min_text: Option<String>,
    pub max_text: Option<String>,
    pub unit: Option<String>,
}

/// The paper form: every question in order, boxes to tick where there are
/// options or a short scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrintView {
    pub language: String,
    pub title: String,
    pub instructions: Option<String>,
    pub items: Vec<PrintItem>,
    pub source: Option<String>,
    pub license: Option<String>,
    pub copyright: Option<String>,
}

pub fn print_view(q: &Questionnaire, lang: &str) -> PrintView {
    let lang = q.language(lang).to_string();
    let mut number = 0;
    let items = q
        .items
        .iter()
        .map(|it| {
            if it.kind.answerable() {
                number += 1;
            }
            let scale = match (it.kind, it.min, it.max, it.step) {
                (ItemType::Slider | ItemType::Integer, Some(lo), Some(hi), Some(step))
                    if step > rust_decimal::Decimal::ZERO
                        && (hi - lo) / step <= rust_decimal::Decimal::from(10) =>
                {
                    let mut out = Vec::new();
                    let mut v = lo;
                    while v <= hi {
                        out.push(fmt_num(v));
                        v += step;
                    }
                    Some(out)
                }
                _ => None,
            };
            PrintItem {
                kind: it.kind.name(),
                number: if it.kind.answerable() { number } else { 0 },
                text: it.text.get(&lang).to_string(),
                help: text(&it.help, &lang),
                conditional: it.show_if.is_some(),
                options: it
                    .options
                    .iter()
                    .map(|o| o.text.get(&lang).to_string())
                    .collect(),
                scale,
                min: it.min.map(fmt_num),
                max: it.max.map(fmt_num),
                min_text: text(&it.min_text, &lang),
                max_text: text(&it.max_text, &lang),
                unit: text(&it.unit, &lang),
            }
        })
        .collect();
    PrintView {
        title: q.title.get(&lang).to_string(),
        instructions: text(&q.instructions, &lang),
        items,
        source: q.source.clone(),
        license: q.license.clone(),
        copyright: q.copyright.clone(),
        language: lang,
    }
}
