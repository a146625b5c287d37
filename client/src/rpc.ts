// The types of edgehook's Workers RPC binding, and reading its errors back. In the calling Worker's wrangler config:
//
//   [[services]]
//   binding = "EDGEHOOK"
//   service = "edgehook"
//   entrypoint = "Publisher"
//   props = { organization = "acme", role = "service" }
//
// and in its code:
//
//   import type { EdgehookPublisher } from "@edgehook/client/rpc";
//   interface Env { EDGEHOOK: Service<EdgehookPublisher> }   // or use EdgehookPublisher directly
//   const { id, deliveries } = await env.EDGEHOOK.publish({ type: "lead.created", data: { … } });
import type { components } from "./schema.js";
import { EdgehookError, isErrorBody } from "./errors.js";

export { EdgehookError } from "./errors.js";

export type EventIn = components["schemas"]["EventIn"];
export type Ingested = components["schemas"]["Ingested"];
export type BatchResult = components["schemas"]["BatchResult"];

export interface PublishOptions {
  /** What `Idempotency-Key` is to `POST /api/events`: a repeat within the retention window is a duplicate. */
  idempotencyKey?: string;
}

/** edgehook's `Publisher` entrypoint, as a service binding sees it. The organization and role are the binding's props. */
export interface EdgehookPublisher {
  /** `POST /api/events`: the event as an object, or its JSON text (kept byte for byte). */
  publish(event: EventIn | string, options?: PublishOptions): Promise<Ingested>;
  /** `POST /api/events/batch`: up to 100 events, each answered on its own. */
  publishBatch(events: EventIn[] | string): Promise<BatchResult>;
}

/**
 * The {@link EdgehookError} an RPC call threw (its message is the API's error body as JSON; RPC keeps only an
 * Error's message), or `undefined` when the error is not edgehook's refusal (the binding itself failed).
 */
export function rpcError(thrown: unknown): EdgehookError | undefined {
  if (!(thrown instanceof Error)) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(thrown.message);
  } catch {
    return undefined;
  }
  return isErrorBody(body) ? new EdgehookError(undefined, body.error.code, body.error.message, body.error.field) : undefined;
}
