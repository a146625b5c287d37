// Polling endpoints: a webhook with `"destination": {"type": "poll"}` has no URL; its events wait in order (types and
// filter applied) for a reader with a token scoped to it, each message signed so the same verifier checks it.
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
  c = client(worker, spec, receiver, "poll");
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

/** Creates a polling webhook; answers it with its secret. */
async function pollingWebhook(o, fields = {}) {
  const res = await c.api(o, "POST", "/api/webhooks", { name: "poller", events: ["deal.*"], destination: { type: "poll" }, ...fields });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

async function newToken(o, id) {
  const res = await c.api(o, "POST", `/api/webhooks/${id}/poll-tokens`, undefined, { template: "/api/webhooks/{id}/poll-tokens" });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** Reads the webhook's messages with a poll token; answers status and body, checked against the document. */
async function poll(id, token, query = "") {
  const res = await worker.api(`/api/poll/${id}${query}`, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.json();
  spec.check("GET", "/api/poll/{id}", res.status, body);
  return { status: res.status, body };
}

async function publish(o, text) {
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: text });
  assert.equal(res.status, 202, await res.text());
}

test("a polling webhook's reader gets its events in order, filtered, signed, exactly as sent; the same cursor reads the same messages", async () => {
  const o = c.org();
  const hook = await pollingWebhook(o, { filter: { data: { amount: { $gte: 100 } } } });
  assert.deepEqual([hook.url, hook.destination], [null, { type: "poll" }]);
  const { token, id: tokenId } = await newToken(o, hook.id);
  assert.match(token, /^ehpl_/);
  // An HTTP twin gets deliveries as before; the poller gets none (nothing reaches a URL for it).
  const twin = await c.webhook(o, { events: ["deal.*"] });
  for (const amount of ["150.50", "5", "200", "300", "1000"]) await publish(o, `{"type":"deal.won","data":{"amount":${amount}}}`);
  await publish(o, '{"type":"lead.created","data":{"amount":999}}');

  const first = await poll(hook.id, token, "?limit=2");
  assert.equal(first.status, 200);
  assert.deepEqual(first.body.data.map((m) => JSON.parse(m.body).data.amount), [150.5, 200]);
  assert.ok(first.body.data[0].body.includes('"amount":150.50'), "the body carries the event exactly as sent");
  const verifier = new Webhook(hook.secret);
  for (const m of first.body.data) {
    assert.equal(m.headers["webhook-id"], m.id);
    assert.deepEqual(verifier.verify(m.body, m.headers), JSON.parse(m.body));
    assert.equal(m.type, "deal.won");
  }
  // Not acknowledged yet: reading without a cursor starts over.
  assert.deepEqual((await poll(hook.id, token, "?limit=2")).body.data.map((m) => m.id), first.body.data.map((m) => m.id));
  const second = await poll(hook.id, token, `?after=${first.body.next}`);
  assert.deepEqual(second.body.data.map((m) => JSON.parse(m.body).data.amount), [300, 1000]);
  const again = await poll(hook.id, token, `?after=${first.body.next}`);
  assert.deepEqual(again.body.data.map((m) => [m.id, m.body]), second.body.data.map((m) => [m.id, m.body]), "same cursor, same messages");
  // Acknowledged up to the first page: without a cursor, the reader resumes there.
  assert.deepEqual((await poll(hook.id, token)).body.data.map((m) => m.id), second.body.data.map((m) => m.id));
  const status = await c.api(o, "GET", `/api/webhooks/${hook.id}`, undefined, { template: "/api/webhooks/{id}" });
  assert.equal(status.body.poll.cursor, first.body.next);
  assert.equal(status.body.poll.pending, 2);
  assert.ok(status.body.poll.oldestPendingAt);
  const end = await poll(hook.id, token, `?after=${second.body.next}`);
  assert.deepEqual([end.body.data.length, end.body.next], [0, second.body.next]);
  const caughtUp = await c.api(o, "GET", `/api/webhooks/${hook.id}`, undefined, { template: "/api/webhooks/{id}" });
  assert.deepEqual([caughtUp.body.poll.pending, caughtUp.body.poll.oldestPendingAt], [0, null]);
  // A made-up cursor past the end acknowledges nothing that does not exist yet.
  await poll(hook.id, token, "?after=999999");
  await publish(o, '{"type":"deal.won","data":{"amount":7000}}');
  assert.deepEqual((await poll(hook.id, token, `?after=${second.body.next}`)).body.data.map((m) => JSON.parse(m.body).data.amount), [7000]);
  // The HTTP twin got every deal event pushed; every request the receiver saw was the twin's (none for the poller).
  await eventually(() => c.arrivals(twin.path).length === 6, { what: "the twin's deliveries" });
  assert.deepEqual([...new Set(receiver.requests.map((r) => r.url))], [twin.path]);

  // Tokens: listed without the token; revoked at once.
  const listed = await c.api(o, "GET", `/api/webhooks/${hook.id}/poll-tokens`, undefined, { template: "/api/webhooks/{id}/poll-tokens" });
  assert.equal(listed.body.data.length, 1);
  assert.ok(!JSON.stringify(listed.body).includes(token), "the list never shows the token");
  assert.ok(token.startsWith(listed.body.data[0].hint.replace("…", "")));
  const revoked = await c.api(o, "DELETE", `/api/webhooks/${hook.id}/poll-tokens/${tokenId}`, undefined, { template: "/api/webhooks/{id}/poll-tokens/{tokenId}" });
  assert.equal(revoked.status, 204);
  assert.equal((await poll(hook.id, token)).status, 401);
});

test("tokens read only their webhook; API credentials do not read; bad input is a 400 naming its field", async () => {
  const o = c.org();
  const a = await pollingWebhook(o);
  const b = await pollingWebhook(o);
  const { token } = await newToken(o, a.id);
  assert.equal((await poll(b.id, token)).status, 403);
  assert.equal((await poll(a.id, "ehpl_not-a-real-token")).status, 401);
  const jwt = o.auth().authorization.replace("Bearer ", "");
  assert.equal((await poll(a.id, jwt)).status, 401);
  assert.equal((await worker.api(`/api/poll/${a.id}`)).status, 401);
  for (const [query, field] of [["?after=abc", "after"], ["?after=-1", "after"], ["?limit=0", "limit"], ["?limit=101", "limit"]]) {
    const res = await poll(a.id, token, query);
    assert.deepEqual([res.status, res.body.error.field], [400, field], query);
  }
  for (const [body, field] of [
    [{ name: "x", events: ["*"], destination: { type: "poll" }, url: `${receiver.url}/x` }, "url"],
    [{ name: "x", events: ["*"], destination: { type: "ftp" } }, "destination"],
    [{ name: "x", events: ["*"], destination: "poll" }, "destination"],
    [{ name: "x", events: ["*"] }, "url"],
  ]) {
    const res = await c.api(o, "POST", "/api/webhooks", body);
    assert.deepEqual([res.status, res.body.error.field], [400, field], JSON.stringify(body));
  }
  const patch = (body) => c.api(o, "PATCH", `/api/webhooks/${a.id}`, body, { template: "/api/webhooks/{id}" });
  assert.equal((await patch({ destination: { type: "http" } })).body.error.field, "destination");
  assert.equal((await patch({ url: `${receiver.url}/y` })).body.error.field, "url");
  // What only an HTTP webhook does is a 409 for a poller; an HTTP webhook has no poll tokens.
  assert.equal((await c.api(o, "POST", `/api/webhooks/${a.id}/test`, {}, { template: "/api/webhooks/{id}/test" })).status, 409);
  assert.equal((await c.api(o, "POST", `/api/webhooks/${a.id}/replay-missing`, { since: new Date(Date.now() - 60000).toISOString() }, { template: "/api/webhooks/{id}/replay-missing" })).status, 409);
  const http = await c.webhook(o);
  assert.equal((await c.api(o, "POST", `/api/webhooks/${http.id}/poll-tokens`, undefined, { template: "/api/webhooks/{id}/poll-tokens" })).body.error.code, "not_polling");
  // A deleted webhook's tokens go with it.
  assert.equal((await c.api(o, "DELETE", `/api/webhooks/${a.id}`, undefined, { template: "/api/webhooks/{id}" })).status, 204);
  assert.equal((await poll(a.id, token)).status, 401);
});
