// The runtime's floor for edgehook's single-event path on an organization's object, measured by `make bench-compare`
// in the same run: a plain JavaScript Worker doing the least each step can. POST / is an ingest: one RPC to a
// SQLite-backed Durable Object stores the event and its deliveries (one transaction), the request is answered, and
// its invocation then sends the deliveries, six at a time (production's limit of simultaneous outbound connections),
// and records the results in one more RPC. No signing, no validation, no idempotency, no flow control: what is left
// is the runtime's own cost per request, object call and send.
import { DurableObject } from "cloudflare:workers";

export class Store extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, body TEXT)");
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, url TEXT, body TEXT, status TEXT)");
  }
  store(event, deliveries) {
    this.ctx.storage.sql.exec("INSERT INTO events (id, body) VALUES (?, ?)", event.id, event.body);
    for (const d of deliveries) this.ctx.storage.sql.exec("INSERT INTO deliveries (id, url, body, status) VALUES (?, ?, ?, 'pending')", d.id, d.url, event.body);
  }
  record(ids) {
    for (const id of ids) this.ctx.storage.sql.exec("UPDATE deliveries SET status = 'done' WHERE id = ?", id);
  }
}

export default {
  async fetch(req, env, ctx) {
    if (req.method !== "POST") return new Response("floor");
    const body = await req.text();
    const event = JSON.parse(body);
    const hooks = JSON.parse(env.RECEIVERS);
    const deliveries = hooks.map((url, i) => ({ id: `${event.id}-${i}`, url }));
    const store = env.STORE.get(env.STORE.idFromName("org_floor"));
    await store.store({ id: event.id, body }, deliveries);
    ctx.waitUntil(
      (async () => {
        let next = 0;
        const send = async () => {
          while (next < deliveries.length) {
            const d = deliveries[next++];
            await fetch(d.url, { method: "POST", body, headers: { "content-type": "application/json" } }).then((r) => r.arrayBuffer(), () => {});
          }
        };
        await Promise.all(Array.from({ length: 6 }, send));
        await store.record(deliveries.map((d) => d.id));
      })(),
    );
    return Response.json({ id: event.id, deliveries: deliveries.length }, { status: 202 });
  },
};
