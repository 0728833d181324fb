import { Reader, Writer, bytesEqual } from './bytes.js'
import { protocolError } from './errors.js'
import { TAGS, taggedHash, type Tag } from './hash.js'
import { PUBLIC_KEY_SIZE, SIGNATURE_SIZE, sign, verifyReference } from './sign.js'

/**
 * Message-history consensus among supervisors (paper 003 §4.3): the epoch's
 * leader packs recorded IT_RES hashes into slots, supervisors vote on their
 * order (preferential ballots counted with the Schulze method), and the
 * committee threshold-signs each slot, which becomes a MESSAGE_HISTORY record
 * chained to the previous slot through `prevSlotHash`.
 *
 * Wire format: u16 version, u8 type, the kind's body, then its signature
 * (64-byte Ed25519 by one supervisor, or 96-byte BLS threshold signature by
 * the committee). The Ed25519 signature of each kind covers
 * H_tag(version || type || body) with a tag per kind; `slotHash` and
 * `replaceLeaderHash` are what the committee threshold-signs.
 *
 * Decoding is context free and strict (sizes capped before allocation,
 * permutations checked, hashes within a slot distinct, votes in a result
 * sorted by voter): everything that depends on the committee, the proposal or
 * the chain is checked by the ledger's HistoryConsensus.
 */
export const HISTORY_VERSION = 1
export const MAX_SUPERVISORS = 64
export const MAX_SLOT_MESSAGES = 512
export const TASK_ID_SIZE = 16
export const HASH_SIZE = 32
/** BLS12-381 G2 signature (and signature share), compressed */
export const THRESHOLD_SIGNATURE_SIZE = 96

export const HISTORY_TYPES = {
  proposal: 1,
  vote: 2,
  result: 3,
  share: 4,
  history: 5,
  replaceRequest: 6,
  replace: 7,
} as const

export const REPLACE_REASONS = ['offline', 'slow', 'malicious'] as const
export type ReplaceReason = (typeof REPLACE_REASONS)[number]

/** The leader's proposal for slot `slot`: recorded, not yet slotted IT_RES hashes in its receipt order. */
export interface SlotProposal {
  type: 'proposal'
  taskId: Uint8Array // 16 bytes
  epoch: number // u16
  slot: number // u32, global slot number from 0
  leader: Uint8Array // Ed25519 public key
  prevSlotHash: Uint8Array // slotHash of slot - 1 (zeros for the first slot)
  messages: Uint8Array[] // 1..512 distinct 32-byte IT_RES hashes
  signature: Uint8Array // Ed25519 by `leader`
}

/** A supervisor's preferential ballot over a proposal: indices into `messages`, most preferred first. */
export interface SlotVote {
  type: 'vote'
  taskId: Uint8Array
  slot: number
  proposalHash: Uint8Array
  voter: Uint8Array
  ranking: number[] // a permutation of 0..messages.length-1
  signature: Uint8Array // Ed25519 by `voter`
}

/**
 * The leader's tally: the votes it counted (sorted by voter key) and the order
 * it computed from them (indices into the proposal). Every supervisor
 * recomputes `order` from `votes` before signing the slot.
 */
export interface SlotResult {
  type: 'result'
  taskId: Uint8Array
  slot: number
  proposalHash: Uint8Array
  leader: Uint8Array
  order: number[] // a permutation of the proposal's indices: the Schulze order
  votes: SlotVote[] // 1..64, strictly increasing voter keys
  signature: Uint8Array // Ed25519 by `leader`
}

/** One supervisor's BLS signature share over `subject` (a slot hash or a replace-leader hash). */
export interface SigShare {
  type: 'share'
  taskId: Uint8Array
  subject: Uint8Array // 32 bytes: the hash being threshold-signed
  signer: Uint8Array
  index: number // u8, 1-based: the signer's committee position + 1
  share: Uint8Array // 96 bytes
  signature: Uint8Array // Ed25519 by `signer`
}

/** MESSAGE_HISTORY: one slot of the agreed message history, threshold-signed by the committee over slotHash. */
export interface MessageHistory {
  type: 'history'
  taskId: Uint8Array
  epoch: number
  slot: number
  prevSlotHash: Uint8Array
  messages: Uint8Array[] // final order
  signature: Uint8Array // 96-byte threshold signature over slotHash(this)
}

/** The fields a replacement is about; `replaceLeaderHash` of them is threshold-signed. */
export interface ReplaceLeaderBody {
  taskId: Uint8Array
  epoch: number // u16
  /**
   * How many leaders of this epoch were already replaced (r_ξ before this
   * one). Not in the paper; it keeps a record from being replayed once the
   * rotation has come round to the same index again.
   */
  round: number // u16
  leaderIndex: number // u8: committee index of the leader being replaced
  reason: ReplaceReason
}

/** REPLACE_LEADER: the committee (t of n) replaces the epoch's current leader by the next in line. */
export interface ReplaceLeader extends ReplaceLeaderBody {
  type: 'replace'
  signature: Uint8Array // 96-byte threshold signature over replaceLeaderHash(body)
}

/** The next-in-line supervisor's request, with its own share; others add SigShares over the same subject. */
export interface ReplaceLeaderRequest extends ReplaceLeaderBody {
  type: 'replace-request'
  requester: Uint8Array
  index: number // requester's committee position + 1
  share: Uint8Array // 96 bytes over replaceLeaderHash(body)
  signature: Uint8Array // Ed25519 by `requester`
}

export type HistoryMessage =
  | SlotProposal | SlotVote | SlotResult | SigShare | MessageHistory | ReplaceLeaderRequest | ReplaceLeader

/** The kinds one supervisor signs with Ed25519. */
export type SignedHistoryMessage = SlotProposal | SlotVote | SlotResult | SigShare | ReplaceLeaderRequest
/** A message without its signature (distributes over unions, so the `type` tag still narrows). */
export type UnsignedHistory<T> = T extends unknown ? Omit<T, 'signature'> : never

/** Upper bound on any encoded history message (a result with 64 full votes over 512 messages). */
export const MAX_HISTORY_MESSAGE_BYTES = 3 + 16 + 4 + 32 + 32 + 2 + 2 * MAX_SLOT_MESSAGES + 1 + SIGNATURE_SIZE
  + MAX_SUPERVISORS * (16 + 4 + 32 + 32 + 2 + 2 * MAX_SLOT_MESSAGES + SIGNATURE_SIZE)

// ---------------------------------------------------------------- encoding

function header(w: Writer, type: number): Writer {
  return w.u16(HISTORY_VERSION).u8(type)
}

function writeHashes(w: Writer, hashes: Uint8Array[]): void {
  if (hashes.length < 1 || hashes.length > MAX_SLOT_MESSAGES) throw new Error(`internal: ${hashes.length} messages in a slot`)
  w.u16(hashes.length)
  for (const h of hashes) w.fixed(h, HASH_SIZE)
}

function writeIndices(w: Writer, xs: number[]): void {
  if (xs.length < 1 || xs.length > MAX_SLOT_MESSAGES) throw new Error(`internal: ${xs.length} indices`)
  w.u16(xs.length)
  for (const x of xs) w.u16(x)
}

function writeVoteBody(w: Writer, v: UnsignedHistory<SlotVote>): void {
  w.fixed(v.taskId, TASK_ID_SIZE).u32(v.slot).fixed(v.proposalHash, HASH_SIZE).fixed(v.voter, PUBLIC_KEY_SIZE)
  writeIndices(w, v.ranking)
}

function writeReplaceBody(w: Writer, b: ReplaceLeaderBody): void {
  const reason = REPLACE_REASONS.indexOf(b.reason)
  if (reason < 0) throw new Error(`internal: replace reason ${String(b.reason)}`)
  w.fixed(b.taskId, TASK_ID_SIZE).u16(b.epoch).u16(b.round).u8(b.leaderIndex).u8(reason)
}

/** version, type and body: everything but the signature. */
function unsignedBytes(m: UnsignedHistory<HistoryMessage>): Uint8Array {
  const w = new Writer()
  switch (m.type) {
    case 'proposal':
      header(w, HISTORY_TYPES.proposal).fixed(m.taskId, TASK_ID_SIZE).u16(m.epoch).u32(m.slot)
        .fixed(m.leader, PUBLIC_KEY_SIZE).fixed(m.prevSlotHash, HASH_SIZE)
      writeHashes(w, m.messages)
      break
    case 'vote':
      writeVoteBody(header(w, HISTORY_TYPES.vote), m)
      break
    case 'result': {
      const r = m
      header(w, HISTORY_TYPES.result).fixed(r.taskId, TASK_ID_SIZE).u32(r.slot).fixed(r.proposalHash, HASH_SIZE)
        .fixed(r.leader, PUBLIC_KEY_SIZE)
      writeIndices(w, r.order)
      if (r.votes.length < 1 || r.votes.length > MAX_SUPERVISORS) throw new Error(`internal: ${r.votes.length} votes`)
      w.u8(r.votes.length)
      for (const v of r.votes) { writeVoteBody(w, v); w.fixed(v.signature, SIGNATURE_SIZE) }
      break
    }
    case 'share':
      header(w, HISTORY_TYPES.share).fixed(m.taskId, TASK_ID_SIZE).fixed(m.subject, HASH_SIZE)
        .fixed(m.signer, PUBLIC_KEY_SIZE).u8(m.index).fixed(m.share, THRESHOLD_SIGNATURE_SIZE)
      break
    case 'history':
      header(w, HISTORY_TYPES.history).fixed(m.taskId, TASK_ID_SIZE).u16(m.epoch).u32(m.slot).fixed(m.prevSlotHash, HASH_SIZE)
      writeHashes(w, m.messages)
      break
    case 'replace-request': {
      const q = m
      writeReplaceBody(header(w, HISTORY_TYPES.replaceRequest), q)
      w.fixed(q.requester, PUBLIC_KEY_SIZE).u8(q.index).fixed(q.share, THRESHOLD_SIGNATURE_SIZE)
      break
    }
    case 'replace':
      writeReplaceBody(header(w, HISTORY_TYPES.replace), m)
      break
  }
  return w.finish()
}

function signatureSize(type: HistoryMessage['type']): number {
  return type === 'history' || type === 'replace' ? THRESHOLD_SIGNATURE_SIZE : SIGNATURE_SIZE
}

export function historyMessageToBytes(m: HistoryMessage): Uint8Array {
  return new Writer().bytes(unsignedBytes(m)).fixed(m.signature, signatureSize(m.type)).finish()
}

// ---------------------------------------------------------------- decoding

function readHashes(r: Reader, what: string): Uint8Array[] {
  const n = r.count(MAX_SLOT_MESSAGES, `${what} count`, 2)
  if (n < 1) throw protocolError('BAD_VALUE', `${what}: a slot holds at least one message`)
  if (r.remaining < n * HASH_SIZE) throw protocolError('TRUNCATED', `${what}: ${n} hashes need ${n * HASH_SIZE} bytes, ${r.remaining} left`)
  const out: Uint8Array[] = []
  const seen = new Set<string>()
  for (let i = 0; i < n; i++) {
    const h = r.bytes(HASH_SIZE, `${what} ${i}`)
    const k = String.fromCharCode(...h)
    if (seen.has(k)) throw protocolError('BAD_VALUE', `${what}: hash ${i} repeats an earlier one`)
    seen.add(k)
    out.push(h)
  }
  return out
}

/** A permutation of 0..n-1 with 1 <= n <= 512. */
function readPermutation(r: Reader, what: string): number[] {
  const n = r.count(MAX_SLOT_MESSAGES, `${what} length`, 2)
  if (n < 1) throw protocolError('BAD_VALUE', `${what}: empty`)
  if (r.remaining < 2 * n) throw protocolError('TRUNCATED', `${what}: ${n} indices need ${2 * n} bytes, ${r.remaining} left`)
  const seen = new Uint8Array(n)
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const x = r.u16(what)
    if (x >= n) throw protocolError('BAD_VALUE', `${what}: index ${x} out of range 0..${n - 1}`)
    if (seen[x] === 1) throw protocolError('BAD_VALUE', `${what}: index ${x} appears twice`)
    seen[x] = 1
    out.push(x)
  }
  return out
}

function readIndex(r: Reader, what: string): number {
  const i = r.u8(what)
  if (i < 1 || i > MAX_SUPERVISORS) throw protocolError('BAD_VALUE', `${what}: ${i}, expected 1..${MAX_SUPERVISORS}`)
  return i
}

function readReplaceBody(r: Reader): ReplaceLeaderBody {
  const taskId = r.bytes(TASK_ID_SIZE, 'task id')
  const epoch = r.u16('epoch')
  const round = r.u16('round')
  const leaderIndex = r.u8('leader index')
  if (leaderIndex >= MAX_SUPERVISORS) throw protocolError('BAD_VALUE', `leader index ${leaderIndex}, expected < ${MAX_SUPERVISORS}`)
  const code = r.u8('reason')
  const reason = REPLACE_REASONS[code]
  if (reason === undefined) throw protocolError('BAD_VALUE', `replace reason ${code}, expected 0..${REPLACE_REASONS.length - 1}`)
  return { taskId, epoch, round, leaderIndex, reason }
}

function readVote(r: Reader): SlotVote {
  const taskId = r.bytes(TASK_ID_SIZE, 'task id')
  const slot = r.u32('slot')
  const proposalHash = r.bytes(HASH_SIZE, 'proposal hash')
  const voter = r.bytes(PUBLIC_KEY_SIZE, 'voter')
  const ranking = readPermutation(r, 'ranking')
  return { type: 'vote', taskId, slot, proposalHash, voter, ranking, signature: r.bytes(SIGNATURE_SIZE, 'signature') }
}

function lessBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!
  return a.length < b.length
}

/** Context-free decoding of untrusted bytes. Throws PouwError PROTOCOL_* only. */
export function historyMessageFromBytes(bytes: Uint8Array): HistoryMessage {
  if (bytes.length > MAX_HISTORY_MESSAGE_BYTES) {
    throw protocolError('TOO_LARGE', `history message is ${bytes.length} bytes, at most ${MAX_HISTORY_MESSAGE_BYTES}`)
  }
  const r = new Reader(bytes, 'history message')
  const version = r.u16('version')
  if (version !== HISTORY_VERSION) throw protocolError('BAD_VERSION', `history message version ${version}, expected ${HISTORY_VERSION}`)
  const type = r.u8('type')
  let m: HistoryMessage
  switch (type) {
    case HISTORY_TYPES.proposal: {
      const taskId = r.bytes(TASK_ID_SIZE, 'task id')
      const epoch = r.u16('epoch')
      const slot = r.u32('slot')
      const leader = r.bytes(PUBLIC_KEY_SIZE, 'leader')
      const prevSlotHash = r.bytes(HASH_SIZE, 'previous slot hash')
      const messages = readHashes(r, 'proposed messages')
      m = { type: 'proposal', taskId, epoch, slot, leader, prevSlotHash, messages, signature: r.bytes(SIGNATURE_SIZE, 'signature') }
      break
    }
    case HISTORY_TYPES.vote:
      m = readVote(r)
      break
    case HISTORY_TYPES.result: {
      const taskId = r.bytes(TASK_ID_SIZE, 'task id')
      const slot = r.u32('slot')
      const proposalHash = r.bytes(HASH_SIZE, 'proposal hash')
      const leader = r.bytes(PUBLIC_KEY_SIZE, 'leader')
      const order = readPermutation(r, 'order')
      const nv = r.count(MAX_SUPERVISORS, 'votes', 1)
      if (nv < 1) throw protocolError('BAD_VALUE', 'slot result: no votes')
      const votes: SlotVote[] = []
      for (let i = 0; i < nv; i++) {
        const v = readVote(r)
        if (i > 0 && !lessBytes(votes[i - 1]!.voter, v.voter)) {
          throw protocolError('NOT_CANONICAL', `slot result: vote ${i} is not in strictly increasing voter order`)
        }
        votes.push(v)
      }
      m = { type: 'result', taskId, slot, proposalHash, leader, order, votes, signature: r.bytes(SIGNATURE_SIZE, 'signature') }
      break
    }
    case HISTORY_TYPES.share: {
      const taskId = r.bytes(TASK_ID_SIZE, 'task id')
      const subject = r.bytes(HASH_SIZE, 'subject')
      const signer = r.bytes(PUBLIC_KEY_SIZE, 'signer')
      const index = readIndex(r, 'share index')
      const share = r.bytes(THRESHOLD_SIGNATURE_SIZE, 'share')
      m = { type: 'share', taskId, subject, signer, index, share, signature: r.bytes(SIGNATURE_SIZE, 'signature') }
      break
    }
    case HISTORY_TYPES.history: {
      const taskId = r.bytes(TASK_ID_SIZE, 'task id')
      const epoch = r.u16('epoch')
      const slot = r.u32('slot')
      const prevSlotHash = r.bytes(HASH_SIZE, 'previous slot hash')
      const messages = readHashes(r, 'slot messages')
      m = { type: 'history', taskId, epoch, slot, prevSlotHash, messages, signature: r.bytes(THRESHOLD_SIGNATURE_SIZE, 'threshold signature') }
      break
    }
    case HISTORY_TYPES.replaceRequest: {
      const body = readReplaceBody(r)
      const requester = r.bytes(PUBLIC_KEY_SIZE, 'requester')
      const index = readIndex(r, 'requester index')
      const share = r.bytes(THRESHOLD_SIGNATURE_SIZE, 'share')
      m = { type: 'replace-request', ...body, requester, index, share, signature: r.bytes(SIGNATURE_SIZE, 'signature') }
      break
    }
    case HISTORY_TYPES.replace:
      m = { type: 'replace', ...readReplaceBody(r), signature: r.bytes(THRESHOLD_SIGNATURE_SIZE, 'threshold signature') }
      break
    default:
      throw protocolError('BAD_TYPE', `history message type ${type}, expected 1..7`)
  }
  r.end()
  return m
}

// ---------------------------------------------------------------- hashes and signatures

const SIGNING_TAGS: Record<SignedHistoryMessage['type'], Tag> = {
  proposal: TAGS.historyProposal,
  vote: TAGS.historyVote,
  result: TAGS.historyResult,
  share: TAGS.historyShare,
  'replace-request': TAGS.replaceRequest,
}

/** What the Ed25519 signature of a signed kind covers: H_tag(version || type || body). */
export function historySigningHash(m: SignedHistoryMessage | UnsignedHistory<SignedHistoryMessage>): Uint8Array {
  return taggedHash(SIGNING_TAGS[m.type], unsignedBytes(m))
}

/** The proposal's identity, which votes and results refer to (the signature is left out: Ed25519 is deterministic anyway). */
export function proposalHash(p: SlotProposal | UnsignedHistory<SlotProposal>): Uint8Array {
  return historySigningHash(p)
}

/** What the committee threshold-signs for a slot: H_history-slot of the record without its signature. */
export function slotHash(h: MessageHistory | UnsignedHistory<MessageHistory>): Uint8Array {
  return taggedHash(TAGS.historySlot, unsignedBytes({ ...h, type: 'history' }))
}

/** What the committee threshold-signs to replace a leader. */
export function replaceLeaderHash(b: ReplaceLeaderBody): Uint8Array {
  return taggedHash(TAGS.replaceLeader, unsignedBytes({ ...b, type: 'replace' }))
}

/** The Ed25519 key that signs a message of a signed kind. */
export function historySigner(m: SignedHistoryMessage): Uint8Array {
  switch (m.type) {
    case 'proposal': return m.leader
    case 'vote': return m.voter
    case 'result': return m.leader
    case 'share': return m.signer
    case 'replace-request': return m.requester
  }
}

export function signSlotProposal(p: UnsignedHistory<SlotProposal>, secretKey: Uint8Array): SlotProposal {
  return { ...p, signature: sign(secretKey, historySigningHash(p)) }
}
export function signSlotVote(v: UnsignedHistory<SlotVote>, secretKey: Uint8Array): SlotVote {
  return { ...v, signature: sign(secretKey, historySigningHash(v)) }
}
export function signSlotResult(r: UnsignedHistory<SlotResult>, secretKey: Uint8Array): SlotResult {
  return { ...r, signature: sign(secretKey, historySigningHash(r)) }
}
export function signSigShare(s: UnsignedHistory<SigShare>, secretKey: Uint8Array): SigShare {
  return { ...s, signature: sign(secretKey, historySigningHash(s)) }
}
export function signReplaceRequest(q: UnsignedHistory<ReplaceLeaderRequest>, secretKey: Uint8Array): ReplaceLeaderRequest {
  return { ...q, signature: sign(secretKey, historySigningHash(q)) }
}

/**
 * Checks the Ed25519 signature of a signed kind against its signer field
 * (synchronous: the noble reference, as the consensus state machine is
 * synchronous). Never throws; malformed fields give false.
 */
export function verifyHistorySignature(m: SignedHistoryMessage): boolean {
  try {
    return verifyReference(historySigner(m), historySigningHash(m), m.signature)
  } catch {
    return false
  }
}

/** Field-by-field equality through the canonical encoding. */
export function historyMessagesEqual(a: HistoryMessage, b: HistoryMessage): boolean {
  try {
    return bytesEqual(historyMessageToBytes(a), historyMessageToBytes(b))
  } catch {
    return false
  }
}
