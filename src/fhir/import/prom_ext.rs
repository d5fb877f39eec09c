//! prom's own extensions read back (a file prom exported): look-up
//! tables, scores and rules, which FHIR has no place for. Every name is made
//! a prom name and every expression quoted, so a mangled extension gives a
//! compile error to fix, never a broken file.

use std::collections::HashMap;

use serde_json::Value as Json;

use super::prom_name;
use super::read::{ext_of, number_text, sub, sub_texts, texts};
use super::write::{quote, text_yaml};
use crate::fhir::{PROM_RULE, PROM_SCORE, PROM_TABLE};

/// The root extensions with `url`.
fn root<'a>(q: &'a Json, url: &str) -> Vec<&'a Json> {
    q["extension"]
        .as_array()
        .map(|xs| xs.iter().filter(|e| e["url"] == url).collect())
        .unwrap_or_default()
}

fn first<'a>(e: &'a Json, url: &str, key: &str) -> Option<&'a str> {
    sub(e, url).first().and_then(|x| x[key].as_str())
}

/// `tables:` from the `prom-table` extensions.
pub(super) fn tables(y: &mut String, q: &Json) {
    let tables = root(q, PROM_TABLE);
    if tables.is_empty() {
        return;
    }
    y.push_str("tables:\n");
    for t in tables {
        let name = prom_name(first(t, "name", "valueString").unwrap_or("table"));
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

/// `scores:` from the score items that carry a `prom-score` definition;
/// `ids` maps linkIds to the items' prom ids. Returns how many.
pub(super) fn scores(
    y: &mut String,
    score_items: &[Json],
    ids: &HashMap<String, String>,
    langs: &[String],
) -> usize {
    let defs: Vec<(&Json, &Json)> = score_items
        .iter()
        .filter_map(|s| Some((s, ext_of(s, PROM_SCORE)?)))
        .collect();
    if defs.is_empty() {
        return 0;
    }
    y.push_str("scores:\n");
    for (s, def) in &defs {
        let sid = prom_name(s["linkId"].as_str().unwrap_or("score"));
        y.push_str(&format!("  - id: {sid}\n"));
        if let Some(t) = texts(s, "text", &langs[0])
            && t[0].1 != sid
        {
            y.push_str(&format!("    title: {}\n", text_yaml(&t, langs)));
        }
        let one = |url: &str| sub(def, url).first().copied();
        let item_ids = |url: &str| -> Vec<String> {
            sub(def, url)
                .iter()
                .filter_map(|e| e["valueString"].as_str())
                .map(|l| ids.get(l).cloned().unwrap_or_else(|| prom_name(l)))
                .collect()
        };
        let items = item_ids("item");
        if !items.is_empty() {
            y.push_str(&format!("    items: [{}]\n", items.join(", ")));
        }
        let method = match first(def, "method", "valueCode") {
            Some("mean") => "mean",
            Some("expr") => "expr",
            _ => "sum",
        };
        y.push_str(&format!("    method: {method}\n"));
        if let Some(e) = first(def, "expr", "valueString") {
            y.push_str(&format!("    expr: {}\n", quote(e)));
        }
        let reverse = item_ids("reverse");
        if !reverse.is_empty() {
            y.push_str(&format!("    reverse: [{}]\n", reverse.join(", ")));
        }
        let allow = one("allow-missing").and_then(|e| e["valueInteger"].as_u64());
        let impute =
            first(def, "impute", "valueCode").map(|i| if i == "mean" { "mean" } else { "none" });
        if allow.is_some() || impute.is_some() {
            y.push_str(&format!(
                "    missing: {{allow: {}, impute: {}}}\n",
                allow.unwrap_or(0),
                impute.unwrap_or("none")
            ));
        }
        if let Some(t) = first(def, "transform", "valueString") {
            y.push_str(&format!("    transform: {}\n", quote(t)));
        }
        if let Some(r) = one("round").and_then(|e| e["valueInteger"].as_u64()) {
            y.push_str(&format!("    round: {r}\n"));
        }
        let bands = sub(def, "band");
        if !bands.is_empty() {
            y.push_str("    bands:\n");
        }
        for b in bands {
            let from = sub(b, "from")
                .first()
                .and_then(|e| number_text(&e["valueDecimal"]));
            let bid = first(b, "id", "valueCode").map(prom_name);
            let (Some(from), Some(bid)) = (from, bid) else {
                continue;
            };
            let t = sub_texts(b, "text");
            let text = if t.is_empty() {
                String::new()
            } else {
                format!(", text: {}", text_yaml(&t, langs))
            };
            y.push_str(&format!("      - {{from: {from}, id: {bid}{text}}}\n"));
        }
    }
    defs.len()
}

/// `rules:` from the `prom-rule` extensions. Returns how many.
pub(super) fn rules(y: &mut String, q: &Json, langs: &[String]) -> usize {
    let rules = root(q, PROM_RULE);
    if rules.is_empty() {
        return 0;
    }
    y.push_str("rules:\n");
    for r in &rules {
        let id = prom_name(first(r, "id", "valueCode").unwrap_or("rule"));
        y.push_str(&format!("  - id: {id}\n"));
        let when = first(r, "when", "valueString").unwrap_or("");
        y.push_str(&format!("    when: {}\n", quote(when)));
        // An unknown level errs towards yellow.
        let level = first(r, "level", "valueCode")
            .filter(|l| matches!(*l, "red" | "yellow" | "green"))
            .unwrap_or("yellow");
        y.push_str(&format!("    level: {level}\n"));
        y.push_str(&format!(
            "    text: {}\n",
            text_yaml(&sub_texts(r, "text"), langs)
        ));
        let pt = sub_texts(r, "patient-text");
        if !pt.is_empty() {
            y.push_str(&format!("    patient_text: {}\n", text_yaml(&pt, langs)));
        }
        if let Some(src) = first(r, "source", "valueString").filter(|s| !s.is_empty()) {
            y.push_str(&format!("    source: {}\n", quote(src)));
        }
    }
    rules.len()
}
