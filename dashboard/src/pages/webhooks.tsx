// Webhooks: the organization's stats and its webhooks, with Add Webhook.
import { api, type Webhook, type Stats } from "../api";
import { session } from "../app";
import { href, navigate } from "../router";
import { Badge, Button, Empty, ErrorNotice, Link, Loading, useLoad } from "../components/ui";
import { duration, fullTime, percent, relativeTime } from "../format";

export function WebhooksPage() {
  const webhooks = useLoad(() => api.webhooks(), []);
  const stats = useLoad(() => api.stats(), []);
  const canWrite = !session.value?.readOnly;
  const list = webhooks.data?.data;
  return (
    <>
      <div class="page-header">
        <div>
          <h1>Webhooks</h1>
          <p class="subtitle">Send real-time events to your servers as they happen.</p>
        </div>
        {canWrite && list && list.length > 0 && (
          <Button variant="primary" onClick={() => navigate(href("webhooks", "new"))}>
            Add Webhook
          </Button>
        )}
      </div>
      <StatsBar stats={stats.data} />
      <ErrorNotice error={stats.error} title="Could not load the statistics" />
      <ErrorNotice error={webhooks.error} title="Could not load your webhooks" />
      {webhooks.loading && !list ? (
        <Loading label="Loading webhooks…" />
      ) : list && list.length === 0 ? (
        <Empty title="No webhooks yet">
          <p>
            Add a webhook to receive events such as <code>lead.created</code> at your server's URL. Each request is
            signed, so your server can check it came from us.
          </p>
          {canWrite ? (
            <Button variant="primary" onClick={() => navigate(href("webhooks", "new"))}>
              Add Webhook
            </Button>
          ) : (
            <p class="muted">Ask an administrator of your account to add one.</p>
          )}
        </Empty>
      ) : (
        list && <WebhookTable webhooks={list} />
      )}
    </>
  );
}

function StatsBar({ stats }: { stats: Stats | undefined }) {
  const d = stats?.deliveries;
  const finished = d ? d.last24h.succeeded + d.last24h.failed : 0;
  const items: [string, string, string?][] = stats
    ? [
        ["Webhooks", String(stats.webhooks.total), `${stats.webhooks.active} active · ${stats.webhooks.disabled} disabled`],
        ["Deliveries (24 h)", String(d!.last24h.total), `${d!.last24h.failed} failed · ${d!.last24h.pending} pending`],
        ["Success rate", finished ? percent(d!.successRate) : "—", finished ? `of ${finished} finished` : "no deliveries yet"],
        ["Avg. response time", finished ? duration(d!.avgResponseMs) : "—", "last 24 h"],
      ]
    : [];
  return (
    <section class="stats" aria-label="Statistics">
      {stats
        ? items.map(([label, value, detail]) => (
            <div class="stat" key={label}>
              <p class="stat-label">{label}</p>
              <p class="stat-value">{value}</p>
              {detail && <p class="stat-detail">{detail}</p>}
            </div>
          ))
        : [0, 1, 2, 3].map((i) => <div class="stat stat-placeholder" key={i} aria-hidden="true" />)}
    </section>
  );
}

export function WebhookState({ webhook }: { webhook: Webhook }) {
  if (webhook.isActive && webhook.circuit.state !== "closed") {
    return (
      <Badge tone="warning" title="The endpoint keeps failing: deliveries wait, keeping their retries, until a probe succeeds.">
        {webhook.circuit.state === "open" ? "Circuit open" : "Probing"}
      </Badge>
    );
  }
  return webhook.isActive ? (
    <Badge tone="success">Active</Badge>
  ) : (
    <Badge tone="danger" title={webhook.disabledReason ?? undefined}>
      Disabled
    </Badge>
  );
}

export function EventChips({ events, max = 3 }: { events: string[]; max?: number }) {
  const shown = events.slice(0, max);
  return (
    <span class="chips">
      {shown.map((e) => (
        <code class="chip" key={e}>
          {e === "*" ? "All events" : e}
        </code>
      ))}
      {events.length > max && <span class="chip chip-more">+{events.length - max} more</span>}
    </span>
  );
}

function WebhookTable({ webhooks }: { webhooks: Webhook[] }) {
  return (
    <div class="card card-flush">
      <table class="table table-responsive">
        <caption class="visually-hidden">Your webhooks</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Events</th>
            <th scope="col">Status</th>
            <th scope="col">Failure rate (24 h)</th>
            <th scope="col">Last delivery</th>
          </tr>
        </thead>
        <tbody>
          {webhooks.map((w) => {
            const a = w.activity;
            return (
              <tr key={w.id}>
                <td data-label="Name">
                  <Link href={href("webhooks", w.id)} class="row-title">
                    {w.name}
                  </Link>
                  <span class="url">{destinationText(w)}</span>
                </td>
                <td data-label="Events">
                  <EventChips events={w.events} />
                </td>
                <td data-label="Status">
                  <WebhookState webhook={w} />
                  {!w.isActive && w.disabledReason && <span class="reason">{w.disabledReason}</span>}
                </td>
                <td data-label="Failure rate (24 h)">
                  <span class={a && (a.last24h.failureRate ?? 0) > 0.2 ? "text-danger" : undefined}>
                    {percent(a?.last24h.failureRate)}
                  </span>
                  {a && a.last24h.total > 0 && <span class="muted small"> of {a.last24h.total}</span>}
                </td>
                <td data-label="Last delivery">
                  <time dateTime={a?.lastDeliveryAt ?? undefined} title={fullTime(a?.lastDeliveryAt)}>
                    {relativeTime(a?.lastDeliveryAt)}
                  </time>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** Where a webhook's events go, in one line. */
export function destinationText(w: Webhook): string {
  switch (w.destination.type) {
    case "poll":
      return "Polling endpoint: your system fetches its events";
    case "aws_sqs":
      return `Amazon SQS: ${w.destination.queueUrl ?? ""}`;
    case "aws_sns":
      return `Amazon SNS: ${w.destination.topicArn ?? ""}`;
    case "aws_eventbridge":
      return `Amazon EventBridge: ${w.destination.eventBusName ?? ""} (source ${w.destination.source ?? ""})`;
    case "gcp_pubsub":
      return `Google Cloud Pub/Sub: ${w.destination.topic ?? ""}`;
    case "azure_service_bus":
      return `Azure Service Bus: ${w.destination.namespace ?? ""}/${w.destination.entity ?? ""}`;
    case "s3":
      return `S3: ${w.destination.bucket ?? ""}/${w.destination.prefix ?? ""}`;
    default:
      return w.url ?? "";
  }
}
