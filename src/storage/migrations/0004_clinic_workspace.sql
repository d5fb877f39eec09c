-- Migration 4: the clinic workspace — staff logins with a second factor,
-- taking, resolving and snoozing review items.

-- A staff session is at stage 'password' until its second factor is
-- given; then a new session (a new token) at stage 'full' replaces it.
-- `next` is where the login goes afterwards (a path inside /clinic).
ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'full';
ALTER TABLE sessions ADD COLUMN next TEXT;

-- The second factor: a TOTP secret (base32) is confirmed by a first code;
-- the last time step accepted is kept so that a code works only once.
ALTER TABLE staff_users ADD COLUMN totp_confirmed_at TEXT;
ALTER TABLE staff_users ADD COLUMN totp_last_step INTEGER;

-- Recovery codes, shown once at enrolment, stored as SHA-256 hashes.
CREATE TABLE recovery_codes (
    staff_id TEXT NOT NULL REFERENCES staff_users(id),
    code_hash TEXT NOT NULL,
    used_at TEXT,
    PRIMARY KEY (staff_id, code_hash)
) STRICT, WITHOUT ROWID;

-- Failed logins, for throttling per account (the e-mail typed, known or
-- not) and per address.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    at TEXT NOT NULL
) STRICT;
CREATE INDEX login_failures_account ON login_failures(account, at);
CREATE INDEX login_failures_address ON login_failures(address, at);

-- Who took a review item, what came of it, and a revision that every
-- change raises: a change names the revision it was made from, so a second
-- person acting on an old view gets a message, never a silent overwrite.
ALTER TABLE review_items ADD COLUMN taken_by TEXT REFERENCES staff_users(id);
ALTER TABLE review_items ADD COLUMN taken_at TEXT;
ALTER TABLE review_items ADD COLUMN outcome TEXT;
ALTER TABLE review_items ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
-- The queue filtered by questionnaire.
CREATE INDEX review_items_response ON review_items(clinic_id, status, response_id);

-- A rule snoozed for one patient until a time, at a level: a new response
-- that fires the rule at that level (or lower) opens no review item; a
-- worse level still does.
CREATE TABLE snoozes (
    id TEXT PRIMARY KEY,
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    questionnaire_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('yellow', 'red')),
    until TEXT NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff_users(id),
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX snoozes_patient ON snoozes(patient_id, questionnaire_id, rule_id, until);

-- Reads of the audit log by clinic, newest first (the admins' page).
CREATE INDEX audit_clinic ON audit_log(clinic_id, seq);
