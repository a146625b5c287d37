// The Events field: the catalogue grouped by resource, with Select all (`*`) and a whole-resource wildcard
// (`lead.*`) per group. The value is the webhook's list of patterns.
import { useState } from "preact/hooks";
import type { Catalogue } from "../api";

export function EventPicker({
  catalogue,
  value,
  onChange,
  invalid,
  describedBy,
}: {
  catalogue: Catalogue;
  value: string[];
  onChange: (patterns: string[]) => void;
  invalid?: boolean;
  describedBy?: string;
}) {
  const [filter, setFilter] = useState("");
  const selected = new Set(value);
  const all = selected.has("*");
  const set = (pattern: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(pattern);
    else next.delete(pattern);
    onChange([...next]);
  };
  const setGroup = (resource: string, on: boolean) => {
    // A wildcard replaces the group's single types, so the list stays short.
    const next = new Set([...selected].filter((p) => !(on && p.startsWith(`${resource}.`) && p.split(".").length === resource.split(".").length + 1)));
    if (on) next.add(`${resource}.*`);
    else next.delete(`${resource}.*`);
    onChange([...next]);
  };
  const needle = filter.trim().toLowerCase();
  const groups = catalogue.groups
    .map((g) => ({
      ...g,
      events: g.events.filter((e) => !needle || e.type.includes(needle) || e.description.toLowerCase().includes(needle)),
    }))
    .filter((g) => g.events.length > 0);
  const unknown = value.filter((p) => p !== "*" && !catalogue.types.includes(p) && !catalogue.groups.some((g) => p === `${g.resource}.*`));
  return (
    <div class={`picker ${invalid ? "picker-invalid" : ""}`} role="group" aria-labelledby="events-label" aria-describedby={describedBy}>
      <div class="picker-toolbar">
        <label class="check check-strong">
          <input type="checkbox" checked={all} onChange={(e) => onChange(e.currentTarget.checked ? ["*"] : [])} />
          Select all
        </label>
        <input
          type="search"
          class="input input-small"
          placeholder="Filter event types"
          aria-label="Filter event types"
          value={filter}
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
        <span class="muted small" aria-live="polite">
          {all ? "All events, including new ones (edgehook.* operational events are chosen on their own)" : `${value.length} selected`}
        </span>
      </div>
      <div class="picker-groups">
        {groups.map((g) => {
          const wildcard = selected.has(`${g.resource}.*`);
          return (
            <fieldset class="picker-group" key={g.resource}>
              <legend>{g.resource}</legend>
              <label class="check check-strong">
                <input
                  type="checkbox"
                  checked={all || wildcard}
                  disabled={all}
                  onChange={(e) => setGroup(g.resource, e.currentTarget.checked)}
                />
                All {g.resource} events <code class="muted">{g.resource}.*</code>
              </label>
              {g.events.map((e) => (
                <label class="check" key={e.type} title={e.description}>
                  <input
                    type="checkbox"
                    checked={all || wildcard || selected.has(e.type)}
                    disabled={all || wildcard}
                    onChange={(ev) => set(e.type, ev.currentTarget.checked)}
                  />
                  <code>{e.type}</code>
                  {e.deprecated && <span class="badge badge-warning">Deprecated</span>}
                  <span class="muted small picker-description">{e.description}</span>
                </label>
              ))}
            </fieldset>
          );
        })}
        {groups.length === 0 && <p class="muted">No event type matches “{filter}”.</p>}
      </div>
      {unknown.length > 0 && (
        <p class="hint">
          Also subscribed: {unknown.map((p) => <code key={p}>{p} </code>)}
        </p>
      )}
    </div>
  );
}
