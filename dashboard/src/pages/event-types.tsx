// The event catalogue: every event type the webhooks can subscribe to, with what it means, the JSON Schema of its
// data (when the vendor published one) and an example, grouped by resource.
import { useState } from "preact/hooks";
import { api, type EventTypeInfo } from "../api";
import { Badge, Card, Code, Empty, ErrorNotice, Loading, useLoad } from "../components/ui";
import { indentJson } from "../format";

/** The part of a type before its last dot (`zoom.recording` for `zoom.recording.completed`). */
export function resourceOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? name : name.slice(0, dot);
}

export function EventTypesPage() {
  const types = useLoad(() => api.eventTypes(), []);
  const [needle, setNeedle] = useState("");
  const q = needle.trim().toLowerCase();
  const shown = (types.data?.data ?? []).filter((t) => !q || t.name.toLowerCase().includes(q) || t.description.toLowerCase().includes(q));
  const groups = new Map<string, EventTypeInfo[]>();
  for (const t of shown) groups.set(resourceOf(t.name), [...(groups.get(resourceOf(t.name)) ?? []), t]);
  return (
    <>
      <div class="page-header">
        <div>
          <h1>Event catalogue</h1>
          <p class="subtitle">Every event your webhooks can receive, what it means, and what its data looks like.</p>
        </div>
      </div>
      <div class="filters">
        <div class="filter">
          <label for="catalogue-filter">Find an event type</label>
          <input id="catalogue-filter" type="search" class="input input-small" placeholder="invoice, paid…" value={needle}
            onInput={(e) => setNeedle(e.currentTarget.value)} />
        </div>
      </div>
      <ErrorNotice error={types.error} title="Could not load the event catalogue" />
      {!types.data ? (
        !types.error && <Loading label="Loading the event catalogue…" />
      ) : groups.size === 0 ? (
        <Empty title="No event type matches">
          <p class="muted">Try another word.</p>
        </Empty>
      ) : (
        [...groups].map(([resource, list]) => (
          <Card title={resource} id={`resource-${resource}`} key={resource}>
            <ul class="catalogue">
              {list.map((t) => <EventTypeItem key={t.name} type={t} />)}
            </ul>
          </Card>
        ))
      )}
    </>
  );
}

function EventTypeItem({ type: t }: { type: EventTypeInfo }) {
  return (
    <li class="catalogue-item" data-testid={`event-type-${t.name}`}>
      <div class="catalogue-head">
        <code class="row-title">{t.name}</code>
        {t.deprecated && <Badge tone="warning" title="Still delivered; move to a newer type">Deprecated</Badge>}
        {t.schema && <Badge tone="info" title="Webhooks can ask for events to be checked against it">Schema</Badge>}
      </div>
      {t.description && <p class="muted">{t.description}</p>}
      {(t.schema || t.example) && (
        <details class="catalogue-details">
          <summary>{t.schema ? "Schema and example" : "Example"}</summary>
          <div class="catalogue-code">
            {t.schema && (
              <div>
                <p class="label">Schema of <code>data</code></p>
                <Code text={indentJson(JSON.stringify(t.schema))} label={`Schema of ${t.name}`} />
              </div>
            )}
            {t.example && (
              <div>
                <p class="label">Example <code>data</code></p>
                <Code text={indentJson(JSON.stringify(t.example))} label={`Example of ${t.name}`} />
              </div>
            )}
          </div>
        </details>
      )}
    </li>
  );
}
