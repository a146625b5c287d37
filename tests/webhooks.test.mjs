// The management API through wrangler dev: every endpoint, auth, roles, tenancy, validation, and the OpenAPI
// document checked against real responses.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, token, JWT_SECRET } from "./harness.mjs";
import { loadSpec } from "./openapi.mjs";

const LIMIT = 5;
let worker;
let spec;
let orgCounter = 0;

before(async () => {
  worker = await startWorker({ vars: { MAX_WEBHOOKS_PER_ORG: String(LIMIT), SECRET_GRACE_SECONDS: "3600" } });
  spec = await loadSpec(worker);
});
after(async () => {
  await worker?.stop();
});

/** A fresh organization per test, so tests neither see nor limit each other. */
function org(role = "admin") {
  const name = `org_${process.pid}_${++orgCounter}`;
  return { name, as: (r = role) => ({ authorization: `Bearer ${token({ org: name, role: r })}` }) };
}

/** Calls the API and checks the response against the OpenAPI document (for documented statuses). */
async function call(method, path, { headers = {}, body, raw, template } = {}) {
  const init = { method, headers: { ...headers } };
  if (raw !== undefined) {
    init.body = raw;
    init.headers["content-type"] = "application/json";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const res = await worker.api(path, init);
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  const documented = template ?? path.split("?")[0];
  if (spec.doc.paths[documented]?.[method.toLowerCase()]?.responses[String(res.status)]) {
    spec.check(method, documented, res.status, json);
  }
  return { status: res.status, body: json, headers: res.headers };
}

const hook = (overrides = {}) => ({ name: "CRM sync", url: "https://example.com/hooks/crm", events: ["lead.created", "deal.*"], ...overrides });

function assertError(res, status, field) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(typeof res.body.error.code, "string");
  assert.equal(typeof res.body.error.message, "string");
  if (field !== undefined) assert.equal(res.body.error.field, field, JSON.stringify(res.body));
}

test("create returns 201 with defaults and a generated whsec_ secret; reads never show it", async () => {
  const o = org();
  const created = await call("POST", "/api/webhooks", { headers: o.as(), body: hook({ description: "to the CRM", headers: { "X-Tenant": "t1" } }) });
  assert.equal(created.status, 201);
  const w = created.body;
  assert.match(w.id, /^wh_/);
  assert.match(w.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.equal(Buffer.from(w.secret.slice(6), "base64").length, 32);
  assert.equal(w.isActive, true);
  assert.equal(w.retryAttempts, 3);
  assert.equal(w.retryDelaySeconds, 60);
  assert.equal(w.consecutiveFailures, 0);
  assert.equal(w.disabledReason, null);
  assert.deepEqual(w.headers, { "X-Tenant": "t1" });
  assert.match(w.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  const got = await call("GET", `/api/webhooks/${w.id}`, { headers: o.as("member"), template: "/api/webhooks/{id}" });
  assert.equal(got.status, 200);
  assert.equal(got.body.secret, undefined);
  assert.equal(got.body.name, "CRM sync");
  const list = await call("GET", "/api/webhooks", { headers: o.as("member") });
  assert.equal(list.status, 200);
  assert.equal(list.body.data.length, 1);
  assert.ok(!JSON.stringify(list.body).includes(w.secret));
});

test("a caller-supplied secret is kept; the secret route returns it", async () => {
  const o = org();
  const { body: w } = await call("POST", "/api/webhooks", { headers: o.as(), body: hook({ secret: "my-own-secret-123456" }) });
  assert.equal(w.secret, "my-own-secret-123456");
  const s = await call("GET", `/api/webhooks/${w.id}/secret`, { headers: o.as(), template: "/api/webhooks/{id}/secret" });
  assert.deepEqual(s.body, { secret: "my-own-secret-123456" });
});

test("list is newest first and filters on isActive", async () => {
  const o = org();
  const a = (await call("POST", "/api/webhooks", { headers: o.as(), body: hook({ name: "a" }) })).body;
  const b = (await call("POST", "/api/webhooks", { headers: o.as(), body: hook({ name: "b", isActive: false }) })).body;
  const c = (await call("POST", "/api/webhooks", { headers: o.as(), body: hook({ name: "c" }) })).body;
  const all = await call("GET", "/api/webhooks", { headers: o.as() });
  assert.deepEqual(all.body.data.map((w) => w.id), [c.id, b.id, a.id]);
  const active = await call("GET", "/api/webhooks?isActive=true", { headers: o.as() });
  assert.deepEqual(active.body.data.map((w) => w.id), [c.id, a.id]);
  const inactive = await call("GET", "/api/webhooks?isActive=false", { headers: o.as() });
  assert.deepEqual(inactive.body.data.map((w) => w.id), [b.id]);
  assertError(await call("GET", "/api/webhooks?isActive=maybe", { headers: o.as() }), 400, "isActive");
});

test("patch changes any subset; re-activation clears failures; delete answers 204 then 404", async () => {
  const o = org();
  const w = (await call("POST", "/api/webhooks", { headers: o.as(), body: hook() })).body;
  const patched = await call("PATCH", `/api/webhooks/${w.id}`, {
    headers: o.as(),
    body: { name: "Renamed", events: ["*"], retryAttempts: 5, isActive: false, description: null },
    template: "/api/webhooks/{id}",
  });
  assert.equal(patched.status, 200);
  assert.equal(patched.body.name, "Renamed");
  assert.deepEqual(patched.body.events, ["*"]);
  assert.equal(patched.body.retryAttempts, 5);
  assert.equal(patched.body.isActive, false);
  assert.equal(patched.body.url, w.url);
  assert.ok(patched.body.updatedAt >= w.updatedAt);
  assertError(await call("PATCH", `/api/webhooks/${w.id}`, { headers: o.as(), body: { secret: "x".repeat(20) } }), 400, "secret");
  assertError(await call("PATCH", `/api/webhooks/${w.id}`, { headers: o.as(), body: { url: "https://192.168.0.1/" } }), 400, "url");
  const del = await call("DELETE", `/api/webhooks/${w.id}`, { headers: o.as(), template: "/api/webhooks/{id}" });
  assert.equal(del.status, 204);
  assertError(await call("GET", `/api/webhooks/${w.id}`, { headers: o.as() }), 404);
  assertError(await call("DELETE", `/api/webhooks/${w.id}`, { headers: o.as() }), 404);
});

test("regenerate-secret returns a new secret and the secret route follows it", async () => {
  const o = org();
  const w = (await call("POST", "/api/webhooks", { headers: o.as(), body: hook() })).body;
  const r = await call("POST", `/api/webhooks/${w.id}/regenerate-secret`, { headers: o.as(), template: "/api/webhooks/{id}/regenerate-secret" });
  assert.equal(r.status, 200);
  assert.match(r.body.secret, /^whsec_/);
  assert.notEqual(r.body.secret, w.secret);
  const expires = Date.parse(r.body.previousSecretExpiresAt) - Date.now();
  assert.ok(expires > 3500 * 1000 && expires <= 3600 * 1000, `grace window ${expires} ms`);
  assert.equal((await call("GET", `/api/webhooks/${w.id}/secret`, { headers: o.as() })).body.secret, r.body.secret);
});

test("the event catalogue lists every type grouped by resource", async () => {
  const o = org();
  const res = await call("GET", "/api/webhooks/events", { headers: o.as("member") });
  assert.equal(res.status, 200);
  const types = res.body.groups.flatMap((g) => g.events.map((e) => e.type));
  for (const t of ["lead.converted", "deal.stage_changed", "zoom.recording.completed", "cadence.membership_changed", "edgehook.webhook.disabled", "edgehook.delivery.failing", "message.failed", "email.bounced"]) {
    assert.ok(types.includes(t), t);
  }
  assert.equal(types.length, 54);
  assert.ok(res.body.groups.find((g) => g.resource === "deal").events.every((e) => e.description.length > 0));
});

test("the /api/webhooks-management aliases work and accept `active`", async () => {
  const o = org();
  const created = await call("POST", "/api/webhooks-management", { headers: o.as(), body: { ...hook(), active: false } });
  assert.equal(created.status, 201);
  assert.equal(created.body.isActive, false);
  const list = await call("GET", "/api/webhooks-management", { headers: o.as() });
  assert.equal(list.body.data[0].id, created.body.id);
  const patched = await call("PATCH", `/api/webhooks-management/${created.body.id}`, { headers: o.as(), body: { active: true }, template: "/api/webhooks-management/{id}" });
  assert.equal(patched.body.isActive, true);
  const del = await call("DELETE", `/api/webhooks-management/${created.body.id}`, { headers: o.as(), template: "/api/webhooks-management/{id}" });
  assert.equal(del.status, 204);
});

test("missing, malformed, wrongly signed, alg none/HS512, expired and not-yet-valid tokens get 401", async () => {
  const now = Math.floor(Date.now() / 1000);
  const cases = {
    missing: {},
    "not bearer": { authorization: "Basic dXNlcjpwYXNz" },
    malformed: { authorization: "Bearer not.a.jwt.at-all" },
    garbage: { authorization: "Bearer abc" },
    "wrong secret": { authorization: `Bearer ${token({ secret: "some-other-secret" })}` },
    "alg none": { authorization: `Bearer ${token({ alg: "none" })}` },
    "alg HS512": { authorization: `Bearer ${token({ alg: "HS512" })}` },
    // Beyond the 30 s clock leeway.
    expired: { authorization: `Bearer ${token({ exp: now - 120 })}` },
    "not yet valid": { authorization: `Bearer ${token({ nbf: now + 600 })}` },
    "unknown role": { authorization: `Bearer ${token({ role: "owner" })}` },
  };
  for (const [name, headers] of Object.entries(cases)) {
    for (const [method, path] of [["GET", "/api/webhooks"], ["POST", "/api/webhooks"], ["GET", "/api/webhooks/events"]]) {
      const res = await call(method, path, { headers, body: method === "POST" ? hook() : undefined });
      assertError(res, 401);
      assert.equal(res.body.error.code, "unauthorized", name);
      assert.ok(!JSON.stringify(res.body).includes(JWT_SECRET), `${name} leaks the secret`);
    }
  }
});

test("members and services may read but not change", async () => {
  const o = org();
  const w = (await call("POST", "/api/webhooks", { headers: o.as(), body: hook() })).body;
  for (const role of ["member", "service"]) {
    assert.equal((await call("GET", "/api/webhooks", { headers: o.as(role) })).status, 200);
    assertError(await call("POST", "/api/webhooks", { headers: o.as(role), body: hook() }), 403);
    assertError(await call("PATCH", `/api/webhooks/${w.id}`, { headers: o.as(role), body: { name: "x" } }), 403);
    assertError(await call("DELETE", `/api/webhooks/${w.id}`, { headers: o.as(role) }), 403);
    assertError(await call("POST", `/api/webhooks/${w.id}/regenerate-secret`, { headers: o.as(role) }), 403);
    assertError(await call("GET", `/api/webhooks/${w.id}/secret`, { headers: o.as(role) }), 403);
  }
});

test("another organization's webhook is a 404, the same as one that does not exist", async () => {
  const a = org();
  const b = org();
  const w = (await call("POST", "/api/webhooks", { headers: a.as(), body: hook() })).body;
  const unknown = await call("GET", "/api/webhooks/wh_doesnotexist", { headers: b.as() });
  for (const [method, path] of [["GET", ""], ["PATCH", ""], ["DELETE", ""], ["GET", "/secret"], ["POST", "/regenerate-secret"]]) {
    const res = await call(method, `/api/webhooks/${w.id}${path}`, { headers: b.as(), body: method === "PATCH" ? { name: "stolen" } : undefined });
    assertError(res, 404);
    assert.deepEqual(res.body, unknown.body);
  }
  assert.deepEqual((await call("GET", "/api/webhooks", { headers: b.as() })).body.data, []);
  assert.equal((await call("GET", `/api/webhooks/${w.id}`, { headers: a.as() })).body.name, "CRM sync");
});

test("every validation case is a 4xx naming its field", async () => {
  const o = org();
  const long = "x".repeat(2100);
  const tooManyHeaders = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`x-h${i}`, "v"]));
  const cases = [
    [{ ...hook(), name: "" }, "name"],
    [{ ...hook(), name: "n".repeat(101) }, "name"],
    [{ ...hook(), name: 42 }, "name"],
    [{ url: "https://example.com/", events: ["lead.created"] }, "name"],
    [{ ...hook(), url: "/relative/path" }, "url"],
    [{ ...hook(), url: `https://example.com/${long}` }, "url"],
    [{ ...hook(), url: "https://user:pass@example.com/" }, "url"],
    [{ ...hook(), url: "ftp://example.com/" }, "url"],
    [{ ...hook(), url: "https://printer.local/x" }, "url"],
    [{ ...hook(), url: "https://metadata.google.internal/x" }, "url"],
    [{ ...hook(), url: "https://10.0.0.8/" }, "url"],
    [{ ...hook(), url: "https://172.20.1.1/" }, "url"],
    [{ ...hook(), url: "https://192.168.1.10/" }, "url"],
    [{ ...hook(), url: "https://169.254.169.254/latest/meta-data/" }, "url"],
    [{ ...hook(), url: "https://100.64.1.1/" }, "url"],
    [{ ...hook(), url: "https://0.0.0.0/" }, "url"],
    [{ ...hook(), url: "http://2130706433/" }, "url"],
    [{ ...hook(), url: "http://0x7f000001/" }, "url"],
    [{ ...hook(), url: "https://0xa9fea9fe/" }, "url"],
    [{ ...hook(), url: "http://[::ffff:127.0.0.1]/" }, "url"],
    [{ ...hook(), url: "https://[fe80::1]/" }, "url"],
    [{ ...hook(), url: "https://[fd00::1]/" }, "url"],
    [{ ...hook(), url: "http://[::]/" }, "url"],
    [{ ...hook(), url: 7 }, "url"],
    [{ ...hook(), events: [] }, "events"],
    [{ ...hook(), events: ["lead.exploded"] }, "events"],
    [{ ...hook(), events: "lead.created" }, "events"],
    [{ ...hook(), headers: tooManyHeaders }, "headers"],
    [{ ...hook(), headers: { "bad header": "v" } }, "headers.bad header"],
    [{ ...hook(), headers: { "X-Ok": "line\r\nbreak" } }, "headers.X-Ok"],
    [{ ...hook(), headers: { "X-Big": "v".repeat(1025) } }, "headers.X-Big"],
    [{ ...hook(), headers: { "Content-Type": "text/plain" } }, "headers.Content-Type"],
    [{ ...hook(), headers: { "content-length": "1" } }, "headers.content-length"],
    [{ ...hook(), headers: { Host: "evil.example" } }, "headers.Host"],
    [{ ...hook(), headers: { "User-Agent": "x" } }, "headers.User-Agent"],
    [{ ...hook(), headers: { "Webhook-Signature": "x" } }, "headers.Webhook-Signature"],
    [{ ...hook(), headers: { "X-Webhook-Event": "x" } }, "headers.X-Webhook-Event"],
    [{ ...hook(), retryAttempts: 11 }, "retryAttempts"],
    [{ ...hook(), retryAttempts: -1 }, "retryAttempts"],
    [{ ...hook(), retryAttempts: 2.5 }, "retryAttempts"],
    [{ ...hook(), retryDelaySeconds: 0 }, "retryDelaySeconds"],
    [{ ...hook(), retryDelaySeconds: 86401 }, "retryDelaySeconds"],
    [{ ...hook(), secret: "too-short" }, "secret"],
    [{ ...hook(), secret: "s".repeat(129) }, "secret"],
    [{ ...hook(), isActive: "yes" }, "isActive"],
    [{ ...hook(), surprise: true }, "surprise"],
  ];
  for (const [body, field] of cases) {
    const res = await call("POST", "/api/webhooks", { headers: o.as(), body });
    assert.ok(res.status >= 400 && res.status < 500, `${field}: ${res.status} for ${JSON.stringify(body).slice(0, 200)}`);
    assertError(res, 400, field);
  }
  // http is refused without ALLOW_INSECURE_ENDPOINTS; the e2e Worker sets it, so check plain loopback passes.
  const local = await call("POST", "/api/webhooks", { headers: o.as(), body: hook({ url: "http://127.0.0.1:9/hook" }) });
  assert.equal(local.status, 201);
  assert.deepEqual((await call("GET", "/api/webhooks", { headers: o.as() })).body.data.length, 1);
});

test("malformed JSON, non-object bodies and bodies over 64 KiB are refused", async () => {
  const o = org();
  for (const raw of ["{not json", "", "[1,2]", "null", '"text"']) {
    const res = await call("POST", "/api/webhooks", { headers: o.as(), raw });
    assertError(res, 400);
  }
  const big = JSON.stringify({ ...hook(), description: "d".repeat(70 * 1024) });
  const res = await call("POST", "/api/webhooks", { headers: o.as(), raw: big });
  assertError(res, 413);
  assert.equal(res.body.error.code, "payload_too_large");
});

test(`an organization holds at most MAX_WEBHOOKS_PER_ORG (${LIMIT}) webhooks, then 409 plan_limit_reached`, async () => {
  const o = org();
  for (let i = 0; i < LIMIT; i++) {
    assert.equal((await call("POST", "/api/webhooks", { headers: o.as(), body: hook({ name: `w${i}` }) })).status, 201);
  }
  const res = await call("POST", "/api/webhooks", { headers: o.as(), body: hook({ name: "one too many" }) });
  assertError(res, 409);
  assert.equal(res.body.error.code, "plan_limit_reached");
  // Other organizations are not affected.
  assert.equal((await call("POST", "/api/webhooks", { headers: org().as(), body: hook() })).status, 201);
});

test("every documented path and method is routed", async () => {
  const o = org();
  for (const [path, methods] of Object.entries(spec.doc.paths)) {
    for (const method of Object.keys(methods)) {
      const concrete = path.replace("{id}", "wh_routecheck").replace("{deliveryId}", "dlv_routecheck");
      const res = await worker.api(concrete, { method: method.toUpperCase(), headers: { ...o.as(), "content-type": "application/json" }, body: ["post", "patch"].includes(method) ? "{}" : undefined });
      const body = res.status === 204 ? null : await res.json();
      assert.notEqual(res.status, 405, `${method} ${path}`);
      assert.ok(!(res.status === 404 && body?.error?.message?.startsWith("no route")), `${method} ${path} is not routed`);
    }
  }
});
