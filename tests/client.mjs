// An API client for end-to-end tests: organizations with their own JWTs, calls checked against the OpenAPI document
// where it documents the answer, and webhooks pointing at a receiver path of their own.
import assert from "node:assert/strict";
import { token } from "./harness.mjs";

/** A client of `worker`; `spec` (from loadSpec) checks every documented answer; `prefix` keeps org names apart. */
export function client(worker, spec, receiver, prefix) {
  let orgs = 0;
  let paths = 0;
  const org = () => {
    const name = `org_${prefix}_${process.pid}_${++orgs}`;
    const auth = (role = "admin") => ({ authorization: `Bearer ${token({ org: name, role })}`, "content-type": "application/json" });
    return { name, auth };
  };
  const api = async (o, method, path, body, { role, template } = {}) => {
    const res = await worker.api(path, { method, headers: o.auth(role), body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const json = text ? JSON.parse(text) : undefined;
    const documented = template ?? path.split("?")[0];
    if (spec.doc.paths[documented]?.[method.toLowerCase()]?.responses[String(res.status)]) spec.check(method, documented, res.status, json);
    return { status: res.status, body: json };
  };
  const webhook = async (o, fields = {}) => {
    const path = `/${prefix}${++paths}`;
    const res = await api(o, "POST", "/api/webhooks", { name: path, url: `${receiver.url}${path}`, events: ["*"], ...fields });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return { ...res.body, path };
  };
  const arrivals = (path) => receiver.requests.filter((r) => r.url === path);
  return { org, api, webhook, arrivals };
}
