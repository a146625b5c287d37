// `make deploy-check` (part of `make test`): bundles the Worker exactly as `wrangler deploy` would, without
// uploading (`--dry-run --outdir`, no network needed), and fails if the compressed bundle is over Cloudflare's Worker
// size limit. The limit checked is the Workers Free plan's, the stricter: 3 MB after compression (Paid: 10 MB).
// Each environment of wrangler.toml (the top level, `staging`, `free`) is bundled: wrangler validates its config.
// https://developers.cloudflare.com/workers/platform/limits/#worker-size
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const LIMIT_BYTES = 3 * 1024 * 1024;
const ENVIRONMENTS = [[], ["--env", "staging"], ["--env", "free"]];
for (const env of ENVIRONMENTS) check(env);

function check(env) {
  const outdir = mkdtempSync(join(tmpdir(), "edgehook-deploy-"));
  try {
    execFileSync("wrangler", ["deploy", "--dry-run", ...env, "--outdir", outdir], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
    const files = readdirSync(outdir).filter((f) => /\.(js|mjs|wasm)$/.test(f));
    let raw = 0;
    let gzipped = 0;
    for (const file of files) {
      const bytes = readFileSync(join(outdir, file));
      raw += bytes.length;
      gzipped += gzipSync(bytes, { level: 9 }).length;
    }
    const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
    console.log(`deploy check${env.length ? ` (${env.join(" ")})` : ""}: the Worker bundle (${files.join(", ")}) is ${kib(raw)}, ${kib(gzipped)} gzipped; limit ${kib(LIMIT_BYTES)} gzipped`);
    if (!files.some((f) => f.endsWith(".wasm"))) throw new Error("the bundle has no .wasm module");
    if (gzipped > LIMIT_BYTES) throw new Error(`the bundle is over Cloudflare's size limit: ${kib(gzipped)} > ${kib(LIMIT_BYTES)}`);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
