//! Responses, their scores and flags: append-only rows, the history a
//! rule reads, and responses as the API shows them.

use super::Connection;
use super::db::{OptionalExtension, params};
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::{Result, StorageError};
use crate::core::HistoryEntry;
use crate::core::engine::history_from_stored;
use crate::core::model::Questionnaire;
use crate::core::value::decimal_to_json;

/// A flag as stored: the rule, its level and its text in every language.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct FlagRecord {
    pub rule: String,
    pub level: String,
    pub text: Json,
    /// The rule's condition with the values it read (`pain_now 8 ≥ 7`),
    /// when stored with the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// A stored response, as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseRecord {
    pub id: String,
    pub questionnaire: String,
    pub version: u32,
    pub patient: String,
    pub submitted_at: String,
    pub response_date: String,
    pub mode: String,
    pub answers: Map<String, Json>,
    pub scores: Map<String, Json>,
    pub imputed: Map<String, Json>,
    pub bands: Map<String, Json>,
    pub flags: Vec<FlagRecord>,
    pub level: String,
    pub actor: String,
    pub supersedes: Option<String>,
    pub superseded_by: Option<String>,
    pub correction_reason: Option<String>,
}

/// The query of a patient's earlier, not superseded, responses to one
/// questionnaire answered on or before a day (`?3`), newest answered first
/// (a paper form typed in late takes its place by the day it was
/// answered); a literal limit: a bound one here made this SQLite build
/// prepare the statement anew at every run.
pub fn history_sql(limit: Option<u32>) -> String {
    format!(
        "SELECT r.response_date, r.answers, r.score_values, r.fired, r.id FROM responses r
         WHERE r.patient_id = ?1 AND r.questionnaire_id = ?2 AND r.response_date <= ?3
           AND NOT EXISTS (SELECT 1 FROM responses s WHERE s.supersedes = r.id)
         ORDER BY r.response_date DESC, r.submitted_at DESC, r.id DESC
         LIMIT {}",
        limit.map(i64::from).unwrap_or(-1)
    )
}

/// The patient's earlier, not superseded, responses to a questionnaire id
/// (any version) answered on or before `until`, newest answered first,
/// read through the history index.
pub fn load_history(
    conn: &Connection,
    patient_id: &str,
    q: &Questionnaire,
    except: Option<&str>,
    until: NaiveDate,
    limit: Option<u32>,
) -> Result<Vec<HistoryEntry>> {
    if !q.uses_history {
        return Ok(Vec::new());
    }
    let sql = history_sql(limit);
    let needs_answers = q.history_names.iter().any(|n| q.item_index.contains_key(n));
    let needs_scores = q
        .history_names
        .iter()
        .any(|n| !q.item_index.contains_key(n));
    let parse_map = |s: &str| -> Map<String, Json> { serde_json::from_str(s).unwrap_or_default() };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![patient_id, q.id, until.to_string()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        if except.is_some() && except == r.get_ref(4)?.as_str().ok() {
            continue;
        }
        let Ok(date) =
            NaiveDate::parse_from_str(r.get_ref(0)?.as_str().unwrap_or_default(), "%Y-%m-%d")
        else {
            continue;
        };
        let answers = if needs_answers {
            parse_map(r.get_ref(1)?.as_str().unwrap_or("{}"))
        } else {
            Map::new()
        };
        let scores = if needs_scores {
            parse_map(r.get_ref(2)?.as_str().unwrap_or("{}"))
        } else {
            Map::new()
        };
        let fired: Vec<String> =
            serde_json::from_str(r.get_ref(3)?.as_str().unwrap_or("[]")).unwrap_or_default();
        out.push(history_from_stored(q, date, &answers, &scores, fired));
    }
    Ok(out)
}

const RESPONSE_COLUMNS: &str =
    "r.id, r.questionnaire_id, r.version, p.ref, r.submitted_at, r.response_date, r.mode,
    r.answers, r.level, r.actor, r.supersedes, r.correction_reason,
    (SELECT s.id FROM responses s WHERE s.supersedes = r.id)";

fn response_row(conn: &Connection, r: &super::db::Row<'_>) -> Result<ResponseRecord> {
    let id: String = r.get(0)?;
    let answers: String = r.get(7)?;
    let mut rec = ResponseRecord {
        id,
        questionnaire: r.get(1)?,
        version: r.get(2)?,
        patient: r.get(3)?,
        submitted_at: r.get(4)?,
        response_date: r.get(5)?,
        mode: r.get(6)?,
        answers: serde_json::from_str(&answers).unwrap_or_default(),
        scores: Map::new(),
        imputed: Map::new(),
        bands: Map::new(),
        flags: Vec::new(),
        level: r.get(8)?,
        actor: r.get(9)?,
        supersedes: r.get(10)?,
        correction_reason: r.get(11)?,
        superseded_by: r.get(12)?,
    };
    let mut stmt = conn.prepare_cached(SCORES_SQL)?;
    let mut rows = stmt.query([&rec.id])?;
    while let Some(s) = rows.next()? {
        let sid: String = s.get(0)?;
        let value: Option<String> = s.get(1)?;
        let num = value
            .and_then(|v| v.parse::<rust_decimal::Decimal>().ok())
            .map(decimal_to_json)
            .unwrap_or(Json::Null);
        rec.scores.insert(sid.clone(), num);
        rec.imputed
            .insert(sid.clone(), Json::from(s.get::<i64>(2)?));
        let band: Option<String> = s.get(3)?;
        if let Some(b) = band {
            rec.bands.insert(sid, Json::from(b));
        }
    }
    let mut stmt = conn.prepare_cached(FLAGS_SQL)?;
    let mut rows = stmt.query([&rec.id])?;
    while let Some(f) = rows.next()? {
        let text: String = f.get(2)?;
        rec.flags.push(FlagRecord {
            rule: f.get(0)?,
            level: f.get(1)?,
            text: serde_json::from_str(&text).unwrap_or(Json::Null),
            why: f.get(3)?,
        });
    }
    Ok(rec)
}

pub const SCORES_SQL: &str =
    "SELECT score_id, value, imputed, band FROM response_scores WHERE response_id = ?1";
pub const FLAGS_SQL: &str = "SELECT rule_id, level, text, why FROM flags WHERE response_id = ?1
     ORDER BY CASE level WHEN 'red' THEN 0 ELSE 1 END, rule_id";

/// One of a clinic's responses (not found for another clinic's).
pub fn get_response(conn: &Connection, clinic_id: &str, id: &str) -> Result<ResponseRecord> {
    let mut stmt = conn.prepare_cached(&by_id_sql())?;
    let mut rows = stmt.query([id, clinic_id])?;
    match rows.next()? {
        Some(r) => response_row(conn, &r),
        None => Err(StorageError::NotFound),
    }
}

/// Where a page of a patient's responses starts: after this response
/// (newest first). Responses stored later come before it, so a cursor stays
/// valid while others are inserted.
#[derive(Debug, Clone, PartialEq)]
pub struct After {
    pub submitted_at: String,
    pub id: String,
}

/// The query of a page of a patient's responses, newest first: the first
/// page, or the page after a cursor. It reads one patient's rows through
/// `responses_history` and sorts them: an index of its own (patient, time)
/// cost a fifth of the writer's throughput, one more scattered page per
/// submission.
pub fn page_sql(after: bool) -> String {
    let cursor = if after {
        "AND (r.submitted_at, r.id) < (?3, ?4)"
    } else {
        ""
    };
    format!(
        "SELECT {RESPONSE_COLUMNS} FROM responses r JOIN patients p ON p.id = r.patient_id
         WHERE r.patient_id = ?1 {cursor}
         ORDER BY r.submitted_at DESC, r.id DESC LIMIT ?2"
    )
}

/// The query of one response by id.
pub fn by_id_sql() -> String {
    format!(
        "SELECT {RESPONSE_COLUMNS} FROM responses r JOIN patients p ON p.id = r.patient_id
         WHERE r.id = ?1 AND r.clinic_id = ?2"
    )
}

/// A page of a patient's responses, newest first: up to `limit`, after
/// `after`, and whether more remain.
pub fn patient_responses(
    conn: &Connection,
    patient_id: &str,
    limit: u32,
    after: Option<&After>,
) -> Result<(Vec<ResponseRecord>, bool)> {
    let mut stmt = match after {
        None => conn.prepare_cached(&page_sql(false))?,
        Some(_) => conn.prepare_cached(&page_sql(true))?,
    };
    let limit1 = i64::from(limit) + 1;
    let mut rows = match after {
        None => stmt.query(params![patient_id, limit1])?,
        Some(a) => stmt.query(params![patient_id, limit1, a.submitted_at, a.id])?,
    };
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(response_row(conn, &r)?);
    }
    Ok(super::page(out, limit))
}

/// The id of the patient a response belongs to.
pub fn response_patient(conn: &Connection, clinic_id: &str, response_id: &str) -> Result<String> {
    conn.query_row(
        "SELECT patient_id FROM responses WHERE id = ?1 AND clinic_id = ?2",
        [response_id, clinic_id],
        |r| r.get(0),
    )
}

/// A response's answers and score values, by id.
pub type AnswersAndScores = (Map<String, Json>, Map<String, Json>);

/// The answers and scores of the response that came before `id` in its
/// patient's history of the same questionnaire (not superseded, in the
/// history's order), for showing what a rule on earlier answers compared.
pub fn previous_values(conn: &Connection, id: &str) -> Result<Option<AnswersAndScores>> {
    let row: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT p.answers, p.score_values FROM responses r
             JOIN responses p ON p.patient_id = r.patient_id
                AND p.questionnaire_id = r.questionnaire_id
                AND (p.response_date, p.submitted_at, p.id) < (r.response_date, r.submitted_at, r.id)
             WHERE r.id = ?1 AND p.id != coalesce(r.supersedes, '')
               AND NOT EXISTS (SELECT 1 FROM responses s WHERE s.supersedes = p.id AND s.id != r.id)
             ORDER BY p.response_date DESC, p.submitted_at DESC, p.id DESC LIMIT 1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.map(|(a, s)| {
        (
            serde_json::from_str(&a).unwrap_or_default(),
            serde_json::from_str(&s).unwrap_or_default(),
        )
    }))
}

/// A response to insert, with its scores and the flags that fired.
pub struct NewResponse<'a> {
    pub id: &'a str,
    pub clinic_id: &'a str,
    pub patient_id: &'a str,
    pub questionnaire_id: &'a str,
    pub version: u32,
    pub hash: &'a str,
    pub mode: &'a str,
    pub submitted_at: &'a str,
    pub response_date: &'a str,
    /// Item id → answer, shown items only.
    pub answers: &'a Map<String, Json>,
    /// Score id → number or null.
    pub score_values: &'a Map<String, Json>,
    pub scores: &'a [StoredScore<'a>],
    pub flags: &'a [FlagRecord],
    pub level: &'a str,
    pub actor: &'a str,
    pub supersedes: Option<&'a str>,
    pub correction_reason: Option<&'a str>,
}

/// One score of a response as stored: the value as a decimal text.
pub struct StoredScore<'a> {
    pub id: &'a str,
    pub value: Option<String>,
    pub imputed: u32,
    pub band: Option<&'a str>,
}

/// Inserts a response, its scores and its flags, and returns the hash of
/// its content as stored (the same as [`content_hashes`] reads back, made here
/// from the values in hand instead of three more queries).
pub fn insert(conn: &Connection, r: &NewResponse) -> Result<String> {
    let fired: Vec<&str> = r.flags.iter().map(|f| f.rule.as_str()).collect();
    let answers = Json::Object(r.answers.clone()).to_string();
    let score_values = Json::Object(r.score_values.clone()).to_string();
    let fired = serde_json::to_string(&fired).unwrap_or_else(|_| "[]".into());
    let version = r.version.to_string();
    conn.prepare_cached(
        "INSERT INTO responses (id, clinic_id, patient_id, questionnaire_id, version, hash, mode,
            submitted_at, response_date, answers, score_values, fired, level, actor, supersedes, correction_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        r.id,
        r.clinic_id,
        r.patient_id,
        r.questionnaire_id,
        r.version,
        r.hash,
        r.mode,
        r.submitted_at,
        r.response_date,
        answers,
        score_values,
        fired,
        r.level,
        r.actor,
        r.supersedes,
        r.correction_reason
    ])?;
    let mut h = ContentHasher::default();
    for v in [
        Some(r.id),
        Some(r.clinic_id),
        Some(r.patient_id),
        Some(r.questionnaire_id),
        Some(version.as_str()),
        Some(r.hash),
        Some(r.mode),
        Some(r.submitted_at),
        Some(r.response_date),
        Some(answers.as_str()),
        Some(score_values.as_str()),
        Some(fired.as_str()),
        Some(r.level),
        Some(r.actor),
        r.supersedes,
        r.correction_reason,
    ] {
        h.put(v);
    }
    // Each table's rows in one statement (one round trip on PostgreSQL).
    let mut scores: Vec<&StoredScore> = r.scores.iter().collect();
    scores.sort_by_key(|s| s.id);
    let imputed: Vec<String> = scores.iter().map(|s| s.imputed.to_string()).collect();
    let mut values: Vec<&dyn crate::storage::db::ToSql> = Vec::with_capacity(scores.len() * 5);
    for (s, imp) in scores.iter().zip(&imputed) {
        values.extend([
            &r.id as &dyn crate::storage::db::ToSql,
            &s.id,
            &s.value,
            &s.imputed,
            &s.band,
        ]);
        h.put(Some("score"));
        for v in [Some(s.id), s.value.as_deref(), Some(imp.as_str()), s.band] {
            h.put(v);
        }
    }
    insert_rows(
        conn,
        "response_scores (response_id, score_id, value, imputed, band)",
        5,
        &values,
    )?;
    let mut flags: Vec<&FlagRecord> = r.flags.iter().collect();
    flags.sort_by(|a, b| a.rule.cmp(&b.rule));
    let texts: Vec<String> = flags.iter().map(|f| f.text.to_string()).collect();
    let mut values: Vec<&dyn crate::storage::db::ToSql> = Vec::with_capacity(flags.len() * 5);
    for (f, text) in flags.iter().zip(&texts) {
        values.extend([
            &r.id as &dyn crate::storage::db::ToSql,
            &f.rule,
            &f.level,
            text,
            &f.why,
        ]);
        h.put(Some("flag"));
        for v in [
            Some(f.rule.as_str()),
            Some(f.level.as_str()),
            Some(text.as_str()),
        ] {
            h.put(v);
        }
    }
    insert_rows(
        conn,
        "flags (response_id, rule_id, level, text, why)",
        5,
        &values,
    )?;
    Ok(h.finish())
}

/// Inserts `values.len() / width` rows into `table (columns)` with one
/// statement (kept prepared per row count); nothing when there are none.
fn insert_rows(
    conn: &Connection,
    table: &str,
    width: usize,
    values: &[&dyn crate::storage::db::ToSql],
) -> Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..values.len() / width)
        .map(|row| {
            let marks: Vec<String> = (1..=width)
                .map(|c| format!("?{}", row * width + c))
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    let sql = format!("INSERT INTO {table} VALUES {}", rows.join(", "));
    conn.prepare_cached(&sql)?.execute(values)?;
    Ok(())
}

/// The hash of a response's content: every value in a fixed order, each
/// marked present or absent and prefixed with its length.
#[derive(Default)]
struct ContentHasher(sha2::Sha256);

impl ContentHasher {
    fn put(&mut self, s: Option<&str>) {
        use sha2::Digest;
        match s {
            Some(s) => {
                self.0.update([1u8]);
                self.0.update(s.len().to_le_bytes());
                self.0.update(s.as_bytes());
            }
            None => self.0.update([0u8]),
        }
    }

    fn finish(self) -> String {
        use sha2::Digest;
        hex::encode(self.0.finalize())
    }
}

pub const OWNER_SQL: &str =
    "SELECT patient_id, questionnaire_id FROM responses WHERE id = ?1 AND clinic_id = ?2";

/// The patient and questionnaire of one of a clinic's responses.
pub fn owner(conn: &Connection, clinic_id: &str, id: &str) -> Result<(String, String)> {
    conn.prepare_cached(OWNER_SQL)?
        .query_row(params![id, clinic_id], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// The response that corrected `id`, if one did.
pub fn superseded_by(conn: &Connection, id: &str) -> Result<Option<String>> {
    conn.prepare_cached("SELECT id FROM responses WHERE supersedes = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()
}

/// The SHA-256 of each response's content as stored, by id: its row
/// (answers, scores, fired rules, level, questionnaire version and hash,
/// mode, patient, who and when), its scores and its flags. The audit row
/// that stored a response covers this hash, so a rewrite in any of the
/// three tables shows in `prom audit verify`. A response that is not
/// stored has none. Three statements, whatever the number of ids; lists
/// are padded to a power of two (repeating an id), so that a few statement
/// shapes serve every length.
pub fn content_hashes(
    conn: &Connection,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, String>> {
    let mut out = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let n = ids.len().next_power_of_two();
    let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    let list = marks.join(", ");
    let params: Vec<&dyn super::db::ToSql> = (0..n)
        .map(|i| &ids[i.min(ids.len() - 1)] as &dyn super::db::ToSql)
        .collect();
    let mut hashers: std::collections::HashMap<String, ContentHasher> =
        std::collections::HashMap::new();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, clinic_id, patient_id, questionnaire_id, CAST(version AS TEXT), hash, mode,
            submitted_at, response_date, answers, score_values, fired, level, actor,
            supersedes, correction_reason
         FROM responses WHERE id IN ({list})"
    ))?;
    let mut rows = stmt.query(&params[..])?;
    while let Some(r) = rows.next()? {
        let mut h = ContentHasher::default();
        for i in 0..16 {
            h.put(r.get::<Option<String>>(i)?.as_deref());
        }
        hashers.insert(r.get(0)?, h);
    }
    drop(rows);
    drop(stmt);
    // Scores, then flags, each in the byte order of its id, as `insert`
    // hashed them (sorted here, not by the database, whose collation may
    // differ between backends).
    type Parts = Vec<Vec<Option<String>>>;
    let mut parts: std::collections::HashMap<String, [Parts; 2]> = std::collections::HashMap::new();
    for (k, sql, width) in [
        (
            0,
            "SELECT response_id, score_id, value, CAST(imputed AS TEXT), band FROM response_scores
             WHERE response_id IN ({list})",
            4,
        ),
        (
            1,
            "SELECT response_id, rule_id, level, text FROM flags WHERE response_id IN ({list})",
            3,
        ),
    ] {
        let mut stmt = conn.prepare_cached(&sql.replace("{list}", &list))?;
        let mut rows = stmt.query(&params[..])?;
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let row = (1..=width)
                .map(|i| r.get::<Option<String>>(i))
                .collect::<Result<Vec<_>>>()?;
            parts.entry(id).or_default()[k].push(row);
        }
    }
    for (id, h) in hashers.iter_mut() {
        let Some(mut p) = parts.remove(id) else {
            continue;
        };
        for (k, tag) in [(0, "score"), (1, "flag")] {
            p[k].sort_by(|a, b| a[0].cmp(&b[0]));
            for row in &p[k] {
                h.put(Some(tag));
                for v in row {
                    h.put(v.as_deref());
                }
            }
        }
    }
    for (id, h) in hashers {
        out.insert(id, h.finish());
    }
    Ok(out)
}

/// A patient's responses (newest first), each questionnaire version they
/// answered, and what the clinic did with each.
pub struct PatientHistory {
    /// The newest responses, whole.
    pub list: Vec<ResponseRecord>,
    /// Every response's scores, newest first, for the charts.
    pub points: Vec<ScorePoint>,
    pub qs:
        std::collections::HashMap<(String, u32), std::sync::Arc<crate::core::model::Questionnaire>>,
    /// What the clinic did, for the responses in `list`.
    pub history: std::collections::HashMap<String, Option<super::review::ReviewHistory>>,
}

/// One response's scores, as a chart needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct ScorePoint {
    pub questionnaire: String,
    pub version: u32,
    pub response_date: String,
    pub scores: Map<String, Json>,
    /// A correction replaced it.
    pub superseded: bool,
}

/// Reads a patient's newest `limit` responses whole, every response's
/// scores, the questionnaire versions they answered and the review
/// histories of the newest.
pub fn patient_history(conn: &Connection, patient_id: &str, limit: u32) -> Result<PatientHistory> {
    let (list, _) = patient_responses(conn, patient_id, limit, None)?;
    let points = conn
        .prepare_cached(
            "SELECT r.questionnaire_id, r.version, r.response_date, r.score_values,
                EXISTS (SELECT 1 FROM responses c WHERE c.supersedes = r.id)
             FROM responses r WHERE r.patient_id = ?1
             ORDER BY r.submitted_at DESC, r.id DESC",
        )?
        .query_map([patient_id], |r| {
            let scores: String = r.get(3)?;
            Ok(ScorePoint {
                questionnaire: r.get(0)?,
                version: r.get(1)?,
                response_date: r.get(2)?,
                scores: serde_json::from_str(&scores).unwrap_or_default(),
                superseded: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>>>()?;
    let mut qs = std::collections::HashMap::new();
    for (qid, v) in list
        .iter()
        .map(|r| (&r.questionnaire, r.version))
        .chain(points.iter().map(|p| (&p.questionnaire, p.version)))
    {
        if let std::collections::hash_map::Entry::Vacant(e) = qs.entry((qid.clone(), v)) {
            e.insert(super::versions::load_version_shared(conn, qid, v)?);
        }
    }
    let mut history = std::collections::HashMap::new();
    for r in &list {
        history.insert(
            r.id.clone(),
            super::review::history_of_response(conn, &r.id)?,
        );
    }
    Ok(PatientHistory {
        list,
        points,
        qs,
        history,
    })
}

/// How many responses the clinic holds per questionnaire.
pub fn count_by_questionnaire(
    conn: &Connection,
    clinic_id: &str,
) -> Result<std::collections::HashMap<String, i64>> {
    let rows = conn
        .prepare_cached(
            "SELECT questionnaire_id, count(*) FROM responses WHERE clinic_id = ?1 GROUP BY questionnaire_id",
        )?
        .query_map([clinic_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// Every current response (corrections replace what they correct) to a
/// questionnaire, of one clinic or all, grouped by patient and oldest
/// first within each: what a simulation replays.
pub fn for_replay(
    conn: &Connection,
    questionnaire: &str,
    clinic_id: Option<&str>,
) -> Result<Vec<crate::core::simulate::Replay>> {
    let rows = conn
        .prepare(
            "SELECT r.patient_id, r.response_date, r.mode, r.answers FROM responses r
             WHERE r.questionnaire_id = ?1 AND (?2 IS NULL OR r.clinic_id = ?2)
               AND NOT EXISTS (SELECT 1 FROM responses c WHERE c.supersedes = r.id)
             ORDER BY r.patient_id, r.response_date, r.submitted_at, r.id",
        )?
        .query_map(params![questionnaire, clinic_id], |r| {
            let date: String = r.get(1)?;
            let mode: String = r.get(2)?;
            let answers: String = r.get(3)?;
            Ok((r.get::<String>(0)?, date, mode, answers))
        })?
        .collect::<Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(patient, date, mode, answers)| {
            Some(crate::core::simulate::Replay {
                patient,
                date: NaiveDate::parse_from_str(&date, "%Y-%m-%d").ok()?,
                mode: crate::core::engine::Mode::parse(&mode)?,
                answers: serde_json::from_str(&answers).ok()?,
            })
        })
        .collect())
}
