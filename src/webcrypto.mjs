// WebCrypto for Rust (`platform::rs256`): RSASSA-PKCS1-v1_5 with SHA-256 over a PKCS #8 private key in PEM, as a
// Google service account's JWT needs. The platform signs; no RSA code of our own.
const keys = new Map();

async function importKey(pem) {
  let key = keys.get(pem);
  if (!key) {
    const der = Uint8Array.from(atob(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "")), (c) => c.charCodeAt(0));
    key = await crypto.subtle.importKey("pkcs8", der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]);
    if (keys.size >= 32) keys.delete(keys.keys().next().value);
    keys.set(pem, key);
  }
  return key;
}

/** The RS256 signature of `data` (bytes) with the PEM key, as bytes. */
export async function signRs256(pem, data) {
  return new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", await importKey(pem), data));
}
