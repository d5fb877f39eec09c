//! prom expressions as FHIRPath, for SDC's `enableWhenExpression` and
//! `calculatedExpression`, evaluated against the `QuestionnaireResponse`
//! (`%resource`) that prom's own view writes (`response.rs`): a choice
//! answer is a coding whose `code` is the option's value.
//!
//! The translation keeps prom's meaning, not only its shape: an unanswered
//! item is the empty collection, which FHIRPath's comparisons and `and`/`or`
//! already treat as prom treats null (never true); `not` becomes
//! `iif(x, false, true)` so that "not answered" stays true; `sum()` of
//! nothing is empty, not 0. What has no FHIRPath counterpart — history
//! (`previous()`, `streak()`, …), `table()`, `band()`, dates of the response
//! — gives `None`, and the caller keeps only the prom expression.

use rust_decimal::Decimal;

use crate::core::expr::syntax::{BinOp, Expr, ExprKind, Func, Slot};
use crate::core::model::{ItemType, Method, Questionnaire, Score};
use crate::core::value::{Value, fmt_num};

/// The answers of one item (or a score) in the response.
fn answers(link_id: &str) -> String {
    format!(
        "%resource.repeat(item).where(linkId='{}').answer.value",
        super::escape_quoted(link_id)
    )
}

fn literal(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => "{}".into(),
        Value::Bool(b) => b.to_string(),
        Value::Num(d) => fmt_num(*d),
        Value::Str(s) => format!("'{}'", super::escape_quoted(s)),
        Value::Date(d) => format!("@{d}"),
        Value::List(xs) => {
            let parts = xs.iter().map(literal).collect::<Option<Vec<_>>>()?;
            format!("({})", parts.join(" | "))
        }
    })
}

/// The value an item stands for in an expression: a choice's option value
/// (its coding's code, as a number when the options are numbers), or the
/// answer itself.
fn item_value(q: &Questionnaire, i: usize) -> String {
    let it = &q.items[i];
    let base = answers(&it.id);
    let numeric = !it.options.is_empty() && it.options.iter().all(|o| o.value.as_num().is_some());
    match (it.kind, numeric) {
        (ItemType::Choice, true) => format!("{base}.code.toDecimal()"),
        (ItemType::Multi, true) => format!("{base}.select(code.toDecimal())"),
        (ItemType::Choice | ItemType::Multi, false) => format!("{base}.code"),
        _ => base,
    }
}

struct Tr<'a> {
    q: &'a Questionnaire,
    /// `raw` in a score's transform.
    raw: Option<&'a str>,
}

impl Tr<'_> {
    fn expr(&self, e: &Expr) -> Option<String> {
        Some(match &e.kind {
            ExprKind::Lit(v) => literal(v)?,
            ExprKind::Name(_, Slot::Item(i)) => item_value(self.q, *i),
            ExprKind::Name(_, Slot::Score(s)) => answers(&self.q.scores.get(*s)?.id),
            ExprKind::Name(_, Slot::Raw) => format!("({})", self.raw?),
            ExprKind::Name(..) => return None,
            ExprKind::List(xs) => {
                let parts = xs
                    .iter()
                    .map(|x| self.expr(x))
                    .collect::<Option<Vec<_>>>()?;
                combine(&parts)
            }
            ExprKind::Neg(x) => format!("(-{})", self.expr(x)?),
            ExprKind::Not(x) => format!("iif({}, false, true)", self.expr(x)?),
            ExprKind::Bin(BinOp::In, a, b) => {
                if self.many(a) {
                    return None;
                }
                let list = match &b.kind {
                    ExprKind::Lit(v) => literal(v)?,
                    _ => self.expr(b)?,
                };
                format!("({} in {list})", self.expr(a)?)
            }
            ExprKind::Bin(op, a, b) => {
                if self.many(a) || self.many(b) {
                    return None;
                }
                format!("({} {} {})", self.expr(a)?, op.symbol(), self.expr(b)?)
            }
            ExprKind::Call(f, args) => self.call(*f, args)?,
        })
    }

    /// Whether an expression is a multi item (many answers), which
    /// comparisons cannot take in FHIRPath.
    fn many(&self, e: &Expr) -> bool {
        matches!(&e.kind, ExprKind::Name(_, Slot::Item(i))
            if self.q.items.get(*i).is_some_and(|it| it.kind == ItemType::Multi))
    }

    fn call(&self, f: Func, args: &[Expr]) -> Option<String> {
        let all = || {
            args.iter()
                .map(|a| self.expr(a))
                .collect::<Option<Vec<_>>>()
        };
        let one = || self.expr(args.first()?);
        Some(match f {
            Func::Sum => {
                let c = combine(&all()?);
                format!("iif({c}.exists(), {c}.sum(), {{}})")
            }
            Func::Mean => {
                let c = combine(&all()?);
                format!("iif({c}.exists(), {c}.sum() / {c}.count(), {{}})")
            }
            Func::Min => format!("{}.min()", combine(&all()?)),
            Func::Max => format!("{}.max()", combine(&all()?)),
            Func::CountAnswered => {
                let parts: Vec<String> = all()?
                    .iter()
                    .map(|a| format!("iif({a}.exists(), 1, 0)"))
                    .collect();
                format!("({})", parts.join(" + "))
            }
            Func::Answered => format!("{}.exists()", one()?),
            Func::Coalesce => {
                let parts = all()?;
                let (last, rest) = parts.split_last()?;
                rest.iter().rev().fold(last.clone(), |acc, a| {
                    format!("iif({a}.exists(), {a}, {acc})")
                })
            }
            Func::Abs => format!("{}.abs()", one()?),
            Func::Floor => format!("{}.floor()", one()?),
            Func::Ceil => format!("{}.ceiling()", one()?),
            Func::Round => {
                let x = one()?;
                let digits = match args.get(1).map(|a| &a.kind) {
                    None => 0,
                    Some(ExprKind::Lit(Value::Num(d)))
                        if !d.is_sign_negative() && d.fract().is_zero() =>
                    {
                        rust_decimal::prelude::ToPrimitive::to_u32(d).filter(|d| *d <= 28)?
                    }
                    Some(_) => return None,
                };
                round_half_away(&x, digits)
            }
            Func::If => {
                let a = all()?;
                format!("iif({}, {}, {})", a.first()?, a.get(1)?, a.get(2)?)
            }
            Func::Len if self.many(args.first()?) => format!("{}.count()", one()?),
            Func::Contains if self.many(args.first()?) => {
                let a = all()?;
                format!("({} in {})", a.get(1)?, a.first()?)
            }
            _ => return None,
        })
    }
}

/// `x` rounded to `digits` half away from zero, as prom rounds. Written
/// with `floor()`, whose meaning every engine shares: FHIRPath's `round()`
/// says "half up" but engines differ (some round half to even).
fn round_half_away(x: &str, digits: u32) -> String {
    let scale = fmt_num(Decimal::from_i128_with_scale(10i128.pow(digits), 0));
    if digits == 0 {
        format!("iif({x} < 0, -((-{x}) + 0.5).floor(), ({x} + 0.5).floor())")
    } else {
        format!(
            "iif({x} < 0, -(((-{x}) * {scale} + 0.5).floor() / {scale}), ({x} * {scale} + 0.5).floor() / {scale})"
        )
    }
}

fn combine(parts: &[String]) -> String {
    match parts.split_first() {
        None => "{}".into(),
        Some((first, [])) => first.clone(),
        Some((first, rest)) => {
            let mut s = format!("({first})");
            for p in rest {
                s.push_str(&format!(".combine({p})"));
            }
            s
        }
    }
}

/// A prom expression (`show_if`, a rule, a score's `expr`) as FHIRPath, or
/// `None` when it reads something FHIRPath cannot.
pub fn expression(q: &Questionnaire, e: &Expr) -> Option<String> {
    Tr { q, raw: None }.expr(e)
}

/// What one item adds to a sum or mean score, in FHIRPath: empty when
/// unanswered (or hidden), else one number.
fn term(q: &Questionnaire, s: &Score, i: usize) -> Option<String> {
    let it = &q.items[i];
    let reverse = if s.reverse.contains(&i) {
        Some(it.reverse_range()?)
    } else {
        None
    };
    let contribution = |o: &crate::core::model::ChoiceOption| -> Option<Decimal> {
        let v = o.scoring_value()?;
        match reverse {
            Some((lo, hi)) if !o.not_applicable => lo.checked_add(hi)?.checked_sub(v),
            _ => Some(v),
        }
    };
    let base = answers(&it.id);
    let t = match it.kind {
        ItemType::Choice | ItemType::Multi => {
            let identity = reverse.is_none()
                && it
                    .options
                    .iter()
                    .all(|o| o.value.as_num().is_some() && contribution(o) == o.value.as_num());
            let per_code = if identity {
                "code.toDecimal()".to_string()
            } else {
                let mut chain = "{}".to_string();
                for o in it.options.iter().rev() {
                    let code = match &o.value {
                        Value::Num(d) => fmt_num(*d),
                        Value::Str(s) => s.clone(),
                        _ => return None,
                    };
                    let score = match contribution(o) {
                        Some(d) => fmt_num(d),
                        // prom counts a multi answer with an unscored
                        // option as unanswered; FHIRPath's select would
                        // drop only that option, so leave it to prom.
                        None if it.kind == ItemType::Multi => return None,
                        None => "{}".into(),
                    };
                    chain = format!(
                        "iif(code = '{}', {score}, {chain})",
                        super::escape_quoted(&code)
                    );
                }
                chain
            };
            if it.kind == ItemType::Choice {
                format!("{base}.select({per_code})")
            } else {
                let all = format!("{base}.select({per_code})");
                format!("iif({all}.exists(), {all}.sum(), {{}})")
            }
        }
        ItemType::Boolean => {
            let b = format!("{base}.select(iif($this, 1, 0))");
            match reverse {
                Some((lo, hi)) => format!("({} - {b})", fmt_num(lo.checked_add(hi)?)),
                None => b,
            }
        }
        ItemType::Integer | ItemType::Decimal | ItemType::Slider => match reverse {
            Some((lo, hi)) => format!("({} - {base})", fmt_num(lo.checked_add(hi)?)),
            None => base,
        },
        _ => return None,
    };
    Some(match &it.show_if {
        Some(show) => format!("iif({}, {t}, {{}})", expression(q, &show.ast)?),
        None => t,
    })
}

/// A score as FHIRPath variables (name, expression) and the calculated
/// expression that reads them, following prom's scoring: at most
/// `allow_missing` shown items unanswered, a mean or a sum (prorated when
/// `impute: mean`), then `transform`, then rounding half away from zero.
pub fn score(q: &Questionnaire, s: &Score) -> Option<(Vec<(String, String)>, String)> {
    let mut vars = Vec::new();
    let raw = match s.method {
        Method::Expr => expression(q, &s.expr.as_ref()?.ast)?,
        Method::Sum | Method::Mean => {
            let terms = s
                .items
                .iter()
                .map(|&i| term(q, s, i))
                .collect::<Option<Vec<_>>>()?;
            vars.push(("answers".to_string(), combine(&terms)));
            let shown = if s.items.iter().all(|&i| q.items[i].show_if.is_none()) {
                s.items.len().to_string()
            } else {
                let parts = s
                    .items
                    .iter()
                    .map(|&i| match &q.items[i].show_if {
                        None => Some("1".to_string()),
                        Some(e) => Some(format!("iif({}, 1, 0)", expression(q, &e.ast)?)),
                    })
                    .collect::<Option<Vec<_>>>()?;
                format!("({})", parts.join(" + "))
            };
            vars.push(("shown".to_string(), shown));
            let value = match (s.method, s.impute) {
                (Method::Mean, _) => "%answers.sum() / %answers.count()",
                (_, crate::core::model::Impute::Mean) => {
                    "%answers.sum() * %shown / %answers.count()"
                }
                _ => "%answers.sum()",
            };
            format!(
                "iif(%answers.count() = 0 or %shown - %answers.count() > {}, {{}}, {value})",
                s.allow_missing
            )
        }
    };
    let value = match &s.transform {
        Some(t) => Tr { q, raw: Some(&raw) }.expr(&t.ast)?,
        None => raw,
    };
    let value = match s.round {
        Some(d) => {
            vars.push(("value".to_string(), value));
            round_half_away("%value", d)
        }
        None => value,
    };
    Some((vars, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(src: &str) -> Questionnaire {
        let out = crate::core::compile::compile_yaml(src);
        out.questionnaire.expect("compiles")
    }

    const Q: &str = r#"
id: t
version: 1
title: {da: T, en: T}
languages: [da, en]
items:
  - id: a
    type: choice
    text: {da: A, en: A}
    options:
      - {value: 0, text: {da: Nej, en: 'No'}}
      - {value: 1, text: {da: Ja, en: 'Yes'}}
  - id: b
    type: choice
    text: {da: B, en: B}
    options:
      - {value: lo, score: 3, text: {da: L, en: L}}
      - {value: hi, score: 7, text: {da: H, en: H}}
  - id: ok
    type: boolean
    text: {da: J, en: Y}
  - id: n
    type: integer
    min: 0
    max: 10
    text: {da: N, en: N}
    show_if: "ok and not answered(b)"
scores:
  - id: total
    items: [a, b]
    method: sum
    missing: {allow: 1, impute: mean}
    round: 0
rules:
  - id: r
    level: yellow
    when: "total >= 5 or previous(total) > 1"
    text: {da: R, en: R}
"#;

    #[test]
    fn conditions_become_fhirpath_that_keeps_prom_s_meaning_of_unanswered() {
        let q = compile(Q);
        let show = q.items[3].show_if.as_ref().expect("show_if");
        let fp = expression(&q, &show.ast).expect("translates");
        assert_eq!(
            fp,
            "(%resource.repeat(item).where(linkId='ok').answer.value and \
             iif(%resource.repeat(item).where(linkId='b').answer.value.code.exists(), false, true))"
        );
        // History has no FHIRPath counterpart.
        assert_eq!(expression(&q, &q.rules[0].when.ast), None);
    }

    #[test]
    fn a_prorated_sum_score_maps_codes_to_scores_and_counts_what_is_missing() {
        let q = compile(Q);
        let (vars, calc) = score(&q, &q.scores[0]).expect("translates");
        assert_eq!(vars[0].0, "answers");
        assert!(
            vars[0]
                .1
                .contains("linkId='a').answer.value.select(code.toDecimal())")
        );
        assert!(
            vars[0]
                .1
                .contains("select(iif(code = 'lo', 3, iif(code = 'hi', 7, {})))"),
            "{}",
            vars[0].1
        );
        assert_eq!(vars[1], ("shown".to_string(), "2".to_string()));
        assert_eq!(
            vars[2].1,
            "iif(%answers.count() = 0 or %shown - %answers.count() > 1, {}, \
             %answers.sum() * %shown / %answers.count())"
        );
        assert_eq!(
            calc,
            "iif(%value < 0, -((-%value) + 0.5).floor(), (%value + 0.5).floor())"
        );
    }
}
