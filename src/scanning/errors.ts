// Errors of the scanning API, with stable codes (registry errors keep their OCI codes).
import { PalisadeError, registerErrorCode } from '../lib/errors.js';

export const SCAN_ERROR_CODES = {
  PALISADE_BAD_REQUEST: registerErrorCode('PALISADE_BAD_REQUEST', 400),
  PALISADE_NOT_FOUND: registerErrorCode('PALISADE_NOT_FOUND', 404),
} as const;

export class ScanError extends PalisadeError {
  constructor(
    readonly code: keyof typeof SCAN_ERROR_CODES,
    message: string,
    options: { detail?: unknown } = {},
  ) {
    super(message, options);
  }
}
