import {
  DkgSession, PouwError, TAGS, Writer, bytesEqual, combineSignatures, compareBytes, concatBytes, dkgMessageFromBytes,
  dkgMessageToBytes, epochMessageFromBytes, epochMessageToBytes, epochRecordHash, fromHex, historyMessageFromBytes,
  historyMessageToBytes, isPouwError, sign, signEpochProposal, signShare, signSigShare, slotHash,
  taggedHash, thresholdFor, toHex, verify, verifyEpochProposal, verifyEpochRecord, verifyHistorySignature,
  verifySignatureShare, verifyTaskJoin, verifyThresholdSignature, TOPICS,
  dkgSuccessFromBytes, type DkgMessage, type DkgResult, type DkgSuccess, type EpochProposal, type HistoryAnchor, type EpochRecord, type HistoryMessage, type ItRes,
  type KeyPair, type MessageHistory, type SigShare, type TaskSpec,
} from '@pouw/protocol'
import { HistoryConsensus, type KeyValueStore, type ThresholdScheme } from '@pouw/ledger'
import type { TaskData } from '@pouw/trainer'
import type { PubSubNetwork } from '@pouw/network/node'

/**
 * The relay's supervisor role (paper 003 §4.2.1 and §4.3):
 *  - forms the committee of supervisors (every relay of the testnet announces its key),
 *  - runs the Joint-Feldman DKG for the committee's t-of-n BLS key and keeps its share,
 *  - agrees on the message history with the other supervisors (HistoryConsensus: slots,
 *    Schulze votes, threshold-signed MESSAGE_HISTORY records, REPLACE_LEADER),
 *  - admits miners (TASK_JOIN) and starts epochs with threshold-signed EPOCH records: the
 *    epoch's leader proposes the members once a majority finished the last epoch, the
 *    others answer with signature shares.
 * Everything arrives by gossip; the consensus parts are the pure state machines of
 * @pouw/protocol and @pouw/ledger, this class only wires them to the network, the
 * clock and LevelDB.
 */
export interface SupervisorOptions {
  task: TaskSpec
  data: TaskData
  keys: KeyPair
  network: PubSubNetwork
  store: KeyValueStore
  /** how many supervisors form the committee (the testnet's relay count) */
  committeeSize: number
  /** epoch 0 starts once this many miners joined ... */
  minMiners: number
  /** ... and this long after that count was first reached, so that near-simultaneous joiners make it */
  joinGraceMs: number
  slotIntervalMs?: number
  leaderTimeoutMs?: number
  log: (msg: string, ctx?: Record<string, unknown>) => void
  now?: () => number
  randomBytes?: (n: number) => Uint8Array
}

/** Envelope kinds on the supervisors' topic. */
const KIND = { hello: 1, dkg: 2, history: 3, epochShare: 4, epochProposal: 5 } as const
/**
 * A miner counts as live this long after its last join or IT_RES (a waiting page re-joins every
 * ~3 s). Long, because a supervisor's view of liveness is local: on a busy machine a relay's event
 * loop stalls for up to 30 s and gossip loses messages that HTTP re-delivery brings 5-10 s later.
 * With 10 s, two supervisors saw different live sets at the end of an epoch, proposed different
 * members for the next one, each signed its own, and no proposal ever got t shares (issue 3).
 * The cost: a tab that really left holds the next epoch up to this long.
 */
const LIVE_MS = 45_000
/** how often the message history's progress is logged while it moves or messages wait */
const HISTORY_LOG_MS = 10_000
const REBROADCAST_MS = 2_000
/** at most this many of our history messages about the open slot are repeated each REBROADCAST_MS */
const MAX_REPEATED = 16
const DKG_TIMEOUTS_MS = [20_000, 35_000]
/** the committee's one DKG session (dkgSessionId's attempt): a block's history anchor names it */
const DKG_ATTEMPT = 0
/** how long a finished majority may wait for an absent leader before the next supervisor proposes */
const EPOCH_BACKUP_MS = 8_000
/** if the majority rule never holds (messages lost), the epoch still ends this long after it started */
const EPOCH_STRAGGLER_MS = 120_000

const enc = new TextEncoder()
const dec = new TextDecoder()
const KEYS = {
  dkg: (session: string) => `sup/dkg/${session}`,
  history: (slot: number) => `sup/history/${slot.toString(16).padStart(8, '0')}`,
  epoch: (epoch: number) => `sup/epoch/${epoch.toString(16).padStart(4, '0')}`,
  signedEpoch: (epoch: number) => `sup/signed-epoch/${epoch.toString(16).padStart(4, '0')}`,
}

/**
 * kind, a sequence number, the message. gossipsub identifies messages by their bytes and drops
 * a re-publication of the same bytes as a duplicate for minutes: the sequence number makes each
 * re-broadcast (to a supervisor that started late or missed it) a new gossip message.
 */
let sequence = 0
function envelope(kind: number, body: Uint8Array): Uint8Array {
  sequence = (sequence + 1) >>> 0
  return concatBytes(Uint8Array.of(kind), new Writer().u32(sequence).finish(), body)
}

function helloSigningHash(taskId: Uint8Array, key: Uint8Array): Uint8Array {
  return taggedHash(TAGS.supervisorHello, new Writer().fixed(taskId, 16).fixed(key, 32).finish())
}

export interface SupervisorStatus {
  key: string
  committee: string[]
  t: number
  dkg: 'waiting-for-committee' | 'running' | 'done'
  groupPublicKey: string | null
  epoch: number | null
  epochMiners: string[]
  history: { slots: number; lastSlotHash: string | null; unslotted: number; leader: number | null }
  joined: number
  refused: Record<string, number>
}

export class Supervisor {
  private readonly taskHex: string
  private readonly topic: string
  private readonly epochTopic: string
  private readonly now: () => number
  private readonly randomBytes: (n: number) => Uint8Array
  private hellos = new Map<string, Uint8Array>()
  private committee: Uint8Array[] | undefined
  private dkg: DkgSession | undefined
  private dkgStartedAt = 0
  private dkgTimeouts = 0
  private result: DkgResult | undefined
  /** the qualified members' DKG_SUCCESSFUL messages for our result: a block's MESSAGE_HISTORY anchor carries them */
  private proof: DkgSuccess[] | undefined
  private history: HistoryConsensus | undefined
  private historyRecords: MessageHistory[] = []
  private slotted = new Map<string, number>() // IT_RES hash -> slot
  private epochs: EpochRecord[] = []
  private signedEpochs = new Map<number, string>()
  private epochShares = new Map<string, Map<number, Uint8Array>>() // record hash -> index -> share
  private pendingProposal: EpochProposal | undefined
  private joined = new Map<string, number>() // miner hex -> last seen (ms)
  private joinedAt = new Map<string, number>()
  private progress = new Map<number, Map<string, Set<number>>>() // epoch -> miner -> batches trained
  private minReachedAt: number | undefined
  private epochStartedAt = new Map<number, number>() // epoch -> when this supervisor accepted its record
  private readyAt = new Map<number, number>() // epoch -> when the rule to start it first held here
  private lastBroadcast = 0
  /** our history messages about the slot still open (see tick) */
  private unanswered: HistoryMessage[] = []
  private waiters: Array<() => void> = []
  private timer: ReturnType<typeof setInterval> | undefined
  private readonly refused: Record<string, number> = {}
  private stopped = false
  private lastHistoryLog = 0
  private loggedSlots = 0

  constructor(private readonly opts: SupervisorOptions) {
    this.taskHex = toHex(opts.task.taskId)
    this.topic = TOPICS.supervisors(this.taskHex)
    this.epochTopic = TOPICS.epochs(this.taskHex)
    this.now = opts.now ?? Date.now
    this.randomBytes = opts.randomBytes ?? ((n) => crypto.getRandomValues(new Uint8Array(n)))
    this.hellos.set(toHex(opts.keys.publicKey), opts.keys.publicKey)
  }

  /** Topics the relay must subscribe to. */
  get topics(): string[] { return [this.topic, this.epochTopic] }

  async start(): Promise<void> {
    for await (const [, v] of this.opts.store.iterate('sup/epoch/')) {
      const m = epochMessageFromBytes(v)
      if (m.kind === 'record') { this.epochs.push(m); this.epochStartedAt.set(m.epoch, this.now()) }
    }
    for await (const [k, v] of this.opts.store.iterate('sup/signed-epoch/')) {
      this.signedEpochs.set(parseInt(k.slice('sup/signed-epoch/'.length), 16), dec.decode(v))
    }
    for await (const [, v] of this.opts.store.iterate('sup/history/')) {
      const m = historyMessageFromBytes(v)
      if (m.type === 'history') this.addHistoryRecord(m)
    }
    this.maybeFormCommittee()
    this.timer = setInterval(() => this.tick(), 250)
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    for (const w of this.waiters) w()
  }

  // ---------------------------------------------------------------- queries

  members(epoch: number): Uint8Array[] | undefined {
    return this.epochs.find((r) => r.epoch === epoch)?.miners
  }

  epochRecords(): EpochRecord[] { return [...this.epochs] }
  historyList(): MessageHistory[] { return [...this.historyRecords] }
  groupPublicKey(): Uint8Array | undefined { return this.result?.groupPublicKey }

  /**
   * The MESSAGE_HISTORY anchor for a block (protocol tx.ts HistoryAnchor): the latest agreed slot
   * and the DKG proof of the key that signed it; undefined before both exist (or after a restart
   * of a relay whose DKG finished before proofs were kept).
   */
  historyAnchor(): HistoryAnchor | undefined {
    const record = this.historyRecords[this.historyRecords.length - 1]
    if (record === undefined || this.proof === undefined) return undefined
    return { attempt: DKG_ATTEMPT, successes: this.proof, record }
  }
  isSlotted(hash: Uint8Array): boolean { return this.slotted.has(toHex(hash)) }

  /** Resolves true once every hash is in an agreed MESSAGE_HISTORY slot, false after `timeoutMs`. */
  async waitForHistory(hashes: Uint8Array[], timeoutMs: number): Promise<boolean> {
    const deadline = this.now() + timeoutMs
    while (!hashes.every((h) => this.isSlotted(h))) {
      if (this.stopped || this.now() >= deadline) return false
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 500)
        this.waiters.push(() => { clearTimeout(t); resolve() })
      })
    }
    return true
  }

  /** The committee's supervisor keys (its verifiers), undefined before it formed. */
  committeeKeys(): Uint8Array[] | undefined {
    return this.committee?.slice()
  }

  /** Whether `key` is one of the committee's supervisors (false before the committee formed). */
  isCommitteeMember(key: Uint8Array): boolean {
    return (this.committee ?? []).some((k) => bytesEqual(k, key))
  }

  status(): SupervisorStatus {
    const last = this.historyRecords[this.historyRecords.length - 1]
    const lastEpoch = this.epochs[this.epochs.length - 1]
    return {
      key: toHex(this.opts.keys.publicKey),
      committee: (this.committee ?? []).map(toHex),
      t: thresholdFor(this.opts.committeeSize),
      dkg: this.result ? 'done' : this.committee ? 'running' : 'waiting-for-committee',
      groupPublicKey: this.result ? toHex(this.result.groupPublicKey) : null,
      epoch: lastEpoch?.epoch ?? null,
      epochMiners: (lastEpoch?.miners ?? []).map(toHex),
      history: {
        slots: this.historyRecords.length, lastSlotHash: last ? toHex(slotHash(last)) : null,
        unslotted: this.history?.unslottedCount() ?? 0, leader: this.history && lastEpoch ? this.history.leaderIndex(lastEpoch.epoch) : null,
      },
      joined: this.joined.size,
      refused: { ...this.refused },
    }
  }

  // ---------------------------------------------------------------- inputs

  /**
   * An IT_RES the relay accepted (signature checked, first for its miner and iteration).
   * Throws POUW_NOT_MEMBER for a miner outside its epoch; RELAY_UNKNOWN_EPOCH (not the
   * peer's fault) for an epoch this supervisor has no record of yet.
   */
  checkMember(m: ItRes): void {
    const members = this.members(m.epoch)
    if (members === undefined) throw new PouwError('RELAY_UNKNOWN_EPOCH', `IT_RES for epoch ${m.epoch}, which has no record here yet`)
    if (!members.some((k) => bytesEqual(k, m.miner))) throw new PouwError('POUW_NOT_MEMBER', `${toHex(m.miner).slice(0, 16)} is not a miner of epoch ${m.epoch}`)
  }

  onItRes(m: ItRes, hash: Uint8Array): void {
    const now = this.now()
    const minerHex = toHex(m.miner)
    this.joined.set(minerHex, now)
    let p = this.progress.get(m.epoch)
    if (p === undefined) { p = new Map(); this.progress.set(m.epoch, p) }
    let s = p.get(minerHex)
    if (s === undefined) { s = new Set(); p.set(minerHex, s) }
    s.add(m.batchIndex)
    this.history?.record(hash, now)
  }

  /** Messages on the supervisors' and epochs' topics. Refusals are counted and logged, never thrown. */
  onMessage(topic: string, data: Uint8Array, from: string): void {
    if (topic !== this.topic && topic !== this.epochTopic) return
    void this.handle(topic, data).catch((e: unknown) => {
      const code = isPouwError(e) ? e.code : 'RELAY_ERROR'
      this.refused[code] = (this.refused[code] ?? 0) + 1
      this.opts.log('supervisor refused a message', { topic, from, code, detail: e instanceof Error ? e.message : String(e) })
    })
  }

  private async handle(topic: string, data: Uint8Array): Promise<void> {
    if (topic === this.epochTopic) return this.onEpochMessage(data)
    if (data.length < 5) throw new PouwError('PROTOCOL_TRUNCATED', 'supervisor message shorter than its envelope')
    const body = data.subarray(5)
    switch (data[0]) {
      case KIND.hello: return this.onHello(body)
      case KIND.dkg: return this.onDkg(body)
      case KIND.history: return this.onHistory(body)
      case KIND.epochShare: return this.onEpochShare(body)
      case KIND.epochProposal: {
        const m = epochMessageFromBytes(body)
        if (m.kind !== 'proposal') throw new PouwError('PROTOCOL_BAD_TYPE', `an epoch ${m.kind} where a proposal belongs`)
        return this.onEpochProposal(m)
      }
      default: throw new PouwError('PROTOCOL_BAD_TYPE', `supervisor message kind ${data[0]}`)
    }
  }

  // ---------------------------------------------------------------- committee and DKG

  private async onHello(body: Uint8Array): Promise<void> {
    if (body.length !== 32 + 64) throw new PouwError('PROTOCOL_BAD_VALUE', `hello of ${body.length} bytes`)
    const key = body.subarray(0, 32)
    if (!(await verify(key, helloSigningHash(this.opts.task.taskId, key), body.subarray(32)))) {
      throw new PouwError('RELAY_BAD_SIGNATURE', 'supervisor hello with a bad signature')
    }
    const hex = toHex(key)
    if (this.hellos.has(hex)) return
    if (this.committee) throw new PouwError('RELAY_NOT_SUPERVISOR', `${hex.slice(0, 16)} announced itself after the committee formed`)
    this.hellos.set(hex, key.slice())
    this.opts.log('supervisor met', { key: hex.slice(0, 16), known: this.hellos.size, of: this.opts.committeeSize })
    this.maybeFormCommittee()
  }

  private maybeFormCommittee(): void {
    if (this.committee || this.hellos.size < this.opts.committeeSize) return
    this.committee = [...this.hellos.values()].sort(compareBytes).slice(0, this.opts.committeeSize)
    if (!this.committee.some((k) => bytesEqual(k, this.opts.keys.publicKey))) {
      this.opts.log('not in the supervisor committee', {})
      return
    }
    const t = thresholdFor(this.committee.length)
    this.dkg = new DkgSession({ committee: this.committee, keys: this.opts.keys, t, attempt: DKG_ATTEMPT, randomBytes: this.randomBytes })
    this.dkgStartedAt = this.now()
    this.opts.log('committee formed; DKG started', { n: this.committee.length, t, committee: this.committee.map((k) => toHex(k).slice(0, 16)) })
    void this.loadDkgResult()
  }

  private async loadDkgResult(): Promise<void> {
    const raw = await this.opts.store.get(KEYS.dkg(toHex(this.dkg!.session)))
    if (raw === undefined) { this.publishDkg(this.dkg!.start()); return }
    const j = JSON.parse(dec.decode(raw)) as { groupPublicKey: string; secretShare: string; index: number; publicShares: string[]; qualified: number[]; t: number; proof?: string[] }
    this.useDkgResult({
      groupPublicKey: fromHex(j.groupPublicKey), secretShare: BigInt(`0x${j.secretShare}`), index: j.index,
      publicShares: j.publicShares.map(fromHex), qualified: j.qualified, t: j.t,
    }, j.proof?.map((h) => dkgSuccessFromBytes(fromHex(h))), false)
    this.publishDkg(this.dkg!.start()) // our deal again, for members that restarted before finishing
  }

  private async onDkg(body: Uint8Array): Promise<void> {
    if (!this.dkg) return
    const msg = dkgMessageFromBytes(body)
    this.publishDkg(this.dkg.receive(msg))
    this.checkDkg()
  }

  private publishDkg(msgs: DkgMessage[]): void {
    for (const m of msgs) this.publish(this.topic, envelope(KIND.dkg, dkgMessageToBytes(m)))
    this.checkDkg()
  }

  private checkDkg(): void {
    if (this.result || !this.dkg) return
    const r = this.dkg.result()
    if (r && this.dkg.status().complete) this.useDkgResult(r, this.dkg.successProof(), true)
  }

  private useDkgResult(r: DkgResult, proof: DkgSuccess[] | undefined, save: boolean): void {
    if (this.result) return
    this.result = r
    this.proof = proof
    if (save) {
      const j = {
        groupPublicKey: toHex(r.groupPublicKey), secretShare: r.secretShare.toString(16), index: r.index, publicShares: r.publicShares.map(toHex), qualified: r.qualified, t: r.t,
        proof: proof?.map((m) => toHex(dkgMessageToBytes(m))),
      }
      void this.opts.store.batch([{ type: 'put', key: KEYS.dkg(toHex(this.dkg!.session)), value: enc.encode(JSON.stringify(j)) }])
    }
    const scheme: ThresholdScheme = {
      t: r.t, index: r.index,
      signShare: (m) => signShare(r.secretShare, m),
      verifyShare: (i, m, s) => r.publicShares[i - 1] !== undefined && verifySignatureShare(r.publicShares[i - 1]!, m, s),
      combine: (shares) => combineSignatures(shares, r.t),
      verify: (m, s) => verifyThresholdSignature(r.groupPublicKey, m, s),
    }
    const last = this.historyRecords[this.historyRecords.length - 1]
    this.history = new HistoryConsensus({
      taskId: this.opts.task.taskId, committee: this.committee!, keys: this.opts.keys, scheme,
      slotIntervalMs: this.opts.slotIntervalMs ?? 1_000, maxSlotMessages: 256, leaderTimeoutMs: this.opts.leaderTimeoutMs ?? 10_000,
      startSlot: last ? { slot: last.slot + 1, prevSlotHash: slotHash(last) } : undefined,
      startEpoch: this.epochs[this.epochs.length - 1]?.epoch ?? 0,
    })
    this.opts.log('DKG done', { groupPublicKey: toHex(r.groupPublicKey).slice(0, 24), index: r.index, qualified: r.qualified, t: r.t })
  }

  // ---------------------------------------------------------------- message history

  private async onHistory(body: Uint8Array): Promise<void> {
    if (!this.history) return
    const msg = historyMessageFromBytes(body)
    if (msg.type !== 'history' && msg.type !== 'replace' && !verifyHistorySignature(msg)) {
      throw new PouwError('HISTORY_BAD_SIGNATURE', `${msg.type} with a bad signature`)
    }
    this.publishHistory(this.history.receive(msg, this.now()))
  }

  private publishHistory(msgs: HistoryMessage[]): void {
    for (const m of msgs) this.publish(this.topic, envelope(KIND.history, historyMessageToBytes(m)))
    this.unanswered.push(...msgs)
    const { records, replacements } = this.history!.drain()
    // a new record closes the slot: what we said about it is settled; the record itself is repeated
    // for a supervisor that missed it
    if (records.length > 0) this.unanswered = [records[records.length - 1]!]
    if (this.unanswered.length > MAX_REPEATED) this.unanswered = this.unanswered.slice(-MAX_REPEATED)
    for (const r of records) {
      this.addHistoryRecord(r)
      void this.opts.store.batch([{ type: 'put', key: KEYS.history(r.slot), value: historyMessageToBytes(r) }])
    }
    for (const r of replacements) this.opts.log('leader replaced', { epoch: r.epoch, leaderIndex: r.leaderIndex, reason: r.reason })
  }

  private addHistoryRecord(r: MessageHistory): void {
    this.historyRecords.push(r)
    for (const h of r.messages) this.slotted.set(toHex(h), r.slot)
    const ws = this.waiters
    this.waiters = []
    for (const w of ws) w()
  }

  // ---------------------------------------------------------------- epochs

  private async onEpochMessage(data: Uint8Array): Promise<void> {
    const m = epochMessageFromBytes(data)
    if (!bytesEqual(m.taskId, this.opts.task.taskId)) throw new PouwError('RELAY_UNKNOWN_TASK', `epoch message for task ${toHex(m.taskId)}`)
    if (m.kind === 'join') {
      if (!(await verifyTaskJoin(m))) throw new PouwError('RELAY_BAD_SIGNATURE', 'TASK_JOIN with a bad signature')
      const hex = toHex(m.miner)
      if (!this.joinedAt.has(hex)) { this.joinedAt.set(hex, this.now()); this.opts.log('miner joined', { miner: hex.slice(0, 16) }) }
      this.joined.set(hex, this.now())
    } else if (m.kind === 'record') {
      this.acceptEpochRecord(m)
    }
  }

  private nextEpoch(): number { return (this.epochs[this.epochs.length - 1]?.epoch ?? -1) + 1 }

  private acceptEpochRecord(r: EpochRecord): void {
    if (!this.result) return
    if (r.epoch !== this.nextEpoch()) return // old, or a gap (a later record waits for polling)
    if (!verifyEpochRecord(r, this.result.groupPublicKey)) throw new PouwError('RELAY_FORGED_RECORD', `EPOCH ${r.epoch} record whose threshold signature does not verify`)
    this.epochs.push(r)
    this.epochStartedAt.set(r.epoch, this.now())
    this.pendingProposal = undefined
    void this.opts.store.batch([{ type: 'put', key: KEYS.epoch(r.epoch), value: epochMessageToBytes({ kind: 'record', ...r }) }])
    this.opts.log('epoch started', { epoch: r.epoch, miners: r.miners.map((k) => toHex(k).slice(0, 16)) })
  }

  private async onEpochProposal(p: EpochProposal): Promise<void> {
    if (!this.result || !this.committee) return
    if (!this.committee.some((k) => bytesEqual(k, p.leader))) throw new PouwError('RELAY_NOT_SUPERVISOR', 'epoch proposal from outside the committee')
    if (!(await verifyEpochProposal(p))) throw new PouwError('RELAY_BAD_SIGNATURE', 'epoch proposal with a bad signature')
    if (p.epoch !== this.nextEpoch()) return
    const unknown = p.miners.find((k) => !this.joinedAt.has(toHex(k)))
    if (unknown) throw new PouwError('RELAY_UNKNOWN_MINER', `epoch ${p.epoch} proposal names ${toHex(unknown).slice(0, 16)}, who never joined`)
    this.pendingProposal ??= p
    this.shareEpoch(p)
  }

  /** Our signature share for an epoch body; at most one body per epoch, remembered across restarts. */
  private shareEpoch(p: EpochProposal): void {
    const hash = epochRecordHash(p)
    const hex = toHex(hash)
    const signed = this.signedEpochs.get(p.epoch)
    if (signed !== undefined && signed !== hex) return
    if (signed === undefined) {
      this.signedEpochs.set(p.epoch, hex)
      void this.opts.store.batch([{ type: 'put', key: KEYS.signedEpoch(p.epoch), value: enc.encode(hex) }])
    }
    const r = this.result!
    const share: SigShare = signSigShare({
      type: 'share', taskId: this.opts.task.taskId, subject: hash, signer: this.opts.keys.publicKey, index: r.index, share: signShare(r.secretShare, hash),
    }, this.opts.keys.secretKey)
    this.collectEpochShare(share)
    this.publish(this.topic, envelope(KIND.epochShare, historyMessageToBytes(share)))
  }

  private async onEpochShare(body: Uint8Array): Promise<void> {
    if (!this.result) return
    const m = historyMessageFromBytes(body)
    if (m.type !== 'share' || !verifyHistorySignature(m)) throw new PouwError('RELAY_BAD_SIGNATURE', 'epoch share that is not a validly signed share')
    const pub = this.result.publicShares[m.index - 1]
    if (pub === undefined || !bytesEqual(this.committee![m.index - 1]!, m.signer) || !verifySignatureShare(pub, m.subject, m.share)) {
      throw new PouwError('RELAY_BAD_SHARE', `epoch signature share from index ${m.index} does not verify`)
    }
    this.collectEpochShare(m)
  }

  private collectEpochShare(s: SigShare): void {
    const hex = toHex(s.subject)
    let shares = this.epochShares.get(hex)
    if (shares === undefined) { shares = new Map(); this.epochShares.set(hex, shares) }
    shares.set(s.index, s.share)
    const p = this.pendingProposal
    if (!p || toHex(epochRecordHash(p)) !== hex || shares.size < this.result!.t || p.epoch !== this.nextEpoch()) return
    const signature = combineSignatures([...shares].map(([index, signature]) => ({ index, signature })), this.result!.t)
    const record: EpochRecord = { taskId: p.taskId, epoch: p.epoch, miners: p.miners, signature }
    this.acceptEpochRecord(record)
    this.publish(this.epochTopic, epochMessageToBytes({ kind: 'record', ...record }))
  }

  /** The epoch leader's rule: propose epoch ξ+1 once a majority of M_ξ finished their batches of ξ. */
  private epochTick(now: number): void {
    if (!this.result || !this.history || !this.committee) return
    const next = this.nextEpoch()
    if (next >= this.opts.task.epochs) return
    const live = [...this.joined].filter(([, t]) => now - t < LIVE_MS).map(([k]) => k)
    let readySince: number | undefined
    if (next === 0) {
      if (live.length >= this.opts.minMiners) this.minReachedAt ??= now
      else this.minReachedAt = undefined
      if (this.minReachedAt !== undefined && now - this.minReachedAt >= this.opts.joinGraceMs) readySince = this.minReachedAt + this.opts.joinGraceMs
    } else {
      const prev = this.epochs[this.epochs.length - 1]!
      const assignment = this.opts.data.assignment(prev.epoch, prev.miners)
      const done = this.progress.get(prev.epoch)
      // a member is done with the epoch when it trained all its batches, or when it left (not live):
      // the batches it did not train are not trained this epoch, and the next epoch's assignment is
      // re-evaluated without it (§4.2.2)
      const liveSet = new Set(live)
      const finished = prev.miners.filter((k) => {
        const hex = toHex(k)
        return !liveSet.has(hex) || (done?.get(hex)?.size ?? 0) >= (assignment.get(hex)?.length ?? 0)
      }).length
      const started = this.epochStartedAt.get(prev.epoch) ?? now
      if (2 * finished > prev.miners.length) readySince = this.readyAt.get(next) ?? now
      else if (now - started >= EPOCH_STRAGGLER_MS) readySince = started + EPOCH_STRAGGLER_MS
      if (readySince !== undefined && !this.readyAt.has(next)) this.readyAt.set(next, readySince)
    }
    if (readySince === undefined || live.length === 0) return
    // the epoch's leader proposes; if it stays silent, the next supervisors in line take over in turn
    const me = this.committee.findIndex((k) => bytesEqual(k, this.opts.keys.publicKey))
    const leader = this.history.leaderIndex(next)
    const turn = (me - leader + this.committee.length) % this.committee.length
    if (now - readySince < turn * EPOCH_BACKUP_MS) return
    if (this.pendingProposal?.epoch === next) {
      if (now - this.lastBroadcast < REBROADCAST_MS) return
      this.lastBroadcast = now
      this.shareEpoch(this.pendingProposal) // re-publish our share and the proposal, for supervisors that missed them
      this.publish(this.topic, envelope(KIND.epochProposal, epochMessageToBytes({ kind: 'proposal', ...this.pendingProposal })))
      return
    }
    const miners = live.map(fromHex).sort(compareBytes)
    const proposal = signEpochProposal({ taskId: this.opts.task.taskId, epoch: next, miners, leader: this.opts.keys.publicKey }, this.opts.keys.secretKey)
    if (this.signedEpochs.has(next) && this.signedEpochs.get(next) !== toHex(epochRecordHash(proposal))) return
    this.pendingProposal = proposal
    this.opts.log('proposing epoch', { epoch: next, miners: miners.length })
    this.publish(this.topic, envelope(KIND.epochProposal, epochMessageToBytes({ kind: 'proposal', ...proposal })))
    this.shareEpoch(proposal)
  }

  // ---------------------------------------------------------------- timers

  private tick(): void {
    if (this.stopped) return
    const now = this.now()
    try {
      const rebroadcast = now - this.lastBroadcast >= REBROADCAST_MS
      if (rebroadcast) {
        this.lastBroadcast = now
        // hellos go on for supervisors that start later; our deal until the DKG is complete
        const key = this.opts.keys.publicKey
        this.publish(this.topic, envelope(KIND.hello, concatBytes(key, sign(this.opts.keys.secretKey, helloSigningHash(this.opts.task.taskId, key)))))
        if (this.dkg && !this.dkg.status().complete) this.publishDkg(this.dkg.start())
        // Gossip may lose a proposal, vote, share or record, and the slot would wait for a leader
        // replacement; so what we said about the open slot is said again (new envelope, same
        // message: receivers ignore what they already have).
        for (const m of this.unanswered) this.publish(this.topic, envelope(KIND.history, historyMessageToBytes(m)))
      }
      if (this.dkg && !this.result && this.dkgTimeouts < DKG_TIMEOUTS_MS.length && now - this.dkgStartedAt >= DKG_TIMEOUTS_MS[this.dkgTimeouts]!) {
        this.dkgTimeouts++
        this.publishDkg(this.dkg.timeout())
      }
      if (this.history) {
        const epoch = this.epochs[this.epochs.length - 1]?.epoch ?? 0
        this.publishHistory(this.history.tick(now, epoch))
        this.epochTick(now)
        if (now - this.lastHistoryLog >= HISTORY_LOG_MS && (this.history.unslottedCount() > 0 || this.historyRecords.length !== this.loggedSlots)) {
          this.lastHistoryLog = now
          this.loggedSlots = this.historyRecords.length
          this.opts.log('history', { slots: this.historyRecords.length, unslotted: this.history.unslottedCount(), epoch, leader: this.history.leaderIndex(epoch) })
        }
      }
    } catch (e) {
      this.opts.log('supervisor tick failed', { error: e instanceof Error ? e.message : String(e) })
    }
  }

  private publish(topic: string, data: Uint8Array): void {
    this.opts.network.publish(topic, data).catch((e: unknown) => this.opts.log('publish failed', { topic, error: String(e) }))
  }
}
