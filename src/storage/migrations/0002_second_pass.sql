-- Migration 2: the service's second pass.

-- Idempotency keys are scoped to what they were first used for: the route
-- and its target. Keys stored before this migration were all for new
-- responses.
ALTER TABLE idempotency_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'POST /responses';

-- Keys: when each was last used, for `prom apikey list`.
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;

-- The audit chain, keyed: rows from now on (scheme 2) are linked by an
-- HMAC-SHA-256 with a secret kept outside the database, and a row that
-- stores or corrects a response also covers a hash of the response's
-- content (answers, scores, flags, level and questionnaire hash). Rows
-- written before (scheme 1) keep their plain SHA-256 links.
ALTER TABLE audit_log ADD COLUMN scheme INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN content_hash TEXT;

-- The first characters of each new API key, shown by `prom apikey list`
-- and named by `prom apikey revoke` (the key itself is stored only hashed).
ALTER TABLE api_keys ADD COLUMN prefix TEXT;
CREATE UNIQUE INDEX api_keys_prefix ON api_keys(prefix) WHERE prefix IS NOT NULL;

-- The review queue is read in pages: red before yellow ('red' < 'yellow'),
-- oldest first, the response id last so that every row has its place.
DROP INDEX review_queue;
CREATE INDEX review_queue ON review_items(clinic_id, status, level, created_at, response_id);
