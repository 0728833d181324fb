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
  // transactions (utxo.ts): the sender broke a consensus rule
  BAD_TX: 'LEDGER_BAD_TX',
  BAD_AMOUNT: 'LEDGER_BAD_AMOUNT',
  AMOUNT_OVERFLOW: 'LEDGER_AMOUNT_OVERFLOW',
  DUPLICATE_INPUT: 'LEDGER_DUPLICATE_INPUT',
  MISSING_INPUT: 'LEDGER_MISSING_INPUT',
  DOUBLE_SPEND: 'LEDGER_DOUBLE_SPEND',
  BAD_SIGNATURE: 'LEDGER_BAD_SIGNATURE',
  INSUFFICIENT_INPUTS: 'LEDGER_INSUFFICIENT_INPUTS',
  IMMATURE_COINBASE: 'LEDGER_IMMATURE_COINBASE',
  LOCKED: 'LEDGER_LOCKED',
  BAD_LOCK: 'LEDGER_BAD_LOCK',
  BLOCK_TOO_LARGE: 'LEDGER_BLOCK_TOO_LARGE',
  // mempool policy (mempool.ts): refused here, not a consensus fault
  MEMPOOL_DUPLICATE: 'LEDGER_MEMPOOL_DUPLICATE',
  MEMPOOL_CONFLICT: 'LEDGER_MEMPOOL_CONFLICT',
  MEMPOOL_FEE_TOO_LOW: 'LEDGER_MEMPOOL_FEE_TOO_LOW',
  MEMPOOL_TOO_LARGE: 'LEDGER_MEMPOOL_TOO_LARGE',
  MEMPOOL_FULL: 'LEDGER_MEMPOOL_FULL',
  // wallet (wallet.ts): we cannot build the transfer
  INSUFFICIENT_FUNDS: 'LEDGER_INSUFFICIENT_FUNDS',
  GENESIS_MISMATCH: 'LEDGER_GENESIS_MISMATCH',
  STORE_CORRUPT: 'LEDGER_STORE_CORRUPT',
  // economics (tickets.ts, finalisation.ts): the sender broke a rule
  BAD_TICKET_PURCHASE: 'LEDGER_BAD_TICKET_PURCHASE',
  TOO_MANY_TICKETS: 'LEDGER_TOO_MANY_TICKETS',
  TICKET_NOT_LIVE: 'LEDGER_TICKET_NOT_LIVE',
  BAD_CONCLUSION: 'LEDGER_BAD_CONCLUSION',
  BAD_REVEAL: 'LEDGER_BAD_REVEAL',
  BAD_CHARGE: 'LEDGER_BAD_CHARGE',
} as const

export type LedgerErrorCode = (typeof LEDGER_ERRORS)[keyof typeof LEDGER_ERRORS]

/** Codes that mean the block breaks a consensus rule for good: the sender is at fault. */
export const LEDGER_INVALID_BLOCK_CODES: ReadonlySet<string> = new Set<LedgerErrorCode>([
  LEDGER_ERRORS.BAD_BITS, LEDGER_ERRORS.TIME_TOO_OLD, LEDGER_ERRORS.BAD_MERKLE,
  LEDGER_ERRORS.BAD_COINBASE, LEDGER_ERRORS.HIGH_HASH,
  LEDGER_ERRORS.BAD_TX, LEDGER_ERRORS.BAD_AMOUNT, LEDGER_ERRORS.AMOUNT_OVERFLOW, LEDGER_ERRORS.DUPLICATE_INPUT,
  LEDGER_ERRORS.MISSING_INPUT, LEDGER_ERRORS.DOUBLE_SPEND, LEDGER_ERRORS.BAD_SIGNATURE, LEDGER_ERRORS.INSUFFICIENT_INPUTS,
  LEDGER_ERRORS.IMMATURE_COINBASE, LEDGER_ERRORS.LOCKED, LEDGER_ERRORS.BAD_LOCK, LEDGER_ERRORS.BAD_CHARGE, LEDGER_ERRORS.BLOCK_TOO_LARGE,
])

export function ledgerError(code: keyof typeof LEDGER_ERRORS, message: string, details?: Record<string, unknown>): PouwError {
  return new PouwError(LEDGER_ERRORS[code], message, details)
}
