// Access: API keys (created once, stored hashed, scoped, revocable at once) next to JWTs; the Bearer scheme in any
// case; the optional issuer and audience checks and the clock leeway of JWTs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "../verifier-wasm/pkg/node.mjs";
import { startWorker, startReceiver, token, eventually } from "./harness.mjs";
import { loadSpec } from "./openapi.mjs";

let worker;
let spec;
let receiver;

before(async () => {
  receiver = await startReceiver();
  worker = await startWorker({ vars: { JWT_ISSUER: "https://crm.example", JWT_AUDIENCE: "edgehook", EXPOSE_USAGE: "true" } });
  spec = await loadSpec(worker);
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

const jwt = (org, role = "admin", extra = {}) => token({ org, role, iss: "https://crm.example", aud: "edgehook", ...extra });

async function call(method, path, bearer, body, documented) {
  const res = await worker.api(path, {
    method,
    headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  const template = documented ?? path;
  if (spec.doc.paths[template]?.[method.toLowerCase()]?.responses[String(res.status)]) spec.check(method, template, res.status, json);
  return { status: res.status, body: json };
}

test("an API key is shown once, stored only as a hash, works with its role in its organization, and is revoked at once", async () => {
  const admin = jwt("org_keys");
  const created = await call("POST", "/api/keys", admin, { name: "CRM backend", role: "service" });
  assert.equal(created.status, 201);
  const { id, key } = created.body;
  assert.match(key, /^ehk_[A-Za-z0-9_-]{43}$/);
  assert.match(id, /^key_/);
  const stored = worker.sql(`SELECT key_hash FROM api_keys WHERE id = '${id}'`)[0].key_hash;
  assert.match(stored, /^[0-9a-f]{64}$/);
  assert.ok(!JSON.stringify(worker.sql("SELECT * FROM api_keys")).includes(key), "the key itself is not stored");
  const listed = await call("GET", "/api/keys", admin);
  assert.equal(listed.body.total, 1);
  assert.deepEqual(Object.keys(listed.body.data[0]).sort(), ["createdAt", "id", "name", "role"]);
  assert.ok(!JSON.stringify(listed.body).includes(key));

  // The key works as a service: it publishes and reads, but may not administer.
  const event = await call("POST", "/api/events", key, { type: "lead.created", data: { id: "l1" } });
  assert.equal(event.status, 202);
  assert.equal((await call("GET", "/api/webhooks", key)).status, 200);
  assert.equal((await call("POST", "/api/webhooks", key, { name: "x", url: "https://example.com/h", events: ["*"] })).status, 403);
  // Scoped to its organization: another organization's admin sees none of it and cannot revoke it.
  const other = jwt("org_other");
  assert.equal((await call("GET", "/api/keys", other)).body.total, 0);
  assert.equal((await call("DELETE", `/api/keys/${id}`, other, undefined, "/api/keys/{id}")).status, 404);
  // Revoked: refused at once.
  assert.equal((await call("DELETE", `/api/keys/${id}`, admin, undefined, "/api/keys/{id}")).status, 204);
  const refused = await call("GET", "/api/webhooks", key);
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error.code, "unauthorized");
  assert.equal((await call("GET", "/api/webhooks", "ehk_not-a-real-key")).status, 401);
});

test("only admins manage keys, and bad key requests name their field", async () => {
  const member = jwt("org_keys2", "member");
  assert.equal((await call("GET", "/api/keys", member)).status, 403);
  assert.equal((await call("POST", "/api/keys", member, { name: "x", role: "admin" })).status, 403);
  const admin = jwt("org_keys2");
  for (const [body, field] of [[{ role: "admin" }, "name"], [{ name: "x", role: "owner" }, "role"], [{ name: "x", role: "admin", scope: 1 }, "scope"]]) {
    const res = await call("POST", "/api/keys", admin, body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.body.error.field, field);
  }
  assert.equal((await call("DELETE", "/api/keys/nope", admin, undefined, "/api/keys/{id}")).status, 404);
});

test("JWTs: any case of Bearer, issuer and audience enforced when configured, 30 s of clock leeway", async () => {
  const ok = jwt("org_jwt");
  for (const scheme of ["bearer", "BEARER", "Bearer"]) {
    const res = await worker.api("/api/webhooks", { headers: { authorization: `${scheme} ${ok}` } });
    assert.equal(res.status, 200, scheme);
  }
  assert.equal((await call("GET", "/api/webhooks", jwt("org_jwt", "admin", { iss: "https://evil.example" }))).status, 401);
  assert.equal((await call("GET", "/api/webhooks", jwt("org_jwt", "admin", { aud: "someone-else" }))).status, 401);
  const now = Math.floor(Date.now() / 1000);
  assert.equal((await call("GET", "/api/webhooks", jwt("org_jwt", "admin", { exp: now - 10 }))).status, 200, "expired 10 s ago: within the leeway");
  assert.equal((await call("GET", "/api/webhooks", jwt("org_jwt", "admin", { exp: now - 120 }))).status, 401);
});

test("signing secrets are stored AES-GCM-sealed; a row written before sealing is read, signs, and is sealed on its next write", async () => {
  const admin = jwt("org_sealed");
  const created = await call("POST", "/api/webhooks", admin, { name: "sealed", url: `${receiver.url}/sealed`, events: ["lead.created"] });
  assert.equal(created.status, 201);
  const { id, secret } = created.body;
  const stored = async () => (await worker.orgSql("org_sealed", `SELECT secret, previous_secret FROM webhooks WHERE id = '${id}'`))[0];
  assert.match((await stored()).secret, /^enc:v1:/);
  assert.ok(!(await stored()).secret.includes(secret.slice(6)), "the secret is not in the row");
  assert.equal((await call("GET", `/api/webhooks/${id}/secret`, admin, undefined, "/api/webhooks/{id}/secret")).body.secret, secret);
  await call("POST", "/api/events", admin, { type: "lead.created", data: { n: 1 } });
  const [first] = await eventually(() => receiver.requests.filter((r) => r.url === "/sealed").length === 1 && receiver.requests.filter((r) => r.url === "/sealed"), { what: "the signed delivery" });
  assert.equal(new Webhook(secret).verify(first.body, first.headers).data.n, 1);

  // A row as it was written before secrets were sealed: plaintext in the column.
  const legacy = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  await worker.orgSql("org_sealed", `UPDATE webhooks SET secret = '${legacy}' WHERE id = '${id}'`);
  assert.equal((await call("GET", `/api/webhooks/${id}/secret`, admin, undefined, "/api/webhooks/{id}/secret")).body.secret, legacy);
  await call("POST", "/api/events", admin, { type: "lead.created", data: { n: 2 } });
  const second = await eventually(() => receiver.requests.filter((r) => r.url === "/sealed")[1], { what: "the delivery signed with the old row's secret" });
  assert.equal(new Webhook(legacy).verify(second.body, second.headers).data.n, 2);
  assert.equal((await call("PATCH", `/api/webhooks/${id}`, admin, { name: "sealed now" }, "/api/webhooks/{id}")).status, 200);
  assert.match((await stored()).secret, /^enc:v1:/, "sealed on its next write");
  assert.equal((await call("GET", `/api/webhooks/${id}/secret`, admin, undefined, "/api/webhooks/{id}/secret")).body.secret, legacy);
  // Rotation seals both the new secret and the outgoing one.
  const rotated = await call("POST", `/api/webhooks/${id}/regenerate-secret`, admin, undefined, "/api/webhooks/{id}/regenerate-secret");
  assert.equal(rotated.status, 200);
  const row = await stored();
  assert.match(row.secret, /^enc:v1:/);
  assert.match(row.previous_secret, /^enc:v1:/);
  assert.ok(!JSON.stringify(row).includes(rotated.body.secret.slice(6)));
});
