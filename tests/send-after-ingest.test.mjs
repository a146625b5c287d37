// A single-event ingest sends its deliveries itself, right after its answer: one call to its organization's object
// stores the event with its round of sends, one more records the sends (writing each delivery's row), and no queue
// message is written unless an attempt fails. An ingest cut off after its answer loses nothing: its event's row lists
// the round, and the object's alarm writes and sends what the round left once its lease has passed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "../verifier-wasm/pkg/node.mjs";
import { startWorker, startReceiver, token, eventually, DELIVERIES } from "./harness.mjs";

// The objects' housekeeping alarm every 2 s instead of every minute, so a lost delivery is found within the test.
const VARS = { DELIVERY_TIMEOUT_SECONDS: "5", EXPOSE_USAGE: "true", HOUSEKEEPING_SECONDS: "2" };
let worker;
let receiver;
before(async () => {
  receiver = await startReceiver();
  worker = await startWorker({ vars: VARS });
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

const auth = (org) => ({ authorization: `Bearer ${token({ org })}`, "content-type": "application/json" });
const post = (org, path, body) => worker.api(path, { method: "POST", headers: auth(org), body: JSON.stringify(body) });
const usage = async () => (await worker.api("/__usage")).json();
const arrivals = (path) => receiver.requests.filter((r) => r.url === path);
const statuses = async (org, eventId) =>
  (await worker.orgSql(org, `SELECT status FROM ${DELIVERIES} WHERE event_id = '${eventId}'`)).map((r) => r.status);

async function webhooks(org, count, fields = {}) {
  const made = [];
  for (let i = 0; i < count; i++) {
    const path = `/${org}/${i}`;
    const res = await post(org, "/api/webhooks", { name: path, url: `${receiver.url}${path}`, events: ["lead.created"], retryDelaySeconds: 1, ...fields });
    assert.equal(res.status, 201);
    made.push({ ...(await res.json()), path });
  }
  // A new webhook's first delivery goes through its lane until its endpoint has answered quickly once.
  assert.equal((await post(org, "/api/events", { id: "warm-up", type: "lead.created", data: {} })).status, 202);
  await eventually(async () => made.every((w) => arrivals(w.path).length === 1) && (await statuses(org, "warm-up")).every((s) => s === "succeeded"), { what: "the warm-up deliveries" });
  return made;
}

/** Posts `events` ingests of `prefix`-n at once and checks that each request is answered with its own event (202, its
 *  id, one delivery per webhook) and that each event is stored once. */
async function burst(org, prefix, events, hooks) {
  const answers = await Promise.all(Array.from({ length: events }, (_, n) => post(org, "/api/events", { id: `${prefix}-${n}`, type: "lead.created", data: { n } })));
  assert.deepEqual(answers.map((r) => r.status), Array(events).fill(202));
  const bodies = await Promise.all(answers.map((r) => r.json()));
  assert.deepEqual(bodies.map((b) => [b.id, b.deliveries]), Array.from({ length: events }, (_, n) => [`${prefix}-${n}`, hooks.length]));
  const stored = await worker.orgSql(org, `SELECT COUNT(*) AS n FROM events WHERE id LIKE '${prefix}-%'`);
  assert.equal(stored[0].n, events);
}

test("a single event's deliveries leave from its ingest: 2 calls to its organization's object, none to D1, no queue message; a failure's retry is enqueued", async () => {
  const org = "org_sai_1";
  const hooks = await webhooks(org, 3);
  const before = await usage();
  const res = await post(org, "/api/events", { id: "evt-direct", type: "lead.created", data: { n: 1 } });
  assert.equal(res.status, 202);
  assert.equal((await res.json()).deliveries, 3);
  await eventually(() => hooks.every((w) => arrivals(w.path).length === 2), { what: "the three deliveries" });
  const after = await eventually(async () => {
    const u = await usage();
    return u.objectCalls - before.objectCalls >= 2 && u;
  }, { what: "the record's call" });
  assert.equal(after.objectCalls - before.objectCalls, 2, "one call stores and claims, one records");
  assert.equal(after.d1Calls - before.d1Calls, 0, "D1 is not on the path of an event");
  assert.deepEqual(await statuses(org, "evt-direct"), ["succeeded", "succeeded", "succeeded"]);
  assert.equal(after.queueSendCalls - before.queueSendCalls, 0, "no queue message");
  assert.equal(after.fetches - before.fetches, 3);
  assert.equal((after.laneCalls ?? 0) - (before.laneCalls ?? 0), 0);
  for (const w of hooks) {
    const [, request] = arrivals(w.path);
    assert.equal(new Webhook(w.secret).verify(request.body, request.headers).id, "evt-direct");
  }

  // The first attempt to one endpoint fails: its retry goes on the queue with its delay and arrives.
  const failing = hooks[0];
  let refused = false;
  receiver.respond((r) => (r.url === failing.path && !refused ? ((refused = true), { status: 503 }) : { status: 200 }));
  const queued = (await usage()).queueMessagesSent;
  assert.equal((await post(org, "/api/events", { id: "evt-retry", type: "lead.created", data: { n: 2 } })).status, 202);
  await eventually(() => arrivals(failing.path).length === 4, { timeoutMs: 20000, what: "the retry" });
  const [first, retry] = arrivals(failing.path).slice(2);
  assert.equal(first.headers["webhook-id"], retry.headers["webhook-id"]);
  assert.equal(first.body.toString(), retry.body.toString(), "the retry sends the same bytes");
  assert.ok((await usage()).queueMessagesSent - queued >= 1, "the retry was enqueued");
  await eventually(async () => (await statuses(org, "evt-retry")).every((s) => s === "succeeded"), { what: "all of evt-retry succeeded" });
  receiver.respond(() => ({ status: 200 }));
});

test("a success kept in its event's round (no row of its own) is found, logged, counted and retried like any delivery", async () => {
  const org = "org_sai_4";
  const hooks = await webhooks(org, 2);
  assert.equal((await post(org, "/api/events", { id: "evt-kept", type: "lead.created", data: { kept: true } })).status, 202);
  await eventually(async () => (await statuses(org, "evt-kept")).length === 2 && (await statuses(org, "evt-kept")).every((s) => s === "succeeded"), { what: "both recorded" });
  assert.deepEqual(await worker.orgSql(org, "SELECT id FROM deliveries WHERE event_id = 'evt-kept'"), [], "no delivery row: the successes are in the event's row");
  const [hook] = hooks;
  const sent = arrivals(hook.path).find((r) => JSON.parse(r.body).id === "evt-kept");
  const id = sent.headers["webhook-id"];
  // The delivery's page: its id, status, the bytes sent and the attempt.
  const page = await worker.api(`/api/webhooks/${hook.id}/deliveries/${id}`, { headers: auth(org) });
  assert.equal(page.status, 200);
  const detail = await page.json();
  assert.equal(detail.id, id);
  assert.equal(detail.status, "succeeded");
  assert.equal(detail.body, sent.body.toString(), "the bytes the receiver got");
  assert.deepEqual(detail.attempts.map((a) => [a.attempt, a.statusCode]), [[1, 200]]);
  // The webhook's log lists it once, first; the event lists both succeeded; the counts hold both.
  const log = await (await worker.api(`/api/webhooks/${hook.id}/deliveries?limit=1`, { headers: auth(org) })).json();
  assert.deepEqual(log.data.map((d) => [d.id, d.status, d.attempts]), [[id, "succeeded", 1]]);
  assert.equal(log.total, 2, "the warm-up's and this one");
  const next = await (await worker.api(`/api/webhooks/${hook.id}/deliveries?limit=1&iterator=${log.iterator}`, { headers: auth(org) })).json();
  assert.equal(next.data.length, 1);
  assert.notEqual(next.data[0].id, id, "the next page goes on after it");
  const event = await (await worker.api("/api/events/evt-kept", { headers: auth(org) })).json();
  assert.deepEqual(event.deliveries.map((d) => d.status), ["succeeded", "succeeded"]);
  const stats = async () => (await (await worker.api("/api/webhooks/stats", { headers: auth(org) })).json());
  // The alarm has counted the round's successes (so the retry's row takes its place in the counts).
  await eventually(async () => (await worker.orgSql(org, "SELECT rounds_counted_to > (SELECT rowid FROM events WHERE id = 'evt-kept') AS counted FROM organization"))[0].counted === 1, { what: "the round counted" });
  const before = await stats();
  assert.equal(before.deliveries.last24h.succeeded, 4, "the warm-up's two and these two");
  // A manual retry sends it again, with its id, and the delivery then has a row with both attempts.
  const retried = await worker.api(`/api/webhooks/${hook.id}/deliveries/${id}/retry`, { method: "POST", headers: auth(org) });
  assert.equal(retried.status, 200);
  await eventually(() => arrivals(hook.path).filter((r) => r.headers["webhook-id"] === id).length === 2, { what: "the retry" });
  const after = await (await worker.api(`/api/webhooks/${hook.id}/deliveries/${id}`, { headers: auth(org) })).json();
  assert.deepEqual(after.attempts.map((a) => a.attempt), [1, 2]);
  assert.equal(after.body, detail.body, "the same bytes");
  assert.equal((await worker.orgSql(org, `SELECT COUNT(*) AS n FROM deliveries WHERE id = '${id}'`))[0].n, 1, "its row");
  const relisted = await (await worker.api(`/api/webhooks/${hook.id}/deliveries`, { headers: auth(org) })).json();
  assert.equal(relisted.data.filter((d) => d.id === id).length, 1, "listed once");
  assert.equal(relisted.total, 2);
  assert.deepEqual((await stats()).deliveries.last24h, before.deliveries.last24h, "counted once (the retry's attempt joins the average response time)");
});

test("one event's receivers answering different success codes (200, 204) are each recorded at once from the ingest's round, and sent once", async () => {
  const org = "org_sai_6";
  const hooks = await webhooks(org, 2);
  receiver.respond((r) => (r.url === hooks[1].path ? { status: 204 } : { status: 200 }));
  try {
    assert.equal((await post(org, "/api/events", { id: "evt-codes", type: "lead.created", data: { codes: true } })).status, 202);
    await eventually(async () => (await statuses(org, "evt-codes")).length === 2 && (await statuses(org, "evt-codes")).every((s) => s === "succeeded"), { what: "both recorded" });
    const event = await (await worker.api("/api/events/evt-codes", { headers: auth(org) })).json();
    for (const [hook, code] of [[hooks[0], 200], [hooks[1], 204]]) {
      const sent = arrivals(hook.path).filter((r) => JSON.parse(r.body).id === "evt-codes");
      assert.equal(sent.length, 1, `${hook.path}: sent once (a success left unrecorded would be sent again by the alarm)`);
      const id = sent[0].headers["webhook-id"];
      const detail = await (await worker.api(`/api/webhooks/${hook.id}/deliveries/${id}`, { headers: auth(org) })).json();
      assert.deepEqual(detail.attempts.map((a) => [a.attempt, a.statusCode]), [[1, code]], `${hook.path}: its one attempt logged`);
      assert.ok(event.deliveries.some((d) => d.id === id && d.status === "succeeded"));
    }
    // The round's lease passes and the alarm runs (every 2 s): nothing is sent again.
    const lease = (await worker.orgSql(org, "SELECT round_lease FROM events WHERE id = 'evt-codes'"))[0].round_lease;
    await eventually(async () => Date.now() > lease + 4000, { timeoutMs: 60000, intervalMs: 500, what: "the lease and two alarms past" });
    for (const hook of hooks) assert.equal(arrivals(hook.path).filter((r) => JSON.parse(r.body).id === "evt-codes").length, 1, `${hook.path}: still once`);
  } finally {
    receiver.respond(() => ({ status: 200 }));
  }
});

test("ingests arriving together are each answered with their own event, stored once, sent from their own invocation and logged once per attempt", async () => {
  const org = "org_sai_3";
  const hooks = await webhooks(org, 2);
  const before = await usage();
  const events = 24;
  await burst(org, "evt-burst", events, hooks);
  const perDelivery = () =>
    worker.orgSql(org, `SELECT d.status, d.lease_until,
                          (SELECT COUNT(*) FROM attempts a WHERE a.delivery_id = d.id) + (d.first_attempt IS NOT NULL) AS attempts
                        FROM ${DELIVERIES} d WHERE d.event_id LIKE 'evt-burst-%'`);
  await eventually(async () => {
    const rows = await perDelivery();
    return rows.length === events * hooks.length && rows.every((r) => r.status === "succeeded");
  }, { what: "every burst delivery recorded succeeded" });
  for (const row of await perDelivery()) {
    assert.equal(row.attempts, 1, "one attempt logged per delivery (a successful first attempt in its delivery's row)");
    assert.equal(row.lease_until, null);
  }
  for (const w of hooks) assert.equal(arrivals(w.path).filter((r) => JSON.parse(r.body).id.startsWith("evt-burst-")).length, events);
  const after = await usage();
  const calls = after.objectCalls - before.objectCalls;
  assert.ok(calls >= events && calls <= 2 * events, `one call to store and claim each event, one to record its sends (${calls} for ${events})`);
  assert.equal(after.d1Calls - before.d1Calls, 0, "no D1 call");
  assert.equal(after.queueSendCalls - before.queueSendCalls, 0, "no queue message");
});

test("an ingest cut off after its answer loses nothing: the organization's alarm writes and sends the delivery of its lost round once the lease has passed, with the same id and bytes", async () => {
  const org = "org_sai_2";
  const [hook] = await webhooks(org, 1);
  // The receiver holds the request: the runtime dies with the send in flight.
  receiver.respond((r) => (r.url === hook.path ? { status: 200, delayMs: 20000 } : { status: 200 }));
  assert.equal((await post(org, "/api/events", { id: "evt-cut", type: "lead.created", data: { cut: true } })).status, 202);
  await eventually(() => arrivals(hook.path).length === 2, { what: "the send in flight" });
  await worker.stop({ keepState: true, crash: true });
  receiver.respond(() => ({ status: 200 }));
  worker = await startWorker({ vars: VARS, persist: worker.persist });
  // The round's delivery has no row yet (its record writes it): the event's row lists it, with the round's lease.
  assert.deepEqual(await worker.orgSql(org, "SELECT id FROM deliveries WHERE event_id = 'evt-cut'"), []);
  const [event] = await worker.orgSql(org, "SELECT delivery_stem, json_extract(round, '$[0][0]') AS number, json_extract(round, '$[0][1]') AS webhook, round_lease FROM events WHERE id = 'evt-cut'");
  assert.equal(event.webhook, hook.id);
  assert.ok(event.round_lease > Date.now(), "still leased to the sends that died");
  const id = `dlv_${event.delivery_stem}${event.number}`;
  const listed = await (await worker.api("/api/events/evt-cut", { headers: auth(org) })).json();
  assert.deepEqual(listed.deliveries.map((d) => [d.id, d.status]), [[id, "pending"]], "the event shows it pending meanwhile");
  // So does the delivery's own page, with the bytes the send that died carried; a manual retry waits for that attempt.
  const page = await worker.api(`/api/webhooks/${hook.id}/deliveries/${id}`, { headers: auth(org) });
  assert.equal(page.status, 200);
  const detail = await page.json();
  assert.deepEqual([detail.id, detail.status, detail.attempts], [id, "pending", []]);
  assert.equal(detail.body, arrivals(hook.path)[1].body.toString());
  const retry = await worker.api(`/api/webhooks/${hook.id}/deliveries/${id}/retry`, { method: "POST", headers: auth(org) });
  assert.equal(retry.status, 409);
  assert.equal((await retry.json()).error.code, "attempt_in_progress");
  // Time passes (the lease): the object's alarm, armed since its first write, writes the row as the ingest claimed it.
  await worker.orgSql(org, `UPDATE events SET round_lease = ${Date.now() - 1000} WHERE id = 'evt-cut'`);
  const [row] = await eventually(async () => {
    const rows = await worker.orgSql(org, `SELECT id, status, attempts, lease_until FROM deliveries WHERE event_id = 'evt-cut'`);
    return rows.length === 1 && rows;
  }, { timeoutMs: 20000, what: "the row of the lost round's delivery" });
  assert.equal(row.id, id);
  assert.equal(row.attempts, 1, "claimed by the ingest");
  // And the overdue margin: its search for lost sends re-enqueues it.
  await worker.orgSql(org, `UPDATE deliveries SET next_attempt_at = ${Date.now() - 120000} WHERE id = '${id}'`);
  await eventually(() => arrivals(hook.path).length === 3, { timeoutMs: 20000, what: "the delivery the alarm re-enqueued" });
  const [, cut, swept] = arrivals(hook.path);
  assert.equal(swept.headers["webhook-id"], id);
  assert.equal(cut.headers["webhook-id"], id);
  assert.equal(swept.body.toString(), cut.body.toString(), "the same bytes as the attempt that died");
  await eventually(async () => (await statuses(org, "evt-cut"))[0] === "succeeded", { what: "the delivery recorded as succeeded" });
});

test("ingests whose clients hang up mid-request leave nothing stuck: the next ones are answered, and every stored event is delivered", async () => {
  const org = "org_sai_5";
  const hooks = await webhooks(org, 2);
  for (let round = 0; round < 3; round++) {
    // 16 at once, each abandoned by its client a few milliseconds in (while others' storage calls are on their way).
    await Promise.allSettled(Array.from({ length: 16 }, (_, n) => {
      const hangUp = new AbortController();
      setTimeout(() => hangUp.abort(), 1 + (n % 4));
      return fetch(`${worker.url}/api/events`, { method: "POST", headers: auth(org), body: JSON.stringify({ id: `evt-gone-${round}-${n}`, type: "lead.created", data: { n } }), signal: hangUp.signal });
    }));
    await burst(org, `evt-next-${round}`, 8, hooks);
  }
  // Whatever of the abandoned ingests was stored has its deliveries, and they are delivered like any accepted
  // event's: sent and recorded, or (if an invocation stopped with them) listed in their event's round for the
  // organization's alarm.
  const stored = (await worker.orgSql(org, "SELECT id FROM events WHERE id LIKE 'evt-%'")).map((r) => r.id);
  const rows = () => worker.orgSql(org, `SELECT status, lease_until FROM ${DELIVERIES} WHERE event_id LIKE 'evt-%'`);
  // Time passes for any round left behind (its lease): the alarm writes its rows.
  await worker.orgSql(org, `UPDATE events SET round_lease = ${Date.now() - 1000} WHERE round IS NOT NULL`);
  await eventually(async () => {
    const now = await rows();
    return now.length === stored.length * hooks.length && now.every((r) => r.status === "succeeded" || r.lease_until !== null);
  }, { timeoutMs: 20000, what: "every stored event's deliveries sent or written by the alarm, claimed" });
  // And the overdue margin: the alarm resends what is still claimed.
  await worker.orgSql(org, `UPDATE deliveries SET lease_until = ${Date.now() - 1000}, next_attempt_at = ${Date.now() - 120000}
                            WHERE status = 'pending' AND lease_until IS NOT NULL`);
  await eventually(async () => (await rows()).every((r) => r.status === "succeeded"), { timeoutMs: 30000, what: "every stored event's deliveries succeeded" });
  for (const w of hooks) {
    const ids = arrivals(w.path).map((r) => JSON.parse(r.body).id).filter((id) => id.startsWith("evt-"));
    assert.deepEqual([...new Set(ids)].sort(), [...stored].sort(), "each stored event reached each endpoint");
  }
});

test("each organization's data lives in its own object: another organization's object holds none of it", async () => {
  const [a, b] = ["org_sai_own_a", "org_sai_own_b"];
  await webhooks(a, 1);
  assert.equal((await post(b, "/api/events", { id: "evt-b-only", type: "lead.created", data: {} })).status, 202);
  const held = async (org) => (await worker.orgSql(org, "SELECT organization_id AS org FROM events UNION SELECT organization_id FROM webhooks")).map((r) => r.org);
  assert.deepEqual(await held(a), [a]);
  assert.deepEqual(await held(b), [b]);
  // And the object knows whose it is: it answers to its own organization's name only.
  assert.deepEqual(await worker.orgSql(a, "SELECT id FROM organization"), [{ id: a }]);
});
