//! The `tests:` block of a questionnaire: cases and how they are run.

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json};

use super::engine::{Mode, evaluate, fire_rules, history_entry, lenient_values, validate};
use super::expr::eval::HistoryEntry;
use super::model::{Level, Questionnaire};
use super::value::{fmt_num, round_half_away};

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryCase {
    pub days_ago: u32,
    pub answers: Map<String, Json>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    pub scores: Vec<(usize, Option<Decimal>)>,
    pub imputed: Vec<(usize, u32)>,
    pub bands: Vec<(usize, Option<String>)>,
    pub flags: Option<Vec<usize>>,
    pub level: Option<Level>,
    pub errors: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    pub name: String,
    pub answers: Map<String, Json>,
    pub mode: Mode,
    pub date: NaiveDate,
    /// Oldest first, as written.
    pub history: Vec<HistoryCase>,
    pub language: Option<String>,
    pub expect: Expect,
    /// The line where the test starts, for reports.
    pub line: u32,
}

/// Builds the history a test describes: each earlier response scored, and
/// its rules run, as if answered on its day. Newest first.
pub fn build_history(q: &Questionnaire, t: &TestCase) -> Vec<HistoryEntry> {
    let mut cases: Vec<&HistoryCase> = t.history.iter().collect();
    // Oldest first, whatever order they were written in.
    cases.sort_by_key(|h| std::cmp::Reverse(h.days_ago));
    let mut newest_first: Vec<HistoryEntry> = Vec::with_capacity(cases.len());
    for h in cases {
        let date = t
            .date
            .checked_sub_days(Days::new(u64::from(h.days_ago)))
            .unwrap_or(t.date);
        let ev = evaluate(q, lenient_values(q, &h.answers), date);
        let fired = fire_rules(q, &ev, &newest_first);
        newest_first.insert(0, history_entry(q, &ev, &fired));
    }
    newest_first
}

/// Runs one test; the failures say what differed (empty: passed).
pub fn run(q: &Questionnaire, t: &TestCase) -> Vec<String> {
    let lang = t.language.as_deref().unwrap_or(q.default_language());
    let history = build_history(q, t);
    let mut fails = Vec::new();
    let ev = match validate(q, &t.answers, t.mode, t.date) {
        Err(errors) => {
            let got: Vec<&str> = errors.iter().map(|e| e.item.as_str()).collect();
            match &t.expect.errors {
                Some(want) => {
                    let mut w: Vec<&str> = want.iter().map(String::as_str).collect();
                    let mut g = got.clone();
                    w.sort();
                    g.sort();
                    if w != g {
                        fails.push(format!(
                            "refused answers: expected [{}], got [{}]",
                            w.join(", "),
                            g.join(", ")
                        ));
                        for e in &errors {
                            fails.push(format!("  {}", e.message(lang)));
                        }
                    }
                }
                None => {
                    fails.push("answers were refused, but the test expects them accepted:".into());
                    for e in &errors {
                        fails.push(format!("  {}", e.message(lang)));
                    }
                }
            }
            return fails;
        }
        Ok(ev) => ev,
    };
    if let Some(want) = &t.expect.errors
        && !want.is_empty()
    {
        fails.push(format!(
            "refused answers: expected [{}], but every answer was accepted",
            want.join(", ")
        ));
        return fails;
    }
    for (j, want) in &t.expect.scores {
        let s = &q.scores[*j];
        let digits = s.round.unwrap_or(9);
        let norm = |v: Option<Decimal>| v.map(|d| round_half_away(d, digits).normalize());
        let got = ev.scores[*j].value;
        if norm(*want) != norm(got) {
            fails.push(format!(
                "score `{}`: expected {}, got {}",
                s.id,
                show(*want),
                show(got)
            ));
        }
    }
    for (j, want) in &t.expect.imputed {
        let got = ev.scores[*j].imputed;
        if *want != got {
            fails.push(format!(
                "imputed items in `{}`: expected {want}, got {got}",
                q.scores[*j].id
            ));
        }
    }
    for (j, want) in &t.expect.bands {
        let got = ev.band(q, *j).map(|b| b.id.clone());
        if *want != got {
            fails.push(format!(
                "band of `{}`: expected {}, got {}",
                q.scores[*j].id,
                want.as_deref().unwrap_or("null"),
                got.as_deref().unwrap_or("null")
            ));
        }
    }
    let fired = fire_rules(q, &ev, &history);
    if let Some(want) = &t.expect.flags {
        let mut w: Vec<&str> = want.iter().map(|&r| q.rules[r].id.as_str()).collect();
        let mut g: Vec<&str> = fired.iter().map(|&r| q.rules[r].id.as_str()).collect();
        w.sort();
        w.dedup();
        g.sort();
        if w != g {
            fails.push(format!(
                "flags: expected [{}], got [{}]",
                w.join(", "),
                g.join(", ")
            ));
        }
    }
    if let Some(want) = t.expect.level {
        let got = super::engine::level_of(q, &fired);
        if want != got {
            fails.push(format!(
                "level: expected {}, got {}",
                want.name(),
                got.name()
            ));
        }
    }
    fails
}

fn show(v: Option<Decimal>) -> String {
    v.map(fmt_num).unwrap_or_else(|| "null".into())
}
