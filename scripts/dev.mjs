// `make dev`: applies the local D1 migrations, runs the Worker on the embedded runtime (scripts/runtime.mjs: Miniflare's
// API, the engine under `wrangler dev`, without its proxy; `RUNTIME=wrangler` runs `wrangler dev --local` instead),
// drives its cron schedule (neither fires cron triggers locally), seeds a demo (a webhook pointing at a local receiver
// that verifies every delivery with the verifier package), and prints how to use it. SIGTERM or SIGINT stops the
// runtime's whole process group (workerd included) and exits.
//
// Options: --port N (default $PORT or 8787), --persist-to DIR (default wrangler's .wrangler/state), and any number
// of --var NAME:VALUE, passed to the runtime (the soak test uses them).
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { devSecret, makeToken } from "./token.mjs";
import { startCron } from "./cron.mjs";
import { ensureDevVars } from "./devvars.mjs";
import { Webhook, verifySimple } from "../verifier-wasm/pkg/node.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const port = Number(option("--port") || process.env.PORT || 8787);
const persist = option("--persist-to");
const vars = args.flatMap((a, i) => (a === "--var" ? ["--var", args[i + 1]] : []));
const base = `http://127.0.0.1:${port}`;
const DEMO_ORG = "org_demo";
const wranglerEnv = { ...process.env, WRANGLER_SEND_METRICS: "false" };
const persistArgs = persist ? ["--persist-to", persist] : [];

ensureDevVars();
execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", ...persistArgs], { cwd: ROOT, env: wranglerEnv, stdio: ["ignore", "ignore", "inherit"] });
const useWrangler = process.env.RUNTIME === "wrangler";
if (!useWrangler) execFileSync("make", ["--no-print-directory", "build-worker", "dashboard"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
const runtime = useWrangler
  ? spawn("wrangler", ["dev", "--local", "--ip", "127.0.0.1", "--port", String(port), "--show-interactive-dev-session=false", ...persistArgs, ...vars], {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
      detached: true,
      env: wranglerEnv,
    })
  : spawn(process.execPath, [join(ROOT, "scripts", "runtime.mjs"), "--ip", "127.0.0.1", "--port", String(port), ...persistArgs, ...vars], {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
      detached: true,
      env: wranglerEnv,
    });
let cron;

let receiver;
let stopping = false;
function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  cron?.stop();
  try {
    process.kill(-runtime.pid, "SIGTERM");
  } catch {}
  receiver?.close();
  const force = setTimeout(() => {
    try {
      process.kill(-runtime.pid, "SIGKILL");
    } catch {}
    process.exit(code);
  }, 5000);
  force.unref();
  runtime.once("exit", () => process.exit(code));
}
process.on("SIGTERM", () => stop(0));
process.on("SIGINT", () => stop(0));
process.on("SIGHUP", () => stop(0));
runtime.on("exit", (code) => {
  if (!stopping) {
    console.error(`the runtime exited with ${code}`);
    process.exit(code ?? 1);
  }
});

async function waitForHealth(deadlineMs = 180000) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline && !stopping) {
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return true;
    } catch {}
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}

// The demo receiver: verifies each delivery three ways and prints one line for it.
async function startDemoReceiver(secretOf) {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      let verdict;
      try {
        new Webhook(secretOf()).verify(body, req.headers);
        const simple = verifySimple(secretOf(), body, req.headers["x-webhook-signature"] ?? "");
        verdict = `verified (standard${simple ? " + simple" : ""})`;
      } catch (err) {
        verdict = `REJECTED: ${err.message}`;
      }
      console.log(`[demo receiver] ${req.headers["x-webhook-event"] ?? "?"} ${req.headers["webhook-id"] ?? ""} ${verdict}`);
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

async function seed(token) {
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  let secret = "";
  receiver = await startDemoReceiver(() => secret);
  const receiverUrl = `http://127.0.0.1:${receiver.address().port}/webhooks`;
  const list = await fetch(`${base}/api/webhooks`, { headers });
  if (list.status === 404) return null;
  const existing = (await list.json()).data ?? [];
  for (const old of existing.filter((w) => w.name === "Demo receiver")) {
    await fetch(`${base}/api/webhooks/${old.id}`, { method: "DELETE", headers });
  }
  const created = await fetch(`${base}/api/webhooks`, {
    method: "POST",
    headers,
    body: JSON.stringify({ name: "Demo receiver", url: receiverUrl, events: ["lead.*", "deal.won"], retryAttempts: 3, retryDelaySeconds: 5 }),
  });
  if (!created.ok) {
    console.error(`could not seed the demo webhook: ${created.status} ${await created.text()}`);
    return null;
  }
  const webhook = await created.json();
  secret = webhook.secret;
  // A few events, so the dashboard's log and chart have something to show.
  for (const event of [
    { type: "lead.created", data: { id: "lead_1", name: "Ada Lovelace", company: "Analytical Engines" } },
    { type: "lead.updated", data: { id: "lead_1", status: "qualified" }, changes: { status: { from: "new", to: "qualified" } } },
    { type: "deal.won", data: { id: "deal_7", amount: 12500.0, currency: "EUR" } },
  ]) {
    await fetch(`${base}/api/events`, { method: "POST", headers, body: JSON.stringify(event) });
  }
  const session = await fetch(`${base}/api/portal/sessions`, {
    method: "POST",
    headers,
    body: JSON.stringify({ expiresInSeconds: 7 * 86400 }),
  });
  const portal = session.ok ? await session.json() : null;
  return { webhook, receiverUrl, portal };
}

if (!(await waitForHealth())) {
  console.error(`the Worker did not answer on ${base}/health`);
  stop(1);
} else {
  cron = startCron({ base, root: ROOT, onError: (pattern, err) => console.error(`[cron] ${pattern}: ${err.message}`) });
  const token = makeToken({ secret: devSecret(), org: DEMO_ORG, role: "admin" });
  const demo = await seed(token).catch((err) => {
    console.error(`seeding failed: ${err.message}`);
    return null;
  });
  const lines = [
    "",
    `edgehook is running at ${base}`,
    "",
    ...(demo?.portal
      ? [
          "Open the dashboard (the customer portal of the demo organization; the link works for 7 days):",
          `  ${demo.portal.url}`,
          "",
        ]
      : []),
    `  health:    curl ${base}/health`,
    `  API docs:  curl ${base}/api/openapi.json`,
    "",
    `An admin token for organization ${DEMO_ORG} (make token ORG=… ROLE=admin|member|service mints others):`,
    `  export TOKEN=${token}`,
    "",
  ];
  if (demo) {
    lines.push(
      `Seeded webhook ${demo.webhook.id} -> ${demo.receiverUrl} (a local receiver that verifies and prints deliveries).`,
      "Send it an event:",
      `  curl -X POST ${base}/api/events -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
      `       -d '{"type":"lead.created","data":{"id":"lead_1","name":"Ada Lovelace"}}'`,
      "List webhooks and their deliveries:",
      `  curl ${base}/api/webhooks -H "authorization: Bearer $TOKEN"`,
      `  curl ${base}/api/webhooks/${demo.webhook.id}/deliveries -H "authorization: Bearer $TOKEN"`,
      "",
    );
  }
  lines.push(
    `The Worker's cron (${cron.patterns.join(", ")}) runs here as it would in production (it prunes D1's dead letters and`,
    "expired portal sessions); each organization's alarm re-sends deliveries whose queue message was lost (local",
    "queues live in memory) and prunes its old data.",
    "",
    "Stop with Ctrl-C.",
    "",
  );
  console.log(lines.join("\n"));
}
