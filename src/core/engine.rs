//! Processing a response: answer validation, visibility (`show_if`),
//! scoring and rules. The web form, the API and `prom test` all come here.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json};

use super::expr::eval::{Ctx, Env, HistoryEntry, eval};
use super::expr::syntax::Slot;
pub use super::model::Mode;
use super::model::{Band, ItemType, Level, Questionnaire, Score, Step};
use super::value::{Value, decimal_from_json, fmt_num, parse_date, round_half_away};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreResult {
    pub value: Option<Decimal>,
    /// How many items `impute: mean` filled in (0 for a null score).
    pub imputed: u32,
}

/// A response after visibility and scoring: hidden items are null.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub date: NaiveDate,
    pub values: Vec<Value>,
    pub visible: Vec<bool>,
    pub scores: Vec<ScoreResult>,
}

impl Evaluation {
    pub fn band<'q>(&self, q: &'q Questionnaire, score: usize) -> Option<&'q Band> {
        self.scores[score]
            .value
            .and_then(|v| q.scores[score].band_of(v))
    }
}

struct CurEnv<'a> {
    values: &'a [Value],
    scores: &'a [ScoreResult],
    raw: Option<Decimal>,
    date: NaiveDate,
}

impl Env for CurEnv<'_> {
    fn get(&self, slot: Slot, _name: &str) -> Value {
        let num = |d: Option<Decimal>| d.map(Value::Num).unwrap_or(Value::Null);
        match slot {
            Slot::Item(i) => self.values.get(i).cloned().unwrap_or(Value::Null),
            Slot::Score(j) => num(self.scores.get(j).and_then(|s| s.value)),
            Slot::Raw => num(self.raw),
            _ => Value::Null,
        }
    }
    fn date(&self) -> NaiveDate {
        self.date
    }
}

/// Works out visibility and scores for answers that are already values
/// (invalid ones as null). Answers to hidden items are dropped.
pub fn evaluate(q: &Questionnaire, mut values: Vec<Value>, date: NaiveDate) -> Evaluation {
    values.resize(q.items.len(), Value::Null);
    let mut visible = vec![true; q.items.len()];
    let mut scores = vec![
        ScoreResult {
            value: None,
            imputed: 0
        };
        q.scores.len()
    ];
    let cx = Ctx::new(q, &[]);
    for step in &q.order {
        match *step {
            Step::Item(i) => {
                if let Some(e) = &q.items[i].show_if {
                    let env = CurEnv {
                        values: &values,
                        scores: &scores,
                        raw: None,
                        date,
                    };
                    let shown = eval(&e.ast, &env, &cx).truthy();
                    visible[i] = shown;
                    if !shown {
                        values[i] = Value::Null;
                    }
                }
            }
            Step::Score(j) => {
                scores[j] = score(q, &q.scores[j], &values, &visible, &scores, date);
            }
        }
    }
    Evaluation {
        date,
        values,
        visible,
        scores,
    }
}

/// What one item adds to a score: option score (or value), boolean 1/0, the
/// sum of a multi item's options, or the number; then `reverse`.
fn item_score(q: &Questionnaire, s: &Score, i: usize, v: &Value) -> Option<Decimal> {
    let it = &q.items[i];
    let base = match (it.kind, v) {
        (_, Value::Null) => return None,
        (ItemType::Choice, v) => match it.option(v) {
            Some(o) if o.not_applicable => return o.scoring_value(),
            Some(o) => o.scoring_value()?,
            None => v.as_num()?,
        },
        (ItemType::Multi, Value::List(xs)) => {
            let mut sum = Decimal::ZERO;
            for x in xs {
                sum += it
                    .option(x)
                    .and_then(|o| o.scoring_value())
                    .or(x.as_num())?;
            }
            sum
        }
        (ItemType::Boolean, Value::Bool(b)) => {
            if *b {
                Decimal::ONE
            } else {
                Decimal::ZERO
            }
        }
        (_, Value::Num(n)) => *n,
        _ => return None,
    };
    if s.reverse.contains(&i) {
        let (lo, hi) = it.reverse_range()?;
        return lo.checked_add(hi)?.checked_sub(base);
    }
    Some(base)
}

fn score(
    q: &Questionnaire,
    s: &Score,
    values: &[Value],
    visible: &[bool],
    scores: &[ScoreResult],
    date: NaiveDate,
) -> ScoreResult {
    const NONE: ScoreResult = ScoreResult {
        value: None,
        imputed: 0,
    };
    let mut shown = 0usize;
    let mut answered: Vec<Decimal> = Vec::with_capacity(s.items.len());
    for &i in &s.items {
        if !visible[i] {
            continue;
        }
        shown += 1;
        if let Some(x) = item_score(q, s, i, &values[i]) {
            answered.push(x);
        }
    }
    let missing = shown - answered.len();
    if missing > s.allow_missing as usize {
        return NONE;
    }
    let cx = Ctx::new(q, &[]);
    let mut imputed = 0u32;
    let raw = match s.method {
        super::model::Method::Sum | super::model::Method::Mean => {
            if answered.is_empty() {
                return NONE;
            }
            let Some(sum) = answered
                .iter()
                .try_fold(Decimal::ZERO, |a, x| a.checked_add(*x))
            else {
                return NONE;
            };
            let n = Decimal::from(answered.len());
            let impute = s.impute == super::model::Impute::Mean && missing > 0;
            if impute {
                imputed = missing as u32;
            }
            if s.method == super::model::Method::Mean {
                sum.checked_div(n)
            } else if impute {
                // Prorate as sum × shown / answered, multiplying first: the
                // mean divided out first (0.8333… × 9) loses the exact .5
                // that rounding half away from zero must see (7.5 → 8).
                sum.checked_mul(Decimal::from(shown))
                    .and_then(|x| x.checked_div(n))
            } else {
                Some(sum)
            }
        }
        super::model::Method::Expr => {
            let Some(e) = &s.expr else { return NONE };
            let env = CurEnv {
                values,
                scores,
                raw: None,
                date,
            };
            eval(&e.ast, &env, &cx).as_num()
        }
    };
    let Some(raw) = raw else { return NONE };
    let value = match &s.transform {
        Some(t) => {
            let env = CurEnv {
                values,
                scores,
                raw: Some(raw),
                date,
            };
            eval(&t.ast, &env, &cx).as_num()
        }
        None => Some(raw),
    };
    let value = match (value, s.round) {
        (Some(v), Some(d)) => Some(round_half_away(v, d)),
        (v, _) => v,
    };
    match value {
        Some(v) => ScoreResult {
            value: Some(v),
            imputed,
        },
        None => NONE,
    }
}

/// Why an answer was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    UnknownItem,
    NotAnswerable,
    NotAnOption(String),
    NotANumber,
    NotWhole,
    BelowMin(Decimal),
    AboveMax(Decimal),
    OffStep(Decimal),
    NotBoolean,
    BadDate,
    NotText,
    TooLong(u32),
    NotAList,
    Repeated,
    /// The exclusive option's text, in every language.
    Exclusive(super::model::Text),
    Required,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnswerError {
    pub item: String,
    pub problem: Problem,
}

impl AnswerError {
    /// The message in `lang` (`da` or, for anything else, English), naming
    /// the item by its id (for the API and authors).
    pub fn message(&self, lang: &str) -> String {
        self.message_about(lang, &self.item)
    }

    /// The message in `lang`, naming the item as `it` (a patient's page
    /// names it by its question).
    pub fn message_about(&self, lang: &str, it: &str) -> String {
        let da = lang == "da";
        let n = |d: &Decimal| fmt_num(*d);
        match (&self.problem, da) {
            (Problem::UnknownItem, false) => {
                format!("{it} is not a question in this questionnaire")
            }
            (Problem::UnknownItem, true) => {
                format!("{it} er ikke et spørgsmål i dette spørgeskema")
            }
            (Problem::NotAnswerable, false) => {
                format!("{it} is not a question and takes no answer")
            }
            (Problem::NotAnswerable, true) => {
                format!("{it} er ikke et spørgsmål og kan ikke besvares")
            }
            (Problem::NotAnOption(o), false) => {
                format!("The answer to {it} must be one of the options ({o})")
            }
            (Problem::NotAnOption(o), true) => {
                format!("Svaret på {it} skal være en af svarmulighederne ({o})")
            }
            (Problem::NotANumber, false) => format!("The answer to {it} must be a number"),
            (Problem::NotANumber, true) => format!("Svaret på {it} skal være et tal"),
            (Problem::NotWhole, false) => format!("The answer to {it} must be a whole number"),
            (Problem::NotWhole, true) => format!("Svaret på {it} skal være et helt tal"),
            (Problem::BelowMin(m), false) => {
                format!("The answer to {it} must be at least {}", n(m))
            }
            (Problem::BelowMin(m), true) => format!("Svaret på {it} skal være mindst {}", n(m)),
            (Problem::AboveMax(m), false) => format!("The answer to {it} must be at most {}", n(m)),
            (Problem::AboveMax(m), true) => format!("Svaret på {it} må højst være {}", n(m)),
            (Problem::OffStep(s), false) => {
                format!("The answer to {it} must be in steps of {}", n(s))
            }
            (Problem::OffStep(s), true) => format!("Svaret på {it} skal være i trin på {}", n(s)),
            (Problem::NotBoolean, false) => {
                format!("The answer to {it} must be yes or no (true or false)")
            }
            (Problem::NotBoolean, true) => {
                format!("Svaret på {it} skal være ja eller nej (true eller false)")
            }
            (Problem::BadDate, false) => {
                format!("The answer to {it} must be a real date written YYYY-MM-DD")
            }
            (Problem::BadDate, true) => {
                format!("Svaret på {it} skal være en gyldig dato skrevet ÅÅÅÅ-MM-DD")
            }
            (Problem::NotText, false) => format!("The answer to {it} must be text"),
            (Problem::NotText, true) => format!("Svaret på {it} skal være tekst"),
            (Problem::TooLong(m), false) => {
                format!("The answer to {it} may be at most {m} characters long")
            }
            (Problem::TooLong(m), true) => format!("Svaret på {it} må højst være {m} tegn langt"),
            (Problem::NotAList, false) => {
                format!("The answer to {it} must be a list of the options chosen")
            }
            (Problem::NotAList, true) => {
                format!("Svaret på {it} skal være en liste over de valgte svarmuligheder")
            }
            (Problem::Repeated, false) => {
                format!("The answer to {it} lists the same option more than once")
            }
            (Problem::Repeated, true) => {
                format!("Svaret på {it} indeholder den samme svarmulighed flere gange")
            }
            (Problem::Exclusive(o), false) => {
                let o = o.get(lang);
                format!("In {it}, «{o}» cannot be chosen together with other options")
            }
            (Problem::Exclusive(o), true) => {
                let o = o.get(lang);
                format!("I {it} kan «{o}» ikke vælges sammen med andre svarmuligheder")
            }
            (Problem::Required, false) => format!("{it} must be answered"),
            (Problem::Required, true) => format!("{it} skal besvares"),
        }
    }
}

fn option_list(it: &super::model::Item) -> String {
    it.options
        .iter()
        .map(|o| match &o.value {
            Value::Str(s) => format!("\"{s}\""),
            v => v.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Turns one JSON answer into a value of the item's kind, or says why not.
/// `null` (and `[]` for a multi item, `""` for a text) is unanswered.
pub fn parse_answer(q: &Questionnaire, i: usize, v: &Json) -> Result<Value, Problem> {
    let it = &q.items[i];
    if v.is_null() {
        return Ok(Value::Null);
    }
    let choose = |x: &Json| -> Result<Value, Problem> {
        let candidate = match x {
            Json::Number(n) => decimal_from_json(n).map(Value::Num),
            Json::String(s) => Some(Value::Str(s.clone())),
            _ => None,
        };
        candidate
            .and_then(|c| it.option(&c))
            .map(|o| o.value.clone())
            .ok_or_else(|| Problem::NotAnOption(option_list(it)))
    };
    match it.kind {
        ItemType::Display | ItemType::Section => Err(Problem::NotAnswerable),
        ItemType::Choice => choose(v),
        ItemType::Multi => {
            let Json::Array(xs) = v else {
                return Err(Problem::NotAList);
            };
            if xs.is_empty() {
                return Ok(Value::Null);
            }
            let mut chosen: Vec<Value> = Vec::with_capacity(xs.len());
            for x in xs {
                let c = choose(x)?;
                if chosen.iter().any(|y| y.same(&c)) {
                    return Err(Problem::Repeated);
                }
                chosen.push(c);
            }
            if chosen.len() > 1
                && let Some(o) = chosen
                    .iter()
                    .filter_map(|c| it.option(c))
                    .find(|o| o.exclusive)
            {
                return Err(Problem::Exclusive(o.text.clone()));
            }
            // Store the choices in the order of the options.
            chosen.sort_by_key(|c| it.options.iter().position(|o| o.value.same(c)));
            Ok(Value::List(chosen))
        }
        ItemType::Integer | ItemType::Decimal | ItemType::Slider => {
            let Json::Number(n) = v else {
                return Err(Problem::NotANumber);
            };
            let d = decimal_from_json(n).ok_or(Problem::NotANumber)?;
            if it.kind == ItemType::Integer && !d.fract().is_zero() {
                return Err(Problem::NotWhole);
            }
            if let Some(min) = it.min
                && d < min
            {
                return Err(Problem::BelowMin(min));
            }
            if let Some(max) = it.max
                && d > max
            {
                return Err(Problem::AboveMax(max));
            }
            if let Some(step) = it.step {
                let base = it.min.unwrap_or(Decimal::ZERO);
                let off = d
                    .checked_sub(base)
                    .and_then(|x| x.checked_rem(step))
                    .is_none_or(|r| !r.is_zero());
                if off {
                    return Err(Problem::OffStep(step));
                }
            }
            Ok(Value::Num(d))
        }
        ItemType::Boolean => match v {
            Json::Bool(b) => Ok(Value::Bool(*b)),
            _ => Err(Problem::NotBoolean),
        },
        ItemType::Date => match v {
            Json::String(s) => parse_date(s).map(Value::Date).ok_or(Problem::BadDate),
            _ => Err(Problem::BadDate),
        },
        ItemType::Text => match v {
            Json::String(s) if s.is_empty() => Ok(Value::Null),
            Json::String(s) => {
                let max = it.max_length.unwrap_or(2000);
                if s.chars().count() > max as usize {
                    Err(Problem::TooLong(max))
                } else {
                    Ok(Value::Str(s.clone()))
                }
            }
            _ => Err(Problem::NotText),
        },
    }
}

/// Validates answers (item id → JSON value) and evaluates them. Answers to
/// hidden items are dropped whatever they hold; every other problem is
/// reported, one per item, in the order of the items.
pub fn validate(
    q: &Questionnaire,
    answers: &Map<String, Json>,
    mode: Mode,
    date: NaiveDate,
) -> Result<Evaluation, Vec<AnswerError>> {
    let mut values = vec![Value::Null; q.items.len()];
    let mut problems: Vec<(usize, AnswerError)> = Vec::new();
    for (key, v) in answers {
        let Some(&i) = q.item_index.get(key) else {
            problems.push((
                usize::MAX,
                AnswerError {
                    item: key.clone(),
                    problem: Problem::UnknownItem,
                },
            ));
            continue;
        };
        match parse_answer(q, i, v) {
            Ok(val) => values[i] = val,
            Err(problem) => problems.push((
                i,
                AnswerError {
                    item: key.clone(),
                    problem,
                },
            )),
        }
    }
    let ev = evaluate(q, values, date);
    problems
        .retain(|(i, e)| *i == usize::MAX || ev.visible[*i] || e.problem == Problem::NotAnswerable);
    if mode != Mode::Paper {
        for (i, it) in q.items.iter().enumerate() {
            if it.required
                && ev.visible[i]
                && ev.values[i].is_null()
                && !problems.iter().any(|(j, _)| *j == i)
            {
                problems.push((
                    i,
                    AnswerError {
                        item: it.id.clone(),
                        problem: Problem::Required,
                    },
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(ev);
    }
    problems.sort_by_key(|(i, _)| *i);
    Err(problems.into_iter().map(|(_, e)| e).collect())
}

/// Reads answers without validating them, as the history of a test is read:
/// what cannot be read as the item's kind becomes unanswered.
pub fn lenient_values(q: &Questionnaire, answers: &Map<String, Json>) -> Vec<Value> {
    let mut values = vec![Value::Null; q.items.len()];
    for (key, v) in answers {
        if let Some(&i) = q.item_index.get(key) {
            values[i] = parse_answer(q, i, v).unwrap_or_else(|_| match v {
                Json::Number(n) => decimal_from_json(n).map(Value::Num).unwrap_or(Value::Null),
                Json::Bool(b) => Value::Bool(*b),
                _ => Value::Null,
            });
        }
    }
    values
}

/// Why rule `rule` fired: its condition with the values it read filled in
/// (`pain_now 8 ≥ 7`; `total 14 − previous(total) 6 = 8 ≥ 5`), for staff to
/// see beside the rule's text. Of an `or`, only the parts that held; of an
/// `and`, every part. `complete`: whether `history` is all of it (as
/// [`fire_rules`] had it) or a page (as [`fire_rules_on_page`]).
pub fn explain(
    q: &Questionnaire,
    ev: &Evaluation,
    history: &[HistoryEntry],
    complete: bool,
    rule: usize,
) -> String {
    use super::expr::syntax::{BinOp, Expr, ExprKind};
    let env = CurEnv {
        values: &ev.values,
        scores: &ev.scores,
        raw: None,
        date: ev.date,
    };
    let cx = Ctx {
        complete,
        ..Ctx::new(q, history)
    };
    let Some(r) = q.rules.get(rule) else {
        return String::new();
    };
    let src = r.when.source.as_str();
    let text = |e: &Expr| {
        src.get(e.start as usize..e.end as usize)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let shown = |v: &Value| match v {
        Value::Null => "—".to_string(),
        other => other.to_string(),
    };
    let symbol = |op: BinOp| match op {
        BinOp::Ge => "≥",
        BinOp::Le => "≤",
        BinOp::Ne => "≠",
        BinOp::Sub => "−",
        other => other.symbol(),
    };
    // One side of a comparison: a literal as written, a name or call with
    // its value, arithmetic with its parts' values and the result.
    fn side(
        e: &Expr,
        text: &dyn Fn(&Expr) -> String,
        value: &dyn Fn(&Expr) -> String,
        symbol: &dyn Fn(BinOp) -> &'static str,
    ) -> String {
        match &e.kind {
            ExprKind::Lit(_) | ExprKind::List(_) => text(e),
            ExprKind::Bin(op @ (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div), a, b) => {
                format!(
                    "{} {} {} = {}",
                    side(a, text, value, symbol),
                    symbol(*op),
                    side(b, text, value, symbol),
                    value(e)
                )
            }
            _ => format!("{} {}", text(e), value(e)),
        }
    }
    fn part(
        e: &Expr,
        truthy: &dyn Fn(&Expr) -> bool,
        text: &dyn Fn(&Expr) -> String,
        value: &dyn Fn(&Expr) -> String,
        symbol: &dyn Fn(BinOp) -> &'static str,
    ) -> String {
        match &e.kind {
            ExprKind::Bin(BinOp::And, a, b) => format!(
                "{}; {}",
                part(a, truthy, text, value, symbol),
                part(b, truthy, text, value, symbol)
            ),
            ExprKind::Bin(BinOp::Or, a, b) => {
                let held: Vec<String> = [a, b]
                    .into_iter()
                    .filter(|x| truthy(x))
                    .map(|x| part(x, truthy, text, value, symbol))
                    .collect();
                if held.is_empty() {
                    side(e, text, value, symbol)
                } else {
                    held.join("; ")
                }
            }
            ExprKind::Bin(
                op @ (BinOp::Eq
                | BinOp::Ne
                | BinOp::Lt
                | BinOp::Le
                | BinOp::Gt
                | BinOp::Ge
                | BinOp::In),
                a,
                b,
            ) => format!(
                "{} {} {}",
                side(a, text, value, symbol),
                symbol(*op),
                side(b, text, value, symbol)
            ),
            _ => side(e, text, value, symbol),
        }
    }
    let value = |e: &Expr| shown(&eval(e, &env, &cx));
    let truthy = |e: &Expr| eval(e, &env, &cx).truthy();
    part(&r.when.ast, &truthy, &text, &value, &symbol)
}

/// The rules that fire on an evaluated response, given the patient's earlier
/// responses (newest first).
pub fn fire_rules(q: &Questionnaire, ev: &Evaluation, history: &[HistoryEntry]) -> Vec<usize> {
    fire(q, ev, Ctx::new(q, history)).unwrap_or_default()
}

/// Like [`fire_rules`], given only the newest responses (a page of
/// storage's): `None` when a rule needed older ones, so that the caller
/// loads the whole history and calls [`fire_rules`].
pub fn fire_rules_on_page(
    q: &Questionnaire,
    ev: &Evaluation,
    page: &[HistoryEntry],
) -> Option<Vec<usize>> {
    let cx = Ctx {
        complete: false,
        ..Ctx::new(q, page)
    };
    fire(q, ev, cx)
}

fn fire(q: &Questionnaire, ev: &Evaluation, cx: Ctx) -> Option<Vec<usize>> {
    let env = CurEnv {
        values: &ev.values,
        scores: &ev.scores,
        raw: None,
        date: ev.date,
    };
    let fired = q
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| eval(&r.when.ast, &env, &cx).truthy())
        .map(|(i, _)| i)
        .collect();
    if cx.exhausted.get() {
        None
    } else {
        Some(fired)
    }
}

/// A response's level: the highest of the rules that fired, green if none.
pub fn level_of(q: &Questionnaire, fired: &[usize]) -> Level {
    fired
        .iter()
        .map(|&r| q.rules[r].level)
        .max()
        .unwrap_or(Level::Green)
}

/// What a later response's history functions read of this one.
pub fn history_entry(q: &Questionnaire, ev: &Evaluation, fired: &[usize]) -> HistoryEntry {
    let mut values = std::collections::HashMap::with_capacity(q.items.len() + q.scores.len());
    for (it, v) in q.items.iter().zip(&ev.values) {
        if it.kind.answerable() {
            values.insert(it.id.clone(), v.clone());
        }
    }
    for (s, r) in q.scores.iter().zip(&ev.scores) {
        values.insert(s.id.clone(), r.value.map(Value::Num).unwrap_or(Value::Null));
    }
    HistoryEntry {
        date: ev.date,
        values,
        flags: fired.iter().map(|&r| q.rules[r].id.clone()).collect(),
    }
}

/// A processed response: evaluation, fired rules and level.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub evaluation: Evaluation,
    pub fired: Vec<usize>,
    pub level: Level,
}

/// Validates, scores and runs the rules in one go.
pub fn process(
    q: &Questionnaire,
    answers: &Map<String, Json>,
    mode: Mode,
    date: NaiveDate,
    history: &[HistoryEntry],
) -> Result<Outcome, Vec<AnswerError>> {
    let evaluation = validate(q, answers, mode, date)?;
    let fired = fire_rules(q, &evaluation, history);
    let level = level_of(q, &fired);
    Ok(Outcome {
        evaluation,
        fired,
        level,
    })
}

/// Reads a value as it was stored (JSON) for a history function: answers to
/// items the questionnaire still has are read as that item's kind where they
/// fit; anything else is kept as the plain JSON value it is.
pub fn stored_value(q: &Questionnaire, key: &str, v: &Json) -> Value {
    if let Some(&i) = q.item_index.get(key)
        && let Ok(val) = parse_answer(q, i, v)
    {
        return val;
    }
    plain_value(v)
}

fn plain_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => decimal_from_json(n).map(Value::Num).unwrap_or(Value::Null),
        Json::String(s) => parse_date(s)
            .map(Value::Date)
            .unwrap_or_else(|| Value::Str(s.clone())),
        Json::Array(xs) => Value::List(xs.iter().map(plain_value).collect()),
        Json::Object(_) => Value::Null,
    }
}

/// An earlier response as storage holds it: answers and scores (JSON) by
/// name, and the ids of the rules that fired.
pub fn history_from_stored(
    q: &Questionnaire,
    date: NaiveDate,
    answers: &Map<String, Json>,
    scores: &Map<String, Json>,
    flags: Vec<String>,
) -> HistoryEntry {
    // Only what the rules read of earlier responses is converted.
    let mut values = std::collections::HashMap::with_capacity(q.history_names.len());
    for name in &q.history_names {
        if let Some(v) = answers.get(name) {
            values.insert(name.clone(), stored_value(q, name, v));
        } else if let Some(v) = scores.get(name) {
            values.insert(name.clone(), plain_value(v));
        }
    }
    HistoryEntry {
        date,
        values,
        flags,
    }
}

/// The answers to keep with a response: the shown, answered items, as JSON.
pub fn stored_answers(q: &Questionnaire, ev: &Evaluation) -> Map<String, Json> {
    q.items
        .iter()
        .zip(&ev.values)
        .filter(|(it, v)| it.kind.answerable() && !v.is_null())
        .map(|(it, v)| (it.id.clone(), v.to_json()))
        .collect()
}
