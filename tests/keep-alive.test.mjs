// A client that reuses its connection (every HTTP client library does) keeps it after any answer: a request whose
// large body is refused without being needed (unknown route, wrong method, no credentials, bad JSON, too large) is
// answered and the next request on the same connection is answered too, not met with a reset socket.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startWorker, token } from "./harness.mjs";

let worker;
// One connection, kept alive: every request below goes over the same socket unless the server closed it.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
before(async () => {
  worker = await startWorker();
});
after(async () => {
  agent.destroy();
  await worker?.stop();
});

/** One request over the shared connection: its status and whether it went over a socket used before. */
function send(method, path, { body, headers = {} } = {}) {
  const url = new URL(path, worker.url);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: body ? { "content-length": Buffer.byteLength(body), ...headers } : headers }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode, reused: req.reusedSocket }));
    });
    req.setTimeout(30000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

const auth = { authorization: `Bearer ${token({ org: "org_keep_alive" })}`, "content-type": "application/json" };
const big = (bytes) => JSON.stringify({ type: "lead.created", data: { pad: "x".repeat(bytes) } });

const cases = [
  ["an unknown route", "POST", "/api/nowhere", { body: big(300_000), headers: auth }, 404],
  ["a method the route does not take", "PUT", "/api/events", { body: big(300_000), headers: auth }, 405],
  ["no credentials", "POST", "/api/events", { body: big(300_000), headers: { "content-type": "application/json" } }, 401],
  ["a body that is not JSON", "POST", "/api/events/batch", { body: "{" + "x".repeat(300_000), headers: auth }, 400],
  ["a body past the limit", "POST", "/api/events", { body: big(1_100_000), headers: auth }, 413],
];

for (const [what, method, path, options, status] of cases) {
  test(`after ${what} with a large body, the same connection answers the next request`, async () => {
    assert.equal((await send("GET", "/health")).status, 200);
    const refused = await send(method, path, options);
    assert.equal(refused.status, status);
    const next = await send("GET", "/health");
    assert.equal(next.status, 200);
    assert.equal(next.reused, true, "the next request went over the same connection");
  });
}
