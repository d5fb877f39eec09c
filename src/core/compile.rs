//! The compiler: a YAML (or JSON) tree in, a [`Questionnaire`] and every
//! diagnostic out. It never stops at the first problem; it stops building
//! the questionnaire as soon as any error is known, but keeps checking.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

use super::diag::{Diagnostic, Pos, closest};
use super::expr::check::{Scope, Ty, check};
use super::expr::range::{Abs, RangeCx, can_be_true, range};
use super::expr::syntax::{Expr, ExprKind, Slot, parse};
use super::model::*;
use super::testing::{Expect, HistoryCase, TestCase};
use super::value::{Value, fmt_num, parse_date, round_half_away};
use super::yaml::{self, Node, NodeKind};

/// The outcome of compiling one file: the questionnaire when there was no
/// error, and all diagnostics (warnings too) in file order.
pub struct Compiled {
    pub questionnaire: Option<Questionnaire>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Compiles a questionnaire written in YAML.
pub fn compile_yaml(source: &str) -> Compiled {
    let parsed = yaml::parse(source);
    let mut cx = Cx {
        diags: parsed.diagnostics,
        langs: vec!["en".into()],
        rule_when_pos: Vec::new(),
    };
    let q = match &parsed.root {
        Some(root) => cx.questionnaire(root),
        None => {
            if !cx.diags.iter().any(Diagnostic::is_error) {
                cx.err(Pos::new(1, 1), "", "the file is empty; a questionnaire needs at least `id`, `version`, `title` and `items`");
            }
            None
        }
    };
    cx.finish(q)
}

/// Compiles a questionnaire from its compiled JSON form (as stored with each
/// version, and as the API shows it).
pub fn compile_json(v: &serde_json::Value) -> Compiled {
    let root = Node::from_json(v);
    let mut cx = Cx {
        diags: Vec::new(),
        langs: vec!["en".into()],
        rule_when_pos: Vec::new(),
    };
    let q = cx.questionnaire(&root);
    cx.finish(q)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The keys of a mapping, checked against what is allowed there.
struct Fields<'n> {
    entries: Vec<(&'n str, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

/// A pending expression: where it was written and what it must be.
struct Pending<'n> {
    node: &'n Node,
    path: String,
}

struct Cx {
    diags: Vec<Diagnostic>,
    langs: Vec<String>,
    /// Where each compiled rule's `when` stands, for warnings about it.
    rule_when_pos: Vec<Pos>,
}

impl Cx {
    fn err(&mut self, pos: Pos, path: &str, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(pos, path, msg));
    }

    fn err_hint(&mut self, pos: Pos, path: &str, msg: impl Into<String>, hint: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(pos, path, msg).with_hint(hint));
    }

    fn warn(&mut self, pos: Pos, path: &str, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(pos, path, msg));
    }

    fn errors(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    fn finish(mut self, q: Option<Questionnaire>) -> Compiled {
        self.diags.sort_by_key(|d| d.pos);
        self.diags.dedup();
        let failed = self.diags.iter().any(Diagnostic::is_error);
        Compiled {
            questionnaire: if failed { None } else { q },
            diagnostics: self.diags,
        }
    }

    fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
        required: &[&str],
    ) -> Option<Fields<'n>> {
        if node.kind == NodeKind::Bad {
            return None;
        }
        let NodeKind::Map(entries) = &node.kind else {
            self.err(
                node.pos,
                path,
                format!(
                    "expected a mapping with keys such as {}, but found {}",
                    allowed
                        .iter()
                        .take(3)
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    node.kind_name()
                ),
            );
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let Some(key) = k.as_str() else {
                self.err(
                    k.pos,
                    path,
                    format!("`{}` is not a valid key here", k.key_text()),
                );
                continue;
            };
            if !allowed.contains(&key) {
                let p = join(path, key);
                match closest(key, allowed.iter().copied()) {
                    Some(c) => self.diags.push(
                        Diagnostic::error(k.pos, p, format!("unknown key `{key}`"))
                            .with_hint(format!("did you mean `{c}`?"))
                            .with_width(key.chars().count() as u32),
                    ),
                    None => self.diags.push(
                        Diagnostic::error(k.pos, p, format!("unknown key `{key}`"))
                            .with_hint(format!(
                                "the keys allowed here are {}",
                                allowed
                                    .iter()
                                    .map(|k| format!("`{k}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                            .with_width(key.chars().count() as u32),
                    ),
                }
                continue;
            }
            out.push((key, v));
        }
        for r in required {
            if !out.iter().any(|(k, _)| k == r) {
                self.err(
                    node.pos,
                    &join(path, r),
                    format!("missing required key `{r}`"),
                );
            }
        }
        Some(Fields { entries: out })
    }

    fn ident(&mut self, node: &Node, path: &str, what: &str) -> Option<String> {
        if node.kind == NodeKind::Bad {
            return None;
        }
        match &node.kind {
            NodeKind::Str(s) if is_ident(s) => Some(s.clone()),
            NodeKind::Str(s) => {
                self.err_hint(
                    node.pos,
                    path,
                    format!("`{s}` is not a valid {what}"),
                    "names start with a lowercase letter and hold only a-z, 0-9 and _",
                );
                None
            }
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!(
                        "a {what} must be a name such as `q1`, but found {}",
                        node.kind_name()
                    ),
                );
                None
            }
        }
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        if node.kind == NodeKind::Bad {
            return None;
        }
        match &node.kind {
            NodeKind::Str(s) => Some(s.clone()),
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("expected a string, but found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn decimal(&mut self, node: &Node, path: &str) -> Option<Decimal> {
        if node.kind == NodeKind::Bad {
            return None;
        }
        match &node.kind {
            NodeKind::Num(d) => Some(*d),
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("expected a number, but found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn uint(&mut self, node: &Node, path: &str, what: &str, min: u32) -> Option<u32> {
        if node.kind == NodeKind::Bad {
            return None;
        }
        match &node.kind {
            NodeKind::Num(d) if d.fract().is_zero() && *d >= Decimal::from(min) => {
                match u32::try_from(*d) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        self.err(node.pos, path, format!("{what} is too large"));
                        None
                    }
                }
            }
            _ => {
                let which = if min == 0 { "0 or more" } else { "1 or more" };
                self.err(
                    node.pos,
                    path,
                    format!("{what} must be a whole number, {which}"),
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        if node.kind == NodeKind::Bad {
            return None;
        }
        match &node.kind {
            NodeKind::Bool(b) => Some(*b),
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("expected true or false, but found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn text(&mut self, node: &Node, path: &str) -> Option<Text> {
        if node.kind == NodeKind::Bad {
            return None;
        }
        match &node.kind {
            NodeKind::Str(s) if self.langs.len() == 1 => {
                Some(Text(vec![(self.langs[0].clone(), s.clone())]))
            }
            NodeKind::Str(_) => {
                let langs = self.langs.join(", ");
                let example = self
                    .langs
                    .iter()
                    .map(|l| format!("{l}: \"...\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.err_hint(
                    node.pos,
                    path,
                    format!("this text must be given in every language ({langs})"),
                    format!("write {{{example}}}"),
                );
                None
            }
            NodeKind::Map(entries) => {
                let mut ok = true;
                let mut out = Vec::new();
                for (k, v) in entries {
                    let key = k.key_text();
                    if !self.langs.contains(&key) {
                        ok = false;
                        let langs = self.langs.join(", ");
                        self.err_hint(
                            k.pos,
                            &join(path, &key),
                            format!(
                                "`{key}` is not one of the questionnaire's languages ({langs})"
                            ),
                            "add it to `languages` or remove this translation",
                        );
                    } else if let Some(s) = self.string(v, &join(path, &key)) {
                        out.push((key, s));
                    } else {
                        ok = false;
                    }
                }
                let langs = self.langs.clone();
                for l in &langs {
                    if !entries.iter().any(|(k, _)| k.key_text() == *l) {
                        ok = false;
                        self.err(node.pos, path, format!("the `{l}` translation is missing"));
                    }
                }
                if !ok {
                    return None;
                }
                // Keep the declared language order, whatever the file's order.
                out.sort_by_key(|(l, _)| langs.iter().position(|x| x == l));
                Some(Text(out))
            }
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("expected a text, but found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn opt_text(&mut self, f: &Fields, key: &str, path: &str) -> Option<Text> {
        f.get(key).and_then(|n| self.text(n, &join(path, key)))
    }

    fn list<'n>(&mut self, node: &'n Node, path: &str) -> &'n [Node] {
        if node.kind == NodeKind::Bad {
            return &[];
        }
        match &node.kind {
            NodeKind::Seq(items) => items,
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("expected a list, but found {}", node.kind_name()),
                );
                &[]
            }
        }
    }

    fn languages(&mut self, node: &Node, path: &str) {
        let items = self.list(node, path);
        let mut langs = Vec::new();
        for (i, n) in items.iter().enumerate() {
            let p = index(path, i);
            match n.as_str() {
                Some(s) if s.len() == 2 && s.chars().all(|c| c.is_ascii_lowercase()) => {
                    if langs.contains(&s.to_string()) {
                        self.err(n.pos, &p, format!("the language `{s}` is listed twice"));
                    } else {
                        langs.push(s.to_string());
                    }
                }
                _ => self.err_hint(
                    n.pos,
                    &p,
                    format!("`{}` is not a language code", n.key_text()),
                    "use two lowercase letters, such as `da` or `en`",
                ),
            }
        }
        if items.is_empty() && matches!(node.kind, NodeKind::Seq(_)) {
            self.err(
                node.pos,
                path,
                "`languages` must name at least one language",
            );
        }
        if !langs.is_empty() {
            self.langs = langs;
        }
    }

    fn options(&mut self, node: &Node, path: &str) -> Vec<ChoiceOption> {
        let items = self.list(node, path);
        if items.is_empty() && matches!(node.kind, NodeKind::Seq(_)) {
            self.err(node.pos, path, "an option list needs at least one option");
        }
        let mut out: Vec<ChoiceOption> = Vec::new();
        let mut kind: Option<(bool, Pos)> = None;
        for (i, n) in items.iter().enumerate() {
            let p = index(path, i);
            let Some(f) = self.fields(
                n,
                &p,
                &["value", "text", "score", "exclusive", "not_applicable"],
                &["value", "text"],
            ) else {
                continue;
            };
            let value = f.get("value").and_then(|v| match &v.kind {
                NodeKind::Num(d) => Some((Value::Num(*d), v)),
                NodeKind::Str(s) => Some((Value::Str(s.clone()), v)),
                NodeKind::Bad => None,
                _ => {
                    self.err(
                        v.pos,
                        &join(&p, "value"),
                        format!(
                            "an option's value must be a number or a string, but found {}",
                            v.kind_name()
                        ),
                    );
                    None
                }
            });
            let text = self.opt_text(&f, "text", &p);
            let score = f
                .get("score")
                .and_then(|s| self.decimal(s, &join(&p, "score")));
            let exclusive = f
                .get("exclusive")
                .and_then(|b| self.boolean(b, &join(&p, "exclusive")))
                .unwrap_or(false);
            let not_applicable = f
                .get("not_applicable")
                .and_then(|b| self.boolean(b, &join(&p, "not_applicable")))
                .unwrap_or(false);
            let (Some((value, vnode)), Some(text)) = (value, text) else {
                continue;
            };
            let is_num = matches!(value, Value::Num(_));
            match kind {
                None => kind = Some((is_num, vnode.pos)),
                Some((k, first)) if k != is_num => self.err_hint(
                    vnode.pos,
                    &join(&p, "value"),
                    "the values of one option list must all be numbers or all be strings",
                    format!("the first value (line {}) is of the other kind", first.line),
                ),
                _ => {}
            }
            if out.iter().any(|o| o.value.same(&value)) {
                self.err(
                    vnode.pos,
                    &join(&p, "value"),
                    format!("the value {value} is used by another option in this list"),
                );
            }
            out.push(ChoiceOption {
                value,
                text,
                score,
                exclusive,
                not_applicable,
            });
        }
        out
    }

    fn questionnaire(&mut self, root: &Node) -> Option<Questionnaire> {
        let f = self.fields(
            root,
            "",
            &[
                "id",
                "version",
                "title",
                "languages",
                "description",
                "instructions",
                "source",
                "license",
                "copyright",
                "scales",
                "tables",
                "items",
                "scores",
                "rules",
                "tests",
            ],
            &["id", "version", "title", "items"],
        )?;
        if let Some(n) = f.get("languages") {
            self.languages(n, "languages");
        }
        let id = f
            .get("id")
            .and_then(|n| self.ident(n, "id", "questionnaire id"));
        let version = f
            .get("version")
            .and_then(|n| self.uint(n, "version", "`version`", 1));
        let title = self.opt_text(&f, "title", "");
        let description = self.opt_text(&f, "description", "");
        let instructions = self.opt_text(&f, "instructions", "");
        let mut strings = [None, None, None];
        for (slot, key) in strings.iter_mut().zip(["source", "license", "copyright"]) {
            *slot = f.get(key).and_then(|n| self.string(n, key));
        }
        let [source, license, copyright] = strings;

        // Scales.
        let mut scales: HashMap<String, Vec<ChoiceOption>> = HashMap::new();
        if let Some(n) = f.get("scales") {
            if let NodeKind::Map(entries) = &n.kind {
                for (k, v) in entries {
                    let p = join("scales", &k.key_text());
                    if let Some(name) = self.ident(k, &p, "scale name") {
                        let opts = self.options(v, &p);
                        scales.insert(name, opts);
                    }
                }
            } else {
                self.err(
                    n.pos,
                    "scales",
                    format!(
                        "`scales` must map names to option lists, but found {}",
                        n.kind_name()
                    ),
                );
            }
        }

        // Tables.
        let mut tables = Vec::new();
        if let Some(n) = f.get("tables") {
            if let NodeKind::Map(entries) = &n.kind {
                for (k, v) in entries {
                    let p = join("tables", &k.key_text());
                    let Some(name) = self.ident(k, &p, "table name") else {
                        continue;
                    };
                    let NodeKind::Map(rows) = &v.kind else {
                        self.err(
                            v.pos,
                            &p,
                            format!("a table maps keys to numbers, but found {}", v.kind_name()),
                        );
                        continue;
                    };
                    let mut entries = Vec::new();
                    for (rk, rv) in rows {
                        let rp = join(&p, &rk.key_text());
                        let key = match &rk.kind {
                            NodeKind::Num(d) => Value::Num(*d),
                            NodeKind::Str(s) => Value::Str(s.clone()),
                            _ => {
                                self.err(rk.pos, &rp, "a table key must be a number or a string");
                                continue;
                            }
                        };
                        if entries.iter().any(|(k, _): &(Value, Decimal)| k.same(&key)) {
                            self.err(rk.pos, &rp, format!("the key {key} is given twice"));
                            continue;
                        }
                        if let Some(val) = self.decimal(rv, &rp) {
                            entries.push((key, val));
                        }
                    }
                    tables.push(Table { name, entries });
                }
            } else {
                self.err(
                    n.pos,
                    "tables",
                    format!(
                        "`tables` must map names to tables, but found {}",
                        n.kind_name()
                    ),
                );
            }
        }

        // Items, then scores and rules (their expressions come later, once
        // every name is known).
        let mut items = Vec::new();
        let mut show_ifs: Vec<Option<Pending>> = Vec::new();
        let mut item_paths = Vec::new();
        let item_nodes = f.get("items").map(|n| self.list(n, "items")).unwrap_or(&[]);
        if item_nodes.is_empty()
            && let Some(n) = f.get("items")
            && matches!(n.kind, NodeKind::Seq(_))
        {
            self.err(n.pos, "items", "a questionnaire needs at least one item");
        }
        let mut ids: HashMap<String, (String, Pos)> = HashMap::new();
        let mut item_failed = false;
        for (i, n) in item_nodes.iter().enumerate() {
            let p = index("items", i);
            match self.item(n, &p, &scales, &mut ids) {
                Some((item, show_if)) => {
                    items.push(item);
                    show_ifs.push(show_if);
                    item_paths.push(p);
                }
                None => item_failed = true,
            }
        }

        let score_nodes = f
            .get("scores")
            .map(|n| self.list(n, "scores"))
            .unwrap_or(&[]);
        let rule_nodes = f.get("rules").map(|n| self.list(n, "rules")).unwrap_or(&[]);
        // Score and rule ids first, so that expressions may refer forward.
        let mut score_ids = Vec::new();
        for (i, n) in score_nodes.iter().enumerate() {
            score_ids.push(self.declared_id(n, &index("scores", i), "score", &mut ids));
        }
        let mut rule_ids = Vec::new();
        for (i, n) in rule_nodes.iter().enumerate() {
            rule_ids.push(self.declared_id(n, &index("rules", i), "rule", &mut ids));
        }

        // Names and their types.
        let item_index: HashMap<String, usize> = items
            .iter()
            .enumerate()
            .map(|(i, it): (usize, &Item)| (it.id.clone(), i))
            .collect();
        let item_types: Vec<Ty> = items.iter().map(item_type).collect();
        let score_names: Vec<&str> = score_ids
            .iter()
            .map(|s| s.as_deref().unwrap_or("\u{0}"))
            .collect();
        let rule_names: Vec<&str> = rule_ids
            .iter()
            .map(|s| s.as_deref().unwrap_or("\u{0}"))
            .collect();
        let table_names: Vec<&str> = tables.iter().map(|t: &Table| t.name.as_str()).collect();
        let mut all_names: Vec<&str> = items
            .iter()
            .filter(|it| it.kind.answerable())
            .map(|it| it.id.as_str())
            .collect();
        all_names.extend(score_names.iter().copied());
        let resolve = |name: &str| -> Option<(Slot, Ty)> {
            if let Some(&i) = item_index.get(name) {
                if items[i].kind.answerable() {
                    return Some((Slot::Item(i), item_types[i].clone()));
                }
                return None;
            }
            score_names
                .iter()
                .position(|s| *s == name)
                .map(|j| (Slot::Score(j), Ty::Num))
        };
        let scope = |history: bool, raw: bool| Scope {
            resolve: &resolve,
            names: &all_names,
            tables: &table_names,
            scores: &score_names,
            rules: &rule_names,
            history,
            raw,
        };

        // show_if.
        let mut show_if_exprs = Vec::new();
        for pending in &show_ifs {
            show_if_exprs.push(
                pending.as_ref().and_then(|p| {
                    self.expression(p.node, &p.path, &scope(false, false), Want::Bool)
                }),
            );
        }

        // Scores.
        let mut scores = Vec::new();
        let mut score_failed = false;
        for (i, n) in score_nodes.iter().enumerate() {
            let p = index("scores", i);
            match self.score(n, &p, &items, &item_index, &scope) {
                Some(s) => scores.push(s),
                None => score_failed = true,
            }
        }

        // Rules.
        let mut rules = Vec::new();
        let mut rule_failed = false;
        for (i, n) in rule_nodes.iter().enumerate() {
            let p = index("rules", i);
            match self.rule(n, &p, &scope(true, false)) {
                Some(r) => {
                    let when = child(n, "when");
                    self.rule_when_pos
                        .push(when.map(|w| w.verbatim.unwrap_or(w.pos)).unwrap_or(n.pos));
                    rules.push(r)
                }
                None => rule_failed = true,
            }
        }
        let errors_before_tests = self.errors();

        let (Some(id), Some(version), Some(title)) = (id, version, title) else {
            return None;
        };
        if item_failed || score_failed || rule_failed || errors_before_tests > 0 {
            // Tests can still be checked for their shape.
            if let Some(n) = f.get("tests") {
                self.tests_shape_only(n);
            }
            return None;
        }
        for (item, e) in items.iter_mut().zip(show_if_exprs) {
            item.show_if = e;
        }

        // Dependencies between items' visibility and scores: no cycles.
        let item_sites: Vec<(Pos, String)> = show_ifs
            .iter()
            .zip(&item_paths)
            .map(|(s, p)| match s {
                Some(s) => (s.node.pos, s.path.clone()),
                None => (Pos::default(), p.clone()),
            })
            .collect();
        let order = self.order(&items, &item_sites, &scores, score_nodes)?;

        let mut q = Questionnaire {
            id,
            version,
            title,
            languages: self.langs.clone(),
            description,
            instructions,
            source,
            license,
            copyright,
            tables,
            items,
            scores,
            rules,
            tests: Vec::new(),
            order,
            item_index,
            uses_history: false,
            history_names: Vec::new(),
            hash: String::new(),
        };
        self.ranges(&mut q, score_nodes);
        (q.uses_history, q.history_names) = history_reads(&q.rules);
        if let Some(n) = f.get("tests") {
            q.tests = self.tests(n, &q);
        }
        let canonical = q.to_json().to_string();
        q.hash = hex::encode(Sha256::digest(canonical.as_bytes()));
        Some(q)
    }

    /// Reads the `id` of a score or rule and checks it is unique.
    fn declared_id(
        &mut self,
        n: &Node,
        path: &str,
        what: &str,
        ids: &mut HashMap<String, (String, Pos)>,
    ) -> Option<String> {
        let NodeKind::Map(entries) = &n.kind else {
            return None;
        };
        let (_, idn) = entries.iter().find(|(k, _)| k.as_str() == Some("id"))?;
        let id = self.ident(idn, &join(path, "id"), &format!("{what} id"))?;
        self.unique(&id, what, idn.pos, &join(path, "id"), ids);
        Some(id)
    }

    fn unique(
        &mut self,
        id: &str,
        what: &str,
        pos: Pos,
        path: &str,
        ids: &mut HashMap<String, (String, Pos)>,
    ) {
        if let Some((other, opos)) = ids.get(id) {
            let msg = format!(
                "the id `{id}` is already used by {other} on line {}",
                opos.line
            );
            self.err_hint(
                pos,
                path,
                msg,
                "items, scores and rules share one set of ids; give this one another id",
            );
        } else {
            ids.insert(id.to_string(), (format!("the {what}"), pos));
        }
    }

    fn item<'n>(
        &mut self,
        n: &'n Node,
        p: &str,
        scales: &HashMap<String, Vec<ChoiceOption>>,
        ids: &mut HashMap<String, (String, Pos)>,
    ) -> Option<(Item, Option<Pending<'n>>)> {
        const KEYS: &[&str] = &[
            "id",
            "type",
            "text",
            "help",
            "required",
            "options",
            "scale",
            "min",
            "max",
            "step",
            "unit",
            "min_text",
            "max_text",
            "max_length",
            "show_if",
        ];
        let f = self.fields(n, p, KEYS, &["id", "type", "text"])?;
        let id = f
            .get("id")
            .and_then(|x| self.ident(x, &join(p, "id"), "item id"));
        if let (Some(id), Some(x)) = (&id, f.get("id")) {
            self.unique(id, "item", x.pos, &join(p, "id"), ids);
        }
        let kind = f.get("type").and_then(|t| {
            let found = t
                .as_str()
                .and_then(|s| ITEM_TYPES.iter().find(|(n, _)| *n == s).map(|x| x.1));
            if found.is_none() {
                let name = t.key_text();
                let hint = match closest(&name, ITEM_TYPES.iter().map(|x| x.0)) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!(
                        "the types are {}",
                        ITEM_TYPES
                            .iter()
                            .map(|x| x.0)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.err_hint(
                    t.pos,
                    &join(p, "type"),
                    format!("unknown item type `{name}`"),
                    hint,
                );
            }
            found
        });
        let text = self.opt_text(&f, "text", p);
        let kind = kind?;
        // Keys that only some types take.
        let only: &[KeyRule] = &[
            ("help", &|k: ItemType| k.answerable(), "answerable items"),
            (
                "required",
                &|k: ItemType| k.answerable(),
                "answerable items",
            ),
            (
                "options",
                &|k: ItemType| k.has_options(),
                "choice and multi items",
            ),
            (
                "scale",
                &|k: ItemType| k.has_options(),
                "choice and multi items",
            ),
            (
                "min",
                &|k: ItemType| k.numeric(),
                "integer, decimal and slider items",
            ),
            (
                "max",
                &|k: ItemType| k.numeric(),
                "integer, decimal and slider items",
            ),
            (
                "step",
                &|k: ItemType| k.numeric(),
                "integer, decimal and slider items",
            ),
            (
                "unit",
                &|k: ItemType| k.numeric(),
                "integer, decimal and slider items",
            ),
            (
                "min_text",
                &|k: ItemType| k == ItemType::Slider,
                "slider items",
            ),
            (
                "max_text",
                &|k: ItemType| k == ItemType::Slider,
                "slider items",
            ),
            (
                "max_length",
                &|k: ItemType| k == ItemType::Text,
                "text items",
            ),
            (
                "show_if",
                &|k: ItemType| k != ItemType::Section,
                "answerable and display items",
            ),
        ];
        let mut bad = false;
        for (key, ok, who) in only {
            if let Some(x) = f.get(key)
                && !ok(kind)
            {
                bad = true;
                self.err(
                    x.pos,
                    &join(p, key),
                    format!(
                        "`{key}` is only for {who}, not for {} item",
                        with_article(kind.name())
                    ),
                );
            }
        }
        let help = self.opt_text(&f, "help", p);
        let required = f
            .get("required")
            .and_then(|x| self.boolean(x, &join(p, "required")))
            .unwrap_or(kind.answerable());
        let mut options = Vec::new();
        if kind.has_options() {
            match (f.get("options"), f.get("scale")) {
                (Some(o), None) => options = self.options(o, &join(p, "options")),
                (None, Some(s)) => {
                    if let Some(name) = self.ident(s, &join(p, "scale"), "scale name") {
                        match scales.get(&name) {
                            Some(o) => options = o.clone(),
                            None => {
                                let hint = match closest(&name, scales.keys().map(String::as_str)) {
                                    Some(c) => format!("did you mean `{c}`?"),
                                    None => "declare it under `scales:` at the top level".into(),
                                };
                                self.err_hint(
                                    s.pos,
                                    &join(p, "scale"),
                                    format!("unknown scale `{name}`"),
                                    hint,
                                );
                                bad = true;
                            }
                        }
                    }
                }
                (Some(o), Some(_)) => {
                    self.err(
                        o.pos,
                        &join(p, "options"),
                        "give either `options` or `scale`, not both",
                    );
                    bad = true;
                }
                (None, None) => {
                    self.err(
                        n.pos,
                        &join(p, "options"),
                        format!(
                            "{} item needs `options` or `scale`",
                            with_article(kind.name())
                        ),
                    );
                    bad = true;
                }
            }
            if kind == ItemType::Choice && options.iter().any(|o| o.exclusive) {
                let at = f
                    .get("options")
                    .or(f.get("scale"))
                    .map(|x| x.pos)
                    .unwrap_or(n.pos);
                self.err_hint(
                    at,
                    &join(p, "options"),
                    "`exclusive` options only make sense in a multi item",
                    "a choice item takes one option anyway; remove `exclusive`",
                );
            }
        }
        let num = |cx: &mut Cx, key: &str| f.get(key).and_then(|x| cx.decimal(x, &join(p, key)));
        let min = num(self, "min");
        let max = num(self, "max");
        let mut step = num(self, "step");
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            self.err(
                f.get("max").map(|x| x.pos).unwrap_or(n.pos),
                &join(p, "max"),
                format!("`max` ({}) is below `min` ({})", fmt_num(hi), fmt_num(lo)),
            );
        }
        if let Some(s) = step
            && s <= Decimal::ZERO
        {
            self.err(
                f.get("step").map(|x| x.pos).unwrap_or(n.pos),
                &join(p, "step"),
                "`step` must be above 0",
            );
        }
        if kind == ItemType::Integer {
            for (key, v) in [("min", min), ("max", max), ("step", step)] {
                if let Some(v) = v
                    && !v.fract().is_zero()
                {
                    self.err(
                        f.get(key).map(|x| x.pos).unwrap_or(n.pos),
                        &join(p, key),
                        format!("`{key}` of an integer item must be a whole number"),
                    );
                }
            }
        }
        if kind == ItemType::Slider && (min.is_none() || max.is_none()) {
            self.err(
                n.pos,
                &join(p, if min.is_none() { "min" } else { "max" }),
                "a slider needs both `min` and `max`",
            );
        }
        if matches!(kind, ItemType::Integer | ItemType::Slider) && step.is_none() {
            step = Some(Decimal::ONE);
        }
        let unit = self.opt_text(&f, "unit", p);
        let min_text = self.opt_text(&f, "min_text", p);
        let max_text = self.opt_text(&f, "max_text", p);
        let max_length = match f.get("max_length") {
            Some(x) => self.uint(x, &join(p, "max_length"), "`max_length`", 1),
            None if kind == ItemType::Text => Some(2000),
            None => None,
        };
        let show_if = f
            .get("show_if")
            .filter(|_| kind != ItemType::Section)
            .map(|node| Pending {
                node,
                path: join(p, "show_if"),
            });
        if bad {
            return None;
        }
        Some((
            Item {
                id: id?,
                kind,
                text: text?,
                help,
                required: required && kind.answerable(),
                options,
                min,
                max,
                step,
                unit,
                min_text,
                max_text,
                max_length,
                show_if: None,
            },
            show_if,
        ))
    }

    fn expression(
        &mut self,
        node: &Node,
        path: &str,
        scope: &Scope,
        want: Want,
    ) -> Option<Expression> {
        if node.kind == NodeKind::Bad {
            return None;
        }
        let source = match &node.kind {
            NodeKind::Str(s) => s.clone(),
            NodeKind::Bool(b) => b.to_string(),
            NodeKind::Num(d) => fmt_num(*d),
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!(
                        "expected an expression in quotes, but found {}",
                        node.kind_name()
                    ),
                );
                return None;
            }
        };
        let at = |start: u32| match node.verbatim {
            Some(v) => Pos::new(v.line, v.col + start),
            None => node.pos,
        };
        let mut ast = match parse(&source) {
            Ok(ast) => ast,
            Err(e) => {
                let mut d =
                    Diagnostic::error(at(e.start), path, e.message).with_width(e.end - e.start);
                if let Some(h) = e.hint {
                    d = d.with_hint(h);
                }
                self.diags.push(d);
                return None;
            }
        };
        let mut errs = Vec::new();
        let ty = check(&mut ast, scope, &mut errs);
        let ok = errs.is_empty();
        for e in errs {
            let mut d = Diagnostic::error(at(e.start), path, e.message).with_width(e.end - e.start);
            if let Some(h) = e.hint {
                d = d.with_hint(h);
            }
            self.diags.push(d);
        }
        if !ok {
            return None;
        }
        let wanted = match want {
            Want::Bool => Ty::Bool,
            Want::Num => Ty::Num,
        };
        if !ty.agrees(&wanted) {
            let what = match want {
                Want::Bool => "a condition must be true or false",
                Want::Num => "a score's expression must give a number",
            };
            self.diags.push(
                Diagnostic::error(
                    at(0),
                    path,
                    format!("{what}, but this is {}", ty.describe()),
                )
                .with_width(source.chars().count() as u32),
            );
            return None;
        }
        Some(Expression { source, ast })
    }

    fn score<'s>(
        &mut self,
        n: &Node,
        p: &str,
        items: &[Item],
        item_index: &HashMap<String, usize>,
        scope: &dyn Fn(bool, bool) -> Scope<'s>,
    ) -> Option<Score> {
        let f = self.fields(
            n,
            p,
            &[
                "id",
                "title",
                "items",
                "method",
                "expr",
                "reverse",
                "missing",
                "transform",
                "round",
                "bands",
            ],
            &["id"],
        )?;
        let id = f
            .get("id")
            .and_then(|x| x.as_str())
            .filter(|s| is_ident(s))?
            .to_string();
        let title = self.opt_text(&f, "title", p);
        let method = match f.get("method") {
            None => Some(Method::Sum),
            Some(m) => match m.as_str() {
                Some("sum") => Some(Method::Sum),
                Some("mean") => Some(Method::Mean),
                Some("expr") => Some(Method::Expr),
                _ => {
                    self.err_hint(
                        m.pos,
                        &join(p, "method"),
                        format!("unknown method `{}`", m.key_text()),
                        "the methods are `sum`, `mean` and `expr`",
                    );
                    None
                }
            },
        };
        let mut ok = method.is_some();
        let mut score_items = Vec::new();
        let resolve_items = |cx: &mut Cx, key: &str, ok: &mut bool| -> Vec<usize> {
            let mut out = Vec::new();
            let Some(list) = f.get(key) else { return out };
            let kp = join(p, key);
            for (i, x) in cx.list(list, &kp).iter().enumerate() {
                let xp = index(&kp, i);
                let Some(name) = x.as_str() else {
                    cx.err(
                        x.pos,
                        &xp,
                        format!("expected an item id, but found {}", x.kind_name()),
                    );
                    *ok = false;
                    continue;
                };
                match item_index.get(name) {
                    Some(&ix) => {
                        if out.contains(&ix) {
                            cx.err(x.pos, &xp, format!("`{name}` is listed twice"));
                            *ok = false;
                        }
                        out.push(ix)
                    }
                    None => {
                        let hint = closest(name, items.iter().map(|it| it.id.as_str()))
                            .map(|c| format!("did you mean `{c}`?"))
                            .unwrap_or_else(|| {
                                "list the ids of items in this questionnaire".into()
                            });
                        cx.err_hint(x.pos, &xp, format!("unknown item `{name}`"), hint);
                        *ok = false;
                    }
                }
            }
            out
        };
        if let Some(list) = f.get("items") {
            score_items = resolve_items(self, "items", &mut ok);
            for (i, &ix) in score_items.iter().enumerate() {
                let it = &items[ix];
                let xp = index(&join(p, "items"), i);
                let pos = match &list.kind {
                    NodeKind::Seq(xs) => xs[i.min(xs.len() - 1)].pos,
                    _ => list.pos,
                };
                match it.kind {
                    ItemType::Text | ItemType::Date | ItemType::Display | ItemType::Section => {
                        self.err(
                            pos,
                            &xp,
                            format!(
                                "`{}` is a {} item and cannot be scored",
                                it.id,
                                it.kind.name()
                            ),
                        );
                        ok = false;
                    }
                    ItemType::Choice | ItemType::Multi => {
                        if let Some(o) = it.options.iter().find(|o| o.scoring_value().is_none()) {
                            self.err_hint(
                                pos,
                                &xp,
                                format!("`{}` cannot be scored: its option {} has a text value and no `score`", it.id, o.value),
                                "give each option a `score`",
                            );
                            ok = false;
                        }
                    }
                    _ => {}
                }
            }
        }
        if matches!(method, Some(Method::Sum | Method::Mean))
            && score_items.is_empty()
            && f.get("items").is_none()
        {
            self.err(
                n.pos,
                &join(p, "items"),
                "a `sum` or `mean` score needs `items`",
            );
            ok = false;
        }
        let expr = match (method, f.get("expr")) {
            (Some(Method::Expr), Some(e)) => {
                let r = self.expression(e, &join(p, "expr"), &scope(false, false), Want::Num);
                ok &= r.is_some();
                r
            }
            (Some(Method::Expr), None) => {
                self.err(
                    n.pos,
                    &join(p, "expr"),
                    "a score with `method: expr` needs `expr`",
                );
                ok = false;
                None
            }
            (_, Some(e)) => {
                self.err_hint(
                    e.pos,
                    &join(p, "expr"),
                    "`expr` is only used with `method: expr`",
                    "add `method: expr`",
                );
                ok = false;
                None
            }
            _ => None,
        };
        let reverse = resolve_items(self, "reverse", &mut ok);
        for (i, ix) in reverse.iter().enumerate() {
            let rp = index(&join(p, "reverse"), i);
            let pos = f
                .get("reverse")
                .map(|x| match &x.kind {
                    NodeKind::Seq(xs) => xs[i.min(xs.len().saturating_sub(1))].pos,
                    _ => x.pos,
                })
                .unwrap_or(n.pos);
            if !score_items.contains(ix) {
                self.err_hint(
                    pos,
                    &rp,
                    format!(
                        "`{}` is reversed but is not one of the score's `items`",
                        items[*ix].id
                    ),
                    "add it to `items`, or remove it from `reverse`",
                );
                ok = false;
            } else if items[*ix].score_range().is_none() {
                self.err(pos, &rp, format!("`{}` cannot be reversed: it has no lowest and highest score (give it `min` and `max`)", items[*ix].id));
                ok = false;
            }
        }
        let (mut allow, mut impute) = (0, Impute::None);
        if let Some(m) = f.get("missing") {
            let mp = join(p, "missing");
            if let Some(mf) = self.fields(m, &mp, &["allow", "impute"], &[]) {
                if let Some(a) = mf.get("allow") {
                    match self.uint(a, &join(&mp, "allow"), "`allow`", 0) {
                        Some(v) => {
                            allow = v;
                            if v as usize > score_items.len() {
                                self.err(
                                    a.pos,
                                    &join(&mp, "allow"),
                                    format!(
                                        "`allow` is {v}, but the score has only {} items",
                                        score_items.len()
                                    ),
                                );
                                ok = false;
                            }
                        }
                        None => ok = false,
                    }
                }
                if let Some(im) = mf.get("impute") {
                    match im.as_str() {
                        Some("none") => impute = Impute::None,
                        Some("mean") => impute = Impute::Mean,
                        _ => {
                            self.err_hint(
                                im.pos,
                                &join(&mp, "impute"),
                                format!("unknown `impute` value `{}`", im.key_text()),
                                "write `none` or `mean`",
                            );
                            ok = false;
                        }
                    }
                }
            } else {
                ok = false;
            }
        }
        let transform = match f.get("transform") {
            Some(t) => {
                let r = self.expression(t, &join(p, "transform"), &scope(false, true), Want::Num);
                ok &= r.is_some();
                r
            }
            None => None,
        };
        let round = match f.get("round") {
            Some(r) => {
                let v = self.uint(r, &join(p, "round"), "`round`", 0);
                if v.is_some_and(|v| v > 28) {
                    self.err(r.pos, &join(p, "round"), "`round` can be at most 28 digits");
                    ok = false;
                }
                ok &= v.is_some();
                v
            }
            None => None,
        };
        let mut bands: Vec<Band> = Vec::new();
        if let Some(b) = f.get("bands") {
            let bp = join(p, "bands");
            for (i, x) in self.list(b, &bp).iter().enumerate() {
                let xp = index(&bp, i);
                let Some(bf) = self.fields(x, &xp, &["from", "id", "text"], &["from", "id"]) else {
                    ok = false;
                    continue;
                };
                let from = bf
                    .get("from")
                    .and_then(|v| self.decimal(v, &join(&xp, "from")));
                let bid = bf
                    .get("id")
                    .and_then(|v| self.ident(v, &join(&xp, "id"), "band id"));
                let text = self.opt_text(&bf, "text", &xp);
                let (Some(from), Some(bid)) = (from, bid) else {
                    ok = false;
                    continue;
                };
                if bands.iter().any(|b| b.id == bid) {
                    self.err(
                        x.pos,
                        &join(&xp, "id"),
                        format!("the band id `{bid}` is used twice in this score"),
                    );
                    ok = false;
                }
                if let Some(prev) = bands.last()
                    && from <= prev.from
                {
                    let at = bf.get("from").map(|v| v.pos).unwrap_or(x.pos);
                    self.err_hint(
                        at,
                        &join(&xp, "from"),
                        format!(
                            "bands must be strictly ascending, but {} follows {}",
                            fmt_num(from),
                            fmt_num(prev.from)
                        ),
                        "order the bands from the lowest `from` to the highest",
                    );
                    ok = false;
                }
                bands.push(Band {
                    from,
                    id: bid,
                    text,
                });
            }
        }
        if !ok {
            return None;
        }
        Some(Score {
            id,
            title,
            items: score_items,
            method: method?,
            expr,
            reverse,
            allow_missing: allow,
            impute,
            transform,
            round,
            bands,
            range: None,
        })
    }

    fn rule(&mut self, n: &Node, p: &str, scope: &Scope) -> Option<Rule> {
        let f = self.fields(
            n,
            p,
            &["id", "when", "level", "text", "patient_text"],
            &["id", "when", "level", "text"],
        )?;
        let id = f
            .get("id")
            .and_then(|x| x.as_str())
            .filter(|s| is_ident(s))
            .map(String::from);
        let when = f
            .get("when")
            .and_then(|w| self.expression(w, &join(p, "when"), scope, Want::Bool));
        let level = f.get("level").and_then(|l| match l.as_str() {
            Some("red") => Some(Level::Red),
            Some("yellow") => Some(Level::Yellow),
            _ => {
                self.err_hint(l.pos, &join(p, "level"), format!("unknown level `{}`", l.key_text()), "a rule's level is `red` or `yellow`; green is what a response is when no rule fires");
                None
            }
        });
        let text = self.opt_text(&f, "text", p);
        let patient_text = self.opt_text(&f, "patient_text", p);
        Some(Rule {
            id: id?,
            when: when?,
            level: level?,
            text: text?,
            patient_text,
        })
    }

    /// A topological order of items and scores; reports each cycle.
    fn order(
        &mut self,
        items: &[Item],
        item_sites: &[(Pos, String)],
        scores: &[Score],
        score_nodes: &[Node],
    ) -> Option<Vec<Step>> {
        let n = items.len();
        let total = n + scores.len();
        let names = |e: &Expression, out: &mut Vec<usize>| {
            e.ast.walk(&mut |x: &Expr| match &x.kind {
                ExprKind::Name(_, Slot::Item(i)) => out.push(*i),
                ExprKind::Name(_, Slot::Score(j)) => out.push(n + *j),
                _ => {}
            })
        };
        let mut deps: Vec<Vec<usize>> = vec![Vec::new(); total];
        for (i, it) in items.iter().enumerate() {
            if let Some(e) = &it.show_if {
                names(e, &mut deps[i]);
            }
        }
        for (j, s) in scores.iter().enumerate() {
            deps[n + j].extend(s.items.iter().copied());
            for e in [&s.expr, &s.transform].into_iter().flatten() {
                names(e, &mut deps[n + j]);
            }
        }
        let label = |k: usize| {
            if k < n {
                items[k].id.clone()
            } else {
                scores[k - n].id.clone()
            }
        };
        // Iterative depth-first search (0 new, 1 on the path, 2 done), so a
        // long chain of dependencies cannot exhaust the stack.
        let mut state = vec![0u8; total];
        let mut order = Vec::with_capacity(total);
        let mut failed = false;
        for start in 0..total {
            if state[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = 1;
            while let Some(top) = stack.last_mut() {
                let (node, next) = (top.0, top.1);
                if next < deps[node].len() {
                    top.1 += 1;
                    let d = deps[node][next];
                    match state[d] {
                        0 => {
                            state[d] = 1;
                            stack.push((d, 0));
                        }
                        1 => {
                            failed = true;
                            let from = stack.iter().position(|(x, _)| *x == d).unwrap_or(0);
                            let mut cycle: Vec<String> =
                                stack[from..].iter().map(|(x, _)| label(*x)).collect();
                            cycle.push(label(d));
                            let (pos, path) = if d < n {
                                item_sites[d].clone()
                            } else {
                                (score_nodes[d - n].pos, index("scores", d - n))
                            };
                            self.err_hint(
                                pos,
                                &path,
                                format!("`{}` depends on itself: {}", label(d), cycle.join(" → ")),
                                "a `show_if` or a score may not depend on itself, directly or through others",
                            );
                        }
                        _ => {}
                    }
                } else {
                    state[node] = 2;
                    order.push(if node < n {
                        Step::Item(node)
                    } else {
                        Step::Score(node - n)
                    });
                    stack.pop();
                }
            }
        }
        if failed { None } else { Some(order) }
    }
}

/// A key that only some item types take: the key, which types, and who.
type KeyRule<'a> = (&'a str, &'a dyn Fn(ItemType) -> bool, &'a str);

#[derive(Clone, Copy)]
enum Want {
    Bool,
    Num,
}

/// The type an item's answer has in expressions.
fn item_type(it: &Item) -> Ty {
    let opt_kind = || match it.options.first().map(|o| &o.value) {
        Some(Value::Num(_)) => Ty::Num,
        Some(Value::Str(_)) => Ty::Str,
        _ => Ty::Any,
    };
    match it.kind {
        ItemType::Choice => opt_kind(),
        ItemType::Multi => Ty::List(Box::new(opt_kind())),
        ItemType::Integer | ItemType::Decimal | ItemType::Slider => Ty::Num,
        ItemType::Boolean => Ty::Bool,
        ItemType::Date => Ty::Date,
        ItemType::Text => Ty::Str,
        ItemType::Display | ItemType::Section => Ty::Any,
    }
}

/// The child of a mapping node under `key`, and the `i`th element of a list.
fn child<'n>(n: &'n Node, key: &str) -> Option<&'n Node> {
    match &n.kind {
        NodeKind::Map(m) => m
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn nth(n: &Node, i: usize) -> Option<&Node> {
    match &n.kind {
        NodeKind::Seq(xs) => xs.get(i),
        _ => None,
    }
}

/// What a name can be, for range analysis: an item's bounds, a score's
/// known range, or `raw` in a transform.
fn abs_of(
    q: &Questionnaire,
    scores: &[Option<(Decimal, Decimal)>],
    raw: Option<(Decimal, Decimal)>,
    slot: Slot,
) -> Abs {
    let num =
        |r: Option<(Decimal, Decimal)>| r.map(|(lo, hi)| Abs::Num(lo, hi)).unwrap_or(Abs::Unknown);
    match slot {
        Slot::Item(i) if q.items[i].kind == ItemType::Boolean => Abs::Bool(true),
        Slot::Item(i) => num(q.items[i].value_range()),
        Slot::Score(k) => num(scores[k]),
        Slot::Raw => num(raw),
        _ => Abs::Unknown,
    }
}

/// The possible range of a score's reported value, from the ranges of its
/// items and of the scores it uses.
fn score_range(
    q: &Questionnaire,
    j: usize,
    known: &[Option<(Decimal, Decimal)>],
) -> Option<(Decimal, Decimal)> {
    let s = &q.scores[j];
    let name = |slot: Slot, raw: Option<(Decimal, Decimal)>| abs_of(q, known, raw, slot);
    let as_range = |a: Abs| match a {
        Abs::Num(lo, hi) => Some((lo, hi)),
        _ => None,
    };
    let raw = match s.method {
        Method::Expr => {
            let f = |slot| name(slot, None);
            let cx = RangeCx {
                name: &f,
                tables: &q.tables,
            };
            as_range(range(&s.expr.as_ref()?.ast, &cx))?
        }
        Method::Sum | Method::Mean => {
            let rs: Vec<(Decimal, Decimal)> = s
                .items
                .iter()
                .map(|&i| q.items[i].score_range())
                .collect::<Option<_>>()?;
            let conditional: Vec<bool> = s
                .items
                .iter()
                .map(|&i| q.items[i].show_if.is_some())
                .collect();
            let min_lo = rs.iter().map(|r| r.0).min()?;
            let max_hi = rs.iter().map(|r| r.1).max()?;
            match (s.method, s.impute) {
                (Method::Mean, _) => (min_lo, max_hi),
                (_, Impute::Mean) if s.allow_missing > 0 || conditional.iter().any(|c| *c) => {
                    let n_hi = Decimal::from(rs.len());
                    let n_lo = Decimal::from(conditional.iter().filter(|c| !**c).count().max(1));
                    let c = [min_lo * n_lo, min_lo * n_hi, max_hi * n_lo, max_hi * n_hi];
                    (*c.iter().min()?, *c.iter().max()?)
                }
                _ => {
                    let mut lo = Decimal::ZERO;
                    let mut hi = Decimal::ZERO;
                    for (r, cond) in rs.iter().zip(&conditional) {
                        if *cond || s.allow_missing > 0 {
                            lo = lo.checked_add(r.0.min(Decimal::ZERO))?;
                            hi = hi.checked_add(r.1.max(Decimal::ZERO))?;
                        } else {
                            lo = lo.checked_add(r.0)?;
                            hi = hi.checked_add(r.1)?;
                        }
                    }
                    (lo, hi)
                }
            }
        }
    };
    let out = match &s.transform {
        Some(t) => {
            let f = |slot| name(slot, Some(raw));
            let cx = RangeCx {
                name: &f,
                tables: &q.tables,
            };
            as_range(range(&t.ast, &cx))?
        }
        None => raw,
    };
    Some(match s.round {
        Some(d) => (round_half_away(out.0, d), round_half_away(out.1, d)),
        None => out,
    })
}

impl Cx {
    /// Works out each score's range, then checks bands and rules against it.
    fn ranges(&mut self, q: &mut Questionnaire, score_nodes: &[Node]) {
        let mut known = vec![None; q.scores.len()];
        for step in q.order.clone() {
            if let Step::Score(j) = step {
                known[j] = score_range(q, j, &known);
            }
        }
        for (s, r) in q.scores.iter_mut().zip(&known) {
            s.range = *r;
        }
        for (j, s) in q.scores.iter().enumerate() {
            let Some((lo, hi)) = s.range else { continue };
            let bands_node = score_nodes.get(j).and_then(|n| child(n, "bands"));
            let at = |i: usize| {
                bands_node
                    .and_then(|b| nth(b, i))
                    .map(|b| child(b, "from").map(|f| f.pos).unwrap_or(b.pos))
                    .unwrap_or_default()
            };
            let path = |i: usize| format!("scores[{j}].bands[{i}]");
            if let Some(first) = s.bands.first()
                && first.from > lo
            {
                self.err_hint(
                    at(0),
                    &join(&path(0), "from"),
                    format!(
                        "the first band starts at {}, but `{}` can be as low as {}",
                        fmt_num(first.from),
                        s.id,
                        fmt_num(lo)
                    ),
                    format!(
                        "start the first band at {} or lower, so that every value has a band",
                        fmt_num(lo)
                    ),
                );
            }
            for (i, b) in s.bands.iter().enumerate() {
                let next = s.bands.get(i + 1).map(|n| n.from);
                if b.from > hi || next.is_some_and(|nx| nx <= lo) {
                    self.warn(
                        at(i),
                        &path(i),
                        format!(
                            "no value reaches the band `{}`: `{}` lies between {} and {}",
                            b.id,
                            s.id,
                            fmt_num(lo),
                            fmt_num(hi)
                        ),
                    );
                }
            }
        }
        let ranges: Vec<Option<(Decimal, Decimal)>> = q.scores.iter().map(|s| s.range).collect();
        let name = |slot: Slot| abs_of(q, &ranges, None, slot);
        let cx = RangeCx {
            name: &name,
            tables: &q.tables,
        };
        let mut warnings = Vec::new();
        for (i, r) in q.rules.iter().enumerate() {
            if !can_be_true(&r.when.ast, &cx) {
                warnings.push((i, r.id.clone()));
            }
        }
        for (i, id) in warnings {
            let pos = self.rule_when_pos.get(i).copied().unwrap_or_default();
            self.warn(
                pos,
                &format!("rules[{i}].when"),
                format!("the rule `{id}` can never fire: its condition is never true for the possible answers"),
            );
        }
    }

    fn tests_shape_only(&mut self, n: &Node) {
        for (i, t) in self.list(n, "tests").iter().enumerate() {
            let p = index("tests", i);
            if let Some(f) = self.fields(t, &p, TEST_KEYS, &["name", "answers", "expect"])
                && let Some(e) = f.get("expect")
            {
                self.fields(e, &join(&p, "expect"), EXPECT_KEYS, &[]);
            }
        }
    }

    fn answers(&mut self, n: &Node, p: &str) -> serde_json::Map<String, serde_json::Value> {
        match &n.kind {
            NodeKind::Map(m) => m.iter().map(|(k, v)| (k.key_text(), v.to_json())).collect(),
            NodeKind::Null => serde_json::Map::new(),
            _ => {
                self.err(
                    n.pos,
                    p,
                    format!(
                        "`answers` maps item ids to answers, but found {}",
                        n.kind_name()
                    ),
                );
                serde_json::Map::new()
            }
        }
    }

    fn tests(&mut self, n: &Node, q: &Questionnaire) -> Vec<TestCase> {
        let mut out = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        for (i, t) in self.list(n, "tests").iter().enumerate() {
            let p = index("tests", i);
            let Some(f) = self.fields(t, &p, TEST_KEYS, &["name", "answers", "expect"]) else {
                continue;
            };
            let before = self.errors();
            let name = f
                .get("name")
                .and_then(|x| self.string(x, &join(&p, "name")))
                .unwrap_or_default();
            if !name.is_empty() && !names.insert(name.clone()) {
                self.warn(
                    t.pos,
                    &join(&p, "name"),
                    format!("two tests are named '{name}'"),
                );
            }
            let answers = f
                .get("answers")
                .map(|a| self.answers(a, &join(&p, "answers")))
                .unwrap_or_default();
            let mode = match f.get("mode").map(|m| (m, m.as_str())) {
                None | Some((_, Some("web"))) => super::engine::Mode::Web,
                Some((_, Some("app"))) => super::engine::Mode::App,
                Some((_, Some("paper"))) => super::engine::Mode::Paper,
                Some((m, _)) => {
                    self.err_hint(
                        m.pos,
                        &join(&p, "mode"),
                        format!("unknown mode `{}`", m.key_text()),
                        "write `web` or `paper`",
                    );
                    super::engine::Mode::Web
                }
            };
            let date = match f.get("date") {
                None => chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
                Some(d) => {
                    let parsed = d.as_str().and_then(parse_date);
                    if parsed.is_none() {
                        self.err_hint(
                            d.pos,
                            &join(&p, "date"),
                            format!("`{}` is not a date", d.key_text()),
                            "write a date as YYYY-MM-DD",
                        );
                    }
                    parsed
                }
            };
            let mut history = Vec::new();
            if let Some(h) = f.get("history") {
                let hp = join(&p, "history");
                for (k, e) in self.list(h, &hp).iter().enumerate() {
                    let ep = index(&hp, k);
                    let Some(ef) =
                        self.fields(e, &ep, &["days_ago", "answers"], &["days_ago", "answers"])
                    else {
                        continue;
                    };
                    let days_ago = ef
                        .get("days_ago")
                        .and_then(|d| self.uint(d, &join(&ep, "days_ago"), "`days_ago`", 0));
                    let answers = ef
                        .get("answers")
                        .map(|a| self.answers(a, &join(&ep, "answers")))
                        .unwrap_or_default();
                    if let Some(days_ago) = days_ago {
                        history.push(HistoryCase { days_ago, answers });
                    }
                }
            }
            let language = f.get("language").and_then(|l| {
                let s = self.string(l, &join(&p, "language"))?;
                if q.languages.contains(&s) {
                    Some(s)
                } else {
                    self.err(
                        l.pos,
                        &join(&p, "language"),
                        format!(
                            "`{s}` is not one of the questionnaire's languages ({})",
                            q.languages.join(", ")
                        ),
                    );
                    None
                }
            });
            let expect = f
                .get("expect")
                .map(|e| self.expect(e, &join(&p, "expect"), q));
            if self.errors() > before {
                continue;
            }
            let (Some(date), Some(expect)) = (date, expect) else {
                continue;
            };
            out.push(TestCase {
                name,
                answers,
                mode,
                date,
                history,
                language,
                expect,
                line: t.pos.line,
            });
        }
        out
    }

    fn expect(&mut self, n: &Node, p: &str, q: &Questionnaire) -> Expect {
        let mut ex = Expect::default();
        let Some(f) = self.fields(n, p, EXPECT_KEYS, &[]) else {
            return ex;
        };
        let score_of = |cx: &mut Cx, k: &Node, path: &str| -> Option<usize> {
            let name = k.key_text();
            let found = q.score_index(&name);
            if found.is_none() {
                let hint = closest(&name, q.scores.iter().map(|s| s.id.as_str()))
                    .map(|c| format!("did you mean `{c}`?"))
                    .unwrap_or_else(|| "name one of the questionnaire's scores".into());
                cx.err_hint(k.pos, path, format!("unknown score `{name}`"), hint);
            }
            found
        };
        let entries = |n: &Node| match &n.kind {
            NodeKind::Map(m) => m.clone(),
            _ => Vec::new(),
        };
        if let Some(s) = f.get("scores") {
            for (k, v) in entries(s) {
                let kp = join(&join(p, "scores"), &k.key_text());
                let Some(j) = score_of(self, &k, &kp) else {
                    continue;
                };
                match &v.kind {
                    NodeKind::Num(d) => ex.scores.push((j, Some(*d))),
                    NodeKind::Null => ex.scores.push((j, None)),
                    _ => self.err(
                        v.pos,
                        &kp,
                        format!("expected a number or null, but found {}", v.kind_name()),
                    ),
                }
            }
        }
        if let Some(s) = f.get("imputed") {
            for (k, v) in entries(s) {
                let kp = join(&join(p, "imputed"), &k.key_text());
                let Some(j) = score_of(self, &k, &kp) else {
                    continue;
                };
                if let Some(c) = self.uint(&v, &kp, "an imputed count", 0) {
                    ex.imputed.push((j, c));
                }
            }
        }
        if let Some(s) = f.get("bands") {
            for (k, v) in entries(s) {
                let kp = join(&join(p, "bands"), &k.key_text());
                let Some(j) = score_of(self, &k, &kp) else {
                    continue;
                };
                match &v.kind {
                    NodeKind::Null => ex.bands.push((j, None)),
                    NodeKind::Str(b) if q.scores[j].bands.iter().any(|x| &x.id == b) => {
                        ex.bands.push((j, Some(b.clone())))
                    }
                    _ => {
                        let b = v.key_text();
                        let hint = closest(&b, q.scores[j].bands.iter().map(|x| x.id.as_str()))
                            .map(|c| format!("did you mean `{c}`?"))
                            .unwrap_or_else(|| {
                                format!(
                                    "the bands of `{}` are {}",
                                    q.scores[j].id,
                                    q.scores[j]
                                        .bands
                                        .iter()
                                        .map(|x| format!("`{}`", x.id))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            });
                        self.err_hint(
                            v.pos,
                            &kp,
                            format!("`{b}` is not a band of `{}`", q.scores[j].id),
                            hint,
                        );
                    }
                }
            }
        }
        if let Some(fl) = f.get("flags") {
            let fp = join(p, "flags");
            let mut ids = Vec::new();
            for (i, x) in self.list(fl, &fp).iter().enumerate() {
                let name = x.key_text();
                match q.rule_index(&name) {
                    Some(r) => ids.push(r),
                    None => {
                        let hint = closest(&name, q.rules.iter().map(|r| r.id.as_str()))
                            .map(|c| format!("did you mean `{c}`?"))
                            .unwrap_or_else(|| {
                                "name the ids of rules in this questionnaire".into()
                            });
                        self.err_hint(
                            x.pos,
                            &index(&fp, i),
                            format!("unknown rule `{name}`"),
                            hint,
                        );
                    }
                }
            }
            ex.flags = Some(ids);
        }
        if let Some(l) = f.get("level") {
            match l.as_str().and_then(Level::parse) {
                Some(level) => ex.level = Some(level),
                None => self.err_hint(
                    l.pos,
                    &join(p, "level"),
                    format!("unknown level `{}`", l.key_text()),
                    "write `red`, `yellow` or `green`",
                ),
            }
        }
        if let Some(e) = f.get("errors") {
            let ep = join(p, "errors");
            ex.errors = Some(self.list(e, &ep).iter().map(|x| x.key_text()).collect());
        }
        ex
    }
}

const TEST_KEYS: &[&str] = &[
    "name", "answers", "mode", "date", "history", "language", "expect",
];
const EXPECT_KEYS: &[&str] = &["scores", "imputed", "bands", "flags", "level", "errors"];

/// `a choice`, `an integer`.
fn with_article(word: &str) -> String {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {word}")
    } else {
        format!("a {word}")
    }
}

/// Whether the rules read earlier responses, and the names they read there.
fn history_reads(rules: &[Rule]) -> (bool, Vec<String>) {
    let mut uses = false;
    let mut names: Vec<String> = Vec::new();
    for r in rules {
        r.when.ast.walk(&mut |e: &Expr| {
            if let ExprKind::Call(f, args) = &e.kind
                && f.is_history()
            {
                uses = true;
                for a in args {
                    a.walk(&mut |x: &Expr| {
                        if let ExprKind::Name(n, Slot::Item(_) | Slot::Score(_)) = &x.kind
                            && !names.contains(n)
                        {
                            names.push(n.clone());
                        }
                    });
                }
            }
        });
    }
    names.sort();
    (uses, names)
}
