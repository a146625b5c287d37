// The package's Workers entry (workerd.mjs, which imports the .wasm module) inside a real Worker under wrangler dev.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "../pkg/node.mjs";
import { startWorker } from "../../tests/harness.mjs";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
let worker;
before(async () => {
  worker = await startWorker({ config: "tests/fixtures/verifier-worker.toml", runtime: "wrangler" });
});
after(async () => {
  await worker?.stop();
});

test("a Worker importing the package verifies a signed delivery and rejects a tampered one", async () => {
  const body = JSON.stringify({ type: "deal.won", data: { id: "deal_1" } });
  const ts = Math.floor(Date.now() / 1000);
  const headers = { "webhook-id": "dlv_w", "webhook-timestamp": String(ts), "webhook-signature": new Webhook(SECRET).sign("dlv_w", new Date(ts * 1000), body) };
  const ok = await worker.api("/", { method: "POST", headers, body });
  assert.deepEqual(await ok.json(), { verified: true, type: "deal.won" });
  const bad = await worker.api("/", { method: "POST", headers, body: body.replace("deal_1", "deal_2") });
  assert.equal(bad.status, 400);
  assert.deepEqual(await bad.json(), { verified: false, code: "no_matching_signature" });
});
