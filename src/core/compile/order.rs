//! The order of evaluation: items' visibility and scores after what they
//! depend on, and every cycle reported.

use super::*;

impl Cx {
    /// A topological order of items and scores; reports each cycle.
    pub(super) fn order(
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
