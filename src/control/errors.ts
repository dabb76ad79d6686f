import { WeftError } from '../errors.js';

// Control-plane errors carry the HTTP status they map to and, for bad requests, the
// offending field, so the API layer turns every one into the same ErrorBody shape.
export class ControlError extends WeftError {
  readonly status: number;
  readonly field: string | undefined;
  /** Position in a submitted document (policy errors). */
  line?: number;
  column?: number;
  constructor(status: number, code: string, message: string, field?: string) {
    super(code, message);
    this.status = status;
    this.field = field;
  }
}

export const badRequest = (code: string, message: string, field?: string): ControlError => new ControlError(400, code, message, field);
export const unauthorized = (code: string, message: string, field?: string): ControlError => new ControlError(401, code, message, field);
export const forbidden = (code: string, message: string, field?: string): ControlError => new ControlError(403, code, message, field);
export const conflict = (code: string, message: string, field?: string): ControlError => new ControlError(409, code, message, field);
export const notFound = (code: string, message: string, field?: string): ControlError => new ControlError(404, code, message, field);

/** Getting or renewing the HTTPS certificate from an ACME CA failed (acme.ts). */
export class AcmeError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_ACME', message, options);
  }
}
export const tooManyRequests = (code: string, message: string, field?: string): ControlError => new ControlError(429, code, message, field);
export const serviceUnavailable = (code: string, message: string, field?: string): ControlError => new ControlError(503, code, message, field);
