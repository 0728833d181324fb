import { Reader, Writer, float32Bytes, float32FromBytes } from './bytes.js'
import { protocolError } from './errors.js'
import { MAX_ITRES_BYTES } from './itres.js'
import { MAX_BLOCK_BYTES } from './block.js'

export const EVIDENCE_VERSION = 2
export const MAX_SLOT = 64
export const MAX_PEER_UPDATES = 1024
export const MAX_PARAMS = 1 << 24

/**
 * What a verifier needs to re-run the lucky iteration (paper 003 §5.2): the
 * message-history slot (the miner's IT_RES bytes from the commitment
 * iteration to the lucky one, in order), the model and residual at the start
 * of the lucky iteration, and the peer IT_RES messages whose maps were
 * applied in it, in the canonical order (peerUpdates.ts). The batch is not
 * carried: the lucky IT_RES names it (batchIndex) and the verifier derives
 * its records from the task's data plan.
 */
export interface Evidence {
  slot: Uint8Array[]
  model: Float32Array
  residual: Float32Array
  peerUpdates: Uint8Array[]
}

export function evidenceToBytes(e: Evidence): Uint8Array {
  const w = new Writer().u16(EVIDENCE_VERSION).u16(e.slot.length)
  for (const m of e.slot) w.varBytes(m)
  w.varBytes(float32Bytes(e.model)).varBytes(float32Bytes(e.residual))
  w.u16(e.peerUpdates.length)
  for (const m of e.peerUpdates) w.varBytes(m)
  return w.finish()
}

export function evidenceFromBytes(bytes: Uint8Array): Evidence {
  const r = new Reader(bytes, 'evidence')
  const v = r.u16('version')
  if (v !== EVIDENCE_VERSION) throw protocolError('BAD_VERSION', `evidence version ${v}, expected ${EVIDENCE_VERSION}`)
  const ns = r.count(MAX_SLOT, 'slot messages', 2)
  if (ns < 1) throw protocolError('BAD_VALUE', 'evidence: the slot needs at least the lucky IT_RES')
  const slot: Uint8Array[] = []
  for (let i = 0; i < ns; i++) slot.push(r.varBytes(MAX_ITRES_BYTES, `slot message ${i}`))
  const model = float32FromBytes(r.varBytes(4 * MAX_PARAMS, 'model'), 'model')
  const residual = float32FromBytes(r.varBytes(4 * MAX_PARAMS, 'residual'), 'residual')
  const np = r.count(MAX_PEER_UPDATES, 'peer updates', 2)
  const peerUpdates: Uint8Array[] = []
  for (let i = 0; i < np; i++) peerUpdates.push(r.varBytes(MAX_ITRES_BYTES, `peer update ${i}`))
  r.end()
  return { slot, model, residual, peerUpdates }
}

export const MAX_SUBMISSION_BYTES = 8 + MAX_BLOCK_BYTES + 8 * MAX_PARAMS + 1_000_000

/** A mined block with its evidence, as gossiped to verifiers. */
export interface BlockSubmission { block: Uint8Array; evidence: Uint8Array }

export function submissionToBytes(s: BlockSubmission): Uint8Array {
  return new Writer().u16(1).varBytes(s.block).varBytes(s.evidence).finish()
}

export function submissionFromBytes(bytes: Uint8Array): BlockSubmission {
  if (bytes.length > MAX_SUBMISSION_BYTES) throw protocolError('TOO_LARGE', `block submission is ${bytes.length} bytes, at most ${MAX_SUBMISSION_BYTES}`)
  const r = new Reader(bytes, 'block submission')
  const v = r.u16('version')
  if (v !== 1) throw protocolError('BAD_VERSION', `block submission version ${v}, expected 1`)
  const block = r.varBytes(MAX_BLOCK_BYTES, 'block')
  const evidence = r.varBytes(MAX_SUBMISSION_BYTES, 'evidence')
  r.end()
  return { block, evidence }
}
