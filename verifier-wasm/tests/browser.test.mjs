// The package as a plain ES module in headless Chromium: a page imports web.mjs and verifies a delivery signed in
// Node, and rejects a tampered one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { join, dirname, extname, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { Webhook } from "../pkg/node.mjs";

const PKG = join(dirname(fileURLToPath(import.meta.url)), "..", "pkg");
const TYPES = { ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
const SECRET = "whsec_" + Buffer.alloc(32, 5).toString("base64");

let server;
let browser;
let base;

before(async () => {
  server = createServer(async (req, res) => {
    if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>verifier</title>");
      return;
    }
    const path = normalize(join(PKG, decodeURIComponent(req.url.replace(/^\/pkg\//, "/"))));
    if (!path.startsWith(PKG)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(path);
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

test("a page imports the ES module and verifies a delivery; a tampered one throws WebhookVerificationError", async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  const body = JSON.stringify({ id: "evt_1", type: "lead.created", data: { name: "Ada" } });
  const ts = Math.floor(Date.now() / 1000);
  const headers = { "webhook-id": "dlv_browser", "webhook-timestamp": String(ts), "webhook-signature": new Webhook(SECRET).sign("dlv_browser", new Date(ts * 1000), body) };
  const result = await page.evaluate(
    async ({ moduleUrl, secret, body, headers }) => {
      const { Webhook, WebhookVerificationError } = await import(moduleUrl);
      const wh = new Webhook(secret);
      const ok = wh.verify(new TextEncoder().encode(body), new Headers(headers));
      let tampered;
      try {
        wh.verify(body.replace("Ada", "Eve"), headers);
        tampered = "accepted";
      } catch (err) {
        tampered = err instanceof WebhookVerificationError ? err.code : `wrong error: ${err}`;
      }
      return { type: ok.type, tampered };
    },
    { moduleUrl: `${base}/pkg/web.mjs`, secret: SECRET, body, headers },
  );
  assert.deepEqual(result, { type: "lead.created", tampered: "no_matching_signature" });
  await page.close();
});
