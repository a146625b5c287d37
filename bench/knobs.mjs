// `make bench-knobs`: the deliveries consumer's knobs (max_batch_size, max_batch_timeout) against latency and
// throughput, in Svix's shape (1,000 single-event ingests, 16 in flight, 3 endpoints) and at a steady 50 events/s (half of what it sustains),
// each setting laid over wrangler.toml's for one run (scripts/runtime.mjs reads EDGEHOOK_CONSUMERS). One table.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = mkdtempSync(join(tmpdir(), "edgehook-knobs-"));
const settings = [
  { maxBatchSize: 100, maxBatchTimeout: 1 },
  { maxBatchSize: 50, maxBatchTimeout: 1 },
  { maxBatchSize: 25, maxBatchTimeout: 1 },
  { maxBatchSize: 100, maxBatchTimeout: 0 },
];
const loads = [
  { label: "16 in flight, as fast as answered", env: { CONCURRENCY: "16" } },
  { label: "50 events/s steady", env: { CONCURRENCY: "16", RATE: "50", EVENTS: "500" } },
];
const rows = [];
for (const load of loads) {
  for (const knobs of settings) {
    const file = join(out, `${rows.length}.json`);
    execFileSync(process.execPath, [join(ROOT, "bench", "delivery.mjs")], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, EVENTS: "1000", ENDPOINTS: "3", BATCH: "1", ...load.env, RESULT_JSON: file, EDGEHOOK_CONSUMERS: JSON.stringify({ "edgehook-deliveries": knobs }) },
    });
    rows.push({ load: load.label, knobs, r: JSON.parse(readFileSync(file, "utf8")) });
  }
}
console.log("\n| load | max_batch_size | max_batch_timeout s | ingest events/s | deliveries/s | p50 ms | p99 ms | CPU-ms per delivery |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
for (const { load, knobs, r } of rows) {
  console.log(`| ${load} | ${knobs.maxBatchSize} | ${knobs.maxBatchTimeout} | ${r.ingestPerSec.toFixed(0)} | ${r.deliveriesPerSec.toFixed(0)} | ${r.p50ms} | ${r.p99ms} | ${r.cpuMsPerDelivery.toFixed(2)} |`);
}
