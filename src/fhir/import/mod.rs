//! From a FHIR R4 `Questionnaire` to a questionnaire in prom's YAML format
//! (`prom import fhir`). Pure: JSON in, YAML text out, with a `# import:`
//! comment at each thing that could not be carried over, so the author
//! sees what to finish by hand.
//!
//! Carried over: items and their types, options (codes, displays, scores
//! from `ordinalValue`/`itemWeight`, from `answerOption` or a `ValueSet`
//! contained in the file or given beside it), `required`, `repeats`,
//! bounds, `maxLength`, translations, and `enableWhen` as `show_if` (a
//! group's condition goes to each item in it, since a prom section has
//! none). From prom's own export, the prom extensions give back the exact
//! `show_if`s, scores and rules. Not carried over (a comment says so):
//! FHIRPath expressions, calculated items without a prom definition,
//! repeating groups, attachments and references, value sets not in the
//! file.
//!
//! `items.rs` walks the items (`options.rs`, `conditions.rs` for those
//! parts), `read.rs` reads FHIR JSON, `write.rs` writes YAML, and
//! `prom_ext.rs` reads back what prom's own export carries in extensions.

mod conditions;
mod items;
mod options;
mod prom_ext;
mod read;
mod write;

use std::collections::BTreeSet;

use serde_json::Value as Json;

use items::{Importer, Item};
use read::{Texts, lang_of, texts};

/// What the import made.
#[derive(Debug, Clone)]
pub struct Imported {
    pub id: String,
    pub yaml: String,
    /// Everything not carried over, as also written in the file's comments.
    pub notes: Vec<String>,
    pub items: usize,
    pub scores: usize,
    pub rules: usize,
}

/// The `Questionnaire` in a file: the resource itself or the first one in
/// a `Bundle`; and the `ValueSet`s beside it in the bundle.
pub fn find_questionnaire(doc: &Json) -> Result<(Json, Vec<Json>), String> {
    match doc["resourceType"].as_str() {
        Some("Questionnaire") => Ok((doc.clone(), Vec::new())),
        Some("Bundle") => {
            let resources: Vec<&Json> = doc["entry"]
                .as_array()
                .map(|es| es.iter().map(|e| &e["resource"]).collect())
                .unwrap_or_default();
            let q = resources
                .iter()
                .find(|r| r["resourceType"] == "Questionnaire")
                .ok_or("the Bundle holds no Questionnaire")?;
            let sets = resources
                .iter()
                .filter(|r| r["resourceType"] == "ValueSet")
                .map(|r| (*r).clone())
                .collect();
            Ok(((*q).clone(), sets))
        }
        Some(other) => Err(format!(
            "this is a FHIR {other}; `prom import fhir` reads a Questionnaire (or a Bundle holding one)"
        )),
        None => Err("this is not a FHIR resource: it has no `resourceType`".into()),
    }
}

/// A name in prom's form (`[a-z][a-z0-9_]*`): `LittleInterest` →
/// `little_interest`, `/44250-9` → `q_44250_9`.
pub fn prom_name(s: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_uppercase() && prev_lower && !out.ends_with('_') {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out
    } else {
        format!("q_{out}").trim_end_matches('_').to_string()
    }
}

/// The languages of the file: the resource's, then those every text has;
/// the others are named in a note.
fn languages(lang: &str, title: &Texts, items: &[Item]) -> (Vec<String>, Option<String>) {
    let mut all: Vec<&Texts> = vec![title];
    for it in items {
        all.push(&it.text);
        all.extend(
            [&it.help, &it.unit, &it.min_text, &it.max_text]
                .into_iter()
                .flatten(),
        );
        all.extend(it.options.iter().filter_map(|o| o.text.as_ref()));
    }
    let seen: BTreeSet<&String> = all.iter().flat_map(|t| t.iter().map(|(l, _)| l)).collect();
    let mut langs = vec![lang.to_string()];
    for l in &seen {
        if *l != lang && all.iter().all(|t| t.iter().any(|(x, _)| x == *l)) {
            langs.push(l.to_string());
        }
    }
    let dropped: Vec<&str> = seen
        .iter()
        .filter(|l| !langs.contains(l))
        .map(|l| l.as_str())
        .collect();
    let note = (!dropped.is_empty()).then(|| {
        format!(
            "translations into {} were left out: not every text has one",
            dropped.join(", ")
        )
    });
    (langs, note)
}

/// Converts a FHIR `Questionnaire` (JSON) to prom's YAML. `value_sets` are
/// `ValueSet`s given beside it; `id` overrides the one made from its name.
pub fn to_yaml(q: &Json, value_sets: &[Json], id: Option<&str>) -> Result<Imported, String> {
    if q["resourceType"] != "Questionnaire" {
        return Err("not a Questionnaire".into());
    }
    let lang = q["language"]
        .as_str()
        .and_then(lang_of)
        .unwrap_or_else(|| "en".into());
    let qid = match id {
        Some(i) => i.to_string(),
        None => prom_name(
            q["id"]
                .as_str()
                .or(q["name"].as_str())
                .unwrap_or("imported"),
        ),
    };
    let mut imp = Importer::new(&lang, value_sets, q);
    let items = q["item"].as_array().cloned().unwrap_or_default();
    imp.walk(&items, None);
    if imp.items.is_empty() {
        return Err("the Questionnaire has no item prom can ask".into());
    }
    let title = texts(q, "title", &lang)
        .or_else(|| {
            q["name"]
                .as_str()
                .map(|n| vec![(lang.clone(), n.to_string())])
        })
        .unwrap_or_else(|| vec![(lang.clone(), qid.clone())]);
    let (langs, dropped) = languages(&lang, &title, &imp.items);
    if let Some(n) = dropped {
        imp.top_note(n);
    }
    let mut y = String::new();
    write::head(&mut y, q, &qid, &title, &langs, &imp.top);
    prom_ext::tables(&mut y, q);
    write::items(&mut y, &imp.items, &langs);
    let scores = prom_ext::scores(&mut y, &imp.score_items, &imp.ids, &langs);
    let rules = prom_ext::rules(&mut y, q, &langs);
    Ok(Imported {
        id: qid,
        yaml: y,
        items: imp.items.len(),
        notes: imp.notes,
        scores,
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::write::{comment, quote};
    use super::*;

    #[test]
    fn link_ids_become_prom_names() {
        assert_eq!(prom_name("LittleInterest"), "little_interest");
        assert_eq!(prom_name("/sleep/wakeUps"), "sleep_wake_ups");
        assert_eq!(prom_name("/44250-9"), "q_44250_9");
        assert_eq!(prom_name("1.1"), "q_1_1");
        assert_eq!(prom_name("phq9"), "phq9");
        assert_eq!(prom_name("--"), "q");
    }

    #[test]
    fn text_from_elsewhere_cannot_break_the_yaml_or_a_comment() {
        let hostile = "a\"b\nc\u{feff}d\u{7}e: #f";
        let q = quote(hostile);
        assert!(!q.contains('\n') && !q.contains('\u{feff}') && !q.contains('\u{7}'));
        let back = crate::core::compile::compile_yaml(&format!(
            "id: x\nversion: 1\ntitle: {q}\nitems:\n  - {{id: a, type: boolean, text: t}}\n"
        ));
        let title = back.questionnaire.expect("compiles").title;
        assert_eq!(title.get("en"), hostile);
        let c = comment(hostile);
        assert!(!c.contains('\n') && !c.contains('\u{feff}'));
    }

    #[test]
    fn fhir_conditions_keep_fhir_s_meaning_in_prom_s_words() {
        let q = serde_json::json!({"resourceType": "Questionnaire", "item": [
            {"linkId": "a", "type": "choice", "text": "A", "answerOption": [
                {"valueCoding": {"code": "y"}}, {"valueCoding": {"code": "n"}}]},
            {"linkId": "b", "type": "integer", "text": "B"},
            {"linkId": "c", "type": "string", "text": "C", "enableWhen": [
                {"question": "a", "operator": "!=", "answerCoding": {"code": "y"}},
                {"question": "b", "operator": "exists", "answerBoolean": false}],
             "enableBehavior": "any"},
            {"linkId": "d", "type": "string", "text": "D", "enableWhen": [
                {"question": "a", "operator": "=", "answerCoding": {"code": "maybe"}}]}
        ]});
        let out = to_yaml(&q, &[], None).expect("imports");
        assert!(
            out.yaml
                .contains("show_if: \"(not (a = 'y')) or (not answered(b))\""),
            "{}",
            out.yaml
        );
        // A condition on an option that does not exist would be dead: said.
        assert!(
            out.yaml.contains(
                "# import: shown always: its condition names `maybe`, which is not an option of `a`"
            ),
            "{}",
            out.yaml
        );
        assert!(!crate::core::compile::compile_yaml(&out.yaml).has_errors());
    }
}
