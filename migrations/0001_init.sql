-- edgehook's schema. D1 is the source of truth; never edit a migration that has landed, add the next.
CREATE TABLE IF NOT EXISTS schema_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO schema_info (key, value) VALUES ('created_by', 'edgehook');
