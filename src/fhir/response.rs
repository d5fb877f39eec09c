//! FHIR R4 `QuestionnaireResponse`: a stored response as one (pointing at
//! the exact questionnaire version, with its scores, bands, flags and
//! level), and one from another system read into prom's answers, which then
//! go through the same validation, scoring and rules as the form's.

use serde_json::{Map, Value as Json, json};

use super::{canonical, number};
use crate::core::model::{ItemType, Questionnaire};
use crate::storage::responses::ResponseRecord;

/// Extensions of prom's own (FHIR has no element for them).
pub const LEVEL: &str = "urn:prom:fhir:extension:level";
pub const FLAG: &str = "urn:prom:fhir:extension:flag";
pub const BAND: &str = "urn:prom:fhir:extension:band";
pub const MODE: &str = "urn:prom:fhir:extension:mode";
pub const REPLACES: &str = "urn:prom:fhir:extension:replaces";
pub const REPLACED_BY: &str = "urn:prom:fhir:extension:replaced-by";
pub const CORRECTION_REASON: &str = "urn:prom:fhir:extension:correction-reason";

/// The system of a clinic's patient references.
pub fn patient_system(clinic_id: &str) -> String {
    format!("urn:prom:clinic:{clinic_id}:patient")
}

/// The FHIR type an item's answers take (as in the `Questionnaire` view).
pub(super) fn value_key(it: &crate::core::model::Item) -> Option<&'static str> {
    let whole_slider =
        it.step.is_none_or(|s| s.fract().is_zero()) && it.min.is_none_or(|m| m.fract().is_zero());
    Some(match it.kind {
        ItemType::Choice | ItemType::Multi => "valueCoding",
        ItemType::Integer => "valueInteger",
        ItemType::Slider if whole_slider => "valueInteger",
        ItemType::Decimal | ItemType::Slider => "valueDecimal",
        ItemType::Boolean => "valueBoolean",
        ItemType::Date => "valueDate",
        ItemType::Text => "valueString",
        ItemType::Display | ItemType::Section => return None,
    })
}

fn code_of(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One stored answer as FHIR answers.
fn answers_of(q: &Questionnaire, i: usize, v: &Json) -> Vec<Json> {
    let it = &q.items[i];
    let Some(key) = value_key(it) else {
        return Vec::new();
    };
    let lang = q.default_language();
    let values: Vec<&Json> = match v {
        Json::Array(xs) => xs.iter().collect(),
        Json::Null => Vec::new(),
        other => vec![other],
    };
    values
        .into_iter()
        .filter_map(|v| {
            let value = if key == "valueCoding" {
                let code = code_of(v)?;
                let display = it
                    .options
                    .iter()
                    .find(|o| code_of(&o.value.to_json()).as_deref() == Some(code.as_str()))
                    .map(|o| o.text.get(lang).to_string());
                let mut c =
                    json!({"system": format!("{}:{}", canonical(&q.id), it.id), "code": code});
                if let Some(d) = display {
                    c["display"] = json!(d);
                }
                c
            } else {
                v.clone()
            };
            Some(json!({ key: value }))
        })
        .collect()
}

/// The FHIR `QuestionnaireResponse` of a stored response of `clinic_id`;
/// `q` is the version it answered.
pub fn questionnaire_response(q: &Questionnaire, r: &ResponseRecord, clinic_id: &str) -> Json {
    let mut root = Map::new();
    root.insert("resourceType".into(), json!("QuestionnaireResponse"));
    root.insert("id".into(), json!(r.id));
    let mut ext = vec![
        json!({"url": LEVEL, "valueCode": r.level}),
        json!({"url": MODE, "valueCode": r.mode}),
    ];
    for f in &r.flags {
        ext.push(json!({"url": FLAG, "extension": [
            {"url": "rule", "valueCode": f.rule},
            {"url": "level", "valueCode": f.level},
        ]}));
    }
    if let Some(old) = &r.supersedes {
        ext.push(json!({"url": REPLACES, "valueReference": {
            "reference": format!("QuestionnaireResponse/{old}")}}));
    }
    if let Some(reason) = &r.correction_reason {
        ext.push(json!({"url": CORRECTION_REASON, "valueString": reason}));
    }
    if let Some(new) = &r.superseded_by {
        ext.push(json!({"url": REPLACED_BY, "valueReference": {
            "reference": format!("QuestionnaireResponse/{new}")}}));
    }
    root.insert("extension".into(), Json::Array(ext));
    root.insert(
        "questionnaire".into(),
        json!(format!("{}|{}", canonical(&q.id), r.version)),
    );
    // A correction is the answers changed after completion.
    let status = if r.supersedes.is_some() {
        "amended"
    } else {
        "completed"
    };
    root.insert("status".into(), json!(status));
    root.insert(
        "subject".into(),
        json!({"identifier": {"system": patient_system(clinic_id), "value": r.patient}}),
    );
    root.insert("authored".into(), json!(r.submitted_at));
    // Items nest as in the Questionnaire: a section is a group of the items
    // after it; a group with nothing answered is left out.
    let mut items: Vec<Json> = Vec::new();
    let mut group: Option<(Map<String, Json>, Vec<Json>)> = None;
    let close = |group: &mut Option<(Map<String, Json>, Vec<Json>)>, items: &mut Vec<Json>| {
        if let Some((mut g, children)) = group.take()
            && !children.is_empty()
        {
            g.insert("item".into(), Json::Array(children));
            items.push(Json::Object(g));
        }
    };
    for (i, it) in q.items.iter().enumerate() {
        if it.kind == ItemType::Section {
            close(&mut group, &mut items);
            let mut g = Map::new();
            g.insert("linkId".into(), json!(it.id));
            g.insert("text".into(), json!(it.text.get(q.default_language())));
            group = Some((g, Vec::new()));
            continue;
        }
        let Some(v) = r.answers.get(&it.id) else {
            continue;
        };
        let answers = answers_of(q, i, v);
        if answers.is_empty() {
            continue;
        }
        let o = json!({
            "linkId": it.id,
            "text": it.text.get(q.default_language()),
            "answer": answers,
        });
        match &mut group {
            Some((_, children)) => children.push(o),
            None => items.push(o),
        }
    }
    close(&mut group, &mut items);
    for s in &q.scores {
        let Some(v) = r.scores.get(&s.id).filter(|v| !v.is_null()) else {
            continue;
        };
        let value = v
            .as_str()
            .and_then(|t| t.parse::<rust_decimal::Decimal>().ok())
            .map(number)
            .unwrap_or_else(|| v.clone());
        let mut answer = json!({"valueDecimal": value});
        if let Some(b) = r.bands.get(&s.id).and_then(Json::as_str) {
            answer["extension"] = json!([{"url": BAND, "valueCode": b}]);
        }
        items.push(json!({"linkId": s.id, "answer": [answer]}));
    }
    if !items.is_empty() {
        root.insert("item".into(), Json::Array(items));
    }
    Json::Object(root)
}

/// What a `QuestionnaireResponse` from another system asks prom to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The prom questionnaire id its `questionnaire` names.
    pub questionnaire: String,
    /// The version it names, if any.
    pub version: Option<u32>,
    pub patient: String,
    /// Answers as the JSON API takes them.
    pub answers: Map<String, Json>,
    pub paper: bool,
    /// `identifier` (system|value): the sender's id, used as the
    /// idempotency key.
    pub identifier: Option<String>,
}

/// Why a `QuestionnaireResponse` cannot be read: a FHIRPath-like location
/// and a message.
pub type Problem = (String, String);

fn problem(at: &str, msg: impl Into<String>) -> Problem {
    (at.to_string(), msg.into())
}

/// The prom questionnaire id (and version) of a canonical reference: our
/// own `urn:prom:questionnaire:ID|V`, or any canonical whose last path part
/// names a questionnaire in the catalogue (`…/Questionnaire/phq9|2`).
pub fn questionnaire_of(
    canonical_ref: &str,
    known: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, Option<u32>)> {
    let (url, version) = match canonical_ref.split_once('|') {
        Some((u, v)) => (u, Some(v.parse::<u32>().ok()?)),
        None => (canonical_ref, None),
    };
    let last = url
        .strip_prefix("urn:prom:questionnaire:")
        .or_else(|| url.rsplit('/').next())?;
    Some((known(last)?, version))
}

/// Reads a `QuestionnaireResponse`. `known` maps a questionnaire id or FHIR
/// id to the catalogue's id; `catalog` gives the questionnaire to read the
/// items by.
pub fn incoming(
    body: &Json,
    clinic_id: &str,
    known: &dyn Fn(&str) -> Option<String>,
    catalog: &dyn Fn(&str) -> Option<std::sync::Arc<Questionnaire>>,
) -> Result<(Incoming, std::sync::Arc<Questionnaire>), Vec<Problem>> {
    let mut problems = Vec::new();
    if body["resourceType"] != "QuestionnaireResponse" {
        return Err(vec![problem(
            "resourceType",
            "this address takes a QuestionnaireResponse",
        )]);
    }
    match body["status"].as_str() {
        Some("completed" | "amended") => {}
        Some(other) => problems.push(problem(
            "status",
            format!("only a `completed` or `amended` response can be stored, not `{other}`"),
        )),
        None => problems.push(problem("status", "`status` is required")),
    }
    let Some(canonical_ref) = body["questionnaire"].as_str() else {
        problems.push(problem(
            "questionnaire",
            "`questionnaire` must name the questionnaire answered (a canonical URL such as urn:prom:questionnaire:phq9|2)",
        ));
        return Err(problems);
    };
    let Some((qid, version)) = questionnaire_of(canonical_ref, known) else {
        problems.push(problem(
            "questionnaire",
            format!("there is no questionnaire `{canonical_ref}` here"),
        ));
        return Err(problems);
    };
    let Some(q) = catalog(&qid) else {
        problems.push(problem(
            "questionnaire",
            format!("there is no questionnaire `{qid}` here"),
        ));
        return Err(problems);
    };
    if let Some(v) = version
        && v != q.version
    {
        problems.push(problem(
            "questionnaire",
            format!(
                "this server takes answers to version {} of `{qid}`, not version {v}",
                q.version
            ),
        ));
    }
    let subject = &body["subject"]["identifier"];
    let system_ok = subject["system"]
        .as_str()
        .is_none_or(|s| s == patient_system(clinic_id));
    let patient = match subject["value"].as_str() {
        Some(p) if system_ok => p.to_string(),
        _ => {
            problems.push(problem(
                "subject",
                format!(
                    "`subject.identifier` must hold the patient's reference (system {})",
                    patient_system(clinic_id)
                ),
            ));
            String::new()
        }
    };
    let paper = body["extension"].as_array().is_some_and(|xs| {
        xs.iter()
            .any(|e| e["url"] == MODE && e["valueCode"] == "paper")
    });
    let identifier =
        body["identifier"]["value"]
            .as_str()
            .map(|v| match body["identifier"]["system"].as_str() {
                Some(s) => format!("{s}|{v}"),
                None => v.to_string(),
            });
    let mut answers = Map::new();
    let mut stack: Vec<(&Json, String)> = Vec::new();
    if let Some(items) = body["item"].as_array() {
        for (n, it) in items.iter().enumerate().rev() {
            stack.push((it, format!("item[{n}]")));
        }
    }
    while let Some((it, at)) = stack.pop() {
        let Some(link) = it["linkId"].as_str() else {
            problems.push(problem(&at, "an item needs its `linkId`"));
            continue;
        };
        if let Some(children) = it["item"].as_array() {
            for (n, c) in children.iter().enumerate().rev() {
                stack.push((c, format!("{at}.item[{n}]")));
            }
        }
        if q.scores.iter().any(|s| s.id == link) {
            continue; // scores are computed here, never taken
        }
        let Some(&i) = q.item_index.get(link) else {
            problems.push(problem(
                &at,
                format!("`{link}` is not an item of `{}`", q.id),
            ));
            continue;
        };
        let item = &q.items[i];
        let Some(list) = it["answer"].as_array().filter(|a| !a.is_empty()) else {
            continue;
        };
        let mut values = Vec::new();
        for (n, a) in list.iter().enumerate() {
            match answer_value(item, a) {
                Ok(v) => values.push(v),
                Err(m) => problems.push(problem(&format!("{at}.answer[{n}]"), m)),
            }
        }
        let value = if item.kind == ItemType::Multi {
            Json::Array(values)
        } else if values.len() == 1 {
            values.remove(0)
        } else {
            if !values.is_empty() {
                problems.push(problem(&at, format!("`{link}` takes one answer")));
            }
            continue;
        };
        if answers.insert(link.to_string(), value).is_some() {
            problems.push(problem(&at, format!("`{link}` is answered twice")));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok((
        Incoming {
            questionnaire: qid,
            version,
            patient,
            answers,
            paper,
            identifier,
        },
        q,
    ))
}

/// One FHIR answer as the JSON value prom's validation takes.
fn answer_value(item: &crate::core::model::Item, a: &Json) -> Result<Json, String> {
    let expected = value_key(item).ok_or("this item takes no answer")?;
    let found: Vec<&String> = a
        .as_object()
        .map(|o| o.keys().filter(|k| k.starts_with("value")).collect())
        .unwrap_or_default();
    let [key] = found.as_slice() else {
        return Err("an answer needs exactly one value[x]".into());
    };
    let v = &a[key.as_str()];
    let numeric = matches!(
        item.kind,
        ItemType::Integer | ItemType::Decimal | ItemType::Slider
    );
    match key.as_str() {
        "valueCoding" if expected == "valueCoding" => {
            let code = v["code"].as_str().ok_or("a coding needs its `code`")?;
            // The option whose value has this code (numbers as written).
            item.options
                .iter()
                .map(|o| o.value.to_json())
                .find(|j| code_of(j).as_deref() == Some(code))
                .ok_or_else(|| format!("`{code}` is not one of the options of `{}`", item.id))
        }
        "valueInteger" | "valueDecimal" if numeric => Ok(v.clone()),
        "valueBoolean" if expected == "valueBoolean" => Ok(v.clone()),
        "valueDate" if expected == "valueDate" => Ok(v.clone()),
        "valueString" if expected == "valueString" => Ok(v.clone()),
        other => Err(format!(
            "`{}` is answered with {expected}, not {other}",
            item.id
        )),
    }
}
