// Workers Free allows 50 subrequests per invocation (fetches and binding calls alike); the local runtime enforces
// none. With SUBREQUEST_BUDGET=50, a deliveries-queue invocation takes on only what fits in it and hands the rest
// back to the queue untouched: every invocation stays within 50, and every delivery still arrives once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, startReceiver, token, eventually, OK_WITH_LENGTH, DELIVERIES } from "./harness.mjs";

const ORG = "org_budget";
let worker;
let receiver;
before(async () => {
  receiver = await startReceiver();
  receiver.respond(() => OK_WITH_LENGTH);
  // The organization's alarm is an hour away: nothing but the queue sends these deliveries.
  worker = await startWorker({ vars: { SUBREQUEST_BUDGET: "50", EXPOSE_USAGE: "true", HOUSEKEEPING_SECONDS: "3600" } });
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

const auth = { authorization: `Bearer ${token({ org: ORG })}`, "content-type": "application/json" };
const usage = async () => (await worker.api("/__usage")).json();

test("with SUBREQUEST_BUDGET=50 no deliveries-queue invocation makes more than 50 subrequests, and all 200 deliveries arrive once", async () => {
  const created = await worker.api("/api/webhooks", { method: "POST", headers: auth, body: JSON.stringify({ name: "budget", url: `${receiver.url}/budget`, events: ["lead.created"] }) });
  assert.equal(created.status, 201);
  // The endpoint answers quickly once, so its deliveries take the consumer's path (not its lane).
  assert.equal((await worker.api("/api/events", { method: "POST", headers: auth, body: JSON.stringify({ id: "warm-up", type: "lead.created", data: {} }) })).status, 202);
  await eventually(() => receiver.requests.length === 1, { what: "the warm-up delivery" });
  const { queueRetries: retriesBefore, queueMessagesSent: sentBefore } = await usage();
  // Two batches of 100, one after the other: only the queue consumer runs while each is delivered.
  for (const round of [0, 1]) {
    const events = Array.from({ length: 100 }, (_, n) => ({ id: `b-${round}-${n}`, type: "lead.created", data: { n } }));
    const res = await worker.api("/api/events/batch", { method: "POST", headers: auth, body: JSON.stringify({ events }) });
    assert.equal((await res.json()).accepted, 100);
    await eventually(() => receiver.requests.length === 1 + 100 * (round + 1), { timeoutMs: 60000, what: `round ${round}'s 100 deliveries` });
    // Recorded too, so nothing of this round runs beside the next one's ingest.
    const succeeded = async () => (await worker.orgSql(ORG, `SELECT COUNT(*) AS n FROM ${DELIVERIES} WHERE status = 'succeeded'`))[0].n;
    await eventually(async () => (await succeeded()) === 1 + 100 * (round + 1), { what: `round ${round} recorded` });
  }
  const after = await usage();
  assert.ok(after.maxConsumerSubrequests > 0, "a consumer invocation ran");
  assert.ok(after.maxConsumerSubrequests <= 50, `an invocation made ${after.maxConsumerSubrequests} subrequests`);
  assert.ok(after.queueRetries > retriesBefore, "what did not fit went back to the queue");
  // A batch ingest's 100 deliveries share messages (ten to a message), re-enqueued remainders included.
  assert.ok(after.queueMessagesSent - sentBefore < 100, `${after.queueMessagesSent - sentBefore} messages for 200 deliveries`);
  const ids = receiver.requests.map((r) => JSON.parse(r.body.toString()).id);
  assert.equal(new Set(ids).size, ids.length, "each delivered once");
});
