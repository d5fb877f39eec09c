//! The evaluator. It never fails: a type-checked expression over any values
//! gives a value, with `null` for what cannot be computed (a missing answer,
//! division by zero, an overflow).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::cell::Cell;
use std::collections::HashMap;

use super::syntax::{BinOp, Expr, ExprKind, Func, Slot};
use crate::core::model::Questionnaire;
use crate::core::value::{Value, round_half_away};

/// Where names get their values: the response being processed, or an earlier
/// one.
pub trait Env {
    fn get(&self, slot: Slot, name: &str) -> Value;
    /// The calendar date of the response this environment stands for.
    fn date(&self) -> NaiveDate;
}

/// An earlier response of the same patient to the same questionnaire id, as
/// stored: answers and scores by name, and the rules that fired on it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub date: NaiveDate,
    pub values: HashMap<String, Value>,
    pub flags: Vec<String>,
}

impl Env for HistoryEntry {
    fn get(&self, _slot: Slot, name: &str) -> Value {
        self.values.get(name).cloned().unwrap_or(Value::Null)
    }
    fn date(&self) -> NaiveDate {
        self.date
    }
}

/// What evaluation may read besides names.
pub struct Ctx<'a> {
    pub q: &'a Questionnaire,
    /// Earlier responses, newest first: all of them, or only the newest few
    /// (`complete` false), as storage loads a page at a time.
    pub history: &'a [HistoryEntry],
    pub complete: bool,
    /// Set when a history function needed more than the page it was given;
    /// the caller then loads everything and evaluates again.
    pub exhausted: Cell<bool>,
}

impl<'a> Ctx<'a> {
    /// A context with the whole history.
    pub fn new(q: &'a Questionnaire, history: &'a [HistoryEntry]) -> Ctx<'a> {
        Ctx {
            q,
            history,
            complete: true,
            exhausted: Cell::new(false),
        }
    }

    /// Notes that a history function read past the end of a partial page.
    fn ran_out(&self) {
        if !self.complete {
            self.exhausted.set(true);
        }
    }
}

pub fn eval(e: &Expr, env: &dyn Env, cx: &Ctx) -> Value {
    match &e.kind {
        ExprKind::Lit(v) => v.clone(),
        ExprKind::Name(name, slot) => match slot {
            Slot::Item(_) | Slot::Score(_) | Slot::Raw => env.get(*slot, name),
            _ => Value::Null,
        },
        ExprKind::List(xs) => Value::List(xs.iter().map(|x| eval(x, env, cx)).collect()),
        ExprKind::Neg(x) => match eval(x, env, cx) {
            Value::Num(n) => Value::Num(-n),
            _ => Value::Null,
        },
        ExprKind::Not(x) => Value::Bool(!eval(x, env, cx).truthy()),
        ExprKind::Bin(BinOp::And, a, b) => {
            Value::Bool(eval(a, env, cx).truthy() && eval(b, env, cx).truthy())
        }
        ExprKind::Bin(BinOp::Or, a, b) => {
            Value::Bool(eval(a, env, cx).truthy() || eval(b, env, cx).truthy())
        }
        ExprKind::Bin(op, a, b) => binary(*op, eval(a, env, cx), eval(b, env, cx)),
        ExprKind::Call(f, args) => call(*f, args, env, cx),
    }
}

fn binary(op: BinOp, a: Value, b: Value) -> Value {
    use Value::*;
    if a.is_null() || b.is_null() {
        return match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => Null,
            _ => Bool(false),
        };
    }
    match op {
        BinOp::Eq => Bool(a.same(&b)),
        BinOp::Ne => Bool(!a.same(&b)),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let ord = match (&a, &b) {
                (Num(x), Num(y)) => x.cmp(y),
                (Date(x), Date(y)) => x.cmp(y),
                (Str(x), Str(y)) => x.cmp(y),
                _ => return Bool(false),
            };
            Bool(match op {
                BinOp::Lt => ord.is_lt(),
                BinOp::Le => ord.is_le(),
                BinOp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        BinOp::In => match b {
            List(xs) => Bool(xs.iter().any(|x| x.same(&a))),
            _ => Bool(false),
        },
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => match (a, b) {
            (Num(x), Num(y)) => {
                let r = match op {
                    BinOp::Add => x.checked_add(y),
                    BinOp::Sub => x.checked_sub(y),
                    BinOp::Mul => x.checked_mul(y),
                    _ => x.checked_div(y),
                };
                r.map(Num).unwrap_or(Null)
            }
            _ => Null,
        },
        BinOp::And | BinOp::Or => Bool(a.truthy() && b.truthy()),
    }
}

/// The non-null values of the arguments, with lists (multi answers) opened.
fn flat(args: &[Expr], env: &dyn Env, cx: &Ctx) -> Vec<Value> {
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        match eval(a, env, cx) {
            Value::Null => {}
            Value::List(xs) => out.extend(xs.into_iter().filter(|x| !x.is_null())),
            v => out.push(v),
        }
    }
    out
}

fn nums(vals: &[Value]) -> Vec<Decimal> {
    vals.iter().filter_map(Value::as_num).collect()
}

fn sum(xs: &[Decimal]) -> Option<Decimal> {
    xs.iter()
        .try_fold(Decimal::ZERO, |acc, x| acc.checked_add(*x))
}

fn mean(xs: &[Decimal]) -> Value {
    if xs.is_empty() {
        return Value::Null;
    }
    sum(xs)
        .and_then(|s| s.checked_div(Decimal::from(xs.len())))
        .map(Value::Num)
        .unwrap_or(Value::Null)
}

fn extreme(vals: Vec<Value>, want_max: bool) -> Value {
    let mut best: Option<Value> = None;
    for v in vals {
        let better = match (&best, &v) {
            (None, Value::Num(_) | Value::Date(_)) => true,
            (Some(Value::Num(b)), Value::Num(x)) => (x > b) == want_max && x != b,
            (Some(Value::Date(b)), Value::Date(x)) => (x > b) == want_max && x != b,
            _ => false,
        };
        if better {
            best = Some(v);
        }
    }
    best.unwrap_or(Value::Null)
}

fn days(from: NaiveDate, to: NaiveDate) -> Value {
    Value::Num(Decimal::from((to - from).num_days()))
}

/// The `n` argument of a history function, as a count of entries.
fn take_n(args: &[Expr], idx: usize, env: &dyn Env, cx: &Ctx) -> usize {
    match args.get(idx).map(|a| eval(a, env, cx)) {
        Some(Value::Num(n)) => n.trunc().try_into().unwrap_or(0usize),
        _ => usize::MAX,
    }
}

fn call(f: Func, args: &[Expr], env: &dyn Env, cx: &Ctx) -> Value {
    let one = |i: usize| eval(&args[i], env, cx);
    let num1 = |g: fn(Decimal) -> Decimal| match one(0) {
        Value::Num(n) => Value::Num(g(n)),
        _ => Value::Null,
    };
    match f {
        Func::Sum => {
            let xs = nums(&flat(args, env, cx));
            if xs.is_empty() {
                Value::Null
            } else {
                sum(&xs).map(Value::Num).unwrap_or(Value::Null)
            }
        }
        Func::Mean => mean(&nums(&flat(args, env, cx))),
        Func::Min => extreme(flat(args, env, cx), false),
        Func::Max => extreme(flat(args, env, cx), true),
        Func::CountAnswered => Value::Num(Decimal::from(
            args.iter().filter(|a| !eval(a, env, cx).is_null()).count(),
        )),
        Func::Answered => Value::Bool(!one(0).is_null()),
        Func::Coalesce => args
            .iter()
            .map(|a| eval(a, env, cx))
            .find(|v| !v.is_null())
            .unwrap_or(Value::Null),
        Func::Abs => num1(|n| n.abs()),
        Func::Floor => num1(|n| n.floor()),
        Func::Ceil => num1(|n| n.ceil()),
        Func::Round => {
            let digits = match args.get(1).map(|a| eval(a, env, cx)) {
                None => Some(0u32),
                Some(Value::Num(d)) if d >= Decimal::ZERO && d.fract().is_zero() => {
                    d.try_into().ok().map(|d: u32| d.min(28))
                }
                Some(_) => None,
            };
            match (one(0), digits) {
                (Value::Num(n), Some(d)) => Value::Num(round_half_away(n, d)),
                _ => Value::Null,
            }
        }
        Func::If => {
            if one(0).truthy() {
                one(1)
            } else {
                one(2)
            }
        }
        Func::Table => {
            let ExprKind::Name(_, Slot::Table(t)) = args[0].kind else {
                return Value::Null;
            };
            let key = one(1);
            if key.is_null() {
                return Value::Null;
            }
            cx.q.tables
                .get(t)
                .and_then(|t| t.get(&key))
                .map(Value::Num)
                .unwrap_or(Value::Null)
        }
        Func::Band => {
            let ExprKind::Name(name, Slot::Score(s)) = &args[0].kind else {
                return Value::Null;
            };
            match (env.get(Slot::Score(*s), name), cx.q.scores.get(*s)) {
                (Value::Num(v), Some(score)) => score
                    .band_of(v)
                    .map(|b| Value::Str(b.id.clone()))
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            }
        }
        Func::Len => match one(0) {
            Value::List(xs) => Value::Num(Decimal::from(xs.len())),
            _ => Value::Num(Decimal::ZERO),
        },
        Func::Contains => match (one(0), one(1)) {
            (Value::List(xs), v) => Value::Bool(xs.iter().any(|x| x.same(&v))),
            _ => Value::Bool(false),
        },
        Func::DaysBetween => match (one(0), one(1)) {
            (Value::Date(a), Value::Date(b)) => days(a, b),
            _ => Value::Null,
        },
        Func::ResponseDate => Value::Date(env.date()),
        Func::Previous => {
            let found = cx
                .history
                .iter()
                .map(|h| eval(&args[0], h, cx))
                .find(|v| !v.is_null());
            found.unwrap_or_else(|| {
                cx.ran_out();
                Value::Null
            })
        }
        Func::Baseline => {
            // The oldest response is never in a partial page.
            cx.ran_out();
            cx.history
                .iter()
                .rev()
                .map(|h| eval(&args[0], h, cx))
                .find(|v| !v.is_null())
                .unwrap_or(Value::Null)
        }
        Func::MinPrevious | Func::MaxPrevious | Func::MeanPrevious => {
            let n = take_n(args, 1, env, cx);
            if n > cx.history.len() {
                cx.ran_out();
            }
            let vals: Vec<Value> = cx
                .history
                .iter()
                .take(n)
                .map(|h| eval(&args[0], h, cx))
                .filter(|v| !v.is_null())
                .collect();
            match f {
                Func::MinPrevious => extreme(vals, false),
                Func::MaxPrevious => extreme(vals, true),
                _ => mean(&nums(&vals)),
            }
        }
        Func::CountPrevious => {
            let n = take_n(args, 1, env, cx);
            if n > cx.history.len() {
                cx.ran_out();
            }
            let c = cx
                .history
                .iter()
                .take(n)
                .filter(|h| eval(&args[0], *h, cx).truthy())
                .count();
            Value::Num(Decimal::from(c))
        }
        Func::CountWithin => {
            let Value::Num(limit) = one(1) else {
                return Value::Null;
            };
            let today = env.date();
            // Newest first, so the window ends at the first one too old.
            let within: Vec<&HistoryEntry> = cx
                .history
                .iter()
                .take_while(|h| Decimal::from((today - h.date).num_days()) <= limit)
                .collect();
            if within.len() == cx.history.len() {
                cx.ran_out();
            }
            let c = within
                .into_iter()
                .filter(|h| eval(&args[0], *h, cx).truthy())
                .count();
            Value::Num(Decimal::from(c))
        }
        Func::Streak => {
            if !one(0).truthy() {
                return Value::Num(Decimal::ZERO);
            }
            let c = cx
                .history
                .iter()
                .take_while(|h| eval(&args[0], *h, cx).truthy())
                .count();
            if c == cx.history.len() {
                cx.ran_out();
            }
            Value::Num(Decimal::from(c + 1))
        }
        Func::DaysSincePrevious => match cx.history.first() {
            Some(h) => days(h.date, env.date()),
            None => Value::Null,
        },
        Func::DaysSinceFlag => {
            let ExprKind::Name(rule, Slot::Rule(_)) = &args[0].kind else {
                return Value::Null;
            };
            match cx
                .history
                .iter()
                .find(|h| h.flags.iter().any(|f| f == rule))
            {
                Some(h) => days(h.date, env.date()),
                None => Value::Null,
            }
        }
    }
}
