// The dashboard's building blocks. Everything they render from the API goes through JSX text, which Preact sets as
// text nodes: a name, a URL or a response body can never become markup.
import type { ButtonHTMLAttributes, ComponentChildren } from "preact";
import { useEffect, useRef, useState, useCallback } from "preact/hooks";
import { signal } from "@preact/signals";
import { ApiError } from "../api";
import { onLinkClick } from "../router";
import { pageSummary } from "../format";

// ---- loading data ---------------------------------------------------------------------------------------------

export interface Loaded<T> {
  data?: T;
  error?: ApiError;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` on mount and whenever `deps` change; `reload` runs it again and keeps the old data meanwhile. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error: asApiError(error), loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { ...state, reload };
}

export function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError(0, "client_error", String(error));
}

// ---- outcomes -------------------------------------------------------------------------------------------------

/** The latest outcome of an action, announced politely to screen readers and shown in the corner. */
export const toast = signal<{ text: string; kind: "success" | "error" } | null>(null);
let toastTimer: ReturnType<typeof setTimeout> | undefined;

export function announce(text: string, kind: "success" | "error" = "success") {
  toast.value = { text, kind };
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (toast.value = null), 6000);
}

export function Toast() {
  const t = toast.value;
  return (
    <div class="toast-region" role="status" aria-live="polite">
      {t && <div class={`toast toast-${t.kind}`}>{t.text}</div>}
    </div>
  );
}

/** Copies `text` and says so; when the page may not use the clipboard, announces `blocked` and answers false. */
export async function copyText(text: string, what: string, blocked: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    announce(`${what} copied`);
    return true;
  } catch {
    announce(blocked, "error");
    return false;
  }
}

export function ErrorNotice({ error, title }: { error: ApiError | undefined | null; title?: string }) {
  if (!error) return null;
  return (
    <div class="notice notice-error" role="alert">
      <strong>{title ?? "Something went wrong"}</strong>
      <span>{error.message}</span>
    </div>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <div class="loading" role="status">
      <span class="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      {children}
    </div>
  );
}

// ---- controls -------------------------------------------------------------------------------------------------

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: "primary" | "secondary" | "danger" | "ghost";
  busy?: boolean;
  busyLabel?: string;
  type?: "button" | "submit";
  disabled?: boolean;
};

export function Button({ variant = "secondary", busy, busyLabel, children, type = "button", disabled, ...rest }: ButtonProps) {
  return (
    <button
      {...rest}
      type={type}
      class={`btn btn-${variant} ${rest.class ?? ""}`}
      disabled={disabled || busy}
      aria-busy={busy ? "true" : undefined}
    >
      {busy && <span class="spinner spinner-small" aria-hidden="true" />}
      {busy && busyLabel ? busyLabel : children}
    </button>
  );
}

export function Link({ href, children, class: className, title, current }: { href: string; children: ComponentChildren; class?: string; title?: string; current?: boolean }) {
  return (
    <a href={href} class={className} title={title} onClick={onLinkClick} aria-current={current ? "page" : undefined}>
      {children}
    </a>
  );
}

export function Field({
  label,
  id,
  error,
  hint,
  children,
}: {
  label: string;
  id: string;
  error?: string;
  hint?: ComponentChildren;
  children: ComponentChildren;
}) {
  return (
    <div class={`field ${error ? "field-invalid" : ""}`}>
      <label for={id}>{label}</label>
      {children}
      {hint && !error && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p class="field-error" id={`${id}-error`} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** Attributes that tie a control to its field's hint or error. */
export function described(id: string, error?: string, hint?: boolean) {
  return {
    id,
    "aria-invalid": error ? ("true" as const) : undefined,
    "aria-describedby": error ? `${id}-error` : hint ? `${id}-hint` : undefined,
  };
}

export type Tone = "success" | "danger" | "warning" | "neutral" | "info";

export function Badge({ tone, children, title }: { tone: Tone; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

export function StatusBadge({ status }: { status: "pending" | "succeeded" | "failed" }) {
  const tone: Tone = status === "succeeded" ? "success" : status === "failed" ? "danger" : "warning";
  const label = status === "succeeded" ? "Succeeded" : status === "failed" ? "Failed" : "Pending";
  return <Badge tone={tone}>{label}</Badge>;
}

/** A modal confirmation on the native <dialog>: focus moves into it, Escape cancels, focus returns afterwards. */
export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  danger,
  busy,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useRef(`dialog-${Math.random().toString(36).slice(2)}`).current;
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) onCancel();
      }}
    >
      <h2 id={titleId}>{title}</h2>
      <div class="dialog-body">{children}</div>
      <div class="dialog-actions">
        <Button onClick={onCancel} disabled={busy}>
          Cancel
        </Button>
        <Button variant={danger ? "danger" : "primary"} onClick={onConfirm} busy={busy}>
          {confirmLabel}
        </Button>
      </div>
    </dialog>
  );
}

/** Previous / Next over `total` items (`capped`: more match than were counted), `pageSize` a page, `shown` on this
 * one; `nouns` names one item and several. */
export function Pager({ page, total, capped, pageSize, shown, nouns, label, onPage }: {
  page: number;
  total: number;
  capped: boolean;
  pageSize: number;
  shown: number;
  nouns: [string, string];
  label: string;
  onPage: (page: number) => void;
}) {
  const { text, hasNext } = pageSummary({ page, total, capped, pageSize, shown }, nouns);
  return (
    <nav class="pager" aria-label={label}>
      <Button variant="ghost" onClick={() => onPage(page - 1)} disabled={page <= 1}>Previous</Button>
      <span>{text}</span>
      <Button variant="ghost" onClick={() => onPage(page + 1)} disabled={!hasNext}>Next</Button>
    </nav>
  );
}

/** Text in a scrollable, monospaced block. */
export function Code({ text, label }: { text: string; label?: string }) {
  return (
    <pre class="code" tabIndex={0} aria-label={label}>
      <code>{text}</code>
    </pre>
  );
}

export function Card({ title, actions, children, id }: { title?: string; actions?: ComponentChildren; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-labelledby={title && id ? `${id}-title` : undefined}>
      {(title || actions) && (
        <header class="card-header">
          {title && <h2 id={id ? `${id}-title` : undefined}>{title}</h2>}
          {actions && <div class="card-actions">{actions}</div>}
        </header>
      )}
      {children}
    </section>
  );
}
