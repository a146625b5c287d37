// Builds @edgehook/client into dist/: ESM (`.mjs`) and CommonJS (`.cjs`) by esbuild, declarations by tsc, and the
// generated `schema.d.ts` beside them. openapi-fetch (6 KB) is bundled into both: its CommonJS build puts the client
// on `exports.default` without `__esModule`, which a CommonJS bundle importing it cannot reach as a default import.
// It stays a dependency for its types, which the declarations name.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
for (const entry of ["errors", "index", "rpc"]) {
  for (const [format, ext] of [["esm", "mjs"], ["cjs", "cjs"]]) {
    await build({
      // `index` and `rpc` share one EdgehookError class (so `instanceof` holds across them): errors is its own file.
      plugins: [{ name: "errors", setup: (b) => b.onResolve({ filter: /^\.\/errors\.js$/ }, () => ({ path: `./errors.${ext}`, external: true })) }],
      entryPoints: [join(here, "src", `${entry}.ts`)],
      outfile: join(dist, `${entry}.${ext}`),
      bundle: true,
      format,
      platform: "neutral",
      target: "es2022",
      logLevel: "warning",
    });
  }
}
// Declarations by tsc, with a deadline: on these 2-core machines tsc twice hung for good at start, its main thread
// parked on a futex with a quarter-second of CPU spent (once in a clean-clone `make test`). A normal run takes a few
// seconds; one that hangs is killed and run again, so a stuck compiler cannot eat CI's time.
const TSC_DEADLINE_MS = 120_000;
for (let attempt = 1; ; attempt++) {
  try {
    execFileSync(join(here, "node_modules", ".bin", "tsc"), ["-p", join(here, "tsconfig.json")], { stdio: "inherit", timeout: TSC_DEADLINE_MS, killSignal: "SIGKILL" });
    break;
  } catch (e) {
    if (e.code !== "ETIMEDOUT" || attempt === 3) throw e;
    console.warn(`client: tsc did not finish in ${TSC_DEADLINE_MS / 1000} s (attempt ${attempt}); running it again`);
  }
}
copyFileSync(join(here, "src", "schema.d.ts"), join(dist, "schema.d.ts"));
console.log("client: dist/ built (index, rpc: .mjs, .cjs, .d.ts)");
