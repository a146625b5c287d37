// After `wrangler deploy`: checks a real deployment end to end, then cleans up.
//
//   node scripts/smoke.mjs <base-url> <token> <receiver-url>
//
// <token> is an admin API key (`ehk_…`) or JWT of the organization to test with; <receiver-url> is an HTTPS endpoint
// that answers 2xx (your own, or a request bin). Steps: GET /health; create a webhook to the receiver for
// `lead.created`; publish one event; wait until its delivery is recorded (up to 60 s) and read it back with its
// attempts; delete the webhook. Exits 0 when all passed, 1 with the failing step otherwise. Every request it makes
// is printed with its status.
const [baseArg, token, receiverUrl] = process.argv.slice(2);
if (!baseArg || !token || !receiverUrl) {
  console.error("usage: node scripts/smoke.mjs <base-url> <token> <receiver-url>");
  process.exit(2);
}
const base = baseArg.replace(/\/+$/, "");
const DEADLINE_MS = 60_000;

async function call(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  console.log(`${method} ${path} -> ${res.status}`);
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, json, text };
}

function expect(condition, what, answer) {
  if (!condition) throw new Error(`${what}${answer ? `: ${answer.status} ${answer.text.slice(0, 500)}` : ""}`);
}

let webhookId = null;
try {
  const health = await call("GET", "/health");
  expect(health.status === 200 && health.json?.status === "ok", "GET /health is not ok", health);
  console.log(`  edgehook ${health.json.version}`);

  const created = await call("POST", "/api/webhooks", { name: "edgehook smoke test", url: receiverUrl, events: ["lead.created"], retryAttempts: 0 });
  expect(created.status === 201, "creating the webhook failed", created);
  webhookId = created.json.id;

  const smokeId = `smoke-${Date.now()}`;
  const published = await call("POST", "/api/events", { id: smokeId, type: "lead.created", data: { smoke: true, at: new Date().toISOString() } });
  expect(published.status === 202, "publishing failed", published);
  expect(published.json.deliveries >= 1, "the event has no delivery (is the webhook active and subscribed?)", published);

  const started = Date.now();
  let delivery = null;
  while (Date.now() - started < DEADLINE_MS) {
    const page = await call("GET", `/api/webhooks/${webhookId}/deliveries?limit=10`);
    expect(page.status === 200, "listing deliveries failed", page);
    delivery = page.json.data.find((d) => d.eventId === published.json.id);
    if (delivery && delivery.status !== "pending") break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  expect(delivery, `no delivery of ${published.json.id} within ${DEADLINE_MS / 1000} s`);
  const detail = await call("GET", `/api/webhooks/${webhookId}/deliveries/${delivery.id}`);
  expect(detail.status === 200, "reading the delivery failed", detail);
  const last = detail.json.attempts.at(-1);
  console.log(`  delivery ${delivery.id}: ${detail.json.status}, ${detail.json.attempts.length} attempt(s), last ${last?.statusCode ?? last?.error} in ${last?.durationMs} ms`);
  expect(detail.json.status === "succeeded", `the delivery ${detail.json.status}: ${last?.error ?? `the receiver answered ${last?.statusCode}`}`);
  console.log("smoke test passed");
} catch (error) {
  console.error(`smoke test FAILED: ${error.message}`);
  process.exitCode = 1;
} finally {
  if (webhookId) {
    const deleted = await call("DELETE", `/api/webhooks/${webhookId}`).catch((e) => ({ status: 0, text: String(e) }));
    if (deleted.status !== 204 && deleted.status !== 200) {
      console.error(`cleaning up: deleting webhook ${webhookId} answered ${deleted.status}`);
      process.exitCode = 1;
    }
  }
}
