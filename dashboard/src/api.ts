// The portal's API calls, through @edgehook/client (typed from the OpenAPI document): every request carries the
// session's bearer token; every failure becomes an ApiError with the server's code, message and field. A 401 ends the
// session (the app shows the signed-out screen).
import { signal } from "@preact/signals";
import { createEdgehookClient, EdgehookError } from "../../client/src/index.js";

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

/** One call through the client: its data, or an ApiError; a 401 ends the session. */
async function call<T>(send: () => Promise<{ data?: unknown; error?: unknown; response: Response }>): Promise<T> {
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    signOut("no-token");
    throw new EdgehookError(401, "unauthorized", "You are signed out.");
  }
  let answer: { data?: unknown; error?: unknown; response: Response };
  try {
    answer = await send();
  } catch {
    throw new EdgehookError(0, "network_error", "The server could not be reached. Check your connection and try again.");
  }
  if (answer.response.status === 401) {
    signOut("expired");
    throw new EdgehookError(401, "unauthorized", "Your session has expired.");
  }
  if (!answer.response.ok) throw EdgehookError.fromAnswer(answer.response.status, answer.error);
  return answer.data as T;
}

// ---- types of the API's answers (see /api/openapi.json) ---------------------------------------------------------

export interface Session {
  organizationId: string;
  role: "admin" | "member" | "service";
  readOnly: boolean;
  portal: boolean;
  expiresAt: string | null;
}

export interface Webhook {
  id: string;
  name: string;
  description: string | null;
  url: string;
  events: string[];
  headers: Record<string, string>;
  isActive: boolean;
  retryAttempts: number;
  retryDelaySeconds: number;
  consecutiveFailures: number;
  disabledReason: string | null;
  disabledAt: string | null;
  signature: "hmac-sha256" | "ed25519";
  publicKey: string | null;
  ordering: "none" | "fifo";
  /** At most this many attempts start in any one second; null: no limit. */
  rateLimitPerSecond: number | null;
  /** The endpoint's circuit breaker: open means nothing is sent until the probe at nextProbeAt. */
  circuit: { state: "closed" | "open" | "half_open"; openedAt: string | null; nextProbeAt: string | null };
  createdAt: string;
  updatedAt: string;
  /** Only in the answer to a PATCH that re-activated the webhook. */
  missedEvents?: { count: number; more: boolean; since: string };
  activity?: {
    last24h: { total: number; succeeded: number; failed: number; failureRate: number | null };
    lastDeliveryAt: string | null;
  };
}

export interface WebhookInput {
  name: string;
  description: string | null;
  url: string;
  events: string[];
  headers: Record<string, string>;
  retryAttempts: number;
  retryDelaySeconds: number;
  isActive: boolean;
  ordering: "none" | "fifo";
  rateLimitPerSecond: number | null;
  signature?: "hmac-sha256" | "ed25519";
}

export interface Stats {
  webhooks: { total: number; active: number; disabled: number };
  deliveries: {
    last24h: { total: number; succeeded: number; failed: number; pending: number };
    successRate: number;
    avgResponseMs: number;
  };
}

export interface WebhookStats {
  total: number;
  succeeded: number;
  failed: number;
  pending: number;
  failureRate: number | null;
  avgResponseMs: number | null;
  hourly: { hour: string; succeeded: number; failed: number; pending: number }[];
}

export interface Catalogue {
  groups: { resource: string; events: { type: string; description: string }[] }[];
  types: string[];
}

export type DeliveryStatus = "pending" | "succeeded" | "failed";

export interface Delivery {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  test: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface Attempt {
  id: string;
  attempt: number;
  statusCode: number | null;
  durationMs: number;
  responseBody: string | null;
  error: string | null;
  requestHeaders: [string, string][] | null;
  createdAt: string;
}

export interface DeliveryDetail extends Omit<Delivery, "attempts"> {
  /** The request body exactly as sent. */
  body: string;
  payload: unknown;
  attempts: Attempt[];
}

export interface Page<T> {
  data: T[];
  page: number;
  limit: number;
  total: number;
}

export interface AttemptResult {
  success: boolean;
  statusCode: number | null;
  durationMs: number;
  responseBody: string | null;
  error: string | null;
  deliveryId: string;
  status?: DeliveryStatus;
}

export interface EventSummary {
  id: string;
  type: string;
  createdAt: string;
  deliveries: number;
  succeeded: number;
  failed: number;
  pending: number;
}

export interface EventDetail {
  id: string;
  type: string;
  createdAt: string;
  dataText: string;
  changesText: string | null;
  deliveries: {
    id: string;
    webhookId: string;
    webhookName: string | null;
    status: DeliveryStatus;
    attempts: number;
    lastStatusCode: number | null;
    createdAt: string;
  }[];
}

export interface Scheduled {
  recovered?: number;
  replayed?: number;
  more: boolean;
  since: string;
  until: string;
}

const path = (id: string) => ({ params: { path: { id } } });
const deliveryPath = (id: string, deliveryId: string) => ({ params: { path: { id, deliveryId } } });

export const api = {
  session: () => call<Session>(() => client.GET("/api/portal/sessions/current")),
  catalogue: () => call<Catalogue>(() => client.GET("/api/webhooks/events")),
  stats: () => call<Stats>(() => client.GET("/api/webhooks/stats")),
  webhooks: () => call<{ data: Webhook[]; total: number }>(() => client.GET("/api/webhooks")),
  webhook: (webhookId: string) => call<Webhook>(() => client.GET("/api/webhooks/{id}", path(webhookId))),
  webhookStats: (webhookId: string) => call<WebhookStats>(() => client.GET("/api/webhooks/{id}/stats", path(webhookId))),
  create: (input: WebhookInput) => call<Webhook & { secret: string }>(() => client.POST("/api/webhooks", { body: input })),
  update: (webhookId: string, input: Partial<WebhookInput>) =>
    call<Webhook>(() => client.PATCH("/api/webhooks/{id}", { ...path(webhookId), body: input })),
  remove: (webhookId: string) => call<void>(() => client.DELETE("/api/webhooks/{id}", path(webhookId))),
  secret: (webhookId: string) => call<{ secret: string }>(() => client.GET("/api/webhooks/{id}/secret", path(webhookId))),
  regenerateSecret: (webhookId: string) =>
    call<{ secret?: string; publicKey?: string; previousSecretExpiresAt: string }>(() =>
      client.POST("/api/webhooks/{id}/regenerate-secret", path(webhookId)),
    ),
  test: (webhookId: string, eventType: string) =>
    call<AttemptResult>(() => client.POST("/api/webhooks/{id}/test", { ...path(webhookId), body: { eventType } })),
  deliveries: (webhookId: string, query: { status?: DeliveryStatus; event?: string; page: number; limit: number }) =>
    call<Page<Delivery>>(() =>
      client.GET("/api/webhooks/{id}/deliveries", {
        params: {
          path: { id: webhookId },
          query: { page: query.page, limit: query.limit, status: query.status || undefined, event: query.event || undefined },
        },
      }),
    ),
  delivery: (webhookId: string, deliveryId: string) =>
    call<DeliveryDetail>(() => client.GET("/api/webhooks/{id}/deliveries/{deliveryId}", deliveryPath(webhookId, deliveryId))),
  events: (query: { type?: string; page: number; limit: number }) =>
    call<Page<EventSummary>>(() =>
      client.GET("/api/events", { params: { query: { page: query.page, limit: query.limit, type: query.type || undefined } } }),
    ),
  event: (eventId: string) => call<EventDetail>(() => client.GET("/api/events/{id}", path(eventId))),
  recover: (webhookId: string, since: string, until?: string) =>
    call<Scheduled>(() => client.POST("/api/webhooks/{id}/recover", { ...path(webhookId), body: until ? { since, until } : { since } })),
  replayMissing: (webhookId: string, since: string) =>
    call<Scheduled>(() => client.POST("/api/webhooks/{id}/replay-missing", { ...path(webhookId), body: { since } })),
  retry: (webhookId: string, deliveryId: string) =>
    call<AttemptResult>(() => client.POST("/api/webhooks/{id}/deliveries/{deliveryId}/retry", deliveryPath(webhookId, deliveryId))),
};
