// Cloudflare Workers entry: the platform forbids compiling wasm from bytes at run time, so the module is imported.
import wasm from "./edgehook_verifier_bg.wasm";
import { initSync } from "./edgehook_verifier.js";

initSync({ module: wasm });

export * from "./webhook.mjs";
