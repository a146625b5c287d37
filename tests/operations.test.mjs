// Operating deliveries: the events API, recover and replay, operational events, the alert e-mail, Retry-After and
// Ed25519 signatures, through the real Worker under wrangler dev and a real receiver on 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, startReceiver, eventually } from "./harness.mjs";
import { loadSpec } from "./openapi.mjs";
import { client } from "./client.mjs";

let worker;
let receiver;
let c;

before(async () => {
  receiver = await startReceiver();
  worker = await startWorker({ vars: { AUTO_DISABLE_AFTER: "2", DELIVERY_TIMEOUT_SECONDS: "2" }, logLevel: "info" });
  c = client(worker, await loadSpec(worker), receiver, "ops");
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

/** Ingests raw JSON text (so number spelling and member order are the caller's). */
async function ingestText(o, text) {
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: text });
  const body = await res.text();
  assert.equal(res.status, 202, body);
  return JSON.parse(body).id;
}

test("the events API lists newest first with outcome counts, filters and pages; one event shows its data as ingested", async () => {
  const o = c.org();
  const hook = await c.webhook(o, { events: ["lead.*"] });
  const first = await ingestText(o, '{"type":"lead.created","data":{"amount":1.50,"z":1,"a":[3e2]}}');
  const second = await ingestText(o, '{"type":"deal.won","data":{"id":"d1"}}');
  const third = await ingestText(o, '{"type":"lead.updated","data":{"id":"l1"},"changes":{"s":{"from":"a","to":"b"}}}');
  await eventually(() => c.arrivals(hook.path).length === 2, { what: "the two lead deliveries" });

  const all = await c.api(o, "GET", "/api/events");
  assert.equal(all.status, 200);
  assert.deepEqual(all.body.data.map((e) => e.id), [third, second, first]);
  assert.equal(all.body.total, 3);
  const lead = all.body.data.find((e) => e.id === first);
  assert.equal(lead.type, "lead.created");
  assert.equal(lead.deliveries, 1);
  await eventually(async () => (await c.api(o, "GET", "/api/events")).body.data.find((e) => e.id === first).succeeded === 1, { what: "the outcome count" });
  assert.equal(all.body.data.find((e) => e.id === second).deliveries, 0, "no subscriber, no delivery");

  assert.deepEqual((await c.api(o, "GET", "/api/events?type=deal.won")).body.data.map((e) => e.id), [second]);
  const paged = await c.api(o, "GET", "/api/events?limit=2&page=2");
  assert.deepEqual([paged.body.data.map((e) => e.id), paged.body.page, paged.body.limit, paged.body.total, paged.body.totalCapped], [[first], 2, 2, 3, false]);
  // An iterator walks the same list a page at a time; a page says where the next starts until the last.
  const first2 = await c.api(o, "GET", "/api/events?limit=2");
  assert.equal(first2.body.done, false);
  assert.match(first2.body.iterator, /^eit_\d+$/);
  const next = await c.api(o, "GET", `/api/events?limit=2&iterator=${first2.body.iterator}`);
  assert.deepEqual([next.body.data.map((e) => e.id), next.body.done, next.body.iterator], [[first], true, null]);
  assert.deepEqual([...first2.body.data, ...next.body.data].map((e) => e.id), all.body.data.map((e) => e.id));
  for (const bad of ["dit_5", "eit_x", "eit_0", "eit_-1", "5"]) {
    const refused = await c.api(o, "GET", `/api/events?iterator=${bad}`);
    assert.deepEqual([refused.status, refused.body.error.field], [400, "iterator"], bad);
  }
  assert.equal((await c.api(o, "GET", `/api/events?page=2&iterator=${first2.body.iterator}`)).status, 400);
  const future = new Date(Date.now() + 60_000).toISOString();
  assert.equal((await c.api(o, "GET", `/api/events?since=${future}`)).body.total, 0);
  assert.equal((await c.api(o, "GET", `/api/events?until=${future}`)).body.total, 3);

  const one = await worker.api(`/api/events/${first}`, { headers: o.auth() });
  assert.equal(one.status, 200);
  const text = await one.text();
  assert.ok(text.includes('"data":{"amount":1.50,"z":1,"a":[3e2]}'), `data exactly as ingested: ${text}`);
  const body = JSON.parse(text);
  assert.equal(body.deliveries.length, 1);
  assert.equal(body.deliveries[0].webhookId, hook.id);
  assert.equal(body.deliveries[0].status, "succeeded");
  assert.equal(body.deliveries[0].lastStatusCode, 200);
  const withChanges = await worker.api(`/api/events/${third}`, { headers: o.auth() });
  assert.ok((await withChanges.text()).includes('"changes":{"s":{"from":"a","to":"b"}}'));

  assert.equal((await c.api(c.org(), "GET", `/api/events/${first}`)).status, 404, "another organization's event");
  const bad = await c.api(o, "GET", "/api/events?since=yesterday");
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.field, "since");
});

test("Retry-After: 3 on a 429 spaces the next attempt at least 3 s although the schedule says 1 s", async () => {
  const o = c.org();
  const hook = await c.webhook(o, { events: ["lead.created"], retryAttempts: 2, retryDelaySeconds: 1 });
  receiver.respond((r) =>
    r.url === hook.path && c.arrivals(hook.path).length === 1 ? { status: 429, body: "slow down", headers: { "retry-after": "3" } } : { status: 200 });
  await ingestText(o, '{"type":"lead.created","data":{"id":"l1"}}');
  await eventually(() => c.arrivals(hook.path).length === 2, { timeoutMs: 20000, what: "the second attempt" });
  const [one, two] = c.arrivals(hook.path);
  assert.ok(two.receivedAt - one.receivedAt >= 3000, `waited ${two.receivedAt - one.receivedAt} ms`);
  // The receiver has the request; the Worker records its answer a moment later.
  const status = async () => (await c.api(o, "GET", `/api/webhooks/${hook.id}/deliveries`)).body.data[0].status;
  await eventually(async () => (await status()) === "succeeded", { what: "the second attempt recorded as succeeded" });
  receiver.respond(() => ({ status: 200 }));
});

test("recover after an outage window: the failed deliveries of the window are sent again, same bytes, once", async () => {
  const o = c.org();
  const hook = await c.webhook(o, { events: ["deal.won"], retryAttempts: 0 });
  let down = true;
  receiver.respond((r) => (r.url === hook.path && down ? { status: 503, body: "maintenance" } : { status: 200 }));
  const failed = async () => (await c.api(o, "GET", `/api/webhooks/${hook.id}/deliveries?status=failed`)).body;
  await ingestText(o, '{"type":"deal.won","data":{"n":0}}');
  await eventually(async () => (await failed()).total === 1, { what: "the failure before the window" });
  await new Promise((r) => setTimeout(r, 20));
  const outageStart = new Date().toISOString();
  // Both events of the window in one batch, so both get their delivery: ingested one after the other, the second
  // could arrive after the first's failure had auto-disabled the webhook (AUTO_DISABLE_AFTER = 2), and an inactive
  // webhook gets no delivery.
  const batch = await c.api(o, "POST", "/api/events/batch", { events: [1, 2].map((n) => ({ type: "deal.won", data: { n } })) });
  assert.equal(batch.status, 200);
  assert.deepEqual(batch.body.results.map((r) => r.deliveries), [1, 1]);
  const windowEvents = batch.body.results.map((r) => r.id);
  await eventually(async () => (await failed()).total === 3, { what: "the failures in the window" });
  const windowed = (await failed()).data.filter((d) => windowEvents.includes(d.eventId));
  assert.equal(windowed.length, 2);
  // The window's second failure reaches AUTO_DISABLE_AFTER = 2. A delivery of the window that was not sent before the
  // disable (a later queue batch) ends failed with the reason and no attempt; one sent in the same batch got the 503.
  for (const d of windowed) {
    const sent = c.arrivals(hook.path).some((r) => r.headers["webhook-id"] === d.id);
    if (sent) assert.equal(d.lastStatusCode, 503);
    else assert.match(d.lastError, /^webhook inactive: disabled after 2 consecutive failed deliveries/);
  }
  const before = c.arrivals(hook.path).map((r) => ({ id: r.headers["webhook-id"], body: r.body.toString() }));
  down = false;
  assert.equal((await c.api(o, "GET", `/api/webhooks/${hook.id}`)).body.isActive, false);
  assert.equal((await c.api(o, "POST", `/api/webhooks/${hook.id}/recover`, { since: outageStart })).status, 409, "active first");
  assert.equal((await c.api(o, "PATCH", `/api/webhooks/${hook.id}`, { isActive: true })).status, 200);

  const bad = await c.api(o, "POST", `/api/webhooks/${hook.id}/recover`, { since: "not a time" });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.field, "since");
  const recovered = await c.api(o, "POST", `/api/webhooks/${hook.id}/recover`, { since: outageStart });
  assert.equal(recovered.status, 202);
  assert.equal(recovered.body.recovered, 2);
  assert.equal(recovered.body.more, false);
  await eventually(() => c.arrivals(hook.path).length === before.length + 2, { what: "the two recovered deliveries" });
  const again = c.arrivals(hook.path).slice(before.length).map((r) => ({ id: r.headers["webhook-id"], body: r.body.toString() }));
  assert.deepEqual(again.map((a) => a.id).sort(), windowed.map((d) => d.id).sort(), "the window's deliveries, once each");
  for (const a of again) {
    const earlier = before.find((b) => b.id === a.id);
    if (earlier) assert.equal(a.body, earlier.body, "same bytes as the failed attempt");
    assert.equal(JSON.parse(a.body).id, windowed.find((d) => d.id === a.id).eventId);
  }
  await eventually(async () => (await failed()).total === 1, { what: "only the delivery before the window still failed" });
  assert.equal((await c.api(o, "POST", `/api/webhooks/${hook.id}/recover`, { since: outageStart })).body.recovered, 0);
  assert.equal((await c.api(o, "POST", `/api/webhooks/${hook.id}/recover`, { since: outageStart }, { role: "member" })).status, 403);
  receiver.respond(() => ({ status: 200 }));
});

test("replay-missing after an inactive period delivers exactly the missed events, in order, once", async () => {
  const o = c.org();
  const hook = await c.webhook(o, { events: ["lead.*"] });
  const off = await c.api(o, "PATCH", `/api/webhooks/${hook.id}`, { isActive: false });
  assert.equal(off.status, 200);
  const missed = [];
  for (const n of [1, 2, 3]) missed.push(await ingestText(o, `{"type":"lead.created","data":{"n":${n},"price":1.50}}`));
  await ingestText(o, '{"type":"deal.won","data":{"n":4}}');
  assert.equal((await c.api(o, "POST", `/api/webhooks/${hook.id}/replay-missing`, { since: hook.createdAt })).status, 409, "inactive first");

  const on = await c.api(o, "PATCH", `/api/webhooks/${hook.id}`, { isActive: true });
  assert.equal(on.status, 200);
  assert.equal(on.body.missedEvents.count, 3);
  assert.equal(on.body.missedEvents.replay.path, `/api/webhooks/${hook.id}/replay-missing`);
  assert.equal(c.arrivals(hook.path).length, 0, "re-activating replays nothing by itself");

  const replay = await c.api(o, "POST", `/api/webhooks/${hook.id}/replay-missing`, on.body.missedEvents.replay.body);
  assert.equal(replay.status, 202);
  assert.equal(replay.body.replayed, 3);
  await eventually(() => c.arrivals(hook.path).length === 3, { what: "the replayed deliveries" });
  const bodies = c.arrivals(hook.path).map((r) => JSON.parse(r.body));
  assert.deepEqual(bodies.map((b) => b.id).sort(), [...missed].sort());
  assert.ok(c.arrivals(hook.path).every((r) => r.body.toString().includes('"price":1.50')), "data verbatim");
  const log = await c.api(o, "GET", `/api/webhooks/${hook.id}/deliveries`);
  assert.deepEqual(log.body.data.map((d) => d.eventId).reverse(), missed, "created in the events' order");
  assert.equal((await c.api(o, "POST", `/api/webhooks/${hook.id}/replay-missing`, { since: hook.createdAt })).body.replayed, 0);
  const event = await c.api(o, "GET", `/api/events/${missed[0]}`);
  assert.deepEqual(event.body.deliveries.map((d) => d.webhookId), [hook.id]);
});

test("operational events arrive signed where subscribed, never to the webhook they are about, and * does not select them", async () => {
  const { Webhook } = await import("../verifier-wasm/pkg/node.mjs");
  const o = c.org();
  const all = await c.webhook(o, { events: ["edgehook.*"] });
  const star = await c.webhook(o, { events: ["*"] });
  const failingOnly = await c.webhook(o, { events: ["edgehook.delivery.failing"] });
  const recovering = await c.webhook(o, { events: ["deal.won", "edgehook.webhook.*"], retryAttempts: 0 });
  const flaky = await c.webhook(o, { events: ["lead.created"], retryAttempts: 2, retryDelaySeconds: 1 });
  receiver.respond((r) => {
    if (r.url === flaky.path) return { status: 503 };
    if (r.url === recovering.path && c.arrivals(recovering.path).length === 1) return { status: 500 };
    return { status: 200 };
  });
  // recovering: one exhausted delivery, then a success.
  await ingestText(o, '{"type":"deal.won","data":{"n":1}}');
  await eventually(async () => (await c.api(o, "GET", `/api/webhooks/${recovering.id}`)).body.consecutiveFailures === 1, { what: "the exhausted delivery" });
  await ingestText(o, '{"type":"deal.won","data":{"n":2}}');
  // flaky: two deliveries fail three attempts each, which exhausts them and disables the webhook (AUTO_DISABLE_AFTER=2).
  await ingestText(o, '{"type":"lead.created","data":{"n":3}}');
  await ingestText(o, '{"type":"lead.created","data":{"n":4}}');
  const typesAt = (hook) => c.arrivals(hook.path).map((r) => JSON.parse(r.body).type).filter((t) => t.startsWith("edgehook."));
  await eventually(() => typesAt(all).length === 7, { timeoutMs: 30000, what: `7 operational events at edgehook.* (have ${typesAt(all)})` });
  await eventually(() => typesAt(recovering).includes("edgehook.webhook.disabled"), { what: "the disable at the other webhook" });

  assert.deepEqual(typesAt(all).sort(), [
    "edgehook.delivery.exhausted", "edgehook.delivery.exhausted", "edgehook.delivery.exhausted",
    "edgehook.delivery.failing", "edgehook.delivery.failing",
    "edgehook.webhook.disabled", "edgehook.webhook.recovered",
  ]);
  for (const request of c.arrivals(all.path)) new Webhook(all.secret).verify(request.body, request.headers);
  const about = (hook, type) => c.arrivals(all.path).map((r) => JSON.parse(r.body)).filter((b) => b.type === type && b.data.webhookId === hook.id);
  assert.equal(about(recovering, "edgehook.webhook.recovered").length, 1);
  assert.equal(about(recovering, "edgehook.delivery.exhausted").length, 1);
  assert.equal(about(flaky, "edgehook.delivery.failing").length, 2);
  const failing = about(flaky, "edgehook.delivery.failing")[0];
  assert.equal(failing.data.attempts, 3);
  assert.equal(failing.data.statusCode, 503);
  assert.equal(about(flaky, "edgehook.webhook.disabled").length, 1);

  // Each subscriber's copy is its own delivery: the one at `all` arriving says nothing about this one's.
  await eventually(() => typesAt(failingOnly).length === 2, { what: `2 events at failingOnly (have ${typesAt(failingOnly)})` });
  assert.deepEqual(typesAt(failingOnly), ["edgehook.delivery.failing", "edgehook.delivery.failing"]);
  assert.deepEqual(typesAt(star), [], "* does not select operational events");
  const toRecovering = c.arrivals(recovering.path).map((r) => JSON.parse(r.body)).filter((b) => b.type.startsWith("edgehook."));
  assert.deepEqual(toRecovering.map((b) => b.type), ["edgehook.webhook.disabled"], "nothing about itself");
  assert.ok(toRecovering.every((b) => b.data.webhookId !== recovering.id));
  for (const request of c.arrivals(recovering.path).slice(1)) new Webhook(recovering.secret).verify(request.body, request.headers);
  const published = await c.api(o, "POST", "/api/events", { type: "edgehook.delivery.failing", data: {} });
  assert.equal(published.status, 400, "only edgehook emits them");
  receiver.respond(() => ({ status: 200 }));
});

test("an auto-disable e-mails the organization's alert address through the send_email binding", async () => {
  const { readFileSync } = await import("node:fs");
  const o = c.org();
  assert.equal((await c.api(o, "GET", "/api/settings")).body.alertEmail, null);
  const bad = await c.api(o, "PUT", "/api/settings", { alertEmail: "ops@example.com\r\nBcc: x@evil.example" });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.field, "alertEmail");
  assert.equal((await c.api(o, "PUT", "/api/settings", { alertEmail: "ops@crm.example" }, { role: "member" })).status, 403);
  const saved = await c.api(o, "PUT", "/api/settings", { alertEmail: "ops@crm.example" });
  assert.equal(saved.status, 200);
  assert.equal((await c.api(o, "GET", "/api/settings")).body.alertEmail, "ops@crm.example");

  const hook = await c.webhook(o, { name: "Billing sync", events: ["order.created"], retryAttempts: 0 });
  receiver.respond((r) => (r.url === hook.path ? { status: 500 } : { status: 200 }));
  for (const n of [1, 2]) await ingestText(o, `{"type":"order.created","data":{"n":${n}}}`);
  await eventually(async () => (await c.api(o, "GET", `/api/webhooks/${hook.id}`)).body.isActive === false, { what: "the auto-disable" });
  const path = await eventually(() => {
    const at = worker.log().lastIndexOf("send_email binding called");
    return at >= 0 && worker.log().slice(at).match(/Text: (\S+\.txt)/)?.[1];
  }, { what: "the simulated e-mail in wrangler's log" });
  const log = worker.log().slice(worker.log().lastIndexOf("send_email binding called"));
  assert.match(log, /ops@crm\.example/);
  assert.match(log, /Webhook "Billing sync" was disabled/);
  const text = readFileSync(path, "utf8");
  assert.match(text, new RegExp(hook.id));
  assert.match(text, /disabled after 2 consecutive failed deliveries/);
  assert.match(text, /Since: +\d{4}-\d\d-\d\dT/);
  assert.match(text, new RegExp(`POST /api/webhooks/${hook.id}/replay-missing`));
  receiver.respond(() => ({ status: 200 }));
});

test("an ed25519 webhook signs v1a: its deliveries verify with the whpk_ key (our package and node:crypto), rotation signs with both", async () => {
  const { Webhook } = await import("../verifier-wasm/pkg/node.mjs");
  const { verify, createPublicKey } = await import("node:crypto");
  const nodeKey = (whpk) => createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(whpk.slice(5), "base64").toString("base64url") }, format: "jwk" });
  const nodeVerifies = (request, whpk) => request.headers["webhook-signature"].split(" ").some((entry) => {
    const [version, signature] = entry.split(",");
    const signed = Buffer.concat([Buffer.from(`${request.headers["webhook-id"]}.${request.headers["webhook-timestamp"]}.`), request.body]);
    return version === "v1a" && verify(null, signed, nodeKey(whpk), Buffer.from(signature, "base64"));
  });
  const o = c.org();
  assert.equal((await c.api(o, "POST", "/api/webhooks", { name: "x", url: `${receiver.url}/x`, events: ["*"], signature: "ed25519", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" })).body.error.field, "secret");
  const hook = await c.webhook(o, { events: ["lead.created"], signature: "ed25519" });
  assert.equal(hook.signature, "ed25519");
  assert.match(hook.publicKey, /^whpk_/);
  assert.equal(hook.secret, undefined, "the secret key is never shown");
  assert.deepEqual((await c.api(o, "GET", `/api/webhooks/${hook.id}/secret`)).body, { publicKey: hook.publicKey });

  await ingestText(o, '{"type":"lead.created","data":{"amount":1.50}}');
  const [first] = await eventually(() => c.arrivals(hook.path).length === 1 && c.arrivals(hook.path), { what: "the delivery" });
  assert.match(first.headers["webhook-signature"], /^v1a,[A-Za-z0-9+/]{86}==$/);
  assert.equal(first.headers["x-webhook-signature"], undefined, "no shared-secret signature");
  assert.equal(new Webhook(hook.publicKey).verify(first.body, first.headers).data.amount, 1.5);
  assert.ok(nodeVerifies(first, hook.publicKey));

  const rotated = await c.api(o, "POST", `/api/webhooks/${hook.id}/regenerate-secret`);
  assert.equal(rotated.status, 200);
  assert.equal(rotated.body.previousPublicKey, hook.publicKey);
  assert.notEqual(rotated.body.publicKey, hook.publicKey);
  await ingestText(o, '{"type":"lead.created","data":{"n":2}}');
  const [, second] = await eventually(() => c.arrivals(hook.path).length === 2 && c.arrivals(hook.path), { what: "the delivery after rotation" });
  assert.equal(second.headers["webhook-signature"].split(" ").length, 2, "old and new key both sign in the grace window");
  for (const key of [hook.publicKey, rotated.body.publicKey]) {
    new Webhook(key).verify(second.body, second.headers);
    assert.ok(nodeVerifies(second, key));
  }
});

test('ordering "fifo": with the 3rd event failing twice, the receiver acknowledges events 1…20 strictly in order', async () => {
  const o = c.org();
  const bad = await c.api(o, "POST", "/api/webhooks", { name: "x", url: `${receiver.url}/x`, events: ["*"], ordering: "lifo" });
  assert.equal(bad.body.error.field, "ordering");
  const hook = await c.webhook(o, { events: ["task.created"], ordering: "fifo", retryAttempts: 3, retryDelaySeconds: 1 });
  assert.equal(hook.ordering, "fifo");
  let third = 0;
  receiver.respond((r) => {
    if (r.url !== hook.path) return { status: 200 };
    if (JSON.parse(r.body).data.n === 3 && ++third <= 2) return { status: 500, body: "not yet" };
    return { status: 200 };
  });
  const events = Array.from({ length: 20 }, (_, i) => ({ id: `${o.name}-fifo-${i + 1}`, type: "task.created", data: { n: i + 1 } }));
  const res = await c.api(o, "POST", "/api/events/batch", { events }, { role: "service" });
  assert.equal(res.body.accepted, 20);
  // A manual retry cannot jump the line. (One batch's deliveries share a created_at, so the log's order among them
  // is their random ids': find the 20th event's delivery by its event id.)
  const log20 = await c.api(o, "GET", `/api/webhooks/${hook.id}/deliveries?limit=100`);
  const last = log20.body.data.find((d) => d.eventId === `${o.name}-fifo-20`);
  const jump = await c.api(o, "POST", `/api/webhooks/${hook.id}/deliveries/${last.id}/retry`);
  assert.equal(jump.status, 409);
  assert.equal(jump.body.error.code, "ordered_behind");
  await eventually(() => c.arrivals(hook.path).length === 22, { timeoutMs: 90000, intervalMs: 200, what: "20 deliveries and 2 failed attempts" });
  const seen = c.arrivals(hook.path).map((r) => JSON.parse(r.body).data.n);
  assert.deepEqual(seen, [1, 2, 3, 3, 3, ...Array.from({ length: 17 }, (_, i) => i + 4)], "nothing overtook the failing 3rd");
  const log = await c.api(o, "GET", `/api/webhooks/${hook.id}/deliveries?limit=100`);
  assert.ok(log.body.data.every((d) => d.status === "succeeded"));
  receiver.respond(() => ({ status: 200 }));
});
