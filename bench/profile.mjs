// `make profile`: where the Worker's isolate spends its time, by function. Runs `bench/delivery.mjs` (single-event
// ingests unless BATCH is set, 16 in flight) with V8's inspector open on the runtime's isolates, waits WARM_S seconds
// (12 unless set) for the run's warm-up and steady state, samples the Worker's isolate (the Worker, its
// organizations' objects and lanes: one isolate) for PROFILE_S seconds (12), then prints the functions with the most
// self time and the Rust functions with the most time inclusive, and writes the profile where Chrome's DevTools
// (Performance, "Load profile") opens it: test-results/profile/worker.cpuprofile.
//
// Why: `perf` sees the Worker's WebAssembly and JavaScript as anonymous JIT frames. V8's own sampler names them (the
// wasm keeps its names section), and it charges a runtime API's native work to the JavaScript function that called
// it, so `exec`, `fetch` and wasm-bindgen's `__wbg_*` glue stand for the runtime calls the Rust code makes. Treat a
// share as a lead, then measure the change end to end: a glue function's share once overstated its cost ninefold
// (docs/performance.md). Bounded: the load stops at its own deadline and this script kills it after PROFILE_S + 300 s.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, sleep, startLoad } from "./inspector.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WARM_S = Number(process.env.WARM_S ?? 12);
const PROFILE_S = Number(process.env.PROFILE_S ?? 12);
const OUT = join(ROOT, "test-results", "profile");
const TOP = Number(process.env.TOP ?? 40);

const load = await startLoad({ EVENTS: "15000", CONCURRENCY: "16", BATCH: "1", ...process.env }, WARM_S + PROFILE_S + 300);
try {
  const target = await load.target();
  await sleep(WARM_S * 1000);
  const profile = await sample(target.webSocketDebuggerUrl, PROFILE_S * 1000);
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, "worker.cpuprofile"), JSON.stringify(profile));
  report(profile);
  console.log(`\nProfile: ${join("test-results", "profile", "worker.cpuprofile")} (Chrome DevTools, Performance, Load profile)`);
  await load.exited;
  const rate = load.output().match(/deliveries\/s \(end to end\)\s*\|\s*([\d,]+)/)?.[1];
  const cpu = load.output().match(/([\d.]+) CPU-ms per delivery/)?.[1];
  if (rate) console.log(`The load while sampled: ${rate} deliveries/s, ${cpu} CPU-ms per delivery (the sampler costs a little).`);
} finally {
  load.stop();
}

/** Samples one isolate for `ms` milliseconds through its inspector; answers the V8 CPU profile. */
async function sample(url, ms) {
  const session = await connect(url, { timeoutMs: ms + 60_000 });
  await session.call("Profiler.enable");
  await session.call("Profiler.setSamplingInterval", { interval: 200 });
  await session.call("Profiler.start");
  await sleep(ms);
  const stopped = await session.call("Profiler.stop");
  session.close();
  if (!stopped.result?.profile) throw new Error(`the profiler answered ${JSON.stringify(stopped).slice(0, 200)}`);
  return stopped.result.profile;
}

/** Prints self time by function and the Rust functions' inclusive time, as shares of the time sampled. */
function report(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n.id);
  const sampled = new Map();
  let total = 0;
  profile.samples.forEach((node, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    sampled.set(node, (sampled.get(node) ?? 0) + us);
    total += us;
  });
  const name = (n) => {
    const frame = n.callFrame;
    const fn = (frame.functionName || "(anonymous)").replace(/::h[0-9a-f]{16}$/, "").replace(/\[[0-9a-f]{16}\]/g, "");
    return frame.url.endsWith(".js") ? `${fn} (${frame.url.split("/").pop()})` : fn;
  };
  const self = new Map();
  const inclusive = new Map();
  for (const [id, us] of sampled) {
    const n = byId.get(id);
    self.set(name(n), (self.get(name(n)) ?? 0) + us);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parentOf.get(at)) {
      const k = name(byId.get(at));
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const share = (us) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  console.log(`Worker isolate, ${(total / 1e6).toFixed(1)} s sampled. Self time:`);
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${share(us)}  ${k.slice(0, 140)}`);
  console.log("\nedgehook's Rust functions, inclusive (what they and the runtime calls they make took):");
  const rust = [...inclusive].filter(([k]) => k.startsWith("edgehook::")).sort((a, b) => b[1] - a[1]);
  for (const [k, us] of rust.slice(0, TOP / 2)) console.log(`${share(us)}  ${k.slice(0, 140)}`);
}
