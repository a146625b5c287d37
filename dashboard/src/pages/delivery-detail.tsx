// One delivery: what was sent (payload and headers), every attempt with what the receiver answered, and Retry.
import { useState } from "preact/hooks";
import { api, type Attempt } from "../api";
import { session } from "../app";
import { href } from "../router";
import { announce, asApiError, Badge, Button, Card, Code, ErrorNotice, Link, Loading, StatusBadge, useLoad } from "../components/ui";
import type { ApiError } from "../api";
import { duration, fullTime, indentJson, prettyBody } from "../format";

export function DeliveryDetail({ id, deliveryId }: { id: string; deliveryId: string }) {
  const delivery = useLoad(() => api.delivery(id, deliveryId), [id, deliveryId]);
  const webhook = useLoad(() => api.webhook(id), [id]);
  const canWrite = !session.value?.readOnly;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const retry = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await api.retry(id, deliveryId);
      announce(r.success ? `Retry delivered (status ${r.statusCode})` : `Retry failed: ${r.error ?? "the attempt failed"}`, r.success ? "success" : "error");
      delivery.reload();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  const d = delivery.data;
  const crumbs = (
    <nav class="breadcrumbs" aria-label="Breadcrumb">
      <Link href={href()}>Webhooks</Link>
      <Link href={href("webhooks", id)}>{webhook.data?.name ?? "Webhook"}</Link>
    </nav>
  );
  if (delivery.error) {
    return (
      <>
        {crumbs}
        <ErrorNotice error={delivery.error} title={delivery.error.status === 404 ? "This delivery does not exist" : "Could not load this delivery"} />
      </>
    );
  }
  if (!d) return <Loading />;
  const latest = d.attempts.length ? d.attempts[d.attempts.length - 1] : undefined;
  const headers = [...d.attempts].reverse().find((a) => a.requestHeaders)?.requestHeaders;
  const sent = [...d.attempts].reverse().find((a) => a.requestBody)?.requestBody;
  return (
    <>
      {crumbs}
      <div class="page-header">
        <div class="title-block">
          <h1>
            <code>{d.eventType}</code> <StatusBadge status={d.status} /> {d.test && <Badge tone="info">Test</Badge>}
          </h1>
          <p class="muted mono small">{d.id}</p>
        </div>
        {canWrite && (
          <Button variant="primary" onClick={retry} busy={busy} busyLabel="Retrying…">
            Retry
          </Button>
        )}
      </div>
      <ErrorNotice error={error} title="The retry was not made" />
      <Card title="Summary" id="summary">
        <dl class="facts facts-wide">
          <dt>Event</dt>
          <dd class="mono">{d.eventId}</dd>
          <dt>Attempts</dt>
          <dd>{d.attempts.length}</dd>
          <dt>Last response</dt>
          <dd>{latest ? `${latest.statusCode ?? "no response"} · ${duration(latest.durationMs)}` : "Not attempted yet"}</dd>
          {d.status === "pending" && d.nextAttemptAt && (
            <>
              <dt>Next attempt</dt>
              <dd>{fullTime(d.nextAttemptAt)}</dd>
            </>
          )}
          <dt>Created</dt>
          <dd>{fullTime(d.createdAt)}</dd>
        </dl>
      </Card>
      <div class="grid">
        {sent ? (
          <Card title="Body sent" id="payload">
            <Code text={indentJson(sent)} label="Body sent" />
            <p class="hint">What the webhook's transformation made of the event on the latest attempt: the bytes signed and sent, indented for reading.</p>
            <h3 class="small">Event</h3>
            <Code text={indentJson(d.body)} label="Event" />
          </Card>
        ) : (
          <Card title="Payload" id="payload">
            <Code text={indentJson(d.body)} label="Payload" />
            <p class="hint">Exactly the bytes sent on every attempt, indented for reading.</p>
          </Card>
        )}
        <Card title="Request headers" id="headers">
          {headers ? (
            <table class="table table-compact">
              <caption class="visually-hidden">Headers of the latest request</caption>
              <tbody>
                {headers.map(([name, value], i) => (
                  <tr key={i}>
                    <th scope="row" class="mono">{name}</th>
                    <td class="mono break">{value}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="muted">No request has been made yet.</p>
          )}
          <p class="hint">Signatures are shown; the signing secret never is, and values of credential-like custom headers are masked.</p>
        </Card>
      </div>
      <Card title="Attempts" id="attempts">
        {d.attempts.length === 0 ? (
          <p class="muted">No attempt yet{d.nextAttemptAt ? `; the first is due ${fullTime(d.nextAttemptAt)}` : ""}.</p>
        ) : (
          <ol class="attempts" reversed>
            {[...d.attempts].reverse().map((a) => <AttemptItem attempt={a} key={a.id} />)}
          </ol>
        )}
      </Card>
    </>
  );
}

function AttemptItem({ attempt: a }: { attempt: Attempt }) {
  const ok = a.error === null && a.statusCode !== null && a.statusCode >= 200 && a.statusCode < 300;
  return (
    <li class="attempt">
      <div class="attempt-head">
        <strong>Attempt {a.attempt}</strong>
        <Badge tone={ok ? "success" : "danger"}>{a.statusCode ?? "No response"}</Badge>
        <span class="muted">{duration(a.durationMs)}</span>
        <time class="muted" dateTime={a.createdAt}>{fullTime(a.createdAt)}</time>
      </div>
      {a.error && <p class="text-danger">{a.error}</p>}
      <p class="label">Response body</p>
      {a.responseBody ? <Code text={prettyBody(a.responseBody)} label={`Response body of attempt ${a.attempt}`} /> : <p class="muted">Empty</p>}
    </li>
  );
}
