/** What edgehook answers when it refuses a request: `{"error":{"code","message","field"?}}`. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string | null };
}

/**
 * A refusal by edgehook's API or its RPC binding, with the API's `code` (`validation_error`, `not_found`, …),
 * `message` and, when one field is to blame, `field`. `status` is the HTTP status (absent for an RPC call).
 */
export class EdgehookError extends Error {
  override readonly name = "EdgehookError";
  readonly status: number | undefined;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number | undefined, code: string, message: string, field?: string | null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field ?? undefined;
  }

  /** The error of an answer's status and parsed body; a body that is not edgehook's shape keeps the status. */
  static fromAnswer(status: number, body: unknown): EdgehookError {
    const error = isErrorBody(body) ? body.error : undefined;
    return new EdgehookError(status, error?.code ?? "http_error", error?.message ?? `edgehook answered ${status}`, error?.field);
  }
}

export function isErrorBody(body: unknown): body is ErrorBody {
  const error = (body as ErrorBody | null)?.error;
  return typeof error === "object" && error !== null && typeof error.code === "string" && typeof error.message === "string";
}
