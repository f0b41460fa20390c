// Identity errors: OAuth 2.0 error codes (RFC 6749 §5.2, RFC 8628 §3.5, RFC 6750 §3.1) with the
// status each spec gives, rendered as the OAuth `{error, error_description}` body; and the
// reason a presented token was refused, which callers turn into a 401 of their own protocol.
import { PalisadeError, registerErrorCode } from '../lib/errors.js';

export const OAUTH_ERROR_CODES = {
  invalid_request: registerErrorCode('invalid_request', 400),
  invalid_client: registerErrorCode('invalid_client', 401),
  invalid_grant: registerErrorCode('invalid_grant', 400),
  unauthorized_client: registerErrorCode('unauthorized_client', 400),
  unsupported_grant_type: registerErrorCode('unsupported_grant_type', 400),
  invalid_scope: registerErrorCode('invalid_scope', 400),
  access_denied: registerErrorCode('access_denied', 403),
  authorization_pending: registerErrorCode('authorization_pending', 400),
  slow_down: registerErrorCode('slow_down', 400),
  expired_token: registerErrorCode('expired_token', 400),
  invalid_token: registerErrorCode('invalid_token', 401),
  insufficient_scope: registerErrorCode('insufficient_scope', 403),
} as const;

export type OAuthErrorCode = keyof typeof OAUTH_ERROR_CODES;

export class OAuthError extends PalisadeError {
  readonly code: OAuthErrorCode;

  constructor(code: OAuthErrorCode, message: string, options: { headers?: Record<string, string> } = {}) {
    super(message, options);
    this.code = code;
  }

  override body(): Record<string, unknown> {
    return { error: this.code, error_description: this.message };
  }
}

/** A bearer token that did not verify; the message is safe to show (it names no secret). */
export class InvalidTokenError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InvalidTokenError';
  }
}
