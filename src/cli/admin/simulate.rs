//! `prom simulate`: the alert load of a questionnaire's rules, or of a
//! draft's, on the stored responses.

use clap::Args;
use std::path::PathBuf;

use super::{Fail, load_catalog, open_existing};
use crate::cli::DbArg;

/// `prom simulate`: stored responses replayed through rules.
#[derive(Args, Debug)]
pub struct Simulate {
    /// The questionnaire whose responses are replayed.
    #[arg(long)]
    questionnaire: String,
    /// A draft of the questionnaire: its rules are counted beside the
    /// current ones.
    #[arg(long)]
    with: Option<PathBuf>,
    /// One clinic's responses only (default: every clinic's).
    #[arg(long)]
    clinic: Option<String>,
    #[arg(long, env = "PROM_QUESTIONNAIRES", default_value = "questionnaires")]
    questionnaires: PathBuf,
    #[command(flatten)]
    db: DbArg,
}

/// Replays the stored responses of a questionnaire through its current
/// rules (and a draft's), and prints per rule how often each would fire a
/// week.
pub(super) fn simulate(s: &Simulate) -> Result<(), Fail> {
    let catalog = load_catalog(&s.questionnaires)?;
    let current = catalog.get(&s.questionnaire).ok_or_else(|| {
        Fail(format!(
            "there is no questionnaire `{}` in {}",
            s.questionnaire,
            s.questionnaires.display()
        ))
    })?;
    let draft = match &s.with {
        None => None,
        Some(path) => {
            let entry = crate::catalog::load_file(path);
            if entry.errors() > 0 {
                eprint!("{}", entry.render());
                return Err(Fail(format!("the draft {} has errors", path.display())));
            }
            let q = entry
                .questionnaire()
                .cloned()
                .ok_or_else(|| Fail(format!("the draft {} has errors", path.display())))?;
            if q.id != current.id {
                return Err(Fail(format!(
                    "the draft is `{}`, not `{}`",
                    q.id, current.id
                )));
            }
            Some(q)
        }
    };
    let conn = open_existing(&s.db)?;
    let responses =
        crate::storage::responses::for_replay(&conn, &s.questionnaire, s.clinic.as_deref())?;
    let now = crate::core::simulate::replay(&current, &responses);
    let after = draft
        .as_ref()
        .map(|d| crate::core::simulate::replay(d, &responses));
    let scope = s
        .clinic
        .as_ref()
        .map(|c| format!("clinic {c}"))
        .unwrap_or_else(|| "all clinics".into());
    println!(
        "{} stored responses to `{}` ({scope}) over {:.1} weeks, replayed through version {}{}:",
        responses.len(),
        current.id,
        now.weeks,
        current.version,
        draft
            .as_ref()
            .map(|d| format!(" and the draft (version {})", d.version))
            .unwrap_or_default()
    );
    let per_week = |n: u64| n as f64 / now.weeks;
    let mut rules: Vec<(String, &str)> =
        now.rules.iter().map(|(r, l, _)| (r.clone(), *l)).collect();
    if let Some(a) = &after {
        for (r, l, _) in &a.rules {
            if !rules.iter().any(|(x, _)| x == r) {
                rules.push((r.clone(), l));
            }
        }
    }
    let width = rules.iter().map(|(r, _)| r.len()).max().unwrap_or(4).max(4);
    match &after {
        None => println!(
            "  {:<width$}  {:<6}  {:>10}  {:>8}",
            "rule", "level", "per week", "in all"
        ),
        Some(_) => println!(
            "  {:<width$}  {:<6}  {:>10}  {:>10}  {:>8}",
            "rule", "level", "now/week", "draft/week", "change"
        ),
    }
    let count = |load: &crate::core::simulate::Load, rule: &str| -> Option<(u64, &'static str)> {
        load.rules
            .iter()
            .find(|(r, _, _)| r == rule)
            .map(|(_, l, n)| (*n, *l))
    };
    for (rule, level) in &rules {
        let before = count(&now, rule);
        match &after {
            None => {
                let n = before.map(|b| b.0).unwrap_or(0);
                println!(
                    "  {rule:<width$}  {level:<6}  {:>10.2}  {n:>8}",
                    per_week(n)
                );
            }
            Some(a) => {
                let d = count(a, rule);
                let level = d.map(|x| x.1).unwrap_or(level);
                let show = |x: Option<(u64, &str)>| {
                    x.map(|(n, _)| format!("{:.2}", per_week(n)))
                        .unwrap_or_else(|| "—".into())
                };
                let change =
                    d.map(|x| x.0 as i64).unwrap_or(0) - before.map(|x| x.0 as i64).unwrap_or(0);
                println!(
                    "  {rule:<width$}  {level:<6}  {:>10}  {:>10}  {:>+8}",
                    show(before),
                    show(d),
                    change
                );
            }
        }
    }
    for (name, load) in std::iter::once(("now", &now)).chain(after.as_ref().map(|a| ("draft", a))) {
        for level in ["red", "yellow"] {
            let n: u64 = load
                .rules
                .iter()
                .filter(|(_, l, _)| *l == level)
                .map(|(_, _, n)| n)
                .sum();
            println!(
                "  {name}: {level} flags {:.2} a week ({n} in all)",
                per_week(n)
            );
        }
        if load.refused > 0 {
            println!(
                "  {name}: {} responses are not valid answers to it and were left out",
                load.refused
            );
        }
    }
    Ok(())
}
