// Source of the Node CommonJS entry (index.cjs): esbuild bundles this with the glue into one CommonJS file, where
// __dirname is defined.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { initSync } from "./edgehook_verifier.js";

initSync({ module: readFileSync(join(__dirname, "edgehook_verifier_bg.wasm")) });

import "./node-hmac.mjs";
export * from "./webhook.mjs";
