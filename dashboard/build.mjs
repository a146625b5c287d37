// Builds the dashboard into dist/: one JS and one CSS bundle (content-hashed names, minified), and index.html that
// loads them. Prints their gzipped size against the 100 KiB budget and fails beyond it.
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const BUDGET_GZIP_BYTES = 100 * 1024;

await rm(dist, { recursive: true, force: true });
await mkdir(join(dist, "assets"), { recursive: true });
const result = await build({
  absWorkingDir: here,
  entryPoints: ["src/main.tsx"],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022", "chrome115", "firefox115", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: join(dist, "assets"),
  entryNames: "[name]-[hash]",
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});
const outputs = Object.keys(result.metafile.outputs);
const script = outputs.find((f) => f.endsWith(".js"));
const style = outputs.find((f) => f.endsWith(".css"));
if (!script || !style) throw new Error(`expected one .js and one .css output, got ${outputs.join(", ")}`);

const template = await readFile(join(here, "index.html"), "utf8");
const html = template
  .replace("%SCRIPT%", `/assets/${basename(script)}`)
  .replace("%STYLE%", `/assets/${basename(style)}`);
await writeFile(join(dist, "index.html"), html);
await writeFile(join(dist, "favicon.svg"), await readFile(join(here, "favicon.svg")));

let total = 0;
for (const file of [script, style]) {
  const bytes = await readFile(join(here, file));
  const gz = gzipSync(bytes, { level: 9 }).length;
  total += gz;
  console.log(`dashboard: ${basename(file)} ${(bytes.length / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped`);
}
console.log(`dashboard: JS + CSS ${(total / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET_GZIP_BYTES / 1024} KiB)`);
if (total > BUDGET_GZIP_BYTES) {
  console.error("dashboard: over its size budget");
  process.exit(1);
}
