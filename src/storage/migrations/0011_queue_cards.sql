-- Migration: the queue shows one card per patient (worst level, oldest wait,
-- how many items). Each item names its patient (the response's or the missed
-- invitation's); `queue_cards` holds each waiting patient's card, kept by
-- triggers on every change of an item, so that a page of cards is a range of
-- one index however many items wait (grouping 10,000 items on every read of
-- the queue cost more than everything else on the page).
ALTER TABLE review_items ADD COLUMN patient_id TEXT;
UPDATE review_items SET patient_id = coalesce(
    (SELECT r.patient_id FROM responses r WHERE r.id = review_items.response_id),
    (SELECT i.patient_id FROM invitations i WHERE i.id = review_items.invitation_id));
CREATE INDEX review_cards ON review_items(clinic_id, patient_id, level, created_at)
    WHERE status IN ('open', 'acknowledged');

CREATE TABLE queue_cards (
    clinic_id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    level TEXT NOT NULL,
    oldest TEXT NOT NULL,
    items INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, patient_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX queue_cards_by_level ON queue_cards(clinic_id, level, oldest, patient_id);
CREATE INDEX queue_cards_by_wait ON queue_cards(clinic_id, oldest, patient_id);
INSERT INTO queue_cards (clinic_id, patient_id, level, oldest, items)
    SELECT clinic_id, patient_id, min(level), min(created_at), count(*) FROM review_items
    WHERE status IN ('open', 'acknowledged') AND patient_id IS NOT NULL
    GROUP BY clinic_id, patient_id;

CREATE TRIGGER queue_cards_insert AFTER INSERT ON review_items
WHEN NEW.patient_id IS NOT NULL BEGIN
    DELETE FROM queue_cards WHERE clinic_id = NEW.clinic_id AND patient_id = NEW.patient_id;
    INSERT INTO queue_cards (clinic_id, patient_id, level, oldest, items)
        SELECT clinic_id, patient_id, min(level), min(created_at), count(*) FROM review_items
        WHERE clinic_id = NEW.clinic_id AND patient_id = NEW.patient_id
          AND status IN ('open', 'acknowledged')
        GROUP BY clinic_id, patient_id;
END;
CREATE TRIGGER queue_cards_update AFTER UPDATE OF clinic_id, patient_id, level, status, created_at
ON review_items BEGIN
    DELETE FROM queue_cards WHERE (clinic_id = OLD.clinic_id AND patient_id = OLD.patient_id)
        OR (clinic_id = NEW.clinic_id AND patient_id = NEW.patient_id);
    INSERT INTO queue_cards (clinic_id, patient_id, level, oldest, items)
        SELECT clinic_id, patient_id, min(level), min(created_at), count(*) FROM review_items
        WHERE ((clinic_id = OLD.clinic_id AND patient_id = OLD.patient_id)
            OR (clinic_id = NEW.clinic_id AND patient_id = NEW.patient_id))
          AND status IN ('open', 'acknowledged')
        GROUP BY clinic_id, patient_id;
END;
CREATE TRIGGER queue_cards_delete AFTER DELETE ON review_items BEGIN
    DELETE FROM queue_cards WHERE clinic_id = OLD.clinic_id AND patient_id = OLD.patient_id;
    INSERT INTO queue_cards (clinic_id, patient_id, level, oldest, items)
        SELECT clinic_id, patient_id, min(level), min(created_at), count(*) FROM review_items
        WHERE clinic_id = OLD.clinic_id AND patient_id = OLD.patient_id
          AND status IN ('open', 'acknowledged')
        GROUP BY clinic_id, patient_id;
END;

-- How many items wait in each clinic, by level and status, counted by the
-- same triggers (the counts above the queue walked every waiting item).
CREATE TABLE queue_counts (
    clinic_id TEXT NOT NULL,
    level TEXT NOT NULL,
    status TEXT NOT NULL,
    items INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, level, status)
) STRICT, WITHOUT ROWID;
INSERT INTO queue_counts (clinic_id, level, status, items)
    SELECT clinic_id, level, status, count(*) FROM review_items
    WHERE status IN ('open', 'acknowledged') GROUP BY clinic_id, level, status;
CREATE TRIGGER queue_counts_insert AFTER INSERT ON review_items
WHEN NEW.status IN ('open', 'acknowledged') BEGIN
    INSERT INTO queue_counts (clinic_id, level, status, items)
        VALUES (NEW.clinic_id, NEW.level, NEW.status, 1)
        ON CONFLICT (clinic_id, level, status) DO UPDATE SET items = items + 1;
END;
CREATE TRIGGER queue_counts_update AFTER UPDATE OF clinic_id, level, status ON review_items BEGIN
    UPDATE queue_counts SET items = items - 1
        WHERE clinic_id = OLD.clinic_id AND level = OLD.level AND status = OLD.status
          AND OLD.status IN ('open', 'acknowledged');
    INSERT INTO queue_counts (clinic_id, level, status, items)
        SELECT NEW.clinic_id, NEW.level, NEW.status, 1 WHERE NEW.status IN ('open', 'acknowledged')
        ON CONFLICT (clinic_id, level, status) DO UPDATE SET items = items + 1;
END;
CREATE TRIGGER queue_counts_delete AFTER DELETE ON review_items
WHEN OLD.status IN ('open', 'acknowledged') BEGIN
    UPDATE queue_counts SET items = items - 1
        WHERE clinic_id = OLD.clinic_id AND level = OLD.level AND status = OLD.status;
END;

-- An item's history was read by scanning every event of every item.
CREATE INDEX review_events_item ON review_events(review_item_id, id);
