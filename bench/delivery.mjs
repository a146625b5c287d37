// `make bench-delivery`: N events x K endpoints (defaults 1,000 x 3) through the local Worker (wrangler dev:
// workerd, the organizations' Durable Objects and Queues) to a local receiver. Prints ingest events/s, deliveries/s and
// the latency from ingest to receipt, then what one delivery costs: CPU, calls to the organization's object and its
// SQLite rows, D1, KV and queue operations (counted inside
// the Worker and read from its `/__usage`), priced at Cloudflare's list prices. Bounded: it stops at a deadline
// whatever has arrived.
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { cpus } from "node:os";
import { startWorker, startReceiver, OK_WITH_LENGTH, token, eventually, eachInFlight, DELIVERIES } from "../tests/harness.mjs";
import { groupCpuByProcess, groupCpuSeconds, selfCpuSeconds } from "./cpu.mjs";

const EVENTS = Number(process.env.EVENTS ?? 1000);
const ENDPOINTS = Number(process.env.ENDPOINTS ?? 3);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 4);
// Events per ingest request: 1 uses POST /api/events, more uses POST /api/events/batch.
const BATCH = Math.min(100, Number(process.env.BATCH ?? 50));
const DEADLINE_MS = Number(process.env.DEADLINE_MS ?? 240000);
// PAYLOAD_BYTES pads each event's data to about that many bytes of JSON (unset: about 150, a CRM event's size).
const PAYLOAD_BYTES = Number(process.env.PAYLOAD_BYTES ?? 0);

// List prices beyond the Workers Paid plan's included usage, in USD per million units:
// Workers Standard https://developers.cloudflare.com/workers/platform/pricing/ (requests $0.30, CPU-ms $0.02);
// D1 https://developers.cloudflare.com/d1/platform/pricing/ (rows read $0.001, rows written $1.00);
// Durable Objects https://developers.cloudflare.com/durable-objects/platform/pricing/ (requests $0.15, duration $12.50
// per million GB-s at 128 MB while active; SQLite rows read $0.001 and written $1.00, index entries included);
// KV https://developers.cloudflare.com/kv/platform/pricing/ (reads $0.50, writes $5.00);
// Queues https://developers.cloudflare.com/queues/platform/pricing/ ($0.40 per operation: a message is written, read
// and deleted, 3 operations, and each retry reads it once more).
const PRICE = { request: 0.3, cpuMs: 0.02, d1RowRead: 0.001, d1RowWritten: 1.0, kvRead: 0.5, kvWrite: 5.0, queueOp: 0.4, objectRequest: 0.15, gbSecond: 12.5 };
// An organization's object runs each batch synchronously, without awaiting anything, and hibernates when idle (no
// WebSockets): its billed wall-clock is its execution. Counted at this many milliseconds per call (an upper bound of
// what one batch of a few statements takes) times 128 MB.
const OBJECT_MS_PER_CALL = 2;

const receiver = await startReceiver();
receiver.respond(() => OK_WITH_LENGTH);
const VARS = { MAX_WEBHOOKS_PER_ORG: "100", EXPOSE_USAGE: "true" };
let worker = await startWorker({ vars: VARS });
const usage = async () => (await worker.api("/__usage")).json();
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
  // Steady state: each endpoint has answered before the run (a new webhook's first deliveries go through its lane
  // until its endpoint has answered quickly; `make bench-delivery NOISY=1` runs from cold), and WARMUP events (200
  // unless set) have gone the whole way, so the isolate runs compiled code as a long-lived one does: V8 compiles the
  // Worker's WebAssembly in tiers, and its optimising tier runs on another thread while the first requests are
  // served. The floor (bench/floor) is warmed up the same way.
  const WARMUP = Math.max(1, Number(process.env.WARMUP ?? 200));
  await eachInFlight(WARMUP, CONCURRENCY, async (n) => {
    const warmUp = await worker.api("/api/events", { method: "POST", headers: auth, body: JSON.stringify({ id: `warm-up-${n}`, type: "lead.created", data: {} }) });
    if (warmUp.status !== 202) throw new Error(`warm-up failed: ${warmUp.status}`);
    await warmUp.arrayBuffer();
  });
  await eventually(() => receiver.requests.length >= WARMUP * ENDPOINTS, { timeoutMs: 60000, what: "the warm-up deliveries" });
  await new Promise((r) => setTimeout(r, 1000));
  receiver.requests.length = 0;
  const sentAt = new Map();
  const usageBefore = await usage();
  let requests = 0;
  const cpuBefore = [groupCpuSeconds(worker.pgid), selfCpuSeconds()];
  const byProcessBefore = groupCpuByProcess(worker.pgid);
  const started = Date.now();
  let next = 0;
  let failures = 0;
  const event = (n) => {
    const data = { n, name: "Ada Lovelace", email: "ada@example.com" };
    const padding = PAYLOAD_BYTES - JSON.stringify({ id: `bench-${n}`, type: "lead.created", data: { ...data, notes: "" } }).length;
    return { id: `bench-${n}`, type: "lead.created", data: padding > 0 ? { ...data, notes: "x".repeat(padding) } : data };
  };
  // RATE (requests per second) paces the clients: each waits for its next slot, so the load is steady rather than as
  // fast as the runtime answers, and latency shows what a delivery waits when the runtime is not saturated.
  const RATE = Number(process.env.RATE ?? 0);
  let slots = 0;
  async function client() {
    while (next < EVENTS) {
      if (RATE > 0) {
        const slot = started + (slots++ * 1000) / RATE;
        if (slot > Date.now()) await new Promise((r) => setTimeout(r, slot - Date.now()));
        if (next >= EVENTS) break;
      }
      const events = [];
      while (events.length < BATCH && next < EVENTS) events.push(event(next++));
      for (const e of events) sentAt.set(e.id, Date.now());
      requests++;
      if (BATCH === 1) {
        const res = await worker.api("/api/events", { method: "POST", headers: auth, body: JSON.stringify(events[0]) });
        if (res.status !== 202) failures++;
        await res.arrayBuffer();
      } else {
        const res = await worker.api("/api/events/batch", { method: "POST", headers: auth, body: JSON.stringify({ events }) });
        const body = await res.json();
        failures += res.status === 200 ? body.rejected : events.length;
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  const ingestMs = Date.now() - started;
  const expected = EVENTS * ENDPOINTS;
  while (receiver.requests.length < expected && Date.now() - started < DEADLINE_MS) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const doneMs = Math.max(...receiver.requests.map((r) => r.receivedAt)) - started;
  // Let the last attempts be recorded before reading the counters.
  await new Promise((r) => setTimeout(r, 1500));
  const usageAfter = await usage();
  const runtimeCpu = groupCpuSeconds(worker.pgid) - cpuBefore[0];
  const byProcessAfter = groupCpuByProcess(worker.pgid);
  const benchCpu = selfCpuSeconds() - cpuBefore[1];

  const latencies = receiver.requests
    .map((r) => r.receivedAt - sentAt.get(JSON.parse(r.body.toString()).id))
    .sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  const delivered = receiver.requests.length;
  // Binding round trips, counted by the Worker (/__usage) with nothing else running: one event from its ingest
  // request to its recorded attempts, then 16 ingested at once.
  async function roundTrips(count, tag) {
    const before = await usage();
    const base = receiver.requests.length;
    await Promise.all(Array.from({ length: count }, (_, n) =>
      worker.api("/api/events", { method: "POST", headers: auth, body: JSON.stringify({ id: `${tag}-${n}`, type: "lead.created", data: { n } }) }).then((r) => r.arrayBuffer())));
    for (const until = Date.now() + 30000; receiver.requests.length < base + count * ENDPOINTS && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1500));
    const after = await usage();
    return {
      d1: (after.d1Calls - before.d1Calls) / count,
      objects: (after.objectCalls - before.objectCalls) / count,
      queueSends: (after.queueSendCalls - before.queueSendCalls) / count,
      laneCalls: ((after.laneCalls ?? 0) - (before.laneCalls ?? 0)) / count,
      fetches: (after.fetches - before.fetches) / count,
    };
  }
  const one = await roundTrips(1, "rt-one");
  const many = await roundTrips(16, "rt-many");
  // A delivery is a row, or (schema v23) a success in its event's round.
  const [stored] = await worker.orgSql("org_bench", `SELECT (SELECT COUNT(*) FROM ${DELIVERIES}) AS deliveries, (SELECT COUNT(*) FROM deliveries) AS rows, (SELECT COUNT(*) FROM attempts) AS attempts, (SELECT COUNT(*) FROM events) AS events`);
  const mode = `${BATCH === 1 ? "POST /api/events" : `POST /api/events/batch of ${BATCH}`}${RATE > 0 ? ` at ${RATE} requests/s` : ""}`;
  console.log(`\n${EVENTS} events x ${ENDPOINTS} endpoints on the embedded runtime (Miniflare: workerd, local D1 and Queues; ${mode}, ${CONCURRENCY} concurrent requests)\n`);
  console.log(`| metric                       | value |`);
  console.log(`|------------------------------|------:|`);
  console.log(`| ingest events/s              | ${(EVENTS / (ingestMs / 1000)).toFixed(0)} |`);
  console.log(`| deliveries received          | ${delivered} of ${expected} |`);
  console.log(`| deliveries/s (end to end)    | ${(delivered / (doneMs / 1000)).toFixed(0)} |`);
  console.log(`| ingest -> receipt p50 ms     | ${pct(50)} |`);
  console.log(`| ingest -> receipt p99 ms     | ${pct(99)} |`);
  console.log(`| rejected ingests             | ${failures} |`);
  const wall = doneMs / 1000;
  console.log(`\nWhere the time goes: ingest finished after ${(ingestMs / 1000).toFixed(1)} s, the last delivery arrived after ${wall.toFixed(1)} s.`);
  console.log(`The local runtime (Miniflare + workerd: one JavaScript thread for the Worker, D1, KV and Queues) used`);
  console.log(`${runtimeCpu.toFixed(1)} CPU-s (${(runtimeCpu / wall).toFixed(2)} cores, ${((runtimeCpu * 1000) / delivered).toFixed(2)} CPU-ms per delivery including its share`);
  console.log(`of ingest); this load generator and receiver used ${benchCpu.toFixed(1)} CPU-s. Machine: ${cpus().length} cores.`);
  // By process and thread: Miniflare's node against workerd's threads (the Worker's isolate and the D1, KV and
  // Queues simulators run in workerd).
  const shares = Object.keys(byProcessAfter)
    .map((name) => [name, byProcessAfter[name] - (byProcessBefore[name] ?? 0)])
    .filter(([, cpu]) => cpu > 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([name, cpu]) => `${name} ${cpu.toFixed(1)} CPU-s (${((cpu / runtimeCpu) * 100).toFixed(0)}%)`);
  console.log(`By process/thread: ${shares.join(", ")}.`);
  const calls = (r) => `${r.objects.toFixed(1)} calls to the organization's object, ${r.d1.toFixed(1)} D1 calls, ${r.queueSends.toFixed(1)} queue sends, ${r.laneCalls.toFixed(1)} lane calls and ${r.fetches.toFixed(1)} fetches`;
  const runCalls = usageAfter.objectCalls - usageBefore.objectCalls;
  console.log(`\nDuring the run: ${runCalls} calls to the organization's object, ${(runCalls / requests).toFixed(2)} per ingest request.`);
  console.log(`\nBinding round trips (counted by the Worker, nothing else running), one event from its ingest request to its`);
  console.log(`recorded attempts: ${calls(one)}. ${BATCH === 1 ? `The ingest's one call to its organization's object finds the
subscribers, inserts the event and its deliveries, detects a duplicate and claims them, in one transaction; the
request is answered, and its invocation sends the deliveries and records them in one more call. No queue message
unless an attempt fails (its retry is enqueued).` : ""}`);
  console.log(`16 events ingested at once: ${calls(many)} per event.`);
  // What the organization's object keeps per delivery: the pages its SQLite uses (every table and index, after a
  // checkpoint of its write-ahead log), against the rows it holds, with nothing pruned yet.
  await worker.stop({ keepState: true });
  const objectFile = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((f) =>
    f.isDirectory() ? objectFile(join(dir, f.name)) : dir.includes("Organization") && /^[0-9a-f]{64}\.sqlite$/.test(f.name) ? [join(dir, f.name)] : []);
  const [file] = objectFile(worker.persist);
  const sqlite = new DatabaseSync(file);
  // The stopped runtime may hold its lock a moment longer: try again for up to ten seconds.
  for (const deadline = Date.now() + 10_000; ; ) {
    try {
      sqlite.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      break;
    } catch (e) {
      if (e.errcode !== 5 || Date.now() > deadline) throw e;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const pragma = (name) => Object.values(sqlite.prepare(`PRAGMA ${name}`).get())[0];
  const storedBytes = (pragma("page_count") - pragma("freelist_count")) * pragma("page_size");
  sqlite.close();
  // And what the retention delete of it all writes (a deleted row and each of its index entries are billed rows
  // written): the same object, back up, deletes every attempt, delivery and event.
  worker = await startWorker({ vars: { ...VARS, HOUSEKEEPING_SECONDS: "3600" }, persist: worker.persist });
  const writtenBefore = (await usage()).objectRowsWritten;
  // Row by row, as the alarm's prune deletes (a DELETE without WHERE would drop whole tables at once).
  for (const table of ["attempts", "deliveries", "events"]) await worker.orgSql("org_bench", `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table})`);
  // The webhooks' pages of their delivery logs (schema v19), the event types' pages (v21) and the deliveries'
  // counts (v20; none yet unless an alarm counted): no rowid, keyed by webhook or type and page or ten minutes.
  await worker.orgSql("org_bench", "DELETE FROM webhook_pages WHERE (webhook_id, page) IN (SELECT webhook_id, page FROM webhook_pages)");
  await worker.orgSql("org_bench", "DELETE FROM webhook_round_pages WHERE (webhook_id, page) IN (SELECT webhook_id, page FROM webhook_round_pages)");
  await worker.orgSql("org_bench", "DELETE FROM event_type_pages WHERE (type, page) IN (SELECT type, page FROM event_type_pages)");
  await worker.orgSql("org_bench", "DELETE FROM delivery_counts WHERE (webhook_id, bucket) IN (SELECT webhook_id, bucket FROM delivery_counts)");
  const deleteRows = ((await usage()).objectRowsWritten - writtenBefore) / stored.deliveries;
  await worker.stop();
  rmSync(worker.persist, { recursive: true, force: true });
  const perDeliveryBytes = storedBytes / stored.deliveries;
  console.log(`\nStorage: the organization's object holds ${stored.events} events, ${stored.deliveries} deliveries (${stored.rows} of them in rows of their own, the others succeeded in their event's round) and ${stored.attempts} attempts in ${(storedBytes / 1e6).toFixed(2)} MB`);
  console.log(`of SQLite pages: ${perDeliveryBytes.toFixed(0)} bytes per retained delivery (its share of the event, its attempt, every index), so`);
  console.log(`one object's 10 GB keeps about ${(10e9 / perDeliveryBytes / 1e6).toFixed(1)} million deliveries within the retention window.`);

  const d = Object.fromEntries(Object.keys(usageAfter).map((k) => [k, (usageAfter[k] - usageBefore[k]) / delivered]));
  const queueOps = 3 * d.queueMessagesSent + d.queueRetries;
  const cpuMs = (runtimeCpu * 1000) / delivered;
  const perDelivery = [
    ["CPU-ms (Miniflare + workerd, an upper bound of the Worker's)", cpuMs.toFixed(2), cpuMs * PRICE.cpuMs],
    ["ingest requests", (requests / delivered).toFixed(3), (requests / delivered) * PRICE.request],
    ["requests to organizations' objects", d.objectCalls.toFixed(3), d.objectCalls * PRICE.objectRequest],
    [`their duration (${OBJECT_MS_PER_CALL} ms each at 128 MB, estimated)`, (d.objectCalls * OBJECT_MS_PER_CALL).toFixed(2) + " ms", d.objectCalls * (OBJECT_MS_PER_CALL / 1000) * 0.125 * PRICE.gbSecond],
    ["object statements", d.objectStatements.toFixed(2), 0],
    ["object SQLite rows read", d.objectRowsRead.toFixed(2), d.objectRowsRead * PRICE.d1RowRead],
    ["object SQLite rows written", d.objectRowsWritten.toFixed(2), d.objectRowsWritten * PRICE.d1RowWritten],
    ["object SQLite rows written by the retention delete", deleteRows.toFixed(2), deleteRows * PRICE.d1RowWritten],
    ["D1 calls (round trips)", d.d1Calls.toFixed(2), 0],
    ["D1 statements", d.d1Statements.toFixed(2), 0],
    ["D1 rows read", d.d1RowsRead.toFixed(2), d.d1RowsRead * PRICE.d1RowRead],
    ["D1 rows written", d.d1RowsWritten.toFixed(2), d.d1RowsWritten * PRICE.d1RowWritten],
    ["KV reads", d.kvReads.toFixed(3), d.kvReads * PRICE.kvRead],
    ["KV writes", d.kvWrites.toFixed(3), d.kvWrites * PRICE.kvWrite],
    ["queue messages sent", d.queueMessagesSent.toFixed(3), 0],
    ["queue operations (3 per message + retries)", queueOps.toFixed(3), queueOps * PRICE.queueOp],
    ["fetches to receivers", d.fetches.toFixed(3), 0],
    // Hand-overs to webhooks' lanes (Durable Object requests, $0.15 per million beyond the included ones).
    ["lane hand-overs (Durable Object calls)", (d.laneCalls ?? 0).toFixed(3), (d.laneCalls ?? 0) * 0.15],
  ];
  const total = perDelivery.reduce((sum, [, , usd]) => sum + usd, 0);
  console.log(`\nPer delivery, and the cost per million deliveries at list prices:\n`);
  console.log("| per delivery | count | USD per 1M deliveries |");
  console.log("|---|---:|---:|");
  for (const [name, count, usd] of perDelivery) console.log(`| ${name} | ${count} | ${usd ? usd.toFixed(4) : "-"} |`);
  console.log(`| **total** | | **${total.toFixed(4)}** |`);
  // For `make bench-compare`: the headline numbers, machine-readable.
  if (process.env.RESULT_JSON) {
    const result = {
      system: "edgehook (embedded runtime)",
      roundTrips: { one, many },
      events: EVENTS,
      endpoints: ENDPOINTS,
      concurrency: CONCURRENCY,
      rate: RATE,
      consumers: process.env.EDGEHOOK_CONSUMERS ?? null,
      batch: BATCH,
      ingestPerSec: EVENTS / (ingestMs / 1000),
      deliveriesPerSec: delivered / (doneMs / 1000),
      p50ms: pct(50),
      p99ms: pct(99),
      cpuMsPerDelivery: cpuMs,
      complete: delivered === expected,
    };
    writeFileSync(process.env.RESULT_JSON, JSON.stringify(result, null, 2));
  }
} finally {
  await worker.stop();
  await receiver.close();
}
