-- Migration 7: a questionnaire not answered by its deadline is a review
-- item too. An item is now either a response's or an invitation's
-- (exactly one of the two). SQLite cannot loosen a NOT NULL in place: the
-- table is rebuilt (`migrate` turns foreign key enforcement off around
-- this and checks every key before the commit).

CREATE TABLE review_items_new (
    id TEXT PRIMARY KEY,
    response_id TEXT UNIQUE REFERENCES responses(id),
    invitation_id TEXT UNIQUE REFERENCES invitations(id),
    clinic_id TEXT NOT NULL REFERENCES clinics(id),
    level TEXT NOT NULL CHECK (level IN ('yellow', 'red')),
    status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    created_at TEXT NOT NULL,
    taken_by TEXT REFERENCES staff_users(id),
    taken_at TEXT,
    outcome TEXT,
    rev INTEGER NOT NULL DEFAULT 0,
    CHECK ((response_id IS NULL) <> (invitation_id IS NULL))
) STRICT;
INSERT INTO review_items_new (id, response_id, clinic_id, level, status, created_at, taken_by, taken_at, outcome, rev)
    SELECT id, response_id, clinic_id, level, status, created_at, taken_by, taken_at, outcome, rev FROM review_items;
DROP TABLE review_items;
ALTER TABLE review_items_new RENAME TO review_items;
-- The API's queue (responses' items) and the workspace's (every item),
-- red before yellow, oldest first, each row in its own place.
CREATE INDEX review_queue ON review_items(clinic_id, status, level, created_at, response_id);
CREATE INDEX review_work ON review_items(clinic_id, status, level, created_at, id);
CREATE INDEX review_items_response ON review_items(clinic_id, status, response_id);
