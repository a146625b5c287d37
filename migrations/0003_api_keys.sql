-- API keys: long-lived, revocable credentials for an organization's backend. Only the SHA-256 of a key is stored;
-- the key itself is shown once, when it is created.
CREATE TABLE api_keys (
  id              TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL,
  name            TEXT NOT NULL,
  role            TEXT NOT NULL CHECK (role IN ('admin', 'member', 'service')),
  key_hash        TEXT NOT NULL UNIQUE,   -- lowercase hex SHA-256 of the whole key
  created_at      INTEGER NOT NULL
);
CREATE INDEX api_keys_by_org ON api_keys (organization_id, created_at DESC, id DESC);
