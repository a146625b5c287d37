// `make bench-memory`: how much memory the Worker's isolate holds under load, against Cloudflare's 128 MB per isolate
// (https://developers.cloudflare.com/workers/platform/limits/#memory: "a per-isolate limit, an isolate may be
// handling multiple requests concurrently"; an isolate past it is reset, error 1102, and what it was doing is lost).
// Locally one isolate runs the Worker, its organizations' objects and lanes, so this is more than any one isolate of
// production holds.
//
// Runs `bench/delivery.mjs` three times (a fresh runtime each): CRM-sized events as single-event ingests, the largest
// events the API takes (256 KiB) the same way, and batches of 50 (the queue consumer's path). While each runs it reads
// the isolate's JavaScript heap through V8's inspector every SAMPLE_MS (500), and every fifth read also collects
// garbage first and reads what is left (what the isolate retains) and the WebAssembly memory (which grows and never
// shrinks: its peak stays with the isolate). Prints the peaks and the retained heap's first and last reading, so a
// leak shows as growth from one to the other. Bounded: each load stops at its own deadline, and is killed after
// LOAD_S (400) seconds.
import { connect, sleep, startLoad } from "./inspector.mjs";

const LIMIT_BYTES = 128 * 1000 * 1000;
const SAMPLE_MS = Number(process.env.SAMPLE_MS ?? 500);
const LOAD_S = Number(process.env.LOAD_S ?? 400);
const MB = (bytes) => (bytes / 1e6).toFixed(1);

const ALL_LOADS = [
  { label: "CRM events (about 150 bytes), single-event ingests", env: { EVENTS: "6000", BATCH: "1" } },
  // 900 deliveries of 256 KiB: the receiver keeps what it got, about 240 MB of this process.
  { label: "the largest events (256 KiB), single-event ingests", env: { EVENTS: "300", BATCH: "1", PAYLOAD_BYTES: String(256 * 1024 - 200) } },
  { label: "CRM events in batches of 50 (queue consumers)", env: { EVENTS: "6000", BATCH: "50" } },
];
// LOAD=n runs only the n-th load (1-based), with the environment's settings (CONCURRENCY, EVENTS) over its own.
const LOADS = process.env.LOAD ? [ALL_LOADS[Number(process.env.LOAD) - 1]] : ALL_LOADS;

const results = [];
for (const load of LOADS) {
  console.log(`\n${load.label}: ${load.env.EVENTS} events to 3 endpoints, 16 requests in flight`);
  results.push({ label: load.label, ...(await measure(load.env)) });
}

console.log("\nThe Worker's isolate (the Worker, its organizations' objects and lanes) against 128 MB:\n");
console.log("| load | JS heap used, peak | JS heap reserved, peak | WebAssembly memory, peak | retained after GC, first → last | peak of 128 MB |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const r of results) {
  const peak = r.reservedPeak + r.wasmPeak;
  console.log(
    `| ${r.label} | ${MB(r.usedPeak)} MB | ${MB(r.reservedPeak)} MB | ${MB(r.wasmPeak)} MB | ${MB(r.retained[0] ?? 0)} → ${MB(r.retained.at(-1) ?? 0)} MB | ${((100 * peak) / LIMIT_BYTES).toFixed(0)} % |`,
  );
}
console.log("\nThe peak counts the heap V8 reserved, not only what it used, plus the WebAssembly memory: what the isolate held.");
const failed = results.filter((r) => !r.completed);
if (failed.length) {
  console.error(`Not every load delivered everything: ${failed.map((r) => r.label).join("; ")}`);
  process.exit(1);
}

/** Runs one load with the inspector open and samples the isolate's memory until it ends. */
async function measure(env) {
  const load = await startLoad({ ENDPOINTS: "3", CONCURRENCY: "16", ...env, ...process.env }, LOAD_S);
  const found = { usedPeak: 0, reservedPeak: 0, wasmPeak: 0, retained: [], completed: false };
  try {
    const target = await load.target();
    const session = await connect(target.webSocketDebuggerUrl, { timeoutMs: 10_000 });
    await session.call("Runtime.enable");
    for (let n = 0; !load.ended(); n++) {
      const heap = (await session.call("Runtime.getHeapUsage")).result;
      if (!heap) break;
      found.usedPeak = Math.max(found.usedPeak, heap.usedSize);
      found.reservedPeak = Math.max(found.reservedPeak, heap.totalSize);
      if (n % 5 === 4) {
        await session.call("HeapProfiler.collectGarbage");
        const after = (await session.call("Runtime.getHeapUsage")).result;
        if (after) found.retained.push(after.usedSize);
        const wasm = await wasmMemoryBytes(session);
        if (wasm !== null) found.wasmPeak = Math.max(found.wasmPeak, wasm);
      }
      await sleep(SAMPLE_MS);
    }
    session.close();
    await load.exited;
  } finally {
    load.stop();
  }
  const delivered = load.output().match(/deliveries received\s*\|\s*(\d+) of (\d+)/);
  found.completed = Boolean(delivered && delivered[1] === delivered[2]);
  console.log(
    `  delivered ${delivered ? `${delivered[1]} of ${delivered[2]}` : "?"}; JS heap used up to ${MB(found.usedPeak)} MB ` +
      `(reserved ${MB(found.reservedPeak)} MB), WebAssembly memory ${MB(found.wasmPeak)} MB`,
  );
  return found;
}

/** The isolate's WebAssembly memories in all (the Worker's Rust), in bytes. */
async function wasmMemoryBytes(session) {
  const context = session.events.find((e) => e.method === "Runtime.executionContextCreated")?.params.context.id;
  const prototype = (await session.call("Runtime.evaluate", { expression: "WebAssembly.Memory.prototype", contextId: context })).result?.result;
  if (!prototype?.objectId) return null;
  const memories = (await session.call("Runtime.queryObjects", { prototypeObjectId: prototype.objectId })).result?.objects;
  if (!memories?.objectId) return null;
  const total = await session.call("Runtime.callFunctionOn", {
    objectId: memories.objectId,
    functionDeclaration: "function () { return this.reduce((sum, m) => sum + m.buffer.byteLength, 0); }",
    returnByValue: true,
  });
  return total.result?.result?.value ?? null;
}
