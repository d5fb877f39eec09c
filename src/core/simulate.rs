//! Alert-load simulation: stored responses replayed through a
//! questionnaire's rules (the current ones, or a draft's), each patient's
//! in the order given, so that history rules see what they would have
//! seen. A clinic sees the load a rule change brings before it goes live.

use chrono::NaiveDate;
use serde_json::{Map, Value as Json};

use super::engine::{Mode, fire_rules, history_entry, validate};
use super::expr::eval::HistoryEntry;
use super::model::Questionnaire;

/// A stored response to replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub patient: String,
    pub date: NaiveDate,
    pub mode: Mode,
    pub answers: Map<String, Json>,
}

/// How often each rule fired over the responses replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// (rule id, level name, times fired), in the questionnaire's order.
    pub rules: Vec<(String, &'static str, u64)>,
    /// Responses replayed, and those the questionnaire refused (a draft
    /// that changed items may not accept old answers).
    pub replayed: u64,
    pub refused: u64,
    /// The span of the responses' dates, in weeks (at least one).
    pub weeks: f64,
}

/// Replays `responses` (grouped by patient, oldest first within each)
/// through `q`'s rules.
pub fn replay(q: &Questionnaire, responses: &[Replay]) -> Load {
    let mut counts = vec![0u64; q.rules.len()];
    let (mut replayed, mut refused) = (0u64, 0u64);
    let mut history: Vec<HistoryEntry> = Vec::new();
    let mut patient: Option<&str> = None;
    let (mut first, mut last): (Option<NaiveDate>, Option<NaiveDate>) = (None, None);
    for r in responses {
        if patient != Some(r.patient.as_str()) {
            history.clear();
            patient = Some(&r.patient);
        }
        first = Some(first.map_or(r.date, |f| f.min(r.date)));
        last = Some(last.map_or(r.date, |l| l.max(r.date)));
        let Ok(ev) = validate(q, &r.answers, r.mode, r.date) else {
            refused += 1;
            continue;
        };
        // History functions read the newest first.
        let fired = fire_rules(q, &ev, &history);
        for &i in &fired {
            counts[i] += 1;
        }
        history.insert(0, history_entry(q, &ev, &fired));
        replayed += 1;
    }
    let days = match (first, last) {
        (Some(f), Some(l)) => (l - f).num_days() as f64,
        _ => 0.0,
    };
    Load {
        rules: q
            .rules
            .iter()
            .zip(counts)
            .map(|(r, n)| (r.id.clone(), r.level.name(), n))
            .collect(),
        replayed,
        refused,
        weeks: (days / 7.0).max(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_counts_each_rule_and_gives_history_rules_their_history() {
        let src = "id: x\nversion: 1\ntitle: X\nitems:\n  - {id: a, type: integer, text: A, min: 0, max: 10}\nrules:\n  - {id: high, when: 'a >= 7', level: red, text: High}\n  - {id: rise, when: 'a - previous(a) >= 3', level: yellow, text: Rise}\n";
        let q = crate::core::compile::compile_yaml(src)
            .questionnaire
            .expect("compiles");
        let r = |p: &str, d: u32, a: i64| Replay {
            patient: p.into(),
            date: NaiveDate::from_ymd_opt(2026, 1, d).expect("date"),
            mode: Mode::App,
            answers: serde_json::json!({"a": a})
                .as_object()
                .expect("map")
                .clone(),
        };
        let load = replay(
            &q,
            &[
                r("p", 1, 1),
                r("p", 8, 5),
                r("p", 15, 8),
                r("q", 1, 9),
                r("q", 29, 99),
            ],
        );
        assert_eq!(
            load.rules,
            vec![("high".into(), "red", 2), ("rise".into(), "yellow", 2)]
        );
        assert_eq!((load.replayed, load.refused), (4, 1));
        assert_eq!(load.weeks, 4.0);
    }
}
