//! One function per query. Every function takes a connection; those that
//! write expect to run inside a write transaction (the writer thread's, or a
//! CLI command's `BEGIN IMMEDIATE`).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::sync::Arc;

use super::audit::{self, Entry};
use super::{Result, StorageError};
use crate::core::engine::{
    Evaluation, Mode, fire_rules, fire_rules_on_page, history_from_stored, level_of, stored_answers,
};

/// How many earlier responses are read first for the rules.
const HISTORY_PAGE: u32 = 8;
use crate::core::model::{Level, Questionnaire};
use crate::core::value::decimal_to_json;
use crate::core::{HistoryEntry, compile_json};

/// A timestamp as stored: UTC, RFC 3339, milliseconds.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A new time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn conflict_on_unique(e: rusqlite::Error, what: &str) -> StorageError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StorageError::Conflict(what.to_string())
        }
        _ => e.into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clinic {
    pub id: String,
    pub name: String,
    pub alert_emails: Vec<String>,
    pub time_zone: String,
}

pub fn insert_clinic(conn: &Connection, c: &Clinic, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "INSERT INTO clinics (id, name, alert_emails, time_zone, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            c.id,
            c.name,
            serde_json::to_string(&c.alert_emails).unwrap_or_else(|_| "[]".into()),
            c.time_zone,
            ts(now)
        ],
    )
    .map_err(|e| conflict_on_unique(e, &format!("the clinic `{}` exists already", c.id)))?;
    Ok(())
}

fn clinic_row(r: &rusqlite::Row) -> rusqlite::Result<Clinic> {
    let emails: String = r.get(2)?;
    Ok(Clinic {
        id: r.get(0)?,
        name: r.get(1)?,
        alert_emails: serde_json::from_str(&emails).unwrap_or_default(),
        time_zone: r.get(3)?,
    })
}

pub fn get_clinic(conn: &Connection, id: &str) -> Result<Clinic> {
    Ok(conn
        .prepare_cached("SELECT id, name, alert_emails, time_zone FROM clinics WHERE id = ?1")?
        .query_row([id], clinic_row)?)
}

pub fn insert_user(
    conn: &Connection,
    clinic_id: &str,
    email: &str,
    name: &str,
    role: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    get_clinic(conn, clinic_id)?;
    let id = new_id();
    conn.execute(
        "INSERT INTO staff_users (id, clinic_id, email, name, role, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, clinic_id, email, name, role, password_hash, ts(now)],
    )
    .map_err(|e| {
        conflict_on_unique(e, &format!("a user with the e-mail {email} exists already"))
    })?;
    Ok(id)
}

#[derive(Debug, Clone, Default)]
pub struct NewPatient {
    pub clinic_id: String,
    pub reference: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: String,
}

pub fn insert_patient(conn: &Connection, p: &NewPatient, now: DateTime<Utc>) -> Result<String> {
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO patients (id, clinic_id, ref, name, email, language, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        p.clinic_id,
        p.reference,
        p.name,
        p.email,
        p.language,
        ts(now)
    ])
    .map_err(|e| {
        conflict_on_unique(
            e,
            &format!(
                "the patient reference `{}` exists already in this clinic",
                p.reference
            ),
        )
    })?;
    Ok(id)
}

/// The patient's id for a clinic's own reference.
pub fn patient_id(conn: &Connection, clinic_id: &str, reference: &str) -> Result<String> {
    Ok(conn
        .prepare_cached("SELECT id FROM patients WHERE clinic_id = ?1 AND ref = ?2")?
        .query_row([clinic_id, reference], |r| r.get(0))?)
}

/// Every (patient id, clinic id) with this reference, across clinics.
pub fn patients_with_ref(conn: &Connection, reference: &str) -> Result<Vec<(String, String)>> {
    let mut stmt =
        conn.prepare("SELECT id, clinic_id FROM patients WHERE ref = ?1 ORDER BY clinic_id")?;
    let rows = stmt
        .query_map([reference], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn insert_api_key(
    conn: &Connection,
    clinic_id: &str,
    key_hash: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    get_clinic(conn, clinic_id)?;
    let id = new_id();
    conn.execute(
        "INSERT INTO api_keys (id, clinic_id, key_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, clinic_id, key_hash, ts(now)],
    )?;
    Ok(id)
}

/// The clinic an API key belongs to, if the key is known and not revoked.
pub fn clinic_for_key(conn: &Connection, key_hash: &str) -> Result<Option<Clinic>> {
    Ok(conn
        .prepare_cached(
            "SELECT c.id, c.name, c.alert_emails, c.time_zone FROM api_keys k
             JOIN clinics c ON c.id = k.clinic_id
             WHERE k.key_hash = ?1 AND k.revoked_at IS NULL",
        )?
        .query_row([key_hash], clinic_row)
        .optional()?)
}

/// Records a questionnaire version the first time it is served. The same id
/// and version with other content is refused: every stored response points
/// at the exact text that was answered.
pub fn record_version(conn: &Connection, q: &Questionnaire, now: DateTime<Utc>) -> Result<bool> {
    let known: Option<String> = conn
        .query_row(
            "SELECT hash FROM questionnaire_versions WHERE questionnaire_id = ?1 AND version = ?2",
            params![q.id, q.version],
            |r| r.get(0),
        )
        .optional()?;
    match known {
        Some(h) if h == q.hash => Ok(false),
        Some(_) => Err(StorageError::Conflict(format!(
            "the content of `{}` version {} changed, but its version did not; give it version {} (or later) so that stored answers keep pointing at the text that was answered",
            q.id,
            q.version,
            q.version + 1
        ))),
        None => {
            conn.execute(
                "INSERT INTO questionnaire_versions (questionnaire_id, version, hash, compiled, first_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![q.id, q.version, q.hash, q.to_json().to_string(), ts(now)],
            )?;
            Ok(true)
        }
    }
}

/// A stored version's compiled questionnaire.
pub fn load_version(conn: &Connection, id: &str, version: u32) -> Result<Questionnaire> {
    let compiled: String = conn.query_row(
        "SELECT compiled FROM questionnaire_versions WHERE questionnaire_id = ?1 AND version = ?2",
        params![id, version],
        |r| r.get(0),
    )?;
    let json: Json =
        serde_json::from_str(&compiled).map_err(|e| StorageError::Sqlite(e.to_string()))?;
    compile_json(&json).questionnaire.ok_or_else(|| {
        StorageError::Invalid(format!(
            "the stored `{id}` version {version} does not compile"
        ))
    })
}

pub fn insert_invitation(
    conn: &Connection,
    patient_id: &str,
    questionnaire_id: &str,
    token_hash: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String> {
    let id = new_id();
    conn.execute(
        "INSERT INTO invitations (id, token_hash, patient_id, questionnaire_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, token_hash, patient_id, questionnaire_id, ts(now), ts(expires_at)],
    )?;
    Ok(id)
}

pub fn insert_plan(
    conn: &Connection,
    patient_id: &str,
    questionnaire_id: &str,
    every_days: u32,
    first_due: NaiveDate,
    now: DateTime<Utc>,
) -> Result<String> {
    let id = new_id();
    conn.execute(
        "INSERT INTO plans (id, patient_id, questionnaire_id, every_days, next_due, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            patient_id,
            questionnaire_id,
            every_days,
            first_due.to_string(),
            ts(now)
        ],
    )?;
    Ok(id)
}

/// A flag as stored: the rule, its level and its text in every language.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct FlagRecord {
    pub rule: String,
    pub level: String,
    pub text: Json,
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

/// Everything the writer needs to store one response.
pub struct Submission {
    pub clinic_id: String,
    pub patient_ref: String,
    pub questionnaire: Arc<Questionnaire>,
    pub evaluation: Evaluation,
    pub mode: Mode,
    pub actor: String,
    pub now: DateTime<Utc>,
    /// `(key, hash of the request body)`.
    pub idempotency: Option<(String, String)>,
    /// `(response id, reason)` for a correction.
    pub supersedes: Option<(String, String)>,
    /// The base of links in alert e-mails.
    pub base_url: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    New(ResponseRecord),
    /// The idempotency key was seen with the same body: the first answer.
    Replayed(ResponseRecord),
}

/// The patient's earlier, not superseded, responses to a questionnaire id
/// (any version), newest first, read through the history index.
pub fn load_history(
    conn: &Connection,
    patient_id: &str,
    q: &Questionnaire,
    except: Option<&str>,
    limit: Option<u32>,
) -> Result<Vec<HistoryEntry>> {
    if !q.uses_history {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT r.response_date, r.answers, r.score_values, r.fired, r.id FROM responses r
         WHERE r.patient_id = ?1 AND r.questionnaire_id = ?2
           AND NOT EXISTS (SELECT 1 FROM responses s WHERE s.supersedes = r.id)
         ORDER BY r.submitted_at DESC, r.id DESC
         LIMIT {}",
        limit.map(i64::from).unwrap_or(-1)
    );
    let needs_answers = q.history_names.iter().any(|n| q.item_index.contains_key(n));
    let needs_scores = q
        .history_names
        .iter()
        .any(|n| !q.item_index.contains_key(n));
    let parse_map = |s: &str| -> Map<String, Json> { serde_json::from_str(s).unwrap_or_default() };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![patient_id, q.id])?;
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

/// Stores one response in the current transaction: the response, its
/// scores, its flags, a review item when a rule fired, the audit row and
/// the outbox rows of alert e-mails for a red response.
pub fn submit(conn: &Connection, s: &Submission) -> Result<Submitted> {
    if let Some((key, hash)) = &s.idempotency {
        let seen: Option<(String, String)> = conn
            .prepare_cached(
                "SELECT request_hash, response_id FROM idempotency_keys WHERE clinic_id = ?1 AND key = ?2",
            )?
            .query_row(params![s.clinic_id, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((seen_hash, id)) = seen {
            if &seen_hash == hash {
                return Ok(Submitted::Replayed(get_response(conn, &s.clinic_id, &id)?));
            }
            return Err(StorageError::Conflict(
                "this idempotency key was used before with a different request".into(),
            ));
        }
    }
    let q = &s.questionnaire;
    let patient_id = patient_id(conn, &s.clinic_id, &s.patient_ref)?;
    if let Some((old, _)) = &s.supersedes {
        let (old_patient, old_q): (String, String) = conn.query_row(
            "SELECT patient_id, questionnaire_id FROM responses WHERE id = ?1 AND clinic_id = ?2",
            params![old, s.clinic_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if old_patient != patient_id || old_q != q.id {
            return Err(StorageError::Invalid(
                "a correction must be for the same patient and questionnaire".into(),
            ));
        }
        let already: Option<String> = conn
            .query_row(
                "SELECT id FROM responses WHERE supersedes = ?1",
                [old],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(newer) = already {
            return Err(StorageError::Conflict(format!(
                "that response was already corrected by {newer}; correct the newest one"
            )));
        }
    }
    // Most rules look one or two answers back: read a page of the newest
    // first, and everything only when a rule needs more.
    let except = s.supersedes.as_ref().map(|x| x.0.as_str());
    let page = load_history(conn, &patient_id, q, except, Some(HISTORY_PAGE + 1))?;
    let ev = &s.evaluation;
    let fired = if page.len() <= HISTORY_PAGE as usize {
        fire_rules(q, ev, &page)
    } else {
        match fire_rules_on_page(q, ev, &page) {
            Some(f) => f,
            None => fire_rules(q, ev, &load_history(conn, &patient_id, q, except, None)?),
        }
    };
    let level = level_of(q, &fired);

    let id = new_id();
    let now = ts(s.now);
    let date = ev.date.to_string();
    let answers = stored_answers(q, ev);
    let mut scores = Map::new();
    let mut imputed = Map::new();
    let mut bands = Map::new();
    for (j, (sc, r)) in q.scores.iter().zip(&ev.scores).enumerate() {
        scores.insert(
            sc.id.clone(),
            r.value.map(decimal_to_json).unwrap_or(Json::Null),
        );
        imputed.insert(sc.id.clone(), Json::from(r.imputed));
        if !sc.bands.is_empty() {
            bands.insert(
                sc.id.clone(),
                ev.band(q, j)
                    .map(|b| Json::from(b.id.clone()))
                    .unwrap_or(Json::Null),
            );
        }
    }
    let fired_ids: Vec<&str> = fired.iter().map(|&r| q.rules[r].id.as_str()).collect();
    let (supersedes, reason) = match &s.supersedes {
        Some((a, b)) => (Some(a.as_str()), Some(b.as_str())),
        None => (None, None),
    };
    conn.prepare_cached(
        "INSERT INTO responses (id, clinic_id, patient_id, questionnaire_id, version, hash, mode,
            submitted_at, response_date, answers, score_values, fired, level, actor, supersedes, correction_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        id,
        s.clinic_id,
        patient_id,
        q.id,
        q.version,
        q.hash,
        s.mode.name(),
        now,
        date,
        Json::Object(answers.clone()).to_string(),
        Json::Object(scores.clone()).to_string(),
        serde_json::to_string(&fired_ids).unwrap_or_else(|_| "[]".into()),
        level.name(),
        s.actor,
        supersedes,
        reason
    ])?;
    {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO response_scores (response_id, score_id, value, imputed, band) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (j, (sc, r)) in q.scores.iter().zip(&ev.scores).enumerate() {
            stmt.execute(params![
                id,
                sc.id,
                r.value.map(|v| v.normalize().to_string()),
                r.imputed,
                ev.band(q, j).map(|b| b.id.as_str())
            ])?;
        }
    }
    let mut flags = Vec::with_capacity(fired.len());
    {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO flags (response_id, rule_id, level, text) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for &r in &fired {
            let rule = &q.rules[r];
            let text = rule.text.to_json();
            stmt.execute(params![id, rule.id, rule.level.name(), text.to_string()])?;
            flags.push(FlagRecord {
                rule: rule.id.clone(),
                level: rule.level.name().into(),
                text,
            });
        }
    }
    if level != Level::Green {
        conn.prepare_cached(
            "INSERT INTO review_items (id, response_id, clinic_id, level, status, created_at)
             VALUES (?1, ?2, ?3, ?4, 'open', ?5)",
        )?
        .execute(params![new_id(), id, s.clinic_id, level.name(), now])?;
    }
    audit::append(
        conn,
        &Entry {
            at: &now,
            actor: &s.actor,
            action: if s.supersedes.is_some() {
                "response.correct"
            } else {
                "response.submit"
            },
            clinic_id: Some(&s.clinic_id),
            patient_id: Some(&patient_id),
            subject: Some(&id),
        },
    )?;
    if level == Level::Red {
        let clinic = get_clinic(conn, &s.clinic_id)?;
        let mut stmt = conn.prepare_cached(
            "INSERT INTO outbox (id, kind, recipient, subject, body, response_id, created_at, due_at)
             VALUES (?1, 'red_flag', ?2, ?3, ?4, ?5, ?6, ?6)",
        )?;
        for to in &clinic.alert_emails {
            // No health data in e-mails: only that something needs review,
            // and where.
            let body = format!(
                "A response in {} needs review today.\n\nOpen it here (staff login required):\n{}/clinic/responses/{}\n\nThis message holds no health data.\n",
                clinic.name,
                s.base_url.trim_end_matches('/'),
                id
            );
            stmt.execute(params![
                new_id(),
                to,
                "prom: a response needs review",
                body,
                id,
                now
            ])?;
        }
    }
    if let Some((key, hash)) = &s.idempotency {
        conn.prepare_cached(
            "INSERT INTO idempotency_keys (clinic_id, key, request_hash, response_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![s.clinic_id, key, hash, id, now])?;
    }
    Ok(Submitted::New(ResponseRecord {
        id,
        questionnaire: q.id.clone(),
        version: q.version,
        patient: s.patient_ref.clone(),
        submitted_at: now,
        response_date: date,
        mode: s.mode.name().into(),
        answers,
        scores,
        imputed,
        bands,
        flags,
        level: level.name().into(),
        actor: s.actor.clone(),
        supersedes: supersedes.map(String::from),
        superseded_by: None,
        correction_reason: reason.map(String::from),
    }))
}

const RESPONSE_COLUMNS: &str =
    "r.id, r.questionnaire_id, r.version, p.ref, r.submitted_at, r.response_date, r.mode,
    r.answers, r.level, r.actor, r.supersedes, r.correction_reason,
    (SELECT s.id FROM responses s WHERE s.supersedes = r.id)";

fn response_row(conn: &Connection, r: &rusqlite::Row) -> Result<ResponseRecord> {
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
    let mut stmt = conn.prepare_cached(
        "SELECT score_id, value, imputed, band FROM response_scores WHERE response_id = ?1",
    )?;
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
            .insert(sid.clone(), Json::from(s.get::<_, i64>(2)?));
        let band: Option<String> = s.get(3)?;
        if let Some(b) = band {
            rec.bands.insert(sid, Json::from(b));
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT rule_id, level, text FROM flags WHERE response_id = ?1 ORDER BY CASE level WHEN 'red' THEN 0 ELSE 1 END, rule_id",
    )?;
    let mut rows = stmt.query([&rec.id])?;
    while let Some(f) = rows.next()? {
        let text: String = f.get(2)?;
        rec.flags.push(FlagRecord {
            rule: f.get(0)?,
            level: f.get(1)?,
            text: serde_json::from_str(&text).unwrap_or(Json::Null),
        });
    }
    Ok(rec)
}

/// One of a clinic's responses (not found for another clinic's).
pub fn get_response(conn: &Connection, clinic_id: &str, id: &str) -> Result<ResponseRecord> {
    let sql = format!(
        "SELECT {RESPONSE_COLUMNS} FROM responses r JOIN patients p ON p.id = r.patient_id
         WHERE r.id = ?1 AND r.clinic_id = ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([id, clinic_id])?;
    match rows.next()? {
        Some(r) => response_row(conn, r),
        None => Err(StorageError::NotFound),
    }
}

/// A patient's responses, newest first, with the patient's id.
pub fn patient_responses(
    conn: &Connection,
    clinic_id: &str,
    reference: &str,
) -> Result<(String, Vec<ResponseRecord>)> {
    let pid = patient_id(conn, clinic_id, reference)?;
    let sql = format!(
        "SELECT {RESPONSE_COLUMNS} FROM responses r JOIN patients p ON p.id = r.patient_id
         WHERE r.patient_id = ?1 ORDER BY r.submitted_at DESC, r.id DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([&pid])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(response_row(conn, r)?);
    }
    Ok((pid, out))
}

/// The id of the patient a response belongs to.
pub fn response_patient(conn: &Connection, clinic_id: &str, response_id: &str) -> Result<String> {
    Ok(conn.query_row(
        "SELECT patient_id FROM responses WHERE id = ?1 AND clinic_id = ?2",
        [response_id, clinic_id],
        |r| r.get(0),
    )?)
}

/// An item of the review queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    pub response: String,
    pub patient: String,
    pub questionnaire: String,
    pub level: String,
    pub flags: Vec<FlagRecord>,
    pub submitted_at: String,
    pub status: String,
}

/// The clinic's review queue in one status: red before yellow, oldest
/// first.
pub fn review_queue(
    conn: &Connection,
    clinic_id: &str,
    status: &str,
    limit: u32,
) -> Result<Vec<QueueItem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ri.response_id, p.ref, r.questionnaire_id, ri.level, r.submitted_at, ri.status,
            (SELECT json_group_array(json_object('rule', f.rule_id, 'level', f.level, 'text', json(f.text))
                 ORDER BY CASE f.level WHEN 'red' THEN 0 ELSE 1 END, f.rule_id)
               FROM flags f WHERE f.response_id = r.id)
         FROM review_items ri
         JOIN responses r ON r.id = ri.response_id
         JOIN patients p ON p.id = r.patient_id
         WHERE ri.clinic_id = ?1 AND ri.status = ?2
         ORDER BY CASE ri.level WHEN 'red' THEN 0 ELSE 1 END, r.submitted_at, r.id
         LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![clinic_id, status, limit], |r| {
        let flags: String = r.get(6)?;
        Ok(QueueItem {
            response: r.get(0)?,
            patient: r.get(1)?,
            questionnaire: r.get(2)?,
            level: r.get(3)?,
            submitted_at: r.get(4)?,
            status: r.get(5)?,
            flags: serde_json::from_str(&flags).unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// A row of the research export.
pub struct ExportRow {
    pub response_id: String,
    pub clinic_id: String,
    pub patient_ref: String,
    pub version: u32,
    pub submitted_at: String,
    pub response_date: String,
    pub mode: String,
    pub level: String,
    pub superseded: bool,
    pub answers: Map<String, Json>,
    pub scores: Map<String, Json>,
}

pub fn export_rows(conn: &Connection, questionnaire_id: &str) -> Result<Vec<ExportRow>> {
    let mut stmt = conn.prepare(
        "SELECT r.id, r.clinic_id, p.ref, r.version, r.submitted_at, r.response_date, r.mode, r.level,
            EXISTS (SELECT 1 FROM responses s WHERE s.supersedes = r.id), r.answers, r.score_values
         FROM responses r JOIN patients p ON p.id = r.patient_id
         WHERE r.questionnaire_id = ?1 ORDER BY r.submitted_at, r.id",
    )?;
    let rows = stmt.query_map([questionnaire_id], |r| {
        let answers: String = r.get(9)?;
        let scores: String = r.get(10)?;
        Ok(ExportRow {
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
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Appends an audit row for what `actor` did in a clinic, at `now`.
pub fn audit(
    conn: &Connection,
    actor: &str,
    action: &str,
    clinic_id: &str,
    patient_id: Option<&str>,
    subject: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let at = ts(now);
    audit::append(
        conn,
        &Entry {
            at: &at,
            actor,
            action,
            clinic_id: Some(clinic_id),
            patient_id,
            subject,
        },
    )
}
