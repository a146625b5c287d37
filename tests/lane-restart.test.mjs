// A webhook's lane (its Durable Object) keeps the deliveries it holds in its own storage: when the runtime dies and
// comes back, the lane carries on with its list. The organization's alarm is hours away here, so nothing else could
// deliver them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, startReceiver, token, eventually } from "./harness.mjs";

const ORG = "org_lane_restart";
const VARS = { DELIVERY_TIMEOUT_SECONDS: "2", EXPOSE_USAGE: "true", HOUSEKEEPING_SECONDS: "3600" };
let worker;
let receiver;
before(async () => {
  receiver = await startReceiver();
  // The organizations' housekeeping alarm hourly, so nothing but the lane could send what it holds.
  worker = await startWorker({ vars: VARS });
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

test("a lane's waiting deliveries survive a crash of the runtime and arrive after it, without the organization's alarm", async () => {
  const auth = { authorization: `Bearer ${token({ org: ORG })}`, "content-type": "application/json" };
  const api = (path, body) => fetch(`${worker.url}${path}`, { method: "POST", headers: auth, body: JSON.stringify(body) });
  const created = await api("/api/webhooks", { name: "slow lane", url: `${receiver.url}/lane`, events: ["task.created"], rateLimitPerSecond: 1 });
  assert.equal(created.status, 201);
  const events = Array.from({ length: 10 }, (_, i) => ({ type: "task.created", data: { n: i + 1 } }));
  assert.equal((await api("/api/events/batch", { events })).status, 200);
  const arrivals = () => receiver.requests.filter((r) => r.url === "/lane");
  await eventually(() => arrivals().length >= 1, { timeoutMs: 30000, what: "the lane's first send" });

  await worker.stop({ keepState: true, crash: true });
  // What only the lane holds: deliveries never claimed (attempts 0); those in flight at the crash are the sweeper's.
  const persist = worker.persist;
  worker = await startWorker({ vars: VARS, persist });
  const waiting = (await worker.orgSql(ORG, "SELECT id FROM deliveries WHERE attempts = 0 AND status = 'pending'")).map((r) => r.id);
  assert.ok(waiting.length >= 3, `${waiting.length} deliveries were waiting in the lane at the crash`);

  // The restarted runtime's queue is empty (local queues live in memory); one more event wakes the lane.
  const more = await fetch(`${worker.url}/api/events`, { method: "POST", headers: auth, body: JSON.stringify({ type: "task.created", data: { n: 11 } }) });
  assert.equal(more.status, 202);
  const arrivedIds = () => new Set(arrivals().map((r) => r.headers["webhook-id"]));
  await eventually(() => waiting.every((id) => arrivedIds().has(id)), {
    timeoutMs: 45000,
    intervalMs: 200,
    what: `the ${waiting.length} deliveries the lane held`,
  });
});
