/** Thrown when a delivery fails verification. */
export declare class WebhookVerificationError extends Error {
  /** Which check failed: missing_header, duplicate_header, invalid_header, timestamp_too_old, timestamp_too_new,
   *  no_matching_signature. */
  readonly code: string;
  /** The header the failure is about, where there is one. */
  readonly header?: string;
  constructor(message: string, code?: string, header?: string);
}

export interface WebhookOptions {
  /** "raw": the secret is the key itself rather than `whsec_<base64>`. */
  format?: "raw";
  /** How far the timestamp may be from now, either way (default 300). */
  toleranceInSeconds?: number;
}

export interface WebhookRequiredHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

export type HeaderRecord = Record<string, string | string[] | undefined>;

/** A drop-in for the `standardwebhooks` package's `Webhook`. Given a `whpk_…` Ed25519 public key, it verifies
 *  Standard Webhooks `v1a` signatures (and `sign` throws: a public key cannot sign). */
export declare class Webhook {
  static prefix: string;
  static publicKeyPrefix: string;
  constructor(secret: string | Uint8Array, options?: WebhookOptions);
  /** Returns the parsed JSON body, or throws WebhookVerificationError. */
  verify(payload: string | Uint8Array | ArrayBuffer, headers: WebhookRequiredHeaders | HeaderRecord | Headers): unknown;
  /** The `webhook-signature` value (`v1,<base64>`). */
  sign(msgId: string, timestamp: Date, payload: string | Uint8Array): string;
}

/** Checks the `X-Webhook-Signature` scheme: hex HMAC-SHA256 of the raw body, keyed by the secret's UTF-8 bytes. */
export declare function verifySimple(secret: string, body: string | Uint8Array, signatureHex: string): boolean;

/** The `X-Webhook-Signature` a sender puts on a body. */
export declare function simpleSignature(secret: string, body: string | Uint8Array): string;
