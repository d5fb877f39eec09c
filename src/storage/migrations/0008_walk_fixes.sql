-- Migration 8: what the walk through the pages asked for.

-- How soon the clinic answers an item (working days after the day it
-- opened; 0 is the same day): past that, the queue marks it overdue.
ALTER TABLE clinics ADD COLUMN response_days_red INTEGER NOT NULL DEFAULT 0
    CHECK (response_days_red BETWEEN 0 AND 30);
ALTER TABLE clinics ADD COLUMN response_days_yellow INTEGER NOT NULL DEFAULT 1
    CHECK (response_days_yellow BETWEEN 0 AND 30);

-- A paper response keeps when it was typed in (`submitted_at`) beside the
-- day the patient answered (`response_date`); a patient's history is read
-- in the order answered.
CREATE INDEX responses_history_answered
    ON responses(patient_id, questionnaire_id, response_date, submitted_at, id);
