-- Flow control per webhook (its Durable Object, `WebhookLane`, decides; D1 keeps what the API shows and what the
-- consumer needs to route a delivery without asking the object):
-- rate_limit_per_second: at most this many attempts start in any one second (NULL: no limit).
-- circuit_*: the breaker's state as its lane last wrote it ('closed', 'open', 'half_open').
-- lane_until: until when the webhook's deliveries go through its lane (set by a failed or slow attempt).
-- fast_until: until when the consumer may send them itself (set by quick successes); a webhook not known to be
-- quick (new, idle, or slow) starts in its lane.
ALTER TABLE webhooks ADD COLUMN rate_limit_per_second INTEGER
    CHECK (rate_limit_per_second IS NULL OR rate_limit_per_second BETWEEN 1 AND 10000);
ALTER TABLE webhooks ADD COLUMN circuit_state TEXT NOT NULL DEFAULT 'closed'
    CHECK (circuit_state IN ('closed', 'open', 'half_open'));
ALTER TABLE webhooks ADD COLUMN circuit_opened_at INTEGER;
ALTER TABLE webhooks ADD COLUMN circuit_next_probe_at INTEGER;
ALTER TABLE webhooks ADD COLUMN lane_until INTEGER;
ALTER TABLE webhooks ADD COLUMN fast_until INTEGER;
