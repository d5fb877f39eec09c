//! The review queue: a review item per flagged response.

use super::Connection;
use super::db::{OptionalExtension, params};
use serde::Serialize;

use super::Result;
use super::ids::new_id;
use super::responses::FlagRecord;

/// An item of the review queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    pub response: String,
    pub patient: String,
    #[serde(skip)]
    pub patient_id: String,
    pub questionnaire: String,
    pub level: String,
    pub flags: Vec<FlagRecord>,
    pub submitted_at: String,
    pub status: String,
}

/// Where a page of the queue starts: after this item (red before yellow,
/// oldest first). New items sort after older ones of their level, so a
/// cursor stays valid while others arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct After {
    /// `red` or `yellow` (which sort in that order).
    pub level: String,
    pub created_at: String,
    pub response: String,
}

/// The query of a page of the queue: the first, or the one after a cursor
/// (a range seek in the `review_queue` index).
pub fn queue_sql(after: bool) -> String {
    let cursor = if after {
        "AND (ri.level, ri.created_at, ri.response_id) > (?4, ?5, ?6)"
    } else {
        ""
    };
    format!(
        "SELECT ri.response_id, p.ref, r.questionnaire_id, ri.level, ri.created_at, ri.status,
            (SELECT json_group_array(json_object('rule', f.rule_id, 'level', f.level, 'text', json(f.text), 'why', f.why)
                 ORDER BY CASE f.level WHEN 'red' THEN 0 ELSE 1 END, f.rule_id)
               FROM flags f WHERE f.response_id = r.id),
            r.patient_id
         FROM review_items ri
         JOIN responses r ON r.id = ri.response_id
         JOIN patients p ON p.id = r.patient_id
         WHERE ri.clinic_id = ?1 AND ri.status = ?2 AND ri.response_id IS NOT NULL {cursor}
         ORDER BY ri.level, ri.created_at, ri.response_id
         LIMIT ?3"
    )
}

/// A page of the clinic's review queue in one status: red before yellow,
/// oldest first; up to `limit` after `after`, and whether more remain.
pub fn review_queue(
    conn: &Connection,
    clinic_id: &str,
    status: &str,
    limit: u32,
    after: Option<&After>,
) -> Result<(Vec<QueueItem>, bool)> {
    let mut stmt = conn.prepare_cached(&queue_sql(after.is_some()))?;
    let map = |r: &super::db::Row<'_>| {
        let flags: String = r.get(6)?;
        Ok(QueueItem {
            response: r.get(0)?,
            patient: r.get(1)?,
            questionnaire: r.get(2)?,
            level: r.get(3)?,
            submitted_at: r.get(4)?,
            status: r.get(5)?,
            flags: serde_json::from_str(&flags).unwrap_or_default(),
            patient_id: r.get(7)?,
        })
    };
    let limit1 = i64::from(limit) + 1;
    let rows = match after {
        None => stmt.query_map(params![clinic_id, status, limit1], map)?,
        Some(a) => stmt.query_map(
            params![clinic_id, status, limit1, a.level, a.created_at, a.response],
            map,
        )?,
    };
    let out = rows.collect::<Result<Vec<_>>>()?;
    Ok(super::page(out, limit))
}

/// The review item of a response: its id, level and status.
pub fn item_for_response(
    conn: &Connection,
    response_id: &str,
) -> Result<Option<(String, String, String)>> {
    conn.prepare_cached("SELECT id, level, status FROM review_items WHERE response_id = ?1")?
        .query_row([response_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
}

/// Opens a review item at `level` for a response that had none, and
/// returns its id.
pub fn open_item(
    conn: &Connection,
    response_id: &str,
    clinic_id: &str,
    level: &str,
    now: &str,
) -> Result<String> {
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO review_items (id, response_id, clinic_id, level, status, created_at, patient_id)
         VALUES (?1, ?2, ?3, ?4, 'open', ?5, (SELECT patient_id FROM responses WHERE id = ?2))",
    )?
    .execute(params![id, response_id, clinic_id, level, now])?;
    Ok(id)
}

/// Adds an event to a review item's history.
pub fn add_event(
    conn: &Connection,
    item_id: &str,
    status: &str,
    actor: &str,
    note: Option<&str>,
    at: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO review_events (review_item_id, status, actor, note, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![item_id, status, actor, note, at])?;
    Ok(())
}

/// Whether an item's history holds an event with this note.
pub fn has_event(conn: &Connection, item_id: &str, note: &str) -> Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM review_events WHERE review_item_id = ?1 AND note = ?2)",
    )?
    .query_row(params![item_id, note], |r| r.get(0))
}

/// An event of a review item's history.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewEvent {
    pub status: String,
    pub at: String,
    pub note: Option<String>,
}

/// What the clinic did with a response's review item.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewHistory {
    pub status: String,
    /// Oldest first.
    pub events: Vec<ReviewEvent>,
}

pub fn history_of_response(conn: &Connection, response_id: &str) -> Result<Option<ReviewHistory>> {
    let Some((id, _, status)) = item_for_response(conn, response_id)? else {
        return Ok(None);
    };
    let events = conn
        .prepare_cached(
            "SELECT status, at, note FROM review_events WHERE review_item_id = ?1 ORDER BY id",
        )?
        .query_map([&id], |r| {
            Ok(ReviewEvent {
                status: r.get(0)?,
                at: r.get(1)?,
                note: r.get(2)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(Some(ReviewHistory { status, events }))
}

/// A review item as the clinic's workspace shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkItem {
    pub id: String,
    /// The response the item is about, or `None` for a questionnaire not
    /// answered by its deadline (then `invitation` names it).
    pub response: Option<String>,
    pub invitation: Option<String>,
    pub level: String,
    pub created_at: String,
    /// `open`, `acknowledged` (taken) or `resolved`.
    pub status: String,
    /// Raised by every change; a change names the revision it was made from.
    pub rev: i64,
    pub taken_at: Option<String>,
    pub outcome: Option<String>,
    /// The name of who took it.
    pub taken_by: Option<String>,
    #[serde(skip)]
    pub taken_by_id: Option<String>,
    pub patient: String,
    pub patient_id: String,
    pub questionnaire: String,
    pub flags: Vec<FlagRecord>,
    /// A correction of the response exists.
    pub corrected: bool,
    /// The patient's requests on the item (contact, a correction and its
    /// reason), as noted, oldest first.
    pub requests: Vec<String>,
}

/// Which items the queue shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueFilter {
    /// `red` or `yellow`; any when `None`.
    pub level: Option<String>,
    pub questionnaire: Option<String>,
    /// The statuses shown: `open` and `acknowledged` by default.
    pub statuses: Vec<&'static str>,
    /// Only the items this staff member took.
    pub taken_by: Option<String>,
    /// Oldest first whatever the level (red before yellow otherwise).
    pub by_wait: bool,
}

/// The statuses a queue filter may name.
pub const STATUSES: &[&str] = &["open", "acknowledged", "resolved"];

const ITEM_DETAIL: &str = "
    SELECT page.id, page.response_id, page.level, page.created_at, page.status, page.rev,
        page.taken_at, page.outcome, s.name, page.taken_by, p.ref, p.id,
        coalesce(r.questionnaire_id, i.questionnaire_id),
        (SELECT json_group_array(json_object('rule', f.rule_id, 'level', f.level, 'text', json(f.text), 'why', f.why)
             ORDER BY CASE f.level WHEN 'red' THEN 0 ELSE 1 END, f.rule_id)
           FROM flags f WHERE f.response_id = r.id),
        EXISTS (SELECT 1 FROM responses c WHERE c.supersedes = r.id),
        (SELECT json_group_array(x.note) FROM (SELECT e.note FROM review_events e
           WHERE e.review_item_id = page.id AND e.actor = 'patient' AND e.note IS NOT NULL
           ORDER BY e.id) x),
        page.invitation_id
    FROM page
    LEFT JOIN responses r ON r.id = page.response_id
    LEFT JOIN invitations i ON i.id = page.invitation_id
    JOIN patients p ON p.id = coalesce(r.patient_id, i.patient_id)
    LEFT JOIN staff_users s ON s.id = page.taken_by";

fn work_item(r: &super::db::Row<'_>) -> Result<WorkItem> {
    let flags: String = r.get(13)?;
    Ok(WorkItem {
        id: r.get(0)?,
        response: r.get(1)?,
        level: r.get(2)?,
        created_at: r.get(3)?,
        status: r.get(4)?,
        rev: r.get(5)?,
        taken_at: r.get(6)?,
        outcome: r.get(7)?,
        taken_by: r.get(8)?,
        taken_by_id: r.get(9)?,
        patient: r.get(10)?,
        patient_id: r.get(11)?,
        questionnaire: r.get(12)?,
        flags: serde_json::from_str(&flags).unwrap_or_default(),
        corrected: r.get(14)?,
        requests: serde_json::from_str(&r.get::<String>(15)?).unwrap_or_default(),
        invitation: r.get(16)?,
    })
}

/// The query of a page of the workspace's queue: for each status, a range
/// seek in the `review_queue` index (red before yellow, oldest first; or,
/// `by_wait`, oldest first whatever the level), merged; the details only
/// for the page's rows. `?3` names the staff member when only items they
/// took are shown.
pub fn work_queue_sql(statuses: usize, after: bool, by_wait: bool) -> String {
    let (order, cursor) = if by_wait {
        (
            "ri.created_at, ri.id",
            "AND (ri.created_at, ri.id) > (?5, ?6)",
        )
    } else {
        (
            "ri.level, ri.created_at, ri.id",
            "AND (ri.level, ri.created_at, ri.id) > (?4, ?5, ?6)",
        )
    };
    let cursor = if after { cursor } else { "" };
    let part = |n: usize| {
        format!(
            "SELECT * FROM (SELECT ri.id, ri.response_id, ri.level, ri.created_at, ri.status, ri.rev,
                    ri.taken_at, ri.outcome, ri.taken_by, ri.invitation_id
                FROM review_items ri
                WHERE ri.clinic_id = ?1 AND ri.status = ?{} {cursor}
                  AND (?3 IS NULL OR ri.taken_by = ?3)
                  AND (?7 IS NULL OR ri.level = ?7)
                  AND (?8 IS NULL OR EXISTS (SELECT 1 FROM responses q
                        WHERE q.id = ri.response_id AND q.questionnaire_id = ?8)
                      OR EXISTS (SELECT 1 FROM invitations q
                        WHERE q.id = ri.invitation_id AND q.questionnaire_id = ?8))
                ORDER BY {order} LIMIT ?2) AS part{n}",
            9 + n
        )
    };
    let parts: Vec<String> = (0..statuses).map(part).collect();
    let (inner, outer) = if by_wait {
        ("4, 1", "page.created_at, page.id")
    } else {
        ("3, 4, 1", "page.level, page.created_at, page.id")
    };
    format!(
        "WITH page AS ({} ORDER BY {inner} LIMIT ?2) {ITEM_DETAIL} ORDER BY {outer}",
        parts.join(" UNION ALL ")
    )
}

/// A page of the clinic's queue, and whether more remain; `after` names
/// the last item shown (its level, time and item id).
pub fn work_queue(
    conn: &Connection,
    clinic_id: &str,
    filter: &QueueFilter,
    limit: u32,
    after: Option<&After>,
) -> Result<(Vec<WorkItem>, bool)> {
    let statuses: Vec<&str> = if filter.statuses.is_empty() {
        vec!["open", "acknowledged"]
    } else {
        filter.statuses.clone()
    };
    let sql = work_queue_sql(statuses.len(), after.is_some(), filter.by_wait);
    let mut stmt = conn.prepare_cached(&sql)?;
    let limit1 = i64::from(limit) + 1;
    let (al, ac, ar) = match after {
        Some(a) => (Some(&a.level), Some(&a.created_at), Some(&a.response)),
        None => (None, None, None),
    };
    let mut args: Vec<&dyn super::db::ToSql> = vec![
        &clinic_id,
        &limit1,
        &filter.taken_by,
        &al,
        &ac,
        &ar,
        &filter.level,
        &filter.questionnaire,
    ];
    if after.is_none() {
        // ?4-?6 are not in the query; keep the numbering.
        args[3] = &super::db::Null;
    }
    for s in &statuses {
        args.push(s);
    }
    let out = stmt
        .query_map(&args[..], work_item)?
        .collect::<Result<Vec<_>>>()?;
    Ok(super::page(out, limit))
}

/// One patient's card in the queue: the worst level of their items the
/// filter shows, when the oldest of them opened, and how many there are.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatientCard {
    pub patient_id: String,
    pub level: String,
    pub oldest: String,
    pub count: u32,
}

/// The items a filter shows, with their patient (a CTE named `its`): read
/// from the `review_cards` index of waiting items; the questionnaire, when
/// the filter names one, is looked up per item.
fn filtered_items(statuses: &[&str]) -> String {
    let list: Vec<String> = (0..statuses.len())
        .map(|n| format!("?{}", 10 + n))
        .collect();
    // Said in words too, so that the planner knows the partial index holds
    // every row the query can want.
    let waiting = if statuses
        .iter()
        .all(|s| ["open", "acknowledged"].contains(s))
    {
        " AND ri.status IN ('open', 'acknowledged')"
    } else {
        ""
    };
    format!(
        "its AS (SELECT ri.id, ri.response_id, ri.level, ri.created_at, ri.status, ri.rev,
                ri.taken_at, ri.outcome, ri.taken_by, ri.invitation_id, ri.patient_id AS pid
            FROM review_items ri
            WHERE ri.clinic_id = ?1 AND ri.status IN ({}){waiting}
              AND (?3 IS NULL OR ri.taken_by = ?3)
              AND (?4 IS NULL OR ri.level = ?4)
              AND (?5 IS NULL OR coalesce(
                  (SELECT r.questionnaire_id FROM responses r WHERE r.id = ri.response_id),
                  (SELECT inv.questionnaire_id FROM invitations inv WHERE inv.id = ri.invitation_id)) = ?5))",
        list.join(", ")
    )
}

fn filter_args<'a>(
    clinic_id: &'a dyn super::db::ToSql,
    filter: &'a QueueFilter,
    statuses: &'a [&'a str],
    a: &'a i64,
    b: &'a i64,
) -> Vec<&'a dyn super::db::ToSql> {
    let mut args: Vec<&dyn super::db::ToSql> = vec![
        clinic_id,
        a,
        &filter.taken_by,
        &filter.level,
        &filter.questionnaire,
        b,
        &super::db::Null,
        &super::db::Null,
        &super::db::Null,
    ];
    for s in statuses {
        args.push(s);
    }
    args
}

fn statuses_of(filter: &QueueFilter) -> Vec<&'static str> {
    if filter.statuses.is_empty() {
        vec!["open", "acknowledged"]
    } else {
        filter.statuses.clone()
    }
}

/// A page of the queue as one card per patient: red before yellow, then
/// the oldest item first (or, `by_wait`, the oldest first whatever the
/// level); `offset` cards skipped. Whether more remain.
pub fn patient_cards(
    conn: &Connection,
    clinic_id: &str,
    filter: &QueueFilter,
    limit: u32,
    offset: u32,
) -> Result<(Vec<PatientCard>, bool)> {
    let statuses = statuses_of(filter);
    let order = if filter.by_wait {
        "oldest, pid"
    } else {
        "level, oldest, pid"
    };
    let (n, skip) = (i64::from(limit) + 1, i64::from(offset));
    let card = |r: &super::db::Row<'_>| -> Result<PatientCard> {
        Ok(PatientCard {
            patient_id: r.get(0)?,
            level: r.get(1)?,
            oldest: r.get(2)?,
            count: r.get::<i64>(3)?.try_into().unwrap_or(u32::MAX),
        })
    };
    let unfiltered = filter.level.is_none()
        && filter.questionnaire.is_none()
        && filter.taken_by.is_none()
        && statuses == ["open", "acknowledged"];
    if unfiltered {
        // The cards the triggers keep: a range of one index.
        let sql = format!(
            "SELECT patient_id AS pid, level, oldest, items FROM queue_cards WHERE clinic_id = ?1
             ORDER BY {order} LIMIT ?2 OFFSET ?3"
        );
        let out = conn
            .prepare_cached(&sql)?
            .query_map(params![clinic_id, n, skip], card)?
            .collect::<Result<Vec<_>>>()?;
        return Ok(super::page(out, limit));
    }
    let sql = format!(
        "WITH {} SELECT pid, min(level) AS level, min(created_at) AS oldest, count(*)
         FROM its GROUP BY pid ORDER BY {order} LIMIT ?2 OFFSET ?6",
        filtered_items(&statuses)
    );
    let clinic = clinic_id.to_string();
    let args = filter_args(&clinic, filter, &statuses, &n, &skip);
    let out = conn
        .prepare_cached(&sql)?
        .query_map(&args[..], card)?
        .collect::<Result<Vec<_>>>()?;
    Ok(super::page(out, limit))
}

/// The items a filter shows of these patients (at most `per_patient` of
/// each, worst and oldest first), in full.
pub fn items_of_patients(
    conn: &Connection,
    clinic_id: &str,
    filter: &QueueFilter,
    patients: &[String],
    per_patient: u32,
) -> Result<Vec<WorkItem>> {
    if patients.is_empty() {
        return Ok(Vec::new());
    }
    let statuses = statuses_of(filter);
    let first = 10 + statuses.len();
    let list: Vec<String> = (0..patients.len())
        .map(|n| format!("?{}", first + n))
        .collect();
    let sql = format!(
        "WITH {}, ranked AS (SELECT its.*, row_number() OVER (PARTITION BY pid ORDER BY level, created_at, id) AS n
             FROM its WHERE pid IN ({})),
         page AS (SELECT id, response_id, level, created_at, status, rev, taken_at, outcome, taken_by,
             invitation_id FROM ranked WHERE n <= ?2)
         {ITEM_DETAIL} ORDER BY page.level, page.created_at, page.id",
        filtered_items(&statuses),
        list.join(", ")
    );
    let clinic = clinic_id.to_string();
    let (n, skip) = (i64::from(per_patient), 0i64);
    let mut args = filter_args(&clinic, filter, &statuses, &n, &skip);
    for p in patients {
        args.push(p);
    }
    let mut stmt = conn.prepare(&sql)?;
    let out = stmt
        .query_map(&args[..], work_item)?
        .collect::<Result<Vec<_>>>()?;
    Ok(out)
}

/// The unresolved items of one patient of a clinic, in full (for
/// resolving them all from the patient's card).
pub fn unresolved_of_patient(
    conn: &Connection,
    clinic_id: &str,
    patient_id: &str,
) -> Result<Vec<WorkItem>> {
    items_of_patients(
        conn,
        clinic_id,
        &QueueFilter::default(),
        &[patient_id.to_string()],
        u32::MAX,
    )
}

/// How many unresolved items of each level opened before that level's
/// instant (the clinic's response time has passed for them).
pub fn overdue_counts(
    conn: &Connection,
    clinic_id: &str,
    red_before: &str,
    yellow_before: &str,
) -> Result<(u32, u32)> {
    conn.prepare_cached(
        "SELECT
               (SELECT count(*) FROM review_items WHERE clinic_id = ?1
                  AND status IN ('open', 'acknowledged') AND level = 'red' AND created_at < ?2),
               (SELECT count(*) FROM review_items WHERE clinic_id = ?1
                  AND status IN ('open', 'acknowledged') AND level = 'yellow' AND created_at < ?3)",
    )?
    .query_row(params![clinic_id, red_before, yellow_before], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

/// How many items wait, by level and status (`open`, `acknowledged`), as
/// the triggers on `review_items` count them.
pub fn counts(conn: &Connection, clinic_id: &str) -> Result<Vec<(String, String, u32)>> {
    let rows = conn
        .prepare_cached(
            "SELECT level, status, items FROM queue_counts
             WHERE clinic_id = ?1 AND items > 0 ORDER BY level, status",
        )?
        .query_map([clinic_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// One item of the clinic, by id.
pub fn work_item_by_id(conn: &Connection, clinic_id: &str, id: &str) -> Result<Option<WorkItem>> {
    conn
        .prepare_cached(&format!(
            "WITH page AS (SELECT id, response_id, level, created_at, status, rev, taken_at, outcome, taken_by, invitation_id
                 FROM review_items WHERE id = ?2 AND clinic_id = ?1) {ITEM_DETAIL}"
        ))?
        .query_row(params![clinic_id, id], work_item)
        .optional()
}

/// The item of a response of the clinic.
pub fn work_item_of_response(
    conn: &Connection,
    clinic_id: &str,
    response_id: &str,
) -> Result<Option<WorkItem>> {
    conn
        .prepare_cached(&format!(
            "WITH page AS (SELECT id, response_id, level, created_at, status, rev, taken_at, outcome, taken_by, invitation_id
                 FROM review_items WHERE response_id = ?2 AND clinic_id = ?1) {ITEM_DETAIL}"
        ))?
        .query_row(params![clinic_id, response_id], work_item)
        .optional()
}

/// What came of a change to an item.
#[derive(Debug, Clone, PartialEq)]
pub enum Acted {
    Done,
    /// Someone changed the item since the page was shown: here it is now.
    Stale(Box<WorkItem>),
    /// No such item in this clinic.
    Missing,
}

fn acted(conn: &Connection, clinic_id: &str, id: &str, changed: usize) -> Result<Acted> {
    if changed == 1 {
        return Ok(Acted::Done);
    }
    Ok(match work_item_by_id(conn, clinic_id, id)? {
        Some(now) => Acted::Stale(Box::new(now)),
        None => Acted::Missing,
    })
}

/// Takes an item (it shows who took it), from revision `rev`.
pub fn take(
    conn: &Connection,
    clinic_id: &str,
    id: &str,
    staff_id: &str,
    rev: i64,
    at: &str,
) -> Result<Acted> {
    let n = conn
        .prepare_cached(
            "UPDATE review_items SET status = 'acknowledged', taken_by = ?3, taken_at = ?5, rev = rev + 1
             WHERE id = ?2 AND clinic_id = ?1 AND rev = ?4 AND status != 'resolved'",
        )?
        .execute(params![clinic_id, id, staff_id, rev, at])?;
    let r = acted(conn, clinic_id, id, n)?;
    if r == Acted::Done {
        add_event(
            conn,
            id,
            "acknowledged",
            &format!("staff:{staff_id}"),
            None,
            at,
        )?;
    }
    Ok(r)
}

/// Closes the unresolved item of a response that a correction replaced,
/// with the outcome `superseded` and `note` (naming the correction) in its
/// history; returns whether there was one.
pub fn close_superseded(
    conn: &Connection,
    response_id: &str,
    actor: &str,
    note: &str,
    at: &str,
) -> Result<bool> {
    let Some((id, _, status)) = item_for_response(conn, response_id)? else {
        return Ok(false);
    };
    if status == "resolved" {
        return Ok(false);
    }
    conn.prepare_cached(
        "UPDATE review_items SET status = 'resolved', outcome = 'superseded', rev = rev + 1
         WHERE id = ?1 AND status != 'resolved'",
    )?
    .execute([&id])?;
    add_event(conn, &id, "resolved", actor, Some(note), at)?;
    Ok(true)
}

/// Opens a resolved item again (a patient's new request on it): it goes
/// back to the queue at its level, untaken.
pub fn reopen(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE review_items SET status = 'open', outcome = NULL, taken_by = NULL, taken_at = NULL,
            rev = rev + 1
         WHERE id = ?1 AND status = 'resolved'",
    )?
    .execute([id])?;
    Ok(())
}

/// The outcomes a resolution may name unless the clinic set its own list:
/// contacted by phone, visit brought forward, advice given, referred on,
/// no action needed, false alarm (the rule fired on answers that were not
/// worrying). "No action needed" and "false alarm" are what the rules'
/// report counts against a rule.
pub const OUTCOMES: &[&str] = &[
    "phone",
    "visit_earlier",
    "advice",
    "referred",
    "no_action",
    "false_alarm",
];

/// Outcomes of earlier versions, still shown on the items they resolved.
pub const EARLIER_OUTCOMES: &[&str] = &["called", "visit_booked", "other"];

/// Resolves an item with an outcome and a note, from revision `rev`.
#[allow(clippy::too_many_arguments)]
pub fn resolve(
    conn: &Connection,
    clinic_id: &str,
    id: &str,
    staff_id: &str,
    rev: i64,
    outcome: &str,
    note: Option<&str>,
    at: &str,
) -> Result<Acted> {
    let n = conn
        .prepare_cached(
            "UPDATE review_items SET status = 'resolved', outcome = ?5, rev = rev + 1,
                taken_by = coalesce(taken_by, ?3), taken_at = coalesce(taken_at, ?6)
             WHERE id = ?2 AND clinic_id = ?1 AND rev = ?4 AND status != 'resolved'",
        )?
        .execute(params![clinic_id, id, staff_id, rev, outcome, at])?;
    let r = acted(conn, clinic_id, id, n)?;
    if r == Acted::Done {
        let note = match note.filter(|n| !n.trim().is_empty()) {
            Some(n) => format!("{outcome}: {n}"),
            None => outcome.to_string(),
        };
        add_event(
            conn,
            id,
            "resolved",
            &format!("staff:{staff_id}"),
            Some(&note),
            at,
        )?;
    }
    Ok(r)
}

/// A rule snoozed for a patient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snooze {
    pub questionnaire: String,
    pub rule: String,
    pub level: String,
    pub until: String,
}

/// Snoozes `rule` of `questionnaire` for a patient until `until`, at
/// `level`.
#[allow(clippy::too_many_arguments)]
pub fn snooze(
    conn: &Connection,
    clinic_id: &str,
    patient_id: &str,
    questionnaire: &str,
    rule: &str,
    level: &str,
    until: &str,
    staff_id: &str,
    at: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO snoozes (id, clinic_id, patient_id, questionnaire_id, rule_id, level, until, staff_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![new_id(), clinic_id, patient_id, questionnaire, rule, level, until, staff_id, at],
    )?;
    Ok(())
}

/// A patient's snoozes of a questionnaire's rules still running at `at`
/// (all questionnaires when `questionnaire` is `None`).
pub fn snoozes(
    conn: &Connection,
    patient_id: &str,
    questionnaire: Option<&str>,
    at: &str,
) -> Result<Vec<Snooze>> {
    let rows = conn
        .prepare_cached(
            "SELECT questionnaire_id, rule_id, level, max(until) FROM snoozes
             WHERE patient_id = ?1 AND (?2 IS NULL OR questionnaire_id = ?2) AND until > ?3
             GROUP BY questionnaire_id, rule_id, level ORDER BY questionnaire_id, rule_id",
        )?
        .query_map(params![patient_id, questionnaire, at], |r| {
            Ok(Snooze {
                questionnaire: r.get(0)?,
                rule: r.get(1)?,
                level: r.get(2)?,
                until: r.get(3)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// An event of an item's history with who did it (staff by name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedEvent {
    pub status: String,
    pub at: String,
    pub note: Option<String>,
    pub by: String,
}

/// An item's history with who did what, oldest first.
pub fn events(conn: &Connection, item_id: &str) -> Result<Vec<NamedEvent>> {
    let rows = conn
        .prepare_cached(
            "SELECT e.status, e.at, e.note, coalesce(s.name, e.actor) FROM review_events e
             LEFT JOIN staff_users s ON e.actor = 'staff:' || s.id
             WHERE e.review_item_id = ?1 ORDER BY e.id",
        )?
        .query_map([item_id], |r| {
            Ok(NamedEvent {
                status: r.get(0)?,
                at: r.get(1)?,
                note: r.get(2)?,
                by: r.get(3)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// How many red items of the clinic were opened at or after `since`.
pub fn red_since(conn: &Connection, clinic_id: &str, since: &str) -> Result<u64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM review_items
             WHERE clinic_id = ?1 AND level = 'red' AND created_at >= ?2",
        )?
        .query_row(params![clinic_id, since], |r| r.get::<i64>(0))? as u64)
}

/// How many items of `level` wait in the clinic (not resolved).
pub fn open_count(conn: &Connection, clinic_id: &str, level: &str) -> Result<u64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM review_items
             WHERE clinic_id = ?1 AND level = ?2 AND status IN ('open', 'acknowledged')",
        )?
        .query_row(params![clinic_id, level], |r| r.get::<i64>(0))? as u64)
}

/// The clinic's red items that nobody took, opened before `before`: (item,
/// response).
pub fn untaken_red(
    conn: &Connection,
    clinic_id: &str,
    before: &str,
) -> Result<Vec<(String, Option<String>, String)>> {
    let rows = conn
        .prepare_cached(
            "SELECT ri.id, ri.response_id, coalesce(r.patient_id, i.patient_id) FROM review_items ri
             LEFT JOIN responses r ON r.id = ri.response_id
             LEFT JOIN invitations i ON i.id = ri.invitation_id
             WHERE ri.clinic_id = ?1 AND ri.status = 'open' AND ri.level = 'red' AND ri.created_at <= ?2
             ORDER BY ri.created_at LIMIT 1000",
        )?
        .query_map(params![clinic_id, before], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// Opens an item for a plan's invitation not answered by its deadline, at
/// `level`; `false` when it has one already.
pub fn open_missed(
    conn: &Connection,
    invitation_id: &str,
    clinic_id: &str,
    level: &str,
    now: &str,
) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO review_items (id, invitation_id, clinic_id, level, status, created_at, patient_id)
             VALUES (?1, ?2, ?3, ?4, 'open', ?5, (SELECT patient_id FROM invitations WHERE id = ?2))
             ON CONFLICT (invitation_id) DO NOTHING",
        )?
        .execute(params![new_id(), invitation_id, clinic_id, level, now])?
        == 1)
}

/// What the metrics read of the queue and the outbox at each scrape.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Gauges {
    pub open_red: i64,
    pub open_yellow: i64,
    /// Seconds since the oldest red item nobody has looked at opened (0
    /// when there is none).
    pub oldest_red_seconds: i64,
    pub outbox_pending: i64,
    pub outbox_dead: i64,
}

/// The queue's and the outbox's gauges, by index (a bounded number of
/// statements whatever the size).
pub fn gauges(conn: &Connection, now: chrono::DateTime<chrono::Utc>) -> Result<Gauges> {
    let mut g = Gauges::default();
    let mut stmt = conn.prepare_cached(
        "SELECT level, count(*), min(created_at) FROM review_items
          WHERE status = 'open' GROUP BY level",
    )?;
    let rows = stmt.query_map(params![], |r| {
        Ok((
            r.get::<String>(0)?,
            r.get::<i64>(1)?,
            r.get::<Option<String>>(2)?,
        ))
    })?;
    for row in rows {
        let (level, n, oldest) = row?;
        match level.as_str() {
            "red" => {
                g.open_red = n;
                g.oldest_red_seconds = oldest
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0))
                    .unwrap_or(0);
            }
            _ => g.open_yellow = n,
        }
    }
    g.outbox_pending = conn.query_row(
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL",
        (),
        |r| r.get(0),
    )?;
    g.outbox_dead = conn.query_row(
        "SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL",
        (),
        |r| r.get(0),
    )?;
    Ok(g)
}
