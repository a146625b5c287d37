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
execFileSync(join(here, "node_modules", ".bin", "tsc"), ["-p", join(here, "tsconfig.json")], { stdio: "inherit" });
copyFileSync(join(here, "src", "schema.d.ts"), join(dist, "schema.d.ts"));
console.log("client: dist/ built (index, rpc: .mjs, .cjs, .d.ts)");
