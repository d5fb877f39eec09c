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
}
