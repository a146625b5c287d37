// Workers RPC: another Worker of the vendor's account publishes with `await env.EDGEHOOK.publish(event)` over a
// service binding to the `Publisher` entrypoint (tests/fixtures/rpc-caller.*). Same validation, idempotency and
// answers as `POST /api/events`; the organization and role come from the binding's props, never from the call.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "../verifier-wasm/pkg/node.mjs";
import { startWorker, startReceiver, token, eventually } from "./harness.mjs";

let worker;
let receiver;
before(async () => {
  receiver = await startReceiver();
  worker = await startWorker({ configs: ["tests/fixtures/rpc-caller.toml"] });
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

/** Calls `env[binding][method](...args)` in the calling Worker: `{ result }` or `{ thrown: { name, message } }`. */
async function rpc(binding, method, ...args) {
  const res = await worker.api(`/__rpc/${binding}/${method}`, { method: "POST", body: JSON.stringify(args) });
  assert.equal(res.status, 200, `the calling Worker answered ${res.status}`);
  return res.json();
}

const auth = (org) => ({ authorization: `Bearer ${token({ org })}`, "content-type": "application/json" });

async function subscribe(org, path, events) {
  const created = await worker.api("/api/webhooks", { method: "POST", headers: auth(org), body: JSON.stringify({ name: path, url: `${receiver.url}${path}`, events }) });
  assert.equal(created.status, 201);
  return created.json();
}

const arrivedAt = (path) => receiver.requests.filter((r) => r.url === path);

test("publish stores, answers and delivers the event exactly as sent; a repeat of its id is a duplicate, delivered once", async () => {
  const { secret } = await subscribe("org_rpc", "/rpc-publish", ["lead.*"]);
  // The event as JSON text keeps its bytes (1.50 stays 1.50), as an HTTP body does.
  const text = '{"type":"lead.created","id":"rpc-1","data":{"lead":"l-1","amount":1.50}}';
  const first = await rpc("EDGEHOOK", "publish", text);
  assert.equal(first.thrown, undefined, JSON.stringify(first.thrown));
  assert.equal(first.result.deliveries, 1);
  assert.equal(typeof first.result.id, "string");
  assert.equal(first.result.duplicate, undefined);
  const [request] = await eventually(() => arrivedAt("/rpc-publish").length >= 1 && arrivedAt("/rpc-publish"), { timeoutMs: 30000, what: "the delivery" });
  const body = new Webhook(secret).verify(request.body, request.headers);
  assert.equal(body.data.lead, "l-1");
  assert.match(request.body.toString(), /"amount":1\.50/, "the data goes out as it came in");
  // The same event again, now as an object: the same id answers duplicate, and nothing more is sent.
  const again = await rpc("EDGEHOOK", "publish", JSON.parse(text));
  assert.deepEqual(again.result, { ...first.result, duplicate: true });
  // An idempotency key works as the Idempotency-Key header does.
  const keyed = await rpc("EDGEHOOK", "publish", { type: "lead.updated", data: { lead: "l-1" } }, { idempotencyKey: "key-1" });
  const keyedAgain = await rpc("EDGEHOOK", "publish", { type: "lead.updated", data: { lead: "l-1" } }, { idempotencyKey: "key-1" });
  assert.equal(keyedAgain.result.id, keyed.result.id);
  assert.equal(keyedAgain.result.duplicate, true);
  await eventually(() => arrivedAt("/rpc-publish").length >= 2, { timeoutMs: 30000, what: "the keyed event's delivery" });
  // The event is the organization's like any other: the API shows it.
  const shown = await worker.api(`/api/events/${first.result.id}`, { headers: auth("org_rpc") });
  assert.equal(shown.status, 200);
  assert.equal((await shown.json()).type, "lead.created");
  const deliveries = await (await worker.api(`/api/webhooks/${(await listWebhooks("org_rpc")).find((w) => w.url.endsWith("/rpc-publish")).id}/deliveries`, { headers: auth("org_rpc") })).json();
  assert.equal(deliveries.total, 2, "two events delivered once each, whatever the repeats");
});

async function listWebhooks(org) {
  const res = await worker.api("/api/webhooks", { headers: auth(org) });
  const body = await res.json();
  return body.data ?? body;
}

test("a refused event throws the API's own error body, the same as POST /api/events answers", async () => {
  const bad = [
    { type: "lead.exploded", data: {} },
    { type: "lead.created" },
    { type: "lead.created", data: {}, extra: 1 },
    "not json",
    null,
  ];
  for (const event of bad) {
    const { result, thrown } = await rpc("EDGEHOOK", "publish", event);
    assert.equal(result, undefined, `${JSON.stringify(event)} was accepted`);
    assert.equal(thrown.name, "Error");
    const http = await worker.api("/api/events", { method: "POST", headers: auth("org_rpc"), body: typeof event === "string" ? event : JSON.stringify(event) });
    assert.equal(http.status, 400);
    const expected = await http.json();
    assert.deepEqual(JSON.parse(thrown.message), expected, `the thrown error for ${JSON.stringify(event)}`);
    assert.equal(typeof expected.error.code, "string");
  }
  const { thrown } = await rpc("EDGEHOOK", "publish", { type: "lead.exploded", data: {} });
  assert.equal(JSON.parse(thrown.message).error.field, "type");
});

test("publishBatch answers each event on its own, as POST /api/events/batch does", async () => {
  await subscribe("org_rpc", "/rpc-batch", ["deal.*"]);
  const events = [
    { type: "deal.won", data: { deal: "d-1" } },
    { type: "deal.exploded", data: {} },
    { type: "deal.lost", data: { deal: "d-2" } },
  ];
  const { result } = await rpc("EDGEHOOK", "publishBatch", events);
  assert.equal(result.accepted, 2);
  assert.equal(result.rejected, 1);
  assert.deepEqual(result.results.map((r) => r.status), [202, 400, 202]);
  assert.equal(result.results[1].error.field, "type");
  await eventually(() => arrivedAt("/rpc-batch").length >= 2, { timeoutMs: 30000, what: "the batch's deliveries" });
  const { thrown } = await rpc("EDGEHOOK", "publishBatch", []);
  assert.equal(JSON.parse(thrown.message).error.field, "events");
});

test("the caller is the binding's props: its organization scopes the event, a member cannot publish, no props is refused", async () => {
  const other = await rpc("EDGEHOOK_OTHER", "publish", { type: "contact.created", id: "other-1", data: { contact: "c-1" } });
  assert.equal(other.thrown, undefined, JSON.stringify(other.thrown));
  const inOther = await (await worker.api(`/api/events/${other.result.id}`, { headers: auth("org_rpc_other") })).json();
  assert.equal(inOther.type, "contact.created");
  const fromRpcOrg = await worker.api(`/api/events/${other.result.id}`, { headers: auth("org_rpc") });
  assert.equal(fromRpcOrg.status, 404, "another organization's event is not found");
  // An argument cannot name the organization: it is only part of the event, which then fails validation.
  const smuggled = await rpc("EDGEHOOK", "publish", { type: "contact.created", data: {}, organizationId: "org_rpc_other" });
  assert.equal(smuggled.result, undefined);
  const member = await rpc("EDGEHOOK_MEMBER", "publish", { type: "contact.created", data: {} });
  assert.equal(JSON.parse(member.thrown.message).error.code, "forbidden");
  const none = await rpc("EDGEHOOK_NO_PROPS", "publish", { type: "contact.created", data: {} });
  const refused = JSON.parse(none.thrown.message).error;
  assert.equal(refused.code, "unauthorized");
  assert.match(refused.message, /props/);
});

test("an HTTP request cannot pass for an RPC call", async () => {
  const res = await worker.api("/api/events", {
    method: "POST",
    headers: { "content-type": "application/json", "edgehook-rpc-caller": JSON.stringify({ organization: "org_rpc" }) },
    body: JSON.stringify({ type: "lead.created", data: {} }),
  });
  assert.equal(res.status, 401);
});

test("@edgehook/client runs inside a Worker: calls over a service binding, answers typed, refusals as EdgehookError", async () => {
  const res = await worker.api("/__client", { method: "POST", body: JSON.stringify({ token: token({ org: "org_rpc_client" }), url: `${receiver.url}/from-worker` }) });
  assert.equal(res.status, 200);
  const { created, listed, refusal } = await res.json();
  assert.match(created, /^wh_/);
  assert.deepEqual(listed, [created]);
  assert.deepEqual(refusal, { isEdgehookError: true, status: 404, code: "not_found" });
});
