// `make bench-api`: load on the management API of the local Worker (wrangler dev, local D1) with autocannon:
// list and create, 50 concurrent connections, bounded duration. Prints requests/s, p50 and p99 latency.
import autocannon from "autocannon";
import { startWorker, token } from "../tests/harness.mjs";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

const worker = await startWorker({ vars: { MAX_WEBHOOKS_PER_ORG: "1000000" } });
try {
  const listAuth = { authorization: `Bearer ${token({ org: "org_bench_list" })}`, "content-type": "application/json" };
  for (let i = 0; i < 10; i++) {
    const res = await worker.api("/api/webhooks", {
      method: "POST",
      headers: listAuth,
      body: JSON.stringify({ name: `bench ${i}`, url: `https://example.com/hooks/${i}`, events: ["lead.*", "deal.won"] }),
    });
    if (res.status !== 201) throw new Error(`seeding failed: ${res.status} ${await res.text()}`);
  }
  const run = (title, opts) =>
    new Promise((resolve, reject) => {
      autocannon({ connections: CONNECTIONS, duration: SECONDS, ...opts }, (err, result) => (err ? reject(err) : resolve([title, result])));
    });
  const results = [];
  results.push(await run("GET /api/webhooks (10 webhooks)", { url: `${worker.url}/api/webhooks`, headers: listAuth }));
  // Where the time goes: the same runtime serving a route with no auth and no D1, and the list without queueing.
  results.push(await run("GET /health (runtime floor)", { url: `${worker.url}/health` }));
  results.push(await run("GET /api/webhooks, 1 connection", { url: `${worker.url}/api/webhooks`, headers: listAuth, connections: 1 }));
  results.push(
    await run("POST /api/webhooks", {
      url: `${worker.url}/api/webhooks`,
      method: "POST",
      headers: { authorization: `Bearer ${token({ org: "org_bench_create" })}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "bench", url: "https://example.com/hooks/new", events: ["*"] }),
    }),
  );
  console.log(`\nmanagement API under wrangler dev --local, ${CONNECTIONS} connections (unless noted), ${SECONDS}s each\n`);
  console.log("| route                              | requests/s | p50 ms | p99 ms | non-2xx | errors |");
  console.log("|------------------------------------|-----------:|-------:|-------:|--------:|-------:|");
  for (const [title, r] of results) {
    console.log(`| ${title.padEnd(34)} | ${r.requests.average.toFixed(0).padStart(10)} | ${String(r.latency.p50).padStart(6)} | ${String(r.latency.p99).padStart(6)} | ${String(r.non2xx).padStart(7)} | ${String(r.errors).padStart(6)} |`);
  }
  const [list, floor, single] = results.map(([, r]) => r);
  console.log(`\nlist p99 ${list.latency.p99} ms at 50 connections (target < 20 ms): ${list.latency.p99 < 20 ? "met" : "NOT met"}.`);
  console.log(`A closed-loop generator at saturation measures queueing: latency = connections / throughput. The runtime`);
  console.log(`floor (/health, no work) serves ${floor.requests.average.toFixed(0)} req/s with p99 ${floor.latency.p99} ms at 50 connections; one`);
  console.log(`connection sees the list's own latency: p50 ${single.latency.p50} ms, p99 ${single.latency.p99} ms.`);
} finally {
  await worker.stop();
}
