// Node's OpenSSL HMAC-SHA256 (SHA instructions where the CPU has them) for large bodies; see configureNativeHmac.
import { createHmac, createSecretKey } from "node:crypto";
import { configureNativeHmac } from "./webhook.mjs";

// Below this size the wasm hash, with its precomputed pad states and no per-call object, is faster.
const MIN_BYTES = 1024;

configureNativeHmac({
  minBytes: MIN_BYTES,
  hmac(keyBytes) {
    const key = createSecretKey(Buffer.from(keyBytes));
    return (prefix, payload) => createHmac("sha256", key).update(prefix).update(payload).digest();
  },
});
