// scripts/smoke.mjs, the check a user runs after `wrangler deploy`, run here against the local Worker: it passes
// against a healthy receiver and leaves nothing behind, and it fails, naming the reason, against a failing one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { startWorker, startReceiver, token, ROOT } from "./harness.mjs";

let worker;
let receiver;
before(async () => {
  receiver = await startReceiver();
  worker = await startWorker();
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
});

const ADMIN = token({ org: "org_smoke", role: "admin" });

/** Runs the script (asynchronously: the receiver answers from this process); its exit code and output. */
async function smoke(receiverUrl) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(ROOT, "scripts", "smoke.mjs"), worker.url, ADMIN, receiverUrl], { timeout: 90_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    return { code: error.code, output: `${error.stdout}${error.stderr}` };
  }
}

const webhooks = async () => (await (await worker.api("/api/webhooks", { headers: { authorization: `Bearer ${ADMIN}` } })).json()).data;

test("against a healthy receiver the smoke test passes, the event arrived, and its webhook is gone", async () => {
  receiver.respond(() => ({ status: 200, body: "ok" }));
  const { code, output } = await smoke(`${receiver.url}/smoke-ok`);
  assert.equal(code, 0, output);
  assert.match(output, /smoke test passed/);
  assert.match(output, /succeeded, 1 attempt\(s\), last 200/);
  const arrived = receiver.requests.filter((r) => r.url === "/smoke-ok");
  assert.equal(arrived.length, 1);
  assert.equal(JSON.parse(arrived[0].body.toString()).type, "lead.created");
  assert.deepEqual(await webhooks(), []);
});

test("against a failing receiver it exits 1 with the receiver's answer, and still cleans up", async () => {
  receiver.respond(() => ({ status: 503, body: "down" }));
  const { code, output } = await smoke(`${receiver.url}/smoke-down`);
  assert.equal(code, 1, output);
  assert.match(output, /smoke test FAILED: the delivery failed: .*503/);
  assert.deepEqual(await webhooks(), []);
  const wrong = await promisify(execFile)(process.execPath, [join(ROOT, "scripts", "smoke.mjs"), worker.url, "not-a-token", `${receiver.url}/x`]).catch((e) => e);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /creating the webhook failed: 401/);
});
