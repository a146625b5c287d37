-- Tokens that read one polling webhook (`GET /api/poll/{id}`), found by the SHA-256 of their text like API keys: the
-- request names only the token, and the token names the organization and the webhook.
CREATE TABLE poll_tokens (
  id              TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL,
  webhook_id      TEXT NOT NULL,
  token_hash      TEXT NOT NULL UNIQUE,
  hint            TEXT NOT NULL,
  created_at      INTEGER NOT NULL
);
CREATE INDEX poll_tokens_by_webhook ON poll_tokens (organization_id, webhook_id);
