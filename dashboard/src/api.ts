// The one API client: every request carries the session's bearer token; every failure becomes an ApiError with the
// server's code, message and field. A 401 ends the session (the app shows the signed-out screen).
import { signal } from "@preact/signals";

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

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    signOut("no-token");
    throw new ApiError(401, "unauthorized", "You are signed out.");
  }
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "network_error", "The server could not be reached. Check your connection and try again.");
  }
  if (response.status === 401) {
    signOut("expired");
    throw new ApiError(401, "unauthorized", "Your session has expired.");
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: any = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: reported below with the status.
  }
  if (!response.ok) {
    const e = parsed?.error;
    throw new ApiError(
      response.status,
      e?.code ?? "http_error",
      e?.message ?? `The server answered ${response.status}.`,
      e?.field ?? undefined,
    );
  }
  return parsed as T;
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

const id = (s: string) => encodeURIComponent(s);

export const api = {
  session: () => request<Session>("GET", "/api/portal/sessions/current"),
  catalogue: () => request<Catalogue>("GET", "/api/webhooks/events"),
  stats: () => request<Stats>("GET", "/api/webhooks/stats"),
  webhooks: () => request<{ data: Webhook[]; total: number }>("GET", "/api/webhooks"),
  webhook: (webhookId: string) => request<Webhook>("GET", `/api/webhooks/${id(webhookId)}`),
  webhookStats: (webhookId: string) => request<WebhookStats>("GET", `/api/webhooks/${id(webhookId)}/stats`),
  create: (input: WebhookInput) => request<Webhook & { secret: string }>("POST", "/api/webhooks", input),
  update: (webhookId: string, input: Partial<WebhookInput>) =>
    request<Webhook>("PATCH", `/api/webhooks/${id(webhookId)}`, input),
  remove: (webhookId: string) => request<void>("DELETE", `/api/webhooks/${id(webhookId)}`),
  secret: (webhookId: string) => request<{ secret: string }>("GET", `/api/webhooks/${id(webhookId)}/secret`),
  regenerateSecret: (webhookId: string) =>
    request<{ secret?: string; publicKey?: string; previousSecretExpiresAt: string }>(
      "POST",
      `/api/webhooks/${id(webhookId)}/regenerate-secret`,
    ),
  test: (webhookId: string, eventType: string) =>
    request<AttemptResult>("POST", `/api/webhooks/${id(webhookId)}/test`, { eventType }),
  deliveries: (webhookId: string, query: { status?: string; event?: string; page: number; limit: number }) => {
    const params = new URLSearchParams({ page: String(query.page), limit: String(query.limit) });
    if (query.status) params.set("status", query.status);
    if (query.event) params.set("event", query.event);
    return request<Page<Delivery>>("GET", `/api/webhooks/${id(webhookId)}/deliveries?${params}`);
  },
  delivery: (webhookId: string, deliveryId: string) =>
    request<DeliveryDetail>("GET", `/api/webhooks/${id(webhookId)}/deliveries/${id(deliveryId)}`),
  events: (query: { type?: string; page: number; limit: number }) => {
    const params = new URLSearchParams({ page: String(query.page), limit: String(query.limit) });
    if (query.type) params.set("type", query.type);
    return request<Page<EventSummary>>("GET", `/api/events?${params}`);
  },
  event: (eventId: string) => request<EventDetail>("GET", `/api/events/${id(eventId)}`),
  recover: (webhookId: string, since: string, until?: string) =>
    request<Scheduled>("POST", `/api/webhooks/${id(webhookId)}/recover`, until ? { since, until } : { since }),
  replayMissing: (webhookId: string, since: string) =>
    request<Scheduled>("POST", `/api/webhooks/${id(webhookId)}/replay-missing`, { since }),
  retry: (webhookId: string, deliveryId: string) =>
    request<AttemptResult>("POST", `/api/webhooks/${id(webhookId)}/deliveries/${id(deliveryId)}/retry`),
};
