// The built package, loaded as Node ESM: the API, its errors, and cross-checks with the standardwebhooks package.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook, WebhookVerificationError, verifySimple, simpleSignature } from "../pkg/node.mjs";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const now = () => Math.floor(Date.now() / 1000);

function signed(secret = SECRET, body = '{"type":"lead.created","data":{"id":1}}', id = "msg_1", ts = now()) {
  const signature = new Webhook(secret).sign(id, new Date(ts * 1000), body);
  return { body, headers: { "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": signature } };
}

function rejects(fn, code, message) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof WebhookVerificationError, `expected WebhookVerificationError, got ${err}`);
    assert.ok(err instanceof Error);
    assert.equal(err.name, "WebhookVerificationError");
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

test("signs the published Standard Webhooks vector", () => {
  const wh = new Webhook(SECRET);
  const sig = wh.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", new Date(1614265330 * 1000), '{"test": 2432232314}');
  assert.equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
});

test("verify returns the parsed body for string, Buffer, Uint8Array and ArrayBuffer payloads", () => {
  const { body, headers } = signed();
  const wh = new Webhook(SECRET);
  const expected = JSON.parse(body);
  assert.deepEqual(wh.verify(body, headers), expected);
  assert.deepEqual(wh.verify(Buffer.from(body), headers), expected);
  assert.deepEqual(wh.verify(new TextEncoder().encode(body), headers), expected);
  assert.deepEqual(wh.verify(new TextEncoder().encode(body).buffer, headers), expected);
});

test("headers are found in any letter case and in a Headers object", () => {
  const { body, headers } = signed();
  const wh = new Webhook(SECRET);
  const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
  assert.deepEqual(wh.verify(body, upper), JSON.parse(body));
  assert.deepEqual(wh.verify(body, new Headers(headers)), JSON.parse(body));
});

test("our signatures verify with standardwebhooks, and its signatures verify with ours", () => {
  const ours = new Webhook(SECRET);
  const theirs = new StandardWebhook(SECRET);
  for (const body of ['{"a":1}', JSON.stringify({ text: "héllo wörld ✓", n: [1, 2, 3] }), "{}"]) {
    const ts = new Date(now() * 1000);
    const fromUs = ours.sign("msg_x", ts, body);
    const fromThem = theirs.sign("msg_x", ts, body);
    assert.equal(fromUs, fromThem);
    const headers = (sig) => ({ "webhook-id": "msg_x", "webhook-timestamp": String(now()), "webhook-signature": sig });
    assert.deepEqual(theirs.verify(body, headers(fromUs)), JSON.parse(body));
    assert.deepEqual(ours.verify(body, headers(fromThem)), JSON.parse(body));
  }
});

test("a non-ASCII message id is signed and verified as UTF-8, as standardwebhooks does", () => {
  const ts = Math.floor(Date.now() / 1000);
  const id = "msg_é✓_1";
  const signature = new StandardWebhook(SECRET).sign(id, new Date(ts * 1000), "{}");
  const headers = { "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": signature };
  assert.deepEqual(new Webhook(SECRET).verify("{}", headers), {});
  rejects(() => new Webhook(SECRET).verify("{}", { ...headers, "webhook-id": "msg_é✓_2" }), "no_matching_signature");
});

test("raw-format secrets match standardwebhooks' raw format", () => {
  const ours = new Webhook("a plain secret key", { format: "raw" });
  const theirs = new StandardWebhook("a plain secret key", { format: "raw" });
  const ts = new Date(now() * 1000);
  assert.equal(ours.sign("id", ts, "{}"), theirs.sign("id", ts, "{}"));
});

test("non-UTF-8 bytes are verified as the raw bytes that were signed", () => {
  const raw = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"a":"\xff\xfe"}
  const ts = now();
  const key = Buffer.from(SECRET.slice(6), "base64");
  const mac = createHmac("sha256", key).update(Buffer.concat([Buffer.from(`msg_b.${ts}.`), raw])).digest("base64");
  const headers = { "webhook-id": "msg_b", "webhook-timestamp": String(ts), "webhook-signature": `v1,${mac}` };
  const wh = new Webhook(SECRET);
  assert.ok(wh.verify(raw, headers));
  const flipped = Buffer.from(raw);
  flipped[6] = 0xfd;
  rejects(() => wh.verify(flipped, headers), "no_matching_signature");
});

test("rotation: any matching v1 entry is accepted", () => {
  const { body, headers } = signed();
  const other = signed("whsec_" + Buffer.alloc(32, 9).toString("base64"), body, headers["webhook-id"], Number(headers["webhook-timestamp"]));
  const both = { ...headers, "webhook-signature": `${other.headers["webhook-signature"]} ${headers["webhook-signature"]}` };
  assert.ok(new Webhook(SECRET).verify(body, both));
});

test("missing, duplicate and garbled headers give the right error", () => {
  const { body, headers } = signed();
  const wh = new Webhook(SECRET);
  for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
    const h = { ...headers };
    delete h[name];
    rejects(() => wh.verify(body, h), "missing_header", /Missing required headers/);
    rejects(() => wh.verify(body, { ...headers, [name]: "" }), "missing_header");
  }
  rejects(() => wh.verify(body, { ...headers, "Webhook-Id": "other" }), "duplicate_header");
  rejects(() => wh.verify(body, { ...headers, "webhook-id": ["a", "b"] }), "duplicate_header");
  rejects(() => wh.verify(body, { ...headers, "webhook-timestamp": 12 }), "invalid_header");
  rejects(() => wh.verify(body, null), "missing_header");
  for (const ts of ["abc", "12abc", "-1", "1.5", " 123", "1, 2", "99999999999999999999"]) {
    rejects(() => wh.verify(body, { ...headers, "webhook-timestamp": ts }), "invalid_header", /Invalid Signature Headers/);
  }
});

test("non-base64, wrong-length and unknown-version signatures do not match", () => {
  const { body, headers } = signed();
  const wh = new Webhook(SECRET);
  const good = headers["webhook-signature"];
  for (const sig of ["v1,!!!!", "v1,AAAA", `v2,${good.slice(3)}`, good.slice(3), `v1,${good.slice(3, -2)}`, "v1", ",,,", `${good}x`]) {
    rejects(() => wh.verify(body, { ...headers, "webhook-signature": sig }), "no_matching_signature", /No matching signature found/);
  }
});

test("timestamps outside the tolerance are refused; the tolerance is configurable", () => {
  const body = "{}";
  const old = signed(SECRET, body, "m", now() - 3600);
  const future = signed(SECRET, body, "m", now() + 3600);
  rejects(() => new Webhook(SECRET).verify(body, old.headers), "timestamp_too_old", /too old/);
  rejects(() => new Webhook(SECRET).verify(body, future.headers), "timestamp_too_new", /too new/);
  assert.ok(new Webhook(SECRET, { toleranceInSeconds: 7200 }).verify(body, old.headers));
});

test("empty and multi-megabyte bodies verify; tampering with them fails", () => {
  const wh = new Webhook(SECRET);
  const empty = signed(SECRET, "");
  assert.equal(wh.verify("", empty.headers), "");
  const big = JSON.stringify({ blob: "x".repeat(5 * 1024 * 1024) });
  const signedBig = signed(SECRET, big);
  assert.equal(wh.verify(big, signedBig.headers).blob.length, 5 * 1024 * 1024);
  rejects(() => wh.verify(big.replace("xx", "xy"), signedBig.headers), "no_matching_signature");
});

test("bad secrets and payload types are constructor or type errors, not crashes", () => {
  assert.throws(() => new Webhook(""), /Secret can't be empty/);
  assert.throws(() => new Webhook(undefined), /Secret can't be empty/);
  assert.throws(() => new Webhook(42), /Expected secret to be of type string/);
  assert.throws(() => new Webhook("whsec_"), /Secret can't be empty|empty/);
  const { headers } = signed();
  assert.throws(() => new Webhook(SECRET).verify(12345, headers), /Expected payload/);
});

test("verifySimple checks the hex X-Webhook-Signature against node:crypto", () => {
  const body = '{"event":"lead.created"}';
  const hex = createHmac("sha256", "plain-secret").update(body).digest("hex");
  assert.equal(simpleSignature("plain-secret", body), hex);
  assert.equal(verifySimple("plain-secret", body, hex), true);
  assert.equal(verifySimple("plain-secret", Buffer.from(body), hex.toUpperCase()), true);
  assert.equal(verifySimple("plain-secret", body + " ", hex), false);
  assert.equal(verifySimple("other", body, hex), false);
  assert.equal(verifySimple("plain-secret", body, "not hex"), false);
  assert.equal(verifySimple("", body, hex), false);
});

test("the wasm is at most 40 KiB gzipped", () => {
  const wasm = readFileSync(new URL("../pkg/edgehook_verifier_bg.wasm", import.meta.url));
  const gz = gzipSync(wasm, { level: 9 }).length;
  assert.ok(gz <= 40 * 1024, `gzipped wasm is ${gz} bytes`);
});
