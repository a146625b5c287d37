// The event catalogue (`/api/event-types`): the default types every organization sees, the organization's own
// types with a JSON Schema and an example, schema validation at ingest for webhooks that ask for it, and "Send test
// event" with the type's example.
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
  worker = await startWorker({ configs: ["tests/fixtures/publisher.toml"] });
  c = client(worker, await loadSpec(worker), receiver, "catalogue");
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

const INVOICE = {
  name: "invoice.paid",
  description: "An invoice was paid in full.",
  schema: {
    type: "object",
    required: ["invoiceId", "amount"],
    properties: {
      invoiceId: { type: "string" },
      amount: { type: "number", minimum: 0 },
      lines: { type: "array", items: { type: "object", required: ["sku"], properties: { sku: { type: "string", pattern: "^[A-Z]{3}-[0-9]+$" } } } },
    },
  },
  example: { invoiceId: "inv_1", amount: 120.5, lines: [{ sku: "ABC-1" }] },
};

/** Ingests raw JSON text; answers status and body. */
async function ingest(o, text) {
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: text });
  return { status: res.status, body: await res.json() };
}

test("every organization sees the default types with their examples; its own types join them", async () => {
  const o = c.org();
  const listed = await c.api(o, "GET", "/api/event-types");
  assert.equal(listed.status, 200);
  const lead = listed.body.data.find((t) => t.name === "lead.created");
  assert.equal(lead.origin, "default");
  assert.equal(lead.schema, null);
  assert.equal(typeof lead.example, "object");
  assert.ok(!listed.body.data.some((t) => t.name.startsWith("edgehook.")), "edgehook's own types are not the vendor's");

  const created = await c.api(o, "POST", "/api/event-types", INVOICE);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.deepEqual([created.body.origin, created.body.schema, created.body.example], ["organization", INVOICE.schema, INVOICE.example]);
  assert.equal((await c.api(o, "POST", "/api/event-types", INVOICE)).body.error.code, "event_type_exists");
  assert.equal((await c.api(o, "GET", "/api/event-types/invoice.paid", undefined, { template: "/api/event-types/{name}" })).body.description, INVOICE.description);
  assert.ok((await c.api(o, "GET", "/api/event-types")).body.data.some((t) => t.name === "invoice.paid"));
  // Another organization does not see it.
  assert.equal((await c.api(c.org(), "GET", "/api/event-types/invoice.paid", undefined, { template: "/api/event-types/{name}" })).status, 404);
  // The portal's picker (the older catalogue route) lists it under its resource.
  const picker = await c.api(o, "GET", "/api/webhooks/events");
  assert.ok(picker.body.groups.find((g) => g.resource === "invoice").events.some((e) => e.type === "invoice.paid"));
});

test("ingest accepts the organization's types and refuses unknown ones; webhooks subscribe to them", async () => {
  const o = c.org();
  assert.equal((await c.api(o, "POST", "/api/event-types", { name: "ticket.closed" })).status, 201);
  const hook = await c.webhook(o, { events: ["ticket.*"] });
  const refused = await c.api(o, "POST", "/api/webhooks", { name: "x", url: `${receiver.url}/x`, events: ["refund.*"] });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.error.field, "events");

  const ok = await ingest(o, '{"type":"ticket.closed","data":{"id":"t1","score":1.50}}');
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  assert.equal(ok.body.deliveries, 1);
  const unknown = await ingest(o, '{"type":"ticket.reopened","data":{}}');
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error.field, "type");
  assert.match(unknown.body.error.message, /unknown event type "ticket.reopened"/);
  await eventually(() => c.arrivals(hook.path).length === 1, { what: "the ticket event" });
  assert.ok(c.arrivals(hook.path)[0].body.toString().includes('"score":1.50'), "delivered exactly as sent");

  // Deleted: refused again; a default type cannot be deleted, only deprecated (which keeps it accepted).
  assert.equal((await c.api(o, "DELETE", "/api/event-types/ticket.closed", undefined, { template: "/api/event-types/{name}" })).status, 204);
  assert.equal((await ingest(o, '{"type":"ticket.closed","data":{}}')).status, 400);
  assert.equal((await c.api(o, "DELETE", "/api/event-types/lead.created", undefined, { template: "/api/event-types/{name}" })).status, 409);
  const deprecated = await c.api(o, "PATCH", "/api/event-types/lead.created", { deprecated: true }, { template: "/api/event-types/{name}" });
  assert.deepEqual([deprecated.status, deprecated.body.origin, deprecated.body.deprecated], [200, "organization", true]);
  assert.equal((await ingest(o, '{"type":"lead.created","data":{}}')).status, 202);
});

test("a webhook that asks for validation gets only events whose data fits the schema; a bad one is refused with its path and stored nowhere", async () => {
  const o = c.org();
  assert.equal((await c.api(o, "POST", "/api/event-types", INVOICE)).status, 201);
  const loose = await c.webhook(o, { events: ["invoice.*"] });
  // Without a validating subscriber, the schema refuses nothing.
  assert.equal((await ingest(o, '{"type":"invoice.paid","data":{"amount":-1}}')).status, 202);
  const strict = await c.webhook(o, { events: ["invoice.paid"], validateSchema: true });
  assert.equal(strict.validateSchema, true);
  for (const [text, field, words] of [
    ['{"type":"invoice.paid","data":{"invoiceId":"i","amount":-1}}', "data/amount", "less than 0"],
    ['{"type":"invoice.paid","data":{"amount":1}}', "data", "invoiceId"],
    ['{"type":"invoice.paid","data":{"invoiceId":"i","amount":1,"lines":[{"sku":"ABC-1"},{"sku":"abc"}]}}', "data/lines/1/sku", "pattern"],
  ]) {
    const res = await ingest(o, text);
    assert.equal(res.status, 400, text);
    assert.deepEqual([res.body.error.code, res.body.error.field], ["schema_mismatch", field], text);
    assert.ok(res.body.error.message.includes(words), res.body.error.message);
  }
  const good = await ingest(o, '{"type":"invoice.paid","data":{"invoiceId":"i","amount":12.50}}');
  assert.equal(good.status, 202);
  assert.equal(good.body.deliveries, 2);
  // Batch: each event answered on its own.
  const batch = await c.api(o, "POST", "/api/events/batch", {
    events: [{ type: "invoice.paid", data: { invoiceId: "a", amount: 1 } }, { type: "invoice.paid", data: { amount: "x" } }, { type: "invoice.nope", data: {} }],
  });
  assert.deepEqual(batch.body.results.map((r) => r.status), [202, 400, 400]);
  assert.deepEqual(batch.body.results.slice(1).map((r) => r.error.field), ["data/amount", "type"]);
  await eventually(() => c.arrivals(strict.path).length === 2 && c.arrivals(loose.path).length === 3, { what: "the valid events" });
  assert.ok(c.arrivals(strict.path).every((r) => !r.body.toString().includes('"amount":-1')));
  const events = await c.api(o, "GET", "/api/events?type=invoice.paid&limit=100");
  assert.equal(events.body.data.length, 3, "refused events are stored nowhere");
  // Events from the queue: a refused one is dead-lettered with its reason.
  const published = await worker.api("/__publish", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([{ organizationId: o.name, type: "invoice.paid", data: { amount: 1 }, id: "q-bad" }, { organizationId: o.name, type: "invoice.paid", data: { invoiceId: "q", amount: 2 }, id: "q-good" }]),
  });
  assert.equal(published.status, 204);
  await eventually(() => c.arrivals(strict.path).length === 3, { what: "the good queued event" });
  await eventually(() => worker.sql("SELECT reason FROM dead_letters WHERE body LIKE '%q-bad%'").some((r) => r.reason.includes("invoiceId")), { what: "the refused queued event's dead letter" });
});

test("bad types are 400s naming the field; the example must fit the schema; portal sessions read but do not write", async () => {
  const o = c.org();
  for (const [body, field] of [
    [{ name: "bad name" }, "name"],
    [{ name: "edgehook.mine" }, "name"],
    [{ name: "a.b", schema: { type: "thing" } }, "schema"],
    [{ name: "a.b", schema: { minimum: "zero" } }, "schema"],
    [{ name: "a.b", schema: { $ref: "https://example.com/s.json" } }, "schema"],
    [{ name: "a.b", schema: [1] }, "schema"],
    [{ name: "a.b", schema: INVOICE.schema, example: { invoiceId: 1, amount: 1 } }, "example"],
    [{ name: "a.b", example: [1] }, "example"],
    [{ name: "a.b", colour: "red" }, "colour"],
  ]) {
    const res = await c.api(o, "POST", "/api/event-types", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.body.error.field, field, JSON.stringify(res.body));
  }
  const session = await c.api(o, "POST", "/api/portal/sessions", {});
  const portal = { authorization: `Bearer ${session.body.token}`, "content-type": "application/json" };
  assert.equal((await worker.api("/api/event-types", { headers: portal })).status, 200);
  assert.equal((await worker.api("/api/event-types", { method: "POST", headers: portal, body: JSON.stringify({ name: "x.y" }) })).status, 403);
  assert.equal((await c.api(o, "POST", "/api/event-types", { name: "x.y" }, { role: "member" })).status, 403);
});

test("Send test event sends the type's example", async () => {
  const o = c.org();
  assert.equal((await c.api(o, "POST", "/api/event-types", INVOICE)).status, 201);
  const hook = await c.webhook(o, { events: ["invoice.paid"] });
  const sent = await c.api(o, "POST", `/api/webhooks/${hook.id}/test`, { eventType: "invoice.paid" }, { template: "/api/webhooks/{id}/test" });
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  await eventually(() => c.arrivals(hook.path).length === 1, { what: "the test event" });
  const body = JSON.parse(c.arrivals(hook.path)[0].body);
  assert.deepEqual([body.type, body.data], ["invoice.paid", INVOICE.example]);
  // The example goes out as the vendor wrote it: member order and number spelling.
  const raw = await worker.api("/api/event-types", { method: "POST", headers: o.auth(), body: '{"name":"order.shipped","example":{"z":1,"a":1.50}}' });
  assert.equal(raw.status, 201);
  const shipping = await c.webhook(o, { events: ["order.shipped"] });
  assert.equal((await c.api(o, "POST", `/api/webhooks/${shipping.id}/test`, {}, { template: "/api/webhooks/{id}/test" })).status, 200);
  await eventually(() => c.arrivals(shipping.path).length === 1, { what: "the second test event" });
  assert.ok(c.arrivals(shipping.path)[0].body.toString().includes('"data":{"z":1,"a":1.50}'), c.arrivals(shipping.path)[0].body.toString());
});
