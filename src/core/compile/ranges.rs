//! Range analysis: each score's possible values, bands no value reaches,
//! and rules that can never fire.

use super::*;

/// What a name can be, for range analysis: an item's bounds, a score's
/// known range, or `raw` in a transform.
pub(super) fn abs_of(
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
pub(super) fn score_range(
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
    pub(super) fn ranges(&mut self, q: &mut Questionnaire, score_nodes: &[Node]) {
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
}
