-- Migration 6: follow-up plans that run by themselves.

-- A plan's invitation works for `deadline_days`; a reminder goes after
-- `reminder_days` when unanswered; after a red or yellow response the next
-- one is due within `early_days` (0: no earlier).
ALTER TABLE plans ADD COLUMN deadline_days INTEGER NOT NULL DEFAULT 14;
ALTER TABLE plans ADD COLUMN reminder_days INTEGER NOT NULL DEFAULT 3;
ALTER TABLE plans ADD COLUMN early_days INTEGER NOT NULL DEFAULT 0;
-- The plans the scheduler looks at.
CREATE INDEX plans_due ON plans(next_due) WHERE stopped_at IS NULL;
-- Open invitations of plans, for reminders and letters.
CREATE INDEX invitations_open ON invitations(plan_id, expires_at) WHERE used_at IS NULL AND plan_id IS NOT NULL;
-- Further links to one invitation (a reminder carries a new link; the
-- first one keeps working). Only hashes are stored.
CREATE TABLE invitation_tokens (
    token_hash TEXT PRIMARY KEY,
    invitation_id TEXT NOT NULL REFERENCES invitations(id),
    created_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
