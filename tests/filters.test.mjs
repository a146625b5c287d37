// Payload filters: a webhook's `filter` decides which events of its types it receives, evaluated at fan-out on the
// event exactly as ingested; batch and queue ingest, replay-missing, recover and operational events respect it.
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
  // With the publisher fixture: another Worker that puts events straight on the events queue (`POST /__publish`).
  worker = await startWorker({ configs: ["tests/fixtures/publisher.toml"] });
  c = client(worker, await loadSpec(worker), receiver, "filters");
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

/** Publishes raw JSON text (the number spelling is the caller's); answers the ingest's body. */
async function publish(o, text) {
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: text });
  const body = await res.json();
  assert.equal(res.status, 202, JSON.stringify(body));
  return body;
}

const amounts = (path) => c.arrivals(path).map((r) => JSON.parse(r.body).data.amount);

test("only matching events reach a filtered webhook; its twin without a filter gets them all; counts say so", async () => {
  const o = c.org();
  const big = await c.webhook(o, { events: ["deal.*"], filter: { data: { amount: { $gte: 10000 } } } });
  // Sent as text: JavaScript would round 2^53 + 1 in the filter itself.
  const created = await worker.api("/api/webhooks", {
    method: "POST",
    headers: o.auth(),
    body: `{"name":"exact","url":"${receiver.url}/exact","events":["deal.*"],"filter":{"data":{"amount":9007199254740993}}}`,
  });
  assert.equal(created.status, 201);
  const exact = { path: "/exact" };
  const all = await c.webhook(o, { events: ["deal.*"] });
  assert.deepEqual(big.filter, { data: { amount: { $gte: 10000 } } });
  assert.equal(all.filter, null);

  assert.equal((await publish(o, '{"type":"deal.won","data":{"amount":12500.50}}')).deliveries, 2);
  assert.equal((await publish(o, '{"type":"deal.won","data":{"amount":99}}')).deliveries, 1);
  // 2^53 + 1: as a double it would equal 2^53, and the filter would let 2^53 through as well.
  assert.equal((await publish(o, '{"type":"deal.won","data":{"amount":9007199254740993}}')).deliveries, 3);
  assert.equal((await publish(o, '{"type":"deal.won","data":{"amount":9007199254740992}}')).deliveries, 2);
  assert.equal((await publish(o, '{"type":"deal.won","data":{"note":"no amount"}}')).deliveries, 1);
  await eventually(() => c.arrivals(all.path).length === 5, { what: "every event at the unfiltered webhook" });
  await eventually(() => c.arrivals(big.path).length === 3 && c.arrivals(exact.path).length === 1, { what: "the filtered deliveries" });
  // The body is still the event exactly as sent.
  assert.ok(c.arrivals(big.path).some((r) => r.body.toString().includes('"amount":12500.50')));
  assert.ok(c.arrivals(exact.path)[0].body.toString().includes('"amount":9007199254740993'));

  const batch = await c.api(o, "POST", "/api/events/batch", {
    events: [{ type: "deal.won", data: { amount: 20000 } }, { type: "deal.won", data: { amount: 1 } }],
  });
  assert.deepEqual(batch.body.results.map((r) => r.deliveries), [2, 1]);
  await eventually(() => c.arrivals(big.path).length === 4, { what: "the batch's matching event" });
  assert.equal(amounts(big.path).filter((a) => a === 1).length, 0);
});

test("a bad filter is a 400 naming the field and the position; a filter can be changed and removed", async () => {
  const o = c.org();
  for (const [filter, position] of [
    [{ data: { amount: { $gte: true } } }, "/data/amount/$gte"],
    [{ data: { amount: { $between: [1, 2] } } }, "/data/amount/$between"],
    [{ $or: [] }, "/$or"],
    [[1], "the top level"],
  ]) {
    const res = await c.api(o, "POST", "/api/webhooks", { name: "bad", url: `${receiver.url}/bad`, events: ["*"], filter });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error.field, "filter");
    assert.ok(res.body.error.message.includes(`filter at ${position}:`), res.body.error.message);
  }
  const hook = await c.webhook(o, { events: ["lead.*"], filter: { data: { stage: "won" } } });
  const changed = await c.api(o, "PATCH", `/api/webhooks/${hook.id}`, { filter: { data: { stage: { $in: ["won", "lost"] } } } });
  assert.deepEqual(changed.body.filter, { data: { stage: { $in: ["won", "lost"] } } });
  const bad = await c.api(o, "PATCH", `/api/webhooks/${hook.id}`, { filter: { data: { stage: { $in: [] } } } });
  assert.equal(bad.status, 400);
  assert.equal((await c.api(o, "GET", `/api/webhooks/${hook.id}`)).body.filter.data.stage.$in.length, 2, "a refused patch changes nothing");
  const removed = await c.api(o, "PATCH", `/api/webhooks/${hook.id}`, { filter: null });
  assert.equal(removed.body.filter, null);
  assert.equal((await publish(o, '{"type":"lead.created","data":{"stage":"new"}}')).deliveries, 1);
});

test("replay-missing delivers only what the filter lets through, and its answer counts exactly that", async () => {
  const o = c.org();
  const since = new Date(Date.now() - 1000).toISOString();
  for (const amount of [5, 50000, 7, 70000]) await publish(o, `{"type":"deal.won","data":{"amount":${amount}}}`);
  const late = await c.webhook(o, { events: ["deal.*"], filter: { data: { amount: { $gt: 1000 } } } });
  const replay = await c.api(o, "POST", `/api/webhooks/${late.id}/replay-missing`, { since });
  assert.equal(replay.status, 202);
  assert.equal(replay.body.replayed, 2);
  await eventually(() => c.arrivals(late.path).length === 2, { what: "the replayed deliveries" });
  assert.deepEqual(amounts(late.path), [50000, 70000], "in their original order");
});

test("recover leaves out failed deliveries whose event the current filter no longer matches", async () => {
  const o = c.org();
  let down = true;
  const hook = await c.webhook(o, { events: ["deal.*"], retryAttempts: 0 });
  receiver.respond((r) => (r.url === hook.path && down ? { status: 503 } : { status: 200 }));
  const since = new Date(Date.now() - 1000).toISOString();
  for (const amount of [3, 30000]) await publish(o, `{"type":"deal.won","data":{"amount":${amount}}}`);
  await eventually(async () => {
    const log = await c.api(o, "GET", `/api/webhooks/${hook.id}/deliveries?status=failed`);
    return log.body.total === 2;
  }, { what: "both deliveries failed" });
  down = false;
  await c.api(o, "PATCH", `/api/webhooks/${hook.id}`, { filter: { data: { amount: { $gte: 10000 } } } });
  const recovered = await c.api(o, "POST", `/api/webhooks/${hook.id}/recover`, { since });
  assert.equal(recovered.status, 202);
  assert.equal(recovered.body.recovered, 1);
  await eventually(() => c.arrivals(hook.path).filter((r) => JSON.parse(r.body).data.amount === 30000).length === 2, { what: "the recovered delivery" });
  const failed = await c.api(o, "GET", `/api/webhooks/${hook.id}/deliveries?status=failed`);
  assert.equal(failed.body.total, 1, "the left-out one stays failed");
  receiver.respond(() => ({ status: 200 }));
});

test("the preview tries a filter on the last events without storing or sending anything", async () => {
  const o = c.org();
  for (const stage of ["won", "lost", "won"]) await publish(o, `{"type":"deal.updated","data":{"stage":"${stage}"}}`);
  await publish(o, '{"type":"lead.created","data":{"stage":"won"}}');
  const before = receiver.requests.length;
  const preview = await c.api(o, "POST", "/api/webhooks/filter-preview", { filter: { data: { stage: "won" } }, events: ["deal.*"] });
  assert.equal(preview.status, 200, JSON.stringify(preview.body));
  assert.deepEqual(preview.body.data.map((e) => [e.type, e.matches]), [["deal.updated", true], ["deal.updated", false], ["deal.updated", true]]);
  assert.equal(preview.body.matched, 2);
  const everything = await c.api(o, "POST", "/api/webhooks/filter-preview", { filter: {}, limit: 2 });
  assert.deepEqual(everything.body.data.map((e) => e.matches), [true, true]);
  const bad = await c.api(o, "POST", "/api/webhooks/filter-preview", { filter: { data: { $nope: 1 } } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.field, "filter");
  assert.equal(receiver.requests.length, before, "nothing sent");
});

test("events published to the queue by another Worker pass through the same filters", async () => {
  const o = c.org();
  const big = await c.webhook(o, { events: ["deal.*"], filter: { data: { amount: { $gte: 10000 } } } });
  const all = await c.webhook(o, { events: ["deal.*"] });
  const publish = await worker.api("/__publish", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([10, 20000, 30, 40000].map((amount, i) => ({ organizationId: o.name, type: "deal.won", data: { amount }, id: `q-${i}` }))),
  });
  assert.equal(publish.status, 204);
  await eventually(() => c.arrivals(all.path).length === 4, { what: "every queued event at the unfiltered webhook" });
  await eventually(() => c.arrivals(big.path).length === 2, { what: "the matching queued events" });
  assert.deepEqual(amounts(big.path).sort((a, b) => a - b), [20000, 40000]);
});
