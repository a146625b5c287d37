// `make bench-delivery NOISY=1`: fair sharing measured. The same paced load runs twice through the local Worker
// (wrangler dev: workerd, local D1, Queues and Durable Objects): to 3 healthy endpoints alone, then to 3 healthy
// endpoints and a noisy one that holds every request 9 s (under the 10 s attempt timeout, so it never fails and its
// circuit never opens). Prints the healthy endpoints' ingest→receipt p50/p99 in both runs and how much the noisy
// endpoint added, against the target of issue 11: less than one attempt timeout. Bounded by a deadline.
import { startWorker, startReceiver, OK_WITH_LENGTH, token } from "../tests/harness.mjs";

const EVENTS = Number(process.env.EVENTS ?? 600);
const HEALTHY = Number(process.env.ENDPOINTS ?? 3);
// Events per second, sent in batches of 10 (a steady stream rather than a burst: a burst measures the backlog).
const RATE = Number(process.env.RATE ?? 100);
const HOLD_MS = Number(process.env.HOLD_MS ?? 9000);
const TIMEOUT_S = 10;
const DEADLINE_MS = Number(process.env.DEADLINE_MS ?? 180000);
const BATCH = 10;

const receiver = await startReceiver();
const worker = await startWorker({ vars: { MAX_WEBHOOKS_PER_ORG: "100", DELIVERY_TIMEOUT_SECONDS: String(TIMEOUT_S) } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One run for organization `org`: healthy endpoints (and a noisy one); the healthy deliveries' latencies, sorted. */
async function run(org, noisy) {
  const auth = { authorization: `Bearer ${token({ org })}`, "content-type": "application/json" };
  const paths = Array.from({ length: HEALTHY }, (_, i) => `/${org}/healthy${i}`);
  if (noisy) paths.push(`/${org}/noisy`);
  for (const path of paths) {
    const res = await worker.api("/api/webhooks", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ name: path, url: `${receiver.url}${path}`, events: ["lead.created"] }),
    });
    if (res.status !== 201) throw new Error(`setup failed: ${res.status} ${await res.text()}`);
  }
  const sentAt = new Map();
  const started = Date.now();
  for (let n = 0; n < EVENTS; n += BATCH) {
    const events = Array.from({ length: Math.min(BATCH, EVENTS - n) }, (_, i) => ({ id: `${org}-${n + i}`, type: "lead.created", data: { n: n + i } }));
    const due = started + (n / RATE) * 1000;
    if (due > Date.now()) await sleep(due - Date.now());
    for (const e of events) sentAt.set(e.id, Date.now());
    const res = await worker.api("/api/events/batch", { method: "POST", headers: auth, body: JSON.stringify({ events }) });
    if (res.status !== 200) throw new Error(`ingest failed: ${res.status}`);
    await res.arrayBuffer();
  }
  const healthy = () => receiver.requests.filter((r) => r.url.startsWith(`/${org}/healthy`));
  while (healthy().length < EVENTS * HEALTHY && Date.now() - started < DEADLINE_MS) await sleep(100);
  const latencies = healthy()
    .map((r) => r.receivedAt - sentAt.get(JSON.parse(r.body.toString()).id))
    .sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  const noisyArrivals = receiver.requests.filter((r) => r.url === `/${org}/noisy`).map((r) => r.receivedAt);
  const mostAtOnce = Math.max(0, ...noisyArrivals.map((t) => noisyArrivals.filter((u) => u <= t && u + HOLD_MS > t).length));
  return { received: latencies.length, p50: pct(50), p99: pct(99), max: latencies[latencies.length - 1], noisy: noisyArrivals.length, mostAtOnce };
}

try {
  receiver.respond((r) => (r.url.endsWith("/noisy") ? { status: 200, delayMs: HOLD_MS } : OK_WITH_LENGTH));
  const alone = await run("org_bench_alone", false);
  const withNoisy = await run("org_bench_noisy", true);
  console.log(`\n${EVENTS} events at ${RATE}/s (batches of ${BATCH}) to ${HEALTHY} healthy endpoints, without and with a noisy endpoint`);
  console.log(`that holds every request ${HOLD_MS / 1000} s (attempt timeout ${TIMEOUT_S} s), through wrangler dev --local\n`);
  console.log("| run | healthy deliveries | healthy p50 ms | healthy p99 ms | healthy max ms |");
  console.log("|---|---:|---:|---:|---:|");
  for (const [name, r] of [["healthy alone", alone], ["with the noisy endpoint", withNoisy]]) {
    console.log(`| ${name} | ${r.received} of ${EVENTS * HEALTHY} | ${r.p50} | ${r.p99} | ${r.max} |`);
  }
  const growth = withNoisy.p99 - alone.p99;
  console.log(`\nHealthy p99 grew by ${growth} ms: ${growth < TIMEOUT_S * 1000 ? "within" : "OVER"} the target of one attempt timeout (${TIMEOUT_S * 1000} ms).`);
  console.log(`The noisy endpoint received ${withNoisy.noisy} requests in that time, at most ${withNoisy.mostAtOnce} at once (its lane starts at 2 and adapts between 1 and 6).`);
  console.log(`Every new endpoint starts in its lane (a Durable Object) until it answers quickly; the noisy one never does, so`);
  console.log(`no consumer batch ever waits for it (locally one consumer batch runs at a time: one held batch would hold all).`);
} finally {
  await worker.stop();
  await receiver.close();
}
