// Standard Webhooks `v1a` (Ed25519) in the package: `new Webhook("whpk_…")` verifies signatures made by Node's own
// Ed25519 (node:crypto), and what Node verifies is what the package accepts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, sign, createPublicKey } from "node:crypto";
import { Webhook, WebhookVerificationError } from "../pkg/node.mjs";

/** A key pair from node:crypto, with the public key as `whpk_` + base64 of its 32 raw bytes. */
function keyPair() {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "jwk" }).x; // base64url of the 32 bytes
  return { privateKey, publicKey, whpk: `whpk_${Buffer.from(raw, "base64url").toString("base64")}` };
}

const headersFor = (privateKey, id, body, timestamp = Math.floor(Date.now() / 1000)) => ({
  "webhook-id": id,
  "webhook-timestamp": String(timestamp),
  "webhook-signature": `v1a,${sign(null, Buffer.from(`${id}.${timestamp}.${body}`), privateKey).toString("base64")}`,
});

test("a v1a signature made by node:crypto verifies with the whpk_ key; any change is refused", () => {
  const { privateKey, whpk } = keyPair();
  const body = '{"type":"lead.created","data":{"amount":1.50}}';
  const headers = headersFor(privateKey, "msg_ed", body);
  const wh = new Webhook(whpk);
  assert.deepEqual(wh.verify(body, headers), JSON.parse(body));
  assert.deepEqual(wh.verify(Buffer.from(body), headers), JSON.parse(body));
  for (const [payload, h] of [
    ['{"type":"lead.created","data":{"amount":1.5}}', headers],
    [body, { ...headers, "webhook-id": "msg_other" }],
    [body, { ...headers, "webhook-signature": headers["webhook-signature"].replace("v1a,", "v1,") }],
    [body, headersFor(keyPair().privateKey, "msg_ed", body)],
  ]) {
    assert.throws(() => wh.verify(payload, h), (e) => e instanceof WebhookVerificationError && e.code === "no_matching_signature");
  }
  const old = headersFor(privateKey, "msg_ed", body, Math.floor(Date.now() / 1000) - 3600);
  assert.throws(() => wh.verify(body, old), (e) => e.code === "timestamp_too_old");
});

test("during a rotation either v1a entry may be the valid one", () => {
  const current = keyPair();
  const previous = keyPair();
  const body = "{}";
  const ts = Math.floor(Date.now() / 1000);
  const entry = (k) => headersFor(k.privateKey, "msg_rot", body, ts)["webhook-signature"];
  const headers = { "webhook-id": "msg_rot", "webhook-timestamp": String(ts), "webhook-signature": `${entry(previous)} ${entry(current)}` };
  assert.deepEqual(new Webhook(current.whpk).verify(body, headers), {});
  assert.deepEqual(new Webhook(previous.whpk).verify(body, headers), {});
});

test("a public key cannot sign, and malformed keys are refused", () => {
  const { whpk, publicKey } = keyPair();
  assert.throws(() => new Webhook(whpk).sign("m", new Date(), "{}"), /public key/);
  for (const bad of ["whpk_", "whpk_not-base64!", `whpk_${Buffer.alloc(31).toString("base64")}`]) {
    assert.throws(() => new Webhook(bad), bad);
  }
  // The whpk_ text round-trips to the same key node:crypto holds.
  const raw = Buffer.from(whpk.slice(5), "base64");
  const again = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
  assert.ok(again.equals(publicKey));
});
