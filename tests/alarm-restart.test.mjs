// The runtime killed in the middle of an organization's alarm: the alarm has marked a lost delivery as re-enqueued
// but its queue message never went out. After the restart the delivery is found again and arrives exactly once,
// with the same `webhook-id`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, startReceiver, token, eventually } from "./harness.mjs";

const ORG = "org_alarm_restart";
// The alarm every 2 s; a delivery it re-enqueued is left alone for five intervals (10 s) before it looks again.
const VARS = { EXPOSE_USAGE: "true", HOUSEKEEPING_SECONDS: "2" };
let worker;
let receiver;
before(async () => {
  receiver = await startReceiver();
  worker = await startWorker({ vars: { ...VARS, TEST_FAULTS: "stall-alarm-after-take" } });
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

test("an alarm killed between taking a lost delivery and sending it loses nothing: the delivery arrives once after the restart", async () => {
  const auth = { authorization: `Bearer ${token({ org: ORG })}`, "content-type": "application/json" };
  const created = await fetch(`${worker.url}/api/webhooks`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ name: "alarm", url: `${receiver.url}/alarm`, events: ["activity.created"] }),
  });
  assert.equal(created.status, 201);
  const hook = await created.json();
  const id = "dlv_alarmkill1";
  const body = JSON.stringify({ id: "evt_alarmkill", type: "activity.created", timestamp: new Date().toISOString(), organizationId: ORG, deliveryId: id, data: { n: 1 } });
  const past = Date.now() - 5 * 60 * 1000;
  // Pending and overdue with no queue message behind it: only the organization's alarm can find it.
  await worker.orgSql(ORG, `INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, next_attempt_at, created_at, updated_at)
              VALUES ('${id}', '${ORG}', '${hook.id}', 'evt_alarmkill', 'activity.created', '${body}', 'pending', 0, ${past}, ${past}, ${past})`);
  const row = async () => (await worker.orgSql(ORG, `SELECT status, requeued_at FROM deliveries WHERE id = '${id}'`))[0];
  // The alarm marks it taken, then stalls before the queue send (the test fault); the runtime dies there.
  await eventually(async () => (await row())?.requeued_at != null, { timeoutMs: 30000, intervalMs: 200, what: "the alarm to take the delivery" });
  const arrivals = () => receiver.requests.filter((r) => r.url === "/alarm");
  assert.equal(arrivals().length, 0, "the stalled alarm sent nothing");
  await worker.stop({ keepState: true, crash: true });

  worker = await startWorker({ vars: VARS, persist: worker.persist });
  const [request] = await eventually(() => arrivals().length >= 1 && arrivals(), { timeoutMs: 60000, intervalMs: 250, what: "the delivery after the restart" });
  assert.equal(request.headers["webhook-id"], id);
  assert.equal(JSON.parse(request.body).data.n, 1);
  await eventually(async () => (await row())?.status === "succeeded", { what: "the delivery recorded" });
  // Recorded as succeeded: no later alarm takes it again. One arrival, not two.
  assert.equal(arrivals().length, 1);
});

test("a delivery whose attempts keep ending without a result ends failed with the reason; one lost once is sent again", async () => {
  const auth = { authorization: `Bearer ${token({ org: ORG })}`, "content-type": "application/json" };
  const created = await fetch(`${worker.url}/api/webhooks`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ name: "lost", url: `${receiver.url}/lost`, events: ["activity.created"] }),
  });
  assert.equal(created.status, 201);
  const hook = await created.json();
  const watching = await fetch(`${worker.url}/api/webhooks`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ name: "operations", url: `${receiver.url}/operations`, events: ["edgehook.delivery.exhausted"] }),
  });
  assert.equal(watching.status, 201);
  const past = Date.now() - 5 * 60 * 1000;
  // Two deliveries whose last attempt's invocation was lost (their lease ran out with no result): one had lost the
  // two before it as well, the other none.
  const insert = async (id, attempts, lostBefore) => {
    const body = JSON.stringify({ id: `evt_${id}`, type: "activity.created", timestamp: new Date(past).toISOString(), organizationId: ORG, deliveryId: id, data: { id } });
    await worker.orgSql(ORG, `INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, lost_attempts, next_attempt_at, lease_until, created_at, updated_at)
              VALUES ('${id}', '${ORG}', '${hook.id}', 'evt_${id}', 'activity.created', '${body}', 'pending', ${attempts}, ${lostBefore}, ${past}, ${past + 30000}, ${past}, ${past})`);
  };
  await insert("dlv_lostthrice", 3, 2);
  await insert("dlv_lostonce", 1, 0);
  const row = async (id) => (await worker.orgSql(ORG, `SELECT status, attempts, lost_attempts, last_error FROM deliveries WHERE id = '${id}'`))[0];
  const arrivals = (id) => receiver.requests.filter((r) => r.url === "/lost" && r.headers["webhook-id"] === id);

  const once = await eventually(async () => { const r = await row("dlv_lostonce"); return r?.status === "succeeded" && r; }, { timeoutMs: 60000, intervalMs: 250, what: "the delivery lost once, sent again" });
  // Its result ended the count of lost attempts.
  assert.deepEqual([once.attempts, once.lost_attempts], [2, 0]);
  assert.equal(arrivals("dlv_lostonce").length, 1);

  const failed = await eventually(async () => { const r = await row("dlv_lostthrice"); return r?.status === "failed" && r; }, { timeoutMs: 60000, intervalMs: 250, what: "the delivery lost three times, failed" });
  // The claim that found the third lease made it four attempts, three of them lost; it sent nothing.
  assert.equal(failed.attempts, 4);
  assert.match(failed.last_error, /its last 3 attempts ended without a result/);
  assert.equal(arrivals("dlv_lostthrice").length, 0, "not sent a fourth time");
  // The API and its attempt log say why, and nothing retries it: it stays failed through later alarms.
  const res = await fetch(`${worker.url}/api/webhooks/${hook.id}/deliveries/dlv_lostthrice`, { headers: auth });
  assert.equal(res.status, 200);
  const delivery = await res.json();
  assert.equal(delivery.status, "failed");
  // The attempts before it left no record (their invocations were lost); the one that refused to send did.
  assert.equal(delivery.attempts.length, 1, JSON.stringify(delivery.attempts));
  assert.match(delivery.attempts[0].error, /ended without a result/);
  // The organization hears of it as of any delivery that ran out: edgehook.delivery.exhausted, once.
  const reports = () => receiver.requests.filter((r) => r.url === "/operations").map((r) => JSON.parse(r.body));
  const [report] = await eventually(() => reports().length >= 1 && reports(), { what: "the exhausted report" });
  assert.equal(report.type, "edgehook.delivery.exhausted");
  assert.equal(report.data.deliveryId, "dlv_lostthrice");
  assert.match(report.data.error, /ended without a result/);
  const lastAlarm = Date.now();
  await eventually(async () => (await worker.orgSql(ORG, `SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'`))[0].n === 0, { what: "nothing left pending" });
  await eventually(() => Date.now() - lastAlarm > 5000, { timeoutMs: 10000, intervalMs: 500, what: "two more alarm intervals" });
  assert.equal((await row("dlv_lostthrice")).status, "failed");
  assert.equal(arrivals("dlv_lostthrice").length, 0);
  assert.equal(reports().length, 1);
});
