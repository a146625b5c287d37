// One webhook: its settings, signing secret, test sends, last 24 hours and delivery log.
import { useState } from "preact/hooks";
import { signal } from "@preact/signals";
import { api, type AttemptResult, type Catalogue, type EgressIps, type Webhook } from "../api";
import { session } from "../app";
import { href, navigate } from "../router";
import { DeliveryChart } from "../components/chart";
import { DeliveryLog } from "./delivery-log";
import { destinationText, EventChips, WebhookState } from "./webhooks";
import { announce, asApiError, Button, Card, Code, ConfirmDialog, copyText, ErrorNotice, Link, Loading, useLoad } from "../components/ui";
import type { ApiError } from "../api";
import { duration, fullTime, percent, prettyBody, relativeTime, subscribedTo } from "../format";

export function WebhookDetail({ id }: { id: string }) {
  const webhook = useLoad(() => api.webhook(id), [id]);
  const catalogue = useLoad(() => api.catalogue(), []);
  const canWrite = !session.value?.readOnly;
  // Bumped by Refresh and by a test send: the chart and the log load again together.
  const [tick, setTick] = useState(0);
  const refresh = () => setTick((t) => t + 1);
  const w = webhook.data;
  if (webhook.error) {
    return (
      <>
        <nav class="breadcrumbs" aria-label="Breadcrumb"><Link href={href()}>Webhooks</Link></nav>
        <ErrorNotice error={webhook.error} title={webhook.error.status === 404 ? "This webhook does not exist" : "Could not load this webhook"} />
      </>
    );
  }
  if (!w) return <Loading />;
  return (
    <>
      <nav class="breadcrumbs" aria-label="Breadcrumb">
        <Link href={href()}>Webhooks</Link>
      </nav>
      <div class="page-header">
        <div class="title-block">
          <h1>
            {w.name} <WebhookState webhook={w} />
          </h1>
          <p class="url">{destinationText(w)}</p>
        </div>
        {canWrite && (
          <Button onClick={() => navigate(href("webhooks", w.id, "edit"))}>Edit</Button>
        )}
      </div>
      {!w.isActive && (
        <div class="notice notice-warning">
          <strong>This webhook is disabled{w.disabledAt ? ` since ${fullTime(w.disabledAt)}` : ""}.</strong>
          <span>{w.disabledReason ?? "It receives no events until it is activated again."}</span>
          {canWrite && <span>Fix the endpoint, then edit the webhook and tick Active to turn it back on.</span>}
        </div>
      )}
      {w.isActive && w.circuit.state !== "closed" && (
        <div class="notice notice-warning" role="status">
          <strong>The endpoint keeps failing, so its circuit is {w.circuit.state === "open" ? "open" : "being probed"}.</strong>
          <span>
            Nothing is sent to it{w.circuit.nextProbeAt ? ` until a probe at ${fullTime(w.circuit.nextProbeAt)}` : ""}; its
            deliveries wait, pending, with their place and their retries. A successful probe closes the circuit and sends them.
          </span>
        </div>
      )}
      <div class="grid">
        <Settings webhook={w} />
        <SecretCard webhook={w} canWrite={canWrite} />
      </div>
      {missed.value?.webhookId === w.id && missed.value.count > 0 && (
        <div class="notice notice-warning" role="status">
          <strong>
            This webhook missed {missed.value.count}{missed.value.more ? "+" : ""} {missed.value.count === 1 ? "event" : "events"} while it was inactive.
          </strong>
          <span>Use Replay missing below to deliver them now, in their original order.</span>
        </div>
      )}
      {w.poll ? (
        <PollCard webhook={w} canWrite={canWrite} onChange={webhook.reload} />
      ) : (
        <>
          {canWrite && catalogue.data && <TestCard webhook={w} catalogue={catalogue.data} onSent={refresh} />}
          {canWrite && <RecoveryCard webhook={w} onScheduled={refresh} />}
          <ActivityCard id={w.id} tick={tick} fifo={w.ordering === "fifo"} />
          <DeliveryLog webhookId={w.id} catalogue={catalogue.data} tick={tick} onRefresh={refresh} />
          <EgressCard />
        </>
      )}
    </>
  );
}

/** A polling webhook: where its reader stands, how to read, and the tokens that may. */
function PollCard({ webhook: w, canWrite, onChange }: { webhook: Webhook; canWrite: boolean; onChange: () => void }) {
  const tokens = useLoad(() => api.pollTokens(w.id), [w.id]);
  const [created, setCreated] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const poll = w.poll!;
  const endpoint = `${location.origin}/api/poll/${w.id}`;
  const act = async (work: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
      tokens.reload();
      onChange();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  const create = () => act(async () => {
    const t = await api.createPollToken(w.id);
    setCreated(t.token);
    announce("Poll token created");
  });
  const revoke = (tokenId: string) => act(async () => {
    await api.deletePollToken(w.id, tokenId);
    setCreated(null);
    announce("Poll token revoked");
  });
  return (
    <Card title="Polling" id="poll" actions={<Button variant="ghost" onClick={onChange}>Refresh</Button>}>
      <p class="hint">
        Your system reads this webhook's events, oldest first, with <code>GET {endpoint}?after=&lt;cursor&gt;</code> and{" "}
        <code>Authorization: Bearer &lt;token&gt;</code>. Each message carries the same <code>webhook-*</code> headers a
        delivery would, so your verifier checks it. Reading after a cursor acknowledges everything up to it.
      </p>
      <dl class="facts" data-testid="poll-position">
        <dt>Acknowledged up to</dt>
        <dd><code>{poll.cursor}</code> (latest message <code>{poll.latest}</code>)</dd>
        <dt>Waiting</dt>
        <dd>
          {poll.pending === 0 ? "Nothing: the reader is caught up" : `${poll.pending >= 10000 ? "10,000 or more" : poll.pending} ${poll.pending === 1 ? "message" : "messages"}`}
        </dd>
        {poll.oldestPendingAt && (
          <>
            <dt>Oldest waiting</dt>
            <dd><time dateTime={poll.oldestPendingAt} title={fullTime(poll.oldestPendingAt)}>{relativeTime(poll.oldestPendingAt)}</time></dd>
          </>
        )}
      </dl>
      <ErrorNotice error={error ?? tokens.error} title="Poll tokens" />
      {created && (
        <div class="notice notice-success" role="status">
          <strong>New token — copy it now, it is shown only here:</strong>
          <code class="secret" data-testid="new-poll-token">{created}</code>
        </div>
      )}
      {tokens.data && (
        tokens.data.data.length === 0 ? (
          <p class="muted">No token yet: create one for the system that reads these events.</p>
        ) : (
          <table class="table table-compact">
            <caption class="visually-hidden">Poll tokens</caption>
            <tbody>
              {tokens.data.data.map((t) => (
                <tr key={t.id}>
                  <th scope="row"><code>{t.hint}</code></th>
                  <td class="muted small">created {relativeTime(t.createdAt)}</td>
                  <td>{canWrite && <Button variant="ghost" onClick={() => revoke(t.id)} busy={busy} aria-label={`Revoke token ${t.hint}`}>Revoke</Button>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      )}
      {canWrite && <Button onClick={create} busy={busy} busyLabel="Creating…">Create token</Button>}
    </Card>
  );
}

/** The address ranges deliveries come from, for an endpoint behind a firewall that allows senders by IP. */
function EgressCard() {
  const egress = useLoad(() => api.egressIps(), []);
  const e: EgressIps | undefined = egress.data;
  return (
    <Card title="Sending IP addresses" id="egress">
      {egress.error && <ErrorNotice error={egress.error} title="Could not load the sending addresses" />}
      {e && (
        <>
          <p class="hint">
            {e.source === "cloudflare"
              ? <>Deliveries come from Cloudflare's network. If your endpoint's firewall allows senders by address, allow these ranges (Cloudflare's published list{e.listedOn ? ` as of ${e.listedOn}` : ""}; the current one is at <a href={e.reference ?? "https://www.cloudflare.com/ips/"} target="_blank" rel="noopener noreferrer">cloudflare.com/ips</a>).</>
              : <>Deliveries come from these dedicated addresses. If your endpoint's firewall allows senders by address, allow these ranges.</>}
          </p>
          <details class="egress-ranges">
            <summary>{e.ipv4.length} IPv4 and {e.ipv6.length} IPv6 ranges</summary>
            <pre class="code" data-testid="egress-ranges">{e.ranges.join("\n")}</pre>
          </details>
          <Button variant="ghost" onClick={() => copyText(e.ranges.join("\n"), "Address ranges", "Copying is blocked here: open the list and select it")}>
            Copy ranges
          </Button>
        </>
      )}
      {!e && !egress.error && <Loading />}
    </Card>
  );
}

function Settings({ webhook: w }: { webhook: Webhook }) {
  const headers = Object.keys(w.headers);
  return (
    <Card title="Settings" id="settings">
      <dl class="facts">
        <dt>Description</dt>
        <dd>{w.description || <span class="muted">None</span>}</dd>
        <dt>Events</dt>
        <dd><EventChips events={w.events} max={12} /></dd>
        <dt>Filter</dt>
        <dd>{w.filter ? <code class="filter-json">{JSON.stringify(w.filter)}</code> : <span class="muted">None (every event of its types)</span>}</dd>
        <dt>Transformation</dt>
        <dd>{w.transformation ? <pre class="filter-json" data-testid="transformation">{w.transformation.jq}</pre> : <span class="muted">None (the event is sent as it is)</span>}</dd>
        {w.destination.type === "http" && (
          <>
        <dt>Custom headers</dt>
        <dd>{headers.length ? headers.map((h) => <code class="chip" key={h}>{h}</code>) : <span class="muted">None</span>}</dd>
        <dt>Ordering</dt>
        <dd>{w.ordering === "fifo" ? "In order, one at a time (FIFO): the delivery log shows the line as pending deliveries" : "Any order"}</dd>
        <dt>Rate limit</dt>
        <dd>{w.rateLimitPerSecond == null ? <span class="muted">None</span> : `${w.rateLimitPerSecond} per second`}</dd>
        <dt>Circuit</dt>
        <dd>
          {w.circuit.state === "closed"
            ? "Closed (deliveries flow)"
            : `${w.circuit.state === "open" ? "Open" : "Half-open, probing"} since ${fullTime(w.circuit.openedAt)}`}
        </dd>
        <dt>Retries</dt>
        <dd>
          {w.retryAttempts === 0 ? "No retries" : `${w.retryAttempts} retries, first after ${w.retryDelaySeconds} s`}
        </dd>
          </>
        )}
        <dt>Created</dt>
        <dd>{fullTime(w.createdAt)}</dd>
      </dl>
    </Card>
  );
}

function SecretCard({ webhook, canWrite }: { webhook: Webhook; canWrite: boolean }) {
  const [secret, setSecret] = useState<string | null>(null);
  const [revealed, setRevealed] = useState(false);
  const [busy, setBusy] = useState<"reveal" | "copy" | "rotate" | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [confirm, setConfirm] = useState(false);
  const [rotated, setRotated] = useState<{ secret: string; until: string } | null>(null);

  const load = async () => {
    if (secret) return secret;
    const answer = await api.secret(webhook.id);
    // An Ed25519 webhook answers its public key: it has no secret to reveal (its card shows the key instead).
    if (!("secret" in answer)) throw new Error("this webhook signs with Ed25519 and has no secret");
    return answer.secret;
  };
  const act = async (kind: "reveal" | "copy", run: () => Promise<void>) => {
    setBusy(kind);
    setError(null);
    try {
      await run();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(null);
    }
  };
  const reveal = () =>
    revealed
      ? setRevealed(false)
      : act("reveal", async () => {
          setSecret(await load());
          setRevealed(true);
        });
  const copy = () =>
    act("copy", async () => {
      const s = await load();
      setSecret(s);
      if (!(await copyText(s, "Signing secret", "Copying is blocked here: the secret is shown, select it to copy"))) {
        setRevealed(true);
      }
    });
  const ed25519 = webhook.signature === "ed25519";
  const publicKey = rotated?.secret || webhook.publicKey || "";
  const rotate = async () => {
    setBusy("rotate");
    setError(null);
    try {
      const r = await api.regenerateSecret(webhook.id);
      const shown = "secret" in r ? r.secret : r.publicKey;
      setSecret("secret" in r ? r.secret : null);
      setRevealed(false);
      setRotated({ secret: shown, until: r.previousSecretExpiresAt });
      announce("Signing secret regenerated");
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(null);
      setConfirm(false);
    }
  };
  return (
    <Card title={ed25519 ? "Public key" : "Signing secret"} id="secret">
      {ed25519 ? (
        <>
          <p class="hint">
            Requests are signed with Ed25519 (Standard Webhooks <code>v1a</code>). Verify them with this public key; it cannot
            sign, so it is safe to share.
          </p>
          <div class="secret-row">
            <code class="secret" aria-label="Public key" data-testid="public-key">{publicKey}</code>
            <Button variant="ghost" onClick={() => copyText(publicKey, "Public key", "Copying is blocked here: select the key to copy it")}>
              Copy
            </Button>
          </div>
          {canWrite && (
            <Button variant="secondary" onClick={() => setConfirm(true)}>
              Regenerate key pair
            </Button>
          )}
        </>
      ) : (
      <>
      <p class="hint">Verify each request's <code>webhook-signature</code> header with this secret (Standard Webhooks).</p>
      {canWrite ? (
        <>
          <div class="secret-row">
            <code class="secret" aria-label="Signing secret" data-testid="secret-value">
              {revealed && secret ? secret : "whsec_" + "•".repeat(24)}
            </code>
            <Button variant="ghost" onClick={reveal} busy={busy === "reveal"} aria-pressed={revealed}>
              {revealed ? "Hide" : "Reveal"}
            </Button>
            <Button variant="ghost" onClick={copy} busy={busy === "copy"}>
              Copy
            </Button>
          </div>
          <Button variant="secondary" onClick={() => setConfirm(true)}>
            Regenerate secret
          </Button>
        </>
      ) : (
        <p class="muted">Only people who can change this webhook can see its secret.</p>
      )}
      </>
      )}
      {rotated && !ed25519 && (
        <div class="notice notice-success" role="status">
          <strong>New secret — copy it now, it is shown only here:</strong>
          <code class="secret" data-testid="new-secret">{rotated.secret}</code>
          <span>The previous secret keeps signing requests until {fullTime(rotated.until)}, so you can update your server without missing any.</span>
        </div>
      )}
      {rotated && ed25519 && (
        <div class="notice notice-success" role="status">
          <strong>New key pair created.</strong>
          <span>The previous key keeps signing requests alongside the new one until {fullTime(rotated.until)}: update your server's public key before then.</span>
        </div>
      )}
      <ErrorNotice error={error} title="The secret could not be loaded or changed" />
      <ConfirmDialog open={confirm} title={ed25519 ? "Regenerate the key pair?" : "Regenerate the signing secret?"} confirmLabel="Regenerate" busy={busy === "rotate"}
        onConfirm={rotate} onCancel={() => setConfirm(false)}>
        <p>A new {ed25519 ? "key" : "secret"} signs every request from now on. The current one keeps signing alongside it for a while, so your server can switch over without rejecting anything.</p>
      </ConfirmDialog>
    </Card>
  );
}

function TestCard({ webhook, catalogue, onSent }: { webhook: Webhook; catalogue: Catalogue; onSent: () => void }) {
  const subscribed = catalogue.types.filter((t) => subscribedTo(webhook.events, t));
  const [eventType, setEventType] = useState(subscribed[0] ?? catalogue.types[0]);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<AttemptResult | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const send = async () => {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const r = await api.test(webhook.id, eventType);
      setResult(r);
      onSent();
      announce(r.success ? "Test event delivered" : "Test event failed", r.success ? "success" : "error");
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  const others = catalogue.types.filter((t) => !subscribed.includes(t));
  return (
    <Card title="Send a test event" id="test">
      <p class="hint">Sends the event type's example from the <Link href={href("event-types")}>event catalogue</Link> with <code>"test": true</code> to your URL now and shows what your server answered.</p>
      <div class="inline-form">
        <label for="test-event-type">Test event type</label>
        <select id="test-event-type" class="input" value={eventType} onChange={(e) => setEventType(e.currentTarget.value)}>
          {subscribed.length > 0 && (
            <optgroup label="Subscribed">
              {subscribed.map((t) => <option key={t} value={t}>{t}</option>)}
            </optgroup>
          )}
          <optgroup label={subscribed.length ? "Other event types" : "Event types"}>
            {others.map((t) => <option key={t} value={t}>{t}</option>)}
          </optgroup>
        </select>
        <Button variant="primary" onClick={send} busy={busy} busyLabel="Sending…">
          Send Test Event
        </Button>
      </div>
      <ErrorNotice error={error} title="The test event was not sent" />
      {result && (
        <div class={`result ${result.success ? "result-ok" : "result-failed"}`} data-testid="test-result">
          <p class="result-summary">
            <strong>{result.success ? "Delivered" : "Failed"}</strong>
            <span>Status {result.statusCode ?? "—"}</span>
            <span>{duration(result.durationMs)}</span>
            <Link href={href("webhooks", webhook.id, "deliveries", result.deliveryId)}>View delivery</Link>
          </p>
          {result.error && <p class="text-danger">{result.error}</p>}
          <p class="label">Response body</p>
          {result.responseBody ? <Code text={prettyBody(result.responseBody)} label="Response body" /> : <p class="muted">Empty</p>}
        </div>
      )}
    </Card>
  );
}

/** What a re-activation reported missing, shown on the webhook's page after the form saved it. */
export const missed = signal<{ webhookId: string; count: number; more: boolean; since: string } | null>(null);

/** `datetime-local` value for a time: local wall-clock seconds. */
function localInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A time as the input shows it and as the API gets it: prefilled times keep their milliseconds until edited. */
interface TimeField {
  text: string;
  iso: string;
}

function timeField(iso: string): TimeField {
  return { text: localInput(new Date(iso)), iso };
}

function RecoveryCard({ webhook, onScheduled }: { webhook: Webhook; onScheduled: () => void }) {
  const [open, setOpen] = useState<"recover" | "replay" | null>(null);
  const prefilled = missed.value?.webhookId === webhook.id ? missed.value.since : new Date(Date.now() - 86_400_000).toISOString();
  const [since, setSince] = useState<TimeField>(timeField(prefilled));
  const [until, setUntil] = useState("");
  const edited = (text: string): TimeField => ({ text, iso: text ? new Date(text).toISOString() : "" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const sinceIso = since.iso;
      if (open === "recover") {
        const r = await api.recover(webhook.id, sinceIso, until ? new Date(until).toISOString() : undefined);
        setResult(r.recovered ? `${r.recovered} failed ${r.recovered === 1 ? "delivery is" : "deliveries are"} being sent again${r.more ? "; more remain, run it again afterwards" : ""}.` : "No failed deliveries in that window.");
      } else {
        const r = await api.replayMissing(webhook.id, sinceIso);
        setResult(r.replayed ? `${r.replayed} missed ${r.replayed === 1 ? "event is" : "events are"} being delivered in their original order${r.more ? "; more remain, run it again afterwards" : ""}.` : "No missed events since then.");
        if (missed.value?.webhookId === webhook.id) missed.value = null;
      }
      setOpen(null);
      announce(open === "recover" ? "Recovery started" : "Replay started");
      setTimeout(onScheduled, 1500);
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="After an outage" id="recovery">
      <p class="hint">
        <strong>Recover</strong> sends the deliveries that failed in a time window again, with a fresh set of retries.{" "}
        <strong>Replay missing</strong> delivers the events this webhook never received (while it was inactive or
        disabled), in their original order. Both work in the background; the log shows them as they go.
      </p>
      <div class="recovery-actions">
        <Button onClick={() => { setError(null); setOpen("recover"); }} disabled={!webhook.isActive}>Recover</Button>
        <Button onClick={() => { setError(null); setOpen("replay"); }} disabled={!webhook.isActive}>Replay missing</Button>
      </div>
      {!webhook.isActive && <p class="hint">Activate the webhook first: its deliveries would fail again at once.</p>}
      {result && <div class="notice notice-success" role="status" data-testid="recovery-result">{result}</div>}
      <ErrorNotice error={error && !open ? error : null} title="Not started" />
      <ConfirmDialog open={open !== null} title={open === "recover" ? "Recover failed deliveries" : "Replay missed events"}
        confirmLabel={open === "recover" ? "Recover" : "Replay"} busy={busy} onConfirm={run} onCancel={() => setOpen(null)}>
        <div class="field">
          <label for="recovery-since">Since</label>
          <input id="recovery-since" class="input" type="datetime-local" step={1} value={since.text} onInput={(e) => setSince(edited(e.currentTarget.value))} />
        </div>
        {open === "recover" && (
          <div class="field">
            <label for="recovery-until">Until (optional)</label>
            <input id="recovery-until" class="input" type="datetime-local" step={1} value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
          </div>
        )}
        {error && <p class="field-error" role="alert">{error.message}</p>}
      </ConfirmDialog>
    </Card>
  );
}

function ActivityCard({ id, tick, fifo }: { id: string; tick: number; fifo: boolean }) {
  const stats = useLoad(() => api.webhookStats(id), [id, tick]);
  const s = stats.data;
  return (
    <Card title="Last 24 hours" id="activity"
      actions={s && <span class="muted small">{s.total} deliveries · failure rate {percent(s.failureRate)} · avg. {duration(s.avgResponseMs)}{fifo ? ` · ${s.pending} waiting in line` : ""}</span>}>
      <ErrorNotice error={stats.error} title="Could not load the chart" />
      {s ? s.total === 0 ? <p class="muted chart-empty">No deliveries in the last 24 hours.</p> : <DeliveryChart stats={s} /> : !stats.error && <Loading />}
    </Card>
  );
}
