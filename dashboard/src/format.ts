// How times, rates and durations read on the page.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function fullTime(iso: string | null | undefined): string {
  return iso ? dateTime.format(new Date(iso)) : "—";
}

export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "Never";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return rtf.format(Math.round(seconds / size), unit);
  }
  return Math.abs(seconds) < 10 ? "just now" : rtf.format(seconds, "second");
}

export function percent(rate: number | null | undefined): string {
  if (rate === null || rate === undefined) return "—";
  const value = rate * 100;
  return `${value >= 10 || value === 0 ? value.toFixed(0) : value.toFixed(1)}%`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

/**
 * JSON text indented for reading without parsing it: every number, string and key stays exactly as sent (`1.50`
 * stays `1.50`, key order and duplicate keys stay), only whitespace between tokens changes. Text that is not JSON
 * comes back as it was.
 */
export function indentJson(text: string): string {
  let out = "";
  let depth = 0;
  let inString = false;
  const newline = () => "\n" + "  ".repeat(depth);
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === "\\") out += text[++i] ?? "";
      else if (c === '"') inString = false;
      continue;
    }
    if (c === " " || c === "\n" || c === "\r" || c === "\t") continue;
    if (c === '"') {
      inString = true;
      out += c;
    } else if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j])) j++;
      if (text[j] === close) {
        out += c + close;
        i = j;
      } else {
        depth++;
        out += c + newline();
      }
    } else if (c === "}" || c === "]") {
      depth = Math.max(0, depth - 1);
      out += newline() + c;
    } else if (c === ",") {
      out += "," + newline();
    } else if (c === ":") {
      out += ": ";
    } else {
      out += c;
    }
  }
  return inString || depth !== 0 ? text : out;
}

/** A response body: indented when it is JSON (see [`indentJson`]), as sent otherwise. */
export function prettyBody(body: string | null): string {
  if (!body) return "";
  try {
    JSON.parse(body);
  } catch {
    return body;
  }
  return indentJson(body);
}

/** Whether a webhook's event patterns (`*`, `deal.*`, `deal.won`) select an event type, as the Worker matches them. */
export function subscribedTo(patterns: string[], type: string): boolean {
  return patterns.some((p) => p === "*" || p === type || (p.endsWith(".*") && type.startsWith(p.slice(0, -1)) && !type.slice(p.length - 1).includes(".")));
}

/** What a pager says and allows over a list whose `total` may be capped (`totalCapped`: more match than it counts). */
export function pageSummary(
  { page, total, capped, pageSize, shown }: { page: number; total: number; capped: boolean; pageSize: number; shown: number },
  [one, several]: [string, string],
): { text: string; hasNext: boolean } {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  if (capped) {
    // Past the count, a full page may have another after it; a short one is the last.
    return { text: `Page ${page} · more than ${total.toLocaleString("en-US")} ${several}`, hasNext: shown >= pageSize };
  }
  return { text: `Page ${page} of ${pages} · ${total} ${total === 1 ? one : several}`, hasNext: page < pages };
}
