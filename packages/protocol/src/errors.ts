/**
 * Typed, serialisable errors. Identify them by `code`, never by `instanceof`:
 * they cross the worker boundary and the wire.
 */
export class PouwError extends Error {
  readonly code: string
  readonly details: Record<string, unknown>

  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(`${code}: ${message}`)
    this.name = 'PouwError'
    this.code = code
    this.details = details
  }

  toJSON(): { code: string; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details }
  }
}

/** Malformed bytes from outside: the peer broke a rule. */
export const PROTOCOL_ERRORS = {
  TRUNCATED: 'PROTOCOL_TRUNCATED',
  TRAILING_BYTES: 'PROTOCOL_TRAILING_BYTES',
  TOO_LARGE: 'PROTOCOL_TOO_LARGE',
  BAD_VERSION: 'PROTOCOL_BAD_VERSION',
  BAD_TYPE: 'PROTOCOL_BAD_TYPE',
  BAD_VALUE: 'PROTOCOL_BAD_VALUE',
  NOT_CANONICAL: 'PROTOCOL_NOT_CANONICAL',
} as const

export function protocolError(code: keyof typeof PROTOCOL_ERRORS, message: string, details?: Record<string, unknown>): PouwError {
  return new PouwError(PROTOCOL_ERRORS[code], message, details)
}

export function isPouwError(e: unknown): e is PouwError {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' && (e as { name?: unknown }).name === 'PouwError'
}
