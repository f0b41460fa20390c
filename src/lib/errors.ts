// Base class for every error Palisade reports to a client. Each error has a stable string code
// (from the relevant spec, or PALISADE_*) registered once with its HTTP status; the HTTP edge is
// the only place that turns one into a response. Messages are written for the user and never
// contain stack traces, SQL, file paths or secrets.

const statusByCode = new Map<string, number>();

/** Registers a stable error code with its HTTP status; codes are registered exactly once. */
export function registerErrorCode(code: string, status: number): string {
  const existing = statusByCode.get(code);
  if (existing !== undefined && existing !== status) {
    throw new Error(`error code ${code} registered twice with different statuses`);
  }
  statusByCode.set(code, status);
  return code;
}

export function statusForCode(code: string): number {
  return statusByCode.get(code) ?? 500;
}

export abstract class PalisadeError extends Error {
  abstract readonly code: string;
  readonly detail: unknown;
  /** Extra response headers the edge must send with this error (e.g. Range on a 416). */
  readonly headers: Record<string, string>;

  constructor(message: string, options: { detail?: unknown; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = new.target.name;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return statusForCode(this.code);
  }

  /** The JSON body the edge sends: the OCI-style `{errors:[…]}` unless a protocol needs another. */
  body(): Record<string, unknown> {
    return {
      errors: [
        {
          code: this.code,
          message: this.message,
          ...(this.detail === undefined ? {} : { detail: this.detail }),
        },
      ],
    };
  }
}

export const INTERNAL_ERROR = registerErrorCode('PALISADE_INTERNAL', 500);
export const INVALID_CONFIG = registerErrorCode('PALISADE_INVALID_CONFIG', 500);
export const UNAVAILABLE = registerErrorCode('PALISADE_UNAVAILABLE', 503);

export class ConfigError extends PalisadeError {
  readonly code = INVALID_CONFIG;
}
