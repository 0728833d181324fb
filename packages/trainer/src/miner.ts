import {
  BlockHeader, BLOCK_VERSION, BlockSubmission, ItRes, KeyPair, MessageMap, TAGS, TaskSpec, ZERO_HASH,
  applyMessageMap, assertValidMessageMap, blockToBytes, bytesEqual, canonicalPeerUpdates, coinbaseOutputs, computeMerkleRoot,
  evidenceToBytes, float32Bytes, headerHash, itResFromBytes, itResHash, mapEntry, merkleRoot, noncesPerIteration,
  parameterCount, peerUpdatesHash, signItResToBytes, submissionToBytes, taggedHashAsync, toHex,
  verifyItResSignature, zeroNonceHash, Tx, TransferTx, extendWindow, historyAnchorFromBytes, isTransfer, revealFromBytes, fromHex, txFromBytes, type BlockTiming, type CoinbaseTx, type Collect, type HistoryAnchor,
} from '@pouw/protocol'
import { batchHash, loadBatch } from './batches.js'
import type { TipInfo } from './workerApi.js'
import { accumulateResidual, thresholdResidual } from './deadReckoning.js'
import type { GradientEngine } from './engine.js'
import { pouwError } from './errors.js'
import { computeNonce, mineWithNonces } from './mining.js'
import { initialParameters, jointTrainingRefusal } from './model.js'
import { dataPrepError } from './data/index.js'
import type { TaskData } from './taskData.js'

/**
 * Ways to make a miner misbehave on purpose, for tests (the hivemind-style
 * `Fault` enum): each produces a block that verifiers must refuse for a
 * specific reason. 'none' in production.
 */
export const FAULTS = ['none', 'nonce', 'model', 'batch', 'map', 'signature', 'peers'] as const
export type Fault = (typeof FAULTS)[number]

/**
 * The page's view of a tip (workerApi TipInfo: `subsidy` is the whole subsidy) as the miner builds
 * on it. The one place the page's subsidy rule lives (ledger collect.ts): with the relay's template,
 * what its approvals prove, and its collect only if every approval names this tip (else none, and
 * no subsidy); without a template, the whole subsidy on genesis and nothing on any other block.
 */
export function chainTipFromInfo(t: TipInfo): ChainTip {
  const tip: ChainTip = { hash: fromHex(t.hashHex), height: t.height, nextBits: t.nextBits, subsidy: t.height === 0 ? BigInt(t.subsidy) : 0n, window: t.window }
  if (t.template === undefined) return tip
  const txs = t.template.txs.map((hex) => txFromBytes(fromHex(hex)))
  if (!txs.every(isTransfer)) throw new Error('a block template holds transfers only')
  const reveals = t.template.approvals.map((hex) => revealFromBytes(fromHex(hex)))
  const ofTip = reveals.every((r) => toHex(r.blockHash) === t.hashHex)
  const history = t.template.history === null ? undefined : historyAnchorFromBytes(fromHex(t.template.history))
  return {
    ...tip, txs, fees: BigInt(t.template.fees), history,
    subsidy: ofTip ? BigInt(t.template.subsidy) : 0n,
    collect: ofTip && reveals.length > 0 ? { block: tip.hash, approvals: reveals.map((r) => r.approval) } : undefined,
  }
}

/** What the miner needs to know about the chain it extends. */
export interface ChainTip {
  hash: Uint8Array
  height: number
  nextBits: number
  /**
   * What the coinbase of a block on this tip may claim besides fees: with `collect`, what its
   * approvals prove; without, the whole subsidy on genesis and nothing on a block no verifier has
   * approved yet (ledger collect.ts)
   */
  subsidy: bigint
  /** COLLECT_VERIFICATIONS of this tip (the relay's template): the coinbase carries it */
  collect?: Collect
  /** the supervisors' latest MESSAGE_HISTORY anchor (the relay's template): the coinbase carries it */
  history?: HistoryAnchor
  /**
   * Time and bits of the tip and its last ancestors, oldest first, the tip last (a relay's status
   * or verdict gives them): with the miner's `nextBits` rule, the bits of the block after one it
   * finds on this tip.
   */
  window?: BlockTiming[]
  /**
   * The block template: transfers valid on top of this tip (a relay's mempool selection, parents
   * before children) and the fees they pay, which the coinbase claims on top of the subsidy.
   * Absent: a coinbase-only block.
   */
  txs?: TransferTx[]
  fees?: bigint
}

export interface IterationResult {
  iteration: number
  epoch: number
  batchIndex: number
  loss: number
  accuracy: number
  mapSize: number
  peersApplied: number
  itres: Uint8Array // signed IT_RES bytes to gossip
  /**
   * A block found: its parent, and the bits (and timing window) of a block on top of it, by the
   * network's rule; `next` is null when the miner could not tell (its tip had no window).
   */
  block?: {
    hash: Uint8Array; height: number; submission: Uint8Array
    parent: Uint8Array; next: { nextBits: number; window?: BlockTiming[] } | null
    /** what its coinbase pays the miner (subsidy and fees, less the approving verifiers' rewards) and how many approvals of its parent it collects */
    reward: bigint; collected: number
  }
  timings: { gradientMs: number; totalMs: number }
}

/** A peer's IT_RES accepted for application (signature, task and membership checked). */
interface PeerMessage { miner: Uint8Array; iteration: number; hash: Uint8Array; bytes: Uint8Array; map: MessageMap }

/** The block a miner commits to k iterations ahead (paper 003, Fig. 5). */
interface Commitment { znb: BlockHeader; txs: Tx[] }

/** Per-iteration record kept for the last k+1 iterations: what evidence needs. */
interface IterationRecord {
  iteration: number
  itres: Uint8Array
  itresHash: Uint8Array
  modelStart: Float32Array // theta before the peer updates
  residualStart: Float32Array
  peers: PeerMessage[] // applied in this iteration, canonical order
  commitment: Commitment | null // the zero-nonce block committed in this iteration
}

/** How many (miner, iteration) keys of applied peer messages to remember against replays. */
const SEEN_LIMIT = 100_000

/**
 * A miner: Algorithm 1 (one training iteration with dead reckoning, applying
 * its peers' updates exactly and in canonical order) and Algorithm 2 (mining
 * with nonces derived from it), for one task. No I/O: the caller supplies the
 * engine, the data, the clock, the chain tip, the epoch's members (from the
 * supervisors' epoch records) and the peers' messages.
 *
 * Peer updates follow Table 1: messages received during iteration i are
 * announced in IT_RES_i (nextPeerMessagesHash) and applied in iteration i+1
 * (whose peerUpdatesHash is the same hash), so a verifier can check the chain.
 */
export class Miner {
  readonly paramCount: number
  private theta: Float32Array
  private residual: Float32Array
  private iteration = 0
  private records: IterationRecord[] = []
  private tip: ChainTip | null = null
  private lastMetrics: [number, number] = [0, 0]
  private readonly nonceCount: number
  private readonly task: TaskSpec
  // epoch state
  private epochNo = -1
  private queue: number[] = []
  private members = new Set<string>()
  private epochMembers: string[] = []
  // peer messages: received (inbox), announced to apply next (nextPeers), and seen keys
  private inbox = new Map<string, PeerMessage>()
  private nextPeers: PeerMessage[] = []
  private seen = new Map<string, Uint8Array>()

  constructor(
    private readonly data: TaskData,
    private readonly engine: GradientEngine,
    private readonly keys: KeyPair,
    private readonly opts: {
      now: () => number
      fault?: Fault
      random?: () => number
      /**
       * who the coinbase pays (default: the miner key). The zero-nonce block the miner signs in its
       * IT_RES commits to the coinbase, so no one else can redirect the reward.
       */
      payTo?: Uint8Array
      /**
       * The network's difficulty rule (ledger nextBits over a timing window, the parent last), to
       * build on its own block at once. Absent: the bits never change (a network without
       * difficulty adjustment).
       */
      nextBits?: (window: readonly BlockTiming[]) => number
    },
  ) {
    this.task = data.task
    const refusal = jointTrainingRefusal(this.task)
    if (refusal !== undefined) throw dataPrepError('BAD_PARAMS', refusal)
    this.paramCount = parameterCount(this.task)
    this.theta = initialParameters(this.task)
    this.residual = new Float32Array(this.paramCount)
    this.nonceCount = noncesPerIteration(this.task)
  }

  get publicKey(): Uint8Array { return this.keys.publicKey }
  get currentIteration(): number { return this.iteration }
  get epoch(): number { return this.epochNo }
  get noncesPerIteration(): number { return this.nonceCount }
  /** Batches left in the current epoch; 0: wait for the next epoch record. */
  get batchesLeft(): number { return this.queue.length }
  /** Peer messages received and not yet applied. */
  get pendingPeerMessages(): number { return this.inbox.size + this.nextPeers.length }
  /** A copy of the exact current parameters. */
  parameters(): Float32Array { return new Float32Array(this.theta) }

  setTip(tip: ChainTip): void { this.tip = tip }

  /**
   * Start epoch `epoch` with its members (sorted or not): the assignment is
   * re-evaluated for them (§4.2.2). A miner not among them trains nothing this
   * epoch but keeps applying its peers' updates.
   */
  startEpoch(epoch: number, members: readonly Uint8Array[]): void {
    if (epoch <= this.epochNo) return
    this.epochNo = epoch
    // the last epoch's members stay accepted: a slow one may still send its last messages
    this.members = new Set([...this.epochMembers, ...members.map(toHex)])
    this.epochMembers = members.map(toHex)
    this.queue = [...(this.data.assignment(epoch, members).get(toHex(this.keys.publicKey)) ?? [])]
  }

  /**
   * A peer's IT_RES from the network. Returns false for our own message or a
   * replay of one already taken; throws a PouwError (the peer broke a rule)
   * for a malformed message, another task, a non-member, a bad signature, a
   * map outside the model or a second, different message for one iteration.
   */
  async receivePeerMessage(bytes: Uint8Array): Promise<boolean> {
    const m: ItRes = itResFromBytes(bytes)
    if (!bytesEqual(m.taskId, this.task.taskId)) throw pouwError('WRONG_TASK', `IT_RES for task ${toHex(m.taskId)}`)
    if (bytesEqual(m.miner, this.keys.publicKey)) return false
    const minerHex = toHex(m.miner)
    if (!this.members.has(minerHex)) throw pouwError('NOT_MEMBER', `IT_RES from ${minerHex.slice(0, 16)}, not a miner of epoch ${this.epochNo}`)
    const key = `${minerHex}:${m.iteration}`
    const hash = itResHash(bytes)
    const prev = this.seen.get(key)
    if (prev !== undefined) {
      if (bytesEqual(prev, hash)) return false
      throw pouwError('EQUIVOCATION', `second IT_RES for iteration ${m.iteration} from ${minerHex.slice(0, 16)}`)
    }
    assertValidMessageMap(m.map, this.paramCount, 'peer message map')
    if (!(await verifyItResSignature(m))) throw pouwError('BAD_SIGNATURE', `IT_RES of iteration ${m.iteration} from ${minerHex.slice(0, 16)} has an invalid signature`)
    if (this.seen.has(key)) return false // another call took it while we verified
    this.seen.set(key, hash)
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.keys().next().value!)
    this.inbox.set(key, { miner: m.miner, iteration: m.iteration, hash, bytes, map: m.map })
    return true
  }

  private fault(f: Fault): boolean { return this.opts.fault === f }

  async step(): Promise<IterationResult> {
    const batchIndex = this.queue[0]
    if (batchIndex === undefined) throw pouwError('BATCH_NOT_ASSIGNED', `no batch left in epoch ${this.epochNo}: wait for the next epoch`)
    const t0 = performance.now()
    const task = this.task
    const i = this.iteration
    const epoch = this.epochNo
    const tStart = this.opts.now()
    const plan = this.data.plan

    // 1. load the assigned mini-batch (the 'batch' fault trains another one)
    const trained = this.fault('batch') ? (batchIndex + 1) % plan.batchCount : batchIndex
    const records = plan.batchRecords(trained)
    const { x, labels } = loadBatch(this.data.data, records)
    // 2-4. the peer updates announced last iteration, applied exactly in canonical order
    const modelStart = this.theta
    const residualStart = this.residual
    const peers = this.nextPeers
    const thetaPrime = new Float32Array(modelStart)
    if (!this.fault('peers')) for (const p of peers) applyMessageMap(thetaPrime, p.map, task.tau)
    // native hashing runs off the main thread: start it now, await it after the gradient
    const hashes = Promise.all([
      taggedHashAsync(TAGS.model, float32Bytes(modelStart)),
      taggedHashAsync(TAGS.residual, float32Bytes(residualStart)),
      batchHash(this.data.data, records),
    ])

    // 5-15. backprop at theta', residual, threshold, message map
    const tg = performance.now()
    let map: MessageMap
    let residualNext: Float32Array
    let loss: number
    let accuracy: number
    if (this.fault('map')) {
      // a lazy miner: claims updates without computing any gradient
      const rand = this.opts.random ?? Math.random
      const idx = new Set<number>()
      while (idx.size < 200) idx.add(Math.floor(rand() * this.paramCount))
      map = Uint32Array.from([...idx].sort((a, b) => a - b).map((k) => mapEntry(rand() < 0.5, k)))
      residualNext = new Float32Array(residualStart)
      ;[loss, accuracy] = this.lastMetrics
    } else {
      const g = await this.engine.gradients(thetaPrime, x, labels, records.length)
      const th = thresholdResidual(accumulateResidual(residualStart, g.grad, task.learningRate), task.tau)
      map = th.map
      residualNext = th.residual
      loss = g.loss
      accuracy = g.accuracy
    }
    const gradientMs = performance.now() - tg
    const [modelHash, residualHash, bHash] = await hashes
    this.lastMetrics = [loss, accuracy]

    // 16. theta'' = theta' - Delta(l), exact
    const thetaAfter = thetaPrime
    applyMessageMap(thetaAfter, map, task.tau)

    // 19-20. the messages received meanwhile are announced now and applied next iteration
    const next = canonicalPeerUpdates([...this.inbox.values()])
    this.inbox.clear()

    // zero-nonce block committed now, to be mined k iterations later
    const commitment = this.commit(tStart)
    const unsigned = {
      taskId: task.taskId, backend: this.engine.backend, miner: this.keys.publicKey, iteration: i, epoch, batchIndex,
      map, metrics: [loss, accuracy], tStart, tFinish: this.opts.now(),
      batchHash: bHash, peerUpdatesHash: peerUpdatesHash(peers), modelHash, residualHash,
      znbHash: commitment === null ? ZERO_HASH : zeroNonceHash(commitment.znb), nextPeerMessagesHash: peerUpdatesHash(next),
    }
    const { bytes: itres, hash: itresHash } = await signItResToBytes(unsigned, this.keys.secretKey)
    const record: IterationRecord = { iteration: i, itres, itresHash, modelStart, residualStart, peers, commitment }
    this.records.push(record)
    if (this.records.length > task.commitLead + 1) this.records.shift()

    const result: IterationResult = {
      iteration: i, epoch, batchIndex, loss, accuracy, mapSize: map.length, peersApplied: peers.length, itres,
      timings: { gradientMs, totalMs: 0 },
    }
    const block = await this.mine(thetaAfter, map)
    if (block) result.block = block

    this.theta = thetaAfter
    this.residual = residualNext
    this.nextPeers = next
    this.queue.shift()
    this.iteration = i + 1
    result.timings.totalMs = performance.now() - t0
    return result
  }

  private commit(time: number): Commitment | null {
    if (this.tip === null) return null
    const outputs = coinbaseOutputs(this.opts.payTo ?? this.keys.publicKey, this.tip.subsidy, this.tip.fees ?? 0n, this.tip.collect)
    const coinbase: Tx = {
      type: 'coinbase', height: this.tip.height + 1, outputs,
      ...(this.tip.collect !== undefined ? { collect: this.tip.collect } : {}),
      ...(this.tip.history !== undefined ? { history: this.tip.history } : {}),
    }
    const txs: Tx[] = [coinbase, ...(this.tip.txs ?? [])]
    const znb: BlockHeader = {
      version: BLOCK_VERSION, prevHash: this.tip.hash, merkleRoot: computeMerkleRoot(txs), time,
      bits: this.tip.nextBits, nonce: ZERO_HASH, hashMsg: ZERO_HASH, hashMsgHist: ZERO_HASH,
    }
    return { znb, txs }
  }

  /** Algorithm 2 with the block committed k iterations ago, if it still extends the tip. */
  private async mine(thetaAfter: Float32Array, map: MessageMap): Promise<IterationResult['block'] | undefined> {
    const k = this.task.commitLead
    // the tip as it is now: a setTip() arriving during the awaits below must not mix into this block
    const tip = this.tip
    if (this.records.length < k + 1 || tip === null) return undefined
    const committed = this.records[0]!.commitment
    if (committed === null || !bytesEqual(committed.znb.prevHash, tip.hash) || committed.znb.bits !== tip.nextBits) return undefined
    const { znb, txs } = committed
    const lucky = this.records[k]!
    const { nonce } = await computeNonce(thetaAfter, map)
    const header: BlockHeader = { ...znb, hashMsg: lucky.itresHash, hashMsgHist: merkleRoot(this.records.map((r) => r.itresHash)) }
    const found = mineWithNonces(header, nonce, this.nonceCount)
    if (found === null) return undefined

    let finalHeader = found.header
    const slot = this.records.map((r) => r.itres)
    let model = lucky.modelStart
    if (this.fault('nonce')) finalHeader = this.grindArbitraryNonce(header)
    if (this.fault('model')) { model = new Float32Array(model); model[0] = model[0]! + 0.25 }
    if (this.fault('signature')) { const s = slot[k]!.slice(); s[s.length - 1]! ^= 1; slot[k] = s }
    const evidence = evidenceToBytes({ slot, model, residual: lucky.residualStart, peerUpdates: lucky.peers.map((p) => p.bytes) })
    const submission: BlockSubmission = { block: blockToBytes({ header: finalHeader, txs }), evidence }
    const hash = headerHash(finalHeader)
    const height = tip.height + 1
    // Like any miner, build on our own block at once rather than mining its siblings (unless a
    // setTip() to another block came in meanwhile); if verifiers reject it, the caller moves the
    // tip back with setTip().
    const after = this.tipAfter(tip, finalHeader, hash, height)
    if (this.tip !== null && bytesEqual(this.tip.hash, tip.hash)) this.tip = after
    const cb = txs[0] as CoinbaseTx
    return {
      hash, height, submission: submissionToBytes(submission), parent: tip.hash, next: after === null ? null : { nextBits: after.nextBits, window: after.window },
      reward: cb.outputs[0]!.amount, collected: cb.collect?.approvals.length ?? 0,
    }
  }

  /**
   * The tip once our block `header` extends this.tip: coinbase only (its template is spent until
   * told otherwise) and no subsidy (no verifier approved our block yet: a block on it gets fees
   * only, until setTip() brings a template collecting its approvals), with the bits the difficulty
   * rule gives after it. Null when the rule needs a
   * timing window the old tip lacked: no mining until setTip() says what the next bits are.
   */
  private tipAfter(tip: ChainTip, header: BlockHeader, hash: Uint8Array, height: number): ChainTip | null {
    const rule = this.opts.nextBits
    if (rule === undefined) return { hash, height, nextBits: tip.nextBits, subsidy: 0n }
    if (tip.window === undefined) return null
    const window = extendWindow(tip.window, { time: header.time, bits: header.bits })
    try {
      return { hash, height, nextBits: rule(window), subsidy: 0n, window }
    } catch {
      return null // a window whose bits do not decode (a lying relay): pause rather than lose the step
    }
  }

  /** The 'nonce' fault: a nonce that meets the target but was not derived from the work. */
  private grindArbitraryNonce(header: BlockHeader): BlockHeader {
    const rand = this.opts.random ?? Math.random
    for (let attempt = 0; attempt < 1_000_000; attempt++) {
      const nonce = Uint8Array.from({ length: 32 }, () => Math.floor(rand() * 256))
      const found = mineWithNonces({ ...header, nonce }, nonce, 1)
      if (found) return found.header
    }
    return header
  }
}
