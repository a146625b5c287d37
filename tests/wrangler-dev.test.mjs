// The same Worker under `wrangler dev --local` (what users run before `wrangler deploy`): the embedded runtime
// (scripts/runtime.mjs) runs it on Miniflare's API directly, and this file checks that wrangler's own path still runs
// it end to end from the same wrangler.toml: the API with its D1, the queue to a signed delivery at a local receiver,
// the dashboard's Static Assets, and the scheduled handler at the local scheduled endpoint.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "../verifier-wasm/pkg/node.mjs";
import { startWorker, startReceiver, token, eventually, SCHEDULED } from "./harness.mjs";

let worker;
let receiver;
before(async () => {
  [worker, receiver] = await Promise.all([startWorker({ runtime: "wrangler" }), startReceiver()]);
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

test("under wrangler dev an ingested event reaches its endpoint signed and verbatim, and the cron handler runs", async () => {
  const auth = { authorization: `Bearer ${token({ org: "org_wrangler" })}`, "content-type": "application/json" };
  const created = await worker.api("/api/webhooks", { method: "POST", headers: auth, body: JSON.stringify({ name: "w", url: `${receiver.url}/w`, events: ["lead.*"] }) });
  assert.equal(created.status, 201);
  const { secret } = await created.json();
  const data = '{"n":1.50,"name":"Ada"}';
  const ingested = await worker.api("/api/events", { method: "POST", headers: auth, body: `{"id":"w-1","type":"lead.created","data":${data}}` });
  assert.equal(ingested.status, 202);
  assert.equal((await ingested.json()).deliveries, 1);
  const request = await eventually(() => receiver.requests.find((r) => r.url === "/w"), { timeoutMs: 30000, what: "the delivery" });
  const text = request.body.toString("utf8");
  const body = new Webhook(secret).verify(text, request.headers);
  assert.equal(body.id, "w-1");
  assert.ok(text.includes(`"data":${data}`), "data arrives byte for byte");
  assert.equal((await worker.api(SCHEDULED)).status, 200);
  const page = await worker.api("/");
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<div id="app">/);
});
