// Errors of identity's own flows (enrollment, passkeys, sessions, IAM), each with a stable code.
import { PalisadeError, registerErrorCode } from '../lib/errors.js';

export const PEOPLE_ERROR_CODES = {
  PALISADE_ENROLLMENT_INVALID: registerErrorCode('PALISADE_ENROLLMENT_INVALID', 400),
  PALISADE_CEREMONY_INVALID: registerErrorCode('PALISADE_CEREMONY_INVALID', 400),
  PALISADE_PASSKEY_INVALID: registerErrorCode('PALISADE_PASSKEY_INVALID', 400),
  PALISADE_SIGNIN_FAILED: registerErrorCode('PALISADE_SIGNIN_FAILED', 401),
  PALISADE_SESSION_INVALID: registerErrorCode('PALISADE_SESSION_INVALID', 401),
  PALISADE_CSRF: registerErrorCode('PALISADE_CSRF', 403),
  PALISADE_LAST_PASSKEY: registerErrorCode('PALISADE_LAST_PASSKEY', 409),
  PALISADE_NOT_FOUND: registerErrorCode('PALISADE_NOT_FOUND', 404),
  PALISADE_BAD_REQUEST: registerErrorCode('PALISADE_BAD_REQUEST', 400),
  PALISADE_RATE_LIMITED: registerErrorCode('PALISADE_RATE_LIMITED', 429),
  PALISADE_CONFLICT: registerErrorCode('PALISADE_CONFLICT', 409),
  PALISADE_LAST_ADMIN: registerErrorCode('PALISADE_LAST_ADMIN', 409),
  PALISADE_SSO_REFUSED: registerErrorCode('PALISADE_SSO_REFUSED', 403),
  PALISADE_SSO_MFA_REQUIRED: registerErrorCode('PALISADE_SSO_MFA_REQUIRED', 403),
  PALISADE_SSO_UNAVAILABLE: registerErrorCode('PALISADE_SSO_UNAVAILABLE', 502),
} as const;

export type PeopleErrorCode = keyof typeof PEOPLE_ERROR_CODES;

export class PeopleError extends PalisadeError {
  constructor(
    readonly code: PeopleErrorCode,
    message: string,
  ) {
    super(message);
  }
}
