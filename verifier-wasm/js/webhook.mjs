// The JavaScript API: a drop-in for the `standardwebhooks` package's `Webhook`, backed by the Rust scheme in wasm.
// The entry files (node.mjs, node.cjs, web.mjs, workerd.mjs) load the wasm their own way and re-export this module.
import { PublicKeyVerifier, Verifier, secretKeyBytes, signSimple, verifySimple as wasmVerifySimple, wasmMemory } from "./edgehook_verifier.js";

const DEFAULT_TOLERANCE_SECONDS = 300;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

// A faster HMAC-SHA256 the platform may offer (Node's OpenSSL uses the CPU's SHA instructions), used for bodies of
// at least `minBytes`; the scheme's checks (headers, window, constant-time comparison) still run in wasm.
let native = null;
// Only canonical timestamps (no leading zeros) may be hashed outside wasm: the signed content holds canonical digits.
const CANONICAL_TIMESTAMP = /^(0|[1-9][0-9]{0,14})$/;

/**
 * Called by the Node entry files: `hmac(keyBytes)` returns `(prefix, payload) => Uint8Array(32)`.
 * Not needed in browsers and Workers, where the wasm hash is used throughout.
 */
export function configureNativeHmac(options) {
  native = options && typeof options.hmac === "function" ? { hmac: options.hmac, minBytes: options.minBytes ?? 4096 } : null;
}

// Writes a short header value as UTF-8 at `at` and returns its length in bytes: a plain loop while it is ASCII
// (always, for well-formed headers), encodeInto for the rest.
function put(view, at, text) {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return i + encoder.encodeInto(text.slice(i), view.subarray(at + i)).written;
    view[at + i] = c;
  }
  return n;
}

let memory;
function wasmBytes(ptr, length) {
  memory ??= wasmMemory();
  return new Uint8Array(memory.buffer, ptr, length);
}

/** Thrown when a delivery fails verification; `code` and `header` say which check failed. */
export class WebhookVerificationError extends Error {
  constructor(message, code = "verification_failed", header = undefined) {
    super(message);
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = "WebhookVerificationError";
    this.code = code;
    if (header !== undefined) this.header = header;
  }
}

// Result codes of the wasm Verifier, in the order src/js.rs numbers them.
const FAILURES = [
  null,
  ["Missing required headers", "missing_header", "webhook-id"],
  ["Missing required headers", "missing_header", "webhook-timestamp"],
  ["Missing required headers", "missing_header", "webhook-signature"],
  ["Invalid Signature Headers", "invalid_header", "webhook-timestamp"],
  ["Message timestamp too old", "timestamp_too_old"],
  ["Message timestamp too new", "timestamp_too_new"],
  ["No matching signature found", "no_matching_signature"],
];

function fail(message, code, header) {
  throw new WebhookVerificationError(header ? `${message}: ${header}` : message, code, header);
}

function headerValue(value, name) {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    if (value.length === 1 && typeof value[0] === "string") return value[0];
    fail("Invalid Signature Headers", value.length > 1 ? "duplicate_header" : "invalid_header", name);
  }
  fail("Invalid Signature Headers", "invalid_header", name);
}

// Reads the three headers from a Headers object or from a plain record in any letter case.
function readHeaders(headers) {
  if (headers === null || typeof headers !== "object") fail("Missing required headers", "missing_header");
  if (typeof headers.get === "function" && typeof headers.has === "function") {
    return [headers.get("webhook-id") ?? "", headers.get("webhook-timestamp") ?? "", headers.get("webhook-signature") ?? ""];
  }
  // One pass over the keys, no allocation: names are compared only when their length fits, and a record holding
  // the same name in two letter cases is refused as a duplicate.
  let id, timestamp, signature;
  for (const key in headers) {
    const length = key.length;
    if (length !== 10 && length !== 17) continue;
    const lower = key.toLowerCase();
    if (lower === "webhook-id") {
      if (id !== undefined) fail("Invalid Signature Headers", "duplicate_header", lower);
      id = headers[key];
    } else if (lower === "webhook-timestamp") {
      if (timestamp !== undefined) fail("Invalid Signature Headers", "duplicate_header", lower);
      timestamp = headers[key];
    } else if (lower === "webhook-signature") {
      if (signature !== undefined) fail("Invalid Signature Headers", "duplicate_header", lower);
      signature = headers[key];
    }
  }
  return [headerValue(id, "webhook-id"), headerValue(timestamp, "webhook-timestamp"), headerValue(signature, "webhook-signature")];
}

function payloadBytes(payload) {
  if (payload instanceof Uint8Array) return payload;
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  if (ArrayBuffer.isView(payload)) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  throw new Error("Expected payload to be of type string or Buffer.");
}

/** Verifies and signs Standard Webhooks deliveries with one secret, or verifies them with one public key. */
export class Webhook {
  static prefix = "whsec_";
  static publicKeyPrefix = "whpk_";

  /**
   * @param secret `whsec_<base64>` (the decoded bytes are the key) or any other string (its UTF-8 bytes are the
   *   key); with `{ format: "raw" }`, the key itself as a string or bytes. A `whpk_<base64>` Ed25519 public key
   *   verifies Standard Webhooks `v1a` signatures (and cannot sign).
   * @param options `{ format?: "raw", toleranceInSeconds?: number }`
   */
  constructor(secret, options = undefined) {
    if (!secret) throw new Error("Secret can't be empty.");
    const tolerance = options?.toleranceInSeconds ?? DEFAULT_TOLERANCE_SECONDS;
    if (!Number.isFinite(tolerance) || tolerance < 0) throw new Error("toleranceInSeconds must be a non-negative number");
    this.tolerance = tolerance;
    if (typeof secret === "string" && options?.format !== "raw" && secret.startsWith(Webhook.publicKeyPrefix)) {
      this.verifier = new PublicKeyVerifier(secret);
      this.nativeMac = null;
      this.minNativeBytes = Infinity;
      this.publicKey = secret;
      return;
    }
    let key;
    if (options?.format === "raw") {
      key = secret instanceof Uint8Array ? secret : typeof secret === "string" ? encoder.encode(secret) : null;
    } else if (typeof secret === "string") {
      key = secretKeyBytes(secret);
    }
    if (!key) throw new Error("Expected secret to be of type string");
    this.verifier = new Verifier(key);
    this.nativeMac = native ? native.hmac(key) : null;
    this.minNativeBytes = native ? native.minBytes : Infinity;
  }

  /** Returns the parsed JSON body when the signature and timestamp check out; throws WebhookVerificationError. */
  verify(payload, headers) {
    const [id, timestamp, signature] = readHeaders(headers);
    const now = Math.floor(Date.now() / 1000);
    const isString = typeof payload === "string";
    if (!isString) payload = payloadBytes(payload);
    const native = payload.length >= this.minNativeBytes && id !== "" && CANONICAL_TIMESTAMP.test(timestamp);
    // One write into wasm memory, [id][timestamp][signature][body or MAC], and one call: the body crosses the
    // boundary exactly once and no string is converted on the way.
    const headerRoom = (id.length + timestamp.length + signature.length) * 3;
    const bodyRoom = native ? 32 : isString ? payload.length * 3 : payload.length;
    const view = wasmBytes(this.verifier.reserve(headerRoom + bodyRoom), headerRoom + bodyRoom);
    const idLen = put(view, 0, id);
    const tsLen = put(view, idLen, timestamp);
    const sigLen = put(view, idLen + tsLen, signature);
    const at = idLen + tsLen + sigLen;
    let code;
    if (native) {
      view.set(this.nativeMac(`${id}.${timestamp}.`, payload), at);
      code = this.verifier.verifyMacPacked(idLen, tsLen, sigLen, now, this.tolerance);
    } else {
      let bodyLen = payload.length;
      if (isString) bodyLen = encoder.encodeInto(payload, view.subarray(at)).written;
      else view.set(payload, at);
      code = this.verifier.verifyPacked(idLen, tsLen, sigLen, bodyLen, now, this.tolerance);
    }
    if (code !== 0) {
      const [message, errorCode, header] = FAILURES[code] ?? FAILURES[7];
      fail(message, errorCode, header);
    }
    const text = isString ? payload : decoder.decode(payload);
    try {
      return JSON.parse(text);
    } catch {
      // The signature is valid but the body is not JSON: hand back the text rather than losing it.
      return text;
    }
  }

  /** The `webhook-signature` value (`v1,<base64>`) for a message. */
  sign(msgId, timestamp, payload) {
    if (this.publicKey) throw new Error("A public key (whpk_) verifies signatures; only its secret key can sign.");
    const seconds = Math.floor((timestamp instanceof Date ? timestamp.getTime() : Number(timestamp)) / 1000);
    if (!Number.isFinite(seconds)) throw new Error("Expected timestamp to be a Date");
    const bytes = typeof payload === "string" ? encoder.encode(payload) : payloadBytes(payload);
    return this.verifier.sign(String(msgId), seconds, bytes);
  }
}

function bodyBytes(body) {
  return typeof body === "string" ? encoder.encode(body) : payloadBytes(body);
}

/** Checks the older scheme's `X-Webhook-Signature` (hex HMAC-SHA256 of the raw body, keyed by the secret's UTF-8). */
export function verifySimple(secret, body, signatureHex) {
  if (typeof secret !== "string" || secret === "" || typeof signatureHex !== "string") return false;
  return wasmVerifySimple(secret, bodyBytes(body), signatureHex);
}

/** The `X-Webhook-Signature` a sender would put on a body. */
export function simpleSignature(secret, body) {
  if (typeof secret !== "string" || secret === "") throw new Error("Secret can't be empty.");
  return signSimple(secret, bodyBytes(body));
}
