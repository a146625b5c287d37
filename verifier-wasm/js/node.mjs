// Node ESM entry: compiles the wasm synchronously from the file beside this one.
import { readFileSync } from "node:fs";
import { initSync } from "./edgehook_verifier.js";

initSync({ module: readFileSync(new URL("./edgehook_verifier_bg.wasm", import.meta.url)) });

import "./node-hmac.mjs";
export * from "./webhook.mjs";
