-- Operating deliveries: the events API lists an organization's events newest first (optionally by type and time).
CREATE INDEX events_by_org ON events (organization_id, created_at DESC, id DESC);

-- Recover gives a failed delivery a fresh attempt chain: its retry budget counts the attempts made since
-- `chain_start` (the attempt count when the chain began), while attempt numbers keep rising, so a straggling
-- result of an old attempt can never match the fence of a new one.
ALTER TABLE deliveries ADD COLUMN chain_start INTEGER NOT NULL DEFAULT 0;

-- Per-organization settings: where edgehook e-mails its alerts (an auto-disabled webhook).
CREATE TABLE organization_settings (
  organization_id TEXT PRIMARY KEY,
  alert_email     TEXT,
  updated_at      INTEGER NOT NULL
);

-- Standard Webhooks `v1a`: a webhook created with "signature": "ed25519" keeps its `whsk_` secret key (sealed) in
-- `secret` and shows receivers this `whpk_` public key. NULL for HMAC webhooks.
ALTER TABLE webhooks ADD COLUMN public_key TEXT;
