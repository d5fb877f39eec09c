//! A patient's responses as pages show them — to the patient ("my
//! data") and to staff (the patient page): each response in the version
//! answered, with its flags and what the clinic did, and each score over
//! time as a chart with its bands and a table beside it.

use serde::Serialize;

use crate::core::chart::{Point, Stripe, svg};
use crate::core::model::Questionnaire;
use crate::storage::responses::{PatientHistory, ScorePoint};

#[derive(Serialize)]
pub struct Answer {
    pub question: String,
    pub answer: String,
}

#[derive(Serialize)]
pub struct ResponseView {
    pub id: String,
    pub date: String,
    pub questionnaire: String,
    pub questionnaire_id: String,
    pub version: u32,
    pub mode: String,
    pub level: String,
    pub answers: Vec<Answer>,
    pub flags: Vec<String>,
    pub clinic: Option<String>,
    pub corrected: bool,
    /// The date of the response this one corrects.
    pub correction_of: Option<String>,
    pub correction_reason: Option<String>,
}

#[derive(Serialize)]
pub struct ChartView {
    pub title: String,
    pub svg: String,
    pub rows: Vec<(String, String, String)>,
}

/// An answer in words, in `lang`.
pub fn answer_text(q: &Questionnaire, id: &str, v: &serde_json::Value, lang: &str) -> String {
    let Some(&i) = q.item_index.get(id) else {
        return v.to_string();
    };
    let it = &q.items[i];
    let one = |x: &serde_json::Value| {
        let val = match x {
            serde_json::Value::Number(n) => {
                crate::core::value::decimal_from_json(n).map(crate::core::value::Value::Num)
            }
            serde_json::Value::String(s) => Some(crate::core::value::Value::Str(s.clone())),
            _ => None,
        };
        val.and_then(|v| it.option(&v))
            .map(|o| o.text.get(lang).to_string())
            .unwrap_or_else(|| match x {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(true) => if lang == "da" { "Ja" } else { "Yes" }.into(),
                serde_json::Value::Bool(false) => if lang == "da" { "Nej" } else { "No" }.into(),
                other => other.to_string(),
            })
    };
    match v {
        serde_json::Value::Array(xs) => xs.iter().map(one).collect::<Vec<_>>().join(", "),
        x => one(x),
    }
}

/// What of a history a page shows.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    /// Each response's answers in words (the staff timeline links to the
    /// response's page instead).
    pub answers: bool,
    /// At most this many responses, newest first (the charts and their
    /// tables always hold every one).
    pub responses: usize,
    /// Each flag with why it fired (its condition with the values read),
    /// for staff.
    pub why: bool,
}

/// The responses (newest first) and charts of a patient's history, in
/// `lang`; `t` gives the pages' own texts.
pub fn views(
    h: &PatientHistory,
    lang: &str,
    t: &dyn Fn(&str) -> String,
    shown: Shown,
) -> (Vec<ResponseView>, Vec<ChartView>) {
    let PatientHistory {
        list,
        points,
        qs,
        history,
    } = h;
    let lang = lang.to_string();
    // Responses, newest first, each in the version answered.
    let mut views = Vec::new();
    for r in list.iter().take(shown.responses) {
        let Some(q) = qs.get(&(r.questionnaire.clone(), r.version)) else {
            continue;
        };
        let answers = if shown.answers {
            q.items
                .iter()
                .filter_map(|it| {
                    r.answers.get(&it.id).map(|v| Answer {
                        question: it.text.get(&lang).to_string(),
                        answer: answer_text(q, &it.id, v, &lang),
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let flags = r
            .flags
            .iter()
            .map(|f| match &f.text {
                serde_json::Value::Object(m) => m
                    .get(&lang)
                    .or_else(|| m.values().next())
                    .and_then(|v| v.as_str())
                    .unwrap_or(&f.rule)
                    .to_string(),
                _ => f.rule.clone(),
            })
            .zip(&r.flags)
            .map(|(text, f)| match (&f.why, shown.why) {
                (Some(why), true) => format!("{text} ({why})"),
                _ => text,
            })
            .collect();
        let clinic = history.get(&r.id).cloned().flatten().map(|h| {
            let what = t(&format!("review_{}", h.status));
            match h.events.last() {
                Some(e) => format!("{what} ({})", &e.at[..10.min(e.at.len())]),
                None => what,
            }
        });
        views.push(ResponseView {
            id: r.id.clone(),
            date: r.response_date.clone(),
            questionnaire: q.title.get(&lang).to_string(),
            version: r.version,
            answers,
            flags,
            clinic,
            questionnaire_id: r.questionnaire.clone(),
            mode: r.mode.clone(),
            level: r.level.clone(),
            correction_reason: r.correction_reason.clone(),
            corrected: r.superseded_by.is_some(),
            correction_of: r.supersedes.as_ref().and_then(|old| {
                list.iter()
                    .find(|x| &x.id == old)
                    .map(|x| x.response_date.clone())
            }),
        });
    }
    // Charts: each score of each questionnaire, oldest first, from
    // responses not corrected since.
    let mut charts = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for r in points.iter().rev() {
        if seen.contains(&r.questionnaire) {
            continue;
        }
        seen.push(r.questionnaire.clone());
        let Some(q) = qs.get(&(r.questionnaire.clone(), r.version)) else {
            continue;
        };
        let of_q: Vec<&ScorePoint> = points
            .iter()
            .rev()
            .filter(|x| x.questionnaire == r.questionnaire && !x.superseded)
            .collect();
        for s in &q.scores {
            let points: Vec<Point> = of_q
                .iter()
                .filter_map(|x| {
                    x.scores
                        .get(&s.id)
                        .and_then(|v| v.as_number())
                        .and_then(crate::core::value::decimal_from_json)
                        .map(|value| Point {
                            label: x.response_date.clone(),
                            value,
                        })
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            let title = format!(
                "{} — {}",
                q.title.get(&lang),
                s.title.as_ref().map(|t| t.get(&lang)).unwrap_or(&s.id)
            );
            let stripes: Vec<Stripe> = s
                .bands
                .iter()
                .map(|b| Stripe {
                    from: b.from,
                    name: b
                        .text
                        .as_ref()
                        .map(|t| t.get(&lang).to_string())
                        .unwrap_or_else(|| b.id.clone()),
                })
                .collect();
            let rows = points
                .iter()
                .map(|p| {
                    let band = s
                        .band_of(p.value)
                        .map(|b| {
                            b.text
                                .as_ref()
                                .map(|t| t.get(&lang).to_string())
                                .unwrap_or_else(|| b.id.clone())
                        })
                        .unwrap_or_default();
                    (p.label.clone(), crate::core::value::fmt_num(p.value), band)
                })
                .collect();
            charts.push(ChartView {
                svg: svg(&title, &points, s.range, &stripes),
                title,
                rows,
            });
        }
    }
    (views, charts)
}
