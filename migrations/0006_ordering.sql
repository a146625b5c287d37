-- Ordered delivery: a webhook with ordering 'fifo' gets its deliveries one after another, in the order they were
-- created (rowid): a delivery is not attempted while an earlier one of the same webhook is still pending.
ALTER TABLE webhooks ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none' CHECK (ordering IN ('none', 'fifo'));
