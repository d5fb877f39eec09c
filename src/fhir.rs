//! FHIR R4 views of the questionnaire format (a first part: the
//! `Questionnaire` resource). Pure: a compiled questionnaire in, JSON out.
//!
//! Mapped: items and their types (`section` → `group` holding the items up
//! to the next section, `multi` → a repeating `choice`, a slider → an
//! `integer` or `decimal` with the SDC slider control), answer options as
//! codings with `ordinalValue` (their score), every language through the
//! translation extension, `required`, bounds as `minValue`/`maxValue`, and
//! `show_if` as `enableWhen` where it is comparisons of items with values
//! joined by one kind of `and`/`or`. A `show_if` beyond that, and every
//! score (as a read-only item), carry the prom expression in the
//! `prom-expression` extension: FHIRPath translation is still to come.

use serde_json::{Value as Json, json};

use crate::core::expr::syntax::{BinOp, Expr, ExprKind};
use crate::core::model::{ItemType, Method, Questionnaire, Text};
use crate::core::value::{Value, fmt_num};

/// The extension that carries a prom expression FHIR cannot hold yet.
pub const PROM_EXPRESSION: &str = "urn:prom:fhir:extension:prom-expression";
const TRANSLATION: &str = "http://hl7.org/fhir/StructureDefinition/translation";
const ORDINAL: &str = "http://hl7.org/fhir/StructureDefinition/ordinalValue";
const ITEM_CONTROL: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl";

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
        let whole_slider = it.step.is_none_or(|s| s.fract().is_zero())
            && it.min.is_none_or(|m| m.fract().is_zero());
        let kind = match it.kind {
            ItemType::Choice | ItemType::Multi => "choice",
            ItemType::Integer => "integer",
            ItemType::Slider if whole_slider => "integer",
            ItemType::Decimal | ItemType::Slider => "decimal",
            ItemType::Boolean => "boolean",
            ItemType::Date => "date",
            ItemType::Text => "text",
            ItemType::Display | ItemType::Section => "display",
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
            ext.push(json!({"url": "http://hl7.org/fhir/StructureDefinition/minValue", value_key: number(m)}));
        }
        if let Some(m) = it.max {
            ext.push(json!({"url": "http://hl7.org/fhir/StructureDefinition/maxValue", value_key: number(m)}));
        }
        if it.kind == ItemType::Slider {
            ext.push(
                json!({"url": ITEM_CONTROL, "valueCodeableConcept": {"coding": [{
                "system": "http://hl7.org/fhir/questionnaire-item-control", "code": "slider"}]}}),
            );
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
                    if let Some(s) = opt.scoring_value() {
                        option.insert(
                            "extension".into(),
                            json!([{"url": ORDINAL, "valueDecimal": number(s)}]),
                        );
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
                None => ext.push(prom_expression(&show.source)),
            }
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
    // Scores: read-only items; how each is computed travels as the prom
    // expression (a sum or mean names its items).
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
        let source = match (&s.method, &s.expr) {
            (Method::Expr, Some(e)) => e.source.clone(),
            (m, _) => {
                let names: Vec<&str> = s.items.iter().map(|&i| q.items[i].id.as_str()).collect();
                let f = if *m == Method::Mean { "mean" } else { "sum" };
                format!("{f}({})", names.join(", "))
            }
        };
        o.insert("extension".into(), json!([prom_expression(&source)]));
        items.push(Json::Object(o));
    }
    root.insert("item".into(), Json::Array(items));
    Json::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_questionnaire_maps_types_options_translations_and_simple_conditions() {
        let src = include_str!("../tests/fhir/small.yaml");
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
        assert_eq!(items[3]["extension"][0]["valueString"], "sum(pain)");
    }
}
