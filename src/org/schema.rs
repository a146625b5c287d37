//! The schema of an organization's SQLite, versioned in code and brought up to date when the object wakes: a new
//! organization needs no set-up step, and an object created at an older version is upgraded in place, one version
//! at a time, each in one transaction with the version it reaches. Never edit a version that has shipped; add the
//! next. Times are epoch milliseconds (INTEGER); JSON columns hold JSON text.
//!
//! The tables keep their `organization_id` columns: every statement of the store stays scoped to the caller's
//! organization, so a statement that reached the wrong object would find nothing rather than another's data.

/// Version 1: the organization's part of the D1 schema as of migration 0008, in one step.
const V1: &str = "
CREATE TABLE webhooks (
  id                         TEXT PRIMARY KEY,
  organization_id            TEXT NOT NULL,
  name                       TEXT NOT NULL,
  description                TEXT,
  url                        TEXT NOT NULL,
  events                     TEXT NOT NULL,
  headers                    TEXT NOT NULL DEFAULT '{}',
  secret                     TEXT NOT NULL,
  previous_secret            TEXT,
  previous_secret_expires_at INTEGER,
  is_active                  INTEGER NOT NULL DEFAULT 1,
  retry_attempts             INTEGER NOT NULL DEFAULT 3,
  retry_delay_seconds        INTEGER NOT NULL DEFAULT 60,
  consecutive_failures       INTEGER NOT NULL DEFAULT 0,
  disabled_reason            TEXT,
  created_at                 INTEGER NOT NULL,
  updated_at                 INTEGER NOT NULL,
  disabled_at                INTEGER,
  public_key                 TEXT,
  ordering                   TEXT NOT NULL DEFAULT 'none' CHECK (ordering IN ('none', 'fifo')),
  rate_limit_per_second      INTEGER CHECK (rate_limit_per_second IS NULL OR rate_limit_per_second BETWEEN 1 AND 10000),
  circuit_state              TEXT NOT NULL DEFAULT 'closed' CHECK (circuit_state IN ('closed', 'open', 'half_open')),
  circuit_opened_at          INTEGER,
  circuit_next_probe_at      INTEGER,
  lane_until                 INTEGER,
  fast_until                 INTEGER
);
CREATE INDEX webhooks_by_org ON webhooks (organization_id, created_at DESC, id DESC);
CREATE INDEX webhooks_fanout ON webhooks (organization_id, is_active);

CREATE TABLE events (
  organization_id TEXT NOT NULL,
  id              TEXT NOT NULL,
  type            TEXT NOT NULL,
  data            TEXT NOT NULL,
  changes         TEXT,
  delivery_count  INTEGER NOT NULL DEFAULT 0,
  ingest_token    TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (organization_id, id)
);
CREATE INDEX events_by_age ON events (created_at);
CREATE INDEX events_by_org ON events (organization_id, created_at DESC, id DESC);

CREATE TABLE deliveries (
  id               TEXT PRIMARY KEY,
  organization_id  TEXT NOT NULL,
  webhook_id       TEXT NOT NULL,
  event_id         TEXT NOT NULL,
  event_type       TEXT NOT NULL,
  body             TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  last_status_code INTEGER,
  last_error       TEXT,
  next_attempt_at  INTEGER,
  is_test          INTEGER NOT NULL DEFAULT 0,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  lease_until      INTEGER,
  requeued_at      INTEGER,
  chain_start      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, created_at DESC, id DESC);
CREATE INDEX deliveries_by_org ON deliveries (organization_id, created_at);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_finished_by_age ON deliveries (updated_at) WHERE status != 'pending';
CREATE INDEX deliveries_by_event ON deliveries (organization_id, event_id);
CREATE INDEX deliveries_pending_by_webhook ON deliveries (webhook_id) WHERE status = 'pending';

CREATE TABLE attempts (
  id              TEXT PRIMARY KEY,
  delivery_id     TEXT NOT NULL,
  attempt         INTEGER NOT NULL,
  status_code     INTEGER,
  duration_ms     INTEGER NOT NULL,
  response_body   TEXT,
  error           TEXT,
  created_at      INTEGER NOT NULL,
  request_headers TEXT
);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id, attempt);
CREATE INDEX attempts_by_age ON attempts (created_at);

CREATE TABLE organization_settings (
  organization_id TEXT PRIMARY KEY,
  alert_email     TEXT,
  updated_at      INTEGER NOT NULL
);

-- Which organization this object holds (its name), for the work it does on its own (the alarm).
CREATE TABLE organization (
  id TEXT PRIMARY KEY
);
";

/// Version 2: each webhook's failure window (the last minute's attempts and failures, counted from the first attempt
/// of the window). A failure the receiver answered quickly no longer sends its webhook to its lane on its own; a
/// window where at least 10 attempts were made and 80 % failed does (sustained failure, where the breaker watches).
const V2: &str = "
ALTER TABLE webhooks ADD COLUMN window_started_at INTEGER;
ALTER TABLE webhooks ADD COLUMN window_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN window_failures INTEGER NOT NULL DEFAULT 0;
";

/// Version 3: a delivery whose first attempt succeeded carries that attempt in its own row (`first_attempt`, the
/// attempt as JSON with the `attempts` table's column names) instead of a row in `attempts` with its three index
/// entries: the happy path writes 4 rows fewer per delivery. Every other attempt is a row in `attempts`, as before.
const V3: &str = "ALTER TABLE deliveries ADD COLUMN first_attempt TEXT;";

/// Version 4: fewer index entries per delivery (each one written is a billed row). The two indexes on pending
/// deliveries become one, `deliveries_pending (webhook_id) WHERE status = 'pending'`: it serves a `fifo` webhook's
/// line, and the alarm's search for overdue deliveries reads the whole pending set through it (small: what is in
/// flight or waiting for a retry). Retention goes by creation time through the indexes that list by time
/// (`deliveries_by_org`, `events_by_org`), so `deliveries_finished_by_age` (written when a delivery finishes) and
/// `events_by_age` go. `make bench-delivery`: object rows written per delivery 11.33 → 9.00.
const V4: &str = "
DROP INDEX deliveries_due;
DROP INDEX deliveries_pending_by_webhook;
DROP INDEX deliveries_finished_by_age;
DROP INDEX events_by_age;
CREATE INDEX deliveries_pending ON deliveries (webhook_id) WHERE status = 'pending';
";

/// Version 5: until when a webhook's lane holds a delivery it was handed (`held_until`): the alarm leaves it alone
/// until then instead of re-enqueueing it every five minutes while a rate limit or a circuit's cool-down keeps it
/// waiting on purpose. No index: the alarm reads it from the pending deliveries it already walks.
const V5: &str = "ALTER TABLE deliveries ADD COLUMN held_until INTEGER;";

/// Version 6: a webhook's lane reads its line from here (the deliveries it holds, oldest first) instead of keeping
/// the ids in its own storage. The index has an entry only while a delivery waits in a lane: the happy path never
/// writes it.
const V6: &str = "CREATE INDEX deliveries_held ON deliveries (webhook_id, created_at) \
                  WHERE held_until IS NOT NULL AND status = 'pending';";

/// Version 7: the breaker's cool-down beside its state in the webhook's row, so the whole breaker lives in the
/// organization's object and a lane restores it from there (the lane keeps no state of its own).
const V7: &str = "ALTER TABLE webhooks ADD COLUMN circuit_cooldown_ms INTEGER;";

/// Version 8: each webhook's subscription patterns as rows (`webhook_events`), kept by triggers from the
/// `events` JSON array, so that an ingest finds its subscribers with a plain join. With `json_each` in the ingest's
/// statements, SQLite recompiled them on every execution (`sqlite3Reprepare`, about 5 % of the local runtime's CPU
/// under `make bench-compare`; a statement that reads a table-valued function beside an index term on a bound value
/// is planned for that value). Written only when a webhook is created, deleted or its events change.
const V8: &str = "
CREATE TABLE webhook_events (
  webhook_id TEXT NOT NULL,
  pattern    TEXT NOT NULL,
  PRIMARY KEY (webhook_id, pattern)
) WITHOUT ROWID;
INSERT OR IGNORE INTO webhook_events (webhook_id, pattern) SELECT w.id, j.value FROM webhooks w, json_each(w.events) j;
CREATE TRIGGER webhook_events_on_insert AFTER INSERT ON webhooks BEGIN
  INSERT OR IGNORE INTO webhook_events (webhook_id, pattern) SELECT NEW.id, j.value FROM json_each(NEW.events) j;
END;
CREATE TRIGGER webhook_events_on_update AFTER UPDATE OF events ON webhooks BEGIN
  DELETE FROM webhook_events WHERE webhook_id = OLD.id;
  INSERT OR IGNORE INTO webhook_events (webhook_id, pattern) SELECT NEW.id, j.value FROM json_each(NEW.events) j;
END;
CREATE TRIGGER webhook_events_on_delete AFTER DELETE ON webhooks BEGIN
  DELETE FROM webhook_events WHERE webhook_id = OLD.id;
END;
";

/// Version 9: when a webhook's lane last let deliveries start under its rate limit, so that a lane restarted in the
/// middle of a burst takes that second's window as full (`Limiter::restored`) instead of starting a fresh one.
const V9: &str = "ALTER TABLE webhooks ADD COLUMN rate_last_grant_at INTEGER;";

/// Version 10: a webhook's payload filter (`domain::filter`), its canonical JSON text; `NULL`: every event of its
/// types. An ingest looks for the webhooks that have one through `webhooks_filtered`, which is empty (and costs
/// nothing to read or write) for an organization that uses no filter.
const V10: &str = "ALTER TABLE webhooks ADD COLUMN filter TEXT; \
                   CREATE INDEX webhooks_filtered ON webhooks (organization_id) WHERE filter IS NOT NULL;";

/// Version 11: the organization's own event catalogue (`/api/event-types`; the deployment's default types are
/// compiled in, `domain::catalogue`, and a row of the same name overrides one), and a webhook's opt-in to schema
/// validation. An ingest looks for validating subscribers through `webhooks_validating`, which is empty (and costs
/// nothing) for an organization that uses none.
const V11: &str = "CREATE TABLE event_types ( \
                     organization_id TEXT NOT NULL, \
                     name            TEXT NOT NULL, \
                     description     TEXT NOT NULL DEFAULT '', \
                     schema          TEXT, \
                     example         TEXT, \
                     deprecated      INTEGER NOT NULL DEFAULT 0, \
                     created_at      INTEGER NOT NULL, \
                     updated_at      INTEGER NOT NULL, \
                     PRIMARY KEY (organization_id, name) \
                   ) WITHOUT ROWID; \
                   ALTER TABLE webhooks ADD COLUMN validate_schema INTEGER NOT NULL DEFAULT 0; \
                   CREATE INDEX webhooks_validating ON webhooks (organization_id) WHERE validate_schema = 1;";

/// Version 12: destinations. A webhook's `destination` (`http`, the default, `poll`, `aws_sqs`) and the fields of
/// one that is not a URL (`destination_config`, JSON, credentials sealed). A `poll` webhook gets no
/// deliveries: each event it takes (types and filter, at fan-out) becomes a row of `poll_messages`, numbered in the
/// order the object stored them (`AUTOINCREMENT`: never reused, so a cursor never points at a later message), and
/// `poll_acked` is how far its reader acknowledged. An ingest looks for polling subscribers through
/// `webhooks_polling`, empty for an organization without them.
const V12: &str = "ALTER TABLE webhooks ADD COLUMN destination TEXT NOT NULL DEFAULT 'http'; \
                   ALTER TABLE webhooks ADD COLUMN destination_config TEXT; \
                   ALTER TABLE webhooks ADD COLUMN poll_acked INTEGER NOT NULL DEFAULT 0; \
                   CREATE INDEX webhooks_polling ON webhooks (organization_id) WHERE destination = 'poll'; \
                   CREATE TABLE poll_messages ( \
                     seq             INTEGER PRIMARY KEY AUTOINCREMENT, \
                     organization_id TEXT NOT NULL, \
                     webhook_id      TEXT NOT NULL, \
                     event_id        TEXT NOT NULL, \
                     created_at      INTEGER NOT NULL \
                   ); \
                   CREATE INDEX poll_messages_by_webhook ON poll_messages (webhook_id, seq); \
                   CREATE INDEX poll_messages_by_age ON poll_messages (created_at); \
                   CREATE TRIGGER poll_messages_on_webhook_delete AFTER DELETE ON webhooks BEGIN \
                     DELETE FROM poll_messages WHERE webhook_id = OLD.id; \
                   END;";

/// Version 13: transformations. A webhook's jq program (`domain::transform`), and an attempt's body when it was not
/// the delivery's own (a transformed one): the attempt log shows what was signed and sent.
const V13: &str = "ALTER TABLE webhooks ADD COLUMN transformation TEXT; \
                   ALTER TABLE attempts ADD COLUMN request_body TEXT;";

/// Version 14: how many of a delivery's attempts in a row ended without a result (their invocation was lost: a
/// crash, a kill, a limit exceeded). Counted by the claim that finds the previous attempt's lease still set; a
/// delivery that keeps losing its attempts ends failed with the reason instead of being re-enqueued for ever.
const V14: &str = "ALTER TABLE deliveries ADD COLUMN lost_attempts INTEGER NOT NULL DEFAULT 0;";

/// Version 15: one index entry fewer per delivery (a billed row written, and SQLite's work). `deliveries_by_org`
/// (the organization, which is the object's own, and the creation time) goes. Deliveries are numbered in the order
/// they are written (`rowid`), so time marks take its place: `delivery_marks` says, every ten minutes while
/// deliveries are written and whenever the organization goes quiet, which `rowid` the next delivery gets. Retention
/// then deletes the rows below the last mark older than the window, in `rowid` order (whole pages of time), and the
/// counts of the last 24 hours go through `deliveries_by_webhook`. The marks start from the index, one per hour of
/// what is stored, before it goes.
const V15: &str = "CREATE TABLE delivery_marks (at INTEGER PRIMARY KEY, next_rowid INTEGER NOT NULL); \
                   INSERT INTO delivery_marks (at, next_rowid) \
                     SELECT (created_at / 3600000) * 3600000 + 3600000, MAX(rowid) + 1 FROM deliveries \
                     GROUP BY created_at / 3600000; \
                   DROP INDEX deliveries_by_org;";

/// Version 16: one index entry fewer per delivery a single-event ingest writes. Such a delivery goes in with no
/// `next_attempt_at` (claimed, its first attempt under way from the ingest; or past the ingest's round, on its way
/// through the queue), and the index of pending deliveries takes only those with one: a result that needs a retry
/// gives it one (and its entry), a success never does. The organization's alarm finds one that was lost (its lease
/// ran out with no result, or it never had one) among the deliveries written since `organization.in_flight_from`,
/// gives it its `next_attempt_at` (the ingest's time) and so the overdue search's attention, and moves
/// `in_flight_from` up to the first still in flight. A `fifo` webhook's line reads the index, so its deliveries always
/// have a time, and a webhook that becomes `fifo` gives its deliveries in flight theirs (a trigger). Rebuilding the
/// index reads the table once.
const V16: &str = "ALTER TABLE organization ADD COLUMN in_flight_from INTEGER NOT NULL DEFAULT 0; \
                   UPDATE organization SET in_flight_from = (SELECT COALESCE(MAX(rowid), 0) + 1 FROM deliveries); \
                   DROP INDEX deliveries_pending; \
                   CREATE INDEX deliveries_pending ON deliveries (webhook_id) \
                     WHERE status = 'pending' AND next_attempt_at IS NOT NULL; \
                   CREATE TRIGGER webhooks_fifo_line AFTER UPDATE OF ordering ON webhooks \
                     WHEN NEW.ordering = 'fifo' AND OLD.ordering != 'fifo' BEGIN \
                     UPDATE deliveries SET next_attempt_at = created_at \
                       WHERE rowid >= (SELECT in_flight_from FROM organization) AND webhook_id = NEW.id \
                       AND status = 'pending' AND next_attempt_at IS NULL; \
                   END;";

/// Version 17: one index entry fewer per delivery an ingest writes. An ingest's deliveries are named `dlv_` + their
/// event's stem + the webhook's number, so the event row keeps its stem (`events.delivery_stem`) and the deliveries
/// of an event are a range of the primary key's index: `deliveries_by_event` keeps only the others (`stemmed` NULL:
/// replays, operational events and test sends, which draw random ids, and deliveries written before this version).
/// `store::deliveries_of_event` reads both. Rebuilding the index reads the table once.
const V17: &str = "ALTER TABLE events ADD COLUMN delivery_stem TEXT; \
                   ALTER TABLE deliveries ADD COLUMN stemmed INTEGER; \
                   DROP INDEX deliveries_by_event; \
                   CREATE INDEX deliveries_by_event ON deliveries (organization_id, event_id) WHERE stemmed IS NULL;";

/// Version 18: one index entry fewer per event (a third of a row per delivery). `events_by_org` (the organization and
/// the creation time) goes, as `deliveries_by_org` did in version 15: events are numbered in the order they are
/// written (`rowid`), so the time marks take their numbers too (`time_marks.next_event_rowid`, the table renamed from
/// `delivery_marks`). The events list and `replay-missing` read in `rowid` order (the order of ingest), bounded by the
/// marks when they ask for a time window, and retention deletes the events below the last mark older than the window.
/// The marks that exist get the first event created at or after their time, found through the index before it goes.
const V18: &str = "ALTER TABLE delivery_marks RENAME TO time_marks; \
                   ALTER TABLE time_marks ADD COLUMN next_event_rowid INTEGER; \
                   UPDATE time_marks SET next_event_rowid = COALESCE( \
                     (SELECT e.rowid FROM events e INDEXED BY events_by_org \
                      WHERE e.organization_id = (SELECT id FROM organization) AND e.created_at >= time_marks.at \
                      ORDER BY e.created_at, e.id LIMIT 1), \
                     (SELECT COALESCE(MAX(rowid), 0) + 1 FROM events)); \
                   DROP INDEX events_by_org;";

/// Version 19: a webhook's delivery log by pages instead of an index entry per delivery. `deliveries_by_webhook`
/// goes; `webhook_pages` says in which pages of 64 `rowid`s each webhook has deliveries, kept by a trigger with
/// `INSERT OR IGNORE` (a page already listed writes nothing), so a webhook that gets a delivery of most events writes
/// one entry per page, and a quiet one one per delivery, as the index did. The log, the 24-hour counts and recovery
/// read a webhook's pages, then each page's `rowid`s (`store::webhook_deliveries`). Built from the table once.
const V19: &str = "CREATE TABLE webhook_pages ( \
                     webhook_id TEXT NOT NULL, \
                     page       INTEGER NOT NULL, \
                     PRIMARY KEY (webhook_id, page) \
                   ) WITHOUT ROWID; \
                   INSERT OR IGNORE INTO webhook_pages (webhook_id, page) SELECT webhook_id, rowid / 64 FROM deliveries; \
                   CREATE TRIGGER webhook_pages_on_delivery AFTER INSERT ON deliveries BEGIN \
                     INSERT OR IGNORE INTO webhook_pages (webhook_id, page) VALUES (NEW.webhook_id, NEW.rowid / 64); \
                   END; \
                   CREATE TRIGGER webhook_pages_on_webhook_delete AFTER DELETE ON webhooks BEGIN \
                     DELETE FROM webhook_pages WHERE webhook_id = OLD.id; \
                   END; \
                   DROP INDEX deliveries_by_webhook;";

/// Version 20: the 24-hour counts read counts instead of every delivery of the day. `delivery_counts` holds, per
/// webhook and ten minutes of creation time, how many of its deliveries are succeeded, failed and pending, and the
/// sum and number of their first attempts' durations; it holds the deliveries below `organization.counted_to`. The
/// alarm adds what was written before its previous run (`count_next`), a bounded number of rows at a time, and a
/// trigger moves a counted delivery between its counts when its status (or first attempt) changes, which writes a row
/// only for a delivery still pending when it was counted. The stats, the webhook list's counts and a webhook's hourly
/// chart read the counts, and the deliveries of the window's first partial ten minutes and those not yet counted
/// (`store::deliveries::uncounted_since`). Counting starts from the first delivery, so an upgraded object reads as
/// before until the alarm has caught up.
const V20: &str = "CREATE TABLE delivery_counts ( \
                     webhook_id       TEXT NOT NULL, \
                     bucket           INTEGER NOT NULL, \
                     succeeded        INTEGER NOT NULL DEFAULT 0, \
                     failed           INTEGER NOT NULL DEFAULT 0, \
                     pending          INTEGER NOT NULL DEFAULT 0, \
                     first_attempt_ms INTEGER NOT NULL DEFAULT 0, \
                     first_attempts   INTEGER NOT NULL DEFAULT 0, \
                     PRIMARY KEY (webhook_id, bucket) \
                   ) WITHOUT ROWID; \
                   ALTER TABLE organization ADD COLUMN counted_to INTEGER NOT NULL DEFAULT 1; \
                   ALTER TABLE organization ADD COLUMN count_next INTEGER NOT NULL DEFAULT 1; \
                   CREATE TRIGGER delivery_counts_on_change AFTER UPDATE OF status, first_attempt ON deliveries \
                   WHEN (OLD.status IS NOT NEW.status OR OLD.first_attempt IS NOT NEW.first_attempt) \
                     AND NEW.rowid < (SELECT counted_to FROM organization) BEGIN \
                     UPDATE delivery_counts SET \
                       succeeded = succeeded + (NEW.status = 'succeeded') - (OLD.status = 'succeeded'), \
                       failed = failed + (NEW.status = 'failed') - (OLD.status = 'failed'), \
                       pending = pending + (NEW.status = 'pending') - (OLD.status = 'pending'), \
                       first_attempt_ms = first_attempt_ms \
                         + COALESCE(json_extract(NEW.first_attempt, '$.duration_ms'), 0) \
                         - COALESCE(json_extract(OLD.first_attempt, '$.duration_ms'), 0), \
                       first_attempts = first_attempts \
                         + (json_extract(NEW.first_attempt, '$.duration_ms') IS NOT NULL) \
                         - (json_extract(OLD.first_attempt, '$.duration_ms') IS NOT NULL) \
                     WHERE webhook_id = NEW.webhook_id AND bucket = NEW.created_at / 600000; \
                   END; \
                   CREATE TRIGGER delivery_counts_on_webhook_delete AFTER DELETE ON webhooks BEGIN \
                     DELETE FROM delivery_counts WHERE webhook_id = OLD.id; \
                   END;";

/// Version 21: the events list of one type reads that type's pages instead of every event. `event_type_pages` says in
/// which pages of 64 event `rowid`s each type has events, kept by a trigger with `INSERT OR IGNORE` as
/// `webhook_pages` is (a type in most pages writes one entry per page). Built from the table once.
const V21: &str = "CREATE TABLE event_type_pages ( \
                     type TEXT NOT NULL, \
                     page INTEGER NOT NULL, \
                     PRIMARY KEY (type, page) \
                   ) WITHOUT ROWID; \
                   INSERT OR IGNORE INTO event_type_pages (type, page) SELECT type, rowid / 64 FROM events; \
                   CREATE TRIGGER event_type_pages_on_event AFTER INSERT ON events BEGIN \
                     INSERT OR IGNORE INTO event_type_pages (type, page) VALUES (NEW.type, NEW.rowid / 64); \
                   END;";

/// Version 22: a single-event ingest writes no rows for the deliveries it sends itself. Their event's row lists them
/// (`events.round`: a JSON array of `[the delivery id's webhook number, the webhook id]`, which with the event's stem
/// names each delivery) with the lease of that round of sends (`round_lease`), and the record of their first attempts
/// writes each delivery's row once, finished when it succeeded: one row per delivery fewer (the claimed insert and
/// the record's update became one insert). A round whose record never comes (its invocation was lost) is the
/// alarm's: it reads the events from `organization.rounds_from` on, writes the rows their lost round left unwritten
/// as the ingest would have (claimed, the lease run out, so the search for lost sends resends them with the same id
/// and bytes), and moves `rounds_from` up to the first event whose round may still be in flight.
const V22: &str = "ALTER TABLE events ADD COLUMN round TEXT; \
                   ALTER TABLE events ADD COLUMN round_lease INTEGER; \
                   ALTER TABLE organization ADD COLUMN rounds_from INTEGER NOT NULL DEFAULT 1; \
                   UPDATE organization SET rounds_from = (SELECT COALESCE(MAX(rowid), 0) + 1 FROM events);";

/// Version 23: a round's successes live in their event's row. An ingest's stem begins with its event's `rowid`
/// (`store::events::RoundRef::position_of`), so any delivery's id finds its event by the primary key; the record of a
/// first attempt that succeeded, for a delivery of a round that has no row, adds the attempt to the delivery's entry
/// in `events.round` (`[number, webhook, attempt]`: one update of the event's row for its round, where each delivery
/// wrote a row and its id's index entry). `webhook_round_pages` says in which pages of 64 event `rowid`s each webhook
/// is in a round, kept by a trigger as `webhook_pages` is, for the webhook's delivery log; `rounds_counted_to` is
/// where the 24-hour counts have counted the rounds' successes to. An event written before holds no success.
const V23: &str = "CREATE TABLE webhook_round_pages ( \
                     webhook_id TEXT NOT NULL, \
                     page       INTEGER NOT NULL, \
                     PRIMARY KEY (webhook_id, page) \
                   ) WITHOUT ROWID; \
                   CREATE TRIGGER webhook_round_pages_on_event AFTER INSERT ON events WHEN NEW.round IS NOT NULL BEGIN \
                     INSERT OR IGNORE INTO webhook_round_pages (webhook_id, page) \
                       SELECT json_extract(j.value, '$[1]'), NEW.rowid / 64 FROM json_each(NEW.round) j; \
                   END; \
                   CREATE TRIGGER webhook_round_pages_on_webhook_delete AFTER DELETE ON webhooks BEGIN \
                     DELETE FROM webhook_round_pages WHERE webhook_id = OLD.id; \
                   END; \
                   ALTER TABLE organization ADD COLUMN rounds_counted_to INTEGER NOT NULL DEFAULT 1; \
                   UPDATE organization SET rounds_counted_to = (SELECT COALESCE(MAX(rowid), 0) + 1 FROM events);";

/// Every version, in order: `VERSIONS[i]` takes the schema from version `i` to `i + 1`.
pub const VERSIONS: &[&str] =
    &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15, V16, V17, V18, V19, V20, V21, V22, V23];

/// The version the code expects.
pub const LATEST: i64 = VERSIONS.len() as i64;

/// The table that records the version reached.
pub const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)";
pub const READ_VERSION: &str = "SELECT COALESCE(MAX(version), 0) AS version FROM schema_version";

/// The statements that take a schema at `from` to the latest of `versions`, each step followed by the record of
/// the version it reaches (run them as one transaction per step, or all in one).
pub fn steps(versions: &[&'static str], from: i64) -> Vec<(i64, &'static str)> {
    versions.iter().enumerate().skip(usize::try_from(from).unwrap_or(0)).map(|(i, sql)| (i as i64 + 1, *sql)).collect()
}

/// The statement that records reaching `version`.
pub fn record_version(version: i64) -> String {
    format!("DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES ({version})")
}

/// SQLite in memory at `version` of `versions` (host tests).
#[cfg(test)]
pub fn sqlite_at(versions: &[&'static str], version: i64) -> rusqlite::Connection {
    let db = rusqlite::Connection::open_in_memory().unwrap();
    db.execute_batch(VERSION_TABLE).unwrap();
    upgrade(&db, &versions[..usize::try_from(version).unwrap()]);
    db
}

/// Brings a host SQLite to the latest of `versions`, the way the object does (host tests).
#[cfg(test)]
pub fn upgrade(db: &rusqlite::Connection, versions: &[&'static str]) {
    db.execute_batch(VERSION_TABLE).unwrap();
    let from: i64 = db.query_row(READ_VERSION, [], |r| r.get(0)).unwrap();
    for (version, sql) in steps(versions, from) {
        db.execute_batch(&format!("BEGIN; {sql}; {}; COMMIT;", record_version(version))).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_object_reaches_the_latest_version() {
        let db = sqlite_at(VERSIONS, LATEST);
        let version: i64 = db.query_row(READ_VERSION, [], |r| r.get(0)).unwrap();
        assert_eq!(version, LATEST);
        for table in ["webhooks", "events", "deliveries", "attempts", "organization_settings", "organization"] {
            let n: i64 = db
                .query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(n, 1, "{table}");
        }
    }

    #[test]
    fn an_object_created_at_an_older_version_is_upgraded_in_place_and_keeps_its_rows() {
        // A later version as a future change would add one: a column, an index, and a backfill of old rows.
        const NEXT: &str = "ALTER TABLE events ADD COLUMN size INTEGER; UPDATE events SET size = length(data); \
                            CREATE INDEX events_by_size ON events (size)";
        let versions: &[&'static str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, NEXT];
        let db = sqlite_at(versions, 10);
        db.execute(
            "INSERT INTO events (organization_id, id, type, data, ingest_token, created_at) \
             VALUES ('org_a', 'evt_1', 'lead.created', '{\"a\":1}', 't', 1)",
            [],
        )
        .unwrap();
        upgrade(&db, versions);
        let (version, size): (i64, i64) = db
            .query_row(
                "SELECT (SELECT MAX(version) FROM schema_version), size FROM events WHERE id = 'evt_1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((version, size), (11, 7));
        // Waking again changes nothing.
        upgrade(&db, versions);
        let rows: i64 = db.query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1);
    }

    /// A webhook row with the columns every version has, subscribed to `events` (a JSON array).
    fn insert_webhook(db: &rusqlite::Connection, id: &str, events: &str) {
        db.execute(
            "INSERT INTO webhooks (id, organization_id, name, url, events, secret, created_at, updated_at) \
             VALUES (?1, 'org_a', 'n', 'https://example.com', ?2, 's', 1, 1)",
            [id, events],
        )
        .unwrap();
    }

    #[test]
    fn a_version_1_object_gets_the_failure_window_and_keeps_its_webhooks() {
        let db = sqlite_at(VERSIONS, 1);
        insert_webhook(&db, "wh_1", "[]");
        upgrade(&db, VERSIONS);
        let (attempts, failures, started): (i64, i64, Option<i64>) = db
            .query_row(
                "SELECT window_attempts, window_failures, window_started_at FROM webhooks WHERE id = 'wh_1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((attempts, failures, started), (0, 0, None));
    }

    #[test]
    fn version_8_backfills_each_webhooks_patterns_and_keeps_them_as_its_events_change() {
        let db = sqlite_at(VERSIONS, 7);
        insert_webhook(&db, "wh_1", r#"["lead.*","deal.won"]"#);
        upgrade(&db, VERSIONS);
        let patterns = |db: &rusqlite::Connection| -> Vec<String> {
            let mut statement =
                db.prepare("SELECT webhook_id || ' ' || pattern FROM webhook_events ORDER BY 1").unwrap();
            statement.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        };
        assert_eq!(patterns(&db), vec!["wh_1 deal.won", "wh_1 lead.*"]);
        db.execute("UPDATE webhooks SET events = '[\"*\"]' WHERE id = 'wh_1'", []).unwrap();
        insert_webhook(&db, "wh_2", r#"["ticket.closed"]"#);
        assert_eq!(patterns(&db), vec!["wh_1 *", "wh_2 ticket.closed"]);
        db.execute("DELETE FROM webhooks WHERE id = 'wh_1'", []).unwrap();
        assert_eq!(patterns(&db), vec!["wh_2 ticket.closed"]);
    }

    #[test]
    fn version_22_starts_looking_for_lost_rounds_after_the_events_an_older_object_holds() {
        let db = sqlite_at(VERSIONS, 21);
        db.execute("INSERT INTO organization (id) VALUES ('org_a')", []).unwrap();
        for id in ["evt_1", "evt_2"] {
            db.execute(
                "INSERT INTO events (organization_id, id, type, data, ingest_token, created_at) \
                 VALUES ('org_a', ?1, 'lead.created', '{}', 't', 1)",
                [id],
            )
            .unwrap();
        }
        upgrade(&db, VERSIONS);
        let (from, last, rounds): (i64, i64, i64) = db
            .query_row(
                "SELECT rounds_from, (SELECT MAX(rowid) FROM events), \
                 (SELECT COUNT(*) FROM events WHERE round IS NOT NULL) FROM organization",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((from, rounds), (last + 1, 0), "an older event has no round");
        // A new object starts at the first event.
        let new = sqlite_at(VERSIONS, LATEST);
        new.execute("INSERT INTO organization (id) VALUES ('org_b')", []).unwrap();
        let from: i64 = new.query_row("SELECT rounds_from FROM organization", [], |r| r.get(0)).unwrap();
        assert_eq!(from, 1);
    }

    #[test]
    fn steps_start_after_the_version_reached() {
        let versions: &[&'static str] = &["a", "b", "c"];
        assert_eq!(steps(versions, 0), vec![(1, "a"), (2, "b"), (3, "c")]);
        assert_eq!(steps(versions, 2), vec![(3, "c")]);
        assert!(steps(versions, 3).is_empty());
    }
}
