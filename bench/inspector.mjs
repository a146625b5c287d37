// V8's inspector on the local runtime's isolates (`EDGEHOOK_INSPECTOR_PORT`, scripts/runtime.mjs), for `make profile`
// and `make bench-memory`: run a delivery benchmark with it open, find edgehook's own isolate (the Worker, its
// organizations' objects and lanes) and talk to it over the DevTools protocol.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../tests/harness.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Runs `bench/delivery.mjs` with the environment `env` and the runtime's inspector open, and kills its process group
 * after `limitSeconds` if it has not ended. Answers `target()` (edgehook's isolate's inspector target, once listed),
 * `output()` (its standard output so far), `exited` (settles when it exits), `ended()` and `stop()`.
 */
export async function startLoad(env, limitSeconds) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, "bench", "delivery.mjs")], {
    cwd: ROOT,
    env: { ...env, EDGEHOOK_INSPECTOR_PORT: String(port) },
    stdio: ["ignore", "pipe", "inherit"],
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  let ended = false;
  const exited = new Promise((resolve) => child.on("exit", () => resolve((ended = true))));
  const stop = () => {
    clearTimeout(guard);
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
  };
  const guard = setTimeout(stop, limitSeconds * 1000);
  return {
    target: () => workerTarget(port, Date.now() + 120_000),
    output: () => output,
    exited,
    ended: () => ended,
    stop,
  };
}

/** The inspector target of edgehook's own isolate, once the runtime lists it. */
export async function workerTarget(port, deadline) {
  while (Date.now() < deadline) {
    try {
      const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
      const found = targets.find((t) => /core:user:edgehook$/.test(t.title));
      if (found) return found;
    } catch {}
    await sleep(250);
  }
  throw new Error("the runtime's inspector did not list the Worker in time");
}

/**
 * A DevTools protocol session with one isolate: `call(method, params)` answers the message with its id (`{}` when the
 * isolate has gone and nothing answers within `timeoutMs`), `events` keeps what the isolate sent unasked.
 */
export async function connect(url, { timeoutMs = 30_000 } = {}) {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error("could not connect to the inspector"));
  });
  let id = 0;
  const waiting = new Map();
  const events = [];
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.id === undefined) {
      events.push(data);
      return;
    }
    waiting.get(data.id)?.(data);
    waiting.delete(data.id);
  };
  const call = (method, params = {}) =>
    new Promise((resolve) => {
      const mine = ++id;
      const timer = setTimeout(() => {
        waiting.delete(mine);
        resolve({});
      }, timeoutMs);
      waiting.set(mine, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      socket.send(JSON.stringify({ id: mine, method, params }));
    });
  return { call, events, close: () => socket.close() };
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
