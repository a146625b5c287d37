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
