// Delivery integrity under the real Worker (wrangler dev, local D1/KV/Queues) and a real receiver on 127.0.0.1:
// payloads arrive byte for byte as sent, at most six requests are in flight per invocation, an endless answer does
// not hold or sink the Worker, attempts are fenced, an organization's alarm re-sends what a lost queue message left
// behind, and retention keeps what pending deliveries need.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "../verifier-wasm/pkg/node.mjs";
import { startWorker, startReceiver, token, eventually } from "./harness.mjs";

let worker;
let receiver;
let orgCounter = 0;

before(async () => {
  receiver = await startReceiver();
  // The organizations' housekeeping alarm every 2 s instead of every minute.
  worker = await startWorker({ vars: { DELIVERY_TIMEOUT_SECONDS: "8", EXPOSE_USAGE: "true", MAX_WEBHOOKS_PER_ORG: "50", HOUSEKEEPING_SECONDS: "2" } });
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

function org() {
  const name = `org_int_${process.pid}_${++orgCounter}`;
  return { name, auth: (role = "admin") => ({ authorization: `Bearer ${token({ org: name, role })}`, "content-type": "application/json" }) };
}

async function call(o, method, path, body, role) {
  const res = await worker.api(path, { method, headers: o.auth(role), body: typeof body === "string" ? body : body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

let pathCounter = 0;
async function webhook(o, fields = {}) {
  const path = `/i${++pathCounter}`;
  const res = await call(o, "POST", "/api/webhooks", { name: path, url: `${receiver.url}${path}`, events: ["*"], ...fields });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { ...res.body, path };
}

const arrivals = (path) => receiver.requests.filter((r) => r.url === path);
const usage = async () => (await worker.api("/__usage")).json();

async function deliveryOf(o, w, predicate = () => true) {
  const log = await call(o, "GET", `/api/webhooks/${w.id}/deliveries?limit=100`, undefined, "member");
  return log.body.data.find(predicate);
}

test("event data and changes arrive byte for byte as sent: numbers, escapes, key order, repeated keys", async () => {
  const o = org();
  const w = await webhook(o, { events: ["deal.updated"] });
  const data = '{"zeta":1,"alpha":1.50,"big":1234567890123456789012345,"s":"caf\\u00e9","n":[2.0,3e2],"k":1,"k":2,"neg":-0.0}';
  const changes = '{ "amount" : { "from" : 1.0, "to" : 18446744073709551616 } }';
  const single = await call(o, "POST", "/api/events", `{"type":"deal.updated","data":${data},"changes":${changes}}`, "service");
  assert.equal(single.status, 202, JSON.stringify(single.body));
  const batch = await call(o, "POST", "/api/events/batch", `{"events":[{"type":"deal.updated","data":${data},"id":"verbatim-2"}]}`, "service");
  assert.equal(batch.body.accepted, 1);
  const got = await eventually(() => arrivals(w.path).length === 2 && arrivals(w.path), { what: "both deliveries" });
  for (const request of got) {
    const text = request.body.toString("utf8");
    new Webhook(w.secret).verify(request.body, request.headers);
    assert.ok(text.includes(`"data":${data}`), `the data went out altered: ${text}`);
  }
  assert.ok(got.some((r) => r.body.toString().includes(`"changes":${changes}`)), "the changes went out altered");
  // The delivery log shows the same stored bytes.
  const d = await deliveryOf(o, w);
  const detail = await worker.api(`/api/webhooks/${w.id}/deliveries/${d.id}`, { headers: o.auth("member") });
  assert.equal(detail.status, 200);
});

test("a batch of 30 deliveries to a receiver holding each request 3 s: never more than 6 in flight, all succeed first time", async () => {
  const o = org();
  const hooks = [];
  for (let i = 0; i < 3; i++) hooks.push(await webhook(o, { events: ["task.created"], retryAttempts: 0 }));
  const paths = new Set(hooks.map((h) => h.path));
  receiver.respond((r) => (paths.has(r.url) ? { status: 200, delayMs: 3000 } : { status: 200 }));
  receiver.resetCounts();
  const events = Array.from({ length: 10 }, (_, n) => ({ type: "task.created", data: { n } }));
  const res = await call(o, "POST", "/api/events/batch", { events }, "service");
  assert.equal(res.body.accepted, 10);
  const total = () => hooks.reduce((sum, h) => sum + arrivals(h.path).length, 0);
  await eventually(() => total() === 30, { timeoutMs: 90000, intervalMs: 200, what: "30 requests at the receiver" });
  // Let the last answers finish, then check every delivery succeeded with one attempt.
  const finished = await eventually(async () => {
    const all = [];
    for (const h of hooks) {
      const log = await call(o, "GET", `/api/webhooks/${h.id}/deliveries?limit=100`, undefined, "member");
      all.push(...log.body.data);
    }
    return all.length === 30 && all.every((d) => d.status !== "pending") && all;
  }, { timeoutMs: 30000, what: "all 30 deliveries to finish" });
  receiver.respond(() => ({ status: 200 }));
  assert.ok(receiver.maxInFlight <= 6, `${receiver.maxInFlight} requests were in flight at once`);
  assert.ok(receiver.maxInFlight >= 2, "the sends overlapped");
  assert.deepEqual(finished.map((d) => [d.status, d.attempts]), finished.map(() => ["succeeded", 1]));
  assert.equal(total(), 30, "no attempt was repeated");
});

test("a 200 followed by an endless body is a success with at most 4 KiB kept, and the Worker stays healthy", async () => {
  const o = org();
  const w = await webhook(o, { events: ["email.sent"], retryAttempts: 0 });
  receiver.respond((r) => (r.url === w.path ? { status: 200, stream: true, streamMs: 30000 } : { status: 200 }));
  await call(o, "POST", "/api/events", { type: "email.sent", data: { id: "m1" } }, "service");
  const d = await eventually(() => deliveryOf(o, w, (x) => x.status !== "pending"), { timeoutMs: 30000, what: "the delivery to finish" });
  receiver.respond(() => ({ status: 200 }));
  assert.equal(d.status, "succeeded");
  assert.equal(d.attempts, 1);
  const detail = await call(o, "GET", `/api/webhooks/${w.id}/deliveries/${d.id}`, undefined, "member");
  const kept = detail.body.attempts[0].responseBody;
  assert.equal(detail.body.attempts[0].statusCode, 200);
  assert.ok(kept.length > 0 && Buffer.byteLength(kept) <= 4096, `kept ${Buffer.byteLength(kept)} bytes`);
  assert.match(kept, /^x+$/);
  assert.equal((await worker.api("/health")).status, 200);
  // The rest of the body was cancelled: the receiver's stream was cut off long before its 30 s.
  await eventually(() => arrivals(w.path).length === 1 && receiver.inFlight === 0, { timeoutMs: 10000, what: "the stream to be cancelled" });
  assert.ok(receiver.streamedBytes < 10 * 1024 * 1024, `${receiver.streamedBytes} bytes were streamed`);
});

test("a manual retry while an attempt is in flight answers 409 attempt_in_progress and sends nothing", async () => {
  const o = org();
  const w = await webhook(o, { events: ["call.completed"], retryAttempts: 0 });
  receiver.respond((r) => (r.url === w.path ? { status: 200, delayMs: 4000 } : { status: 200 }));
  await call(o, "POST", "/api/events", { type: "call.completed", data: {} }, "service");
  await eventually(() => arrivals(w.path).length === 1, { what: "the first attempt to arrive" });
  const d = await deliveryOf(o, w);
  const retried = await call(o, "POST", `/api/webhooks/${w.id}/deliveries/${d.id}/retry`);
  assert.equal(retried.status, 409);
  assert.equal(retried.body.error.code, "attempt_in_progress");
  const done = await eventually(() => deliveryOf(o, w, (x) => x.status === "succeeded"), { timeoutMs: 20000, what: "the first attempt to finish" });
  receiver.respond(() => ({ status: 200 }));
  assert.equal(done.attempts, 1);
  assert.equal(arrivals(w.path).length, 1, "the receiver saw one request");
  // Once it has finished, a manual retry goes through.
  const again = await call(o, "POST", `/api/webhooks/${w.id}/deliveries/${d.id}/retry`);
  assert.equal(again.status, 200);
  assert.equal(arrivals(w.path).length, 2);
});

test("deleting a webhook while an attempt is in flight leaves its delivery failed, not pending", async () => {
  const o = org();
  const w = await webhook(o, { events: ["meeting.scheduled"], retryAttempts: 3, retryDelaySeconds: 1 });
  receiver.respond((r) => (r.url === w.path ? { status: 500, delayMs: 3000 } : { status: 200 }));
  await call(o, "POST", "/api/events", { type: "meeting.scheduled", data: {} }, "service");
  await eventually(() => arrivals(w.path).length === 1, { what: "the attempt to arrive" });
  assert.equal((await call(o, "DELETE", `/api/webhooks/${w.id}`)).status, 204);
  // The attempt's 500 comes back after the delete; once it is recorded, its retry must not have revived the delivery.
  const attempts = await eventually(async () => {
    const rows = await worker.orgSql(o.name, `SELECT status_code FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = '${w.id}'`);
    return rows.length > 0 && rows;
  }, { timeoutMs: 20000, intervalMs: 250, what: "the in-flight attempt to be recorded" });
  assert.deepEqual(attempts, [{ status_code: 500 }], "the attempt that happened is logged");
  const [row] = await worker.orgSql(o.name, `SELECT status, last_error, lease_until FROM deliveries WHERE webhook_id = '${w.id}'`);
  receiver.respond(() => ({ status: 200 }));
  assert.deepEqual(row, { status: "failed", last_error: "webhook deleted", lease_until: null });
  assert.equal(arrivals(w.path).length, 1);
});

test("an organization's alarm re-sends a delivery whose queue message was lost, with one message", async () => {
  const o = org();
  const w = await webhook(o, { events: ["activity.created"] });
  const body = JSON.stringify({ id: "evt_lost", type: "activity.created", timestamp: new Date().toISOString(), organizationId: o.name, deliveryId: "dlv_lostalarm1", data: { lost: true } });
  const past = Date.now() - 5 * 60 * 1000;
  const sent = (await usage()).queueMessagesSent;
  // A delivery the object holds as pending and overdue, with no queue message behind it. Nobody calls anything
  // here: the object's alarm, armed by the write, finds it.
  await worker.orgSql(o.name, `INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, next_attempt_at, created_at, updated_at)
              VALUES ('dlv_lostalarm1', '${o.name}', '${w.id}', 'evt_lost', 'activity.created', '${body}', 'pending', 0, ${past}, ${past}, ${past})`);
  const [request] = await eventually(() => arrivals(w.path).length === 1 && arrivals(w.path), { timeoutMs: 30000, intervalMs: 250, what: "the alarm to re-send the delivery" });
  assert.equal(request.headers["webhook-id"], "dlv_lostalarm1");
  assert.equal(new Webhook(w.secret).verify(request.body, request.headers).data.lost, true);
  const [row] = await eventually(async () => {
    const rows = await worker.orgSql(o.name, "SELECT status, requeued_at FROM deliveries WHERE id = 'dlv_lostalarm1'");
    return rows[0]?.status === "succeeded" && rows;
  }, { what: "the delivery recorded" });
  assert.ok(row.requeued_at > past);
  assert.equal((await usage()).queueMessagesSent - sent, 1, "one message for the lost delivery");
});

test("retention prunes old events, dead letters, attempts and finished deliveries, but keeps what a pending delivery needs", async () => {
  const o = org();
  const w = await webhook(o, { events: ["order.created"] });
  const old = Date.now() - 40 * 86_400_000;
  const future = Date.now() + 3_600_000;
  const sql = (statement) => worker.orgSql(o.name, statement);
  await sql(`INSERT INTO events (organization_id, id, type, data, delivery_count, ingest_token, created_at) VALUES
              ('${o.name}', 'old-done', 'order.created', '{}', 1, 't', ${old}), ('${o.name}', 'old-pending', 'order.created', '{}', 1, 't', ${old})`);
  await sql(`INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, next_attempt_at, created_at, updated_at) VALUES
              ('dlv_olddone', '${o.name}', '${w.id}', 'old-done', 'order.created', '{}', 'succeeded', 1, NULL, ${old}, ${old}),
              ('dlv_oldpending', '${o.name}', '${w.id}', 'old-pending', 'order.created', '{}', 'pending', 5, ${future}, ${old}, ${old})`);
  await sql(`INSERT INTO attempts (id, delivery_id, attempt, duration_ms, created_at) VALUES ('att_old', 'dlv_olddone', 1, 5, ${old})`);
  // The time mark the organization's alarm took after writing them, 40 days ago: deliveries leave by the pages of
  // time these marks bound (schema v15), and events too (v18).
  await sql(`INSERT INTO time_marks (at, next_rowid, next_event_rowid) SELECT ${old + 60_000}, (SELECT MAX(rowid) + 1 FROM deliveries), (SELECT MAX(rowid) + 1 FROM events)`);
  // The organization's rows go with its alarm (armed by these writes); D1's dead letters with the cron.
  worker.sql(`INSERT INTO dead_letters (queue, body, reason, created_at) VALUES ('edgehook-events', '{}', 'old', ${old})`);
  assert.equal((await worker.api("/cdn-cgi/local/scheduled?cron=*+*+*+*+*")).status, 200);
  const count = async (table, where) => (await sql(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`))[0].n;
  await eventually(async () => (await count("attempts", "id = 'att_old'")) === 0, { timeoutMs: 20000, what: "the alarm's prune" });
  assert.equal(await count("events", "id = 'old-done'"), 0);
  assert.equal(await count("events", "id = 'old-pending'"), 1, "a pending delivery's event stays");
  assert.equal(await count("deliveries", "id = 'dlv_olddone'"), 0);
  assert.equal(await count("deliveries", "id = 'dlv_oldpending'"), 1);
  assert.equal(worker.sql("SELECT COUNT(*) AS n FROM dead_letters WHERE reason = 'old'")[0].n, 0);
});

test("a batch of the maximum 100 events with ids is accepted whole, and its repeat is 100 duplicates", async () => {
  const o = org();
  const w = await webhook(o, { events: ["contact.created"] });
  const events = Array.from({ length: 100 }, (_, n) => ({ id: `max-${n}`, type: "contact.created", data: { n } }));
  const first = await call(o, "POST", "/api/events/batch", { events }, "service");
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.deepEqual([first.body.accepted, first.body.rejected], [100, 0]);
  assert.ok(first.body.results.every((r) => r.status === 202 && r.deliveries === 1));
  const again = await call(o, "POST", "/api/events/batch", { events }, "service");
  assert.ok(again.body.results.every((r) => r.status === 200 && r.duplicate && r.deliveries === 1));
  await eventually(() => arrivals(w.path).length === 100, { timeoutMs: 30000, what: "100 deliveries" });
});
