// `make bench-delivery`: N events x K endpoints (defaults 1,000 x 3) through the local Worker (wrangler dev:
// workerd, local D1 and Queues) to a local receiver. Prints ingest events/s, deliveries/s and the latency from
// ingest to receipt. Bounded: it stops at a deadline whatever has arrived.
import { startWorker, startReceiver, token } from "../tests/harness.mjs";

const EVENTS = Number(process.env.EVENTS ?? 1000);
const ENDPOINTS = Number(process.env.ENDPOINTS ?? 3);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const DEADLINE_MS = Number(process.env.DEADLINE_MS ?? 240000);

const receiver = await startReceiver();
const worker = await startWorker({ vars: { MAX_WEBHOOKS_PER_ORG: "100" } });
const auth = { authorization: `Bearer ${token({ org: "org_bench" })}`, "content-type": "application/json" };
try {
  for (let i = 0; i < ENDPOINTS; i++) {
    const res = await worker.api("/api/webhooks", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ name: `bench ${i}`, url: `${receiver.url}/e${i}`, events: ["lead.created"] }),
    });
    if (res.status !== 201) throw new Error(`setup failed: ${res.status} ${await res.text()}`);
  }
  const sentAt = new Map();
  const started = Date.now();
  let next = 0;
  let failures = 0;
  async function client() {
    while (next < EVENTS) {
      const n = next++;
      const id = `bench-${n}`;
      sentAt.set(id, Date.now());
      const res = await worker.api("/api/events", { method: "POST", headers: auth, body: JSON.stringify({ id, type: "lead.created", data: { n, name: "Ada Lovelace" } }) });
      if (res.status !== 202) failures++;
      await res.arrayBuffer();
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  const ingestMs = Date.now() - started;
  const expected = EVENTS * ENDPOINTS;
  while (receiver.requests.length < expected && Date.now() - started < DEADLINE_MS) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const doneMs = Math.max(...receiver.requests.map((r) => r.receivedAt)) - started;
  const latencies = receiver.requests
    .map((r) => r.receivedAt - sentAt.get(JSON.parse(r.body.toString()).id))
    .sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  console.log(`\n${EVENTS} events x ${ENDPOINTS} endpoints through wrangler dev --local (ingest concurrency ${CONCURRENCY})\n`);
  console.log(`| metric                       | value |`);
  console.log(`|------------------------------|------:|`);
  console.log(`| ingest events/s              | ${(EVENTS / (ingestMs / 1000)).toFixed(0)} |`);
  console.log(`| deliveries received          | ${receiver.requests.length} of ${expected} |`);
  console.log(`| deliveries/s (end to end)    | ${(receiver.requests.length / (doneMs / 1000)).toFixed(0)} |`);
  console.log(`| ingest -> receipt p50 ms     | ${pct(50)} |`);
  console.log(`| ingest -> receipt p99 ms     | ${pct(99)} |`);
  console.log(`| rejected ingests             | ${failures} |`);
} finally {
  await worker.stop();
  await receiver.close();
}
