//! Rows for research export.

use super::Connection;
use serde_json::{Map, Value as Json};

use super::Result;

/// A row of the research export.
pub struct ExportRow {
    pub response_id: String,
    pub clinic_id: String,
    pub patient_ref: String,
    /// The patient's id (for a pseudonym; never exported as it is).
    pub patient_id: String,
    /// This row corrects an earlier version.
    pub corrects: bool,
    /// Each score's band, by score id.
    pub bands: Map<String, Json>,
    pub version: u32,
    pub submitted_at: String,
    pub response_date: String,
    pub mode: String,
    pub level: String,
    pub superseded: bool,
    pub answers: Map<String, Json>,
    pub scores: Map<String, Json>,
}

/// Calls `f` with each response to a questionnaire, in the order they were
/// stored, one row at a time (an export of millions of rows holds one in
/// memory). Returns how many there were.
pub fn for_each_row(
    conn: &Connection,
    questionnaire_id: &str,
    clinic_id: Option<&str>,
    latest_only: bool,
    mut f: impl FnMut(ExportRow) -> Result<()>,
) -> Result<u64> {
    // In the order of storage (SQLite's rowid): no sort, so no temporary
    // copy of every row; PostgreSQL has no rowid, and its ids are in time
    // order.
    let order = match conn.backend() {
        super::db::Backend::Sqlite => "r.rowid",
        super::db::Backend::Postgres => "r.id",
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT r.id, r.clinic_id, p.ref, r.version, r.submitted_at, r.response_date, r.mode, r.level,
            EXISTS (SELECT 1 FROM responses s WHERE s.supersedes = r.id), r.answers, r.score_values,
            r.patient_id, r.supersedes IS NOT NULL,
            (SELECT json_group_object(sc.score_id, sc.band) FROM response_scores sc WHERE sc.response_id = r.id)
         FROM responses r JOIN patients p ON p.id = r.patient_id
         WHERE r.questionnaire_id = ?1 AND (?2 IS NULL OR r.clinic_id = ?2)
           AND (?3 = 0 OR NOT EXISTS (SELECT 1 FROM responses s WHERE s.supersedes = r.id))
         ORDER BY {order}"
    ))?;
    let mut rows = stmt.query(super::db::params![questionnaire_id, clinic_id, latest_only])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let answers: String = r.get(9)?;
        let scores: String = r.get(10)?;
        let bands: Option<String> = r.get(13)?;
        f(ExportRow {
            response_id: r.get(0)?,
            clinic_id: r.get(1)?,
            patient_ref: r.get(2)?,
            version: r.get(3)?,
            submitted_at: r.get(4)?,
            response_date: r.get(5)?,
            mode: r.get(6)?,
            level: r.get(7)?,
            superseded: r.get(8)?,
            answers: serde_json::from_str(&answers).unwrap_or_default(),
            scores: serde_json::from_str(&scores).unwrap_or_default(),
            patient_id: r.get(11)?,
            corrects: r.get(12)?,
            bands: bands
                .and_then(|b| serde_json::from_str(&b).ok())
                .unwrap_or_default(),
        })?;
        n += 1;
    }
    Ok(n)
}

/// The environment variable that may hold the pseudonym key (64 hex
/// digits).
pub const PSEUDONYM_KEY_ENV: &str = "PROM_EXPORT_KEY";

/// `DB.export-key`: the installation's secret for pseudonyms, kept outside
/// the database (whoever has an export and the database but not this key
/// cannot link the two).
pub fn pseudonym_key_path(db: &std::path::Path) -> std::path::PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".export-key");
    std::path::PathBuf::from(p)
}

/// The pseudonym key: from the environment, or the key file beside the
/// database (made, owner-only, the first time).
pub fn pseudonym_key(db: &std::path::Path) -> Result<Vec<u8>> {
    use super::StorageError;
    if let Ok(v) = std::env::var(PSEUDONYM_KEY_ENV) {
        return hex::decode(v.trim())
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| {
                StorageError::Invalid(format!("{PSEUDONYM_KEY_ENV} must be 64 hexadecimal digits"))
            });
    }
    let path = pseudonym_key_path(db);
    match std::fs::read_to_string(&path) {
        Ok(text) => hex::decode(text.trim())
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| {
                StorageError::Invalid(format!("{} does not hold a pseudonym key", path.display()))
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::fill(&mut key);
            super::write_private(&path, hex::encode(key).as_bytes()).map_err(|e| {
                StorageError::Invalid(format!("cannot write {}: {e}", path.display()))
            })?;
            Ok(key.to_vec())
        }
        Err(e) => Err(StorageError::Invalid(format!(
            "cannot read the pseudonym key {}: {e}",
            path.display()
        ))),
    }
}

/// A patient's pseudonym in exports: a keyed hash (HMAC-SHA-256) of the
/// clinic and the patient's id, 16 hex digits. The same patient has the
/// same pseudonym in every export of one installation.
pub fn pseudonym(key: &[u8], clinic_id: &str, patient_id: &str) -> String {
    use hmac::{KeyInit, Mac};
    let Ok(mut m) = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key) else {
        return String::new();
    };
    m.update(clinic_id.as_bytes());
    m.update(b"\0");
    m.update(patient_id.as_bytes());
    let h = hex::encode(m.finalize().into_bytes());
    format!("p{}", &h[..16])
}

/// A cell a spreadsheet will not run: text that starts like a formula
/// (`=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, as
/// OWASP recommends. A plain number (`-3`, `+2.5`) stays a number.
pub fn safe_cell(s: &str) -> String {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let number = {
        let t = s.strip_prefix(['-', '+']).unwrap_or(s);
        !t.is_empty()
            && t.chars().all(|c| c.is_ascii_digit() || c == '.')
            && t.chars().filter(|c| *c == '.').count() <= 1
            && !t.starts_with('.')
            && !t.ends_with('.')
    };
    if risky && !number {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_are_not() {
        for bad in [
            "=HYPERLINK(\"http://x\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "-",
            "+",
        ] {
            assert!(safe_cell(bad).starts_with('\''), "{bad:?}");
        }
        for good in ["-3", "+2.5", "12", "0.5", "text", "", "a=b"] {
            assert_eq!(safe_cell(good), good);
        }
    }

    #[test]
    fn a_pseudonym_is_stable_keyed_and_not_the_id() {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let a = pseudonym(&k1, "c", "patient-1");
        assert_eq!(a, pseudonym(&k1, "c", "patient-1"));
        assert_ne!(
            a,
            pseudonym(&k2, "c", "patient-1"),
            "another installation, another pseudonym"
        );
        assert_ne!(a, pseudonym(&k1, "c", "patient-2"));
        assert_eq!(a.len(), 17);
        assert!(!a.contains("patient"));
    }
}
