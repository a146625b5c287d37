// The Worker skeleton on the embedded runtime: health, the JSON 404 and 405, and the OpenAPI document.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startWorker, ROOT } from "./harness.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(async () => {
  await worker?.stop();
});

const crateVersion = readFileSync(join(ROOT, "Cargo.toml"), "utf8").match(/^version = "([^"]+)"/m)[1];

test("GET /health reports ok and the crate version", async () => {
  const res = await worker.api("/health");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /application\/json/);
  assert.deepEqual(await res.json(), { status: "ok", version: crateVersion });
});

test("unknown routes get a JSON 404 in the error shape; the dashboard's own paths get its page", async () => {
  for (const path of ["/no/such/route", "/api/no/such/route", "/portalx"]) {
    const res = await worker.api(path);
    assert.equal(res.status, 404, path);
    const body = await res.json();
    assert.equal(body.error.code, "not_found");
    assert.equal(typeof body.error.message, "string");
  }
  for (const path of ["/", "/portal", "/portal/webhooks/wh_anything"]) {
    const res = await worker.api(path);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get("content-type"), /^text\/html/);
    assert.match(await res.text(), /<div id="app">/);
  }
});

test("a known path with the wrong method gets a JSON 405", async () => {
  const res = await worker.api("/health", { method: "DELETE" });
  assert.equal(res.status, 405);
  assert.equal((await res.json()).error.code, "method_not_allowed");
});

test("GET /api/openapi.json serves the document generated from the handlers' types, unauthenticated", async () => {
  const res = await worker.api("/api/openapi.json");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /application\/json/);
  const served = await res.text();
  // `make` renders it with `cargo run --bin openapi` (client/openapi.json) and ships that file as a static asset.
  assert.equal(served, readFileSync(join(ROOT, "client/openapi.json"), "utf8"));
  const doc = JSON.parse(served);
  assert.equal(doc.openapi, "3.1.0");
  assert.ok(doc.paths["/api/events"].post && doc.components.schemas.Webhook);
  // The file is reachable only through the API's route: its own asset path is the API's 404.
  assert.equal((await worker.api("/openapi.json")).status, 404);
});
