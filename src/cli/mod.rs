//! The command line: `prom check`, `prom test` and the rest. It wires the
//! catalog and the core together and owns exit codes: 0 success, 1 a
//! problem found in the questionnaires, 2 bad input.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::catalog;
use crate::core::testing;

#[derive(Parser)]
#[command(
    name = "prom",
    version,
    about = "An engine for electronic patient-reported outcome measures"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile questionnaires and report every problem.
    Check {
        /// A questionnaire file or a folder searched for *.yaml.
        #[arg(default_value = "questionnaires")]
        path: PathBuf,
    },
    /// Run the tests that questionnaires carry.
    Test {
        /// A questionnaire file or a folder searched for *.yaml.
        #[arg(default_value = "questionnaires")]
        path: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { path } => check(&path),
        Command::Test { path } => test(&path),
    }
}

fn load(path: &std::path::Path) -> Result<Vec<catalog::Entry>, ExitCode> {
    catalog::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    let entries = match load(path) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let (mut errors, mut warnings) = (0, 0);
    for e in &entries {
        print!("{}", e.render());
        errors += e.errors();
        warnings += e.warnings();
    }
    println!(
        "checked {}: {}, {}",
        plural(entries.len(), "questionnaire"),
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn test(path: &std::path::Path) -> ExitCode {
    let entries = match load(path) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let (mut passed, mut failed) = (0, 0);
    for e in &entries {
        let Some(q) = e.questionnaire() else {
            print!("{}", e.render());
            println!(
                "FAIL {}: does not compile, so its tests cannot run",
                e.display
            );
            failed += 1;
            continue;
        };
        for t in &q.tests {
            let fails = testing::run(q, t);
            if fails.is_empty() {
                passed += 1;
                println!("ok   {} › {}", q.id, t.name);
            } else {
                failed += 1;
                println!("FAIL {} › {} ({}:{})", q.id, t.name, e.display, t.line);
                for f in fails {
                    println!("       {f}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
