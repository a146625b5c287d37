// The isolate's account of what its sends after answers hold (src/delivery/held.rs): an ingest sends its own
// deliveries only while the account has room; past it they go through the deliveries queue. Either way every
// delivery arrives once, byte for byte. Large events (about 250 KiB, escapes and non-ASCII text) also take the path
// where the ingest's statements share one copy of the payload (store::sql::wire).
import { test } from "node:test";
import assert from "node:assert/strict";
import { workerAndReceiver, token, eventually } from "./harness.mjs";

// Room for one large event's sends at a time (six bytes per payload byte and 16 KiB, src/delivery/held.rs).
const VARS = { EXPOSE_USAGE: "true", SENDS_AFTER_RESPONSE_BYTES: String(2 * 1024 * 1024), HOUSEKEEPING_SECONDS: "2" };
const running = workerAndReceiver(VARS);

const auth = { authorization: `Bearer ${token({ org: "org_held" })}`, "content-type": "application/json" };
const post = (path, body) => running.worker.api(path, { method: "POST", headers: auth, body });
const usage = async () => (await running.worker.api("/__usage")).json();
const arrivals = (path) => running.receiver.requests.filter((r) => r.url === path);

/** An event's JSON text of about 250 KiB, written by hand so that its bytes (spacing, escapes) are the caller's. */
function large(id) {
  const text = `"Ada \\"Countess\\" Lovelace — ünïcödé ✓ \\u00e9\\n"`;
  const notes = Array.from({ length: 4200 }, () => text).join(" ,  ");
  return `{"id": "${id}", "type": "lead.created", "data": {"stage":  "won", "notes": [${notes}]}}`;
}
const dataOf = (event) => event.slice(event.indexOf(`"data": `) + 8, -1);

test("large events arrive byte for byte: sent by their ingests while the isolate has room, through the queue past it", async () => {
  const hooks = [];
  for (const [i, filter] of [[0, null], [1, { data: { stage: "won" } }]]) {
    const res = await post("/api/webhooks", JSON.stringify({ name: `held ${i}`, url: `${running.receiver.url}/held/${i}`, events: ["lead.created"], ...(filter ? { filter } : {}) }));
    assert.equal(res.status, 201, await res.clone().text());
    hooks.push(`/held/${i}`);
  }
  // A new webhook's first delivery goes through its lane until its endpoint has answered quickly once.
  assert.equal((await post("/api/events", JSON.stringify({ id: "warm-up", type: "lead.created", data: { stage: "won" } }))).status, 202);
  await eventually(() => hooks.every((h) => arrivals(h).length === 1), { what: "the warm-up deliveries" });

  // One at a time: each ingest sends its own deliveries, no queue message.
  const first = large("evt-large-1");
  const bytes = Buffer.byteLength(first);
  assert.ok(bytes > 240 * 1024 && bytes < 256 * 1024, `${bytes} bytes`);
  const quiet = await usage();
  assert.equal((await post("/api/events", first)).status, 202);
  await eventually(() => hooks.every((h) => arrivals(h).length === 2), { what: "the first large event's deliveries" });
  for (const h of hooks) assert.ok(arrivals(h)[1].body.toString().includes(dataOf(first)), `${h} got the payload as sent`);
  await eventually(async () => (await usage()).fetches - quiet.fetches === 2, { what: "the sends' record" });
  assert.equal((await usage()).queueMessagesSent, quiet.queueMessagesSent, "no queue message while the account has room");

  // Receivers that take a second: four at once do not fit the account, and the ones past it go through the queue.
  running.receiver.respond(() => ({ status: 200, delayMs: 1000 }));
  const burst = await usage();
  const events = Array.from({ length: 4 }, (_, n) => large(`evt-large-burst-${n}`));
  const answers = await Promise.all(events.map((e) => post("/api/events", e)));
  assert.deepEqual(answers.map((r) => r.status), [202, 202, 202, 202]);
  await eventually(() => hooks.every((h) => arrivals(h).length === 6), { timeoutMs: 60000, what: "every burst delivery" });
  running.receiver.respond(() => ({ status: 200 }));
  assert.ok((await usage()).queueMessagesSent > burst.queueMessagesSent, "the events past the account went through the queue");
  for (const h of hooks) {
    const got = arrivals(h).slice(2);
    assert.deepEqual(got.map((r) => JSON.parse(r.body.toString()).id).sort(), events.map((_, n) => `evt-large-burst-${n}`), `${h}: each event once`);
    for (const r of got) assert.ok(r.body.toString().includes(dataOf(events[0])), `${h} got the payload as sent`);
  }
});
