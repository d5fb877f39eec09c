//! The walk over a FHIR Questionnaire's items: each becomes a prom item
//! (or a section, or nothing, with a note), with its id, type, texts,
//! bounds and condition; options and conditions are in their own files.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;

use super::prom_name;
use super::read::{Texts, ext_of, number_text, numeric_code, texts};
use crate::fhir::{ENABLE_WHEN_EXPRESSION, MAX_VALUE, MIN_VALUE, PROM_EXPRESSION, PROM_SCORE};

pub(super) struct Opt {
    pub(super) code: String,
    pub(super) text: Option<Vec<(String, String)>>,
    pub(super) score: Option<String>,
    pub(super) exclusive: bool,
    pub(super) not_applicable: bool,
}

pub(super) struct Item {
    pub(super) id: String,
    pub(super) kind: &'static str,
    pub(super) text: Vec<(String, String)>,
    pub(super) required: Option<bool>,
    pub(super) options: Vec<Opt>,
    pub(super) min: Option<String>,
    pub(super) max: Option<String>,
    pub(super) max_length: Option<u64>,
    pub(super) step: Option<String>,
    pub(super) unit: Option<Texts>,
    pub(super) help: Option<Texts>,
    pub(super) min_text: Option<Texts>,
    pub(super) max_text: Option<Texts>,
    pub(super) show_if: Option<String>,
    pub(super) comments: Vec<String>,
}

pub(super) struct Importer<'a> {
    pub(super) lang: String,
    pub(super) value_sets: &'a [Json],
    pub(super) contained: Vec<Json>,
    /// linkId → prom id.
    pub(super) ids: HashMap<String, String>,
    pub(super) taken: HashSet<String>,
    pub(super) items: Vec<Item>,
    /// linkId of every item whose answers are numbers (in conditions,
    /// every other answer is a quoted string).
    pub(super) numeric: HashSet<String>,
    /// The option codes of every choice and multi item, by linkId.
    pub(super) codes: HashMap<String, Vec<String>>,
    pub(super) kinds: HashMap<String, &'static str>,
    pub(super) notes: Vec<String>,
    /// Notes for the head of the file (not about one item).
    pub(super) top: Vec<String>,
    /// Score items (read-only, calculated) met on the way.
    pub(super) score_items: Vec<Json>,
}

impl<'a> Importer<'a> {
    pub(super) fn new(lang: &str, value_sets: &'a [Json], q: &Json) -> Importer<'a> {
        Importer {
            lang: lang.to_string(),
            value_sets,
            contained: q["contained"].as_array().cloned().unwrap_or_default(),
            ids: HashMap::new(),
            taken: HashSet::new(),
            items: Vec::new(),
            numeric: HashSet::new(),
            codes: HashMap::new(),
            kinds: HashMap::new(),
            notes: Vec::new(),
            top: Vec::new(),
            score_items: Vec::new(),
        }
    }

    /// A new prom id for an item; conditions find it by its `linkId` (the
    /// first item, if a `linkId` is used twice).
    pub(super) fn id_for(&mut self, link: &str) -> String {
        let base = if link.is_empty() {
            "item".to_string()
        } else {
            prom_name(link)
        };
        let mut id = base.clone();
        let mut n = 2;
        while self.taken.contains(&id) {
            id = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(id.clone());
        if !link.is_empty() && !self.ids.contains_key(link) {
            self.ids.insert(link.to_string(), id.clone());
        }
        id
    }

    pub(super) fn top_note(&mut self, msg: String) {
        self.notes.push(msg.clone());
        self.top.push(msg);
    }

    pub(super) fn note(&mut self, comments: &mut Vec<String>, msg: String) {
        self.notes.push(msg.clone());
        comments.push(msg);
    }

    pub(super) fn walk(&mut self, list: &[Json], inherited: Option<String>) {
        for it in list {
            self.item(it, inherited.clone());
        }
    }

    pub(super) fn item(&mut self, it: &Json, inherited: Option<String>) {
        let link = it["linkId"].as_str().unwrap_or("").to_string();
        let kind_in = it["type"].as_str().unwrap_or("");
        let mut comments = Vec::new();
        const CQF: &str = "http://hl7.org/fhir/StructureDefinition/cqf-expression";
        let calculated = ext_of(it, crate::fhir::CALCULATED_EXPRESSION).or_else(|| ext_of(it, CQF));
        if it["readOnly"] == true || calculated.is_some() {
            if ext_of(it, PROM_SCORE).is_some() {
                self.score_items.push(it.clone());
            } else {
                let msg = format!(
                    "the calculated item `{link}` was not imported: write it as a score{}",
                    calculated
                        .and_then(|e| {
                            let x = &e["valueExpression"];
                            Some(format!(
                                " (its {}: {})",
                                x["language"].as_str().unwrap_or("expression"),
                                x["expression"].as_str()?
                            ))
                        })
                        .unwrap_or_default()
                );
                self.top_note(msg);
            }
            return;
        }
        // The item's own condition, with its group's.
        let own = match ext_of(it, PROM_EXPRESSION).and_then(|e| e["valueString"].as_str()) {
            Some(src) => Some(src.to_string()),
            None => match self.condition(it) {
                Ok(c) => c,
                Err(why) => {
                    self.note(&mut comments, format!("shown always: {why}"));
                    None
                }
            },
        };
        if self.ids.contains_key(&link) {
            self.note(
                &mut comments,
                format!(
                    "the linkId `{link}` is used twice in the source; conditions refer to the first"
                ),
            );
        }
        let id = self.id_for(&link);
        // Conditions name the first item with a linkId.
        let first = self.ids.get(&link) == Some(&id);
        if id != link {
            comments.push(format!("linkId `{link}`"));
        }
        if let Some(codes) = it["code"].as_array() {
            let cs: Vec<String> = codes
                .iter()
                .filter_map(|c| Some(format!("{}|{}", c["system"].as_str()?, c["code"].as_str()?)))
                .collect();
            if !cs.is_empty() {
                comments.push(format!("code {}", cs.join(", ")));
            }
        }
        if let Some(p) = it["prefix"].as_str() {
            comments.push(format!("prefix `{p}`"));
        }
        if own.is_none()
            && let Some(e) = ext_of(it, ENABLE_WHEN_EXPRESSION)
        {
            let x = e["valueExpression"]["expression"].as_str().unwrap_or("");
            self.note(
                &mut comments,
                format!("shown always: its condition is FHIRPath, write it as show_if: {x}"),
            );
        }
        let condition = match (inherited, own) {
            (Some(a), Some(b)) => Some(format!("({a}) and ({b})")),
            (a, b) => a.or(b),
        };
        let text = texts(it, "text", &self.lang)
            .or_else(|| {
                let d = it["code"][0]["display"].as_str()?;
                comments.push("no text in the source: its code's display stands in".into());
                Some(vec![(self.lang.clone(), d.to_string())])
            })
            .unwrap_or_else(|| {
                comments.push("no text in the source: the linkId stands in".into());
                vec![(self.lang.clone(), link.clone())]
            });
        let repeats = it["repeats"] == true;
        let control = ext_of(
            it,
            "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl",
        )
        .and_then(|e| e["valueCodeableConcept"]["coding"][0]["code"].as_str())
        .unwrap_or("");
        let bound = |url: &str| {
            ext_of(it, url).and_then(|e| {
                number_text(&e["valueInteger"]).or_else(|| number_text(&e["valueDecimal"]))
            })
        };
        let (min, max) = (bound(MIN_VALUE), bound(MAX_VALUE));
        let kind: &'static str = match kind_in {
            "group" => {
                if repeats {
                    self.note(
                        &mut comments,
                        format!("the group `{link}` repeats in FHIR; here it is asked once"),
                    );
                }
                "section"
            }
            "display" => "display",
            "boolean" => "boolean",
            "integer" if control == "slider" && min.is_some() && max.is_some() => "slider",
            "decimal" if control == "slider" && min.is_some() && max.is_some() => "slider",
            "integer" => "integer",
            "decimal" => "decimal",
            "quantity" => {
                self.note(
                    &mut comments,
                    "a quantity in FHIR: here a number without its unit".into(),
                );
                "decimal"
            }
            "date" => "date",
            "dateTime" => {
                self.note(
                    &mut comments,
                    "a date and time in FHIR: here the date".into(),
                );
                "date"
            }
            "string" | "text" => "text",
            "time" | "url" => {
                self.note(&mut comments, format!("a {kind_in} in FHIR: here a text"));
                "text"
            }
            "choice" | "open-choice" => {
                if kind_in == "open-choice" {
                    self.note(
                        &mut comments,
                        "open-choice in FHIR: the free-text answer beside the options is not carried over".into(),
                    );
                }
                if repeats { "multi" } else { "choice" }
            }
            other => {
                self.top_note(format!(
                    "`{link}` ({other}) was not imported: prom has no such kind of answer"
                ));
                self.taken.remove(&id);
                if self.ids.get(&link) == Some(&id) {
                    self.ids.remove(&link);
                }
                return;
            }
        };
        // Help and a slider's end labels: display items under the question
        // with the `help`, `lower` and `upper` item controls.
        let mut children: Vec<Json> = it["item"].as_array().cloned().unwrap_or_default();
        let mut under = |control: &str| -> Option<Texts> {
            if matches!(kind, "section" | "display") {
                return None;
            }
            let at = children.iter().position(|c| {
                c["type"] == "display"
                    && ext_of(c, crate::fhir::ITEM_CONTROL)
                        .and_then(|e| e["valueCodeableConcept"]["coding"][0]["code"].as_str())
                        == Some(control)
            })?;
            let c = children.remove(at);
            texts(&c, "text", &self.lang)
        };
        let help = under("help");
        let (min_text, max_text) = if kind == "slider" {
            (under("lower"), under("upper"))
        } else {
            (None, None)
        };
        let step = ext_of(it, crate::fhir::SLIDER_STEP)
            .and_then(|e| number_text(&e["valueInteger"]))
            .or_else(|| {
                ext_of(it, crate::fhir::PROM_STEP).and_then(|e| number_text(&e["valueDecimal"]))
            });
        let unit = ext_of(it, crate::fhir::UNIT)
            .and_then(|e| texts(&e["valueCoding"], "display", &self.lang))
            .filter(|_| matches!(kind, "integer" | "decimal" | "slider"));
        let mut item = Item {
            id: id.clone(),
            kind,
            text,
            required: None,
            options: Vec::new(),
            min,
            max,
            max_length: it["maxLength"].as_u64(),
            step,
            unit,
            help,
            min_text,
            max_text,
            show_if: None,
            comments: Vec::new(),
        };
        if matches!(kind, "choice" | "multi") {
            let mut seen = HashSet::new();
            for o in self.options(it, &mut comments) {
                if seen.insert(o.code.clone()) {
                    item.options.push(o);
                } else {
                    let msg = format!("the option `{}` is given twice; kept once", o.code);
                    self.note(&mut comments, msg);
                }
            }
            if item.options.is_empty() {
                self.note(
                    &mut comments,
                    "no options: imported as a text answer".into(),
                );
                item.kind = "text";
            } else if first {
                if item.options.iter().all(|o| numeric_code(&o.code)) {
                    self.numeric.insert(link.clone());
                }
                self.codes.insert(
                    link.clone(),
                    item.options.iter().map(|o| o.code.clone()).collect(),
                );
            }
        }
        if first && matches!(item.kind, "integer" | "decimal" | "slider") {
            self.numeric.insert(link.clone());
        }
        if !matches!(kind, "section" | "display") && repeats && kind != "multi" {
            self.note(&mut comments, "repeats in FHIR: here one answer".into());
        }
        if first {
            self.kinds.insert(link.clone(), item.kind);
        }
        match kind {
            "section" => {
                if condition.is_some() {
                    comments.push("the group's condition is on each item in it".into());
                }
                item.comments = comments;
                self.items.push(item);
                self.walk(&children, condition);
                return;
            }
            "display" => {}
            _ => item.required = Some(it["required"] == true),
        }
        item.show_if = condition.clone();
        item.comments = comments;
        self.items.push(item);
        if !children.is_empty() {
            self.top_note(format!(
                "the items under `{link}` follow it (prom does not nest items in a question)"
            ));
            self.walk(&children, condition);
        }
    }
}
