//! FHIR R4 views of the questionnaire format. Pure: compiled questionnaires
//! and stored responses in, JSON out (and back, in `response` and
//! `import`).
//!
//! The `Questionnaire`:
//! Mapped: items and their types (`section` → `group` holding the items up
//! to the next section, `multi` → a repeating `choice`, a slider → an
//! `integer` or `decimal` with the SDC slider control), answer options as
//! codings with `ordinalValue` (their score), every language through the
//! translation extension, `required`, bounds as `minValue`/`maxValue`, and
//! `show_if` as `enableWhen` where it is comparisons of items with values
//! joined by one kind of `and`/`or` (or a boolean item alone, or `item in
//! [...]`). A `show_if` beyond that becomes SDC's `enableWhenExpression`
//! and every score a read-only item with SDC's `calculatedExpression`, both
//! in FHIRPath (`fhirpath.rs`); each also keeps the prom expression in the
//! `prom-expression` extension, which is exact where FHIRPath cannot follow
//! (history, tables) and which the import reads back.

pub mod fhirpath;
pub mod import;
pub mod response;

use serde_json::{Value as Json, json};

use crate::core::expr::syntax::{BinOp, Expr, ExprKind};
use crate::core::model::{ItemType, Method, Questionnaire, Text};
use crate::core::value::{Value, fmt_num};

/// The extension that carries a prom expression FHIR cannot hold yet.
pub const PROM_EXPRESSION: &str = "urn:prom:fhir:extension:prom-expression";
/// A score's prom definition (method, items, missing answers, bands …).
pub const PROM_SCORE: &str = "urn:prom:fhir:extension:prom-score";
/// A look-up table.
pub const PROM_TABLE: &str = "urn:prom:fhir:extension:prom-table";
/// A triage rule.
pub const PROM_RULE: &str = "urn:prom:fhir:extension:prom-rule";
pub(crate) const TRANSLATION: &str = "http://hl7.org/fhir/StructureDefinition/translation";
pub(crate) const ORDINAL: &str = "http://hl7.org/fhir/StructureDefinition/ordinalValue";
pub(crate) const MIN_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/minValue";
pub(crate) const MAX_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/maxValue";
pub(crate) const ITEM_CONTROL: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl";
pub const ENABLE_WHEN_EXPRESSION: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression";
pub const CALCULATED_EXPRESSION: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression";
const VARIABLE: &str = "http://hl7.org/fhir/StructureDefinition/variable";

pub(crate) const SLIDER_STEP: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-sliderStepValue";
pub(crate) const UNIT: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit";
pub(crate) const OPTION_EXCLUSIVE: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-optionExclusive";
/// A step that is not a whole number (FHIR's slider step is an integer).
pub const PROM_STEP: &str = "urn:prom:fhir:extension:step";
/// An option that counts as answered but not applicable.
pub const PROM_NOT_APPLICABLE: &str = "urn:prom:fhir:extension:not-applicable";

fn item_control(code: &str) -> Json {
    json!({"url": ITEM_CONTROL, "valueCodeableConcept": {"coding": [{
        "system": "http://hl7.org/fhir/questionnaire-item-control", "code": code}]}})
}

/// An SDC `Expression` in FHIRPath.
fn fhirpath_value(name: Option<&str>, expression: &str) -> Json {
    let mut e = serde_json::Map::new();
    if let Some(n) = name {
        e.insert("name".into(), json!(n));
    }
    e.insert("language".into(), json!("text/fhirpath"));
    e.insert("expression".into(), json!(expression));
    Json::Object(e)
}

/// A FHIR id for a prom id (FHIR ids hold no `_`).
pub fn fhir_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

/// A text inside single quotes, as FHIRPath and prom's expressions both
/// write it: `\` and `'` escaped with a backslash.
pub(crate) fn escape_quoted(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The canonical URL of a questionnaire.
pub fn canonical(id: &str) -> String {
    format!("urn:prom:questionnaire:{id}")
}

/// `text` in the first language and the others as translations: the value
/// and its `_` sibling.
fn text(t: &Text) -> (Json, Option<Json>) {
    let first = t.0.first().map(|(_, s)| s.clone()).unwrap_or_default();
    let others: Vec<Json> =
        t.0.iter()
            .skip(1)
            .map(|(lang, s)| {
                json!({"url": TRANSLATION, "extension": [
                    {"url": "lang", "valueCode": lang},
                    {"url": "content", "valueString": s}
                ]})
            })
            .collect();
    let ext = (!others.is_empty()).then(|| json!({"extension": others}));
    (Json::String(first), ext)
}

fn put_text(obj: &mut serde_json::Map<String, Json>, key: &str, t: &Text) {
    let (v, ext) = text(t);
    obj.insert(key.into(), v);
    if let Some(e) = ext {
        obj.insert(format!("_{key}"), e);
    }
}

fn number(d: rust_decimal::Decimal) -> Json {
    serde_json::from_str(&fmt_num(d)).unwrap_or(Json::Null)
}

/// The answer of an `enableWhen` for a literal compared with `item`.
fn answer(q: &Questionnaire, item: &str, v: &Value) -> Option<(String, Json)> {
    let it = &q.items[*q.item_index.get(item)?];
    Some(match (it.kind, v) {
        (ItemType::Choice | ItemType::Multi, v) => {
            let code = match v {
                Value::Str(s) => s.clone(),
                Value::Num(d) => fmt_num(*d),
                _ => return None,
            };
            (
                "answerCoding".into(),
                json!({"system": format!("{}:{}", canonical(&q.id), it.id), "code": code}),
            )
        }
        (ItemType::Boolean, Value::Bool(b)) => ("answerBoolean".into(), json!(b)),
        (ItemType::Integer, Value::Num(d)) => ("answerInteger".into(), number(*d)),
        (ItemType::Slider, Value::Num(d)) if d.fract().is_zero() => {
            ("answerInteger".into(), number(*d))
        }
        (ItemType::Decimal | ItemType::Slider, Value::Num(d)) => {
            ("answerDecimal".into(), number(*d))
        }
        (ItemType::Date, Value::Date(d)) => ("answerDate".into(), json!(d.to_string())),
        _ => return None,
    })
}

/// `show_if` as `enableWhen` conditions and their behaviour, when it is
/// comparisons joined by one kind of `and`/`or`.
fn enable_when(q: &Questionnaire, e: &Expr) -> Option<(Vec<Json>, Option<&'static str>)> {
    fn leaves<'a>(e: &'a Expr, join: BinOp, out: &mut Vec<&'a Expr>) {
        match &e.kind {
            ExprKind::Bin(op, a, b) if *op == join => {
                leaves(a, join, out);
                leaves(b, join, out);
            }
            _ => out.push(e),
        }
    }
    if let ExprKind::Bin(BinOp::In, a, b) = &e.kind {
        let ExprKind::Name(item, _) = &a.kind else {
            return None;
        };
        let xs: Vec<Value> = match &b.kind {
            ExprKind::Lit(Value::List(xs)) => xs.clone(),
            ExprKind::List(es) => es
                .iter()
                .map(|e| match &e.kind {
                    ExprKind::Lit(v) => Some(v.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?,
            _ => return None,
        };
        let conditions = xs
            .iter()
            .map(|v| {
                let (key, value) = answer(q, item, v)?;
                let mut c = serde_json::Map::new();
                c.insert("question".into(), json!(item));
                c.insert("operator".into(), json!("="));
                c.insert(key, value);
                Some(Json::Object(c))
            })
            .collect::<Option<Vec<_>>>()?;
        let behaviour = (conditions.len() > 1).then_some("any");
        return Some((conditions, behaviour));
    }
    let (join, behaviour) = match &e.kind {
        ExprKind::Bin(BinOp::Or, ..) => (BinOp::Or, Some("any")),
        ExprKind::Bin(BinOp::And, ..) => (BinOp::And, Some("all")),
        _ => (BinOp::And, None),
    };
    let mut parts = Vec::new();
    leaves(e, join, &mut parts);
    let conditions = parts
        .iter()
        .map(|p| {
            if let ExprKind::Name(item, _) = &p.kind {
                let (key, value) = answer(q, item, &Value::Bool(true))?;
                return Some(json!({"question": item, "operator": "=", key: value}));
            }
            let ExprKind::Bin(op, a, b) = &p.kind else {
                return None;
            };
            let (ExprKind::Name(item, _), ExprKind::Lit(v)) = (&a.kind, &b.kind) else {
                return None;
            };
            let operator = match op {
                BinOp::Eq => "=",
                BinOp::Ne => "!=",
                BinOp::Lt => "<",
                BinOp::Le => "<=",
                BinOp::Gt => ">",
                BinOp::Ge => ">=",
                _ => return None,
            };
            let (key, value) = answer(q, item, v)?;
            let mut c = serde_json::Map::new();
            c.insert("question".into(), json!(item));
            c.insert("operator".into(), json!(operator));
            c.insert(key, value);
            Some(Json::Object(c))
        })
        .collect::<Option<Vec<_>>>()?;
    let behaviour = behaviour.filter(|_| conditions.len() > 1);
    Some((conditions, behaviour))
}

/// Sub-extensions for a text: one `url` per language, each holding `lang`
/// and `content` (as the translation extension does).
fn sub_text(url: &str, t: &Text) -> Vec<Json> {
    t.0.iter()
        .map(|(lang, s)| {
            json!({"url": url, "extension": [
                {"url": "lang", "valueCode": lang},
                {"url": "content", "valueString": s}
            ]})
        })
        .collect()
}

/// A score's whole prom definition, so that `prom import fhir` gets back
/// exactly what FHIRPath can only approximate.
fn score_extension(q: &Questionnaire, s: &crate::core::model::Score) -> Json {
    let mut parts = Vec::new();
    let method = match s.method {
        Method::Sum => "sum",
        Method::Mean => "mean",
        Method::Expr => "expr",
    };
    parts.push(json!({"url": "method", "valueCode": method}));
    if let Some(e) = &s.expr {
        parts.push(json!({"url": "expr", "valueString": e.source}));
    }
    for &i in &s.items {
        parts.push(json!({"url": "item", "valueString": q.items[i].id}));
    }
    for &i in &s.reverse {
        parts.push(json!({"url": "reverse", "valueString": q.items[i].id}));
    }
    if s.allow_missing > 0 {
        parts.push(json!({"url": "allow-missing", "valueInteger": s.allow_missing}));
    }
    if s.impute == crate::core::model::Impute::Mean {
        parts.push(json!({"url": "impute", "valueCode": "mean"}));
    }
    if let Some(t) = &s.transform {
        parts.push(json!({"url": "transform", "valueString": t.source}));
    }
    if let Some(r) = s.round {
        parts.push(json!({"url": "round", "valueInteger": r}));
    }
    for b in &s.bands {
        let mut band = vec![
            json!({"url": "from", "valueDecimal": number(b.from)}),
            json!({"url": "id", "valueCode": b.id}),
        ];
        if let Some(t) = &b.text {
            band.extend(sub_text("text", t));
        }
        parts.push(json!({"url": "band", "extension": band}));
    }
    json!({"url": PROM_SCORE, "extension": parts})
}

/// A look-up table for `table()`.
fn table_extension(t: &crate::core::model::Table) -> Json {
    let mut parts = vec![json!({"url": "name", "valueString": t.name})];
    for (k, v) in &t.entries {
        let key = match k {
            Value::Num(d) => json!({"url": "key", "valueDecimal": number(*d)}),
            Value::Str(s) => json!({"url": "key", "valueString": s}),
            other => json!({"url": "key", "valueString": other.to_json().to_string()}),
        };
        parts.push(json!({"url": "entry", "extension": [key,
            {"url": "value", "valueDecimal": number(*v)}]}));
    }
    json!({"url": PROM_TABLE, "extension": parts})
}

/// A rule (FHIR has no place for triage): its condition, level, texts and
/// source, for `prom import fhir`.
fn rule_extension(r: &crate::core::model::Rule) -> Json {
    let mut parts = vec![
        json!({"url": "id", "valueCode": r.id}),
        json!({"url": "level", "valueCode": r.level.name()}),
        json!({"url": "when", "valueString": r.when.source}),
    ];
    parts.extend(sub_text("text", &r.text));
    if let Some(t) = &r.patient_text {
        parts.extend(sub_text("patient-text", t));
    }
    if let Some(src) = &r.source {
        parts.push(json!({"url": "source", "valueString": src}));
    }
    json!({"url": PROM_RULE, "extension": parts})
}

fn prom_expression(source: &str) -> Json {
    json!({"url": PROM_EXPRESSION, "valueString": source})
}

/// The FHIR R4 `Questionnaire` of a compiled questionnaire.
pub fn questionnaire(q: &Questionnaire) -> Json {
    let mut root = serde_json::Map::new();
    root.insert("resourceType".into(), json!("Questionnaire"));
    root.insert("id".into(), json!(fhir_id(&q.id)));
    root.insert("url".into(), json!(canonical(&q.id)));
    root.insert("version".into(), json!(q.version.to_string()));
    let name: String =
        q.id.split(|c: char| !c.is_ascii_alphanumeric())
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
    if name.starts_with(|c: char| c.is_ascii_uppercase()) {
        root.insert("name".into(), json!(name));
    }
    put_text(&mut root, "title", &q.title);
    root.insert("status".into(), json!("active"));
    root.insert("language".into(), json!(q.default_language()));
    if let Some(d) = q.description.as_ref().or(q.instructions.as_ref()) {
        put_text(&mut root, "description", d);
    }
    if let Some(c) = q.copyright.as_ref().or(q.license.as_ref()) {
        root.insert("copyright".into(), json!(c));
    }
    let mut items: Vec<Json> = Vec::new();
    let mut group: Option<serde_json::Map<String, Json>> = None;
    let mut children: Vec<Json> = Vec::new();
    for it in &q.items {
        if it.kind == ItemType::Section {
            if let Some(mut g) = group.take() {
                g.insert("item".into(), Json::Array(std::mem::take(&mut children)));
                items.push(Json::Object(g));
            } else {
                items.append(&mut children);
            }
            let mut g = serde_json::Map::new();
            g.insert("linkId".into(), json!(it.id));
            put_text(&mut g, "text", &it.text);
            g.insert("type".into(), json!("group"));
            group = Some(g);
            continue;
        }
        let mut o = serde_json::Map::new();
        o.insert("linkId".into(), json!(it.id));
        put_text(&mut o, "text", &it.text);
        // The item's FHIR type follows the kind of answer it takes, as the
        // QuestionnaireResponse writes it (one mapping for both).
        let kind = match response::value_key(it) {
            Some("valueCoding") => "choice",
            Some("valueInteger") => "integer",
            Some("valueDecimal") => "decimal",
            Some("valueBoolean") => "boolean",
            Some("valueDate") => "date",
            Some(_) => "text",
            None => "display",
        };
        o.insert("type".into(), json!(kind));
        if it.kind.answerable() {
            o.insert("required".into(), json!(it.required));
        }
        if it.kind == ItemType::Multi {
            o.insert("repeats".into(), json!(true));
        }
        if let Some(n) = it.max_length {
            o.insert("maxLength".into(), json!(n));
        }
        let mut ext: Vec<Json> = Vec::new();
        let value_key = if kind == "integer" {
            "valueInteger"
        } else {
            "valueDecimal"
        };
        if let Some(m) = it.min {
            ext.push(json!({"url": MIN_VALUE, value_key: number(m)}));
        }
        if let Some(m) = it.max {
            ext.push(json!({"url": MAX_VALUE, value_key: number(m)}));
        }
        if it.kind == ItemType::Slider {
            ext.push(item_control("slider"));
        }
        if let Some(step) = it.step {
            if step.fract().is_zero() {
                ext.push(json!({"url": SLIDER_STEP, "valueInteger": number(step)}));
            } else {
                ext.push(json!({"url": PROM_STEP, "valueDecimal": number(step)}));
            }
        }
        if let Some(u) = &it.unit {
            let mut coding = serde_json::Map::new();
            put_text(&mut coding, "display", u);
            ext.push(json!({"url": UNIT, "valueCoding": coding}));
        }
        // Help and a slider's end labels: display items under the question
        // with SDC's item controls.
        let mut under: Vec<Json> = Vec::new();
        for (t, control) in [
            (&it.help, "help"),
            (&it.min_text, "lower"),
            (&it.max_text, "upper"),
        ] {
            if let Some(t) = t {
                let mut d = serde_json::Map::new();
                d.insert("linkId".into(), json!(format!("{}-{control}", it.id)));
                put_text(&mut d, "text", t);
                d.insert("type".into(), json!("display"));
                d.insert("extension".into(), json!([item_control(control)]));
                under.push(Json::Object(d));
            }
        }
        if !under.is_empty() {
            o.insert("item".into(), Json::Array(under));
        }
        if !it.options.is_empty() {
            let system = format!("{}:{}", canonical(&q.id), it.id);
            let options: Vec<Json> = it
                .options
                .iter()
                .map(|opt| {
                    let code = match &opt.value {
                        Value::Num(d) => fmt_num(*d),
                        Value::Str(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    let mut coding = serde_json::Map::new();
                    coding.insert("system".into(), json!(system));
                    coding.insert("code".into(), json!(code));
                    put_text(&mut coding, "display", &opt.text);
                    let mut option = serde_json::Map::new();
                    let mut oext = Vec::new();
                    if let Some(s) = opt.scoring_value() {
                        oext.push(json!({"url": ORDINAL, "valueDecimal": number(s)}));
                    }
                    if opt.exclusive {
                        oext.push(json!({"url": OPTION_EXCLUSIVE, "valueBoolean": true}));
                    }
                    if opt.not_applicable {
                        oext.push(json!({"url": PROM_NOT_APPLICABLE, "valueBoolean": true}));
                    }
                    if !oext.is_empty() {
                        option.insert("extension".into(), Json::Array(oext));
                    }
                    option.insert("valueCoding".into(), Json::Object(coding));
                    Json::Object(option)
                })
                .collect();
            o.insert("answerOption".into(), Json::Array(options));
        }
        if let Some(show) = &it.show_if {
            match enable_when(q, &show.ast) {
                Some((conditions, behaviour)) => {
                    o.insert("enableWhen".into(), Json::Array(conditions));
                    if let Some(b) = behaviour {
                        o.insert("enableBehavior".into(), json!(b));
                    }
                }
                None => {
                    if let Some(fp) = fhirpath::expression(q, &show.ast) {
                        ext.push(json!({"url": ENABLE_WHEN_EXPRESSION,
                            "valueExpression": fhirpath_value(None, &fp)}));
                    }
                }
            }
            // Always, so that the import gets back the author's words.
            ext.push(prom_expression(&show.source));
        }
        if !ext.is_empty() {
            o.insert("extension".into(), Json::Array(ext));
        }
        children.push(Json::Object(o));
    }
    if let Some(mut g) = group.take() {
        g.insert("item".into(), Json::Array(std::mem::take(&mut children)));
        items.push(Json::Object(g));
    } else {
        items.append(&mut children);
    }
    // Scores: read-only items computed by SDC's calculatedExpression where
    // FHIRPath can say it, and always by the prom definition (`prom-score`),
    // which the import reads back.
    for s in &q.scores {
        let mut o = serde_json::Map::new();
        o.insert("linkId".into(), json!(s.id));
        match &s.title {
            Some(t) => put_text(&mut o, "text", t),
            None => {
                o.insert("text".into(), json!(s.id));
            }
        }
        o.insert("type".into(), json!("decimal"));
        o.insert("readOnly".into(), json!(true));
        let mut ext = Vec::new();
        if let Some((vars, calc)) = fhirpath::score(q, s) {
            for (name, e) in vars {
                ext.push(
                    json!({"url": VARIABLE, "valueExpression": fhirpath_value(Some(&name), &e)}),
                );
            }
            ext.push(json!({"url": CALCULATED_EXPRESSION,
                "valueExpression": fhirpath_value(None, &calc)}));
        }
        ext.push(score_extension(q, s));
        o.insert("extension".into(), Json::Array(ext));
        items.push(Json::Object(o));
    }
    let mut root_ext: Vec<Json> = q.tables.iter().map(table_extension).collect();
    root_ext.extend(q.rules.iter().map(rule_extension));
    if !root_ext.is_empty() {
        root.insert("extension".into(), Json::Array(root_ext));
    }
    root.insert("item".into(), Json::Array(items));
    Json::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_questionnaire_maps_types_options_translations_and_simple_conditions() {
        let src = include_str!("../../tests/fhir/small.yaml");
        let q = crate::core::compile::compile_yaml(src)
            .questionnaire
            .expect("compiles");
        let f = questionnaire(&q);
        assert_eq!(f["resourceType"], "Questionnaire");
        assert_eq!(f["id"], "my-q");
        assert_eq!(f["version"], "3");
        assert_eq!(f["title"], "Titel");
        assert_eq!(
            f["_title"]["extension"][0]["extension"][1]["valueString"],
            "Title"
        );
        let items = f["item"].as_array().expect("items");
        assert_eq!(items[0]["type"], "choice");
        assert_eq!(items[0]["answerOption"][1]["valueCoding"]["code"], "2");
        assert_eq!(
            items[0]["answerOption"][1]["extension"][0]["valueDecimal"],
            2
        );
        assert_eq!(items[1]["enableWhen"][0]["operator"], "=");
        assert_eq!(items[1]["enableWhen"][0]["answerCoding"]["code"], "2");
        assert_eq!(items[2]["type"], "integer");
        assert_eq!(items[3]["readOnly"], true);
        let ext = items[3]["extension"].as_array().expect("extensions");
        let def = &ext.last().expect("one")["extension"];
        assert_eq!(def[0]["valueCode"], "sum");
        assert_eq!(def[1]["valueString"], "pain");
        assert!(ext.iter().any(|e| e["url"] == CALCULATED_EXPRESSION));
    }
}
