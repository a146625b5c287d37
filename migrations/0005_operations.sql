-- Operating deliveries: the events API lists an organization's events newest first (optionally by type and time).
CREATE INDEX events_by_org ON events (organization_id, created_at DESC, id DESC);
