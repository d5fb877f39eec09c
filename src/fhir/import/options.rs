//! A choice item's options: its `answerOption`s, or the concepts of the
//! `ValueSet` it names when the file holds it (or it was given).

use serde_json::Value as Json;

use super::items::{Importer, Opt};
use super::read::{ORDINAL, ext_of, number_text, texts};

impl Importer<'_> {
    /// The options of a choice item: `answerOption`, or the concepts of its
    /// value set when the file holds it.
    pub(super) fn options(&mut self, it: &Json, comments: &mut Vec<String>) -> Vec<Opt> {
        let score_of = |o: &Json| {
            ORDINAL
                .iter()
                .find_map(|u| ext_of(o, u))
                .and_then(|e| number_text(&e["valueDecimal"]).or(number_text(&e["valueInteger"])))
        };
        if let Some(list) = it["answerOption"].as_array() {
            let mut out = Vec::new();
            for o in list {
                let (code, text) = if let Some(c) = o.get("valueCoding") {
                    let code = c["code"].as_str().or(c["display"].as_str());
                    (code.map(String::from), texts(c, "display", &self.lang))
                } else if let Some(s) = o["valueString"].as_str() {
                    (
                        Some(s.to_string()),
                        Some(vec![(self.lang.clone(), s.to_string())]),
                    )
                } else if let Some(n) = number_text(&o["valueInteger"]) {
                    (Some(n), None)
                } else if let Some(d) = o["valueDate"].as_str() {
                    (Some(d.to_string()), None)
                } else {
                    (None, None)
                };
                let flag = |url: &str| ext_of(o, url).is_some_and(|e| e["valueBoolean"] == true);
                match code {
                    Some(code) => out.push(Opt {
                        code,
                        text,
                        score: score_of(o),
                        exclusive: flag(crate::fhir::OPTION_EXCLUSIVE),
                        not_applicable: flag(crate::fhir::PROM_NOT_APPLICABLE),
                    }),
                    None => self.note(
                        comments,
                        "an option with no code or value was left out".into(),
                    ),
                }
            }
            return out;
        }
        let reference = it["answerValueSet"]
            .as_str()
            .or(it["options"]["reference"].as_str())
            .unwrap_or("");
        let vs = if let Some(local) = reference.strip_prefix('#') {
            self.contained
                .iter()
                .find(|c| c["resourceType"] == "ValueSet" && c["id"] == local)
                .cloned()
        } else {
            let url = reference.split('|').next().unwrap_or("");
            self.value_sets.iter().find(|v| v["url"] == url).cloned()
        };
        let Some(vs) = vs else {
            self.note(
                comments,
                format!(
                    "its options are in the value set `{reference}`, which is not in the file: \
                     give it with --valueset, or write the options here"
                ),
            );
            return Vec::new();
        };
        let mut concepts: Vec<&Json> = Vec::new();
        if let Some(inc) = vs["compose"]["include"].as_array() {
            for i in inc {
                concepts.extend(i["concept"].as_array().into_iter().flatten());
            }
        }
        if concepts.is_empty() {
            concepts.extend(vs["expansion"]["contains"].as_array().into_iter().flatten());
        }
        concepts
            .into_iter()
            .filter_map(|c| {
                Some(Opt {
                    code: c["code"].as_str()?.to_string(),
                    text: texts(c, "display", &self.lang),
                    score: score_of(c),
                    exclusive: false,
                    not_applicable: false,
                })
            })
            .collect()
    }
}
