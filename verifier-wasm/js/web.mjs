// Browser entry, a plain ES module: fetches and compiles the wasm beside this file, then exports the API.
import init from "./edgehook_verifier.js";

await init({ module_or_path: new URL("./edgehook_verifier_bg.wasm", import.meta.url) });

export * from "./webhook.mjs";
