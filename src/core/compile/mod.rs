//! The compiler: a YAML (or JSON) tree in, a [`Questionnaire`] and every
//! diagnostic out. It never stops at the first problem; it stops building
//! the questionnaire as soon as any error is known, but keeps checking.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

mod expressions;
mod items;
mod order;
mod ranges;
mod scores;
mod tests_block;

use expressions::{Want, history_reads};
use items::{Health, item_type};

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
    /// The file's `tests:` cases (empty when the questionnaire failed).
    pub tests: Vec<TestCase>,
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
        tests: Vec::new(),
        source: source.into(),
        broken_items: Vec::new(),
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
        tests: Vec::new(),
        source: "".into(),
        broken_items: Vec::new(),
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
    /// The `tests:` cases, once the questionnaire compiled.
    tests: Vec<TestCase>,
    /// The file's text (empty for compiled JSON), to place diagnostics
    /// inside strings.
    source: std::rc::Rc<str>,
    /// Items declared despite errors of their own, by index.
    broken_items: Vec<(usize, Health)>,
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

    fn health(&self, item: usize) -> Health {
        self.broken_items
            .iter()
            .find(|(i, _)| *i == item)
            .map(|(_, h)| *h)
            .unwrap_or(Health::Ok)
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
            tests: if failed { Vec::new() } else { self.tests },
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
        // Required keys that an unknown key is a likely typo of: the typo's
        // error says so, and the key is not reported missing as well.
        let mut typos: Vec<&str> = Vec::new();
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
                    Some(c) => {
                        typos.push(c);
                        self.diags.push(
                            Diagnostic::error(k.pos, p, format!("unknown key `{key}`"))
                                .with_hint(format!("did you mean `{c}`?"))
                                .with_width(key.chars().count() as u32),
                        )
                    }
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
            if !out.iter().any(|(k, _)| k == r) && !typos.contains(r) {
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
                Some((item, show_if, health)) => {
                    if health != Health::Ok {
                        item_failed = true;
                        self.broken_items.push((items.len(), health));
                    }
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
        let item_types: Vec<Ty> = items
            .iter()
            .enumerate()
            .map(|(i, it)| match self.health(i) {
                Health::Untyped => Ty::Any,
                _ => item_type(it),
            })
            .collect();
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
        let option_sets: Vec<Option<Vec<String>>> = items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let texts: Vec<String> = it
                    .options
                    .iter()
                    .filter_map(|o| match &o.value {
                        Value::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect();
                (self.health(i) == Health::Ok && !texts.is_empty()).then_some(texts)
            })
            .collect();
        let options = |slot: Slot| match slot {
            Slot::Item(i) => option_sets.get(i).cloned().flatten(),
            _ => None,
        };
        // Band ids straight from the file, so that expressions compiled
        // before the scores can be checked against them.
        let band_ids: Vec<Vec<String>> = score_nodes
            .iter()
            .map(|n| match child(n, "bands").map(|b| &b.kind) {
                Some(NodeKind::Seq(bands)) => bands
                    .iter()
                    .filter_map(|b| child(b, "id").and_then(Node::as_str).map(String::from))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        let scope = |history: bool, raw: bool| Scope {
            resolve: &resolve,
            options: &options,
            bands: &band_ids,
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
                    self.rule_when_pos.push(
                        when.map(|w| yaml::locate(&self.source, w, 0))
                            .unwrap_or(n.pos),
                    );
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
            order,
            item_index,
            uses_history: false,
            history_names: Vec::new(),
            hash: String::new(),
        };
        self.ranges(&mut q, score_nodes);
        (q.uses_history, q.history_names) = history_reads(&q.rules);
        if let Some(n) = f.get("tests") {
            self.tests = self.tests(n, &q);
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
