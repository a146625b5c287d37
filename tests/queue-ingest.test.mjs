// Events published straight to the events queue by another Worker: good messages fan out like API events; a bad
// message is recorded and dead-lettered with its reason and does not fail the rest of its batch.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "../verifier-wasm/pkg/node.mjs";
import { startWorker, startReceiver, token, eventually } from "./harness.mjs";
import { devSecret } from "../scripts/token.mjs";

let worker;
let receiver;
before(async () => {
  receiver = await startReceiver();
  worker = await startWorker({ configs: ["tests/fixtures/publisher.toml"] });
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

const deadLetters = () => worker.sql("SELECT queue, body, reason FROM dead_letters");

test("a batch with good and bad messages: the good ones are delivered, the bad one is dead-lettered with its reason", async () => {
  const org = "org_queue";
  // In a multi-config session --var reaches only the first Worker: edgehook reads .dev.vars (make test creates it).
  const auth = { authorization: `Bearer ${token({ org, secret: devSecret() })}`, "content-type": "application/json" };
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
});
