// Rewrites one call in worker-build's JavaScript glue (build/index.js), run by the Makefile after each build:
// wasm-bindgen's executor of Rust futures schedules its run queue with the global `queueMicrotask` whenever the
// global has one. workerd's `queueMicrotask` wraps every callback in a new C++-backed function (to report what it
// throws), and the Worker's futures wake it several times per request: 5 % of the isolate's samples in
// `make profile` under the wrapper, 3 % more in the wrapper running. `Promise.resolve().then(f)` queues the same
// microtask through V8 alone (what wasm-bindgen itself uses where `queueMicrotask` is missing); the run queue's
// function catches nothing either way, and what it could throw is a Rust panic, which aborts the instance anyway.
// Measured alternating (bench/delivery.mjs, single-event ingests, 12 pairs): 4.5 % less CPU per delivery, less in 7 of
// the 12 pairs (this machine's noise is as large; counting the calls put it nearer 1 %).
//
// The build fails if the glue no longer has the call as written, so a wasm-bindgen upgrade cannot drop this
// silently: look at the new glue, then change the pattern or remove this step.
import { readFileSync, writeFileSync } from "node:fs";

const path = process.argv[2] ?? "build/index.js";
const glue = readFileSync(path, "utf8");
const call = /(__wbg_queueMicrotask_[0-9a-f]+:function\((\w+)\)\{)queueMicrotask\(\2\)\}/g;
const found = glue.match(call)?.length ?? 0;
if (found !== 1) {
  console.error(`${path}: expected wasm-bindgen's one queueMicrotask(f) import, found ${found}; see scripts/microtasks.mjs`);
  process.exit(1);
}
writeFileSync(path, glue.replace(call, "$1Promise.resolve().then($2)}"));
