//! The expression language's tokens, syntax tree and parser.
//!
//! Offsets are in characters from the start of the expression's text, so a
//! diagnostic can point at the exact column in the YAML file.

use rust_decimal::Decimal;
use std::str::FromStr;

use crate::core::value::Value;

/// A syntax error or a semantic error found later, with the characters it
/// covers.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    pub start: u32,
    pub end: u32,
    pub message: String,
    pub hint: Option<String>,
}

impl ExprError {
    pub fn new(start: u32, end: u32, message: impl Into<String>) -> ExprError {
        ExprError {
            start,
            end: end.max(start + 1),
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> ExprError {
        self.hint = Some(hint.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::In
        )
    }
}

/// What a name refers to, decided by the type checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Unresolved,
    Item(usize),
    Score(usize),
    /// `raw` in a score's `transform`.
    Raw,
    /// The first argument of `table()`.
    Table(usize),
    /// The argument of `days_since_flag()`.
    Rule(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Sum,
    Mean,
    Min,
    Max,
    CountAnswered,
    Answered,
    Coalesce,
    Abs,
    Round,
    Floor,
    Ceil,
    If,
    Table,
    Band,
    Len,
    Contains,
    DaysBetween,
    ResponseDate,
    Previous,
    Baseline,
    MinPrevious,
    MaxPrevious,
    MeanPrevious,
    CountPrevious,
    CountWithin,
    Streak,
    DaysSincePrevious,
    DaysSinceFlag,
}

pub const FUNCTIONS: &[(&str, Func)] = &[
    ("sum", Func::Sum),
    ("mean", Func::Mean),
    ("min", Func::Min),
    ("max", Func::Max),
    ("count_answered", Func::CountAnswered),
    ("answered", Func::Answered),
    ("coalesce", Func::Coalesce),
    ("abs", Func::Abs),
    ("round", Func::Round),
    ("floor", Func::Floor),
    ("ceil", Func::Ceil),
    ("if", Func::If),
    ("table", Func::Table),
    ("band", Func::Band),
    ("len", Func::Len),
    ("contains", Func::Contains),
    ("days_between", Func::DaysBetween),
    ("response_date", Func::ResponseDate),
    ("previous", Func::Previous),
    ("baseline", Func::Baseline),
    ("min_previous", Func::MinPrevious),
    ("max_previous", Func::MaxPrevious),
    ("mean_previous", Func::MeanPrevious),
    ("count_previous", Func::CountPrevious),
    ("count_within", Func::CountWithin),
    ("streak", Func::Streak),
    ("days_since_previous", Func::DaysSincePrevious),
    ("days_since_flag", Func::DaysSinceFlag),
];

impl Func {
    pub fn name(self) -> &'static str {
        FUNCTIONS
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Functions that read the patient's earlier responses.
    pub fn is_history(self) -> bool {
        matches!(
            self,
            Func::Previous
                | Func::Baseline
                | Func::MinPrevious
                | Func::MaxPrevious
                | Func::MeanPrevious
                | Func::CountPrevious
                | Func::CountWithin
                | Func::Streak
                | Func::DaysSincePrevious
                | Func::DaysSinceFlag
        )
    }

    /// The smallest and largest number of arguments (`None`: any number).
    pub fn arity(self) -> (usize, Option<usize>) {
        match self {
            Func::Sum | Func::Mean | Func::Min | Func::Max | Func::CountAnswered => (1, None),
            Func::Coalesce => (1, None),
            Func::Answered | Func::Abs | Func::Floor | Func::Ceil | Func::Band | Func::Len => {
                (1, Some(1))
            }
            Func::Round => (1, Some(2)),
            Func::If => (3, Some(3)),
            Func::Table | Func::DaysBetween | Func::Contains => (2, Some(2)),
            Func::ResponseDate | Func::DaysSincePrevious => (0, Some(0)),
            Func::Previous | Func::Baseline | Func::Streak | Func::DaysSinceFlag => (1, Some(1)),
            Func::MinPrevious | Func::MaxPrevious | Func::MeanPrevious | Func::CountPrevious => {
                (1, Some(2))
            }
            Func::CountWithin => (2, Some(2)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub start: u32,
    pub end: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Lit(Value),
    Name(String, Slot),
    List(Vec<Expr>),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

impl Expr {
    /// Calls `f` on this node and every node below it.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Lit(_) | ExprKind::Name(..) => {}
            ExprKind::List(xs) | ExprKind::Call(_, xs) => xs.iter().for_each(|x| x.walk(f)),
            ExprKind::Neg(x) | ExprKind::Not(x) => x.walk(f),
            ExprKind::Bin(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(Decimal),
    Str(String),
    Ident(String),
    Op(&'static str),
    Eof,
}

struct Lexer {
    toks: Vec<(Tok, u32, u32)>,
}

fn lex(src: &str) -> Result<Lexer, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0usize;
    while i < chars.len() {
        let c = chars[i];
        let start = i as u32;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j < chars.len() && chars[j] == '.' {
                j += 1;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
            }
            let text: String = chars[i..j].iter().collect();
            if j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                return Err(ExprError::new(
                    start,
                    j as u32 + 1,
                    format!("`{text}{}` is not a number or a name", chars[j]),
                )
                .hint("names start with a letter"));
            }
            let d = Decimal::from_str(text.trim_end_matches('.')).map_err(|_| {
                ExprError::new(start, j as u32, format!("the number `{text}` is too large"))
            })?;
            toks.push((Tok::Num(d), start, j as u32));
            i = j;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let mut j = i;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            toks.push((Tok::Ident(chars[i..j].iter().collect()), start, j as u32));
            i = j;
            continue;
        }
        if c == '\'' || c == '"' {
            let mut j = i + 1;
            let mut s = String::new();
            loop {
                match chars.get(j) {
                    None => {
                        return Err(ExprError::new(start, j as u32, "this string is not closed")
                            .hint(format!("end it with {c}")));
                    }
                    Some('\\') => match chars.get(j + 1) {
                        Some(e @ ('\\' | '\'' | '"')) => {
                            s.push(*e);
                            j += 2;
                        }
                        _ => {
                            return Err(ExprError::new(
                                j as u32,
                                j as u32 + 2,
                                "unknown escape in a string",
                            )
                            .hint("only \\\\, \\' and \\\" are escapes"));
                        }
                    },
                    Some(q) if *q == c => {
                        j += 1;
                        break;
                    }
                    Some(other) => {
                        s.push(*other);
                        j += 1;
                    }
                }
            }
            toks.push((Tok::Str(s), start, j as u32));
            i = j;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let op: Option<&'static str> =
            match two.as_str() {
                "==" => {
                    return Err(ExprError::new(start, start + 2, "`==` is not an operator")
                        .hint("write `=` to compare"));
                }
                "!=" => Some("!="),
                "<=" => Some("<="),
                ">=" => Some(">="),
                "&&" => {
                    return Err(ExprError::new(start, start + 2, "`&&` is not an operator")
                        .hint("write `and`"));
                }
                "||" => {
                    return Err(ExprError::new(start, start + 2, "`||` is not an operator")
                        .hint("write `or`"));
                }
                "<>" => {
                    return Err(ExprError::new(start, start + 2, "`<>` is not an operator")
                        .hint("write `!=`"));
                }
                _ => None,
            };
        if let Some(op) = op {
            toks.push((Tok::Op(op), start, start + 2));
            i += 2;
            continue;
        }
        let op: &'static str = match c {
            '=' => "=",
            '<' => "<",
            '>' => ">",
            '+' => "+",
            '-' => "-",
            '*' => "*",
            '/' => "/",
            '(' => "(",
            ')' => ")",
            '[' => "[",
            ']' => "]",
            ',' => ",",
            '!' => {
                return Err(ExprError::new(start, start + 1, "`!` is not an operator")
                    .hint("write `not` to negate, or `!=` for not equal"));
            }
            _ => {
                return Err(ExprError::new(
                    start,
                    start + 1,
                    format!("unexpected character `{c}`"),
                ));
            }
        };
        toks.push((Tok::Op(op), start, start + 1));
        i += 1;
    }
    let n = chars.len() as u32;
    toks.push((Tok::Eof, n, n));
    Ok(Lexer { toks })
}

/// Parses an expression's text into a tree whose names are not yet resolved.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let lexer = lex(src)?;
    let mut p = P {
        toks: lexer.toks,
        i: 0,
        depth: 0,
    };
    if matches!(p.peek(), Tok::Eof) {
        return Err(ExprError::new(0, 1, "the expression is empty"));
    }
    let e = p.expr()?;
    match p.peek() {
        Tok::Eof => Ok(e),
        _ => {
            let (s, en) = p.span();
            Err(ExprError::new(
                s,
                en,
                format!("unexpected {} after a complete expression", p.describe()),
            )
            .hint("an operator such as `and`, `or` or `+` may be missing"))
        }
    }
}

/// Nesting deeper than this is refused, so hostile input cannot exhaust the
/// stack.
const MAX_NESTING: u32 = 100;

struct P {
    toks: Vec<(Tok, u32, u32)>,
    i: usize,
    depth: u32,
}

impl P {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].0
    }
    fn span(&self) -> (u32, u32) {
        (self.toks[self.i].1, self.toks[self.i].2)
    }
    fn bump(&mut self) -> (Tok, u32, u32) {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == kw)
    }
    fn describe(&self) -> String {
        match self.peek() {
            Tok::Num(n) => format!("number `{n}`"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Op(o) => format!("`{o}`"),
            Tok::Eof => "end of expression".into(),
        }
    }
    fn expect_op(&mut self, op: &str, what: &str) -> Result<u32, ExprError> {
        if self.is_op(op) {
            Ok(self.bump().2)
        } else {
            let (s, e) = self.span();
            Err(ExprError::new(
                s,
                e,
                format!("expected `{op}` {what}, found {}", self.describe()),
            ))
        }
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            let (s, e) = self.span();
            return Err(ExprError::new(s, e, "the expression nests too deeply"));
        }
        let r = self.or();
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut l = self.and()?;
        while self.is_kw("or") {
            self.bump();
            let r = self.and()?;
            l = bin(BinOp::Or, l, r);
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut l = self.not()?;
        while self.is_kw("and") {
            self.bump();
            let r = self.not()?;
            l = bin(BinOp::And, l, r);
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.is_kw("not") {
            let (_, s, _) = self.bump();
            self.depth += 1;
            if self.depth > MAX_NESTING {
                let (s, e) = self.span();
                return Err(ExprError::new(s, e, "the expression nests too deeply"));
            }
            let x = self.not()?;
            self.depth -= 1;
            let end = x.end;
            return Ok(Expr {
                kind: ExprKind::Not(Box::new(x)),
                start: s,
                end,
            });
        }
        self.cmp()
    }

    fn cmp_op(&self) -> Option<BinOp> {
        match self.peek() {
            Tok::Op("=") => Some(BinOp::Eq),
            Tok::Op("!=") => Some(BinOp::Ne),
            Tok::Op("<") => Some(BinOp::Lt),
            Tok::Op("<=") => Some(BinOp::Le),
            Tok::Op(">") => Some(BinOp::Gt),
            Tok::Op(">=") => Some(BinOp::Ge),
            Tok::Ident(s) if s == "in" => Some(BinOp::In),
            _ => None,
        }
    }

    fn cmp(&mut self) -> Result<Expr, ExprError> {
        let l = self.add()?;
        if let Some(op) = self.cmp_op() {
            self.bump();
            let r = self.add()?;
            if self.cmp_op().is_some() {
                let (s, e) = self.span();
                return Err(ExprError::new(s, e, "comparisons cannot be chained")
                    .hint("write `1 < x and x < 3` instead of `1 < x < 3`"));
            }
            return Ok(bin(op, l, r));
        }
        Ok(l)
    }

    fn add(&mut self) -> Result<Expr, ExprError> {
        let mut l = self.mul()?;
        loop {
            let op = if self.is_op("+") {
                BinOp::Add
            } else if self.is_op("-") {
                BinOp::Sub
            } else {
                break;
            };
            self.bump();
            let r = self.mul()?;
            l = bin(op, l, r);
        }
        Ok(l)
    }

    fn mul(&mut self) -> Result<Expr, ExprError> {
        let mut l = self.unary()?;
        loop {
            let op = if self.is_op("*") {
                BinOp::Mul
            } else if self.is_op("/") {
                BinOp::Div
            } else {
                break;
            };
            self.bump();
            let r = self.unary()?;
            l = bin(op, l, r);
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.is_op("-") {
            let (_, s, _) = self.bump();
            self.depth += 1;
            if self.depth > MAX_NESTING {
                let (s, e) = self.span();
                return Err(ExprError::new(s, e, "the expression nests too deeply"));
            }
            let x = self.unary()?;
            self.depth -= 1;
            let end = x.end;
            // Fold a negative literal so that `-1` is a plain number.
            if let ExprKind::Lit(Value::Num(n)) = x.kind {
                return Ok(Expr {
                    kind: ExprKind::Lit(Value::Num(-n)),
                    start: s,
                    end,
                });
            }
            return Ok(Expr {
                kind: ExprKind::Neg(Box::new(x)),
                start: s,
                end,
            });
        }
        self.primary()
    }

    fn args(&mut self, close: &str, what: &str) -> Result<(Vec<Expr>, u32), ExprError> {
        let mut args = Vec::new();
        if self.is_op(close) {
            return Ok((args, self.bump().2));
        }
        loop {
            args.push(self.expr()?);
            if self.is_op(",") {
                self.bump();
                continue;
            }
            let end = self.expect_op(close, what)?;
            return Ok((args, end));
        }
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let (tok, s, e) = self.bump();
        let lit = |v| {
            Ok(Expr {
                kind: ExprKind::Lit(v),
                start: s,
                end: e,
            })
        };
        match tok {
            Tok::Num(n) => lit(Value::Num(n)),
            Tok::Str(x) => lit(Value::Str(x)),
            Tok::Ident(name) => match name.as_str() {
                "true" => lit(Value::Bool(true)),
                "false" => lit(Value::Bool(false)),
                "null" => lit(Value::Null),
                "and" | "or" | "not" | "in" => Err(ExprError::new(
                    s,
                    e,
                    format!("expected a value, found `{name}`"),
                )),
                _ => {
                    if self.is_op("(") {
                        self.bump();
                        let Some(func) = FUNCTIONS.iter().find(|(n, _)| *n == name).map(|p| p.1)
                        else {
                            let mut err =
                                ExprError::new(s, e, format!("unknown function `{name}`"));
                            if let Some(c) =
                                crate::core::diag::closest(&name, FUNCTIONS.iter().map(|(n, _)| *n))
                            {
                                err = err.hint(format!("did you mean `{c}`?"));
                            }
                            return Err(err);
                        };
                        self.depth += 1;
                        let (args, end) = self.args(")", "to close the function's arguments")?;
                        self.depth -= 1;
                        Ok(Expr {
                            kind: ExprKind::Call(func, args),
                            start: s,
                            end,
                        })
                    } else {
                        Ok(Expr {
                            kind: ExprKind::Name(name, Slot::Unresolved),
                            start: s,
                            end: e,
                        })
                    }
                }
            },
            Tok::Op("(") => {
                let inner = self.expr()?;
                let end = self.expect_op(")", "to close `(`")?;
                Ok(Expr {
                    start: s,
                    end,
                    ..inner
                })
            }
            Tok::Op("[") => {
                self.depth += 1;
                let (items, end) = self.args("]", "to close the list")?;
                self.depth -= 1;
                Ok(Expr {
                    kind: ExprKind::List(items),
                    start: s,
                    end,
                })
            }
            Tok::Eof => Err(ExprError::new(s, e, "the expression ends too early")
                .hint("a value is missing after the last operator")),
            Tok::Op(o) => Err(ExprError::new(
                s,
                e,
                format!("expected a value, found `{o}`"),
            )),
        }
    }
}

fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
    let (start, end) = (l.start, r.end);
    Expr {
        kind: ExprKind::Bin(op, Box::new(l), Box::new(r)),
        start,
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> ExprError {
        parse(src).expect_err(src)
    }

    #[test]
    fn precedence_is_or_and_not_comparison_sum_product() {
        let e = parse("not a = 1 or b + 2 * 3 > 4 and c").unwrap();
        let ExprKind::Bin(BinOp::Or, l, r) = e.kind else {
            panic!("or is loosest")
        };
        assert!(matches!(l.kind, ExprKind::Not(_)));
        assert!(matches!(r.kind, ExprKind::Bin(BinOp::And, _, _)));
    }

    #[test]
    fn double_equals_and_chained_comparisons_are_errors_with_hints() {
        let e = err("q1 == 2");
        assert_eq!((e.start, e.end), (3, 5));
        assert_eq!(e.hint.as_deref(), Some("write `=` to compare"));
        let e = err("1 < x < 3");
        assert_eq!(e.message, "comparisons cannot be chained");
    }

    #[test]
    fn strings_take_escapes_and_numbers_take_decimals() {
        let e = parse(r#"'it\'s' = "a\"b" or x = .5"#).unwrap();
        let mut lits = Vec::new();
        e.walk(&mut |x| {
            if let ExprKind::Lit(v) = &x.kind {
                lits.push(v.clone())
            }
        });
        assert_eq!(lits[0], Value::Str("it's".into()));
        assert_eq!(lits[1], Value::Str("a\"b".into()));
        assert_eq!(lits[2], Value::Num(Decimal::new(5, 1)));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let src = "(".repeat(100_000) + "1" + &")".repeat(100_000);
        assert!(err(&src).message.contains("nests too deeply"));
        let src = "not ".repeat(100_000) + "true";
        assert!(err(&src).message.contains("nests too deeply"));
        let src = "-".repeat(100_000) + "1";
        assert!(err(&src).message.contains("nests too deeply"));
    }
}
