-- Migration 5: alerting — messages people can read, routed per clinic.

-- Each message keeps its HTML part beside the plain text, the clinic it
-- concerns, and a key that makes it happen once (a digest per clinic and
-- day, an escalation per item, a gathered storm per clinic and window),
-- however often the scheduler looks, and after a restart.
ALTER TABLE outbox ADD COLUMN html TEXT;
ALTER TABLE outbox ADD COLUMN clinic_id TEXT REFERENCES clinics(id);
ALTER TABLE outbox ADD COLUMN once_key TEXT;
CREATE UNIQUE INDEX outbox_once ON outbox(once_key) WHERE once_key IS NOT NULL;
CREATE INDEX outbox_clinic ON outbox(clinic_id, kind, created_at);
CREATE INDEX outbox_dead ON outbox(clinic_id, dead_at) WHERE dead_at IS NOT NULL;

-- Where a red item that nobody took goes (JSON list of addresses), and the
-- language of the clinic's e-mails.
ALTER TABLE clinics ADD COLUMN escalation_emails TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clinics ADD COLUMN language TEXT NOT NULL DEFAULT 'da';

-- How a clinic is alerted: reds after the first within `storm_minutes`
-- are gathered into one message; yellow items go in a digest at
-- `digest_hour` (clinic time); a red item nobody took within
-- `escalate_hours` goes to the escalation addresses.
ALTER TABLE clinics ADD COLUMN storm_minutes INTEGER NOT NULL DEFAULT 5;
ALTER TABLE clinics ADD COLUMN digest_hour INTEGER NOT NULL DEFAULT 7;
ALTER TABLE clinics ADD COLUMN escalate_hours INTEGER NOT NULL DEFAULT 4;
