// Typed errors with stable codes: callers and tests match on `code`, never on message text.
export class WeftError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WeftError';
    this.code = code;
  }
}

export class InvalidKeyError extends WeftError {
  constructor(message = 'invalid key') {
    super('ERR_INVALID_KEY', message);
  }
}

export class InvalidArgumentError extends WeftError {
  constructor(message: string) {
    super('ERR_INVALID_ARGUMENT', message);
  }
}
