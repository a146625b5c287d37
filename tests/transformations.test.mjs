// Transformations: a webhook's jq program makes the body each attempt signs, sends and logs. A program that fails
// or runs over its budget fails the attempt with the reason: the event is never sent in its place.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { startWorker, startReceiver, eventually } from "./harness.mjs";
import { loadSpec } from "./openapi.mjs";
import { client } from "./client.mjs";

let worker;
let receiver;
let spec;
let c;

before(async () => {
  receiver = await startReceiver();
  worker = await startWorker();
  spec = await loadSpec(worker);
  c = client(worker, spec, receiver, "jq");
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

async function publish(o, event) {
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: JSON.stringify(event) });
  const text = await res.text();
  assert.equal(res.status, 202, text);
  return JSON.parse(text).id;
}

/** The webhook's deliveries once `count` of them are no longer pending, newest first, each with its attempts. */
async function settled(o, hook, count) {
  return eventually(
    async () => {
      const list = await c.api(o, "GET", `/api/webhooks/${hook.id}/deliveries`, undefined, { template: "/api/webhooks/{id}/deliveries" });
      const done = list.body.data.filter((d) => d.status !== "pending");
      if (done.length < count) return undefined;
      return Promise.all(
        done.map(async (d) => {
          const one = await c.api(o, "GET", `/api/webhooks/${hook.id}/deliveries/${d.id}`, undefined, { template: "/api/webhooks/{id}/deliveries/{deliveryId}" });
          assert.equal(one.status, 200);
          return one.body;
        }),
      );
    },
    { what: `${count} settled deliveries of ${hook.id}` },
  );
}

/** A polling webhook of `o` with the transformation `jq`, a token to read it, and a reader checked against the spec. */
async function transformingPoller(o, name, jq) {
  const created = await c.api(o, "POST", "/api/webhooks", { name, events: ["deal.*"], destination: { type: "poll" }, transformation: { jq } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const hook = created.body;
  const { token } = (await c.api(o, "POST", `/api/webhooks/${hook.id}/poll-tokens`, undefined, { template: "/api/webhooks/{id}/poll-tokens" })).body;
  const read = async (query = "") => {
    const res = await worker.api(`/api/poll/${hook.id}${query}`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    spec.check("GET", "/api/poll/{id}", res.status, body);
    return body;
  };
  return { hook, read };
}

test("the Slack preset makes the body Slack accepts; it is what is signed, sent and logged, and the event is kept as sent", async () => {
  const o = c.org();
  const presets = await c.api(o, "GET", "/api/transformation-presets");
  assert.equal(presets.status, 200);
  assert.deepEqual(presets.body.data.map((p) => p.name), ["slack", "discord", "teams"]);
  const slack = presets.body.data[0].jq;
  const hook = await c.webhook(o, { events: ["deal.*"], transformation: { jq: slack } });
  assert.deepEqual(hook.transformation, { jq: slack });
  assert.deepEqual((await c.api(o, "GET", `/api/webhooks/${hook.id}`, undefined, { template: "/api/webhooks/{id}" })).body.transformation, { jq: slack });
  const plain = await c.webhook(o, { events: ["deal.*"] });

  const eventId = await publish(o, { type: "deal.won", data: { name: "Acme renewal", amount: 1.5, stage: "won" } });
  const [arrived] = await eventually(() => (c.arrivals(hook.path).length ? c.arrivals(hook.path) : undefined), { what: "the Slack body" });
  const text = arrived.body.toString();
  const slackBody = JSON.parse(text);
  assert.equal(slackBody.text, "deal.won: Acme renewal");
  assert.equal(slackBody.blocks[0].type, "section");
  assert.ok(!("data" in slackBody), "the event itself is not sent");
  // Signed over the transformed body: the receiver's verifier accepts it as it arrived.
  assert.deepEqual(new Webhook(hook.secret).verify(text, arrived.headers), slackBody);
  // The plain twin gets the event exactly as ever.
  const [plainArrival] = await eventually(() => (c.arrivals(plain.path).length ? c.arrivals(plain.path) : undefined));
  assert.equal(JSON.parse(plainArrival.body.toString()).id, eventId);

  const [delivery] = await settled(o, hook, 1);
  assert.equal(delivery.status, "succeeded");
  assert.equal(JSON.parse(delivery.body).id, eventId, "the delivery keeps the event");
  assert.equal(delivery.attempts[0].requestBody, text, "the attempt logs the body it sent");
  const [plainDelivery] = await settled(o, plain, 1);
  assert.equal(plainDelivery.attempts[0].requestBody, null);
});

test("a program that fails or runs over fails the attempt with the reason and sends nothing; fixed, the retry sends the transformed body", async () => {
  const o = c.org();
  const failing = await c.webhook(o, { events: ["deal.*"], retryAttempts: 0, transformation: { jq: 'if .data.name then {text: .data.name} else error("no name on \\(.type)") end' } });
  const endless = await c.webhook(o, { events: ["deal.*"], retryAttempts: 0, transformation: { jq: "def f: f; f" } });
  const deep = await c.webhook(o, { events: ["deal.*"], retryAttempts: 0, transformation: { jq: "def f: [f]; f" } });
  const hungry = await c.webhook(o, { events: ["deal.*"], retryAttempts: 0, transformation: { jq: '"x" | until(length > 100000000; . + .)' } });
  const huge = await c.webhook(o, { events: ["deal.*"], retryAttempts: 0, transformation: { jq: "reduce range(40) as $i (1; [., .])" } });
  const repeated = await c.webhook(o, { events: ["deal.*"], retryAttempts: 0, transformation: { jq: '"ab" * 1000000000' } });
  const nested = await c.webhook(o, { events: ["deal.*"], retryAttempts: 0, transformation: { jq: "reduce range(3000) as $i (0; [.])" } });
  const healthy = await c.webhook(o, { events: ["deal.*"], transformation: { jq: "{type}" } });
  await publish(o, { type: "deal.lost", data: { amount: 5 } });

  const reasons = {};
  for (const [name, hook] of Object.entries({ failing, endless, deep, hungry, huge, repeated, nested })) {
    const [delivery] = await settled(o, hook, 1);
    assert.equal(delivery.status, "failed", name);
    assert.equal(delivery.attempts.length, 1, name);
    assert.equal(delivery.attempts[0].statusCode, null, `${name}: nothing was sent`);
    reasons[name] = delivery.attempts[0].error;
  }
  assert.equal(reasons.failing, "transformation failed: the program failed: no name on deal.lost");
  assert.equal(reasons.endless, "transformation failed: the program ran over its budget of 10000 evaluation steps");
  assert.equal(reasons.deep, "transformation failed: the program nested deeper than 256 levels");
  assert.equal(reasons.hungry, "transformation failed: the program held more than 8 MiB");
  assert.equal(reasons.huge, "transformation failed: the output is longer than 256 KiB");
  assert.equal(reasons.repeated, "transformation failed: the program failed: repeating a string would make more than 8388608 bytes");
  assert.equal(reasons.nested, "transformation failed: the output nests deeper than 128 levels");
  // The healthy webhook of the same organization got its body; none of the failing ones got anything.
  await eventually(() => c.arrivals(healthy.path).length === 1 || undefined);
  assert.equal(c.arrivals(healthy.path)[0].body.toString(), '{"type":"deal.lost"}');
  for (const hook of [failing, endless, deep, hungry, huge, repeated, nested]) assert.equal(c.arrivals(hook.path).length, 0);

  // The program fixed, a retry of the failed delivery sends what it now makes.
  const patched = await c.api(o, "PATCH", `/api/webhooks/${failing.id}`, { transformation: { jq: "{text: (.data.name // .type)}" } }, { template: "/api/webhooks/{id}" });
  assert.equal(patched.status, 200);
  const [failed] = await settled(o, failing, 1);
  const retry = await c.api(o, "POST", `/api/webhooks/${failing.id}/deliveries/${failed.id}/retry`, undefined, { template: "/api/webhooks/{id}/deliveries/{deliveryId}/retry" });
  assert.equal(retry.status, 200, JSON.stringify(retry.body));
  assert.equal(retry.body.success, true);
  await eventually(() => c.arrivals(failing.path).length === 1 || undefined, { what: "the retried delivery" });
  assert.equal(c.arrivals(failing.path)[0].body.toString(), '{"text":"deal.lost"}');
  // Removed, the event goes as it is.
  const removed = await c.api(o, "PATCH", `/api/webhooks/${failing.id}`, { transformation: null }, { template: "/api/webhooks/{id}" });
  assert.equal(removed.body.transformation, null);
  const id = await publish(o, { type: "deal.won", data: {} });
  await eventually(() => c.arrivals(failing.path).length === 2 || undefined);
  assert.equal(JSON.parse(c.arrivals(failing.path)[1].body.toString()).id, id);
});

test("a program that does not compile is refused with its line and column; the preview runs it as an attempt would", async () => {
  const o = c.org();
  const bad = await c.api(o, "POST", "/api/webhooks", { name: "bad", url: `${receiver.url}/bad`, events: ["*"], transformation: { jq: "{text: .type,\n  amount: (.data.amount | }" } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.field, "transformation.jq");
  assert.match(bad.body.error.message, /^line 2, column \d+: expected /);
  const undefinedFn = await c.api(o, "POST", "/api/webhooks", { name: "bad", url: `${receiver.url}/bad`, events: ["*"], transformation: { jq: ".data | nosuch(1)" } });
  assert.equal(undefinedFn.status, 400);
  assert.match(undefinedFn.body.error.message, /nosuch/);
  for (const transformation of ["{text: .type}", { program: "." }, { jq: 5 }, { jq: "" }]) {
    const res = await c.api(o, "POST", "/api/webhooks", { name: "bad", url: `${receiver.url}/bad`, events: ["*"], transformation });
    assert.equal(res.status, 400, JSON.stringify(transformation));
    assert.match(res.body.error.field, /^transformation/);
  }
  const hook = await c.webhook(o, { events: ["*"] });
  const patch = await c.api(o, "PATCH", `/api/webhooks/${hook.id}`, { transformation: { jq: "[" } }, { template: "/api/webhooks/{id}" });
  assert.equal(patch.status, 400);
  assert.equal(patch.body.error.field, "transformation.jq");

  const event = { id: "evt_1", type: "deal.won", timestamp: "2026-12-05T08:00:00Z", data: { name: "Acme", amount: 1.50 } };
  const preview = await c.api(o, "POST", "/api/webhooks/transformation-preview", { transformation: { jq: "{text: .data.name, amount: .data.amount}" }, event });
  assert.equal(preview.status, 200, JSON.stringify(preview.body));
  assert.equal(preview.body.body, '{"text":"Acme","amount":1.5}');
  assert.equal(preview.body.error, null);
  assert.ok(preview.body.steps > 0 && preview.body.steps < 100, `${preview.body.steps} steps`);
  const loops = await c.api(o, "POST", "/api/webhooks/transformation-preview", { transformation: { jq: "repeat(.) | empty" }, event });
  assert.equal(loops.status, 200);
  assert.deepEqual([loops.body.body, loops.body.error, loops.body.steps], [null, "the program ran over its budget of 10000 evaluation steps", 10000]);
  const refused = await c.api(o, "POST", "/api/webhooks/transformation-preview", { transformation: { jq: "now" }, event });
  assert.match(refused.body.error, /not available/);
  for (const body of [{ transformation: { jq: "." } }, { transformation: { jq: "." }, event: [] }, { event }, { transformation: { jq: "." }, event, extra: 1 }]) {
    const res = await c.api(o, "POST", "/api/webhooks/transformation-preview", body);
    assert.equal(res.status, 400, JSON.stringify(body));
  }
  // The worker still answers (no instance was lost to any of the above).
  assert.equal((await c.api(o, "GET", "/api/webhooks")).status, 200);
});

test("a polling webhook's messages carry the transformed body, signed; a message the program fails on carries the reason and no body", async () => {
  const o = c.org();
  const { hook, read } = await transformingPoller(o, "poller", 'if .data.amount > 10 then {amount: .data.amount, who: .data.name} else error("too small") end');
  // Sent as text: the amount's `100.50` reaches the program and its output as written.
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: '{"type":"deal.won","data":{"name":"Acme","amount":100.50}}' });
  assert.equal(res.status, 202);
  await publish(o, { type: "deal.won", data: { name: "Tiny", amount: 1 } });
  const page = await eventually(async () => {
    const body = await read();
    return body.data.length === 2 ? body : undefined;
  });
  const [big, small] = page.data;
  assert.equal(big.body, '{"amount":100.50,"who":"Acme"}');
  assert.deepEqual(new Webhook(hook.secret).verify(big.body, big.headers), { amount: 100.5, who: "Acme" });
  assert.equal(small.body, null);
  assert.equal(small.error, "transformation failed: the program failed: too small");
});

test("a page of transformed polling messages ends once their programs have taken 50,000 steps; the cursor resumes after it", async () => {
  const o = c.org();
  // Thousands of steps a message: a page holds a handful of them.
  const { hook, read } = await transformingPoller(o, "heavy poller", "(reduce range(2000) as $i (0; . + 1)) as $n | {n: $n, amount: .data.amount}");
  for (let amount = 1; amount <= 12; amount++) await publish(o, { type: "deal.won", data: { amount } });
  // The steps one message takes, as the preview counts them: a page runs programs until they have passed 50,000.
  const preview = await c.api(o, "POST", "/api/webhooks/transformation-preview", { transformation: hook.transformation, event: { data: { amount: 1 } } });
  const perMessage = preview.body.steps;
  const pageSize = Math.floor(50000 / perMessage) + 1;
  assert.ok(pageSize > 1 && pageSize < 12, `${perMessage} steps a message`);
  const first = await read("?limit=100");
  assert.equal(first.data.length, pageSize, "the page ends at the steps' bound, not the limit");
  assert.deepEqual(first.data.map((m) => JSON.parse(m.body)), Array.from({ length: pageSize }, (_, i) => ({ n: 2000, amount: i + 1 })));
  assert.equal(first.next, first.data[pageSize - 1].id.slice("msg_".length));
  const second = await read(`?after=${first.next}&limit=100`);
  assert.deepEqual(second.data.map((m) => JSON.parse(m.body).amount), Array.from({ length: 12 - pageSize }, (_, i) => pageSize + i + 1));
});
