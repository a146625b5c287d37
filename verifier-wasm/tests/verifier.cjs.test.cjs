// The built package, loaded through require(): CommonJS users get the same API.
const { test } = require("node:test");
const assert = require("node:assert/strict");
const { Webhook: StandardWebhook } = require("standardwebhooks");
const { Webhook, WebhookVerificationError, verifySimple } = require("../pkg/index.cjs");

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

test("CommonJS: verifies standardwebhooks signatures and rejects tampering", () => {
  const ts = Math.floor(Date.now() / 1000);
  const body = '{"type":"deal.won"}';
  const signature = new StandardWebhook(SECRET).sign("msg_c", new Date(ts * 1000), body);
  const headers = { "webhook-id": "msg_c", "webhook-timestamp": String(ts), "webhook-signature": signature };
  assert.deepEqual(new Webhook(SECRET).verify(body, headers), { type: "deal.won" });
  assert.throws(() => new Webhook(SECRET).verify(body + " ", headers), (e) => e instanceof WebhookVerificationError);
  assert.equal(typeof verifySimple, "function");
});

test("CommonJS: resolves through the package's exports map", () => {
  const pkg = require("../pkg/package.json");
  assert.equal(pkg.exports["."].node.require, "./index.cjs");
  assert.equal(pkg.exports["."].node.import, "./node.mjs");
  assert.equal(pkg.types, "./index.d.ts");
});
