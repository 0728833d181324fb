import { Reader, Writer, compareBytes } from './bytes.js'
import { protocolError } from './errors.js'
import { TAGS, taggedHash } from './hash.js'
import { PUBLIC_KEY_SIZE, SIGNATURE_SIZE, sign, verify } from './sign.js'
import { BLS_SIGNATURE_SIZE, verifyThresholdSignature } from './threshold.js'

/**
 * Task membership and epochs (paper 003 §4.2.2 and §4.3).
 *
 * - TASK_JOIN: a miner asks to train a task (signed with its Ed25519 key).
 *   Until tickets and JOIN_TASK transactions exist on chain, supervisors
 *   record these and admit every miner that keeps sending them.
 * - EPOCH: the supervisors' record that epoch ξ starts with miners M_ξ,
 *   threshold-signed by the committee (t of n BLS, the DKG's group key). The
 *   mini-batch assignment of the epoch is a function of (task seed, ξ, M_ξ),
 *   so this record is what makes "who trains which batch" verifiable; it is
 *   also the epoch barrier of §4.3 (a miner done early waits for it).
 * - EPOCH_PROPOSAL: the epoch leader's proposal of the next record; the other
 *   supervisors answer with signature shares over `epochRecordHash`.
 */
export const EPOCH_VERSION = 1
export const MAX_EPOCH_MINERS = 1024
export const MAX_EPOCH_MESSAGE_BYTES = 64 + PUBLIC_KEY_SIZE * (MAX_EPOCH_MINERS + 1) + BLS_SIGNATURE_SIZE

export interface TaskJoin { taskId: Uint8Array; miner: Uint8Array; time: number; signature: Uint8Array }

export interface EpochBody { taskId: Uint8Array; epoch: number; miners: Uint8Array[] /* sorted bytewise, distinct */ }
export interface EpochRecord extends EpochBody { signature: Uint8Array /* 96-byte threshold signature */ }
export interface EpochProposal extends EpochBody { leader: Uint8Array; signature: Uint8Array /* Ed25519 by the leader */ }

const KIND = { join: 1, record: 2, proposal: 3 } as const

function joinBody(j: Omit<TaskJoin, 'signature'>): Uint8Array {
  return new Writer().u16(EPOCH_VERSION).u8(KIND.join).fixed(j.taskId, 16).fixed(j.miner, PUBLIC_KEY_SIZE).u32(j.time).finish()
}

function writeEpochBody(w: Writer, b: EpochBody): Writer {
  w.fixed(b.taskId, 16).u16(b.epoch).u16(b.miners.length)
  for (const m of b.miners) w.fixed(m, PUBLIC_KEY_SIZE)
  return w
}

/** What the committee signs for an epoch record (and what shares are over). */
export function epochRecordHash(b: EpochBody): Uint8Array {
  return taggedHash(TAGS.epochRecord, writeEpochBody(new Writer().u16(EPOCH_VERSION), b).finish())
}

function proposalBody(p: Omit<EpochProposal, 'signature'>): Uint8Array {
  return writeEpochBody(new Writer().u16(EPOCH_VERSION).u8(KIND.proposal), p).fixed(p.leader, PUBLIC_KEY_SIZE).finish()
}

export function signTaskJoin(j: Omit<TaskJoin, 'signature'>, secretKey: Uint8Array): TaskJoin {
  return { ...j, signature: sign(secretKey, taggedHash(TAGS.taskJoin, joinBody(j))) }
}
export function verifyTaskJoin(j: TaskJoin): Promise<boolean> {
  return verify(j.miner, taggedHash(TAGS.taskJoin, joinBody(j)), j.signature)
}
export function signEpochProposal(p: Omit<EpochProposal, 'signature'>, secretKey: Uint8Array): EpochProposal {
  return { ...p, signature: sign(secretKey, taggedHash(TAGS.epochProposal, proposalBody(p))) }
}
export function verifyEpochProposal(p: EpochProposal): Promise<boolean> {
  return verify(p.leader, taggedHash(TAGS.epochProposal, proposalBody(p)), p.signature)
}
export function verifyEpochRecord(r: EpochRecord, groupPublicKey: Uint8Array): boolean {
  return verifyThresholdSignature(groupPublicKey, epochRecordHash(r), r.signature)
}

export type EpochMessage = ({ kind: 'join' } & TaskJoin) | ({ kind: 'record' } & EpochRecord) | ({ kind: 'proposal' } & EpochProposal)

export function epochMessageToBytes(m: EpochMessage): Uint8Array {
  switch (m.kind) {
    case 'join': return new Writer().bytes(joinBody(m)).fixed(m.signature, SIGNATURE_SIZE).finish()
    case 'record': return writeEpochBody(new Writer().u16(EPOCH_VERSION).u8(KIND.record), m).fixed(m.signature, BLS_SIGNATURE_SIZE).finish()
    case 'proposal': return new Writer().bytes(proposalBody(m)).fixed(m.signature, SIGNATURE_SIZE).finish()
  }
}

function readMiners(r: Reader): Uint8Array[] {
  const n = r.count(MAX_EPOCH_MINERS, 'miners', 2)
  const miners: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    const m = r.bytes(PUBLIC_KEY_SIZE, 'miner')
    if (i > 0 && compareBytes(miners[i - 1]!, m) >= 0) throw protocolError('NOT_CANONICAL', 'epoch miners must be sorted bytewise and distinct')
    miners.push(m)
  }
  return miners
}

/** Strict decoding of untrusted bytes: PROTOCOL_* errors. */
export function epochMessageFromBytes(bytes: Uint8Array): EpochMessage {
  if (bytes.length > MAX_EPOCH_MESSAGE_BYTES) throw protocolError('TOO_LARGE', `epoch message is ${bytes.length} bytes, at most ${MAX_EPOCH_MESSAGE_BYTES}`)
  const r = new Reader(bytes, 'epoch message')
  const v = r.u16('version')
  if (v !== EPOCH_VERSION) throw protocolError('BAD_VERSION', `epoch message version ${v}, expected ${EPOCH_VERSION}`)
  const kind = r.u8('kind')
  let m: EpochMessage
  if (kind === KIND.join) {
    m = { kind: 'join', taskId: r.bytes(16, 'task id'), miner: r.bytes(PUBLIC_KEY_SIZE, 'miner'), time: r.u32('time'), signature: r.bytes(SIGNATURE_SIZE, 'signature') }
  } else if (kind === KIND.record || kind === KIND.proposal) {
    const taskId = r.bytes(16, 'task id')
    const epoch = r.u16('epoch')
    const miners = readMiners(r)
    if (miners.length === 0) throw protocolError('BAD_VALUE', 'an epoch needs at least one miner')
    m = kind === KIND.record
      ? { kind: 'record', taskId, epoch, miners, signature: r.bytes(BLS_SIGNATURE_SIZE, 'threshold signature') }
      : { kind: 'proposal', taskId, epoch, miners, leader: r.bytes(PUBLIC_KEY_SIZE, 'leader'), signature: r.bytes(SIGNATURE_SIZE, 'signature') }
  } else {
    throw protocolError('BAD_TYPE', `epoch message kind ${kind} unknown`)
  }
  r.end()
  return m
}
