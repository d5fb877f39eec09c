-- Migration: the queue gauges the metrics read at every scrape, by index
-- rather than by a scan of every item (dead e-mails have theirs: outbox_dead).
CREATE INDEX review_open_by_level ON review_items(level, created_at) WHERE status = 'open';
