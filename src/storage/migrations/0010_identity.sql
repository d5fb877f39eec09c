-- Migration: login throttles that hold under parallel requests and across
-- nodes. One row per key (an account and address pair, or an address);
-- an attempt is counted and checked in one statement (an upsert), before
-- the password is checked. Seconds since 1970 make the growing delays
-- plain arithmetic.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    attempts INTEGER NOT NULL,
    until_s INTEGER NOT NULL,
    updated_s INTEGER NOT NULL,
    last TEXT NOT NULL
) STRICT;

-- A personal "my data" link is used once.
ALTER TABLE personal_links ADD COLUMN used_at TEXT;

-- Staff single sign-on: the provider's identity (issuer and subject) of a
-- staff account made at its first login; a login begun (found by its
-- state's hash, used once); a session's latest end whatever its activity,
-- and the ID token for the provider's logout.
CREATE TABLE staff_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff_users(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
) STRICT;
CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next TEXT,
    created_at TEXT NOT NULL,
    used_at TEXT,
    -- A verified identity whose groups map to several clinics, waiting
    -- for the person's choice (JSON).
    identity TEXT
) STRICT;
ALTER TABLE sessions ADD COLUMN not_after TEXT;
ALTER TABLE sessions ADD COLUMN id_token TEXT;

-- Patients who log in through an OpenID provider (MitID through a
-- broker): a person, known only by a keyed hash of the provider's
-- identifier, linked to at most one patient per clinic; a session may be a
-- person's.
CREATE TABLE persons (
    id TEXT PRIMARY KEY,
    identifier_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;
CREATE TABLE person_links (
    patient_id TEXT PRIMARY KEY REFERENCES patients(id),
    person_id TEXT NOT NULL REFERENCES persons(id),
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    linked_at TEXT NOT NULL,
    UNIQUE (person_id, clinic_id)
) STRICT;
ALTER TABLE sessions ADD COLUMN person_id TEXT REFERENCES persons(id);

-- A clinic may turn its local password login off once staff log in
-- through the hospital's provider, keeping named break-glass accounts.
ALTER TABLE clinics ADD COLUMN local_login TEXT NOT NULL DEFAULT 'on' CHECK (local_login IN ('on', 'off'));
ALTER TABLE staff_users ADD COLUMN break_glass INTEGER NOT NULL DEFAULT 0;

-- A clinic's own list of outcomes for resolving an item (JSON: code and
-- texts in Danish and English); NULL: the default list.
ALTER TABLE clinics ADD COLUMN outcomes TEXT;

-- Why a rule fired: its condition with the values it read, written when
-- the response was stored (not part of the response's content hash).
ALTER TABLE flags ADD COLUMN why TEXT;
