// The dashboard's routes, in the path under /portal; navigation uses the History API (the Worker answers every
// such path with index.html).
import { signal } from "@preact/signals";

export type Route =
  | { page: "webhooks" }
  | { page: "new" }
  | { page: "webhook"; id: string }
  | { page: "edit"; id: string }
  | { page: "delivery"; id: string; deliveryId: string }
  | { page: "events" }
  | { page: "event"; id: string }
  | { page: "event-types" }
  | { page: "not-found" };

export const BASE = "/portal";

export function parse(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname === "/" ? "" : null;
  if (rest === null) return { page: "not-found" };
  const parts = rest.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: "webhooks" };
  if (parts[0] === "event-types") return parts.length === 1 ? { page: "event-types" } : { page: "not-found" };
  if (parts[0] === "events") {
    if (parts.length === 1) return { page: "events" };
    if (parts.length === 2) return { page: "event", id: parts[1] };
    return { page: "not-found" };
  }
  if (parts[0] !== "webhooks") return { page: "not-found" };
  if (parts.length === 2 && parts[1] === "new") return { page: "new" };
  if (parts.length === 2) return { page: "webhook", id: parts[1] };
  if (parts.length === 3 && parts[2] === "edit") return { page: "edit", id: parts[1] };
  if (parts.length === 4 && parts[2] === "deliveries") return { page: "delivery", id: parts[1], deliveryId: parts[3] };
  return { page: "not-found" };
}

export const route = signal<Route>(parse(location.pathname));

export function href(...segments: string[]): string {
  return [BASE, ...segments.map(encodeURIComponent)].join("/");
}

export function navigate(to: string) {
  history.pushState(null, "", to);
  route.value = parse(location.pathname);
  window.scrollTo(0, 0);
}

addEventListener("popstate", () => {
  route.value = parse(location.pathname);
});

/** Same-page navigation for plain links: a click without modifier keys stays in the app. */
export function onLinkClick(event: MouseEvent) {
  const anchor = (event.currentTarget as HTMLAnchorElement | null) ?? null;
  if (!anchor || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(anchor.getAttribute("href") ?? BASE);
}
