//! `prom import fhir FILE.json`: a FHIR R4 Questionnaire (or a Bundle
//! holding one) written as a questionnaire in prom's format, then compiled
//! as `prom check` would, so the author sees at once what is left to do.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum ImportCmd {
    /// A FHIR R4 Questionnaire (JSON) as a questionnaire file.
    Fhir {
        /// The Questionnaire, or a Bundle holding it (and its ValueSets).
        file: PathBuf,
        /// A ValueSet (or a Bundle of them) that the Questionnaire's
        /// `answerValueSet` names; may be given more than once.
        #[arg(long = "valueset")]
        value_sets: Vec<PathBuf>,
        /// The questionnaire's id (default: made from the FHIR id).
        #[arg(long)]
        id: Option<String>,
        /// Write here (default: standard output); an existing file is
        /// kept unless --force.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the file at --out.
        #[arg(long)]
        force: bool,
    },
}

fn read_json(path: &std::path::Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

fn run_fhir(
    file: &std::path::Path,
    value_sets: &[PathBuf],
    id: Option<&str>,
    out: Option<&std::path::Path>,
    force: bool,
) -> Result<bool, String> {
    use crate::fhir::import;
    if let Some(p) = out
        && p.exists()
        && !force
    {
        return Err(format!(
            "{} exists; give another --out, or --force to replace it",
            p.display()
        ));
    }
    if let Some(i) = id
        && import::prom_name(i) != i
    {
        return Err(format!(
            "`{i}` is not an id: use lower-case letters, digits and _"
        ));
    }
    let doc = read_json(file)?;
    let (q, mut sets) =
        import::find_questionnaire(&doc).map_err(|e| format!("{}: {e}", file.display()))?;
    for p in value_sets {
        let v = read_json(p)?;
        match v["resourceType"].as_str() {
            Some("ValueSet") => sets.push(v),
            Some("Bundle") => sets.extend(
                v["entry"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| e["resource"].clone())
                    .filter(|r| r["resourceType"] == "ValueSet"),
            ),
            _ => return Err(format!("{} is not a ValueSet or a Bundle", p.display())),
        }
    }
    let imported =
        import::to_yaml(&q, &sets, id).map_err(|e| format!("{}: {e}", file.display()))?;
    let shown = out
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| format!("{}.yaml", imported.id));
    match out {
        Some(p) => std::fs::write(p, &imported.yaml)
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?,
        None => print!("{}", imported.yaml),
    }
    // What `prom check` would say of it.
    let compiled = crate::core::compile::compile_yaml(&imported.yaml);
    let report = crate::core::diag::render_all(&compiled.diagnostics, &shown, &imported.yaml);
    eprint!("{report}");
    let errors = compiled.diagnostics.iter().filter(|d| d.is_error()).count();
    eprintln!(
        "imported `{}`: {} items, {} scores, {} rules; {} not carried over (marked `# import:`); check: {}",
        imported.id,
        imported.items,
        imported.scores,
        imported.rules,
        imported.notes.len(),
        if errors == 0 {
            "no errors".to_string()
        } else {
            format!("{errors} errors")
        }
    );
    // Each kind of note once, with how often.
    let mut seen: Vec<(&String, usize)> = Vec::new();
    for n in &imported.notes {
        match seen.iter_mut().find(|(m, _)| *m == n) {
            Some((_, k)) => *k += 1,
            None => seen.push((n, 1)),
        }
    }
    for (n, k) in seen {
        if k > 1 {
            eprintln!("  - {n} ({k} times)");
        } else {
            eprintln!("  - {n}");
        }
    }
    Ok(errors == 0)
}

pub fn run(cmd: ImportCmd) -> ExitCode {
    match cmd {
        ImportCmd::Fhir {
            file,
            value_sets,
            id,
            out,
            force,
        } => match run_fhir(&file, &value_sets, id.as_deref(), out.as_deref(), force) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}
