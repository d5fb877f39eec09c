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
