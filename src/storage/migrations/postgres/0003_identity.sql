-- Migration: login throttles that hold under parallel requests and across
-- nodes (see the SQLite migration 0010), and personal links used once.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    attempts BIGINT NOT NULL,
    until_s BIGINT NOT NULL,
    updated_s BIGINT NOT NULL,
    last TEXT NOT NULL
);

ALTER TABLE personal_links ADD COLUMN used_at TEXT;

-- Staff single sign-on (see the SQLite migration 0010).
CREATE TABLE staff_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff_users(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next TEXT,
    created_at TEXT NOT NULL,
    used_at TEXT,
    identity TEXT
);
ALTER TABLE sessions ADD COLUMN not_after TEXT;
ALTER TABLE sessions ADD COLUMN id_token TEXT;

-- Patients who log in through an OpenID provider (see the SQLite
-- migration 0010).
CREATE TABLE persons (
    id TEXT PRIMARY KEY,
    identifier_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE person_links (
    patient_id TEXT PRIMARY KEY REFERENCES patients(id),
    person_id TEXT NOT NULL REFERENCES persons(id),
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    linked_at TEXT NOT NULL,
    UNIQUE (person_id, clinic_id)
);
ALTER TABLE sessions ADD COLUMN person_id TEXT REFERENCES persons(id);

-- Local password login per clinic, and break-glass accounts.
ALTER TABLE clinics ADD COLUMN local_login TEXT NOT NULL DEFAULT 'on' CHECK (local_login IN ('on', 'off'));
ALTER TABLE staff_users ADD COLUMN break_glass BIGINT NOT NULL DEFAULT 0;

-- A clinic's own list of outcomes (see the SQLite migration 0010).
ALTER TABLE clinics ADD COLUMN outcomes TEXT;

-- Why a rule fired (see the SQLite migration 0010).
ALTER TABLE flags ADD COLUMN why TEXT;
