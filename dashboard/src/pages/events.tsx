// Events: everything the organization published, newest first, and one event with the data exactly as ingested
// and every delivery it produced.
import { useState } from "preact/hooks";
import { api } from "../api";
import { href, navigate } from "../router";
import { Card, Code, Empty, ErrorNotice, Link, Loading, Pager, StatusBadge, useLoad, Button } from "../components/ui";
import { fullTime, indentJson, relativeTime } from "../format";

const PAGE_SIZE = 25;

export function EventsPage() {
  const catalogue = useLoad(() => api.catalogue(), []);
  const [type, setType] = useState("");
  const [page, setPage] = useState(1);
  const events = useLoad(() => api.events({ type, page, limit: PAGE_SIZE }), [type, page]);
  return (
    <>
      <div class="page-header">
        <div>
          <h1>Events</h1>
          <p class="subtitle">Every event sent to your webhooks, and how its deliveries went.</p>
        </div>
      </div>
      <Card title="Event log" id="events" actions={<Button variant="ghost" onClick={events.reload}>Refresh</Button>}>
        <div class="filters">
          <div class="filter">
            <label for="events-type">Event type</label>
            <select id="events-type" class="input input-small" value={type} onChange={(e) => { setType(e.currentTarget.value); setPage(1); }}>
              <option value="">All event types</option>
              {catalogue.data?.types.map((t) => <option key={t} value={t}>{t}</option>)}
            </select>
          </div>
        </div>
        <ErrorNotice error={events.error} title="Could not load the events" />
        {!events.data ? (
          !events.error && <Loading label="Loading events…" />
        ) : events.data.data.length === 0 ? (
          <Empty title={type ? "No events of this type" : "No events yet"}>
            <p class="muted">Events appear here as they are published, with how each of their deliveries went.</p>
          </Empty>
        ) : (
          <>
            <table class="table table-responsive table-clickable">
              <caption class="visually-hidden">Events, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">Deliveries</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {events.data.data.map((e) => {
                  const to = href("events", e.id);
                  return (
                    <tr key={e.id} onClick={(ev) => { if (!(ev.target as HTMLElement).closest("a")) navigate(to); }}>
                      <td data-label="Event">
                        <Link href={to} class="row-title"><code>{e.type}</code></Link>
                        <span class="muted small mono block">{e.id}</span>
                      </td>
                      <td data-label="Deliveries">{e.deliveries}</td>
                      <td data-label="Outcome">
                        <span class="outcomes">
                          {e.succeeded > 0 && <span class="badge badge-success">{e.succeeded} succeeded</span>}
                          {e.failed > 0 && <span class="badge badge-danger">{e.failed} failed</span>}
                          {e.pending > 0 && <span class="badge badge-warning">{e.pending} pending</span>}
                          {e.deliveries === 0 && <span class="muted small">No subscribed webhook</span>}
                        </span>
                      </td>
                      <td data-label="Created">
                        <time dateTime={e.createdAt} title={fullTime(e.createdAt)}>{relativeTime(e.createdAt)}</time>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            <Pager page={page} total={events.data.total} capped={events.data.totalCapped} shown={events.data.data.length} pageSize={PAGE_SIZE} nouns={["event", "events"]}
              label="Pages of the event log" onPage={setPage} />
          </>
        )}
      </Card>
    </>
  );
}

export function EventDetailPage({ id }: { id: string }) {
  const event = useLoad(() => api.event(id), [id]);
  const e = event.data;
  const crumbs = (
    <nav class="breadcrumbs" aria-label="Breadcrumb">
      <Link href={href("events")}>Events</Link>
    </nav>
  );
  if (event.error) {
    return (
      <>
        {crumbs}
        <ErrorNotice error={event.error} title={event.error.status === 404 ? "This event does not exist" : "Could not load this event"} />
      </>
    );
  }
  if (!e) return <Loading />;
  return (
    <>
      {crumbs}
      <div class="page-header">
        <div class="title-block">
          <h1><code>{e.type}</code></h1>
          <p class="muted mono small">{e.id} · {fullTime(e.createdAt)}</p>
        </div>
      </div>
      <div class="grid">
        <Card title="Data" id="event-data">
          <Code text={indentJson(e.dataText)} label="Data" />
          {e.changesText && (
            <>
              <p class="label">Changes</p>
              <Code text={indentJson(e.changesText)} label="Changes" />
            </>
          )}
          <p class="hint">Exactly as published, indented for reading.</p>
        </Card>
        <Card title="Deliveries" id="event-deliveries">
          {e.deliveries.length === 0 ? (
            <p class="muted">No webhook was subscribed to this event type when it was published.</p>
          ) : (
            <table class="table table-compact">
              <caption class="visually-hidden">Deliveries of this event</caption>
              <tbody>
                {e.deliveries.map((d) => (
                  <tr key={d.id}>
                    <th scope="row">
                      {d.webhookName ? <Link href={href("webhooks", d.webhookId, "deliveries", d.id)}>{d.webhookName}</Link> : <span class="muted">Deleted webhook</span>}
                    </th>
                    <td>
                      <StatusBadge status={d.status} /> <span class="muted small">{d.attempts} {d.attempts === 1 ? "attempt" : "attempts"}{d.lastStatusCode ? ` · ${d.lastStatusCode}` : ""}</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
      </div>
    </>
  );
}
