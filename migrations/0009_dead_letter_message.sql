-- A dead letter is written once per queue message: the consumer retries a message whose dead-letter write failed
-- (never acknowledging it silently), and a retry after a write that did land finds the same message id.
ALTER TABLE dead_letters ADD COLUMN message_id TEXT;
CREATE UNIQUE INDEX dead_letters_by_message ON dead_letters (message_id);
