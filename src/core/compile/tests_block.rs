//! The `tests:` block: each case's answers, history and expectations,
//! checked against the questionnaire they test.

use super::*;

impl Cx {
    pub(super) fn tests_shape_only(&mut self, n: &Node) {
        for (i, t) in self.list(n, "tests").iter().enumerate() {
            let p = index("tests", i);
            if let Some(f) = self.fields(t, &p, TEST_KEYS, &["name", "answers", "expect"])
                && let Some(e) = f.get("expect")
            {
                self.fields(e, &join(&p, "expect"), EXPECT_KEYS, &[]);
            }
        }
    }

    pub(super) fn answers(
        &mut self,
        n: &Node,
        p: &str,
    ) -> serde_json::Map<String, serde_json::Value> {
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

    pub(super) fn tests(&mut self, n: &Node, q: &Questionnaire) -> Vec<TestCase> {
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
                None | Some((_, Some("web"))) => Mode::Web,
                Some((_, Some("app"))) => Mode::App,
                Some((_, Some("paper"))) => Mode::Paper,
                Some((m, _)) => {
                    self.err_hint(
                        m.pos,
                        &join(&p, "mode"),
                        format!("unknown mode `{}`", m.key_text()),
                        "write `web` or `paper`",
                    );
                    Mode::Web
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

    pub(super) fn expect(&mut self, n: &Node, p: &str, q: &Questionnaire) -> Expect {
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

pub(super) const TEST_KEYS: &[&str] = &[
    "name", "answers", "mode", "date", "history", "language", "expect",
];
pub(super) const EXPECT_KEYS: &[&str] = &["scores", "imputed", "bands", "flags", "level", "errors"];
