//! What values an expression can take, worked out from the items' bounds
//! (interval arithmetic). The compiler uses it for scores' possible ranges,
//! for bands that no value reaches and for rules that can never fire. Every
//! answer is sound: when in doubt it says "unknown" or "can be true".

use rust_decimal::Decimal;

use super::syntax::{BinOp, Expr, ExprKind, Func, Slot};
use crate::core::model::Table;
use crate::core::value::Value;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Abs {
    /// A number between the two bounds (inclusive), or `null`.
    Num(Decimal, Decimal),
    /// A boolean (or `null`); `false` when it can never be `true`.
    Bool(bool),
    Unknown,
}

impl Abs {
    fn can_true(self) -> bool {
        !matches!(self, Abs::Bool(false))
    }
    fn union(self, o: Abs) -> Abs {
        match (self, o) {
            (Abs::Num(a, b), Abs::Num(c, d)) => Abs::Num(a.min(c), b.max(d)),
            (Abs::Bool(a), Abs::Bool(b)) => Abs::Bool(a || b),
            _ => Abs::Unknown,
        }
    }
}

pub struct RangeCx<'a> {
    pub name: &'a dyn Fn(Slot) -> Abs,
    pub tables: &'a [Table],
}

fn checked(
    a: (Decimal, Decimal),
    b: (Decimal, Decimal),
    f: fn(Decimal, Decimal) -> Option<Decimal>,
) -> Abs {
    let c = [f(a.0, b.0), f(a.0, b.1), f(a.1, b.0), f(a.1, b.1)];
    if c.iter().any(Option::is_none) {
        return Abs::Unknown;
    }
    let c: Vec<Decimal> = c.into_iter().flatten().collect();
    let lo = c.iter().copied().fold(c[0], Decimal::min);
    let hi = c.iter().copied().fold(c[0], Decimal::max);
    Abs::Num(lo, hi)
}

pub fn range(e: &Expr, cx: &RangeCx) -> Abs {
    match &e.kind {
        ExprKind::Lit(Value::Num(n)) => Abs::Num(*n, *n),
        ExprKind::Lit(Value::Bool(b)) => Abs::Bool(*b),
        ExprKind::Lit(_) | ExprKind::List(_) => Abs::Unknown,
        ExprKind::Name(_, slot) => (cx.name)(*slot),
        ExprKind::Neg(x) => match range(x, cx) {
            Abs::Num(lo, hi) => Abs::Num(-hi, -lo),
            _ => Abs::Unknown,
        },
        ExprKind::Not(_) => Abs::Bool(true),
        ExprKind::Bin(op, a, b) => {
            let (ra, rb) = (range(a, cx), range(b, cx));
            match op {
                BinOp::And => Abs::Bool(ra.can_true() && rb.can_true()),
                BinOp::Or => Abs::Bool(ra.can_true() || rb.can_true()),
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => match (ra, rb) {
                    (Abs::Num(a0, a1), Abs::Num(b0, b1)) => match op {
                        BinOp::Add => checked((a0, a1), (b0, b1), Decimal::checked_add),
                        BinOp::Sub => checked((a0, a1), (b1, b0), Decimal::checked_sub),
                        BinOp::Mul => checked((a0, a1), (b0, b1), Decimal::checked_mul),
                        _ if b0 > Decimal::ZERO || b1 < Decimal::ZERO => {
                            checked((a0, a1), (b0, b1), Decimal::checked_div)
                        }
                        _ => Abs::Unknown,
                    },
                    _ => Abs::Unknown,
                },
                BinOp::In => match (ra, &b.kind) {
                    (Abs::Num(lo, hi), ExprKind::List(xs)) => {
                        Abs::Bool(xs.iter().any(|x| match &x.kind {
                            ExprKind::Lit(Value::Num(n)) => lo <= *n && *n <= hi,
                            _ => true,
                        }))
                    }
                    _ => Abs::Bool(true),
                },
                _ => match (ra, rb) {
                    (Abs::Num(a0, a1), Abs::Num(b0, b1)) => Abs::Bool(match op {
                        BinOp::Gt => a1 > b0,
                        BinOp::Ge => a1 >= b0,
                        BinOp::Lt => a0 < b1,
                        BinOp::Le => a0 <= b1,
                        BinOp::Eq => a0 <= b1 && b0 <= a1,
                        _ => !(a0 == a1 && b0 == b1 && a0 == b0),
                    }),
                    _ => Abs::Bool(true),
                },
            }
        }
        ExprKind::Call(f, args) => call(*f, args, cx),
    }
}

fn call(f: Func, args: &[Expr], cx: &RangeCx) -> Abs {
    let nums: Option<Vec<(Decimal, Decimal)>> = args
        .iter()
        .map(|a| match range(a, cx) {
            Abs::Num(lo, hi) => Some((lo, hi)),
            _ => None,
        })
        .collect();
    let spread = |v: &[(Decimal, Decimal)]| {
        let lo = v.iter().map(|x| x.0).min()?;
        let hi = v.iter().map(|x| x.1).max()?;
        Some(Abs::Num(lo, hi))
    };
    match f {
        Func::Sum => {
            let Some(v) = nums else { return Abs::Unknown };
            // Nulls are skipped, so any non-empty subset of the arguments may
            // make up the sum.
            let neg = v
                .iter()
                .try_fold(Decimal::ZERO, |s, x| s.checked_add(x.0.min(Decimal::ZERO)));
            let pos = v
                .iter()
                .try_fold(Decimal::ZERO, |s, x| s.checked_add(x.1.max(Decimal::ZERO)));
            match (neg, pos, spread(&v)) {
                (Some(n), Some(p), Some(Abs::Num(lo, hi))) => Abs::Num(lo.min(n), hi.max(p)),
                _ => Abs::Unknown,
            }
        }
        Func::Mean | Func::Min | Func::Max | Func::Coalesce => {
            nums.and_then(|v| spread(&v)).unwrap_or(Abs::Unknown)
        }
        Func::Abs => match range(&args[0], cx) {
            Abs::Num(lo, hi) => {
                let top = lo.abs().max(hi.abs());
                let bottom = if lo <= Decimal::ZERO && hi >= Decimal::ZERO {
                    Decimal::ZERO
                } else {
                    lo.abs().min(hi.abs())
                };
                Abs::Num(bottom, top)
            }
            _ => Abs::Unknown,
        },
        Func::Round | Func::Floor | Func::Ceil => match range(&args[0], cx) {
            Abs::Num(lo, hi) => Abs::Num(lo.floor(), hi.ceil()),
            _ => Abs::Unknown,
        },
        Func::If => range(&args[1], cx).union(range(&args[2], cx)),
        Func::Table => match &args[0].kind {
            ExprKind::Name(_, Slot::Table(t)) => {
                let vals: Vec<Decimal> = cx
                    .tables
                    .get(*t)
                    .map(|t| t.entries.iter().map(|e| e.1).collect())
                    .unwrap_or_default();
                match (vals.iter().min(), vals.iter().max()) {
                    (Some(lo), Some(hi)) => Abs::Num(*lo, *hi),
                    _ => Abs::Unknown,
                }
            }
            _ => Abs::Unknown,
        },
        Func::CountAnswered => Abs::Num(Decimal::ZERO, Decimal::from(args.len())),
        Func::Previous
        | Func::Baseline
        | Func::MinPrevious
        | Func::MaxPrevious
        | Func::MeanPrevious => range(&args[0], cx),
        Func::CountPrevious => match args.get(1).map(|a| &a.kind) {
            Some(ExprKind::Lit(Value::Num(n))) => Abs::Num(Decimal::ZERO, *n),
            _ => Abs::Unknown,
        },
        Func::Answered => Abs::Bool(true),
        _ => Abs::Unknown,
    }
}

/// Whether a condition can ever be `true`.
pub fn can_be_true(e: &Expr, cx: &RangeCx) -> bool {
    range(e, cx).can_true()
}
