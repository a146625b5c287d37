// GET /api/egress-ips: the address ranges deliveries leave from, for receivers behind a firewall. By default
// Cloudflare's published list kept in the repository; a deployment with its own egress addresses sets
// EGRESS_IP_RANGES.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, token } from "./harness.mjs";
import { loadSpec } from "./openapi.mjs";

let standard;
let dedicated;
let spec;

before(async () => {
  [standard, dedicated] = await Promise.all([
    startWorker(),
    startWorker({ vars: { EGRESS_IP_RANGES: "203.0.113.0/24, 2001:db8::/32\n198.51.100.7/32" } }),
  ]);
  spec = await loadSpec(standard);
});
after(async () => {
  await Promise.all([standard?.stop(), dedicated?.stop()]);
});

async function egress(worker, bearer) {
  const res = await worker.api("/api/egress-ips", { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
  const body = await res.json();
  spec.check("GET", "/api/egress-ips", res.status, body);
  return { status: res.status, body };
}

test("by default the ranges are Cloudflare's published list, with its date, for every role and portal sessions", async () => {
  const { status, body } = await egress(standard, token({ org: "org_egress", role: "member" }));
  assert.equal(status, 200);
  assert.equal(body.source, "cloudflare");
  assert.match(body.listedOn, /^\d{4}-\d{2}-\d{2}$/);
  assert.equal(body.reference, "https://www.cloudflare.com/ips/");
  assert.ok(body.ipv4.includes("173.245.48.0/20") && body.ipv6.includes("2606:4700::/32"));
  assert.deepEqual(body.ranges, [...body.ipv4, ...body.ipv6]);
  assert.ok(body.ipv4.every((r) => !r.includes(":")) && body.ipv6.every((r) => r.includes(":")));

  const session = await standard.api("/api/portal/sessions", {
    method: "POST",
    headers: { authorization: `Bearer ${token({ org: "org_egress", role: "admin" })}`, "content-type": "application/json" },
    body: JSON.stringify({ readOnly: true }),
  });
  assert.equal(session.status, 201);
  const portal = await egress(standard, (await session.json()).token);
  assert.deepEqual(portal, { status, body });

  const anonymous = await egress(standard, null);
  assert.equal(anonymous.status, 401);
});

test("a deployment's own ranges (EGRESS_IP_RANGES) replace Cloudflare's", async () => {
  const { status, body } = await egress(dedicated, token({ org: "org_egress", role: "service" }));
  assert.equal(status, 200);
  assert.deepEqual(body, {
    ranges: ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"],
    ipv4: ["203.0.113.0/24", "198.51.100.7/32"],
    ipv6: ["2001:db8::/32"],
    source: "configured",
    listedOn: null,
    reference: null,
  });
});
