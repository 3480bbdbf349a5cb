import type { ErrorBody, ErrorDetail } from './types.js';

/** An answer of the API other than 2xx, or no answer at all (status 0). */
export class DraftApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: ErrorDetail[];
  /** The server's Retry-After in milliseconds (0 when it sent none). */
  readonly retryAfterMs: number;

  constructor(status: number, error?: Partial<ErrorBody> | null, retryAfterMs = 0) {
    super(error?.message || (status ? `HTTP ${status}` : 'The API could not be reached.'));
    this.name = 'DraftApiError';
    this.status = status;
    this.code = error?.code || (status ? 'http_error' : 'network_error');
    this.details = (error?.details as ErrorDetail[] | null | undefined) || [];
    this.retryAfterMs = retryAfterMs;
  }

  /**
   * Worth sending again as it was, with the same Idempotency-Key: no answer, a store down (503,
   * whose outcome may be unknown: the key makes the retry safe), a limit (429), a proxy's 5xx.
   */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }

  /** 409 already_materialized: the session's course exists or is being created. */
  get alreadyMaterialized(): boolean {
    return this.status === 409 && this.code === 'already_materialized';
  }

  /** 409 version_conflict: another tab or device saved since the version we sent. */
  get versionConflict(): boolean {
    return this.status === 409 && this.code !== 'already_materialized';
  }
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110). */
export function retryAfterMs(header: string | null, now = Date.now()): number {
  if (!header) return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? 0 : Math.max(0, date - now);
}
