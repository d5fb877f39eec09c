//! The type checker: resolves names, checks types and the places where
//! history functions, `raw`, `table()`, `band()` and `days_since_flag()` may
//! stand, and collects every error it finds.

use rust_decimal::Decimal;

use super::syntax::{BinOp, Expr, ExprError, ExprKind, Func, Slot};
use crate::core::diag::closest;
use crate::core::value::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Null,
    Bool,
    Num,
    Str,
    Date,
    List(Box<Ty>),
    /// Unknown, after an error or for a value that may be anything; it
    /// agrees with every type so that one error does not cause others.
    Any,
}

impl Ty {
    pub fn describe(&self) -> String {
        match self {
            Ty::Null => "null".into(),
            Ty::Bool => "a boolean".into(),
            Ty::Num => "a number".into(),
            Ty::Str => "text".into(),
            Ty::Date => "a date".into(),
            Ty::List(t) => match **t {
                Ty::Any | Ty::Null => "a list".into(),
                ref t => format!("a list of {}", t.describe_plural()),
            },
            Ty::Any => "a value".into(),
        }
    }

    fn describe_plural(&self) -> &'static str {
        match self {
            Ty::Num => "numbers",
            Ty::Str => "texts",
            Ty::Bool => "booleans",
            Ty::Date => "dates",
            _ => "values",
        }
    }

    fn loose(&self) -> bool {
        matches!(self, Ty::Any | Ty::Null)
    }

    /// Whether values of the two types can be compared or mixed.
    pub fn agrees(&self, other: &Ty) -> bool {
        match (self, other) {
            (a, b) if a.loose() || b.loose() => true,
            (Ty::List(a), Ty::List(b)) => a.agrees(b),
            (a, b) => a == b,
        }
    }

    fn unify(&self, other: &Ty) -> Ty {
        match (self, other) {
            (Ty::Null, b) => b.clone(),
            (a, Ty::Null) => a.clone(),
            (Ty::Any, _) | (_, Ty::Any) => Ty::Any,
            (Ty::List(a), Ty::List(b)) => Ty::List(Box::new(a.unify(b))),
            (a, b) if a == b => a.clone(),
            _ => Ty::Any,
        }
    }

    fn is(&self, t: &Ty) -> bool {
        self.loose() || self == t
    }

    fn is_numeric_or_list(&self) -> bool {
        match self {
            Ty::List(t) => t.is(&Ty::Num),
            t => t.is(&Ty::Num),
        }
    }
}

/// A closed set of texts, for checking literals compared with it.
struct ClosedSet {
    name: String,
    values: Vec<String>,
    /// `option` or `band`.
    what: &'static str,
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// What names mean where the expression stands.
pub struct Scope<'a> {
    /// Item and score names.
    pub resolve: &'a dyn Fn(&str) -> Option<(Slot, Ty)>,
    /// All item and score names, for "did you mean" hints.
    pub names: &'a [&'a str],
    pub tables: &'a [&'a str],
    pub scores: &'a [&'a str],
    pub rules: &'a [&'a str],
    /// The texts an item's answer can be, when they are a closed set: the
    /// string values of a choice or multi item's options.
    pub options: &'a dyn Fn(Slot) -> Option<Vec<String>>,
    /// Each score's band ids, by score index.
    pub bands: &'a [Vec<String>],
    /// History functions are allowed (in `rules[].when`).
    pub history: bool,
    /// `raw` is allowed (in `scores[].transform`).
    pub raw: bool,
}

/// Checks `e`, resolving its names in place, and returns its type.
pub fn check(e: &mut Expr, scope: &Scope, errs: &mut Vec<ExprError>) -> Ty {
    Checker { scope, errs }.ty(e, false)
}

struct Checker<'s, 'a> {
    scope: &'s Scope<'a>,
    errs: &'s mut Vec<ExprError>,
}

impl Checker<'_, '_> {
    fn err(&mut self, e: &Expr, msg: impl Into<String>) {
        self.errs.push(ExprError::new(e.start, e.end, msg));
    }

    fn expect(&mut self, e: &Expr, got: &Ty, want: &Ty, what: &str) {
        if !got.is(want) {
            self.err(
                e,
                format!(
                    "{what} must be {}, but this is {}",
                    want.describe(),
                    got.describe()
                ),
            );
        }
    }

    fn ty(&mut self, e: &mut Expr, in_history: bool) -> Ty {
        let (start, end) = (e.start, e.end);
        match &mut e.kind {
            ExprKind::Lit(v) => match v {
                Value::Null => Ty::Null,
                Value::Bool(_) => Ty::Bool,
                Value::Num(_) => Ty::Num,
                Value::Str(_) => Ty::Str,
                Value::Date(_) => Ty::Date,
                Value::List(_) => Ty::List(Box::new(Ty::Any)),
            },
            ExprKind::Name(name, slot) => {
                if name == "raw" && self.scope.raw {
                    *slot = Slot::Raw;
                    return Ty::Num;
                }
                if let Some((s, t)) = (self.scope.resolve)(name) {
                    *slot = s;
                    return t;
                }
                let name = name.clone();
                let mut err = ExprError::new(start, end, format!("unknown name `{name}`"));
                if let Some(c) = closest(&name, self.scope.names.iter().copied()) {
                    err = err.hint(format!("did you mean `{c}`?"));
                } else if name == "raw" {
                    err = err.hint("`raw` can only be used in a score's `transform`");
                } else if self.scope.rules.contains(&name.as_str()) {
                    err = err.hint(
                        "rules are not values; `days_since_flag(rule)` reads when one last fired",
                    );
                }
                self.errs.push(err);
                Ty::Any
            }
            ExprKind::List(xs) => {
                let mut t = Ty::Null;
                for x in xs.iter_mut() {
                    let xt = self.ty(x, in_history);
                    if matches!(xt, Ty::List(_)) {
                        self.err(x, "lists cannot hold lists");
                    } else if !t.agrees(&xt) {
                        self.err(
                            x,
                            format!(
                                "a list must hold values of one kind; this is {} after {}",
                                xt.describe(),
                                t.describe()
                            ),
                        );
                    }
                    t = t.unify(&xt);
                }
                Ty::List(Box::new(if t == Ty::Null { Ty::Any } else { t }))
            }
            ExprKind::Neg(x) => {
                let t = self.ty(x, in_history);
                self.expect(x, &t, &Ty::Num, "the operand of `-`");
                Ty::Num
            }
            ExprKind::Not(x) => {
                let t = self.ty(x, in_history);
                self.expect(x, &t, &Ty::Bool, "the operand of `not`");
                Ty::Bool
            }
            ExprKind::Bin(op, a, b) => {
                let op = *op;
                let ta = self.ty(a, in_history);
                let tb = self.ty(b, in_history);
                self.literals(op, a, b);
                self.binary(op, a, &ta, b, &tb, start, end)
            }
            ExprKind::Call(f, args) => {
                let f = *f;
                self.call(f, args, start, end, in_history)
            }
        }
    }

    /// The closed set of texts `e` can be, with the name it belongs to and
    /// what its members are called: a choice or multi item's options (also
    /// through `previous` and `baseline`), or a score's bands through
    /// `band()`.
    fn closed_set(&self, e: &Expr) -> Option<ClosedSet> {
        match &e.kind {
            ExprKind::Name(n, slot) => (self.scope.options)(*slot).map(|values| ClosedSet {
                name: n.clone(),
                values,
                what: "option",
            }),
            ExprKind::Call(Func::Previous | Func::Baseline, args) if args.len() == 1 => {
                self.closed_set(&args[0])
            }
            ExprKind::Call(Func::Band, args) => match args.first().map(|a| &a.kind) {
                Some(ExprKind::Name(n, Slot::Score(j))) => self
                    .scope
                    .bands
                    .get(*j)
                    .filter(|b| !b.is_empty())
                    .map(|b| ClosedSet {
                        name: n.clone(),
                        values: b.clone(),
                        what: "band",
                    }),
                _ => None,
            },
            _ => None,
        }
    }

    /// A text literal compared with a closed set must be one of its
    /// members: `change = 'much worse'` against `much_worse` could never
    /// be true, and a rule that can never fire must not compile silently.
    fn member(&mut self, set: &ClosedSet, lit: &Expr) {
        match &lit.kind {
            ExprKind::Lit(Value::Str(s)) if !set.values.contains(s) => {
                let hint = match closest(s, set.values.iter().map(String::as_str)) {
                    Some(c) => format!("did you mean '{c}'?"),
                    None => format!(
                        "the {}s of `{}` are {}",
                        set.what,
                        set.name,
                        set.values
                            .iter()
                            .map(|v| format!("'{v}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.errs.push(
                    ExprError::new(
                        lit.start,
                        lit.end,
                        format!(
                            "'{s}' is not {} {} of `{}`",
                            article(set.what),
                            set.what,
                            set.name
                        ),
                    )
                    .hint(hint),
                );
            }
            ExprKind::List(xs) => {
                for x in xs {
                    self.member(set, x);
                }
            }
            _ => {}
        }
    }

    fn literals(&mut self, op: BinOp, a: &Expr, b: &Expr) {
        if !op.is_comparison() {
            return;
        }
        if op == BinOp::In {
            // 'x' in multi_item, or choice_item in ['a', 'b'].
            if let Some(set) = self.closed_set(b) {
                self.member(&set, a);
            }
            if let Some(set) = self.closed_set(a) {
                self.member(&set, b);
            }
            return;
        }
        if let Some(set) = self.closed_set(a) {
            self.member(&set, b);
        }
        if let Some(set) = self.closed_set(b) {
            self.member(&set, a);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn binary(
        &mut self,
        op: BinOp,
        a: &Expr,
        ta: &Ty,
        b: &Expr,
        tb: &Ty,
        start: u32,
        end: u32,
    ) -> Ty {
        let sym = op.symbol();
        match op {
            BinOp::And | BinOp::Or => {
                self.expect(a, ta, &Ty::Bool, &format!("each side of `{sym}`"));
                self.expect(b, tb, &Ty::Bool, &format!("each side of `{sym}`"));
                Ty::Bool
            }
            BinOp::Eq | BinOp::Ne => {
                let null_side = [a, b]
                    .into_iter()
                    .find(|x| matches!(x.kind, ExprKind::Lit(Value::Null)));
                if null_side.is_some() {
                    let other = if matches!(a.kind, ExprKind::Lit(Value::Null)) {
                        b
                    } else {
                        a
                    };
                    let what = match &other.kind {
                        ExprKind::Name(n, _) => n.clone(),
                        _ => "x".into(),
                    };
                    let hint = if op == BinOp::Eq {
                        format!("write `not answered({what})` to test for a missing answer")
                    } else {
                        format!("write `answered({what})` to test for an answer")
                    };
                    self.errs.push(
                        ExprError::new(start, end, "a comparison with `null` is never true")
                            .hint(hint),
                    );
                } else if !ta.agrees(tb) {
                    self.errs.push(ExprError::new(
                        start,
                        end,
                        format!("cannot compare {} with {}", ta.describe(), tb.describe()),
                    ));
                }
                Ty::Bool
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let ordered =
                    |t: &Ty| matches!(t, Ty::Num | Ty::Date | Ty::Str | Ty::Any | Ty::Null);
                if matches!(a.kind, ExprKind::Lit(Value::Null))
                    || matches!(b.kind, ExprKind::Lit(Value::Null))
                {
                    self.errs.push(
                        ExprError::new(start, end, "a comparison with `null` is never true")
                            .hint("use `answered(x)` to test for an answer"),
                    );
                } else if !ordered(ta) || !ordered(tb) || !ta.agrees(tb) {
                    self.errs.push(ExprError::new(
                        start,
                        end,
                        format!(
                            "cannot compare {} with {} using `{sym}`",
                            ta.describe(),
                            tb.describe()
                        ),
                    ));
                }
                Ty::Bool
            }
            BinOp::In => {
                match tb {
                    Ty::List(inner) => {
                        if !ta.agrees(inner) {
                            self.errs.push(ExprError::new(
                                start,
                                end,
                                format!("cannot look for {} in {}", ta.describe(), tb.describe()),
                            ));
                        }
                    }
                    t if t.loose() => {}
                    t => self.err(
                        b,
                        format!(
                            "the right side of `in` must be a list, but this is {}",
                            t.describe()
                        ),
                    ),
                }
                Ty::Bool
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                if !ta.is(&Ty::Num) || !tb.is(&Ty::Num) {
                    self.errs.push(ExprError::new(
                        start,
                        end,
                        format!(
                            "`{sym}` needs two numbers, but got {} and {}",
                            ta.describe(),
                            tb.describe()
                        ),
                    ));
                }
                Ty::Num
            }
        }
    }

    fn call(&mut self, f: Func, args: &mut [Expr], start: u32, end: u32, in_history: bool) -> Ty {
        let name = f.name();
        let (lo, hi) = f.arity();
        if args.len() < lo || hi.is_some_and(|h| args.len() > h) {
            let want = match hi {
                Some(h) if h == lo => format!("{lo}"),
                Some(h) => format!("{lo} or {h}"),
                None => format!("at least {lo}"),
            };
            let plural = if want == "1" { "" } else { "s" };
            self.errs.push(ExprError::new(
                start,
                end,
                format!(
                    "`{name}` takes {want} argument{plural}, but was given {}",
                    args.len()
                ),
            ));
            return Ty::Any;
        }
        let mut nested_history = in_history;
        if f.is_history() {
            if !self.scope.history {
                self.errs.push(ExprError::new(
                    start,
                    end,
                    format!(
                        "`{name}` reads earlier responses and can only be used in a rule's `when`"
                    ),
                ));
            } else if in_history {
                self.errs.push(ExprError::new(
                    start,
                    end,
                    format!("history functions do not nest: `{name}` stands inside another one"),
                ));
            }
            nested_history = true;
        }
        // Arguments that are not ordinary values.
        match f {
            Func::Table => {
                let key_ty = self.ty(&mut args[1], nested_history);
                if !matches!(key_ty, Ty::Num | Ty::Str | Ty::Any | Ty::Null) {
                    self.err(
                        &args[1],
                        format!(
                            "a table key must be a number or text, but this is {}",
                            key_ty.describe()
                        ),
                    );
                }
                let (s, e) = (args[0].start, args[0].end);
                match &args[0].kind {
                    ExprKind::Lit(Value::Str(t)) => {
                        if let Some(i) = self.scope.tables.iter().position(|x| x == t) {
                            args[0].kind = ExprKind::Name(t.clone(), Slot::Table(i));
                        } else {
                            let mut err = ExprError::new(s, e, format!("unknown table `{t}`"));
                            if let Some(c) = closest(t, self.scope.tables.iter().copied()) {
                                err = err.hint(format!("did you mean '{c}'?"));
                            } else if self.scope.tables.is_empty() {
                                err = err.hint("declare it under `tables:` at the top level");
                            }
                            self.errs.push(err);
                        }
                    }
                    _ => self.errs.push(
                        ExprError::new(
                            s,
                            e,
                            "the first argument of `table` must be a table's name in quotes",
                        )
                        .hint("write table('name', key)"),
                    ),
                }
                return Ty::Num;
            }
            Func::Band => {
                let arg = &mut args[0];
                if let ExprKind::Name(n, slot) = &mut arg.kind
                    && let Some(i) = self.scope.scores.iter().position(|s| s == n)
                {
                    *slot = Slot::Score(i);
                    return Ty::Str;
                }
                self.err(arg, "the argument of `band` must be a score's name");
                return Ty::Str;
            }
            Func::DaysSinceFlag => {
                let arg = &mut args[0];
                if let ExprKind::Name(n, slot) = &mut arg.kind {
                    if let Some(i) = self.scope.rules.iter().position(|s| s == n) {
                        *slot = Slot::Rule(i);
                    } else {
                        let mut err =
                            ExprError::new(arg.start, arg.end, format!("unknown rule `{n}`"));
                        if let Some(c) = closest(n, self.scope.rules.iter().copied()) {
                            err = err.hint(format!("did you mean `{c}`?"));
                        }
                        self.errs.push(err);
                    }
                } else {
                    self.err(arg, "the argument of `days_since_flag` must be a rule's id");
                }
                return Ty::Num;
            }
            _ => {}
        }
        let tys: Vec<Ty> = args
            .iter_mut()
            .map(|a| self.ty(a, nested_history))
            .collect();
        match f {
            Func::Sum | Func::Mean => {
                for (a, t) in args.iter().zip(&tys) {
                    if !t.is_numeric_or_list() {
                        self.err(
                            a,
                            format!("`{name}` takes numbers, but this is {}", t.describe()),
                        );
                    }
                }
                Ty::Num
            }
            Func::Min | Func::Max => {
                let elem = |t: &Ty| match t {
                    Ty::List(x) => (**x).clone(),
                    t => t.clone(),
                };
                let mut kind = Ty::Null;
                for (a, t) in args.iter().zip(&tys) {
                    let et = elem(t);
                    if !matches!(et, Ty::Num | Ty::Date | Ty::Any | Ty::Null) {
                        self.err(
                            a,
                            format!(
                                "`{name}` takes numbers or dates, but this is {}",
                                t.describe()
                            ),
                        );
                    } else if !kind.agrees(&et) {
                        self.err(a, format!("`{name}` cannot mix numbers and dates"));
                    }
                    kind = kind.unify(&et);
                }
                if kind == Ty::Date { Ty::Date } else { Ty::Num }
            }
            Func::CountAnswered => Ty::Num,
            Func::Answered => Ty::Bool,
            Func::Coalesce => {
                let mut t = Ty::Null;
                for (a, at) in args.iter().zip(&tys) {
                    if !t.agrees(at) {
                        self.err(
                            a,
                            format!(
                                "`coalesce` needs values of one kind; this is {} after {}",
                                at.describe(),
                                t.describe()
                            ),
                        );
                    }
                    t = t.unify(at);
                }
                t
            }
            Func::Abs | Func::Floor | Func::Ceil => {
                self.expect(
                    &args[0],
                    &tys[0],
                    &Ty::Num,
                    &format!("the argument of `{name}`"),
                );
                Ty::Num
            }
            Func::Round => {
                self.expect(&args[0], &tys[0], &Ty::Num, "the value to round");
                if let Some(d) = args.get(1) {
                    self.expect(d, &tys[1], &Ty::Num, "the number of digits");
                    if let ExprKind::Lit(Value::Num(n)) = d.kind
                        && (n < Decimal::ZERO
                            || n.fract() != Decimal::ZERO
                            || n > Decimal::from(28))
                    {
                        self.err(
                            d,
                            "the number of digits must be a whole number from 0 to 28",
                        );
                    }
                }
                Ty::Num
            }
            Func::If => {
                self.expect(&args[0], &tys[0], &Ty::Bool, "the condition of `if`");
                if !tys[1].agrees(&tys[2]) {
                    self.errs.push(ExprError::new(
                        start,
                        end,
                        format!(
                            "both branches of `if` must be of one kind, but got {} and {}",
                            tys[1].describe(),
                            tys[2].describe()
                        ),
                    ));
                }
                tys[1].unify(&tys[2])
            }
            Func::Len => {
                if !matches!(tys[0], Ty::List(_) | Ty::Any | Ty::Null) {
                    self.err(
                        &args[0],
                        format!(
                            "`len` takes a multi item, but this is {}",
                            tys[0].describe()
                        ),
                    );
                }
                Ty::Num
            }
            Func::Contains => {
                match &tys[0] {
                    Ty::List(inner) => {
                        if !inner.agrees(&tys[1]) {
                            self.err(
                                &args[1],
                                format!(
                                    "cannot look for {} in {}",
                                    tys[1].describe(),
                                    tys[0].describe()
                                ),
                            );
                        }
                    }
                    t if t.loose() => {}
                    t => self.err(
                        &args[0],
                        format!(
                            "the first argument of `contains` must be a multi item or a list, but this is {}",
                            t.describe()
                        ),
                    ),
                }
                if let Some(set) = self.closed_set(&args[0]) {
                    self.member(&set, &args[1]);
                }
                Ty::Bool
            }
            Func::DaysBetween => {
                for (a, t) in args.iter().zip(&tys) {
                    self.expect(a, t, &Ty::Date, "each argument of `days_between`");
                }
                Ty::Num
            }
            Func::ResponseDate => Ty::Date,
            Func::Previous | Func::Baseline => tys[0].clone(),
            Func::MinPrevious | Func::MaxPrevious | Func::MeanPrevious => {
                let ok = if f == Func::MeanPrevious {
                    tys[0].is(&Ty::Num)
                } else {
                    matches!(tys[0], Ty::Num | Ty::Date | Ty::Any | Ty::Null)
                };
                if !ok {
                    self.err(
                        &args[0],
                        format!("`{name}` takes a number, but this is {}", tys[0].describe()),
                    );
                }
                if let Some(n) = args.get(1) {
                    self.count_arg(n, name);
                }
                if f != Func::MeanPrevious && tys[0] == Ty::Date {
                    Ty::Date
                } else {
                    Ty::Num
                }
            }
            Func::CountPrevious => {
                self.expect(
                    &args[0],
                    &tys[0],
                    &Ty::Bool,
                    "the condition of `count_previous`",
                );
                if let Some(n) = args.get(1) {
                    self.count_arg(n, name);
                }
                Ty::Num
            }
            Func::CountWithin => {
                self.expect(
                    &args[0],
                    &tys[0],
                    &Ty::Bool,
                    "the condition of `count_within`",
                );
                self.expect(&args[1], &tys[1], &Ty::Num, "the number of days");
                Ty::Num
            }
            Func::Streak => {
                self.expect(&args[0], &tys[0], &Ty::Bool, "the condition of `streak`");
                Ty::Num
            }
            Func::DaysSincePrevious => Ty::Num,
            Func::Table | Func::Band | Func::DaysSinceFlag => Ty::Any,
        }
    }

    /// `n` in `min_previous(x, n)` and the like: a whole number of at least 1.
    fn count_arg(&mut self, n: &Expr, name: &str) {
        match n.kind {
            ExprKind::Lit(Value::Num(v)) if v >= Decimal::ONE && v.fract().is_zero() => {}
            _ => self.err(
                n,
                format!("the count in `{name}` must be a whole number of at least 1, such as 3"),
            ),
        }
    }
}
