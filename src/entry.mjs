// The Worker's main module: the Rust Worker (worker-build's output) as it is, plus `Publisher`, the Workers RPC
// entrypoint another Worker of the vendor's account reaches through a service binding:
//
//   [[services]]
//   binding = "EDGEHOOK"
//   service = "edgehook"
//   entrypoint = "Publisher"
//   props = { organization = "acme", role = "service" }
//
//   const { id, deliveries } = await env.EDGEHOOK.publish({ type: "lead.created", data: { … } });
//
// workers-rs cannot serve RPC methods with the `env` and `ctx` edgehook needs, so this thin class does: each method is
// the same request `POST /api/events` or `POST /api/events/batch` would be, handed to the Rust Worker in this same
// invocation, with the same validation, idempotency, storage and answers. The caller is the binding's `props` (set
// in the calling Worker's wrangler config, so trusted), never an argument: they travel to the Rust code in the env
// of this call (`EDGEHOOK_RPC_CALLER`), which an HTTP request's env never has, so no request can claim them.
//
// A refusal throws an Error whose message is the API's error body as JSON (`{"error":{"code","message","field"}}`):
// RPC keeps an Error's message and drops its other properties. `rpcError` from `@edgehook/client/rpc` reads it back.
import { DurableObject, WorkerEntrypoint } from "cloudflare:workers";
import RustWorker, { Organization as RustOrganization, WebhookLane } from "../build/index.js";

export { WebhookLane };

/**
 * The Rust Worker, with one thing less per request: workers-rs reads `request.cf` when it wraps every incoming
 * request (the runtime parses its JSON on that first read; 1.6 % of the isolate's samples in `make profile`), and
 * edgehook reads nothing of it. An own `cf` of `undefined` stands in front of the runtime's getter.
 */
export default class Edgehook extends RustWorker {
  fetch(request) {
    Object.defineProperty(request, "cf", { value: undefined });
    return super.fetch(request);
  }
}

/**
 * An organization's object (`src/org/mod.rs`): the Rust class as it is, plus the Workers RPC method the Worker calls
 * it by, `batch(organization, statements)`. RPC methods are served only by a class extending `DurableObject`, which
 * workers-rs's classes do not, so this one holds the Rust instance and hands each call to it.
 */
export class Organization extends DurableObject {
  #rust;

  constructor(ctx, env) {
    super(ctx, env);
    this.#rust = new RustOrganization(ctx, env);
  }

  fetch(request) {
    return this.#rust.fetch(request);
  }

  alarm() {
    return this.#rust.alarm();
  }

  /** Runs a batch of statements (JSON) in one transaction; answers their results as JSON text. */
  batch(organization, statements) {
    return this.#rust.batch(organization, statements);
  }
}

/** The origin of the requests RPC calls become; never fetched, only parsed by the Rust router. */
const RPC_ORIGIN = "https://edgehook.rpc";

export class Publisher extends WorkerEntrypoint {
  /**
   * Publishes one event: what `POST /api/events` answers (`{ id, deliveries, duplicate? }`). `event` is the object
   * (or its JSON text, kept byte for byte) that the HTTP body would be; `options.idempotencyKey` is the
   * `Idempotency-Key` header.
   */
  async publish(event, options = {}) {
    const headers = options?.idempotencyKey === undefined ? {} : { "idempotency-key": String(options.idempotencyKey) };
    return this.#call("/api/events", typeof event === "string" ? event : JSON.stringify(event ?? null), headers);
  }

  /** Publishes up to 100 events, each answered on its own: what `POST /api/events/batch` answers. */
  async publishBatch(events) {
    return this.#call("/api/events/batch", typeof events === "string" ? events : JSON.stringify({ events: events ?? null }), {});
  }

  async #call(path, body, headers) {
    const env = { ...this.env, EDGEHOOK_RPC_CALLER: JSON.stringify(this.ctx.props ?? null) };
    const request = new Request(RPC_ORIGIN + path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });
    const response = await new RustWorker(this.ctx, env).fetch(request);
    const text = await response.text();
    if (response.ok) return JSON.parse(text);
    // The API's error body, as its text: `{"error":{"code","message","field"?}}`.
    throw new Error(text);
  }
}
