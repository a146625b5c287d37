// A webhook's lane (its Durable Object) keeps the deliveries it holds in its own storage: when the runtime dies and
// comes back, the lane carries on with its list. The organization's alarm is hours away here, so nothing else could
// deliver them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, startReceiver, token, eventually, DELIVERIES } from "./harness.mjs";

const ORG = "org_lane_restart";
const VARS = { DELIVERY_TIMEOUT_SECONDS: "2", EXPOSE_USAGE: "true", HOUSEKEEPING_SECONDS: "3600", CIRCUIT_COOLDOWN_SECONDS: "8" };
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

test("an open circuit keeps its state, its cool-down and its waiting deliveries across a crash of the runtime", async () => {
  const org = "org_circuit_restart";
  const auth = { authorization: `Bearer ${token({ org })}`, "content-type": "application/json" };
  const call = async (method, path, body) => {
    const res = await fetch(`${worker.url}${path}`, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  const created = await call("POST", "/api/webhooks", { name: "down", url: `${receiver.url}/down`, events: ["task.created"], retryAttempts: 10, retryDelaySeconds: 1 });
  assert.equal(created.status, 201);
  const hook = created.body;
  let healthy = false;
  receiver.respond((r) => (r.url === "/down" && !healthy ? { status: 500, body: "down" } : { status: 200 }));
  const events = Array.from({ length: 12 }, (_, i) => ({ type: "task.created", data: { n: i + 1 } }));
  assert.equal((await call("POST", "/api/events/batch", { events })).status, 200);
  const circuit = async () => (await call("GET", `/api/webhooks/${hook.id}`)).body.circuit;
  const open = await eventually(async () => { const c = await circuit(); return c.state === "open" && c; }, { timeoutMs: 60000, intervalMs: 200, what: "the circuit to open" });

  await worker.stop({ keepState: true, crash: true });
  // Back with the organization's alarm every 2 s: the retries whose queue messages died with the runtime are its
  // to find (a minute after they were due).
  worker = await startWorker({ vars: { ...VARS, HOUSEKEEPING_SECONDS: "2" }, persist: worker.persist });
  // The webhook's object and its lane both kept the circuit: the same state and the same times.
  const after = await circuit();
  assert.deepEqual(after, open);
  const pending = await worker.orgSql(org, "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'");
  assert.equal(pending[0].n, 12, "every delivery still waits, with its budget");

  // The endpoint recovers; one more event wakes the lane (local queues did not survive the crash), its probe after
  // the cool-down closes the circuit, and every delivery arrives.
  healthy = true;
  assert.equal((await call("POST", "/api/events", { type: "task.created", data: { n: 13 } })).status, 202);
  await eventually(async () => (await circuit()).state === "closed", { timeoutMs: 60000, intervalMs: 250, what: "the circuit to close" });
  await eventually(async () => (await worker.orgSql(org, `SELECT COUNT(*) AS n FROM ${DELIVERIES} WHERE status = 'succeeded'`))[0].n === 13, { timeoutMs: 150000, intervalMs: 500, what: "all 13 delivered" });
  receiver.respond(() => ({ status: 200 }));
});
