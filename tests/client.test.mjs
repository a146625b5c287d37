// @edgehook/client (client/, generated from the OpenAPI document) against the running Worker: what an integrator's
// backend does with it, end to end. Its package shape (npm pack, import and require) is tests/client-package.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createEdgehookClient, unwrap, pages, iterate, EdgehookError } from "../client/dist/index.mjs";
import { startWorker, startReceiver, token, eventually } from "./harness.mjs";

let worker;
let receiver;
let edgehook;
before(async () => {
  receiver = await startReceiver();
  worker = await startWorker();
  edgehook = createEdgehookClient({ baseUrl: worker.url, token: token({ org: "org_client", role: "admin" }) });
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

test("create a webhook, publish, list events page by page, read deliveries, retry and recover: all typed calls", async () => {
  const created = await unwrap(
    edgehook.POST("/api/webhooks", { body: { name: "CRM", url: `${receiver.url}/client`, events: ["lead.*"], retryAttempts: 0 } }),
  );
  assert.match(created.id, /^wh_/);
  assert.equal(typeof created.secret, "string");
  const listed = await unwrap(edgehook.GET("/api/webhooks"));
  assert.deepEqual(listed.data.map((w) => w.id), [created.id]);

  receiver.respond(() => ({ status: 200, body: "ok" }));
  const published = [];
  for (let n = 0; n < 5; n++) {
    published.push(await unwrap(edgehook.POST("/api/events", { body: { type: "lead.created", data: { n } } })));
  }
  assert.ok(published.every((p) => p.deliveries === 1));
  // Events, two to a page: every event once, newest first.
  const seen = [];
  for await (const event of pages((page) => edgehook.GET("/api/events", { params: { query: { page, limit: 2 } } }))) seen.push(event.id);
  assert.deepEqual(seen, published.map((p) => p.id).reverse());
  // The same through iterators.
  const iterated = [];
  for await (const event of iterate((iterator) => edgehook.GET("/api/events", { params: { query: { iterator, limit: 2 } } }))) iterated.push(event.id);
  assert.deepEqual(iterated, seen);
  const one = await unwrap(edgehook.GET("/api/events/{id}", { params: { path: { id: published[0].id } } }));
  assert.equal(one.type, "lead.created");

  // Deliveries of the webhook, once all five arrived.
  const deliveries = await eventually(async () => {
    const page = await unwrap(edgehook.GET("/api/webhooks/{id}/deliveries", { params: { path: { id: created.id }, query: { status: "succeeded", limit: 10 } } }));
    return page.total === 5 && page;
  }, { timeoutMs: 30000, what: "five succeeded deliveries" });
  const detail = await unwrap(
    edgehook.GET("/api/webhooks/{id}/deliveries/{deliveryId}", { params: { path: { id: created.id, deliveryId: deliveries.data[0].id } } }),
  );
  assert.equal(detail.status, "succeeded");
  assert.equal(detail.attempts.length, 1);

  // A failing receiver: the delivery fails (no retries), a retry sends it again, a recovery schedules it again.
  receiver.respond(() => ({ status: 500, body: "down" }));
  const failing = await unwrap(edgehook.POST("/api/events", { body: { type: "lead.updated", data: { n: 99 } } }));
  const failed = await eventually(async () => {
    const page = await unwrap(edgehook.GET("/api/webhooks/{id}/deliveries", { params: { path: { id: created.id }, query: { status: "failed" } } }));
    return page.data.find((d) => d.eventId === failing.id);
  }, { timeoutMs: 30000, what: "the failed delivery" });
  receiver.respond(() => ({ status: 200, body: "ok" }));
  const retried = await unwrap(
    edgehook.POST("/api/webhooks/{id}/deliveries/{deliveryId}/retry", { params: { path: { id: created.id, deliveryId: failed.id } } }),
  );
  assert.equal(retried.success, true);
  const recovered = await unwrap(
    edgehook.POST("/api/webhooks/{id}/recover", { params: { path: { id: created.id } }, body: { since: new Date(Date.now() - 3600_000).toISOString() } }),
  );
  assert.equal(recovered.recovered, 0, "the retried delivery succeeded: nothing left to recover");
  assert.equal(typeof recovered.more, "boolean");
});

test("pages() goes on past a total that stopped counting, and stops at the page that says done", async () => {
  // The list's answers as openapi-fetch gives them, for 12 items in pages of 5 whose total stops counting at 5.
  const answer = (page, fields) => Promise.resolve({ data: { limit: 5, ...fields }, response: new Response("{}") });
  const items = Array.from({ length: 12 }, (_, n) => n);
  const capped = [];
  for await (const n of pages((page) => answer(page, { data: items.slice((page - 1) * 5, page * 5), total: 5, totalCapped: true, done: page * 5 >= 12 }))) capped.push(n);
  assert.deepEqual(capped, items);
  const counted = [];
  for await (const n of pages((page) => answer(page, { data: items.slice((page - 1) * 5, page * 5), total: 12 }))) counted.push(n);
  assert.deepEqual(counted, items, "a list without done stops after its total");
});

test("a refusal surfaces the API's code, message and field as an EdgehookError", async () => {
  const answer = await edgehook.POST("/api/events", { body: { type: "lead.exploded", data: {} } });
  assert.equal(answer.response.status, 400);
  assert.equal(answer.error.error.field, "type");
  await assert.rejects(unwrap(edgehook.POST("/api/events", { body: { type: "lead.exploded", data: {} } })), (error) => {
    assert.ok(error instanceof EdgehookError);
    assert.equal(error.status, 400);
    assert.equal(error.code, "validation_error");
    assert.equal(error.field, "type");
    assert.match(error.message, /lead\.exploded/);
    return true;
  });
  await assert.rejects(unwrap(edgehook.GET("/api/webhooks/{id}", { params: { path: { id: "wh_missing" } } })), { name: "EdgehookError", status: 404, code: "not_found" });
  const anonymous = createEdgehookClient({ baseUrl: worker.url });
  await assert.rejects(unwrap(anonymous.GET("/api/webhooks")), { status: 401, code: "unauthorized" });
  // The token may be a function, read on every request (a session that renews it).
  let current = null;
  const renewing = createEdgehookClient({ baseUrl: `${worker.url}/`, token: () => current });
  await assert.rejects(unwrap(renewing.GET("/api/webhooks")), { status: 401 });
  current = token({ org: "org_client" });
  assert.equal((await unwrap(renewing.GET("/api/webhooks"))).data.length, 1);
});
