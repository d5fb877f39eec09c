-- Migration: the queue shows one card per patient (worst level, oldest wait,
-- how many items). Each item names its patient (the response's or the missed
-- invitation's); `queue_cards` holds each waiting patient's card, kept by a
-- trigger on every change of an item, so that a page of cards is a range of
-- one index however many items wait. The trigger takes a lock per patient
-- before it counts, so that two nodes changing two items of one patient at
-- once cannot each count without the other's change.
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
    items BIGINT NOT NULL,
    PRIMARY KEY (clinic_id, patient_id)
);
CREATE INDEX queue_cards_by_level ON queue_cards(clinic_id, level, oldest, patient_id);
CREATE INDEX queue_cards_by_wait ON queue_cards(clinic_id, oldest, patient_id);
INSERT INTO queue_cards (clinic_id, patient_id, level, oldest, items)
    SELECT clinic_id, patient_id, min(level), min(created_at), count(*) FROM review_items
    WHERE status IN ('open', 'acknowledged') AND patient_id IS NOT NULL
    GROUP BY clinic_id, patient_id;

CREATE FUNCTION prom_queue_card(c TEXT, p TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p IS NULL THEN
        RETURN;
    END IF;
    -- Held to the end of the transaction; each statement after it sees
    -- what the other transaction committed.
    PERFORM pg_advisory_xact_lock(1903, hashtext(c || '/' || p));
    DELETE FROM queue_cards WHERE clinic_id = c AND patient_id = p;
    INSERT INTO queue_cards (clinic_id, patient_id, level, oldest, items)
        SELECT c, p, min(level), min(created_at), count(*) FROM review_items
        WHERE clinic_id = c AND patient_id = p AND status IN ('open', 'acknowledged')
        HAVING count(*) > 0;
END $$;
-- How many items wait in each clinic, by level and status, counted by the
-- same trigger (the counts above the queue walked every waiting item).
CREATE TABLE queue_counts (
    clinic_id TEXT NOT NULL,
    level TEXT NOT NULL,
    status TEXT NOT NULL,
    items BIGINT NOT NULL,
    PRIMARY KEY (clinic_id, level, status)
);
INSERT INTO queue_counts (clinic_id, level, status, items)
    SELECT clinic_id, level, status, count(*) FROM review_items
    WHERE status IN ('open', 'acknowledged') GROUP BY clinic_id, level, status;

CREATE FUNCTION prom_queue_cards() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM prom_queue_card(OLD.clinic_id, OLD.patient_id);
        IF OLD.status IN ('open', 'acknowledged') THEN
            UPDATE queue_counts SET items = items - 1
                WHERE clinic_id = OLD.clinic_id AND level = OLD.level AND status = OLD.status;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF TG_OP = 'INSERT' OR (OLD.clinic_id, OLD.patient_id) IS DISTINCT FROM (NEW.clinic_id, NEW.patient_id) THEN
            PERFORM prom_queue_card(NEW.clinic_id, NEW.patient_id);
        END IF;
        IF NEW.status IN ('open', 'acknowledged') THEN
            INSERT INTO queue_counts (clinic_id, level, status, items)
                VALUES (NEW.clinic_id, NEW.level, NEW.status, 1)
                ON CONFLICT (clinic_id, level, status) DO UPDATE SET items = queue_counts.items + 1;
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER queue_cards AFTER INSERT OR DELETE OR UPDATE OF clinic_id, patient_id, level, status, created_at
    ON review_items FOR EACH ROW EXECUTE FUNCTION prom_queue_cards();

-- An item's history was read by scanning every event of every item.
CREATE INDEX review_events_item ON review_events(review_item_id, id);
