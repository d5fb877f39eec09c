//! `prom export`: a questionnaire's responses for research (CSV, with
//! pseudonyms and no live formulas) or another system (FHIR).

use clap::Args;
use std::io::Write;
use std::path::PathBuf;

use super::{Fail, audit_cli, in_tx, load_catalog, open_existing};
use crate::cli::DbArg;
use crate::storage::StorageError;

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["clinic", "all_clinics"])))]
pub struct Export {
    #[arg(long)]
    questionnaire: String,
    #[arg(long, value_parser = ["csv", "fhir"])]
    format: String,
    /// The clinic whose responses are exported.
    #[arg(long)]
    clinic: Option<String>,
    /// Every clinic's responses (say so explicitly).
    #[arg(long)]
    all_clinics: bool,
    /// One row per answer instead of one per response.
    #[arg(long)]
    long: bool,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, env = "PROM_QUESTIONNAIRES", default_value = "questionnaires")]
    questionnaires: PathBuf,
    #[command(flatten)]
    db: DbArg,
}

fn cell(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(xs)) => xs
            .iter()
            .map(|x| cell(Some(x)))
            .collect::<Vec<_>>()
            .join(";"),
        Some(other) => other.to_string(),
    }
}

/// Where an export goes: a file beside `out` (renamed at the end by
/// [`close_sink`], so no half-written file stays behind) or standard output.
fn open_sink(out: Option<&std::path::Path>) -> Result<(Box<dyn Write>, Option<PathBuf>), Fail> {
    let tmp = out.map(|p| p.with_extension("partial"));
    let sink: Box<dyn Write> = match &tmp {
        Some(t) => Box::new(
            std::fs::File::create(t)
                .map_err(|x| Fail(format!("cannot write {}: {x}", t.display())))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    Ok((sink, tmp))
}

fn close_sink(tmp: Option<PathBuf>, out: Option<&std::path::Path>) -> Result<(), Fail> {
    if let (Some(tmp), Some(path)) = (tmp, out) {
        std::fs::rename(&tmp, path)
            .map_err(|x| Fail(format!("cannot write {}: {x}", path.display())))?;
    }
    Ok(())
}

/// A `Bundle` (collection) holding the questionnaire as a FHIR R4
/// `Questionnaire` and, when there is a database, every response to it in
/// the scope asked for (corrections and what they replaced, each saying so)
/// as `QuestionnaireResponse`s of the exact version answered. Written entry
/// by entry, so memory stays flat however many there are.
fn export_fhir(e: &Export, q: &crate::core::model::Questionnaire) -> Result<(), Fail> {
    let (sink, tmp) = open_sink(e.out.as_deref())?;
    let mut w = std::io::BufWriter::new(sink);
    let io = |x: std::io::Error| Fail(format!("cannot write the export: {x}"));
    let first = serde_json::json!({
        "fullUrl": crate::fhir::canonical(&q.id),
        "resource": crate::fhir::questionnaire(q),
    });
    write!(
        w,
        "{{\"resourceType\": \"Bundle\", \"type\": \"collection\", \"entry\": [\n{first}"
    )
    .map_err(io)?;
    let mut n = 0u64;
    if e.db.exists() {
        let mut conn = open_existing(&e.db)?;
        if let Some(c) = &e.clinic {
            crate::storage::clinics::get_clinic(&conn, c)
                .map_err(|_| Fail(format!("there is no clinic `{c}`")))?;
        }
        in_tx(&mut conn, |tx| {
            let subject = format!("responses to {} as FHIR", e.questionnaire);
            audit_cli(tx, "export.fhir", e.clinic.as_deref(), None, Some(&subject))
        })?;
        let tx = conn.read_transaction()?;
        crate::storage::export::for_each_row(
            &tx,
            &e.questionnaire,
            e.clinic.as_deref(),
            false,
            |r| {
                let rec =
                    crate::storage::responses::get_response(&tx, &r.clinic_id, &r.response_id)?;
                let version =
                    crate::storage::versions::load_version_shared(&tx, &q.id, rec.version)?;
                let entry = serde_json::json!({
                    "fullUrl": format!("urn:uuid:{}", rec.id),
                    "resource": crate::fhir::response::questionnaire_response(&version, &rec, &r.clinic_id),
                });
                n += 1;
                write!(w, ",\n{entry}").map_err(|x| StorageError::Invalid(x.to_string()))
            },
        )?;
    } else {
        eprintln!(
            "no database at {}: the bundle holds the questionnaire only",
            e.db.db.display()
        );
    }
    writeln!(w, "\n]}}").map_err(io)?;
    w.flush().map_err(io)?;
    drop(w);
    close_sink(tmp, e.out.as_deref())?;
    if e.out.is_some() {
        eprintln!("exported the questionnaire and {n} responses");
    }
    Ok(())
}

pub(super) fn export(e: Export) -> Result<(), Fail> {
    let catalog = load_catalog(&e.questionnaires)?;
    let q = catalog
        .get(&e.questionnaire)
        .ok_or_else(|| Fail(format!("there is no questionnaire `{}`", e.questionnaire)))?;
    if e.format == "fhir" {
        return export_fhir(&e, &q);
    }
    let mut conn = open_existing(&e.db)?;
    if let Some(c) = &e.clinic {
        crate::storage::clinics::get_clinic(&conn, c)
            .map_err(|_| Fail(format!("there is no clinic `{c}`")))?;
    }
    let key = crate::storage::export::pseudonym_key(&e.db.files())?;
    // The export is recorded first; the rows are then read in one read
    // transaction (a snapshot), which does not hold up the server's writes.
    in_tx(&mut conn, |tx| {
        let subject = format!(
            "responses to {}{}",
            e.questionnaire,
            if e.long { ", long" } else { "" }
        );
        audit_cli(tx, "export.csv", e.clinic.as_deref(), None, Some(&subject))
    })?;
    let items: Vec<&str> = q
        .items
        .iter()
        .filter(|i| i.kind.answerable())
        .map(|i| i.id.as_str())
        .collect();
    let mut header: Vec<String> = [
        "response",
        "patient",
        "clinic",
        "questionnaire",
        "version",
        "mode",
        "submitted_at",
        "response_date",
        "corrected",
    ]
    .iter()
    .map(|h| h.to_string())
    .collect();
    if e.long {
        header.extend(["item".to_string(), "answer".to_string()]);
    } else {
        header.extend(items.iter().map(|i| i.to_string()));
        for sc in &q.scores {
            header.push(sc.id.clone());
            if !sc.bands.is_empty() {
                header.push(format!("{}_band", sc.id));
            }
        }
        header.push("level".into());
    }
    // Rows go straight to the file (beside it, renamed at the end: no
    // half-written file stays behind) or to standard output.
    let (sink, tmp) = open_sink(e.out.as_deref())?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(sink));
    let csv_err = |x: csv::Error| Fail(x.to_string());
    w.write_record(&header).map_err(csv_err)?;
    let safe = crate::storage::export::safe_cell;
    let tx = conn.read_transaction()?;
    let mut n = 0u64;
    crate::storage::export::for_each_row(&tx, &e.questionnaire, e.clinic.as_deref(), true, |r| {
        n += 1;
        let head = vec![
            n.to_string(),
            crate::storage::export::pseudonym(&key, &r.clinic_id, &r.patient_id),
            safe(&r.clinic_id),
            safe(&e.questionnaire),
            r.version.to_string(),
            r.mode.clone(),
            r.submitted_at.clone(),
            r.response_date.clone(),
            r.corrects.to_string(),
        ];
        let write = |w: &mut csv::Writer<_>, rec: &[String]| {
            w.write_record(rec)
                .map_err(|x| StorageError::Invalid(x.to_string()))
        };
        if e.long {
            for i in &items {
                if let Some(v) = r.answers.get(*i) {
                    let mut rec = head.clone();
                    rec.push((*i).to_string());
                    rec.push(safe(&cell(Some(v))));
                    write(&mut w, &rec)?;
                }
            }
            Ok(())
        } else {
            let mut rec = head;
            rec.extend(items.iter().map(|i| safe(&cell(r.answers.get(*i)))));
            for sc in &q.scores {
                rec.push(safe(&cell(r.scores.get(&sc.id))));
                if !sc.bands.is_empty() {
                    rec.push(safe(&cell(r.bands.get(&sc.id))));
                }
            }
            rec.push(r.level.clone());
            write(&mut w, &rec)
        }
    })?;
    drop(tx);
    w.flush().map_err(|x| Fail(x.to_string()))?;
    drop(w);
    close_sink(tmp, e.out.as_deref())?;
    Ok(())
}
