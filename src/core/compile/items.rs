//! Items and their options: keys per item type, scales, bounds and steps.

use super::*;

impl Cx {
    pub(super) fn options(&mut self, node: &Node, path: &str) -> Vec<ChoiceOption> {
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

    pub(super) fn item<'n>(
        &mut self,
        n: &'n Node,
        p: &str,
        scales: &HashMap<String, Vec<ChoiceOption>>,
        ids: &mut HashMap<String, (String, Pos)>,
    ) -> Option<(Item, Option<Pending<'n>>, Health)> {
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
                self.diags.push(
                    Diagnostic::error(
                        t.pos,
                        join(p, "type"),
                        format!("unknown item type `{name}`"),
                    )
                    .with_hint(hint)
                    .with_width(name.chars().count() as u32),
                );
            }
            found
        });
        let text = self.opt_text(&f, "text", p);
        let Some(kind) = kind else {
            // Declared all the same, so that references to it resolve and
            // one fault gives one error.
            return id.map(|id| (Item::placeholder(id, ItemType::Text), None, Health::Untyped));
        };
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
        let health = if bad || text.is_none() {
            Health::Broken
        } else {
            Health::Ok
        };
        Some((
            Item {
                id: id?,
                kind,
                text: text.unwrap_or(Text(Vec::new())),
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
            health,
        ))
    }
}

/// How far an item compiled. A broken item is still declared, so that
/// references to it resolve instead of each giving an error of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Health {
    Ok,
    /// Its type is known, something else is wrong.
    Broken,
    /// Its type is unknown: expressions see it as any value.
    Untyped,
}

/// A key that only some item types take: the key, which types, and who.
pub(super) type KeyRule<'a> = (&'a str, &'a dyn Fn(ItemType) -> bool, &'a str);

/// The type an item's answer has in expressions.
pub(super) fn item_type(it: &Item) -> Ty {
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

/// `a choice`, `an integer`.
pub(super) fn with_article(word: &str) -> String {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {word}")
    } else {
        format!("a {word}")
    }
}
