import { PouwError } from '@pouw/protocol'

/**
 * Reasons a block's proof of useful work is refused. Each names the rule the
 * miner broke; verifiers gossip the code with their verdict.
 */
export const POUW_ERRORS = {
  EVIDENCE_MALFORMED: 'POUW_EVIDENCE_MALFORMED',
  BAD_SLOT: 'POUW_BAD_SLOT',
  BAD_SIGNATURE: 'POUW_BAD_SIGNATURE',
  WRONG_TASK: 'POUW_WRONG_TASK',
  MSG_HASH_MISMATCH: 'POUW_MSG_HASH_MISMATCH',
  HISTORY_MISMATCH: 'POUW_HISTORY_MISMATCH',
  COMMITMENT_MISMATCH: 'POUW_COMMITMENT_MISMATCH',
  MODEL_HASH_MISMATCH: 'POUW_MODEL_HASH_MISMATCH',
  RESIDUAL_HASH_MISMATCH: 'POUW_RESIDUAL_HASH_MISMATCH',
  BATCH_NOT_ASSIGNED: 'POUW_BATCH_NOT_ASSIGNED',
  BATCH_HASH_MISMATCH: 'POUW_BATCH_HASH_MISMATCH',
  PEER_UPDATES_MISMATCH: 'POUW_PEER_UPDATES_MISMATCH',
  NONCE_MISMATCH: 'POUW_NONCE_MISMATCH',
  MAP_MISMATCH: 'POUW_MAP_MISMATCH',
  METRICS_MISMATCH: 'POUW_METRICS_MISMATCH',
  METRICS_NOT_IMPROVED: 'POUW_METRICS_NOT_IMPROVED',
  EQUIVOCATION: 'POUW_EQUIVOCATION',
  NOT_MEMBER: 'POUW_NOT_MEMBER',
  NOT_IN_HISTORY: 'POUW_NOT_IN_HISTORY',
} as const

export type PouwErrorCode = (typeof POUW_ERRORS)[keyof typeof POUW_ERRORS]

export function pouwError(code: keyof typeof POUW_ERRORS, message: string, details?: Record<string, unknown>): PouwError {
  return new PouwError(POUW_ERRORS[code], message, details)
}

/** Dataset problems: local files that are not what the task says. */
export const DATA_ERRORS = {
  BAD_IDX: 'DATA_BAD_IDX',
  HASH_MISMATCH: 'DATA_HASH_MISMATCH',
} as const
