//! Reading FHIR JSON: texts with their translations, extensions and
//! their parts, numbers as written.

use serde_json::Value as Json;

use crate::fhir::TRANSLATION;

/// A text in each language: `(language, text)`, the first the resource's.
pub(super) type Texts = Vec<(String, String)>;

/// Where an option's score may be: R4's `ordinalValue`, and the names
/// other versions and tools give it.
pub(super) const ORDINAL: &[&str] = &[
    crate::fhir::ORDINAL,
    "http://hl7.org/fhir/StructureDefinition/itemWeight",
    "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",
];

pub(super) fn lang_of(code: &str) -> Option<String> {
    let l = code.split(['-', '_']).next()?.to_ascii_lowercase();
    (l.len() == 2 && l.chars().all(|c| c.is_ascii_lowercase())).then_some(l)
}

/// A text and its translations: `(language, text)`, the first in the
/// resource's language.
pub(super) fn texts(obj: &Json, key: &str, default: &str) -> Option<Vec<(String, String)>> {
    let first = obj[key].as_str()?;
    let mut out = vec![(default.to_string(), first.to_string())];
    if let Some(exts) = obj[format!("_{key}")]["extension"].as_array() {
        for e in exts.iter().filter(|e| e["url"] == TRANSLATION) {
            let parts = e["extension"].as_array();
            let get = |name: &str| {
                parts.and_then(|ps| {
                    ps.iter()
                        .find(|p| p["url"] == name)
                        .and_then(|p| p["valueCode"].as_str().or(p["valueString"].as_str()))
                })
            };
            if let (Some(l), Some(c)) = (get("lang").and_then(lang_of), get("content"))
                && !out.iter().any(|(x, _)| *x == l)
            {
                out.push((l, c.to_string()));
            }
        }
    }
    Some(out)
}

pub(super) fn ext_of<'a>(obj: &'a Json, url: &str) -> Option<&'a Json> {
    obj["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == url)
}

pub(super) fn sub<'a>(e: &'a Json, url: &str) -> Vec<&'a Json> {
    e["extension"]
        .as_array()
        .map(|xs| xs.iter().filter(|x| x["url"] == url).collect())
        .unwrap_or_default()
}

/// A text written by prom's export as `lang`/`content` sub-extensions.
pub(super) fn sub_texts(e: &Json, url: &str) -> Vec<(String, String)> {
    sub(e, url)
        .iter()
        .filter_map(|t| {
            let l = sub(t, "lang").first()?["valueCode"].as_str()?.to_string();
            let c = sub(t, "content").first()?["valueString"]
                .as_str()?
                .to_string();
            Some((l, c))
        })
        .collect()
}

pub(super) fn number_text(v: &Json) -> Option<String> {
    match v {
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether a code reads as a number and back unchanged (`"2"`, `"0.5"`).
pub(super) fn numeric_code(c: &str) -> bool {
    c.parse::<rust_decimal::Decimal>()
        .is_ok_and(|d| crate::core::value::fmt_num(d) == c)
}
