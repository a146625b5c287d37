// The delivery log of one webhook: newest first, filtered by status and event type, a page at a time.
import { useState } from "preact/hooks";
import { api, type Catalogue, type DeliveryStatus } from "../api";
import { href, navigate } from "../router";
import { Button, Card, Empty, ErrorNotice, Link, Loading, Pager, StatusBadge, useLoad, Badge } from "../components/ui";
import { fullTime, relativeTime } from "../format";

const PAGE_SIZE = 20;

export function DeliveryLog({ webhookId, catalogue, tick, onRefresh }: {
  webhookId: string;
  catalogue: Catalogue | undefined;
  tick: number;
  onRefresh: () => void;
}) {
  const [status, setStatus] = useState<DeliveryStatus | "">("");
  const [event, setEvent] = useState("");
  const [page, setPage] = useState(1);
  const log = useLoad(() => api.deliveries(webhookId, { status: status || undefined, event, page, limit: PAGE_SIZE }), [webhookId, status, event, page, tick]);
  const filtered = status !== "" || event !== "";
  return (
    <Card title="Delivery log" id="log"
      actions={<Button variant="ghost" onClick={onRefresh} busy={log.loading && !!log.data}>Refresh</Button>}>
      <div class="filters">
        <div class="filter">
          <label for="log-status">Status</label>
          <select id="log-status" class="input input-small" value={status} onChange={(e) => { setStatus(e.currentTarget.value as DeliveryStatus | ""); setPage(1); }}>
            <option value="">All</option>
            <option value="succeeded">Succeeded</option>
            <option value="failed">Failed</option>
            <option value="pending">Pending</option>
          </select>
        </div>
        <div class="filter">
          <label for="log-event-type">Event type</label>
          <select id="log-event-type" class="input input-small" value={event} onChange={(e) => { setEvent(e.currentTarget.value); setPage(1); }}>
            <option value="">All event types</option>
            {catalogue?.types.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
        </div>
      </div>
      <ErrorNotice error={log.error} title="Could not load the delivery log" />
      {!log.data ? (
        !log.error && <Loading label="Loading deliveries…" />
      ) : log.data.data.length === 0 ? (
        <Empty title={filtered ? "No deliveries match these filters" : "No deliveries yet"}>
          <p class="muted">
            {filtered ? "Try another status or event type." : "Deliveries appear here as events happen. Send a test event to see one now."}
          </p>
        </Empty>
      ) : (
        <>
          <table class="table table-responsive table-clickable">
            <caption class="visually-hidden">Deliveries, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Response</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {log.data.data.map((d) => {
                const to = href("webhooks", webhookId, "deliveries", d.id);
                return (
                  <tr key={d.id} onClick={(e) => { if (!(e.target as HTMLElement).closest("a")) navigate(to); }}>
                    <td data-label="Event">
                      <Link href={to} class="row-title"><code>{d.eventType}</code></Link>
                      {d.test && <Badge tone="info">Test</Badge>}
                      <span class="muted small mono block">{d.id}</span>
                    </td>
                    <td data-label="Status"><StatusBadge status={d.status} /></td>
                    <td data-label="Attempts">{d.attempts}</td>
                    <td data-label="Response">
                      {d.lastStatusCode ?? (d.lastError ? <span class="text-danger small">{d.lastError}</span> : "—")}
                    </td>
                    <td data-label="Created">
                      <time dateTime={d.createdAt} title={fullTime(d.createdAt)}>{relativeTime(d.createdAt)}</time>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <Pager page={page} total={log.data.total} capped={log.data.totalCapped} shown={log.data.data.length} pageSize={PAGE_SIZE} nouns={["delivery", "deliveries"]}
            label="Pages of the delivery log" onPage={setPage} />
        </>
      )}
    </Card>
  );
}
