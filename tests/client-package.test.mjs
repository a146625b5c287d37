// @edgehook/client as an integrator installs it: `npm pack` the package, install the tarball into an empty project,
// then `import` it (ESM), `require` it (CommonJS) and type-check a TypeScript file against its declarations. Each
// calls a local server on 127.0.0.1 through the client and reads an edgehook error back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./harness.mjs";

const CLIENT = join(ROOT, "client");
let project;
let server;
let baseUrl;

before(async () => {
  project = mkdtempSync(join(tmpdir(), "edgehook-client-"));
  const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", project], { cwd: CLIENT, encoding: "utf8" }).trim().split("\n").pop();
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true }));
  // openapi-fetch is in npm's cache from the client's own install: no network needed.
  execFileSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--silent", join(project, tarball)], { cwd: project, stdio: "inherit" });
  // A stand-in for edgehook: one webhook list for the right bearer, the API's 401 body for any other.
  server = createServer((req, res) => {
    const ok = req.headers.authorization === "Bearer ehk_test";
    res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
    res.end(JSON.stringify(ok ? { data: [{ id: "wh_1" }], total: 1 } : { error: { code: "unauthorized", message: "the API key is unknown or revoked" } }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${server.address().port}`;
});
after(async () => {
  server?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});

// Asynchronous: the stand-in server answers from this process.
const run = async (file) => (await promisify(execFile)(process.execPath, [file], { cwd: project, encoding: "utf8", env: { ...process.env, BASE_URL: baseUrl }, timeout: 30000 })).stdout.trim();

test("import (ESM) works from the installed tarball", async () => {
  writeFileSync(join(project, "esm.mjs"), `
import { createEdgehookClient, unwrap, EdgehookError } from "@edgehook/client";
import { rpcError } from "@edgehook/client/rpc";
const good = createEdgehookClient({ baseUrl: process.env.BASE_URL, token: "ehk_test" });
const list = await unwrap(good.GET("/api/webhooks"));
const bad = createEdgehookClient({ baseUrl: process.env.BASE_URL, token: "ehk_wrong" });
const error = await unwrap(bad.GET("/api/webhooks")).catch((e) => e);
const thrown = rpcError(new Error(JSON.stringify({ error: { code: "validation_error", message: "m", field: "type" } })));
console.log(JSON.stringify([list.data[0].id, error instanceof EdgehookError, error.status, error.code, thrown instanceof EdgehookError, thrown.code, thrown.field]));
`);
  assert.deepEqual(JSON.parse(await run("esm.mjs")), ["wh_1", true, 401, "unauthorized", true, "validation_error", "type"]);
});

test("require (CommonJS) works from the installed tarball", async () => {
  writeFileSync(join(project, "cjs.cjs"), `
const { createEdgehookClient, unwrap, EdgehookError } = require("@edgehook/client");
const { rpcError } = require("@edgehook/client/rpc");
(async () => {
  const good = createEdgehookClient({ baseUrl: process.env.BASE_URL, token: "ehk_test" });
  const list = await unwrap(good.GET("/api/webhooks"));
  const error = await unwrap(createEdgehookClient({ baseUrl: process.env.BASE_URL }).GET("/api/webhooks")).catch((e) => e);
  console.log(JSON.stringify([list.data[0].id, error instanceof EdgehookError, error.code, rpcError(new Error("not edgehook's")) === undefined]));
})();
`);
  assert.deepEqual(JSON.parse(await run("cjs.cjs")), ["wh_1", true, "unauthorized", true]);
});

test("the declarations type-check a consumer, and catch a wrong path or body", () => {
  const tsc = join(CLIENT, "node_modules", ".bin", "tsc");
  const check = (source) => {
    writeFileSync(join(project, "consumer.ts"), source);
    try {
      execFileSync(tsc, ["--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--lib", "es2022,dom", "consumer.ts"], { cwd: project, encoding: "utf8" });
      return "";
    } catch (error) {
      return error.stdout;
    }
  };
  const good = `
import { createEdgehookClient, unwrap, type Webhook } from "@edgehook/client";
import type { EdgehookPublisher } from "@edgehook/client/rpc";
export async function f(publisher: EdgehookPublisher) {
  const edgehook = createEdgehookClient({ baseUrl: "http://127.0.0.1", token: "ehk_x" });
  const webhook: Webhook = await unwrap(edgehook.GET("/api/webhooks/{id}", { params: { path: { id: "wh_1" } } }));
  const answer = await publisher.publish({ type: "lead.created", data: {} });
  return [webhook.url, answer.deliveries];
}
`;
  assert.equal(check(good), "");
  assert.match(check(good.replace('"/api/webhooks/{id}"', '"/api/webhookz/{id}"')), /error TS/);
  assert.match(check(good.replace("answer.deliveries", "answer.deliveriez")), /error TS/);
});
