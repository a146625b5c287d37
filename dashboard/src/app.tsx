// The shell: who is signed in, the page for the current route, and the screens for a missing or ended session.
import { useEffect } from "preact/hooks";
import { signal } from "@preact/signals";
import { api, signedOut, type Session } from "./api";
import { route, href } from "./router";
import { Link, Loading, Toast, ErrorNotice, asApiError } from "./components/ui";
import { WebhooksPage } from "./pages/webhooks";
import { WebhookForm } from "./pages/webhook-form";
import { WebhookDetail } from "./pages/webhook-detail";
import { DeliveryDetail } from "./pages/delivery-detail";
import { EventDetailPage, EventsPage } from "./pages/events";
import { EventTypesPage } from "./pages/event-types";
import type { ApiError } from "./api";

export const session = signal<Session | null>(null);
const sessionError = signal<ApiError | null>(null);

export function App() {
  const out = signedOut.value;
  useEffect(() => {
    if (out) return;
    api.session().then(
      (s) => (session.value = s),
      (e) => (sessionError.value = asApiError(e)),
    );
  }, [out]);
  if (out) return <SignedOutScreen reason={out} />;
  const s = session.value;
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <span class="brand">
          <span class="brand-mark" aria-hidden="true" />
          Webhooks
        </span>
        <nav class="nav" aria-label="Sections">
          <Link href={href()} current={!["events", "event", "event-types"].includes(route.value.page)}>
            Webhooks
          </Link>
          <Link href={href("events")} current={route.value.page === "events" || route.value.page === "event"}>
            Events
          </Link>
          <Link href={href("event-types")} current={route.value.page === "event-types"}>
            Event catalogue
          </Link>
        </nav>
        {s?.readOnly && (
          <span class="badge badge-info" title="You can look at everything here but not change it">
            Read-only access
          </span>
        )}
      </header>
      <main id="main" class="content" tabIndex={-1}>
        {sessionError.value ? <ErrorNotice error={sessionError.value} title="Could not start the session" /> : s ? <Page /> : <Loading />}
      </main>
      <Toast />
    </div>
  );
}

function Page() {
  const r = route.value;
  useEffect(() => {
    const titles: Record<string, string> = {
      webhooks: "Webhooks",
      new: "Add webhook",
      webhook: "Webhook",
      edit: "Edit webhook",
      delivery: "Delivery",
      events: "Events",
      event: "Event",
      "event-types": "Event catalogue",
      "not-found": "Not found",
    };
    document.title = `${titles[r.page]} · Webhooks`;
  }, [r]);
  switch (r.page) {
    case "webhooks":
      return <WebhooksPage />;
    case "new":
      return <WebhookForm />;
    case "edit":
      return <WebhookForm id={r.id} />;
    case "webhook":
      return <WebhookDetail id={r.id} />;
    case "delivery":
      return <DeliveryDetail id={r.id} deliveryId={r.deliveryId} />;
    case "events":
      return <EventsPage />;
    case "event":
      return <EventDetailPage id={r.id} />;
    case "event-types":
      return <EventTypesPage />;
    default:
      return (
        <div class="empty">
          <h1>Page not found</h1>
          <p>
            <Link href={href()}>Back to your webhooks</Link>
          </p>
        </div>
      );
  }
}

function SignedOutScreen({ reason }: { reason: "no-token" | "expired" }) {
  useEffect(() => {
    document.title = "Signed out · Webhooks";
  }, []);
  return (
    <main class="signed-out" id="main">
      <div class="signed-out-card">
        <span class="brand-mark brand-mark-large" aria-hidden="true" />
        {reason === "expired" ? (
          <>
            <h1>Your session has expired</h1>
            <p>
              For your security, this page stops working when its link expires or is revoked. Open your webhook settings
              again from your account to get a new link.
            </p>
          </>
        ) : (
          <>
            <h1>Sign-in link needed</h1>
            <p>This page opens from a link in your account's settings. Open your webhook settings there to continue.</p>
          </>
        )}
      </div>
    </main>
  );
}
