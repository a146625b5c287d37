-- The dashboard and customer portal: portal sessions, and the headers each attempt sent (for the delivery detail).

-- A portal session opens the dashboard for one organization until it expires or is revoked. Only the SHA-256 of
-- its token is kept; the token itself travels in a URL fragment and then in the page's sessionStorage.
CREATE TABLE portal_sessions (
  token_hash      TEXT PRIMARY KEY,        -- lowercase hex SHA-256 of the whole token
  organization_id TEXT NOT NULL,
  read_only       INTEGER NOT NULL DEFAULT 0,
  expires_at      INTEGER NOT NULL,
  created_at      INTEGER NOT NULL
);
-- Revoking every session of an organization, and the sweep's prune of expired ones.
CREATE INDEX portal_sessions_by_org ON portal_sessions (organization_id);
CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_at);

-- The request headers of an attempt as sent: a JSON array of [name, value], signatures included, secrets never
-- (a custom header whose name suggests a credential is kept masked). NULL for attempts made before this column.
ALTER TABLE attempts ADD COLUMN request_headers TEXT;
