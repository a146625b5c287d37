// 10,000 deliveries waiting at once in one webhook's lane, whose line is the organization's object's rows, then
// stopped together. Production limits each SQL statement to 100 bound parameters (the local runtime enforces it
// too): the store chunks its statements, and none of these steps fails.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, startReceiver, token, eventually, DELIVERIES } from "./harness.mjs";

const ORG = "org_limits";
const EVENTS = 10_000;
let worker;
let receiver;
before(async () => {
  receiver = await startReceiver();
  worker = await startWorker({ vars: { EXPOSE_USAGE: "true" } });
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

const auth = { authorization: `Bearer ${token({ org: ORG })}`, "content-type": "application/json" };
const usage = async () => (await worker.api("/__usage")).json();

test("10,000 deliveries wait in one organization's object and one lane, and a delete stops them all", async () => {
  // One attempt a second: everything else waits in the webhook's lane.
  const created = await worker.api("/api/webhooks", {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ name: "one a second", url: `${receiver.url}/slow`, events: ["lead.created"], rateLimitPerSecond: 1 }),
  });
  assert.equal(created.status, 201);
  const webhook = await created.json();
  const before = await usage();
  for (let n = 0; n < EVENTS; n += 100) {
    const events = Array.from({ length: 100 }, (_, i) => ({ id: `lim-${n + i}`, type: "lead.created", data: { n: n + i } }));
    const res = await worker.api("/api/events/batch", { method: "POST", headers: auth, body: JSON.stringify({ events }) });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).accepted, 100);
  }
  const count = async (where) => (await worker.orgSql(ORG, `SELECT COUNT(*) AS n FROM ${DELIVERIES} WHERE ${where}`))[0].n;
  // Every event is stored with its delivery: listed in its round (schema v22: no row until its consumer hands it to
  // the lane, which writes it) or, once handed over, as a row.
  const [{ n: events }] = await worker.orgSql(ORG, "SELECT COUNT(*) AS n FROM events WHERE round IS NOT NULL");
  assert.equal(events, EVENTS, "every event lists its delivery");
  await eventually(async () => (await count("1 = 1")) === EVENTS, { timeoutMs: 180000, intervalMs: 500, what: "every delivery's row" });
  // Every delivery was given to the lane (the consumer gives a claim back untouched, attempts 0, held by the lane),
  // a hundred per consumer invocation, each of which wakes the lane once.
  await eventually(async () => (await count("attempts = 0 AND lease_until IS NULL AND held_until IS NOT NULL")) >= EVENTS - 100, { timeoutMs: 180000, intervalMs: 500, what: "the deliveries given to the lane to wait in its line" });
  assert.ok((await usage()).laneCalls - before.laneCalls >= EVENTS / 100, "the lane woken once per consumer invocation");

  // Deleting the webhook fails every pending delivery at once; the lane then forgets all it holds.
  const deleted = await worker.api(`/api/webhooks/${webhook.id}`, { method: "DELETE", headers: auth });
  assert.equal(deleted.status, 204);
  await eventually(async () => (await count("status = 'pending'")) === 0, { timeoutMs: 30000, what: "every delivery stopped" });
  assert.ok((await count("status = 'failed' AND last_error = 'webhook deleted'")) >= EVENTS - 100);
  const arrived = receiver.requests.filter((r) => r.url === "/slow").length;
  assert.ok(arrived < 200, `the rate limit held: ${arrived} sent`);
  // Nothing is held any more: the lane's line is empty, and its next round finds the webhook gone.
  assert.equal(await count("held_until IS NOT NULL AND status = 'pending'"), 0);
  assert.doesNotMatch(worker.log(), /lane round failed|too many keys|SQLITE_RANGE|too many SQL variables/i);
});
