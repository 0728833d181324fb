/**
 * What a relay keeps of a block's evidence (the lucky iteration's slot messages, model and residual:
 * about 0.9 MB for the built-in MNIST task). It is stored atomically with the block, as the record of
 * what this relay checked, but nothing reads it back once the block is verified: it is kept for the
 * last EVIDENCE_KEEP heights only, side branches' included. For the whole chain it would grow by
 * gigabytes a day at testnet block times.
 */
import type { BatchOp, KeyValueStore } from '@pouw/ledger'

/** heights of evidence kept below the tip (about 50 minutes at 30 s blocks) */
export const EVIDENCE_KEEP = 100

const PREFIX = 'relay/evidence/'

/** The key of a block's evidence: by height first, so that the oldest come first. */
export function evidenceKey(height: number, hashHex: string): string {
  return `${PREFIX}${height.toString().padStart(10, '0')}/${hashHex}`
}

/** Deletes the evidence of every block below `tipHeight - keep + 1` (heights tip-keep+1 .. tip stay); returns how many. */
export async function pruneEvidence(store: KeyValueStore, tipHeight: number, keep = EVIDENCE_KEEP): Promise<number> {
  const below = tipHeight - keep + 1
  if (below <= 0) return 0
  const ops: BatchOp[] = []
  // 'g' sorts after every hex digit: every hash at height below - 1
  for await (const [key] of store.iterate(PREFIX, { lte: evidenceKey(below - 1, 'g') })) ops.push({ type: 'del', key })
  if (ops.length > 0) await store.batch(ops)
  return ops.length
}
