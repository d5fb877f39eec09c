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

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value as Json;

use super::{ENABLE_WHEN_EXPRESSION, PROM_EXPRESSION, PROM_RULE, PROM_SCORE, TRANSLATION};

const ORDINAL: &[&str] = &[
    "http://hl7.org/fhir/StructureDefinition/ordinalValue",
    "http://hl7.org/fhir/StructureDefinition/itemWeight",
    "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",
];
const MIN_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/minValue";
const MAX_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/maxValue";

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

/// Whether YAML can hold a character as it is (its printable set, less
/// the byte order mark, which a document may not contain).
fn yaml_printable(c: char) -> bool {
    matches!(c, '\t' | '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{fefe}' | '\u{ff00}'..='\u{fffd}')
        || c >= '\u{10000}'
}

/// A YAML double-quoted scalar (a JSON string is one), with every character
/// YAML cannot hold as it is escaped.
fn quote(s: &str) -> String {
    let json = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    json.chars()
        .map(|c| {
            if yaml_printable(c) || c == '\n' {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect()
}

/// Text for a `#` comment: one line, nothing YAML cannot hold.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if yaml_printable(c) && c != '\t' {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", c as u32)
            }
        })
        .collect()
}

fn lang_of(code: &str) -> Option<String> {
    let l = code.split(['-', '_']).next()?.to_ascii_lowercase();
    (l.len() == 2 && l.chars().all(|c| c.is_ascii_lowercase())).then_some(l)
}

/// A text and its translations: `(language, text)`, the first in the
/// resource's language.
fn texts(obj: &Json, key: &str, default: &str) -> Option<Vec<(String, String)>> {
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

fn ext_of<'a>(obj: &'a Json, url: &str) -> Option<&'a Json> {
    obj["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == url)
}

fn sub<'a>(e: &'a Json, url: &str) -> Vec<&'a Json> {
    e["extension"]
        .as_array()
        .map(|xs| xs.iter().filter(|x| x["url"] == url).collect())
        .unwrap_or_default()
}

/// A text written by prom's export as `lang`/`content` sub-extensions.
fn sub_texts(e: &Json, url: &str) -> Vec<(String, String)> {
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

fn number_text(v: &Json) -> Option<String> {
    match v {
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether a code reads as a number and back unchanged (`"2"`, `"0.5"`).
fn numeric_code(c: &str) -> bool {
    c.parse::<rust_decimal::Decimal>()
        .is_ok_and(|d| crate::core::value::fmt_num(d) == c)
}

struct Opt {
    code: String,
    text: Option<Vec<(String, String)>>,
    score: Option<String>,
    exclusive: bool,
    not_applicable: bool,
}

type Texts = Vec<(String, String)>;

struct Item {
    id: String,
    kind: &'static str,
    text: Vec<(String, String)>,
    required: Option<bool>,
    options: Vec<Opt>,
    min: Option<String>,
    max: Option<String>,
    max_length: Option<u64>,
    step: Option<String>,
    unit: Option<Texts>,
    help: Option<Texts>,
    min_text: Option<Texts>,
    max_text: Option<Texts>,
    show_if: Option<String>,
    comments: Vec<String>,
}

struct Importer<'a> {
    lang: String,
    value_sets: &'a [Json],
    contained: Vec<Json>,
    /// linkId → prom id.
    ids: HashMap<String, String>,
    taken: HashSet<String>,
    items: Vec<Item>,
    /// linkId of every item whose answers are numbers (in conditions,
    /// every other answer is a quoted string).
    numeric: HashSet<String>,
    /// The option codes of every choice and multi item, by linkId.
    codes: HashMap<String, Vec<String>>,
    kinds: HashMap<String, &'static str>,
    notes: Vec<String>,
    /// Notes for the head of the file (not about one item).
    top: Vec<String>,
    /// Score items (read-only, calculated) met on the way.
    score_items: Vec<Json>,
}

impl Importer<'_> {
    /// A new prom id for an item; conditions find it by its `linkId` (the
    /// first item, if a `linkId` is used twice).
    fn id_for(&mut self, link: &str) -> String {
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

    fn top_note(&mut self, msg: String) {
        self.notes.push(msg.clone());
        self.top.push(msg);
    }

    fn note(&mut self, comments: &mut Vec<String>, msg: String) {
        self.notes.push(msg.clone());
        comments.push(msg);
    }

    /// The options of a choice item: `answerOption`, or the concepts of its
    /// value set when the file holds it.
    fn options(&mut self, it: &Json, comments: &mut Vec<String>) -> Vec<Opt> {
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
                        exclusive: flag(super::OPTION_EXCLUSIVE),
                        not_applicable: flag(super::PROM_NOT_APPLICABLE),
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

    /// An `enableWhen` list as a prom condition, or why not.
    fn condition(&self, it: &Json) -> Result<Option<String>, String> {
        let Some(list) = it["enableWhen"].as_array() else {
            return Ok(None);
        };
        let mut parts = Vec::new();
        for c in list {
            let q = c["question"].as_str().unwrap_or("");
            let kind = self.kinds.get(q).copied().unwrap_or("none");
            let id = self
                .ids
                .get(q)
                .filter(|_| !matches!(kind, "none" | "section" | "display"))
                .ok_or_else(|| {
                    format!("its condition asks about `{q}`, which is not an earlier question")
                })?;
            let op = c["operator"].as_str().unwrap_or("=");
            if op == "exists" {
                let yes = c["answerBoolean"].as_bool().unwrap_or(true);
                parts.push(if yes {
                    format!("answered({id})")
                } else {
                    format!("not answered({id})")
                });
                continue;
            }
            let op = match op {
                "=" | "!=" | "<" | "<=" | ">" | ">=" => op,
                other => return Err(format!("its condition uses the operator `{other}`")),
            };
            let numeric = self.numeric.contains(q);
            let mismatch = || {
                Err(format!(
                    "its condition compares `{q}` ({kind}) with another kind of answer"
                ))
            };
            let value = if let Some(code) = c["answerCoding"]["code"].as_str() {
                match self.codes.get(q) {
                    Some(codes) if !codes.iter().any(|x| x == code) => {
                        return Err(format!(
                            "its condition names `{code}`, which is not an option of `{q}`"
                        ));
                    }
                    Some(_) if numeric => code.to_string(),
                    Some(_) => quote_expr(code),
                    None if kind == "text" => quote_expr(code),
                    None => return mismatch(),
                }
            } else if let Some(b) = c["answerBoolean"].as_bool() {
                if kind != "boolean" {
                    return mismatch();
                }
                b.to_string()
            } else if let Some(n) =
                number_text(&c["answerInteger"]).or_else(|| number_text(&c["answerDecimal"]))
            {
                if !matches!(kind, "integer" | "decimal" | "slider") {
                    return mismatch();
                }
                n
            } else if let Some(t) = c["answerString"].as_str() {
                match self.codes.get(q) {
                    Some(codes) if codes.iter().any(|x| x == t) && !numeric => quote_expr(t),
                    None if kind == "text" => quote_expr(t),
                    _ => return mismatch(),
                }
            } else {
                return Err(format!(
                    "its condition on `{q}` compares with a kind of answer prom's conditions cannot name"
                ));
            };
            if matches!(op, "<" | "<=" | ">" | ">=") && !numeric {
                return Err(format!(
                    "its condition orders the answers of `{q}`, which are not numbers"
                ));
            }
            parts.push(match (kind, op) {
                ("multi", "=") => format!("{value} in {id}"),
                ("multi", "!=") => format!("not ({value} in {id})"),
                ("multi", _) => {
                    return Err(format!(
                        "its condition orders the answers of `{q}`, which has many"
                    ));
                }
                // FHIR's `!=` holds for an unanswered question; prom's
                // `!=` with null does not, `not (… = …)` does.
                (_, "!=") => format!("not ({id} = {value})"),
                _ => format!("{id} {op} {value}"),
            });
        }
        let join = if it["enableBehavior"] == "any" {
            " or "
        } else {
            " and "
        };
        Ok(match parts.len() {
            0 => None,
            1 => parts.pop(),
            _ => Some(
                parts
                    .iter()
                    .map(|p| format!("({p})"))
                    .collect::<Vec<_>>()
                    .join(join),
            ),
        })
    }

    fn walk(&mut self, list: &[Json], inherited: Option<String>) {
        for it in list {
            self.item(it, inherited.clone());
        }
    }

    fn item(&mut self, it: &Json, inherited: Option<String>) {
        let link = it["linkId"].as_str().unwrap_or("").to_string();
        let kind_in = it["type"].as_str().unwrap_or("");
        let mut comments = Vec::new();
        const CQF: &str = "http://hl7.org/fhir/StructureDefinition/cqf-expression";
        let calculated = ext_of(it, super::CALCULATED_EXPRESSION).or_else(|| ext_of(it, CQF));
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
                    && ext_of(c, super::ITEM_CONTROL)
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
        let step = ext_of(it, super::SLIDER_STEP)
            .and_then(|e| number_text(&e["valueInteger"]))
            .or_else(|| ext_of(it, super::PROM_STEP).and_then(|e| number_text(&e["valueDecimal"])));
        let unit = ext_of(it, super::UNIT)
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

/// An expression string literal.
fn quote_expr(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Writes a text: a plain string with one language, else a map.
fn text_yaml(t: &[(String, String)], langs: &[String]) -> String {
    if langs.len() == 1 {
        return quote(&t[0].1);
    }
    let parts: Vec<String> = langs
        .iter()
        .map(|l| {
            let s = t
                .iter()
                .find(|(x, _)| x == l)
                .or(t.first())
                .map(|(_, s)| s.as_str())
                .unwrap_or("");
            format!("{l}: {}", quote(s))
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
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
    let mut imp = Importer {
        lang: lang.clone(),
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
    };
    let items = q["item"].as_array().cloned().unwrap_or_default();
    imp.walk(&items, None);
    if imp.items.is_empty() {
        return Err("the Questionnaire has no item prom can ask".into());
    }
    // Languages: the resource's, then those every text has.
    let title = texts(q, "title", &lang)
        .or_else(|| {
            q["name"]
                .as_str()
                .map(|n| vec![(lang.clone(), n.to_string())])
        })
        .unwrap_or_else(|| vec![(lang.clone(), qid.clone())]);
    let mut all: Vec<&[(String, String)]> = vec![&title];
    for it in &imp.items {
        all.push(&it.text);
        for t in [&it.help, &it.unit, &it.min_text, &it.max_text]
            .into_iter()
            .flatten()
        {
            all.push(t);
        }
        for o in &it.options {
            if let Some(t) = &o.text {
                all.push(t);
            }
        }
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for t in &all {
        seen.extend(t.iter().map(|(l, _)| l.clone()));
    }
    let mut langs = vec![lang.clone()];
    for l in &seen {
        if *l != lang && all.iter().all(|t| t.iter().any(|(x, _)| x == l)) {
            langs.push(l.clone());
        }
    }
    let dropped: Vec<&String> = seen.iter().filter(|l| !langs.contains(l)).collect();
    if !dropped.is_empty() {
        imp.top_note(format!(
            "translations into {} were left out: not every text has one",
            dropped
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut y = String::new();
    let url = q["url"].as_str().unwrap_or("");
    let version_in = q["version"].as_str().unwrap_or("");
    let from = format!(
        "Imported from the FHIR Questionnaire {}{} by `prom import fhir`.",
        if url.is_empty() {
            q["id"].as_str().unwrap_or("")
        } else {
            url
        },
        if version_in.is_empty() {
            String::new()
        } else {
            format!(" (version {version_in})")
        }
    );
    y.push_str(&format!("# {}\n", comment(&from)));
    y.push_str("# Lines starting with `# import:` mark what could not be carried over.\n");
    if let Some(p) = q["publisher"].as_str() {
        y.push_str(&format!("# Publisher: {}\n", comment(p)));
    }
    if q["status"].as_str().is_some_and(|s| s != "active") {
        let status = format!(
            "the source's status is `{}`",
            q["status"].as_str().unwrap_or("")
        );
        y.push_str(&format!("# import: {}\n", comment(&status)));
    }
    for n in &imp.top {
        y.push_str(&format!("# import: {}\n", comment(n)));
    }
    y.push_str(&format!("id: {qid}\n"));
    let version = version_in.parse::<u32>().ok().filter(|v| *v > 0);
    if version.is_none() && !version_in.is_empty() {
        let why = format!("FHIR version `{version_in}` is not a whole number; prom's starts at 1");
        y.push_str(&format!("# import: {}\n", comment(&why)));
    }
    y.push_str(&format!("version: {}\n", version.unwrap_or(1)));
    y.push_str(&format!("title: {}\n", text_yaml(&title, &langs)));
    y.push_str(&format!("languages: [{}]\n", langs.join(", ")));
    if let Some(d) = texts(q, "description", &lang) {
        y.push_str(&format!("description: {}\n", text_yaml(&d, &langs)));
    }
    if !url.is_empty() {
        y.push_str(&format!(
            "source: {}\n",
            quote(&format!(
                "FHIR Questionnaire {url}{}",
                if version_in.is_empty() {
                    String::new()
                } else {
                    format!("|{version_in}")
                }
            ))
        ));
    }
    if let Some(c) = q["copyright"].as_str() {
        y.push_str(&format!("copyright: {}\n", quote(c)));
    }
    let tables: Vec<&Json> = q["extension"]
        .as_array()
        .map(|xs| {
            xs.iter()
                .filter(|e| e["url"] == super::PROM_TABLE)
                .collect()
        })
        .unwrap_or_default();
    if !tables.is_empty() {
        y.push_str("tables:\n");
        for t in tables {
            let name = sub(t, "name")
                .first()
                .and_then(|e| e["valueString"].as_str())
                .unwrap_or("");
            let entries: Vec<String> = sub(t, "entry")
                .iter()
                .filter_map(|e| {
                    let k = sub(e, "key").first().copied()?;
                    let key = number_text(&k["valueDecimal"])
                        .or_else(|| k["valueString"].as_str().map(quote))?;
                    let v = number_text(&sub(e, "value").first()?["valueDecimal"])?;
                    Some(format!("{key}: {v}"))
                })
                .collect();
            y.push_str(&format!("  {name}: {{{}}}\n", entries.join(", ")));
        }
    }
    y.push_str("items:\n");
    for it in &imp.items {
        for c in &it.comments {
            y.push_str(&format!("  # import: {}\n", comment(c)));
        }
        y.push_str(&format!("  - id: {}\n    type: {}\n", it.id, it.kind));
        y.push_str(&format!("    text: {}\n", text_yaml(&it.text, &langs)));
        if it.required == Some(false) {
            y.push_str("    required: false\n");
        }
        if let Some(m) = &it.min {
            y.push_str(&format!("    min: {m}\n"));
        }
        if let Some(m) = &it.max {
            y.push_str(&format!("    max: {m}\n"));
        }
        if let Some(m) = it.max_length {
            y.push_str(&format!("    max_length: {m}\n"));
        }
        if let Some(m) = &it.step {
            y.push_str(&format!("    step: {m}\n"));
        }
        for (key, t) in [
            ("help", &it.help),
            ("unit", &it.unit),
            ("min_text", &it.min_text),
            ("max_text", &it.max_text),
        ] {
            if let Some(t) = t {
                y.push_str(&format!("    {key}: {}\n", text_yaml(t, &langs)));
            }
        }
        if !it.options.is_empty() {
            let numeric = it.options.iter().all(|o| numeric_code(&o.code));
            y.push_str("    options:\n");
            for o in &it.options {
                let value = if numeric {
                    o.code.clone()
                } else {
                    quote(&o.code)
                };
                let text = o
                    .text
                    .clone()
                    .unwrap_or_else(|| vec![(lang.clone(), o.code.clone())]);
                let score = match &o.score {
                    Some(s) if !(numeric && *s == o.code) => format!(", score: {s}"),
                    _ => String::new(),
                };
                let mut flags = String::new();
                if o.exclusive {
                    flags.push_str(", exclusive: true");
                }
                if o.not_applicable {
                    flags.push_str(", not_applicable: true");
                }
                y.push_str(&format!(
                    "      - {{value: {value}, text: {}{score}{flags}}}\n",
                    text_yaml(&text, &langs)
                ));
            }
        }
        if let Some(c) = &it.show_if {
            y.push_str(&format!("    show_if: {}\n", quote(c)));
        }
    }
    // Scores and rules from prom's own extensions.
    let mut n_scores = 0;
    if !imp.score_items.is_empty() {
        y.push_str("scores:\n");
        for s in imp.score_items.clone() {
            let Some(def) = ext_of(&s, PROM_SCORE) else {
                continue;
            };
            n_scores += 1;
            let sid = prom_name(s["linkId"].as_str().unwrap_or("score"));
            y.push_str(&format!("  - id: {sid}\n"));
            if let Some(t) = texts(&s, "text", &lang)
                && t[0].1 != sid
            {
                y.push_str(&format!("    title: {}\n", text_yaml(&t, &langs)));
            }
            let one = |url: &str| sub(def, url).first().copied();
            let ids = |url: &str| -> Vec<String> {
                sub(def, url)
                    .iter()
                    .filter_map(|e| e["valueString"].as_str())
                    .map(|l| imp.ids.get(l).cloned().unwrap_or_else(|| prom_name(l)))
                    .collect()
            };
            let method = one("method")
                .and_then(|e| e["valueCode"].as_str())
                .unwrap_or("sum");
            let items = ids("item");
            if !items.is_empty() {
                y.push_str(&format!("    items: [{}]\n", items.join(", ")));
            }
            y.push_str(&format!("    method: {method}\n"));
            if let Some(e) = one("expr").and_then(|e| e["valueString"].as_str()) {
                y.push_str(&format!("    expr: {}\n", quote(e)));
            }
            let reverse = ids("reverse");
            if !reverse.is_empty() {
                y.push_str(&format!("    reverse: [{}]\n", reverse.join(", ")));
            }
            let allow = one("allow-missing").and_then(|e| e["valueInteger"].as_u64());
            let impute = one("impute")
                .and_then(|e| e["valueCode"].as_str())
                .map(|i| if i == "mean" { "mean" } else { "none" });
            if allow.is_some() || impute.is_some() {
                y.push_str(&format!(
                    "    missing: {{allow: {}, impute: {}}}\n",
                    allow.unwrap_or(0),
                    impute.unwrap_or("none")
                ));
            }
            if let Some(t) = one("transform").and_then(|e| e["valueString"].as_str()) {
                y.push_str(&format!("    transform: {}\n", quote(t)));
            }
            if let Some(r) = one("round").and_then(|e| e["valueInteger"].as_u64()) {
                y.push_str(&format!("    round: {r}\n"));
            }
            let bands = sub(def, "band");
            if !bands.is_empty() {
                y.push_str("    bands:\n");
                for b in bands {
                    let from = sub(b, "from")
                        .first()
                        .and_then(|e| number_text(&e["valueDecimal"]));
                    let bid = sub(b, "id")
                        .first()
                        .and_then(|e| e["valueCode"].as_str())
                        .map(prom_name);
                    let (Some(from), Some(bid)) = (from, bid) else {
                        continue;
                    };
                    let t = sub_texts(b, "text");
                    let text = if t.is_empty() {
                        String::new()
                    } else {
                        format!(", text: {}", text_yaml(&t, &langs))
                    };
                    y.push_str(&format!("      - {{from: {from}, id: {bid}{text}}}\n"));
                }
            }
        }
    }
    let rules: Vec<&Json> = q["extension"]
        .as_array()
        .map(|xs| xs.iter().filter(|e| e["url"] == PROM_RULE).collect())
        .unwrap_or_default();
    if !rules.is_empty() {
        y.push_str("rules:\n");
        for r in &rules {
            let get = |url: &str, key: &str| {
                sub(r, url)
                    .first()
                    .and_then(|e| e[key].as_str())
                    .unwrap_or("")
                    .to_string()
            };
            y.push_str(&format!("  - id: {}\n", get("id", "valueCode")));
            y.push_str(&format!(
                "    when: {}\n",
                quote(&get("when", "valueString"))
            ));
            y.push_str(&format!("    level: {}\n", get("level", "valueCode")));
            y.push_str(&format!(
                "    text: {}\n",
                text_yaml(&sub_texts(r, "text"), &langs)
            ));
            let pt = sub_texts(r, "patient-text");
            if !pt.is_empty() {
                y.push_str(&format!("    patient_text: {}\n", text_yaml(&pt, &langs)));
            }
            let src = get("source", "valueString");
            if !src.is_empty() {
                y.push_str(&format!("    source: {}\n", quote(&src)));
            }
        }
    }
    let items = imp.items.len();
    Ok(Imported {
        id: qid,
        yaml: y,
        notes: imp.notes,
        items,
        scores: n_scores,
        rules: rules.len(),
    })
}

#[cfg(test)]
mod tests {
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
