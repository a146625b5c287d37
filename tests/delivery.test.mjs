// The data plane through wrangler dev with local D1, KV and Queues, delivering to a real receiver on 127.0.0.1.
// Every delivery that arrives is checked three ways: our verifier package, the standardwebhooks package, and a
// plain node:crypto check of X-Webhook-Signature.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook } from "../verifier-wasm/pkg/node.mjs";
import { startWorker, startReceiver, token, eventually } from "./harness.mjs";
import { loadSpec } from "./openapi.mjs";

let worker;
let receiver;
let spec;
let orgCounter = 0;

before(async () => {
  receiver = await startReceiver();
  // The organizations' housekeeping alarm every 2 s instead of every minute.
  worker = await startWorker({ vars: { AUTO_DISABLE_AFTER: "2", DELIVERY_TIMEOUT_SECONDS: "2", SECRET_GRACE_SECONDS: "3600", EXPOSE_USAGE: "true", HOUSEKEEPING_SECONDS: "2" } });
  spec = await loadSpec(worker);
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

function org() {
  const name = `org_dlv_${process.pid}_${++orgCounter}`;
  const auth = (role = "admin") => ({ authorization: `Bearer ${token({ org: name, role })}`, "content-type": "application/json" });
  return { name, auth };
}

async function api(o, method, path, body, role, template) {
  const res = await worker.api(path, { method, headers: o.auth(role), body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  const documented = template ?? path.split("?")[0];
  if (spec.doc.paths[documented]?.[method.toLowerCase()]?.responses[String(res.status)]) spec.check(method, documented, res.status, json);
  return { status: res.status, body: json };
}

let pathCounter = 0;
async function webhook(o, fields = {}) {
  const path = `/r${++pathCounter}`;
  const res = await api(o, "POST", "/api/webhooks", { name: path, url: `${receiver.url}${path}`, events: ["*"], ...fields });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { ...res.body, path };
}

const arrivals = (path) => receiver.requests.filter((r) => r.url === path);

/** Checks a received request with the verifier package, standardwebhooks and node:crypto. */
function verifyThreeWays(request, secret) {
  const ours = new Webhook(secret).verify(request.body, request.headers);
  const theirs = new StandardWebhook(secret).verify(request.body.toString("utf8"), request.headers);
  const hex = createHmac("sha256", secret).update(request.body).digest("hex");
  assert.equal(request.headers["x-webhook-signature"], hex);
  assert.deepEqual(ours, theirs);
  return ours;
}

test("an event fans out to exact, wildcard and * subscribers only; inactive and other-org webhooks get nothing", async () => {
  const o = org();
  const exact = await webhook(o, { events: ["lead.created"], headers: { "X-Tenant": "acme" } });
  const resource = await webhook(o, { events: ["lead.*"] });
  const all = await webhook(o, { events: ["*"] });
  const other = await webhook(o, { events: ["deal.won"] });
  const inactive = await webhook(o, { events: ["*"], isActive: false });
  const foreign = await webhook(org(), { events: ["*"] });
  const res = await api(o, "POST", "/api/events", { type: "lead.created", data: { id: "lead_1", name: "Ada" } }, "service");
  assert.equal(res.status, 202);
  assert.equal(res.body.deliveries, 3);
  assert.match(res.body.id, /^evt_/);
  for (const w of [exact, resource, all]) {
    const [request] = await eventually(() => arrivals(w.path).length === 1 && arrivals(w.path), { what: `delivery to ${w.path}` });
    const body = verifyThreeWays(request, w.secret);
    assert.equal(body.id, res.body.id);
    assert.equal(body.type, "lead.created");
    assert.equal(body.organizationId, o.name);
    assert.match(body.deliveryId, /^dlv_/);
    assert.deepEqual(body.data, { id: "lead_1", name: "Ada" });
    assert.equal(request.headers["webhook-id"], body.deliveryId);
    assert.equal(request.headers["x-webhook-event"], "lead.created");
    assert.match(request.headers["user-agent"], /^edgehook\//);
    assert.equal(request.headers["content-type"], "application/json");
    assert.ok(!Number.isNaN(Date.parse(request.headers["x-webhook-timestamp"])));
  }
  assert.equal(arrivals(exact.path)[0].headers["x-tenant"], "acme");
  // Give any stray delivery time to show up, then check none did.
  await api(o, "POST", "/api/events", { type: "deal.won", data: { id: "d1" } }, "service");
  await eventually(() => arrivals(other.path).length === 1, { what: "the deal.won delivery" });
  assert.equal(arrivals(inactive.path).length, 0);
  assert.equal(arrivals(foreign.path).length, 0);
  assert.equal(arrivals(exact.path).length, 1);
});

test("the same id twice creates one set of deliveries; the repeat answers 200 duplicate", async () => {
  const o = org();
  const w = await webhook(o);
  const first = await api(o, "POST", "/api/events", { type: "contact.created", data: { n: 1 }, id: "crm-evt-1" }, "service");
  assert.equal(first.status, 202);
  const again = await api(o, "POST", "/api/events", { type: "contact.created", data: { n: 1 }, id: "crm-evt-1" }, "service");
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, { id: "crm-evt-1", deliveries: 1, duplicate: true });
  const viaHeader = await worker.api("/api/events", { method: "POST", headers: { ...o.auth("service"), "idempotency-key": "crm-evt-1" }, body: JSON.stringify({ type: "contact.created", data: { n: 1 } }) });
  assert.equal(viaHeader.status, 200);
  // Within one batch too: the repeat (and a repeat of the earlier event) is a duplicate.
  const batch = await api(o, "POST", "/api/events/batch", { events: [
    { type: "contact.created", data: { n: 2 }, id: "crm-evt-2" },
    { type: "contact.created", data: { n: 2 }, id: "crm-evt-2" },
    { type: "contact.created", data: { n: 1 }, id: "crm-evt-1" },
  ] }, "service");
  assert.deepEqual(batch.body.results.map((r) => [r.status, r.duplicate]), [[202, false], [200, true], [200, true]]);
  // And at once: six requests of one id (they go in shared D1 batches) make one event, one 202 and five duplicates.
  const racing = await Promise.all(Array.from({ length: 6 }, () => api(o, "POST", "/api/events", { type: "contact.created", data: { n: 3 }, id: "crm-evt-3" }, "service")));
  assert.deepEqual(racing.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 202]);
  assert.ok(racing.every((r) => r.body.id === "crm-evt-3" && r.body.deliveries === 1));
  await eventually(() => arrivals(w.path).length === 3, { what: "the three deliveries" });
  // The log lists a delivery once its first attempt is recorded (its row is written then: schema v22).
  const log = await eventually(async () => {
    const l = await api(o, "GET", `/api/webhooks/${w.id}/deliveries`, undefined, "member", "/api/webhooks/{id}/deliveries");
    return l.body.total === 3 && l;
  }, { what: "the three deliveries recorded" });
  assert.equal(log.body.data.length, 3);
  assert.equal(arrivals(w.path).length, 3);
});

test("ingest validation: bad events are 4xx naming the field; members cannot publish; 256 KiB limit is 413", async () => {
  const o = org();
  for (const [body, field] of [
    [{ data: {} }, "type"],
    [{ type: "lead.exploded", data: {} }, "type"],
    [{ type: "lead.created" }, "data"],
    [{ type: "lead.created", data: "x" }, "data"],
    [{ type: "lead.created", data: {}, id: 5 }, "id"],
    [{ type: "lead.updated", data: {}, changes: { email: "new" } }, "changes.email"],
    [{ type: "lead.created", data: {}, extra: 1 }, "extra"],
  ]) {
    const res = await api(o, "POST", "/api/events", body, "service");
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.body.error.field, field);
  }
  assert.equal((await api(o, "POST", "/api/events", { type: "lead.created", data: {} }, "member")).status, 403);
  const big = await api(o, "POST", "/api/events", { type: "lead.created", data: { blob: "x".repeat(260 * 1024) } }, "service");
  assert.equal(big.status, 413);
  const batch = await api(o, "POST", "/api/events/batch", { events: [{ type: "lead.created", data: {} }, { type: "nope", data: {} }] }, "service");
  assert.equal(batch.status, 200);
  assert.equal(batch.body.accepted, 1);
  assert.equal(batch.body.results[1].status, 400);
  assert.equal(batch.body.results[1].error.field, "type");
});

test("retries follow the schedule (1x, then 5x retryDelaySeconds) until the receiver succeeds", async () => {
  const o = org();
  const w = await webhook(o, { retryAttempts: 2, retryDelaySeconds: 1, events: ["task.created"] });
  let served = 0;
  receiver.respond((r) => (r.url === w.path ? (++served <= 2 ? { status: 500, body: "boom" } : { status: 200 }) : { status: 200 }));
  await api(o, "POST", "/api/events", { type: "task.created", data: { id: "t1" } }, "service");
  const got = await eventually(() => arrivals(w.path).length >= 3 && arrivals(w.path), { timeoutMs: 40000, what: "three attempts" });
  receiver.respond(() => ({ status: 200 }));
  const gaps = [got[1].receivedAt - got[0].receivedAt, got[2].receivedAt - got[1].receivedAt];
  assert.ok(gaps[0] >= 900, `first retry after ${gaps[0]} ms, expected about 1 s`);
  assert.ok(gaps[1] >= 4500, `second retry after ${gaps[1]} ms, expected about 5 s`);
  assert.ok(gaps[1] > gaps[0]);
  const bodies = got.map((r) => r.body.toString());
  assert.equal(new Set(bodies).size, 1, "every attempt sends identical bytes");
  const log = await eventually(async () => {
    const l = await api(o, "GET", `/api/webhooks/${w.id}/deliveries`, undefined, "member", "/api/webhooks/{id}/deliveries");
    return l.body.data[0]?.status === "succeeded" && l;
  }, { what: "the delivery to succeed" });
  assert.equal(log.body.data[0].attempts, 3);
  const detail = await api(o, "GET", `/api/webhooks/${w.id}/deliveries/${log.body.data[0].id}`, undefined, "member", "/api/webhooks/{id}/deliveries/{deliveryId}");
  assert.deepEqual(detail.body.attempts.map((a) => a.statusCode), [500, 500, 200]);
  assert.equal(detail.body.attempts[0].responseBody, "boom");
  assert.equal(detail.body.payload.type, "task.created");
});

test("exhaustion fails the delivery; AUTO_DISABLE_AFTER failures disable the webhook and emit edgehook.webhook.disabled (the old name still subscribes)", async () => {
  const o = org();
  const failing = await webhook(o, { retryAttempts: 0, events: ["order.created"] });
  const watcher = await webhook(o, { events: ["webhook.disabled"] });
  receiver.respond((r) => (r.url === failing.path ? { status: 503 } : { status: 200 }));
  for (const n of [1, 2]) {
    await api(o, "POST", "/api/events", { type: "order.created", data: { n } }, "service");
    await eventually(() => arrivals(failing.path).length === n, { what: `failed attempt ${n}` });
  }
  const [notice] = await eventually(() => arrivals(watcher.path).length === 1 && arrivals(watcher.path), { what: "the webhook.disabled event" });
  receiver.respond(() => ({ status: 200 }));
  const body = verifyThreeWays(notice, watcher.secret);
  assert.equal(body.type, "edgehook.webhook.disabled");
  assert.equal(body.data.webhookId, failing.id);
  const after = await api(o, "GET", `/api/webhooks/${failing.id}`, undefined, "member", "/api/webhooks/{id}");
  assert.equal(after.body.isActive, false);
  assert.equal(after.body.consecutiveFailures, 2);
  assert.match(after.body.disabledReason, /2 consecutive failed deliveries/);
  const failed = await api(o, "GET", `/api/webhooks/${failing.id}/deliveries?success=false`, undefined, "member", "/api/webhooks/{id}/deliveries");
  assert.equal(failed.body.total, 2);
  assert.ok(failed.body.data.every((d) => d.status === "failed" && d.lastStatusCode === 503));
  // Turning it back on clears the count and the reason.
  const revived = await api(o, "PATCH", `/api/webhooks/${failing.id}`, { isActive: true }, "admin", "/api/webhooks/{id}");
  assert.equal(revived.body.isActive, true);
  assert.equal(revived.body.consecutiveFailures, 0);
  assert.equal(revived.body.disabledReason, null);
});

test("a receiver answering webhook-delivery: abort-message gets no retries", async () => {
  const o = org();
  const w = await webhook(o, { retryAttempts: 3, retryDelaySeconds: 1, events: ["quote.sent"] });
  receiver.respond((r) => (r.url === w.path ? { status: 410, headers: { "webhook-delivery": "abort-message" } } : { status: 200 }));
  await api(o, "POST", "/api/events", { type: "quote.sent", data: {} }, "service");
  const log = await eventually(async () => {
    const l = await api(o, "GET", `/api/webhooks/${w.id}/deliveries`, undefined, "member", "/api/webhooks/{id}/deliveries");
    return l.body.data[0]?.status === "failed" && l;
  }, { what: "the aborted delivery" });
  receiver.respond(() => ({ status: 200 }));
  assert.match(log.body.data[0].lastError, /abort-message/);
  assert.equal(arrivals(w.path).length, 1);
});

test("timeouts, connection resets and redirects are failures with their reason", async () => {
  const o = org();
  const slow = await webhook(o, { retryAttempts: 0, events: ["call.completed"] });
  const reset = await webhook(o, { retryAttempts: 0, events: ["call.completed"] });
  const redirect = await webhook(o, { retryAttempts: 0, events: ["call.completed"] });
  receiver.respond((r) => {
    if (r.url === slow.path) return { status: 200, delayMs: 4000 };
    if (r.url === reset.path) return { reset: true };
    if (r.url === redirect.path) return { status: 302, headers: { location: `${receiver.url}/elsewhere` } };
    return { status: 200 };
  });
  await api(o, "POST", "/api/events", { type: "call.completed", data: {} }, "service");
  const reasons = {};
  for (const [name, w] of Object.entries({ slow, reset, redirect })) {
    const l = await eventually(async () => {
      const r = await api(o, "GET", `/api/webhooks/${w.id}/deliveries`, undefined, "member", "/api/webhooks/{id}/deliveries");
      return r.body.data[0]?.status === "failed" && r;
    }, { timeoutMs: 30000, what: `${name} to fail` });
    reasons[name] = l.body.data[0].lastError;
  }
  receiver.respond(() => ({ status: 200 }));
  assert.match(reasons.slow, /timed out/);
  assert.match(reasons.reset, /connection|network|reset|closed/i);
  assert.match(reasons.redirect, /redirect \(302\)/);
  assert.equal(receiver.requests.filter((r) => r.url === "/elsewhere").length, 0, "redirects are not followed");
});

test("during a secret's grace window deliveries carry two signatures, each verifying with its secret", async () => {
  const o = org();
  const w = await webhook(o, { events: ["meeting.completed"] });
  const rotated = await api(o, "POST", `/api/webhooks/${w.id}/regenerate-secret`, undefined, "admin", "/api/webhooks/{id}/regenerate-secret");
  await api(o, "POST", "/api/events", { type: "meeting.completed", data: {} }, "service");
  const [request] = await eventually(() => arrivals(w.path).length === 1 && arrivals(w.path), { what: "the delivery" });
  assert.equal(request.headers["webhook-signature"].split(" ").length, 2);
  verifyThreeWays(request, rotated.body.secret);
  assert.ok(new Webhook(w.secret).verify(request.body, request.headers));
  assert.ok(new StandardWebhook(w.secret).verify(request.body.toString(), request.headers));
});

test("a test send posts a sample with test: true, answers with the result and is logged", async () => {
  const o = org();
  const w = await webhook(o, { events: ["deal.won"] });
  const res = await api(o, "POST", `/api/webhooks/${w.id}/test`, { eventType: "deal.stage_changed" }, "admin", "/api/webhooks/{id}/test");
  assert.equal(res.status, 200);
  assert.equal(res.body.success, true);
  assert.equal(res.body.statusCode, 200);
  assert.equal(typeof res.body.durationMs, "number");
  const [request] = arrivals(w.path);
  const body = verifyThreeWays(request, w.secret);
  assert.equal(body.test, true);
  assert.equal(body.type, "deal.stage_changed");
  assert.equal(body.data.sample, true);
  const log = await api(o, "GET", `/api/webhooks/${w.id}/deliveries`, undefined, "member", "/api/webhooks/{id}/deliveries");
  assert.equal(log.body.data[0].test, true);
  assert.equal(log.body.data[0].status, "succeeded");
  assert.equal((await api(o, "POST", `/api/webhooks/${w.id}/test`, { eventType: "nope" })).status, 400);
  const malformed = await worker.api(`/api/webhooks/${w.id}/test`, { method: "POST", headers: o.auth(), body: "{oops" });
  assert.equal(malformed.status, 400);
  const empty = await worker.api(`/api/webhooks/${w.id}/test`, { method: "POST", headers: o.auth() });
  assert.equal((await empty.json()).success, true, "an empty body sends the default sample");
});

test("manual retry resends a failed delivery now", async () => {
  const o = org();
  const w = await webhook(o, { retryAttempts: 0, events: ["task.completed"] });
  receiver.respond((r) => (r.url === w.path ? { status: 500 } : { status: 200 }));
  await api(o, "POST", "/api/events", { type: "task.completed", data: {} }, "service");
  const failed = await eventually(async () => {
    const l = await api(o, "GET", `/api/webhooks/${w.id}/deliveries`, undefined, "member", "/api/webhooks/{id}/deliveries");
    return l.body.data[0]?.status === "failed" && l.body.data[0];
  }, { what: "the failure" });
  receiver.respond(() => ({ status: 200 }));
  const retried = await api(o, "POST", `/api/webhooks/${w.id}/deliveries/${failed.id}/retry`, undefined, "admin", "/api/webhooks/{id}/deliveries/{deliveryId}/retry");
  assert.equal(retried.status, 200);
  assert.equal(retried.body.success, true);
  assert.equal(retried.body.status, "succeeded");
  assert.equal(arrivals(w.path).length, 2);
  assert.equal(arrivals(w.path)[0].body.toString(), arrivals(w.path)[1].body.toString());
});

test("the delivery log filters by success and event and pages newest first; stats add up", async () => {
  const o = org();
  const w = await webhook(o, { retryAttempts: 0, events: ["email.sent", "email.opened"] });
  receiver.respond((r) => (r.url === w.path && r.body.toString().includes('"email.opened"') ? { status: 500 } : { status: 200 }));
  for (const type of ["email.sent", "email.sent", "email.opened"]) {
    await api(o, "POST", "/api/events", { type, data: {} }, "service");
  }
  await eventually(async () => {
    const l = await api(o, "GET", `/api/webhooks/${w.id}/deliveries?status=pending`, undefined, "member", "/api/webhooks/{id}/deliveries");
    return l.body.total === 0 && arrivals(w.path).length === 3;
  }, { what: "all three deliveries to finish" });
  receiver.respond(() => ({ status: 200 }));
  const q = (query) => api(o, "GET", `/api/webhooks/${w.id}/deliveries?${query}`, undefined, "member", "/api/webhooks/{id}/deliveries");
  assert.equal((await q("success=true")).body.total, 2);
  assert.equal((await q("success=false")).body.total, 1);
  assert.equal((await q("event=email.opened")).body.data[0].eventType, "email.opened");
  const all = await q("limit=100");
  const page2 = await q("limit=1&page=2");
  assert.deepEqual(page2.body, { ...page2.body, page: 2, limit: 1, total: 3, totalCapped: false });
  assert.equal(page2.body.data[0].id, all.body.data[1].id);
  // The same log through iterators, a delivery at a time.
  const walked = [];
  for (let query = "limit=1", pages = 0; query && pages < 5; pages++) {
    const p = await q(query);
    walked.push(...p.body.data.map((d) => d.id));
    assert.equal(p.body.done, p.body.iterator === null);
    query = p.body.iterator && `limit=1&iterator=${p.body.iterator}`;
  }
  assert.deepEqual(walked, all.body.data.map((d) => d.id));
  assert.equal((await q("iterator=eit_3")).status, 400, "another list's iterator");
  assert.ok(all.body.data[0].createdAt >= all.body.data[2].createdAt);
  for (const bad of ["limit=0", "limit=101", "page=0", "success=maybe", "event=nope"]) {
    assert.equal((await q(bad)).status, 400, bad);
  }
  const stats = await api(o, "GET", "/api/webhooks/stats", undefined, "member");
  assert.equal(stats.status, 200);
  assert.deepEqual(stats.body.webhooks, { total: 1, active: 1, disabled: 0 });
  assert.deepEqual(stats.body.deliveries.last24h, { total: 3, succeeded: 2, failed: 1, pending: 0 });
  assert.equal(stats.body.deliveries.successRate, 0.6667);
});

test("the 24-hour counts stay right while the alarm counts deliveries (schema v20), through a retry that ends after counting", async () => {
  const o = org();
  const w = await webhook(o, { retryAttempts: 1, retryDelaySeconds: 6, events: ["task.created"] });
  const quiet = await webhook(o, { events: ["email.opened"] });
  let served = 0;
  receiver.respond((r) => (r.url === w.path ? (++served === 1 ? { status: 500 } : { status: 200 }) : { status: 200 }));
  await api(o, "POST", "/api/events", { type: "task.created", data: { n: 1 } }, "service");
  await api(o, "POST", "/api/events", { type: "task.created", data: { n: 2 } }, "service");
  const counts = async () => {
    const stats = (await api(o, "GET", "/api/webhooks/stats", undefined, "member")).body.deliveries.last24h;
    const listed = (await api(o, "GET", "/api/webhooks", undefined, "member")).body.data;
    const mine = (await api(o, "GET", `/api/webhooks/${w.id}/stats`, undefined, "member", "/api/webhooks/{id}/stats")).body;
    const hours = mine.hourly.reduce((sum, h) => ({ succeeded: sum.succeeded + h.succeeded, failed: sum.failed + h.failed, pending: sum.pending + h.pending }), { succeeded: 0, failed: 0, pending: 0 });
    return {
      stats,
      list: Object.fromEntries(listed.map((h) => [h.id, h.activity.last24h.total])),
      webhook: { total: mine.total, succeeded: mine.succeeded, pending: mine.pending },
      hours,
    };
  };
  // One delivery succeeds at once, the other fails and waits 6 s for its retry: the alarm (every 2 s here) counts
  // both meanwhile, so the retry's success moves a counted delivery from pending to succeeded.
  await eventually(async () => (await counts()).stats.pending === 1, { what: "one delivery waiting for its retry" });
  await eventually(() => arrivals(w.path).length === 3, { timeoutMs: 30000, what: "the retry" });
  const expected = {
    stats: { total: 2, succeeded: 2, failed: 0, pending: 0 },
    list: { [w.id]: 2, [quiet.id]: 0 },
    webhook: { total: 2, succeeded: 2, pending: 0 },
    hours: { succeeded: 2, failed: 0, pending: 0 },
  };
  await eventually(async () => isDeepStrictEqual(await counts(), expected), { what: "the retry's success in every count" });
  // And they stay so while the next alarms run (a bounded look, not a sleep: each read must agree).
  const until = Date.now() + 5000;
  while (Date.now() < until) assert.deepEqual(await counts(), expected);
  receiver.respond(() => ({ status: 200 }));
});

test("another organization's deliveries are 404", async () => {
  const a = org();
  const b = org();
  const w = await webhook(a, { events: ["pipeline.updated"] });
  await api(a, "POST", "/api/events", { type: "pipeline.updated", data: {} }, "service");
  const log = await eventually(async () => {
    const l = await api(a, "GET", `/api/webhooks/${w.id}/deliveries`, undefined, "member", "/api/webhooks/{id}/deliveries");
    return l.body.total === 1 && l;
  }, { what: "the delivery" });
  const id = log.body.data[0].id;
  assert.equal((await api(b, "GET", `/api/webhooks/${w.id}/deliveries`, undefined, "member")).status, 404);
  assert.equal((await api(b, "GET", `/api/webhooks/${w.id}/deliveries/${id}`, undefined, "member")).status, 404);
  assert.equal((await api(b, "POST", `/api/webhooks/${w.id}/deliveries/${id}/retry`)).status, 404);
});

test("the organization's alarm re-enqueues a pending delivery whose queue message was lost", async () => {
  const o = org();
  const w = await webhook(o, { events: ["activity.created"] });
  // A delivery the organization's object holds as pending and overdue, with no queue message behind it.
  const body = JSON.stringify({ id: "evt_lost", type: "activity.created", timestamp: new Date().toISOString(), organizationId: o.name, deliveryId: "dlv_lost1", data: { lost: true } });
  const past = Date.now() - 5 * 60 * 1000;
  await worker.orgSql(o.name, `INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, next_attempt_at, created_at, updated_at)
              VALUES ('dlv_lost1', '${o.name}', '${w.id}', 'evt_lost', 'activity.created', '${body}', 'pending', 0, ${past}, ${past}, ${past})`);
  const [request] = await eventually(() => arrivals(w.path).length === 1 && arrivals(w.path), { timeoutMs: 20000, what: "the re-enqueued delivery" });
  assert.equal(verifyThreeWays(request, w.secret).data.lost, true);
  assert.equal(request.headers["webhook-id"], "dlv_lost1");
});

test("a batch's round whose queue message was lost is written by the alarm and sent with its id, once", async () => {
  const o = org();
  const w = await webhook(o, { events: ["activity.created"] });
  // An event as a batch ingest stores it (schema v22): its round lists the delivery, which has no row, and no
  // consumer ever claimed it (no lease), five minutes ago.
  const past = Date.now() - 5 * 60 * 1000;
  const stem = "0123456789abcdef01";
  await worker.orgSql(o.name, `INSERT INTO events (organization_id, id, type, data, delivery_count, ingest_token, created_at, delivery_stem, round)
              VALUES ('${o.name}', 'evt_round_lost', 'activity.created', '{"lost":"round"}', 1, 't', ${past}, '${stem}',
              json_array(json_array(printf('%08x', (SELECT rowid FROM webhooks WHERE id = '${w.id}')), '${w.id}')))`);
  const [{ number }] = await worker.orgSql(o.name, `SELECT printf('%08x', rowid) AS number FROM webhooks WHERE id = '${w.id}'`);
  const id = `dlv_${stem}${number}`;
  const [request] = await eventually(() => arrivals(w.path).length === 1 && arrivals(w.path), { timeoutMs: 20000, what: "the lost round's delivery" });
  assert.equal(request.headers["webhook-id"], id, "the id its ingest named");
  const sent = verifyThreeWays(request, w.secret);
  assert.deepEqual([sent.id, sent.deliveryId, sent.data], ["evt_round_lost", id, { lost: "round" }]);
  await eventually(async () => (await worker.orgSql(o.name, `SELECT status FROM deliveries WHERE id = '${id}'`))[0]?.status === "succeeded", { what: "its row, succeeded" });
  assert.equal(arrivals(w.path).length, 1, "sent once");
});

test("deleting a webhook stops its pending deliveries", async () => {
  const o = org();
  const w = await webhook(o, { retryAttempts: 5, retryDelaySeconds: 60, events: ["account.created"] });
  receiver.respond((r) => (r.url === w.path ? { status: 500 } : { status: 200 }));
  await api(o, "POST", "/api/events", { type: "account.created", data: {} }, "service");
  await eventually(() => arrivals(w.path).length === 1, { what: "the first attempt" });
  receiver.respond(() => ({ status: 200 }));
  const pending = await eventually(async () => {
    const rows = await worker.orgSql(o.name, `SELECT status, next_attempt_at FROM deliveries WHERE webhook_id = '${w.id}'`);
    return rows[0]?.status === "pending" && rows[0].next_attempt_at > Date.now() + 30000 && rows;
  }, { what: "the scheduled retry" });
  assert.equal(pending.length, 1);
  assert.equal((await api(o, "DELETE", `/api/webhooks/${w.id}`, undefined, "admin", "/api/webhooks/{id}")).status, 204);
  const [row] = await worker.orgSql(o.name, `SELECT status, last_error, next_attempt_at FROM deliveries WHERE webhook_id = '${w.id}'`);
  assert.deepEqual(row, { status: "failed", last_error: "webhook deleted", next_attempt_at: null });
});
