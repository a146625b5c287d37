-- edgehook's schema. D1 is the source of truth; never edit a migration that has landed, add the next.
-- Times are epoch milliseconds (INTEGER); JSON columns hold JSON text.

CREATE TABLE webhooks (
  id                         TEXT PRIMARY KEY,
  organization_id            TEXT NOT NULL,
  name                       TEXT NOT NULL,
  description                TEXT,
  url                        TEXT NOT NULL,
  events                     TEXT NOT NULL,               -- JSON array of patterns
  headers                    TEXT NOT NULL DEFAULT '{}',  -- JSON object of custom headers
  secret                     TEXT NOT NULL,
  previous_secret            TEXT,                        -- still signs until previous_secret_expires_at
  previous_secret_expires_at INTEGER,
  is_active                  INTEGER NOT NULL DEFAULT 1,
  retry_attempts             INTEGER NOT NULL DEFAULT 3,
  retry_delay_seconds        INTEGER NOT NULL DEFAULT 60,
  consecutive_failures       INTEGER NOT NULL DEFAULT 0,
  disabled_reason            TEXT,
  created_at                 INTEGER NOT NULL,
  updated_at                 INTEGER NOT NULL
);
-- Per-organization listing (newest first) and fan-out (active webhooks of an organization).
CREATE INDEX webhooks_by_org ON webhooks (organization_id, created_at DESC, id DESC);
CREATE INDEX webhooks_fanout ON webhooks (organization_id, is_active);

-- One row per ingested event: the payload is stored once; (organization_id, id) is the idempotency guard.
CREATE TABLE events (
  organization_id TEXT NOT NULL,
  id              TEXT NOT NULL,
  type            TEXT NOT NULL,
  data            TEXT NOT NULL,   -- JSON
  changes         TEXT,            -- JSON, for *.updated events
  delivery_count  INTEGER NOT NULL DEFAULT 0,
  ingest_token    TEXT NOT NULL,   -- random per ingest: only the call that inserted the event inserts its deliveries
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (organization_id, id)
);

CREATE TABLE deliveries (
  id               TEXT PRIMARY KEY,
  organization_id  TEXT NOT NULL,
  webhook_id       TEXT NOT NULL,
  event_id         TEXT NOT NULL,
  event_type       TEXT NOT NULL,
  body             TEXT NOT NULL,   -- the exact bytes sent on every attempt
  status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  last_status_code INTEGER,
  last_error       TEXT,
  next_attempt_at  INTEGER,         -- when pending: when the next attempt is due
  is_test          INTEGER NOT NULL DEFAULT 0,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, created_at DESC, id DESC);
CREATE INDEX deliveries_by_org ON deliveries (organization_id, created_at);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);

CREATE TABLE attempts (
  id            TEXT PRIMARY KEY,
  delivery_id   TEXT NOT NULL,
  attempt       INTEGER NOT NULL,
  status_code   INTEGER,
  duration_ms   INTEGER NOT NULL,
  response_body TEXT,
  error         TEXT,
  created_at    INTEGER NOT NULL
);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id, attempt);
CREATE INDEX attempts_by_age ON attempts (created_at);

-- Events from the events queue that could not be ingested, with the reason (they are also dead-lettered).
CREATE TABLE dead_letters (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  queue      TEXT NOT NULL,
  body       TEXT NOT NULL,
  reason     TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
