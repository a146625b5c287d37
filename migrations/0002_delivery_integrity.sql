-- Delivery integrity: fenced attempts, a sweeper that does not multiply messages, durable disable notices and a
-- retention prune that uses indexes instead of scanning whole tables.

-- An attempt in flight holds its delivery until this time (epoch ms); a claim, a manual retry or a sweep waits for
-- it. The attempt's number (`attempts` at claim time) fences the result: it is recorded only if it still holds.
ALTER TABLE deliveries ADD COLUMN lease_until INTEGER;
-- When the sweeper last sent this delivery a fresh queue message; it sends no other while that one can arrive.
ALTER TABLE deliveries ADD COLUMN requeued_at INTEGER;
-- When the webhook was disabled (automatically or by a caller); the `webhook.disabled` notice is written in the
-- same transaction and keyed by it.
ALTER TABLE webhooks ADD COLUMN disabled_at INTEGER;

-- Retention: events and dead letters by age; finished deliveries by age; an event's deliveries (for the prune's
-- "still needed" check and the events API).
CREATE INDEX events_by_age ON events (created_at);
CREATE INDEX dead_letters_by_age ON dead_letters (created_at);
CREATE INDEX deliveries_finished_by_age ON deliveries (updated_at) WHERE status != 'pending';
CREATE INDEX deliveries_by_event ON deliveries (organization_id, event_id);
