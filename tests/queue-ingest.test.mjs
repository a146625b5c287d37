// Events published straight to the events queue by another Worker: good messages fan out like API events; a bad
// message is recorded and dead-lettered with its reason and does not fail the rest of its batch.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "../verifier-wasm/pkg/node.mjs";
import { startWorker, startReceiver, token, eventually, DELIVERIES } from "./harness.mjs";

let worker;
let receiver;
before(async () => {
  receiver = await startReceiver();
  // The faults make the consumer hand every event message back to the queue once after ingesting it, as if the
  // invocation had died there (the queue delivers it again with the same message id), and fail the first
  // dead-letter write of each bad message.
  worker = await startWorker({ configs: ["tests/fixtures/publisher.toml"], vars: { TEST_FAULTS: "retry-event-messages-once,fail-dead-letters-once", EXPOSE_USAGE: "true" } });
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

const deadLetters = () => worker.sql("SELECT queue, body, reason FROM dead_letters");

test("a batch with good and bad messages: the good ones are delivered, the bad one is dead-lettered with its reason, once, though its first dead-letter write failed", async () => {
  const org = "org_queue";
  const auth = { authorization: `Bearer ${token({ org })}`, "content-type": "application/json" };
  const created = await worker.api("/api/webhooks", { method: "POST", headers: auth, body: JSON.stringify({ name: "q", url: `${receiver.url}/q`, events: ["lead.*"] }) });
  assert.equal(created.status, 201);
  const { secret } = await created.json();
  const publish = await worker.api("/__publish", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([
      { organizationId: org, type: "lead.created", data: { n: 1 }, id: "q-1" },
      { organizationId: org, type: "lead.exploded", data: { n: 2 } },
      { organizationId: org, type: "lead.updated", data: { n: 3 }, changes: { email: { from: "a@x", to: "b@x" } } },
      { organizationId: org, type: "lead.created", data: { n: 1 }, id: "q-1" },
    ]),
  });
  assert.equal(publish.status, 204);
  const arrived = await eventually(() => receiver.requests.length >= 2 && receiver.requests, { timeoutMs: 30000, what: "the two good events" });
  const bodies = arrived.map((r) => new Webhook(secret).verify(r.body, r.headers));
  assert.deepEqual(bodies.map((b) => b.data.n).sort(), [1, 3]);
  assert.deepEqual(bodies.find((b) => b.data.n === 3).changes, { email: { from: "a@x", to: "b@x" } });
  const dead = await eventually(() => { const rows = deadLetters(); return rows.length === 1 && rows; }, { timeoutMs: 30000, what: "the dead letter" });
  assert.equal(dead[0].queue, "edgehook-events");
  assert.match(dead[0].reason, /unknown event type "lead.exploded"/);
  assert.equal(JSON.parse(dead[0].body).data.n, 2);
  assert.equal(receiver.requests.length, 2, "the repeated id q-1 is delivered once");
  const usage = await (await worker.api("/__usage")).json();
  assert.equal(usage.deadLettersFailed, 1, "the first dead-letter write failed, and its message went back to the queue");
  assert.equal(deadLetters().length, 1, "and was dead-lettered once");
});

async function subscribe(org, path, events) {
  const auth = { authorization: `Bearer ${token({ org })}`, "content-type": "application/json" };
  const created = await worker.api("/api/webhooks", { method: "POST", headers: auth, body: JSON.stringify({ name: path, url: `${receiver.url}${path}`, events }) });
  assert.equal(created.status, 201);
  return created.json();
}

const publish = (messages) =>
  worker.api("/__publish", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(messages) });

test("an event without an id that the queue delivers twice is ingested and delivered once", async () => {
  const org = "org_queue_retry";
  const { secret } = await subscribe(org, "/retry", ["deal.won"]);
  const retries = async () => (await (await worker.api("/__usage")).json()).queueRetries;
  const retriedBefore = await retries();
  assert.equal((await publish([{ organizationId: org, type: "deal.won", data: { deal: "d-1" } }])).status, 204);
  const [request] = await eventually(() => receiver.requests.filter((r) => r.url === "/retry").length >= 1 && receiver.requests.filter((r) => r.url === "/retry"), { timeoutMs: 30000, what: "the delivery" });
  const body = new Webhook(secret).verify(request.body, request.headers);
  assert.match(body.id, /^evt_/);
  // The retried message has been consumed again by now (the fault acks it the second time); still one event.
  const events = await eventually(async () => {
    const rows = await worker.orgSql(org, "SELECT id FROM events");
    const pendingRetry = (await worker.orgSql(org, `SELECT COUNT(*) AS n FROM ${DELIVERIES}`))[0].n;
    return rows.length >= 1 && pendingRetry >= 1 && rows;
  }, { timeoutMs: 30000, what: "the event row" });
  assert.deepEqual(events, [{ id: body.id }]);
  await eventually(async () => (await retries()) > retriedBefore, { what: "the queue to have been asked to deliver the message again" });
  assert.equal((await worker.orgSql(org, `SELECT COUNT(*) AS n FROM ${DELIVERIES}`))[0].n, 1);
  assert.equal(receiver.requests.filter((r) => r.url === "/retry").length, 1);
});

test("queue events keep their data as sent: a string body byte for byte, an object as JSON.stringify gives it", async () => {
  const org = "org_queue_verbatim";
  const { secret } = await subscribe(org, "/verbatim", ["order.completed"]);
  const data = '{"amount":1.50,"id":12345678901234567890123,"note":"caf\\u00e9","z":1,"a":2}';
  const text = `{"organizationId":"${org}","type":"order.completed","id":"inv-1","data":${data}}`;
  const object = { organizationId: org, type: "order.completed", id: "inv-2", data: { z: 1, a: [2.5, "é"] } };
  assert.equal((await publish([text, object])).status, 204);
  const got = await eventually(() => {
    const r = receiver.requests.filter((x) => x.url === "/verbatim");
    return r.length === 2 && r;
  }, { timeoutMs: 30000, what: "both deliveries" });
  const byId = Object.fromEntries(got.map((r) => [new Webhook(secret).verify(r.body, r.headers).id, r.body.toString("utf8")]));
  assert.ok(byId["inv-1"].includes(`"data":${data}`), byId["inv-1"]);
  assert.ok(byId["inv-2"].includes('"data":{"z":1,"a":[2.5,"é"]}'), byId["inv-2"]);
});
