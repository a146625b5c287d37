// The runtime's floor for edgehook's pipeline, measured by `make bench-compare` in the same run: a plain JavaScript
// Worker on the same embedded runtime doing the least each step can do with the same bindings. POST / is an ingest
// (one D1 batch inserting an event and its deliveries, one queue send of their ids); the queue consumer claims a
// batch (one D1 statement), sends each delivery to the receiver, six at a time (production's limit of simultaneous
// outbound connections per invocation, which edgehook keeps too), and records the results (one D1 statement). No
// signing, no validation, no idempotency: what is left is the runtime's own cost per request, binding call and send.
export default {
  async fetch(req, env) {
    if (req.method !== "POST") return new Response("floor");
    const event = await req.json();
    const hooks = JSON.parse(env.RECEIVERS);
    const ids = hooks.map((_, i) => `${event.id}-${i}`);
    const body = JSON.stringify(event);
    await env.DB.batch([
      env.DB.prepare("INSERT INTO events (id, body) VALUES (?1, ?2)").bind(event.id, body),
      ...ids.map((id, i) => env.DB.prepare("INSERT INTO deliveries (id, url, body) VALUES (?1, ?2, ?3)").bind(id, hooks[i], body)),
    ]);
    await env.DELIVERIES.sendBatch(ids.map((id) => ({ body: id })));
    return Response.json({ id: event.id, deliveries: ids.length }, { status: 202 });
  },
  async queue(batch, env) {
    const ids = batch.messages.map((m) => m.body);
    const marks = ids.map((_, i) => `?${i + 1}`).join(",");
    const { results } = await env.DB.prepare(`UPDATE deliveries SET attempts = attempts + 1 WHERE id IN (${marks}) RETURNING id, url, body`).bind(...ids).all();
    let next = 0;
    const send = async () => {
      while (next < results.length) {
        const d = results[next++];
        await fetch(d.url, { method: "POST", body: d.body, headers: { "content-type": "application/json" } }).then((r) => r.body?.cancel(), () => {});
      }
    };
    await Promise.all(Array.from({ length: 6 }, send));
    await env.DB.prepare(`UPDATE deliveries SET status = 'done' WHERE id IN (${marks})`).bind(...ids).run();
    batch.ackAll();
  },
};
