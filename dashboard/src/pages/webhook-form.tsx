// Add / edit a webhook. The server validates; its errors appear next to the field they name.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, type FilterPreviewAnswer, type Webhook, type WebhookInput } from "../api";
import { href, navigate } from "../router";
import { EventPicker } from "../components/event-picker";
import { missed } from "./webhook-detail";
import { destinationText } from "./webhooks";
import { announce, asApiError, Button, Code, ConfirmDialog, described, ErrorNotice, Field, Link, Loading, useLoad } from "../components/ui";
import { indentJson, subscribedTo } from "../format";

interface HeaderRow {
  key: number;
  name: string;
  value: string;
}

interface FormState {
  signature: "hmac-sha256" | "ed25519";
  ordering: "none" | "fifo";
  /** Empty: no limit. */
  rateLimit: string;
  name: string;
  description: string;
  url: string;
  events: string[];
  headers: HeaderRow[];
  retryAttempts: string;
  retryDelaySeconds: string;
  isActive: boolean;
  /** The payload filter as JSON text; empty: none. */
  filter: string;
  validateSchema: boolean;
  /** The transformation's jq program; empty: none (the event is the body). */
  transformation: string;
  /** `poll`: no URL; a reader fetches the events with a token. Chosen at creation. */
  destination: Webhook["destination"]["type"];
  /** An AWS destination's fields (the secret key is write-only: never shown again). */
  aws: AwsForm;
}

let rowKeys = 0;

function fromWebhook(w: Webhook | undefined): FormState {
  return {
    signature: w?.signature ?? "hmac-sha256",
    ordering: w?.ordering ?? "none",
    rateLimit: w?.rateLimitPerSecond == null ? "" : String(w.rateLimitPerSecond),
    name: w?.name ?? "",
    description: w?.description ?? "",
    url: w?.url ?? "",
    events: w?.events ?? [],
    headers: Object.entries(w?.headers ?? {}).map(([name, value]) => ({ key: rowKeys++, name, value: String(value) })),
    retryAttempts: String(w?.retryAttempts ?? 3),
    retryDelaySeconds: String(w?.retryDelaySeconds ?? 60),
    isActive: w?.isActive ?? true,
    filter: w?.filter ? JSON.stringify(w.filter, null, 2) : "",
    validateSchema: w?.validateSchema ?? false,
    transformation: w?.transformation?.jq ?? "",
    destination: w?.destination.type ?? "http",
    aws: {
      queueUrl: w?.destination.queueUrl ?? "",
      topicArn: w?.destination.topicArn ?? "",
      eventBusName: w?.destination.eventBusName ?? "",
      source: w?.destination.source ?? "",
      bucket: w?.destination.bucket ?? "",
      namespace: w?.destination.namespace ?? "",
      entity: w?.destination.entity ?? "",
      keyName: w?.destination.keyName ?? "",
      key: "",
      topic: w?.destination.topic ?? "",
      serviceAccount: "",
      prefix: w?.destination.prefix ?? "",
      region: w?.destination.region ?? "",
      accessKeyId: "",
      secretAccessKey: "",
      endpoint: w?.destination.endpoint ?? "",
    },
  };
}

const DESTINATION_HINTS: Record<FormState["destination"], string> = {
  http: "Each event is POSTed, signed, to your URL.",
  poll: "Polling needs no public address: your system fetches its events, in order, with a token.",
  aws_sqs: "Each event becomes a message in your queue: the same body, its webhook-* values as message attributes.",
  aws_sns: "Each event is published to your topic: the same body, its webhook-* values as message attributes.",
  aws_eventbridge: "Each event is put on your bus, its detail {payload, webhook: {id, timestamp, signature}}.",
  s3: "Each event becomes one object: the same body, its webhook-* values as object metadata.",
  azure_service_bus: "Each event becomes a message: the same body, its webhook-* values as custom properties.",
  gcp_pubsub: "Each event is published: the same body as its data, its webhook-* values as attributes.",
};

type AwsForm = {
  queueUrl: string; topicArn: string; eventBusName: string; source: string; bucket: string; prefix: string;
  namespace: string; entity: string; keyName: string; key: string; topic: string; serviceAccount: string;
  region: string; accessKeyId: string; secretAccessKey: string; endpoint: string;
};
type AwsKey = keyof AwsForm;

/** Each AWS destination's own fields: name, label, hint, placeholder. */
const AWS_FIELDS: Partial<Record<FormState["destination"], [AwsKey, string, string, string][]>> = {
  aws_sqs: [["queueUrl", "Queue URL", "https://sqs.<region>.amazonaws.com/<account>/<queue>", "https://sqs.us-east-1.amazonaws.com/123456789012/orders"]],
  aws_sns: [["topicArn", "Topic ARN", "The topic's ARN.", "arn:aws:sns:us-east-1:123456789012:deals"]],
  aws_eventbridge: [
    ["eventBusName", "Event bus", "The bus's name or ARN.", "default"],
    ["source", "Source", "The events' source, for your rules to match (not aws.…).", "com.example.crm"],
  ],
  s3: [
    ["bucket", "Bucket", "One object per event: <prefix>/<date>/<event id>.json.", "crm-events"],
    ["prefix", "Prefix (optional)", "A folder for the objects.", "webhooks/crm"],
  ],
  gcp_pubsub: [["topic", "Topic", "projects/<project>/topics/<topic>", "projects/acme/topics/crm-events"]],
  azure_service_bus: [
    ["namespace", "Namespace", "<namespace>.servicebus.windows.net", "contoso"],
    ["entity", "Queue or topic", "Where the messages go.", "orders"],
    ["keyName", "Key name", "A shared access policy allowed to Send.", "RootManageSharedAccessKey"],
  ],
};

/** The destination object of a service type, with only that type's fields. */
function awsDestination(s: FormState) {
  const own = Object.fromEntries((AWS_FIELDS[s.destination] ?? []).map(([key]) => [key, s.aws[key].trim()]));
  if (s.destination === "azure_service_bus") {
    return { type: s.destination, ...own, key: s.aws.key, endpoint: s.aws.endpoint.trim() || undefined };
  }
  if (s.destination === "gcp_pubsub") {
    let serviceAccount: Record<string, unknown>;
    try {
      serviceAccount = JSON.parse(s.aws.serviceAccount);
    } catch (e) {
      throw new ApiError(400, "validation_error", `The service account key is not valid JSON: ${(e as Error).message}`, "destination.serviceAccount");
    }
    return { type: s.destination, ...own, serviceAccount, endpoint: s.aws.endpoint.trim() || undefined };
  }
  const { region, accessKeyId, secretAccessKey, endpoint } = s.aws;
  return { type: s.destination, ...own, region: region.trim(), accessKeyId: accessKeyId.trim(), secretAccessKey, endpoint: endpoint.trim() || undefined };
}

/** The form's fields, named as the API names them in `error.field`. */
type FieldName =
  | "name" | "description" | "url" | "events" | "headers" | "retryAttempts" | "retryDelaySeconds" | "isActive" | "ordering"
  | "rateLimitPerSecond" | "filter" | "validateSchema" | "destination" | "transformation";
const FIELDS: FieldName[] = [
  "name", "description", "url", "events", "headers", "retryAttempts", "retryDelaySeconds", "isActive", "ordering", "rateLimitPerSecond",
  "filter", "validateSchema", "destination", "transformation",
];

/** The filter field's JSON, or a refusal naming the field as the API would. */
function parseFilter(text: string): Record<string, unknown> | null {
  if (text.trim() === "") return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, "validation_error", `The filter is not valid JSON: ${(e as Error).message}`, "filter");
  }
}

function fieldOf(error: ApiError): FieldName | null {
  const field = error.field ?? "";
  const root = field.split(/[.[]/)[0];
  return (FIELDS as string[]).includes(root) ? (root as FieldName) : null;
}

function toInput(s: FormState, creating: boolean): WebhookInput {
  const number = (v: string) => (v.trim() === "" ? NaN : Number(v));
  const destination = AWS_FIELDS[s.destination] ? awsDestination(s) : { type: s.destination };
  return {
    ...(creating ? { signature: s.signature, destination } : {}),
    name: s.name.trim(),
    description: s.description.trim() === "" ? null : s.description,
    ...(s.destination === "http" ? { url: s.url.trim() } : {}),
    events: s.events,
    headers: Object.fromEntries(s.headers.filter((h) => h.name.trim() || h.value).map((h) => [h.name.trim(), h.value])),
    retryAttempts: number(s.retryAttempts),
    retryDelaySeconds: number(s.retryDelaySeconds),
    isActive: s.isActive,
    ordering: s.ordering,
    rateLimitPerSecond: s.rateLimit.trim() === "" ? null : number(s.rateLimit),
    filter: parseFilter(s.filter),
    validateSchema: s.validateSchema,
    transformation: s.transformation.trim() === "" ? null : { jq: s.transformation },
  };
}

export function WebhookForm({ id }: { id?: string }) {
  const catalogue = useLoad(() => api.catalogue(), []);
  const existing = useLoad(() => (id ? api.webhook(id) : Promise.resolve(undefined)), [id]);
  const [form, setForm] = useState<FormState | null>(id ? null : fromWebhook(undefined));
  const [errors, setErrors] = useState<Partial<Record<FieldName, string>>>({});
  const [formError, setFormError] = useState<ApiError | null>(null);
  const [saving, setSaving] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [deleting, setDeleting] = useState(false);

  useEffect(() => {
    if (id && existing.data && !form) setForm(fromWebhook(existing.data));
  }, [existing.data]);

  if (existing.error) return <ErrorNotice error={existing.error} title="Could not load this webhook" />;
  if (!form || catalogue.loading) return <Loading />;

  const update = <K extends keyof FormState>(key: K, value: FormState[K]) => {
    setForm({ ...form, [key]: value });
    if (errors[key as FieldName]) setErrors({ ...errors, [key]: undefined });
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setSaving(true);
    setErrors({});
    setFormError(null);
    try {
      const input = toInput(form, !id);
      const saved = id ? await api.update(id, input) : await api.create(input);
      if ("missedEvents" in saved && saved.missedEvents) missed.value = { webhookId: saved.id, ...saved.missedEvents };
      announce(id ? "Webhook saved" : "Webhook created");
      navigate(href("webhooks", saved.id));
    } catch (e) {
      const error = asApiError(e);
      const field = fieldOf(error);
      if (field) {
        setErrors({ [field]: error.message });
        requestAnimationFrame(() => document.querySelector<HTMLElement>(`[aria-invalid="true"], #field-${field} input`)?.focus());
      } else {
        setFormError(error);
      }
    } finally {
      setSaving(false);
    }
  };

  const remove = async () => {
    if (!id) return;
    setDeleting(true);
    try {
      await api.remove(id);
      announce("Webhook deleted");
      navigate(href());
    } catch (e) {
      setConfirmDelete(false);
      setFormError(asApiError(e));
    } finally {
      setDeleting(false);
    }
  };

  const title = id ? `Edit ${existing.data?.name ?? "webhook"}` : "Add webhook";
  return (
    <>
      <nav class="breadcrumbs" aria-label="Breadcrumb">
        <Link href={href()}>Webhooks</Link>
        {id && existing.data && <Link href={href("webhooks", id)}>{existing.data.name}</Link>}
      </nav>
      <div class="page-header">
        <h1>{title}</h1>
      </div>
      <form class="card form" onSubmit={submit} noValidate>
        <ErrorNotice error={formError} title={id ? "The webhook was not saved" : "The webhook was not created"} />
        <Field label="Name" id="field-name" error={errors.name}>
          <input class="input" {...described("field-name", errors.name)} value={form.name} maxLength={100} autoComplete="off"
            onInput={(e) => update("name", e.currentTarget.value)} />
        </Field>
        <Field label="Description" id="field-description" error={errors.description} hint="Optional: what this endpoint does.">
          <textarea class="input" rows={2} {...described("field-description", errors.description, true)} value={form.description}
            onInput={(e) => update("description", e.currentTarget.value)} />
        </Field>
        <Field label="Destination" id="field-destination" error={errors.destination}
          hint={id ? "Chosen when the webhook was created." : DESTINATION_HINTS[form.destination]}>
          <select class="input" {...described("field-destination", errors.destination, true)} value={form.destination} disabled={!!id}
            onChange={(e) => update("destination", e.currentTarget.value as FormState["destination"])}>
            <option value="http">Send to a URL (HTTPS POST)</option>
            <option value="poll">Polling endpoint (no public URL)</option>
            <option value="aws_sqs">Amazon SQS queue</option>
            <option value="aws_sns">Amazon SNS topic</option>
            <option value="aws_eventbridge">Amazon EventBridge bus</option>
            <option value="s3">S3 bucket (AWS, R2 or S3-compatible)</option>
            <option value="azure_service_bus">Azure Service Bus queue or topic</option>
            <option value="gcp_pubsub">Google Cloud Pub/Sub topic</option>
          </select>
        </Field>
        {AWS_FIELDS[form.destination] && !id && (
          <AwsFields kind={form.destination} value={form.aws} error={formError?.field} onChange={(aws) => update("aws", aws)} />
        )}
        {AWS_FIELDS[form.destination] && id && (
          <p class="hint">Sends to {existing.data ? destinationText(existing.data) : "its service"}; its keys are sealed and never shown.</p>
        )}
        {form.destination === "http" && (
          <Field label="URL" id="field-url" error={errors.url} hint="An https:// address on the public internet that accepts POST requests.">
            <input class="input" type="url" inputMode="url" placeholder="https://example.com/webhooks" autoComplete="off"
              {...described("field-url", errors.url, true)} value={form.url} onInput={(e) => update("url", e.currentTarget.value)} />
          </Field>
        )}
        <div class={`field ${errors.events ? "field-invalid" : ""}`} id="field-events">
          <span class="label" id="events-label">Events</span>
          {catalogue.data ? (
            <EventPicker catalogue={catalogue.data} value={form.events} onChange={(v) => update("events", v)}
              invalid={!!errors.events} describedBy={errors.events ? "field-events-error" : undefined} />
          ) : (
            <ErrorNotice error={catalogue.error} title="Could not load the event types" />
          )}
          {errors.events && <p class="field-error" id="field-events-error" role="alert">{errors.events}</p>}
        </div>
        <Field label="Signature" id="field-signature" hint={id ? "Chosen when the webhook was created." : "HMAC shares a secret with your server; Ed25519 gives it a public key that cannot sign."}>
          <select class="input" {...described("field-signature", undefined, true)} value={form.signature} disabled={!!id}
            onChange={(e) => update("signature", e.currentTarget.value as FormState["signature"])}>
            <option value="hmac-sha256">HMAC-SHA256 (shared secret, Standard Webhooks v1)</option>
            <option value="ed25519">Ed25519 (public key, Standard Webhooks v1a)</option>
          </select>
        </Field>
        <HeadersField rows={form.headers} error={errors.headers} onChange={(rows) => update("headers", rows)} />
        <div class="field-row">
          <Field label="Retry attempts" id="field-retry-attempts" error={errors.retryAttempts} hint="0 to 10 retries after the first attempt.">
            <input class="input" type="number" min={0} max={10} step={1} {...described("field-retry-attempts", errors.retryAttempts, true)}
              value={form.retryAttempts} onInput={(e) => update("retryAttempts", e.currentTarget.value)} />
          </Field>
          <Field label="Retry delay (seconds)" id="field-retry-delay" error={errors.retryDelaySeconds} hint="The first wait; each retry waits longer.">
            <input class="input" type="number" min={1} max={86400} step={1} {...described("field-retry-delay", errors.retryDelaySeconds, true)}
              value={form.retryDelaySeconds} onInput={(e) => update("retryDelaySeconds", e.currentTarget.value)} />
          </Field>
        </div>
        <Field label="Ordering" id="field-ordering" error={errors.ordering}
          hint="In order: each delivery waits until the one before it succeeded or failed for good; a failing delivery holds up the ones behind it while it retries.">
          <select class="input" {...described("field-ordering", errors.ordering, true)} value={form.ordering}
            onChange={(e) => update("ordering", e.currentTarget.value as FormState["ordering"])}>
            <option value="none">Any order (fastest)</option>
            <option value="fifo">In order, one at a time (FIFO)</option>
          </select>
        </Field>
        <Field label="Rate limit (requests per second)" id="field-rate-limit" error={errors.rateLimitPerSecond}
          hint="Empty: no limit. At most this many deliveries start in any one second; the rest wait without using their retries.">
          <input class="input" type="number" min={1} max={10000} step={1} placeholder="No limit"
            {...described("field-rate-limit", errors.rateLimitPerSecond, true)}
            value={form.rateLimit} onInput={(e) => update("rateLimit", e.currentTarget.value)} />
        </Field>
        <Field label="Payload filter" id="field-filter" error={errors.filter}
          hint={<>Optional. Only events that match are delivered, e.g. <code>{'{"data": {"amount": {"$gte": 10000}}}'}</code>. Operators: $eq $neq $gt $gte $lt $lte $in $nin $startsWith $exist $and $or $not. Empty: every event of the chosen types.</>}>
          <textarea class="input mono" rows={4} spellcheck={false} placeholder='{"data": {"stage": "won"}}'
            {...described("field-filter", errors.filter, true)} value={form.filter}
            onInput={(e) => update("filter", e.currentTarget.value)} />
        </Field>
        <FilterPreview text={form.filter} events={form.events} onError={(message) => setErrors({ ...errors, filter: message })} />
        <TransformationField value={form.transformation} events={form.events} error={errors.transformation}
          onChange={(v) => update("transformation", v)} onError={(message) => setErrors({ ...errors, transformation: message })} />
        <div class={`field ${errors.validateSchema ? "field-invalid" : ""}`}>
          <label class="check check-strong">
            <input type="checkbox" checked={form.validateSchema} onChange={(e) => update("validateSchema", e.currentTarget.checked)} />
            Validate events against their schema
          </label>
          <p class="hint">
            Events of a type with a JSON Schema in the <Link href={href("event-types")}>event catalogue</Link> are checked when
            they are published; one that does not match is refused, so it never reaches you.
          </p>
          {errors.validateSchema && <p class="field-error" role="alert">{errors.validateSchema}</p>}
        </div>
        <div class={`field ${errors.isActive ? "field-invalid" : ""}`}>
          <label class="check check-strong">
            <input type="checkbox" checked={form.isActive} onChange={(e) => update("isActive", e.currentTarget.checked)} />
            Active
          </label>
          <p class="hint">Inactive webhooks receive nothing until you activate them again.</p>
          {errors.isActive && <p class="field-error" role="alert">{errors.isActive}</p>}
        </div>
        <div class="form-actions">
          {id && (
            <Button variant="danger" class="push-left" onClick={() => setConfirmDelete(true)}>
              Delete
            </Button>
          )}
          <Button onClick={() => navigate(id ? href("webhooks", id) : href())}>Cancel</Button>
          <Button variant="primary" type="submit" busy={saving} busyLabel="Saving…">
            Save
          </Button>
        </div>
      </form>
      <ConfirmDialog open={confirmDelete} title="Delete this webhook?" confirmLabel="Delete webhook" danger busy={deleting}
        onConfirm={remove} onCancel={() => setConfirmDelete(false)}>
        <p>
          <strong>{existing.data?.name}</strong> stops receiving events at once, and its delivery log is deleted. This cannot be undone.
        </p>
      </ConfirmDialog>
    </>
  );
}

/** A preview's answer and its runner: busy while it runs; an error about `field` goes to that field, any other shows. */
function usePreview<T>(field: string, onError: (message: string) => void, answer: () => Promise<T>) {
  const [preview, setPreview] = useState<T | null>(null);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<ApiError | null>(null);
  const run = async () => {
    setBusy(true);
    setFailure(null);
    try {
      setPreview(await answer());
    } catch (e) {
      const error = asApiError(e);
      setPreview(null);
      if (error.field?.startsWith(field)) onError(error.message);
      else setFailure(error);
    } finally {
      setBusy(false);
    }
  };
  return { preview, busy, failure, run };
}

/** "Try it on the last events": which of the organization's last events of the chosen types the filter lets through. */
function FilterPreview({ text, events, onError }: { text: string; events: string[]; onError: (message: string) => void }) {
  const { preview, busy, failure, run } = usePreview<FilterPreviewAnswer>("filter", onError, () =>
    api.previewFilter({ filter: parseFilter(text) ?? {}, ...(events.length ? { events } : {}) }),
  );
  return (
    <div class="filter-preview">
      <Button onClick={run} busy={busy} busyLabel="Trying…">Try it on the last events</Button>
      {failure && <ErrorNotice error={failure} title="Could not try the filter" />}
      {preview && (
        <div role="status" data-testid="filter-preview">
          <p class="hint">
            {preview.data.length === 0
              ? "No recent events of these types to try it on."
              : `${preview.matched} of the last ${preview.data.length} events match.`}
          </p>
          {preview.data.length > 0 && (
            <ul class="preview-list">
              {preview.data.map((e) => (
                <li key={e.eventId}>
                  <span class={`badge ${e.matches ? "badge-success" : "badge-neutral"}`}>{e.matches ? "Delivered" : "Left out"}</span>
                  <code>{e.type}</code> <span class="muted">{e.eventId}</span>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}

/** The transformation: a preset or a program of one's own, and its output on a sample event. */
function TransformationField({ value, events, error, onChange, onError }: {
  value: string; events: string[]; error?: string; onChange: (v: string) => void; onError: (message: string) => void;
}) {
  const presets = useLoad(() => api.transformationPresets(), []);
  const chosen = value.trim() === "" ? "" : presets.data?.data.find((p) => p.jq === value)?.name ?? "custom";
  const choose = (name: string) => {
    if (name === "") onChange("");
    else if (name !== "custom") onChange(presets.data?.data.find((p) => p.name === name)?.jq ?? value);
  };
  return (
    <>
      <Field label="Transformation" id="field-transformation-preset"
        hint="Optional. A jq program that makes the body sent from each event, for a receiver that expects its own shape (Slack, Discord, Microsoft Teams). The body is signed and logged as sent; if the program fails, the attempt fails with the reason and the event is not sent instead.">
        <select class="input" {...described("field-transformation-preset", undefined, true)} value={chosen}
          onChange={(e) => choose(e.currentTarget.value)}>
          <option value="">None: send the event as it is</option>
          {presets.data?.data.map((p) => <option key={p.name} value={p.name}>{p.title}</option>)}
          <option value="custom">My own jq program</option>
        </select>
      </Field>
      {(value.trim() !== "" || chosen === "custom") && (
        <Field label="jq program" id="field-transformation" error={error}>
          <textarea class="input mono" rows={8} spellcheck={false} placeholder='{text: "\(.type): \(.data.name)"}'
            {...described("field-transformation", error, true)} value={value} onInput={(e) => onChange(e.currentTarget.value)} />
        </Field>
      )}
      {value.trim() !== "" && <TransformationPreview program={value} events={events} onError={onError} />}
    </>
  );
}

/** The program's output on a sample event: the catalogue's example of the first chosen type. */
function TransformationPreview({ program, events, onError }: { program: string; events: string[]; onError: (message: string) => void }) {
  const { preview, busy, failure, run } = usePreview("transformation", onError, async () => {
    const types = (await api.eventTypes()).data;
    const type = types.find((t) => (events.length === 0 || subscribedTo(events, t.name)) && !t.name.startsWith("edgehook.")) ?? types[0];
    const event = {
      id: "evt_sample", type: type?.name ?? "sample.event", timestamp: new Date().toISOString(),
      organizationId: "org_sample", deliveryId: "dlv_sample", data: type?.example ?? {},
    };
    return { type: event.type, ...(await api.previewTransformation({ transformation: { jq: program }, event })) };
  });
  return (
    <div class="filter-preview">
      <Button onClick={run} busy={busy} busyLabel="Running…">Preview on a sample event</Button>
      {failure && <ErrorNotice error={failure} title="Could not run the program" />}
      {preview && (
        <div role="status" data-testid="transformation-preview">
          <p class="hint">
            On the catalogue's example of <code>{preview.type}</code> ({preview.steps} evaluation steps of 10,000):
          </p>
          {preview.body !== null
            ? <Code text={indentJson(preview.body)} label="Body the program makes" />
            : <p class="field-error" role="alert">{preview.error}</p>}
        </div>
      )}
    </div>
  );
}

function HeadersField({ rows, error, onChange }: { rows: HeaderRow[]; error?: string; onChange: (rows: HeaderRow[]) => void }) {
  const set = (key: number, part: "name" | "value", text: string) =>
    onChange(rows.map((r) => (r.key === key ? { ...r, [part]: text } : r)));
  return (
    <fieldset class={`field ${error ? "field-invalid" : ""}`} id="field-headers" aria-describedby={error ? "field-headers-error" : "field-headers-hint"}>
      <legend class="label">Custom headers</legend>
      <p class="hint" id="field-headers-hint">Sent with every request, for example an authorization header your server expects.</p>
      {rows.map((row, i) => (
        <div class="header-row" key={row.key}>
          <input class="input" placeholder="Header name" aria-label={`Header ${i + 1} name`} value={row.name}
            aria-invalid={error ? "true" : undefined} onInput={(e) => set(row.key, "name", e.currentTarget.value)} />
          <input class="input" placeholder="Value" aria-label={`Header ${i + 1} value`} value={row.value}
            onInput={(e) => set(row.key, "value", e.currentTarget.value)} />
          <Button variant="ghost" aria-label={`Remove header ${i + 1}`} onClick={() => onChange(rows.filter((r) => r.key !== row.key))}>
            Remove
          </Button>
        </div>
      ))}
      <Button variant="ghost" class="add-row" onClick={() => onChange([...rows, { key: rowKeys++, name: "", value: "" }])}>
        + Add header
      </Button>
      {error && <p class="field-error" id="field-headers-error" role="alert">{error}</p>}
    </fieldset>
  );
}

/** An AWS destination's fields; the secret key is a password field and is never shown again once saved. */
function AwsFields({ kind, value, error, onChange }: { kind: FormState["destination"]; value: AwsForm; error?: string | null; onChange: (v: AwsForm) => void }) {
  const field = (key: AwsKey, label: string, hint: string, props: Record<string, unknown> = {}) => {
    const id = `field-aws-${key}`;
    const message = error === `destination.${key}` ? "Check this field (see the message above)." : undefined;
    return (
      <Field label={label} id={id} error={message} hint={hint} key={key}>
        <input class="input" autoComplete="off" spellcheck={false} {...described(id, message, true)} {...props}
          value={value[key]} onInput={(e) => onChange({ ...value, [key]: e.currentTarget.value })} />
      </Field>
    );
  };
  const titles: Partial<Record<FormState["destination"], string>> = { aws_sqs: "Amazon SQS queue", aws_sns: "Amazon SNS topic", aws_eventbridge: "Amazon EventBridge bus", s3: "S3 bucket", azure_service_bus: "Azure Service Bus", gcp_pubsub: "Google Cloud Pub/Sub" };
  return (
    <fieldset class="subfields">
      <legend>{titles[kind]}</legend>
      {(AWS_FIELDS[kind] ?? []).map(([key, label, hint, placeholder]) => field(key, label, hint, { placeholder }))}
      {kind === "azure_service_bus" ? (
        field("key", "Key", "The policy's primary key. Stored encrypted; never shown again.", { type: "password" })
      ) : kind === "gcp_pubsub" ? (
        <Field label="Service account key (JSON)" id="field-aws-serviceAccount"
          hint="The key file as downloaded, for an account allowed to publish. Stored encrypted; never shown again.">
          <textarea class="input mono" rows={4} spellcheck={false} autoComplete="off" value={value.serviceAccount}
            {...described("field-aws-serviceAccount", undefined, true)}
            onInput={(e) => onChange({ ...value, serviceAccount: e.currentTarget.value })} />
        </Field>
      ) : (
        <>
          {field("region", "Region", "Its AWS region.", { placeholder: "us-east-1" })}
          {field("accessKeyId", "Access key ID", "An IAM user's key allowed to send there, and nothing more.", { placeholder: "AKIA…" })}
          {field("secretAccessKey", "Secret access key", "Stored encrypted; never shown again.", { type: "password" })}
        </>
      )}
      {field("endpoint", "Endpoint (optional)", "Another compatible endpoint; empty: AWS's.", { type: "url" })}
    </fieldset>
  );
}
