// The end-to-end harness: the real Worker on the embedded runtime (scripts/runtime.mjs: Miniflare's API, workerd with
// local D1, KV, Queues, the Durable Object and Static Assets on a fresh persistence directory) or, when asked, under
// `wrangler dev --local`, and a real receiving HTTP server on 127.0.0.1. Both stop by themselves.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, openSync, closeSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { before, after } from "node:test";
import { makeToken } from "../scripts/token.mjs";
import { startCron } from "../scripts/cron.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");
const RUNTIME = join(ROOT, "scripts", "runtime.mjs");
/** The local scheduled endpoint, what Cloudflare's cron calls in production (both runtimes serve it). */
export const SCHEDULED = "/cdn-cgi/local/scheduled?cron=*+*+*+*+*";
export const JWT_SECRET = "e2e-test-secret-of-reasonable-length";
/** The e2e Worker's SECRETS_KEY (base64 of 32 bytes). */
export const SECRETS_KEY = Buffer.alloc(32, 7).toString("base64");

/** Resolves when `check` returns a truthy value; rejects with `what` once `timeoutMs` has passed. */
/** Every delivery in an organization's object, as SQL to select from: its rows, and (schema v23) the deliveries whose
 * successful first attempt lives in their event's round instead of a row of their own. */
export const DELIVERIES = `(SELECT id, webhook_id, event_id, status, attempts, lease_until, next_attempt_at, last_error,
    first_attempt, requeued_at, lost_attempts, held_until FROM deliveries
  UNION ALL SELECT 'dlv_' || e.delivery_stem || json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), e.id,
    'succeeded', 1, NULL, NULL, NULL, json_extract(j.value, '$[2]'), NULL, 0, NULL
  FROM events e, json_each(e.round) j WHERE json_type(j.value, '$[2]') = 'object')`;

export async function eventually(check, { timeoutMs = 15000, intervalMs = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

/** Runs `task(0)` … `task(count - 1)`, in order of start, with at most `inFlight` of them running at once. */
export async function eachInFlight(count, inFlight, task) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, async () => {
    while (next < count) await task(next++);
  }));
}

/** A port the kernel just handed out on 127.0.0.1, free at the time of asking. */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** wrangler.toml's text with `vars` set in its [vars] table (replacing any of the same name). */
function withVars(toml, vars) {
  const lines = toml.split("\n").filter((line) => !Object.keys(vars).some((k) => line.match(new RegExp(`^\\s*${k}\\s*=`))));
  const at = lines.findIndex((line) => line.trim() === "[vars]");
  lines.splice(at + 1, 0, ...Object.entries(vars).map(([k, v]) => `${k} = ${JSON.stringify(String(v))}`));
  return lines.join("\n");
}

const running = new Set();
process.on("exit", () => {
  for (const pid of running) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
});

/**
 * Starts the Worker. `vars` override wrangler.toml's [vars] (and set JWT_SECRET), so each test file configures its
 * own instance. `cron: true` drives the Worker's cron schedule as `make dev` does; `logLevel` is wrangler's (the
 * Worker's own logs and the simulated send_email binding's need "info"); `persist` restarts on a directory a stopped
 * Worker kept (`stop({ keepState: true })`); `migrate` applies a fixture `config`'s D1 migrations. Returns { url, fetch,
 * stop, log }.
 */
export async function startWorker({ vars = {}, startTimeoutMs = 120000, configs = [], config = null, cron = false, logLevel = "warn", runtime = "miniflare", persist = mkdtempSync(join(tmpdir(), "edgehook-e2e-")), migrate = false } = {}) {
  const env = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" };
  if (!config || migrate) {
    execFileSync(WRANGLER, ["d1", "migrations", "apply", "DB", "--local", ...(config ? ["-c", config] : []), "--persist-to", persist], {
      cwd: ROOT,
      env,
      stdio: "ignore",
    });
  }
  const port = await freePort();
  // `config` runs another Worker alone (a fixture): it gets only the vars given here.
  const allVars = config ? vars : { JWT_SECRET, SECRETS_KEY, ALLOW_INSECURE_ENDPOINTS: "true", ...vars };
  // Extra configs run first: the first Worker of a multi-config session is the one that gets the port.
  const configArgs = [...(config ? [config] : configs), ...(config ? [] : ["wrangler.toml"])].flatMap((c) => ["-c", c]);
  let command;
  let args;
  let cleanupConfig = () => {};
  if (runtime === "wrangler") {
    // `--var` reaches only the first Worker of a multi-config session, so there edgehook's vars go into a copy of
    // wrangler.toml (secrets still come from .dev.vars, which overrides [vars]).
    let wranglerConfigs = configArgs;
    let passVars = allVars;
    if (configs.length) {
      const copy = `.e2e-${process.pid}-${port}.wrangler.toml`;
      writeFileSync(join(ROOT, copy), withVars(readFileSync(join(ROOT, "wrangler.toml"), "utf8"), allVars));
      cleanupConfig = () => rmSync(join(ROOT, copy), { force: true });
      wranglerConfigs = [...configs, copy].flatMap((c) => ["-c", c]);
      passVars = {};
    }
    command = WRANGLER;
    args = ["dev", ...wranglerConfigs, "--local", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(await freePort()),
      "--persist-to", persist, "--show-interactive-dev-session=false", "--log-level", logLevel];
    for (const [key, value] of Object.entries(passVars)) args.push("--var", `${key}:${value}`);
  } else {
    command = process.execPath;
    args = [RUNTIME, ...configArgs, "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persist, "--log-level", logLevel];
    for (const [key, value] of Object.entries(allVars)) args.push("--var", `${key}:${value}`);
  }
  const logPath = join(persist, "wrangler.log");
  const logFd = openSync(logPath, "a");
  const child = spawn(command, args, { cwd: ROOT, env, detached: true, stdio: ["ignore", logFd, logFd] });
  closeSync(logFd);
  running.add(child.pid);
  let exited = null;
  const exitPromise = new Promise((resolve) => child.on("exit", (code, signal) => resolve((exited = { code, signal }))));
  const url = `http://127.0.0.1:${port}`;
  const log = () => {
    try {
      return readFileSync(logPath, "utf8");
    } catch {
      return "";
    }
  };

  let schedule = null;
  /** Stops the runtime's whole process group (`crash`: SIGKILL at once, as a crash would); `keepState` leaves its
   *  persistence directory for a restart. */
  async function stop({ keepState = false, crash = false } = {}) {
    schedule?.stop();
    if (!running.has(child.pid)) return;
    running.delete(child.pid);
    try {
      process.kill(-child.pid, crash ? "SIGKILL" : "SIGTERM");
    } catch {}
    const timer = new Promise((r) => setTimeout(r, 5000, "timeout"));
    if ((await Promise.race([exitPromise, timer])) === "timeout") {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }
    // workerd children share the group; make sure none is left.
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
    if (!keepState) rmSync(persist, { recursive: true, force: true });
    cleanupConfig();
  }

  try {
    await eventually(
      async () => {
        if (exited) throw new Error(`wrangler exited (${JSON.stringify(exited)}):\n${log().slice(-3000)}`);
        const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
        return config ? res.status > 0 : res.ok;
      },
      { timeoutMs: startTimeoutMs, intervalMs: 250, what: "the Worker's /health" },
    );
  } catch (err) {
    await stop();
    throw new Error(`${err.message}\n--- wrangler log ---\n${log().slice(-3000)}`);
  }
  const cronRuns = [];
  if (cron) schedule = startCron({ base: url, root: ROOT, onRun: (pattern) => cronRuns.push({ pattern, at: Date.now() }) });
  /** Runs SQL against this Worker's local D1 (what is kept across organizations: API keys, portal sessions, dead
   *  letters), for tests that must set up a state the API cannot reach. */
  const sql = (command) => {
    const out = execFileSync(WRANGLER, ["d1", "execute", "DB", "--local", "--persist-to", persist, "--json", "--command", command], {
      cwd: ROOT,
      env,
      encoding: "utf8",
    });
    return JSON.parse(out)[0].results;
  };
  /** Runs one statement in an organization's own SQLite (its Durable Object), through the test-only `/__sql`. */
  const orgSql = async (organizationId, statement) => {
    const res = await fetch(`${url}/__sql`, { method: "POST", body: JSON.stringify({ organizationId, sql: statement }) });
    if (!res.ok) throw new Error(`/__sql answered ${res.status}: ${await res.text()}`);
    return res.json();
  };
  return { url, port, persist, pgid: child.pid, stop, log, sql, orgSql, cronRuns, api: (path, init) => fetch(`${url}${path}`, init) };
}

/** An HS256 JWT signed with the e2e secret unless told otherwise. */
/** For a test file: starts a receiver and the Worker (with `vars`) before its tests and stops both after them. The
 *  answer's `worker` and `receiver` are set once they have started. */
export function workerAndReceiver(vars) {
  const started = {};
  before(async () => {
    started.receiver = await startReceiver();
    started.worker = await startWorker({ vars });
  });
  after(async () => {
    await started.worker?.stop();
    await started.receiver?.close();
  });
  return started;
}

export function token(options = {}) {
  return makeToken({ secret: JWT_SECRET, org: "org_test", sub: "user_test", ...options });
}

/** The answer of Svix's benchmark receiver (../shared/peers/svix/bench.mjs): 200 "ok" with its length. The
 *  benchmarks answer with it so both systems read the same response. */
export const OK_WITH_LENGTH = Object.freeze({ status: 200, body: "ok", headers: { "content-length": "2" } });

/**
 * A receiving server on 127.0.0.1 that records every request (method, url, headers, raw body bytes) and answers
 * as told: `respond(fn)` sets a function from the request record to { status, body, headers, delayMs, reset,
 * stream }. `stream: true` answers the status and then streams body chunks without end, until the client goes away
 * or `streamMs` (default 20 s) has passed. `inFlight` and `maxInFlight` count requests from their arrival until their
 * answer is finished (or their connection closes).
 */
export async function startReceiver() {
  const requests = [];
  let responder = () => ({ status: 200, body: "ok" });
  const sockets = new Set();
  const timers = new Set();
  const state = { inFlight: 0, maxInFlight: 0, streamedBytes: 0 };
  const later = (fn, ms) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };
  const server = createServer((req, res) => {
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        state.inFlight--;
      }
    };
    res.on("finish", finish);
    res.on("close", finish);
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const record = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks), receivedAt: Date.now() };
      requests.push(record);
      const plan = responder(record, requests.length) ?? {};
      const answer = () => {
        if (plan.reset) {
          req.socket.destroy();
          return;
        }
        res.writeHead(plan.status ?? 200, { "content-type": "text/plain", ...(plan.headers ?? {}) });
        if (!plan.stream) {
          res.end(plan.body ?? "ok");
          return;
        }
        const until = Date.now() + (plan.streamMs ?? 20000);
        const chunk = Buffer.alloc(1024, "x");
        const pump = () => {
          if (res.destroyed || Date.now() > until) return res.end();
          res.write(chunk);
          state.streamedBytes += chunk.length;
          later(pump, 5);
        };
        pump();
      };
      if (plan.delayMs) later(answer, plan.delayMs);
      else answer();
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get inFlight() {
      return state.inFlight;
    },
    get maxInFlight() {
      return state.maxInFlight;
    },
    get streamedBytes() {
      return state.streamedBytes;
    },
    resetCounts() {
      state.maxInFlight = state.inFlight;
    },
    respond(fn) {
      responder = fn;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
