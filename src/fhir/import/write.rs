//! Writing prom's YAML: scalars and comments that no text from elsewhere
//! can break, the head of the file and the items.

use serde_json::Value as Json;

use super::items::Item;
use super::read::{Texts, numeric_code, texts};

/// Whether YAML can hold a character as it is (its printable set, less
/// the byte order mark, which a document may not contain).
pub(super) fn yaml_printable(c: char) -> bool {
    matches!(c, '\t' | '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{fefe}' | '\u{ff00}'..='\u{fffd}')
        || c >= '\u{10000}'
}

/// A YAML double-quoted scalar (a JSON string is one), with every character
/// YAML cannot hold as it is escaped.
pub(super) fn quote(s: &str) -> String {
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
pub(super) fn comment(s: &str) -> String {
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

/// An expression string literal (`'it''s'` → `'it\\'s'`).
pub(super) fn quote_expr(s: &str) -> String {
    format!("'{}'", crate::fhir::escape_quoted(s))
}

/// Writes a text: a plain string with one language, else a map.
pub(super) fn text_yaml(t: &[(String, String)], langs: &[String]) -> String {
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

/// The head of the file: where it came from, what was not carried over,
/// and the questionnaire's own keys.
pub(super) fn head(
    y: &mut String,
    q: &Json,
    qid: &str,
    title: &Texts,
    langs: &[String],
    notes: &[String],
) {
    let lang = &langs[0];
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
    let mut notes = notes.to_vec();
    if let Some(s) = q["status"].as_str().filter(|s| *s != "active") {
        notes.insert(0, format!("the source's status is `{s}`"));
    }
    for n in &notes {
        y.push_str(&format!("# import: {}\n", comment(n)));
    }
    y.push_str(&format!("id: {qid}\n"));
    let version = version_in.parse::<u32>().ok().filter(|v| *v > 0);
    if version.is_none() && !version_in.is_empty() {
        let why = format!("FHIR version `{version_in}` is not a whole number; prom's starts at 1");
        y.push_str(&format!("# import: {}\n", comment(&why)));
    }
    y.push_str(&format!("version: {}\n", version.unwrap_or(1)));
    y.push_str(&format!("title: {}\n", text_yaml(title, langs)));
    y.push_str(&format!("languages: [{}]\n", langs.join(", ")));
    if let Some(d) = texts(q, "description", lang) {
        y.push_str(&format!("description: {}\n", text_yaml(&d, langs)));
    }
    if !url.is_empty() {
        let version = if version_in.is_empty() {
            String::new()
        } else {
            format!("|{version_in}")
        };
        let source = format!("FHIR Questionnaire {url}{version}");
        y.push_str(&format!("source: {}\n", quote(&source)));
    }
    if let Some(c) = q["copyright"].as_str() {
        y.push_str(&format!("copyright: {}\n", quote(c)));
    }
}

/// The `items:` list, each with its `# import:` comments above it.
pub(super) fn items(y: &mut String, items: &[Item], langs: &[String]) {
    y.push_str("items:\n");
    for it in items {
        for c in &it.comments {
            y.push_str(&format!("  # import: {}\n", comment(c)));
        }
        y.push_str(&format!("  - id: {}\n    type: {}\n", it.id, it.kind));
        y.push_str(&format!("    text: {}\n", text_yaml(&it.text, langs)));
        if it.required == Some(false) {
            y.push_str("    required: false\n");
        }
        for (key, v) in [("min", &it.min), ("max", &it.max), ("step", &it.step)] {
            if let Some(v) = v {
                y.push_str(&format!("    {key}: {v}\n"));
            }
        }
        if let Some(m) = it.max_length {
            y.push_str(&format!("    max_length: {m}\n"));
        }
        for (key, t) in [
            ("help", &it.help),
            ("unit", &it.unit),
            ("min_text", &it.min_text),
            ("max_text", &it.max_text),
        ] {
            if let Some(t) = t {
                y.push_str(&format!("    {key}: {}\n", text_yaml(t, langs)));
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
                    .unwrap_or_else(|| vec![(langs[0].clone(), o.code.clone())]);
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
                    text_yaml(&text, langs)
                ));
            }
        }
        if let Some(c) = &it.show_if {
            y.push_str(&format!("    show_if: {}\n", quote(c)));
        }
    }
}
