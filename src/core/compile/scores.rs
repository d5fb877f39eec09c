//! Scores: items, method, reverse, missing answers, transform, rounding
//! and bands.

use super::*;

impl Cx {
    pub(super) fn score<'s>(
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
                if self.health(ix) != Health::Ok {
                    // Its own errors are reported already.
                    ok = false;
                    continue;
                }
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
            } else if self.health(*ix) == Health::Ok && items[*ix].reverse_range().is_none() {
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
}
