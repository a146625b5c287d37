// The local cron: neither `wrangler dev` nor Miniflare fires cron triggers ("Scheduled Workers are not automatically
// triggered during local development"), so `make dev`, the e2e harness and the soak drive the Worker's schedule
// themselves. They read the schedules from wrangler.toml and, on each, call the local scheduled endpoint both serve
// (/cdn-cgi/local/scheduled), exactly as Cloudflare's cron would invoke the `scheduled` handler in production.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Cron } from "croner";

/** The `crons = [...]` schedules of a wrangler.toml. */
export function schedules(wranglerToml) {
  const text = readFileSync(wranglerToml, "utf8");
  const match = text.match(/^\s*crons\s*=\s*\[([^\]]*)\]/m);
  if (!match) return [];
  return [...match[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
}

/**
 * Calls `${base}/cdn-cgi/local/scheduled?cron=…` on every schedule of `root/wrangler.toml` until `stop()`. Each call is bounded
 * by a timeout; a failed call is reported through `onError` and the schedule goes on.
 */
export function startCron({ base, root, onRun = () => {}, onError = () => {} }) {
  const jobs = schedules(join(root, "wrangler.toml")).map(
    (pattern) =>
      new Cron(pattern, { timezone: "UTC", protect: true }, async () => {
        try {
          const res = await fetch(`${base}/cdn-cgi/local/scheduled?cron=${encodeURIComponent(pattern)}`, { signal: AbortSignal.timeout(30000) });
          await res.arrayBuffer();
          if (!res.ok) throw new Error(`the scheduled endpoint answered ${res.status}`);
          onRun(pattern);
        } catch (err) {
          onError(pattern, err);
        }
      }),
  );
  return {
    patterns: jobs.map((j) => j.getPattern()),
    stop() {
      for (const job of jobs) job.stop();
    },
  };
}
