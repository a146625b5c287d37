// Production settings (ALLOW_INSECURE_ENDPOINTS=false): http and every loopback form are refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, token } from "./harness.mjs";

let worker;
before(async () => {
  worker = await startWorker({ vars: { ALLOW_INSECURE_ENDPOINTS: "false" } });
});
after(async () => {
  await worker?.stop();
});

async function create(url) {
  const res = await worker.api("/api/webhooks", {
    method: "POST",
    headers: { authorization: `Bearer ${token({ org: "org_secure" })}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "n", url, events: ["*"] }),
  });
  return { status: res.status, body: await res.json() };
}

test("without ALLOW_INSECURE_ENDPOINTS, http and loopback URLs are refused naming url", async () => {
  for (const url of ["http://example.com/hook", "https://127.0.0.1/hook", "https://localhost/hook", "https://[::1]/hook", "http://127.0.0.1:8080/"]) {
    const res = await create(url);
    assert.equal(res.status, 400, url);
    assert.equal(res.body.error.field, "url", url);
  }
  assert.equal((await create("https://example.com/hook")).status, 201);
});
