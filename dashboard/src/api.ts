// The portal's API calls, through @edgehook/client (typed from the OpenAPI document): every request carries the
// session's bearer token; every failure becomes an ApiError with the server's code, message and field. A 401 ends the
// session (the app shows the signed-out screen).
import { signal } from "@preact/signals";
import { createEdgehookClient, EdgehookError, unwrap, type Answer, type Schemas } from "../../client/src/index.js";

const TOKEN_KEY = "edgehook.portal.token";

/** Why the page has no usable session: never had a link, or the link expired / was revoked. */
export type SignedOut = "no-token" | "expired";

export const signedOut = signal<SignedOut | null>(null);

/** Takes `#token=…` from the URL into sessionStorage (then drops it from the address bar) and returns the token. */
export function bootstrapToken(): string | null {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromLink = fragment.get("token");
  if (fromLink) {
    sessionStorage.setItem(TOKEN_KEY, fromLink);
    history.replaceState(history.state, "", location.pathname + location.search);
  }
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) signedOut.value = "no-token";
  return token;
}

export function signOut(reason: SignedOut) {
  sessionStorage.removeItem(TOKEN_KEY);
  signedOut.value = reason;
}

/** A refusal with the API's code, message and field: the client package's error (`status` 0: no answer). */
export { EdgehookError as ApiError } from "../../client/src/index.js";

/** The API's client (`@edgehook/client`, typed from the OpenAPI document), with the session's bearer on every call. */
const client = createEdgehookClient({ baseUrl: location.origin, token: () => sessionStorage.getItem(TOKEN_KEY) });

/** One call through the client: its data, or an ApiError (the client's `unwrap`); a 401 ends the session. */
async function call<R extends Answer>(send: () => Promise<R>) {
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    signOut("no-token");
    throw new EdgehookError(401, "unauthorized", "You are signed out.");
  }
  let answer: R;
  try {
    answer = await send();
  } catch {
    throw new EdgehookError(0, "network_error", "The server could not be reached. Check your connection and try again.");
  }
  if (answer.response.status === 401) {
    signOut("expired");
    throw new EdgehookError(401, "unauthorized", "Your session has expired.");
  }
  return unwrap(answer);
}

// ---- types of the API's answers: the generated schema's (client/src/schema.d.ts, from /api/openapi.json) ---------

export type Session = Schemas["CurrentSession"];
export type Webhook = Schemas["Webhook"];
export type WebhookInput = Schemas["WebhookCreate"];
export type Stats = Schemas["Stats"];
export type WebhookStats = Schemas["WebhookStats"];
export type Catalogue = Schemas["EventCatalogue"];
export type Delivery = Schemas["Delivery"];
export type DeliveryStatus = Delivery["status"];
export type AttemptResult = Schemas["AttemptResult"];
export type EventSummary = Schemas["EventSummary"];
export type EgressIps = Schemas["EgressIps"];
export type FilterPreviewAnswer = Schemas["FilterPreview"];
export type EventTypeInfo = Schemas["EventTypeInfo"];

const path = (id: string) => ({ params: { path: { id } } });
const deliveryPath = (id: string, deliveryId: string) => ({ params: { path: { id, deliveryId } } });

export const api = {
  session: () => call(() => client.GET("/api/portal/sessions/current")),
  catalogue: () => call(() => client.GET("/api/webhooks/events")),
  stats: () => call(() => client.GET("/api/webhooks/stats")),
  webhooks: () => call(() => client.GET("/api/webhooks")),
  webhook: (webhookId: string) => call(() => client.GET("/api/webhooks/{id}", path(webhookId))),
  webhookStats: (webhookId: string) => call(() => client.GET("/api/webhooks/{id}/stats", path(webhookId))),
  create: (input: WebhookInput) => call(() => client.POST("/api/webhooks", { body: input })),
  update: (webhookId: string, input: Partial<WebhookInput>) =>
    call(() => client.PATCH("/api/webhooks/{id}", { ...path(webhookId), body: input })),
  remove: (webhookId: string) => call(() => client.DELETE("/api/webhooks/{id}", path(webhookId))),
  secret: (webhookId: string) => call(() => client.GET("/api/webhooks/{id}/secret", path(webhookId))),
  regenerateSecret: (webhookId: string) =>
    call(() =>
      client.POST("/api/webhooks/{id}/regenerate-secret", path(webhookId)),
    ),
  test: (webhookId: string, eventType: string) =>
    call(() => client.POST("/api/webhooks/{id}/test", { ...path(webhookId), body: { eventType } })),
  deliveries: (webhookId: string, query: { status?: DeliveryStatus; event?: string; page: number; limit: number }) =>
    call(() =>
      client.GET("/api/webhooks/{id}/deliveries", {
        params: {
          path: { id: webhookId },
          query: { page: query.page, limit: query.limit, status: query.status, event: query.event || undefined },
        },
      }),
    ),
  delivery: (webhookId: string, deliveryId: string) =>
    call(() => client.GET("/api/webhooks/{id}/deliveries/{deliveryId}", deliveryPath(webhookId, deliveryId))),
  events: (query: { type?: string; page: number; limit: number }) =>
    call(() =>
      client.GET("/api/events", { params: { query: { page: query.page, limit: query.limit, type: query.type || undefined } } }),
    ),
  event: (eventId: string) => call(() => client.GET("/api/events/{id}", path(eventId))),
  recover: (webhookId: string, since: string, until?: string) =>
    call(() => client.POST("/api/webhooks/{id}/recover", { ...path(webhookId), body: until ? { since, until } : { since } })),
  replayMissing: (webhookId: string, since: string) =>
    call(() => client.POST("/api/webhooks/{id}/replay-missing", { ...path(webhookId), body: { since } })),
  egressIps: () => call(() => client.GET("/api/egress-ips")),
  eventTypes: () => call(() => client.GET("/api/event-types")),
  pollTokens: (webhookId: string) => call(() => client.GET("/api/webhooks/{id}/poll-tokens", path(webhookId))),
  createPollToken: (webhookId: string) => call(() => client.POST("/api/webhooks/{id}/poll-tokens", path(webhookId))),
  deletePollToken: (webhookId: string, tokenId: string) =>
    call(() => client.DELETE("/api/webhooks/{id}/poll-tokens/{tokenId}", { params: { path: { id: webhookId, tokenId } } })),
  previewFilter: (body: Schemas["FilterPreviewRequest"]) => call(() => client.POST("/api/webhooks/filter-preview", { body })),
  previewTransformation: (body: Schemas["TransformationPreviewRequest"]) =>
    call(() => client.POST("/api/webhooks/transformation-preview", { body })),
  transformationPresets: () => call(() => client.GET("/api/transformation-presets")),
  retry: (webhookId: string, deliveryId: string) =>
    call(() => client.POST("/api/webhooks/{id}/deliveries/{deliveryId}/retry", deliveryPath(webhookId, deliveryId))),
};

/** A delivery with its attempts, as the client reads the answer (openapi-fetch's readable view of the schema). */
export type DeliveryDetail = Awaited<ReturnType<typeof api.delivery>>;
export type Attempt = DeliveryDetail["attempts"][number];
