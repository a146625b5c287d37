// Mints an HS256 JWT for local use: `make token [ORG=…] [ROLE=…]`. The secret comes from .dev.vars.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Signs `{ sub, org, role, exp, nbf?, iss?, aud? }` with HS256 (or, for tests of refusal, another `alg` header). */
export function makeToken({ secret, org = "org_demo", sub = "user_demo", role = "admin", ttlSeconds = 86400, exp, nbf, iss, aud, alg = "HS256" }) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const claims = { sub, org, role, exp: exp ?? Math.floor(Date.now() / 1000) + ttlSeconds };
  if (nbf !== undefined) claims.nbf = nbf;
  if (iss !== undefined) claims.iss = iss;
  if (aud !== undefined) claims.aud = aud;
  const head = `${b64({ alg, typ: "JWT" })}.${b64(claims)}`;
  const signature = alg === "none" ? "" : createHmac("sha256", secret).update(head).digest("base64url");
  return `${head}.${signature}`;
}

/** JWT_SECRET from a .dev.vars file. */
export function devSecret(path = new URL("../.dev.vars", import.meta.url)) {
  const line = readFileSync(path, "utf8").split("\n").find((l) => l.startsWith("JWT_SECRET="));
  if (!line) throw new Error(".dev.vars has no JWT_SECRET");
  return line.slice("JWT_SECRET=".length).trim().replace(/^"(.*)"$/, "$1");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
  };
  const role = option("role", "admin");
  if (!["admin", "member", "service"].includes(role)) {
    console.error(`unknown role ${role}: use admin, member or service`);
    process.exit(2);
  }
  console.log(makeToken({ secret: devSecret(), org: option("org", "org_demo"), role, sub: option("sub", "user_demo") }));
}
