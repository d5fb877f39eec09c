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
