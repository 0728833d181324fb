import { PouwError } from '@pouw/protocol'

/**
 * Ledger error codes. Identify errors by `code` (they cross the worker
 * boundary and the wire), never by `instanceof`.
 *
 * - The peer broke a consensus rule (reject the block, penalise the sender):
 *   BAD_BITS, TIME_TOO_OLD, BAD_MERKLE, BAD_COINBASE, HIGH_HASH.
 * - Not (yet) a fault: DUPLICATE (already have it), PARENT_UNKNOWN (orphan,
 *   fetch the parent), TIME_TOO_NEW (may become valid as the clock advances).
 * - We failed locally: GENESIS_MISMATCH (wrong store for these params),
 *   STORE_CORRUPT (the store holds bytes we did not write).
 */
export const LEDGER_ERRORS = {
  PARENT_UNKNOWN: 'LEDGER_PARENT_UNKNOWN',
  DUPLICATE: 'LEDGER_DUPLICATE',
  BAD_BITS: 'LEDGER_BAD_BITS',
  TIME_TOO_OLD: 'LEDGER_TIME_TOO_OLD',
  TIME_TOO_NEW: 'LEDGER_TIME_TOO_NEW',
  BAD_MERKLE: 'LEDGER_BAD_MERKLE',
  BAD_COINBASE: 'LEDGER_BAD_COINBASE',
  HIGH_HASH: 'LEDGER_HIGH_HASH',
  GENESIS_MISMATCH: 'LEDGER_GENESIS_MISMATCH',
  STORE_CORRUPT: 'LEDGER_STORE_CORRUPT',
} as const

export type LedgerErrorCode = (typeof LEDGER_ERRORS)[keyof typeof LEDGER_ERRORS]

/** Codes that mean the block breaks a consensus rule for good: the sender is at fault. */
export const LEDGER_INVALID_BLOCK_CODES: ReadonlySet<string> = new Set<LedgerErrorCode>([
  LEDGER_ERRORS.BAD_BITS, LEDGER_ERRORS.TIME_TOO_OLD, LEDGER_ERRORS.BAD_MERKLE,
  LEDGER_ERRORS.BAD_COINBASE, LEDGER_ERRORS.HIGH_HASH,
])

export function ledgerError(code: keyof typeof LEDGER_ERRORS, message: string, details?: Record<string, unknown>): PouwError {
  return new PouwError(LEDGER_ERRORS[code], message, details)
}
