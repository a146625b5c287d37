// Runs the floor Worker (floor.mjs) on the embedded runtime in a benchmark's shape and measures it as
// bench/delivery.mjs measures edgehook: ingest events/s, deliveries/s, ingest-to-receipt p50 and p99, and the
// runtime's CPU per delivery. Bounded: it stops at a deadline whatever has arrived.
import { startWorker, startReceiver, OK_WITH_LENGTH, eventually, eachInFlight } from "../../tests/harness.mjs";
import { groupCpuSeconds } from "../cpu.mjs";

/** The floor with its storage in D1 and its deliveries through the queue (bench/floor). */
export const D1_QUEUE = { config: "bench/floor/wrangler.toml", migrate: true };
/** The floor in the single-event shape with its storage in one SQLite-backed Durable Object (bench/floor-object). */
export const OBJECT = { config: "bench/floor-object/wrangler.toml", migrate: false };

export async function measureFloor({ events = 1000, endpoints = 3, concurrency = 16, deadlineMs = 120000, floor = D1_QUEUE } = {}) {
  const receiver = await startReceiver();
  receiver.respond(() => OK_WITH_LENGTH);
  const receivers = JSON.stringify(Array.from({ length: endpoints }, (_, i) => `${receiver.url}/f${i}`));
  const worker = await startWorker({ config: floor.config, migrate: floor.migrate, vars: { RECEIVERS: receivers } });
  const base = worker.url;
  try {
    const post = (id) => fetch(base, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id, type: "lead.created", data: { name: "Ada Lovelace", email: "ada@example.com" } }) }).then((r) => r.arrayBuffer());
    // Warmed up as bench/delivery.mjs warms edgehook up: WARMUP events (200 unless set) the whole way first.
    const warmUp = Math.max(1, Number(process.env.WARMUP ?? 200));
    await eachInFlight(warmUp, concurrency, (n) => post(`warm-up-${n}`));
    await eventually(() => receiver.requests.length >= warmUp * endpoints, { timeoutMs: 60000, what: "the warm-up deliveries" });
    receiver.requests.length = 0;
    const sentAt = new Map();
    const cpuBefore = groupCpuSeconds(worker.pgid);
    const started = Date.now();
    await eachInFlight(events, concurrency, (n) => {
      sentAt.set(`floor-${n}`, Date.now());
      return post(`floor-${n}`);
    });
    const ingestMs = Date.now() - started;
    while (receiver.requests.length < events * endpoints && Date.now() - started < deadlineMs) await new Promise((r) => setTimeout(r, 50));
    const doneMs = Math.max(...receiver.requests.map((r) => r.receivedAt)) - started;
    const cpu = groupCpuSeconds(worker.pgid) - cpuBefore;
    const latencies = receiver.requests.map((r) => r.receivedAt - sentAt.get(JSON.parse(r.body.toString()).id)).sort((a, b) => a - b);
    const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
    return {
      ingestPerSec: events / (ingestMs / 1000),
      deliveriesPerSec: receiver.requests.length / (doneMs / 1000),
      p50ms: pct(50),
      p99ms: pct(99),
      cpuMsPerDelivery: (cpu * 1000) / receiver.requests.length,
      complete: receiver.requests.length === events * endpoints,
    };
  } finally {
    await worker.stop();
    await receiver.close();
  }
}

if (process.argv[1] && process.argv[1].endsWith("run.mjs")) console.log(await measureFloor());
