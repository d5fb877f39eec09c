//! `enableWhen` as a prom `show_if`, keeping FHIR's meaning (`!=` holds
//! when unanswered), or the reason it cannot be: a condition on a later or
//! unknown question, on an option that does not exist, or comparing with
//! another kind of answer.

use serde_json::Value as Json;

use super::items::Importer;
use super::read::number_text;
use super::write::quote_expr;

impl Importer<'_> {
    /// An `enableWhen` list as a prom condition, or why not.
    pub(super) fn condition(&self, it: &Json) -> Result<Option<String>, String> {
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
}
