// Makes sure the local .dev.vars exists (copied from .dev.vars.example) and holds a SECRETS_KEY: a random 32-byte key,
// made once per checkout, that seals webhook signing secrets at rest under `wrangler dev`. In production the key is
// a Worker secret: `openssl rand -base64 32 | wrangler secret put SECRETS_KEY`.
import { randomBytes } from "node:crypto";
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export function ensureDevVars(root = new URL("..", import.meta.url)) {
  const path = new URL(".dev.vars", root);
  if (!existsSync(path)) copyFileSync(new URL(".dev.vars.example", root), path);
  if (!/^SECRETS_KEY=/m.test(readFileSync(path, "utf8"))) {
    const text = readFileSync(path, "utf8");
    appendFileSync(path, `${text.endsWith("\n") ? "" : "\n"}SECRETS_KEY=${randomBytes(32).toString("base64")}\n`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) ensureDevVars();
