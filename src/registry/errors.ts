// OCI Distribution error codes (spec "Error Codes" table, plus RANGE_INVALID from the upload
// section), each registered once with the status the spec gives it.
import { PalisadeError, registerErrorCode } from '../lib/errors.js';

export const OCI_ERROR_CODES = {
  BLOB_UNKNOWN: registerErrorCode('BLOB_UNKNOWN', 404),
  BLOB_UPLOAD_INVALID: registerErrorCode('BLOB_UPLOAD_INVALID', 400),
  BLOB_UPLOAD_UNKNOWN: registerErrorCode('BLOB_UPLOAD_UNKNOWN', 404),
  DIGEST_INVALID: registerErrorCode('DIGEST_INVALID', 400),
  MANIFEST_BLOB_UNKNOWN: registerErrorCode('MANIFEST_BLOB_UNKNOWN', 400),
  MANIFEST_INVALID: registerErrorCode('MANIFEST_INVALID', 400),
  MANIFEST_UNKNOWN: registerErrorCode('MANIFEST_UNKNOWN', 404),
  NAME_INVALID: registerErrorCode('NAME_INVALID', 400),
  NAME_UNKNOWN: registerErrorCode('NAME_UNKNOWN', 404),
  SIZE_INVALID: registerErrorCode('SIZE_INVALID', 400),
  UNAUTHORIZED: registerErrorCode('UNAUTHORIZED', 401),
  DENIED: registerErrorCode('DENIED', 403),
  UNSUPPORTED: registerErrorCode('UNSUPPORTED', 405),
  TOOMANYREQUESTS: registerErrorCode('TOOMANYREQUESTS', 429),
  RANGE_INVALID: registerErrorCode('RANGE_INVALID', 416),
  PAGINATION_NUMBER_INVALID: registerErrorCode('PAGINATION_NUMBER_INVALID', 400),
} as const;

export type OciErrorCode = keyof typeof OCI_ERROR_CODES;

/** An error reported in the OCI `{"errors":[{code,message,detail}]}` body. */
export class OciError extends PalisadeError {
  readonly code: OciErrorCode;
  readonly #status: number | undefined;

  constructor(
    code: OciErrorCode,
    message: string,
    options: { detail?: unknown; headers?: Record<string, string>; status?: number } = {},
  ) {
    super(message, options);
    this.code = code;
    this.#status = options.status;
  }

  override get status(): number {
    return this.#status ?? super.status;
  }
}

export const blobUnknown = (digest: string): OciError =>
  new OciError('BLOB_UNKNOWN', 'blob unknown to registry', { detail: { digest } });
export const manifestUnknown = (reference: string): OciError =>
  new OciError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { detail: { reference } });
export const nameUnknown = (name: string): OciError =>
  new OciError('NAME_UNKNOWN', 'repository name not known to registry', { detail: { name } });
export const uploadUnknown = (id: string): OciError =>
  new OciError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry; start a new upload with POST', {
    detail: { uuid: id },
  });
