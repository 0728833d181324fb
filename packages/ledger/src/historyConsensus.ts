import {
  MAX_SLOT_MESSAGES, MAX_SUPERVISORS, PouwError, ZERO_HASH, bytesEqual, historyMessageToBytes, proposalHash,
  replaceLeaderHash, signReplaceRequest, signSigShare, signSlotProposal, signSlotResult, signSlotVote, slotHash, toHex,
  verifyHistorySignature,
  type HistoryMessage, type KeyPair, type MessageHistory, type ReplaceLeader, type ReplaceLeaderBody,
  type ReplaceLeaderRequest, type ReplaceReason, type SigShare, type SlotProposal, type SlotResult, type SlotVote,
  type UnsignedHistory,
} from '@pouw/protocol'
import { schulze } from './schulze.js'

/**
 * Message-history consensus among the supervisors of one task (paper 003
 * §4.3), one instance per supervisor, as a pure state machine: no clock, no
 * network, no randomness. The caller feeds it the IT_RES hashes this
 * supervisor accepts (`record`), the history messages it receives
 * (`receive`) and the time (`tick`), and broadcasts whatever they return to
 * every other supervisor.
 *
 * One slot at a time:
 *   1. the epoch's leader proposes up to maxSlotMessages recorded, unslotted
 *      hashes in its receipt order (SlotProposal, every slotIntervalMs while
 *      some wait);
 *   2. every supervisor answers a proposal from the current leader with its
 *      ballot: the proposal's indices in its own receipt order, messages it
 *      has not received ranked last in the proposal's order (SlotVote);
 *   3. the leader, with t votes (its own included; it waits up to voteGraceMs
 *      for all n) sends the votes and the Schulze order (SlotResult);
 *   4. every supervisor checks each vote, recomputes the order, and
 *      broadcasts its BLS share over slotHash (SigShare);
 *   5. anyone holding t shares combines them into the MESSAGE_HISTORY record;
 *      the leader broadcasts it and everyone else verifies it with
 *      scheme.verify before appending (the BLS signature is unique, so every
 *      supervisor that combines gets the same bytes).
 *
 * Leader: committee[(ξ + r_ξ) mod n] for epoch ξ, where r_ξ counts the
 * REPLACE_LEADER records applied for ξ. The paper writes the round robin as
 * "(i − 1) mod ξ + 1" with i a supervisor's rank; read literally (mod the
 * epoch) it is not a rotation at all, so we take it as a typo for the
 * round robin ξ mod n (0-based here; the paper's +1 is its 1-based rank),
 * and its "next potential leader (i − 1) mod ξ + 2" as the next index.
 *
 * Replacing a leader: when unslotted messages have waited leaderTimeoutMs
 * without a new record, the supervisor j places after the leader in the
 * rotation asks for the replacement once the wait reaches j · leaderTimeoutMs
 * (the next in line first; the one after if the next in line is silent too):
 * a ReplaceLeaderRequest carrying its share. Supervisors that see the stall
 * themselves add their SigShare over the same subject; t shares make the
 * REPLACE_LEADER record, and everyone moves on to the next leader.
 *
 * Safety rule (a lock): a supervisor shares at most one slot hash per slot
 * number, so two records for one slot would need 2t − n > n/3 supervisors to
 * sign twice. Proposals and results are only taken from the current leader;
 * a slot whose shares were already sent keeps collecting shares after the
 * leader changes.
 *
 * Refusals throw a PouwError with a HISTORY_* code and leave the state as it
 * was (one exception: a leader's second, different proposal for one slot is
 * remembered as evidence, so the replacement says 'malicious').
 * Messages that are merely stale, duplicated or not addressed to this
 * supervisor's role are ignored: receive returns [].
 *
 * Left out: a full view change (a new leader re-proposing what a replaced
 * one had half signed). With the lock, a slot whose result reached more than
 * n − t but fewer than t supervisors before its leader failed stays stuck.
 */

/** The t-of-n threshold signature scheme, injected (see protocol/threshold.ts for BLS12-381). */
export interface ThresholdScheme {
  /** shares needed */
  t: number
  /** this supervisor's share index: committee position + 1 */
  index: number
  signShare(message: Uint8Array): Uint8Array
  verifyShare(index: number, message: Uint8Array, share: Uint8Array): boolean
  /** combines at least t shares of distinct indices (may throw on malformed shares) */
  combine(shares: { index: number; signature: Uint8Array }[]): Uint8Array
  verify(message: Uint8Array, signature: Uint8Array): boolean
}

export interface HistoryConsensusOptions {
  taskId: Uint8Array
  /** supervisors' Ed25519 public keys, sorted bytewise, distinct */
  committee: Uint8Array[]
  keys: KeyPair
  scheme: ThresholdScheme
  /** how often the leader proposes a slot while messages wait */
  slotIntervalMs: number
  /** most messages per slot (at most 512) */
  maxSlotMessages: number
  /** how long unslotted messages may wait without a new record before the leader is replaced */
  leaderTimeoutMs: number
  /** how long the leader waits for all n votes once it holds t (default slotIntervalMs / 2) */
  voteGraceMs?: number
  /** resume after slot `slot - 1`, whose hash is prevSlotHash (default: slot 0, zero hash) */
  startSlot?: { slot: number; prevSlotHash: Uint8Array }
  /** the epoch to start in (default 0) */
  startEpoch?: number
}

export const HISTORY_ERRORS = {
  WRONG_TASK: 'HISTORY_WRONG_TASK',
  NOT_MEMBER: 'HISTORY_NOT_MEMBER',
  NOT_LEADER: 'HISTORY_NOT_LEADER',
  BAD_SIGNATURE: 'HISTORY_BAD_SIGNATURE',
  BAD_PROPOSAL: 'HISTORY_BAD_PROPOSAL',
  EQUIVOCATION: 'HISTORY_EQUIVOCATION',
  BAD_VOTE: 'HISTORY_BAD_VOTE',
  BAD_RESULT: 'HISTORY_BAD_RESULT',
  BAD_SHARE: 'HISTORY_BAD_SHARE',
  BAD_REQUEST: 'HISTORY_BAD_REQUEST',
  FORGED_RECORD: 'HISTORY_FORGED_RECORD',
  /** a validly signed record that contradicts ours: t supervisors signed two histories */
  CONFLICT: 'HISTORY_CONFLICT',
  BAD_CONFIG: 'HISTORY_BAD_CONFIG',
} as const

/** Codes that mean the sender broke a rule (penalise it); the rest are local or systemic. */
export const HISTORY_FAULT_CODES: ReadonlySet<string> = new Set<string>([
  HISTORY_ERRORS.WRONG_TASK, HISTORY_ERRORS.NOT_MEMBER, HISTORY_ERRORS.NOT_LEADER, HISTORY_ERRORS.BAD_SIGNATURE,
  HISTORY_ERRORS.BAD_PROPOSAL, HISTORY_ERRORS.EQUIVOCATION, HISTORY_ERRORS.BAD_VOTE, HISTORY_ERRORS.BAD_RESULT,
  HISTORY_ERRORS.BAD_SHARE, HISTORY_ERRORS.BAD_REQUEST, HISTORY_ERRORS.FORGED_RECORD,
])

export function historyError(code: keyof typeof HISTORY_ERRORS, message: string, details?: Record<string, unknown>): PouwError {
  return new PouwError(HISTORY_ERRORS[code], message, details)
}

/** Where a message sits in the agreed history. */
export interface SlotPosition { slot: number; position: number }

/** Most unslotted hashes held; record() ignores more (the leader is expected to keep up). */
export const MAX_UNSLOTTED = 1 << 16
const MAX_EARLY = 16
const MAX_FUTURE_RECORDS = 256

interface PoolEntry { hash: Uint8Array; received: number | undefined }
interface ProposalEntry { proposal: SlotProposal; hash: Uint8Array }
interface LeaderSlot { proposal: SlotProposal; hashHex: string; hash: Uint8Array; votes: Map<string, SlotVote>; proposedAt: number; resultSent: boolean }
interface SigningSlot { slot: number; subject: Uint8Array; subjectHex: string; record: UnsignedHistory<MessageHistory>; result: SlotResult; shares: Map<number, Uint8Array> }
interface Replacing { body: ReplaceLeaderBody; subject: Uint8Array; subjectHex: string; shares: Map<number, Uint8Array>; shared: boolean; requester: number }

function isPermutation(xs: unknown, n: number): boolean {
  if (!Array.isArray(xs) || xs.length !== n) return false
  const seen = new Uint8Array(n)
  for (const x of xs) {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= n || seen[x] === 1) return false
    seen[x] = 1
  }
  return true
}

function lessBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!
  return a.length < b.length
}

function sameMessage(a: HistoryMessage, b: HistoryMessage): boolean {
  return bytesEqual(historyMessageToBytes(a), historyMessageToBytes(b))
}

export class HistoryConsensus {
  private readonly taskId: Uint8Array
  private readonly committee: Uint8Array[]
  private readonly members = new Map<string, number>()
  private readonly keys: KeyPair
  private readonly scheme: ThresholdScheme
  private readonly n: number
  private readonly t: number
  private readonly me: number
  private readonly slotIntervalMs: number
  private readonly maxSlotMessages: number
  private readonly leaderTimeoutMs: number
  private readonly voteGraceMs: number
  private readonly baseSlot: number

  private epoch: number
  /** REPLACE_LEADER records applied, per epoch (r_ξ) */
  private readonly rounds = new Map<number, number>()
  private nextSlot: number
  private lastHash: Uint8Array
  private readonly recs: MessageHistory[] = []
  private readonly replaced: ReplaceLeader[] = []
  private readonly slotted = new Map<string, SlotPosition>()
  /** known, unslotted hashes; insertion order = the order they became known */
  private readonly pool = new Map<string, PoolEntry>()
  private receiptSeq = 0
  /** since when unslotted messages have waited without progress (undefined: none wait) */
  private waitingSince: number | undefined

  /** proposals from the current leader for nextSlot, by proposal hash */
  private readonly proposals = new Map<string, ProposalEntry>()
  /** `${epoch}:${round}:${slot}` -> proposal hash, to catch a leader proposing twice */
  private readonly proposalKeys = new Map<string, string>()
  private leaderEquivocated = false
  private mine: LeaderSlot | undefined
  private lastProposalAt = -Infinity
  private signing: SigningSlot | undefined
  /** slot -> the slot hash this supervisor shared for it */
  private readonly locks = new Map<number, string>()
  private replacing: Replacing | undefined

  private readonly earlyResults = new Map<string, SlotResult>()
  private readonly earlyShares = new Map<string, Map<number, Uint8Array>>()
  private readonly futureRecords = new Map<number, MessageHistory>()
  private readonly futureReplacements = new Map<string, ReplaceLeader>()
  /** subjects (slot and replacement hashes) completed lately: their late shares are ignored unchecked */
  private readonly doneSubjects = new Set<string>()
  private newRecords: MessageHistory[] = []
  private newReplacements: ReplaceLeader[] = []

  constructor(opts: HistoryConsensusOptions) {
    const bad = (m: string): never => { throw historyError('BAD_CONFIG', m) }
    const { committee, scheme } = opts
    if (!(opts.taskId instanceof Uint8Array) || opts.taskId.length !== 16) bad('taskId must be 16 bytes')
    if (!Array.isArray(committee) || committee.length < 1 || committee.length > MAX_SUPERVISORS) bad(`committee of 1..${MAX_SUPERVISORS} keys expected`)
    committee.forEach((k, i) => {
      if (!(k instanceof Uint8Array) || k.length !== 32) bad(`committee key ${i} is not 32 bytes`)
      if (i > 0 && !lessBytes(committee[i - 1]!, k)) bad('committee keys must be sorted bytewise and distinct')
      this.members.set(toHex(k), i)
    })
    const me = this.members.get(toHex(opts.keys.publicKey))
    if (me === undefined) bad('our key is not in the committee')
    this.n = committee.length
    if (!Number.isInteger(scheme.t) || scheme.t < 1 || scheme.t > this.n || 2 * scheme.t <= this.n) bad(`threshold ${scheme.t} must be in (n/2, n] for n = ${this.n}`)
    if (scheme.index !== me! + 1) bad(`scheme index ${scheme.index}, expected committee position + 1 = ${me! + 1}`)
    if (!Number.isInteger(opts.maxSlotMessages) || opts.maxSlotMessages < 1 || opts.maxSlotMessages > MAX_SLOT_MESSAGES) bad(`maxSlotMessages must be in 1..${MAX_SLOT_MESSAGES}`)
    if (!(opts.slotIntervalMs >= 0) || !(opts.leaderTimeoutMs > 0)) bad('slotIntervalMs >= 0 and leaderTimeoutMs > 0 expected')
    const start = opts.startSlot ?? { slot: 0, prevSlotHash: ZERO_HASH }
    if (!Number.isInteger(start.slot) || start.slot < 0 || start.slot > 0xffff_ffff || start.prevSlotHash.length !== 32) bad('bad startSlot')
    this.taskId = opts.taskId.slice()
    this.committee = committee.map((k) => k.slice())
    this.keys = opts.keys
    this.scheme = scheme
    this.t = scheme.t
    this.me = me!
    this.slotIntervalMs = opts.slotIntervalMs
    this.maxSlotMessages = opts.maxSlotMessages
    this.leaderTimeoutMs = opts.leaderTimeoutMs
    this.voteGraceMs = opts.voteGraceMs ?? opts.slotIntervalMs / 2
    this.baseSlot = start.slot
    this.nextSlot = start.slot
    this.lastHash = start.prevSlotHash.slice()
    this.epoch = opts.startEpoch ?? 0
  }

  // ------------------------------------------------------------ queries

  /** Committee index of the leader of `epoch`: (epoch + r_epoch) mod n. */
  leaderIndex(epoch: number): number {
    return (epoch + (this.rounds.get(epoch) ?? 0)) % this.n
  }

  /** The agreed records this supervisor holds, oldest first. */
  records(): MessageHistory[] { return this.recs.slice() }

  /** REPLACE_LEADER records applied, in order. */
  replacements(): ReplaceLeader[] { return this.replaced.slice() }

  /** Records and replacements completed since the last drain. */
  drain(): { records: MessageHistory[]; replacements: ReplaceLeader[] } {
    const out = { records: this.newRecords, replacements: this.newReplacements }
    this.newRecords = []
    this.newReplacements = []
    return out
  }

  slotOf(messageHash: Uint8Array): SlotPosition | undefined {
    const p = this.slotted.get(toHex(messageHash))
    return p === undefined ? undefined : { ...p }
  }

  /** The slot the next record will have, and the hash it must chain to. */
  head(): { nextSlot: number; prevSlotHash: Uint8Array; epoch: number } {
    return { nextSlot: this.nextSlot, prevSlotHash: this.lastHash.slice(), epoch: this.epoch }
  }

  /** How many recorded hashes wait for a slot. */
  unslottedCount(): number { return this.pool.size }

  // ------------------------------------------------------------ inputs

  /** An IT_RES this supervisor accepted, in receipt order. */
  record(hash: Uint8Array, now: number): void {
    if (!(hash instanceof Uint8Array) || hash.length !== 32) throw new Error('internal: record() takes a 32-byte hash')
    const id = toHex(hash)
    if (this.slotted.has(id)) return
    const e = this.pool.get(id)
    if (e !== undefined) {
      if (e.received === undefined) e.received = this.receiptSeq++
      return
    }
    if (this.pool.size >= MAX_UNSLOTTED) return
    this.pool.set(id, { hash: hash.slice(), received: this.receiptSeq++ })
    this.waitingSince ??= now
  }

  /** Timers: the leader proposes and tallies; others detect a stalled leader. Returns messages to broadcast. */
  tick(now: number, epoch: number): HistoryMessage[] {
    this.advanceEpoch(epoch, now)
    const out: HistoryMessage[] = []
    if (this.leaderIndex(this.epoch) === this.me) out.push(...this.leaderTick(now))
    out.push(...this.stallTick(now))
    return out
  }

  /** A history message from another supervisor. Returns messages to broadcast; throws PouwError HISTORY_* to refuse it. */
  receive(msg: HistoryMessage, now: number): HistoryMessage[] {
    if (!(msg.taskId instanceof Uint8Array) || !bytesEqual(msg.taskId, this.taskId)) {
      throw historyError('WRONG_TASK', `${msg.type} for task ${msg.taskId instanceof Uint8Array ? toHex(msg.taskId) : '?'}`)
    }
    switch (msg.type) {
      case 'proposal': return this.onProposal(msg, now)
      case 'vote': return this.onVote(msg, now)
      case 'result': return this.onResult(msg, now)
      case 'share': return this.onShare(msg, now)
      case 'history': return this.onRecord(msg, now)
      case 'replace-request': return this.onReplaceRequest(msg, now)
      case 'replace': return this.onReplace(msg, now)
      default: throw historyError('BAD_PROPOSAL', `unknown history message type ${String((msg as { type?: unknown }).type)}`)
    }
  }

  // ------------------------------------------------------------ helpers

  private memberOf(key: Uint8Array, what: string): number {
    const i = key instanceof Uint8Array ? this.members.get(toHex(key)) : undefined
    if (i === undefined) throw historyError('NOT_MEMBER', `${what} ${key instanceof Uint8Array ? toHex(key).slice(0, 16) : '?'} is not a supervisor of this task`)
    return i
  }

  private round(epoch: number): number { return this.rounds.get(epoch) ?? 0 }

  private stalled(now: number): boolean {
    return this.waitingSince !== undefined && now - this.waitingSince >= this.leaderTimeoutMs
  }

  private advanceEpoch(epoch: number, now: number): void {
    if (!Number.isInteger(epoch) || epoch <= this.epoch || epoch > 0xffff) return
    const before = this.leaderIndex(this.epoch)
    this.epoch = epoch
    for (const e of this.rounds.keys()) if (e < epoch - 1) this.rounds.delete(e)
    if (this.leaderIndex(epoch) !== before) this.onLeaderChange(now)
    else this.replacing = undefined
  }

  private onLeaderChange(now: number): void {
    this.mine = undefined
    this.proposals.clear()
    this.replacing = undefined
    this.leaderEquivocated = false
    this.lastProposalAt = -Infinity
    this.waitingSince = this.pool.size > 0 ? now : undefined
  }

  /** This supervisor's ballot: its receipt order, then hashes it has not received in the proposal's order. */
  private ballot(p: SlotProposal): number[] {
    const keyed = p.messages.map((h, i) => ({ i, seq: this.pool.get(toHex(h))?.received ?? Infinity }))
    keyed.sort((a, b) => (a.seq === b.seq ? a.i - b.i : a.seq < b.seq ? -1 : 1))
    return keyed.map((k) => k.i)
  }

  private castVote(entry: ProposalEntry): SlotVote {
    return signSlotVote({
      type: 'vote', taskId: this.taskId, slot: entry.proposal.slot, proposalHash: entry.hash,
      voter: this.keys.publicKey, ranking: this.ballot(entry.proposal),
    }, this.keys.secretKey)
  }

  /** Combines t shares; if the result does not verify, drops the shares that do not verify and retries. */
  private combineVerified(subject: Uint8Array, shares: Map<number, Uint8Array>): Uint8Array | undefined {
    const attempt = (): Uint8Array | undefined => {
      try {
        const sig = this.scheme.combine([...shares].map(([index, signature]) => ({ index, signature })))
        return this.scheme.verify(subject, sig) ? sig : undefined
      } catch {
        return undefined
      }
    }
    const sig = attempt()
    if (sig !== undefined) return sig
    for (const [i, s] of [...shares]) if (!this.scheme.verifyShare(i, subject, s)) shares.delete(i)
    return shares.size >= this.t ? attempt() : undefined
  }

  private shareMessage(subject: Uint8Array, share: Uint8Array): SigShare {
    return signSigShare({
      type: 'share', taskId: this.taskId, subject, signer: this.keys.publicKey, index: this.me + 1, share,
    }, this.keys.secretKey)
  }

  private takeEarlyShares(subjectHex: string, into: Map<number, Uint8Array>): void {
    const early = this.earlyShares.get(subjectHex)
    if (early === undefined) return
    this.earlyShares.delete(subjectHex)
    for (const [i, s] of early) if (!into.has(i)) into.set(i, s)
  }

  private markDone(subjectHex: string): void {
    if (this.doneSubjects.size >= MAX_EARLY) this.doneSubjects.delete(this.doneSubjects.values().next().value!)
    this.doneSubjects.add(subjectHex)
    this.earlyShares.delete(subjectHex)
  }

  // ------------------------------------------------------------ leader

  private leaderTick(now: number): HistoryMessage[] {
    const mine = this.mine
    if (mine !== undefined && mine.proposal.slot === this.nextSlot && (mine.resultSent || mine.proposal.epoch === this.epoch)) {
      if (!mine.resultSent && mine.votes.size >= this.t && now - mine.proposedAt >= this.voteGraceMs) return this.sendResult(now)
      return []
    }
    this.mine = undefined
    if (this.pool.size === 0 || now - this.lastProposalAt < this.slotIntervalMs) return []
    // a slot we already shared (for a previous leader) is still collecting shares: we could not sign another
    if (this.locks.has(this.nextSlot)) return []
    const entries = [...this.pool.values()]
    const received = entries.filter((e) => e.received !== undefined).sort((a, b) => a.received! - b.received!)
    const heard = entries.filter((e) => e.received === undefined)
    const messages = [...received, ...heard].slice(0, this.maxSlotMessages).map((e) => e.hash)
    const round = this.round(this.epoch)
    const proposal = signSlotProposal({
      type: 'proposal', taskId: this.taskId, epoch: this.epoch, slot: this.nextSlot, leader: this.keys.publicKey,
      prevSlotHash: this.lastHash, messages,
    }, this.keys.secretKey)
    const hash = proposalHash(proposal)
    const hashHex = toHex(hash)
    const entry = { proposal, hash }
    this.proposals.set(hashHex, entry)
    this.proposalKeys.set(`${this.epoch}:${round}:${this.nextSlot}`, hashHex)
    const vote = this.castVote(entry)
    this.mine = { proposal, hash, hashHex, votes: new Map([[toHex(this.keys.publicKey), vote]]), proposedAt: now, resultSent: false }
    this.lastProposalAt = now
    const out: HistoryMessage[] = [proposal, vote]
    if (this.n === 1) out.push(...this.sendResult(now))
    return out
  }

  private sendResult(now: number): HistoryMessage[] {
    const mine = this.mine!
    const votes = [...mine.votes.values()].sort((a, b) => (lessBytes(a.voter, b.voter) ? -1 : 1))
    const order = schulze(mine.proposal.messages.length, votes.map((v) => v.ranking))
    const result = signSlotResult({
      type: 'result', taskId: this.taskId, slot: mine.proposal.slot, proposalHash: mine.hash, leader: this.keys.publicKey,
      order, votes,
    }, this.keys.secretKey)
    mine.resultSent = true
    return [result, ...this.acceptResult(result, { proposal: mine.proposal, hash: mine.hash }, order, now)]
  }

  private onVote(v: SlotVote, now: number): HistoryMessage[] {
    const voterIndex = this.memberOf(v.voter, 'voter')
    const mine = this.mine
    if (mine === undefined || !bytesEqual(v.proposalHash, mine.hash)) return [] // not a proposal of ours (in flight)
    if (v.slot !== mine.proposal.slot) throw historyError('BAD_VOTE', `vote for slot ${v.slot} on a proposal for slot ${mine.proposal.slot}`)
    const m = mine.proposal.messages.length
    if (!isPermutation(v.ranking, m)) throw historyError('BAD_VOTE', `ranking is not a permutation of the proposal's ${m} indices`)
    const id = toHex(v.voter)
    const prev = mine.votes.get(id)
    if (prev !== undefined) {
      if (sameMessage(prev, v)) return []
      throw historyError('BAD_VOTE', `supervisor ${voterIndex} already voted with a different ballot`, { voter: voterIndex })
    }
    if (mine.resultSent) return [] // too late to count
    if (!verifyHistorySignature(v)) throw historyError('BAD_SIGNATURE', `vote of supervisor ${voterIndex}`)
    mine.votes.set(id, v)
    return mine.votes.size === this.n ? this.sendResult(now) : []
  }

  // ------------------------------------------------------------ everyone

  private onProposal(p: SlotProposal, now: number): HistoryMessage[] {
    const leader = this.memberOf(p.leader, 'proposer')
    if (p.epoch < this.epoch || p.epoch > this.epoch + 1) return [] // stale, or too far ahead of our clock
    if (leader !== this.leaderIndex(p.epoch)) {
      throw historyError('NOT_LEADER', `supervisor ${leader} proposed in epoch ${p.epoch}, whose leader is ${this.leaderIndex(p.epoch)}`)
    }
    if (!verifyHistorySignature(p)) throw historyError('BAD_SIGNATURE', `proposal of supervisor ${leader}`)
    if (p.slot !== this.nextSlot) return [] // done already, or we are behind (records will catch us up)
    if (!bytesEqual(p.prevSlotHash, this.lastHash)) throw historyError('BAD_PROPOSAL', `proposal for slot ${p.slot} does not extend our slot ${p.slot - 1}`)
    if (p.messages.length < 1 || p.messages.length > this.maxSlotMessages) throw historyError('BAD_PROPOSAL', `${p.messages.length} messages, 1..${this.maxSlotMessages} allowed`)
    const ids = new Set<string>()
    for (const h of p.messages) {
      const id = toHex(h)
      if (h.length !== 32 || ids.has(id)) throw historyError('BAD_PROPOSAL', 'a proposed hash is malformed or repeated')
      if (this.slotted.has(id)) throw historyError('BAD_PROPOSAL', `message ${id.slice(0, 16)} is already in slot ${this.slotted.get(id)!.slot}`)
      ids.add(id)
    }
    const hash = proposalHash(p)
    const hashHex = toHex(hash)
    if (this.proposals.has(hashHex)) return []
    const key = `${p.epoch}:${this.round(p.epoch)}:${p.slot}`
    const earlier = this.proposalKeys.get(key)
    if (earlier !== undefined && earlier !== hashHex) {
      this.leaderEquivocated = true
      throw historyError('EQUIVOCATION', `supervisor ${leader} proposed two different slots ${p.slot}`, { leader })
    }
    // accepted: from here on the state changes
    this.advanceEpoch(p.epoch, now)
    this.proposalKeys.set(key, hashHex)
    for (const k of this.proposalKeys.keys()) if (Number(k.split(':')[2]) < this.nextSlot) this.proposalKeys.delete(k)
    for (const h of p.messages) {
      const id = toHex(h)
      if (!this.pool.has(id) && this.pool.size < MAX_UNSLOTTED) this.pool.set(id, { hash: h.slice(), received: undefined })
    }
    if (this.pool.size > 0) this.waitingSince ??= now
    const entry = { proposal: p, hash }
    this.proposals.set(hashHex, entry)
    const out: HistoryMessage[] = [this.castVote(entry)]
    const early = this.earlyResults.get(hashHex)
    if (early !== undefined) {
      this.earlyResults.delete(hashHex)
      try { out.push(...this.onResult(early, now)) } catch { /* the buffered result was bad: drop it */ }
    }
    return out
  }

  private onResult(r: SlotResult, now: number): HistoryMessage[] {
    const leader = this.memberOf(r.leader, 'result sender')
    const hashHex = toHex(r.proposalHash)
    const entry = this.proposals.get(hashHex)
    if (entry === undefined) {
      // the proposal has not reached us yet (or the slot is done): keep a checked copy for a while
      if (r.slot >= this.nextSlot && !this.earlyResults.has(hashHex) && verifyHistorySignature(r)) {
        if (this.earlyResults.size >= MAX_EARLY) this.earlyResults.delete(this.earlyResults.keys().next().value!)
        this.earlyResults.set(hashHex, r)
      }
      return []
    }
    const p = entry.proposal
    if (!bytesEqual(r.leader, p.leader)) throw historyError('NOT_LEADER', `supervisor ${leader} sent the result of another's proposal`)
    if (r.slot !== p.slot) throw historyError('BAD_RESULT', `result for slot ${r.slot} on a proposal for slot ${p.slot}`)
    if (this.signing !== undefined && this.signing.slot === p.slot && sameMessage(this.signing.result, r)) return []
    if (!verifyHistorySignature(r)) throw historyError('BAD_SIGNATURE', `result of supervisor ${leader}`)
    const m = p.messages.length
    if (!Array.isArray(r.votes) || r.votes.length < this.t) throw historyError('BAD_RESULT', `${r.votes?.length} votes, at least ${this.t} needed`)
    if (!isPermutation(r.order, m)) throw historyError('BAD_RESULT', 'the order is not a permutation of the proposal')
    const voters = new Set<number>()
    for (const v of r.votes) {
      const vi = this.memberOf(v.voter, 'voter')
      if (voters.has(vi)) throw historyError('BAD_VOTE', `supervisor ${vi} voted twice in the result`, { voter: vi })
      voters.add(vi)
      if (!bytesEqual(v.taskId, this.taskId) || v.slot !== p.slot || !bytesEqual(v.proposalHash, entry.hash)) {
        throw historyError('BAD_VOTE', `vote of supervisor ${vi} is about another proposal`)
      }
      if (!isPermutation(v.ranking, m)) throw historyError('BAD_VOTE', `ranking of supervisor ${vi} is not a permutation of ${m} indices`)
      if (!verifyHistorySignature(v)) throw historyError('BAD_SIGNATURE', `vote of supervisor ${vi}`)
    }
    const order = schulze(m, r.votes.map((v) => v.ranking))
    for (let i = 0; i < m; i++) {
      if (order[i] !== r.order[i]) throw historyError('BAD_RESULT', `the order does not follow from the votes (position ${i}: ${r.order[i]}, Schulze gives ${order[i]})`)
    }
    return this.acceptResult(r, entry, order, now)
  }

  /** A checked result: compute the record, lock the slot, share. */
  private acceptResult(r: SlotResult, entry: ProposalEntry, order: number[], now: number): HistoryMessage[] {
    const p = entry.proposal
    if (p.slot !== this.nextSlot) return []
    const record: UnsignedHistory<MessageHistory> = {
      type: 'history', taskId: this.taskId, epoch: p.epoch, slot: p.slot, prevSlotHash: p.prevSlotHash,
      messages: order.map((i) => p.messages[i]!),
    }
    const subject = slotHash(record)
    const subjectHex = toHex(subject)
    const lock = this.locks.get(p.slot)
    if (lock !== undefined) return [] // we already shared this slot (this very hash, or another leader's)
    this.locks.set(p.slot, subjectHex)
    const share = this.scheme.signShare(subject)
    const shares = new Map<number, Uint8Array>([[this.me + 1, share]])
    this.takeEarlyShares(subjectHex, shares)
    this.signing = { slot: p.slot, subject, subjectHex, record, result: r, shares }
    return [this.shareMessage(subject, share), ...this.completeSlot(now)]
  }

  private onShare(s: SigShare, now: number): HistoryMessage[] {
    const signer = this.memberOf(s.signer, 'share signer')
    if (s.index !== signer + 1) throw historyError('BAD_SHARE', `supervisor ${signer} signed a share with index ${s.index}, expected ${signer + 1}`)
    const subjectHex = toHex(s.subject)
    const sg = this.signing
    const rep = this.replacing
    const target = sg !== undefined && sg.subjectHex === subjectHex ? sg.shares
      : rep !== undefined && rep.subjectHex === subjectHex ? rep.shares
        : undefined
    if (target === undefined) {
      if (this.doneSubjects.has(subjectHex)) return [] // a late share for something already complete
      // a slot or replacement we have not reached yet: keep signed shares for a while
      const early = this.earlyShares.get(subjectHex)
      if (early?.has(s.index) === true || !verifyHistorySignature(s)) return []
      if (early === undefined) {
        if (this.earlyShares.size >= MAX_EARLY) this.earlyShares.delete(this.earlyShares.keys().next().value!)
        this.earlyShares.set(subjectHex, new Map([[s.index, s.share]]))
      } else early.set(s.index, s.share)
      return []
    }
    const prev = target.get(s.index)
    if (prev !== undefined) {
      if (bytesEqual(prev, s.share)) return []
      throw historyError('BAD_SHARE', `supervisor ${signer} sent two different shares`)
    }
    if (!verifyHistorySignature(s)) throw historyError('BAD_SIGNATURE', `share of supervisor ${signer}`)
    target.set(s.index, s.share)
    return target === sg?.shares ? this.completeSlot(now) : this.completeReplacement(now)
  }

  private completeSlot(now: number): HistoryMessage[] {
    const sg = this.signing
    if (sg === undefined || sg.slot !== this.nextSlot || sg.shares.size < this.t) return []
    const signature = this.combineVerified(sg.subject, sg.shares)
    if (signature === undefined) return []
    const rec: MessageHistory = { ...sg.record, signature }
    this.append(rec, now)
    // the proposer broadcasts; everyone else who combined has the same bytes
    return bytesEqual(sg.result.leader, this.keys.publicKey) ? [rec] : []
  }

  private onRecord(rec: MessageHistory, now: number): HistoryMessage[] {
    const have = rec.slot < this.nextSlot && rec.slot >= this.baseSlot ? this.recs[rec.slot - this.baseSlot] : this.futureRecords.get(rec.slot)
    if (have !== undefined && sameMessage(have, rec)) return []
    if (rec.slot < this.baseSlot) return [] // before the point we started from: nothing to check against
    if (!this.scheme.verify(slotHash(rec), rec.signature)) {
      throw historyError('FORGED_RECORD', `slot ${rec.slot}: the threshold signature does not verify`)
    }
    if (have !== undefined || (rec.slot === this.nextSlot && !bytesEqual(rec.prevSlotHash, this.lastHash))) {
      throw historyError('CONFLICT', `a second, validly signed history for slot ${rec.slot}`)
    }
    if (rec.slot > this.nextSlot) {
      if (this.futureRecords.size < MAX_FUTURE_RECORDS) this.futureRecords.set(rec.slot, rec)
      return []
    }
    for (const h of rec.messages) {
      const at = this.slotted.get(toHex(h))
      if (at !== undefined) throw historyError('CONFLICT', `slot ${rec.slot} repeats a message of slot ${at.slot}`)
    }
    this.append(rec, now)
    return []
  }

  private append(rec: MessageHistory, now: number): void {
    let next: MessageHistory | undefined = rec
    while (next !== undefined) {
      const r: MessageHistory = next
      this.recs.push(r)
      r.messages.forEach((h, position) => {
        const id = toHex(h)
        this.slotted.set(id, { slot: r.slot, position })
        this.pool.delete(id)
      })
      this.lastHash = slotHash(r)
      this.markDone(toHex(this.lastHash))
      this.locks.delete(r.slot)
      this.futureRecords.delete(r.slot)
      this.nextSlot = r.slot + 1
      this.newRecords.push(r)
      next = this.futureRecords.get(this.nextSlot)
      if (next !== undefined && (!bytesEqual(next.prevSlotHash, this.lastHash) || next.messages.some((h) => this.slotted.has(toHex(h))))) {
        this.futureRecords.delete(this.nextSlot)
        next = undefined
      }
    }
    if (this.signing !== undefined && this.signing.slot < this.nextSlot) this.signing = undefined
    if (this.mine !== undefined && this.mine.proposal.slot < this.nextSlot) this.mine = undefined
    this.proposals.clear()
    for (const [k, r] of this.earlyResults) if (r.slot < this.nextSlot) this.earlyResults.delete(k)
    for (const s of this.locks.keys()) if (s < this.nextSlot) this.locks.delete(s)
    this.leaderEquivocated = false
    this.waitingSince = this.pool.size > 0 ? now : undefined
  }

  // ------------------------------------------------------------ leader replacement

  private stallTick(now: number): HistoryMessage[] {
    if (this.waitingSince === undefined) return []
    const leader = this.leaderIndex(this.epoch)
    if (leader === this.me || this.n === 1) return []
    const round = this.round(this.epoch)
    const rep = this.replacing
    if (rep !== undefined && (rep.body.epoch !== this.epoch || rep.body.round !== round)) this.replacing = undefined
    const waited = now - this.waitingSince
    if (waited < this.leaderTimeoutMs) return []
    if (this.replacing !== undefined) {
      if (this.replacing.shared) return []
      const r = this.replacing
      r.shared = true
      const share = this.scheme.signShare(r.subject)
      r.shares.set(this.me + 1, share)
      return [this.shareMessage(r.subject, share), ...this.completeReplacement(now)]
    }
    // the j-th supervisor after the leader asks once the wait reaches j timeouts
    const j = (this.me - leader + this.n) % this.n
    if (waited < j * this.leaderTimeoutMs) return []
    const reason: ReplaceReason = this.leaderEquivocated ? 'malicious' : this.proposals.size > 0 ? 'slow' : 'offline'
    const body: ReplaceLeaderBody = { taskId: this.taskId, epoch: this.epoch, round, leaderIndex: leader, reason }
    const subject = replaceLeaderHash(body)
    const subjectHex = toHex(subject)
    const share = this.scheme.signShare(subject)
    const shares = new Map<number, Uint8Array>([[this.me + 1, share]])
    this.takeEarlyShares(subjectHex, shares)
    this.replacing = { body, subject, subjectHex, shares, shared: true, requester: this.me }
    const request = signReplaceRequest({
      type: 'replace-request', ...body, requester: this.keys.publicKey, index: this.me + 1, share,
    }, this.keys.secretKey)
    return [request, ...this.completeReplacement(now)]
  }

  private onReplaceRequest(q: ReplaceLeaderRequest, now: number): HistoryMessage[] {
    const requester = this.memberOf(q.requester, 'requester')
    if (q.index !== requester + 1) throw historyError('BAD_REQUEST', `supervisor ${requester} used share index ${q.index}`)
    if (q.epoch !== this.epoch || q.round !== this.round(q.epoch)) return [] // stale, or we have not caught up yet
    const leader = this.leaderIndex(q.epoch)
    if (q.leaderIndex !== leader) throw historyError('BAD_REQUEST', `request replaces supervisor ${q.leaderIndex}, the leader is ${leader}`)
    if (requester === leader) throw historyError('BAD_REQUEST', 'a leader cannot ask to replace itself')
    if (!verifyHistorySignature(q)) throw historyError('BAD_SIGNATURE', `replace request of supervisor ${requester}`)
    const subject = replaceLeaderHash(q)
    const subjectHex = toHex(subject)
    const rep = this.replacing
    if (rep !== undefined) {
      // we already back a request for this leader: a request with the same subject adds its share, another is ignored
      if (rep.subjectHex !== subjectHex || rep.shares.has(q.index)) return []
      rep.shares.set(q.index, q.share)
      return this.completeReplacement(now)
    }
    const { taskId, epoch, round, leaderIndex, reason } = q
    const shares = new Map<number, Uint8Array>([[q.index, q.share]])
    this.takeEarlyShares(subjectHex, shares)
    this.replacing = { body: { taskId, epoch, round, leaderIndex, reason }, subject, subjectHex, shares, shared: false, requester }
    const out: HistoryMessage[] = []
    if (this.me !== leader && this.stalled(now)) {
      this.replacing.shared = true
      const share = this.scheme.signShare(subject)
      shares.set(this.me + 1, share)
      out.push(this.shareMessage(subject, share))
    }
    out.push(...this.completeReplacement(now))
    return out
  }

  private completeReplacement(now: number): HistoryMessage[] {
    const rep = this.replacing
    if (rep === undefined || rep.shares.size < this.t || !rep.shares.has(rep.requester + 1)) return []
    const signature = this.combineVerified(rep.subject, rep.shares)
    if (signature === undefined) return []
    const rec: ReplaceLeader = { type: 'replace', ...rep.body, signature }
    this.applyReplacement(rec, now)
    return rep.requester === this.me ? [rec] : []
  }

  private onReplace(rec: ReplaceLeader, now: number): HistoryMessage[] {
    if (rec.epoch < this.epoch) return [] // an old epoch's rotation no longer matters
    const done = this.round(rec.epoch)
    if (rec.round < done) return []
    const key = `${rec.epoch}:${rec.round}`
    const buffered = this.futureReplacements.get(key)
    if (buffered !== undefined && sameMessage(buffered, rec)) return []
    if (!this.scheme.verify(replaceLeaderHash(rec), rec.signature)) {
      throw historyError('FORGED_RECORD', `replace-leader record for epoch ${rec.epoch}: the threshold signature does not verify`)
    }
    if (rec.round > done) {
      if (this.futureReplacements.size < MAX_FUTURE_RECORDS) this.futureReplacements.set(key, rec)
      return []
    }
    const leader = this.leaderIndex(rec.epoch)
    if (rec.leaderIndex !== leader) throw historyError('CONFLICT', `replace-leader record names supervisor ${rec.leaderIndex}, the leader is ${leader}`)
    this.applyReplacement(rec, now)
    return []
  }

  private applyReplacement(rec: ReplaceLeader, now: number): void {
    let next: ReplaceLeader | undefined = rec
    while (next !== undefined) {
      this.replaced.push(next)
      this.newReplacements.push(next)
      this.rounds.set(next.epoch, next.round + 1)
      this.markDone(toHex(replaceLeaderHash(next)))
      if (next.epoch === this.epoch) this.onLeaderChange(now)
      const key = `${next.epoch}:${next.round + 1}`
      next = this.futureReplacements.get(key)
      this.futureReplacements.delete(key)
      if (next !== undefined && next.leaderIndex !== this.leaderIndex(next.epoch)) next = undefined
    }
  }
}
