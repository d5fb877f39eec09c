//! Why a rule fired, as plain values: the answers and scores its condition
//! reads in this response, the answers behind those scores, and the names
//! it reads in earlier responses (through `previous()`, `baseline()` and
//! the other history functions). The workspace highlights those answers
//! and shows the earlier values beside the new ones.

use super::expr::syntax::{Expr, ExprKind, Slot};
use super::model::Questionnaire;

/// What one rule's condition reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleReads {
    /// Items (indexes into `Questionnaire::items`) read in this response,
    /// directly or through a score, in questionnaire order.
    pub items: Vec<usize>,
    /// Scores (indexes into `Questionnaire::scores`) read in this response.
    pub scores: Vec<usize>,
    /// Item and score ids read in earlier responses, in the order written.
    pub earlier: Vec<String>,
}

/// What rule `rule` (an index into `Questionnaire::rules`) reads.
pub fn rule_reads(q: &Questionnaire, rule: usize) -> RuleReads {
    let mut out = RuleReads::default();
    let Some(r) = q.rules.get(rule) else {
        return out;
    };
    collect(&r.when.ast, false, &mut out);
    // The answers behind each score read (a score may read other scores).
    let mut i = 0;
    while i < out.scores.len() {
        let s = &q.scores[out.scores[i]];
        for &it in &s.items {
            push(&mut out.items, it);
        }
        for e in [&s.expr, &s.transform].into_iter().flatten() {
            collect(&e.ast, false, &mut out);
        }
        i += 1;
    }
    out.items.sort_unstable();
    out
}

fn push(v: &mut Vec<usize>, x: usize) {
    if !v.contains(&x) {
        v.push(x);
    }
}

fn collect(e: &Expr, in_history: bool, out: &mut RuleReads) {
    match &e.kind {
        ExprKind::Name(n, slot) => match (slot, in_history) {
            (Slot::Item(i), false) => push(&mut out.items, *i),
            (Slot::Score(s), false) => push(&mut out.scores, *s),
            (Slot::Item(_) | Slot::Score(_), true) if !out.earlier.contains(n) => {
                out.earlier.push(n.clone());
            }
            _ => {}
        },
        ExprKind::Call(f, args) => {
            for a in args {
                collect(a, in_history || f.is_history(), out);
            }
        }
        ExprKind::Lit(_) => {}
        ExprKind::List(xs) => xs.iter().for_each(|x| collect(x, in_history, out)),
        ExprKind::Neg(x) | ExprKind::Not(x) => collect(x, in_history, out),
        ExprKind::Bin(_, a, b) => {
            collect(a, in_history, out);
            collect(b, in_history, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::compile::compile_yaml;

    fn q(src: &str) -> Questionnaire {
        let c = compile_yaml(src);
        assert!(
            c.diagnostics.iter().all(|d| !d.is_error()),
            "{:?}",
            c.diagnostics
        );
        c.questionnaire.expect("compiles")
    }

    const SRC: &str = r#"
id: t
version: 1
title: T
items:
  - {id: a, type: slider, min: 0, max: 10, text: A}
  - {id: b, type: slider, min: 0, max: 10, text: B}
  - {id: c, type: boolean, text: C}
scores:
  - {id: total, items: [a, b]}
rules:
  - {id: high_a, when: "a >= 7", level: red, text: A high}
  - {id: rise, when: "total - previous(total) >= 5", level: yellow, text: Rise}
  - {id: both, when: "c and previous(a) < a", level: yellow, text: Both}
"#;

    #[test]
    fn a_rule_reads_its_answers_directly_through_scores_and_in_earlier_responses() {
        let q = q(SRC);
        assert_eq!(
            rule_reads(&q, 0),
            RuleReads {
                items: vec![0],
                scores: vec![],
                earlier: vec![]
            }
        );
        assert_eq!(
            rule_reads(&q, 1),
            RuleReads {
                items: vec![0, 1],
                scores: vec![0],
                earlier: vec!["total".into()]
            }
        );
        assert_eq!(
            rule_reads(&q, 2),
            RuleReads {
                items: vec![0, 2],
                scores: vec![],
                earlier: vec!["a".into()]
            }
        );
        assert_eq!(rule_reads(&q, 9), RuleReads::default());
    }

    #[test]
    fn a_fired_rule_is_explained_with_the_values_it_read() {
        use crate::core::engine::{evaluate, explain, fire_rules, history_entry};
        use crate::core::value::Value;
        let q = q(SRC);
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 3, d).expect("date");
        let num = |n: i64| Value::Num(n.into());
        let before = evaluate(&q, vec![num(3), num(3), Value::Bool(false)], day(1));
        let past = vec![history_entry(&q, &before, &fire_rules(&q, &before, &[]))];
        let now = evaluate(&q, vec![num(8), num(6), Value::Bool(true)], day(2));
        let fired = fire_rules(&q, &now, &past);
        assert_eq!(fired, vec![0, 1, 2]);
        assert_eq!(explain(&q, &now, &past, true, 0), "a 8 ≥ 7");
        assert_eq!(
            explain(&q, &now, &past, true, 1),
            "total 14 − previous(total) 6 = 8 ≥ 5"
        );
        assert_eq!(
            explain(&q, &now, &past, true, 2),
            "c true; previous(a) 3 < a 8"
        );
        // An unanswered value shows as a dash.
        let blank = evaluate(&q, vec![Value::Null, num(1), Value::Null], day(3));
        assert_eq!(explain(&q, &blank, &[], true, 0), "a — ≥ 7");
    }
}
