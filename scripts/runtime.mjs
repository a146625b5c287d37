// The embedded runtime: edgehook's Worker on Miniflare's own API (the npm `miniflare` package `wrangler dev` is built
// on). Same workerd, same Worker (build/index.js), same bindings read from wrangler.toml by wrangler's own reader
// (`unstable_getMiniflareWorkerOptions`): local D1, KV, Queues (with their consumer settings), the Durable Object,
// Static Assets and the send_email simulator, persisted where `wrangler dev --persist-to DIR` keeps them (DIR/v3),
// so `wrangler d1 migrations apply --local --persist-to DIR` prepares the same database.
//
// Why not `wrangler dev`: it puts a proxy Worker in a second workerd process in front of the Worker, wraps the
// Worker in middleware and keeps an inspector session attached. Measured on this machine (2 cores, 1,000 requests,
// 16 in flight): a Worker that answers "ok" costs 6.5 CPU-ms per request under `wrangler dev` and 0.85 CPU-ms here;
// edgehook's ingest costs 12.7 CPU-ms there. `wrangler dev` still runs the same Worker from the same wrangler.toml
// (tests/health.test.mjs starts it both ways); `wrangler deploy` is unchanged.
//
// Usage: node scripts/runtime.mjs [--port N] [--ip ADDR] [--persist-to DIR] [--var NAME:VALUE]... [-c CONFIG]...
//        [--log-level warn|info|debug]
// Several -c: one Miniflare instance runs every Worker (service bindings and queues connect them); the first gets
// the port, the last is edgehook, and --var applies to edgehook. The local scheduled endpoint (what Cloudflare's cron
// calls in production) is /cdn-cgi/handler/scheduled?cron=… (scripts/cron.mjs drives it). SIGTERM or SIGINT
// disposes of Miniflare (workerd included) and exits. For measurements: EDGEHOOK_INSPECTOR_PORT=N opens V8's inspector
// on every isolate (the Worker's and the simulators', for CPU profiles), and EDGEHOOK_CONSUMERS overlays queue
// consumer settings (bench/knobs.mjs).
import { Miniflare, Log, LogLevel, convertV4MiniflareOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from "wrangler";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Parses the command line above. */
export function parseArgs(argv) {
  const options = { port: 8787, ip: "127.0.0.1", persistTo: join(ROOT, ".wrangler", "state"), vars: {}, configs: [], logLevel: "info" };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
      return argv[++i];
    };
    switch (argv[i]) {
      case "--port":
        options.port = Number(value());
        break;
      case "--ip":
        options.ip = value();
        break;
      case "--persist-to":
        options.persistTo = resolve(value());
        break;
      case "--var": {
        const pair = value();
        const at = pair.indexOf(":");
        if (at < 1) throw new Error(`--var takes NAME:VALUE, not ${pair}`);
        options.vars[pair.slice(0, at)] = pair.slice(at + 1);
        break;
      }
      case "-c":
      case "--config":
        options.configs.push(value());
        break;
      case "--log-level":
        options.logLevel = value();
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (options.configs.length === 0) options.configs.push("wrangler.toml");
  return options;
}

/**
 * The modules of a Worker: its main module and every module it imports by a relative path, recursively (edgehook's
 * `src/entry.mjs` imports worker-build's `build/index.js`, which imports its `.wasm`). Miniflare 5 takes modules
 * listed, not found by rules; `wrangler deploy` bundles the same graph.
 */
export function modulesOf(main) {
  const seen = new Map();
  const visit = (path) => {
    if (seen.has(path)) return;
    if (path.endsWith(".wasm")) {
      seen.set(path, { type: "CompiledWasm", path });
      return;
    }
    seen.set(path, { type: "ESModule", path });
    const text = readFileSync(path, "utf8");
    for (const [, specifier] of text.matchAll(/(?:\bfrom|\bimport)\s*["'](\.{1,2}\/[^"']+)["']/g)) visit(resolve(dirname(path), specifier));
  };
  visit(resolve(main));
  return [...seen.values()];
}

/** Miniflare's options for the Workers of `configs` (paths relative to the repository), edgehook last. */
export function miniflareOptions({ port, ip, persistTo, vars, configs, logLevel }) {
  const assetWorkers = [];
  const workers = configs.map((path, index) => {
    const config = unstable_readConfig({ config: resolve(ROOT, path) });
    const { workerOptions, main } = unstable_getMiniflareWorkerOptions(config);
    const own = index === configs.length - 1 ? vars : {};
    // The main module and the WebAssembly beside it (worker-build's output: index.js imports ./index_bg.wasm).
    // Miniflare 5 takes modules listed, not found by rules.
    const { modulesRules: _rules, ...rest } = workerOptions;
    // Benchmarks measure the consumer's knobs without editing wrangler.toml: EDGEHOOK_CONSUMERS is JSON of
    // { "<queue>": { "maxBatchSize": n, "maxBatchTimeout": seconds } } laid over the configured consumers.
    const knobs = JSON.parse(process.env.EDGEHOOK_CONSUMERS || "{}");
    for (const [queue, consumer] of Object.entries(rest.queueConsumers ?? {})) Object.assign(consumer, knobs[queue] ?? {});
    // Static Assets: locally Miniflare puts an asset-router Worker in front of a Worker with assets, and with
    // run_worker_first = true that router only forwards every request to the Worker, at about 0.5 CPU-ms per request
    // on this machine (measured: GET /health 1.57 -> 1.06 CPU-ms without it). So the Worker takes requests itself
    // and its ASSETS binding is a Worker serving the same directory with the same settings: what env.ASSETS.fetch
    // answers is unchanged. (In production the router is Cloudflare's and costs the Worker nothing.)
    const { assets } = rest;
    let assetBinding = {};
    if (assets?.run_worker_first === true && assets.binding) {
      delete rest.assets;
      const name = `${config.name}-assets`;
      assetBinding = { [assets.binding]: name };
      assetWorkers.push({
        name,
        modules: true,
        script: "export default { fetch() { return new Response(null, { status: 404 }); } };",
        compatibilityDate: rest.compatibilityDate,
        assets: { directory: assets.directory, routerConfig: { has_user_worker: false }, assetConfig: assets.assetConfig },
      });
    }
    return {
      name: config.name,
      ...rest,
      bindings: { ...workerOptions.bindings, ...own },
      modulesRoot: ROOT,
      modules: modulesOf(main),
      // A binding may name an entrypoint (edgehook's `Publisher`) and the `props` its calls carry.
      serviceBindings: {
        ...Object.fromEntries(config.services.map((s) => [s.binding, { name: s.service, ...(s.entrypoint ? { entrypoint: s.entrypoint } : {}), ...(s.props ? { props: s.props } : {}) }])),
        ...assetBinding,
      },
    };
  });
  workers.push(...assetWorkers);
  const level = { warn: LogLevel.WARN, info: LogLevel.INFO, debug: LogLevel.DEBUG, error: LogLevel.ERROR, none: LogLevel.NONE }[logLevel] ?? LogLevel.INFO;
  return convertV4MiniflareOptions({
    host: ip,
    port,
    log: new Log(level),
    resourcePersistencePath: join(persistTo, "v3"),
    // Serves /cdn-cgi/handler/scheduled, the local stand-in for Cloudflare's cron.
    ...(process.env.EDGEHOOK_INSPECTOR_PORT ? { inspectorPort: Number(process.env.EDGEHOOK_INSPECTOR_PORT) } : {}),
    unsafeTriggerHandlers: true,
    // No network lookup of the request.cf object (wrangler dev caches one; the Worker does not read it).
    cf: false,
    workers,
  });
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const mf = new Miniflare(miniflareOptions(options));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    try {
      await mf.dispose();
    } finally {
      process.exit(0);
    }
  };
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, stop);
  await mf.ready;
  console.log(`edgehook is running on http://${options.ip}:${options.port} (Miniflare, state in ${options.persistTo})`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err?.stack ?? String(err));
    process.exit(1);
  });
}
