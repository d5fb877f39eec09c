//! Expressions where they stand (`show_if`, `expr`, `transform`, `when`) and
//! rules: parsing, type checking, and what rules read of earlier responses.

use super::*;

impl Cx {
    pub(super) fn expression(
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
        let file = self.source.clone();
        let at = |start: u32| yaml::locate(&file, node, start);
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

    pub(super) fn rule(&mut self, n: &Node, p: &str, scope: &Scope) -> Option<Rule> {
        let f = self.fields(
            n,
            p,
            &["id", "when", "level", "text", "patient_text", "source"],
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
        let source = f
            .get("source")
            .and_then(|x| self.string(x, &join(p, "source")));
        Some(Rule {
            id: id?,
            when: when?,
            level: level?,
            text: text?,
            patient_text,
            source,
        })
    }
}

#[derive(Clone, Copy)]
pub(super) enum Want {
    Bool,
    Num,
}

/// Whether the rules read earlier responses, and the names they read there.
pub(super) fn history_reads(rules: &[Rule]) -> (bool, Vec<String>) {
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
