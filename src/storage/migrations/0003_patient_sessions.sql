-- Migration 3: server-side sessions and the drafts of answers in progress.

-- A session, found by the SHA-256 of its cookie's random token (the token
-- itself is never stored). A patient's session comes from an invitation
-- link; staff sessions come with the clinic workspace.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('patient', 'staff')),
    patient_id TEXT REFERENCES patients(id),
    invitation_id TEXT REFERENCES invitations(id),
    staff_id TEXT REFERENCES staff_users(id),
    csrf TEXT NOT NULL,                           -- the token every form of the session carries
    language TEXT NOT NULL DEFAULT 'da',
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    ended_at TEXT
) STRICT, WITHOUT ROWID;

-- What a patient answered so far, saved at every page change, so that a
-- patient who closes the phone continues where they were.
CREATE TABLE drafts (
    invitation_id TEXT PRIMARY KEY REFERENCES invitations(id),
    answers TEXT NOT NULL,                        -- JSON: item id -> answer
    page INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- A patient's personal link to "my data": long-lived, revocable, stored as
-- the hash of its token.
CREATE TABLE personal_links (
    token_hash TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT, WITHOUT ROWID;
