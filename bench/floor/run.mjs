// Runs the floor Worker (floor.mjs) on the embedded runtime in a benchmark's shape and measures it as
// bench/delivery.mjs measures edgehook: ingest events/s, deliveries/s, ingest-to-receipt p50 and p99, and the
// runtime's CPU per delivery. Bounded: it stops at a deadline whatever has arrived.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startReceiver, freePort, eventually } from "../../tests/harness.mjs";
import { groupCpuSeconds } from "../cpu.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CONFIG = "bench/floor/wrangler.toml";

export async function measureFloor({ events = 1000, endpoints = 3, concurrency = 16, deadlineMs = 120000 } = {}) {
  const persist = mkdtempSync(join(tmpdir(), "edgehook-floor-"));
  const env = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" };
  execFileSync(join(ROOT, "node_modules", ".bin", "wrangler"), ["d1", "migrations", "apply", "DB", "--local", "-c", CONFIG, "--persist-to", persist], { cwd: ROOT, env, stdio: "ignore" });
  const receiver = await startReceiver();
  const port = await freePort();
  const receivers = JSON.stringify(Array.from({ length: endpoints }, (_, i) => `${receiver.url}/f${i}`));
  const child = spawn(process.execPath, [join(ROOT, "scripts", "runtime.mjs"), "-c", CONFIG, "--port", String(port), "--persist-to", persist, "--log-level", "warn", "--var", `RECEIVERS:${receivers}`], { cwd: ROOT, env, detached: true, stdio: "ignore" });
  const base = `http://127.0.0.1:${port}`;
  try {
    await eventually(async () => (await fetch(base)).ok, { timeoutMs: 60000, what: "the floor Worker" });
    const post = (id) => fetch(base, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id, type: "lead.created", data: { name: "Ada Lovelace", email: "ada@example.com" } }) }).then((r) => r.arrayBuffer());
    await post("warm-up");
    await eventually(() => receiver.requests.length >= endpoints, { timeoutMs: 30000, what: "the warm-up deliveries" });
    receiver.requests.length = 0;
    const sentAt = new Map();
    const cpuBefore = groupCpuSeconds(child.pid);
    const started = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < events) {
        const id = `floor-${next++}`;
        sentAt.set(id, Date.now());
        await post(id);
      }
    }));
    const ingestMs = Date.now() - started;
    while (receiver.requests.length < events * endpoints && Date.now() - started < deadlineMs) await new Promise((r) => setTimeout(r, 50));
    const doneMs = Math.max(...receiver.requests.map((r) => r.receivedAt)) - started;
    const cpu = groupCpuSeconds(child.pid) - cpuBefore;
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
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
    await receiver.close();
    rmSync(persist, { recursive: true, force: true });
  }
}

if (process.argv[1] && process.argv[1].endsWith("run.mjs")) console.log(await measureFloor());
