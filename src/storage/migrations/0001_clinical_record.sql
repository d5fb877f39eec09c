-- Migration 1: the clinical record.
-- Times are UTC, RFC 3339 with milliseconds ('2026-11-28T15:30:00.123Z');
-- calendar dates are 'YYYY-MM-DD' in the clinic's time zone. Ids are UUIDv7
-- (time-ordered, so inserts append to the indexes).

CREATE TABLE clinics (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    alert_emails TEXT NOT NULL DEFAULT '[]',      -- JSON list of addresses
    time_zone TEXT NOT NULL DEFAULT 'Europe/Copenhagen',
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE staff_users (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('clinician', 'admin')),
    password_hash TEXT NOT NULL,                  -- argon2id, PHC string
    totp_secret TEXT,                             -- second factor, set at first login
    created_at TEXT NOT NULL,
    disabled_at TEXT
) STRICT;

CREATE TABLE patients (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    ref TEXT NOT NULL,                            -- the clinic's own reference
    name TEXT,
    email TEXT,
    language TEXT NOT NULL DEFAULT 'da',
    created_at TEXT NOT NULL,
    UNIQUE (clinic_id, ref)
) STRICT;

-- Every version of every questionnaire ever served, with its compiled form,
-- so an old response is always shown in the version that was answered.
CREATE TABLE questionnaire_versions (
    questionnaire_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    hash TEXT NOT NULL,
    compiled TEXT NOT NULL,                       -- the compiled JSON
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (questionnaire_id, version)
) STRICT;

CREATE TABLE plans (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    questionnaire_id TEXT NOT NULL,
    every_days INTEGER NOT NULL CHECK (every_days > 0),
    next_due TEXT NOT NULL,                       -- date
    created_at TEXT NOT NULL,
    stopped_at TEXT
) STRICT;

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,              -- SHA-256 of the link's token
    patient_id TEXT NOT NULL REFERENCES patients(id),
    questionnaire_id TEXT NOT NULL,
    plan_id TEXT REFERENCES plans(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    response_id TEXT
) STRICT;

-- Responses are append-only: a correction is a new row whose `supersedes`
-- names the old one, with who and why.
CREATE TABLE responses (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    questionnaire_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    hash TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('app', 'web', 'paper')),
    submitted_at TEXT NOT NULL,
    response_date TEXT NOT NULL,
    answers TEXT NOT NULL,                        -- JSON: item id -> answer (shown items only)
    score_values TEXT NOT NULL,                   -- JSON: score id -> number or null
    fired TEXT NOT NULL,                          -- JSON: rule ids that fired
    level TEXT NOT NULL CHECK (level IN ('green', 'yellow', 'red')),
    actor TEXT NOT NULL,                          -- who submitted: patient, api key, staff
    supersedes TEXT REFERENCES responses(id),
    correction_reason TEXT,
    FOREIGN KEY (questionnaire_id, version) REFERENCES questionnaire_versions(questionnaire_id, version)
) STRICT;
-- The history look-up: a patient's responses to one questionnaire, in order.
CREATE INDEX responses_history ON responses(patient_id, questionnaire_id, submitted_at, id);
CREATE INDEX responses_supersedes ON responses(supersedes) WHERE supersedes IS NOT NULL;

CREATE TABLE response_scores (
    response_id TEXT NOT NULL REFERENCES responses(id),
    score_id TEXT NOT NULL,
    value TEXT,                                   -- decimal as text; NULL when not computed
    imputed INTEGER NOT NULL,
    band TEXT,
    PRIMARY KEY (response_id, score_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE flags (
    response_id TEXT NOT NULL REFERENCES responses(id),
    rule_id TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('yellow', 'red')),
    text TEXT NOT NULL,                           -- JSON: the rule's text per language, as shown
    PRIMARY KEY (response_id, rule_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE review_items (
    id TEXT PRIMARY KEY,
    response_id TEXT NOT NULL UNIQUE REFERENCES responses(id),
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    level TEXT NOT NULL CHECK (level IN ('yellow', 'red')),
    status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX review_queue ON review_items(clinic_id, status, level, created_at);

-- The history of each review item: who acknowledged or resolved it, when.
CREATE TABLE review_events (
    id INTEGER PRIMARY KEY,
    review_item_id TEXT NOT NULL REFERENCES review_items(id),
    status TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT,
    at TEXT NOT NULL
) STRICT;

-- Append-only, hash-chained: each row's hash covers the row before it.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    clinic_id TEXT,
    patient_id TEXT,
    subject TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
) STRICT;
-- Who read a patient's data (the patient's own access log). Only reads are
-- indexed: indexing every submission's row too costs a fifth of the
-- writer's throughput (docs/PERFORMANCE.md); a patient's own submissions are
-- in `responses`.
CREATE INDEX audit_patient_reads ON audit_log(patient_id, seq)
    WHERE patient_id IS NOT NULL AND action GLOB '*.read';

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,                           -- never health data: a link to review
    response_id TEXT REFERENCES responses(id),
    created_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at TEXT,
    dead_at TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox(due_at) WHERE sent_at IS NULL AND dead_at IS NULL;

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    key_hash TEXT NOT NULL UNIQUE,                -- SHA-256 of the key
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;

CREATE TABLE idempotency_keys (
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response_id TEXT NOT NULL REFERENCES responses(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (clinic_id, key)
) STRICT, WITHOUT ROWID;

-- The clinical record and the audit log refuse changes in place.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER responses_no_update BEFORE UPDATE ON responses
BEGIN SELECT RAISE(ABORT, 'responses are append-only; submit a correction'); END;
CREATE TRIGGER responses_no_delete BEFORE DELETE ON responses
BEGIN SELECT RAISE(ABORT, 'responses are append-only; submit a correction'); END;
CREATE TRIGGER scores_no_update BEFORE UPDATE ON response_scores
BEGIN SELECT RAISE(ABORT, 'scores are append-only'); END;
CREATE TRIGGER scores_no_delete BEFORE DELETE ON response_scores
BEGIN SELECT RAISE(ABORT, 'scores are append-only'); END;
CREATE TRIGGER flags_no_update BEFORE UPDATE ON flags
BEGIN SELECT RAISE(ABORT, 'flags are append-only'); END;
CREATE TRIGGER flags_no_delete BEFORE DELETE ON flags
BEGIN SELECT RAISE(ABORT, 'flags are append-only'); END;
