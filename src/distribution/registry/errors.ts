import { type ErrorCode, StrataError } from '../../errors.js';

/** The error codes of the OCI distribution spec, with the HTTP status each is sent with by default. */
export const specCodes = {
  BLOB_UNKNOWN: { status: 404, kind: 'not-found', message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, kind: 'invalid-argument', message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, kind: 'not-found', message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, kind: 'data-corrupt', message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, kind: 'failed-precondition', message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, kind: 'invalid-argument', message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, kind: 'not-found', message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, kind: 'invalid-argument', message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, kind: 'not-found', message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, kind: 'invalid-argument', message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, kind: 'unauthenticated', message: 'authentication required' },
  DENIED: { status: 403, kind: 'permission-denied', message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, kind: 'unsupported', message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, kind: 'unavailable', message: 'too many requests' },
} as const satisfies Record<string, { status: number; kind: ErrorCode; message: string }>;

export type SpecCode = keyof typeof specCodes;

/**
 * An error the registry answers with: a spec code, a message for the user and, where the spec's default status
 * is not the right one (416 for an out-of-order chunk, 413 for an oversized manifest), the status to send.
 */
export class RegistryError extends StrataError {
  readonly status: number;

  constructor(
    readonly specCode: SpecCode,
    message: string = specCodes[specCode].message,
    readonly detail?: unknown,
    status?: number,
  ) {
    super(specCodes[specCode].kind, message);
    this.name = 'RegistryError';
    this.status = status ?? specCodes[specCode].status;
  }

  toJSON(): { errors: { code: SpecCode; message: string; detail?: unknown }[] } {
    return { errors: [{ code: this.specCode, message: this.message, ...(this.detail === undefined ? {} : { detail: this.detail }) }] };
  }
}

export const registryError = (code: SpecCode, message?: string, detail?: unknown, status?: number) => new RegistryError(code, message, detail, status);
