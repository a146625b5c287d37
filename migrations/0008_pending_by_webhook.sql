-- The pending deliveries of one webhook: a `fifo` webhook's claim gate (is an earlier one still pending?), the head
-- of its line, and stopping a deleted webhook's deliveries. Without it SQLite walked every pending delivery of every
-- webhook (the `deliveries_due` index) for each of those.
CREATE INDEX deliveries_pending_by_webhook ON deliveries (webhook_id) WHERE status = 'pending';
