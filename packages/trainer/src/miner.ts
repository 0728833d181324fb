import {
  BlockHeader, BLOCK_VERSION, BlockSubmission, KeyPair, MessageMap, TAGS, TaskSpec, ZERO_HASH,
  applyMessageMap, blockToBytes, bytesEqual, computeMerkleRoot, evidenceToBytes, float32Bytes, headerHash,
  mapEntry, merkleRoot, noncesPerIteration, parameterCount, signItResToBytes,
  submissionToBytes, taggedHash, taggedHashAsync, zeroNonceHash, Tx,
} from '@pouw/protocol'
import { BatchSchedule, batchHash, loadBatch } from './batches.js'
import { accumulateResidual, thresholdResidual } from './deadReckoning.js'
import type { GradientEngine } from './engine.js'
import { computeNonce, mineWithNonces } from './mining.js'
import type { Dataset } from './mnist.js'
import { initialParameters } from './model.js'

/**
 * Ways to make a miner misbehave on purpose, for tests (the hivemind-style
 * `Fault` enum): each produces a block that verifiers must refuse for a
 * specific reason. 'none' in production.
 */
export const FAULTS = ['none', 'nonce', 'model', 'batch', 'map', 'signature'] as const
export type Fault = (typeof FAULTS)[number]

/** What the miner needs to know about the chain it extends. */
export interface ChainTip {
  hash: Uint8Array
  height: number
  nextBits: number
  subsidy: bigint
}

export interface IterationResult {
  iteration: number
  epoch: number
  loss: number
  accuracy: number
  mapSize: number
  itres: Uint8Array // signed IT_RES bytes to gossip
  block?: { hash: Uint8Array; height: number; submission: Uint8Array }
  timings: { gradientMs: number; totalMs: number }
}

/** The block a miner commits to k iterations ahead (paper 003, Fig. 5). */
interface Commitment { znb: BlockHeader; coinbase: Tx }

/** Per-iteration record kept for the last k+1 iterations: what evidence needs. */
interface IterationRecord {
  iteration: number
  itres: Uint8Array
  itresHash: Uint8Array
  modelStart: Float32Array
  residualStart: Float32Array
  batch: number[]
  commitment: Commitment | null // the zero-nonce block committed in this iteration
}

const EMPTY_PEER_UPDATES = taggedHash(TAGS.peerUpdates)

/**
 * A miner: Algorithm 1 (one training iteration with dead reckoning) and
 * Algorithm 2 (mining with nonces derived from it), for one task. No I/O:
 * the caller supplies the engine, the data, the clock and the chain tip.
 */
export class Miner {
  readonly paramCount: number
  private theta: Float32Array
  private residual: Float32Array
  private iteration = 0
  private records: IterationRecord[] = []
  private tip: ChainTip | null = null
  private lastMetrics: [number, number] = [0, 0]
  private readonly schedule: BatchSchedule
  private readonly nonceCount: number

  constructor(
    private readonly task: TaskSpec,
    private readonly data: Dataset,
    private readonly engine: GradientEngine,
    private readonly keys: KeyPair,
    private readonly opts: { now: () => number; fault?: Fault; random?: () => number },
  ) {
    this.paramCount = parameterCount(task.layers)
    this.theta = initialParameters(task)
    this.residual = new Float32Array(this.paramCount)
    this.schedule = new BatchSchedule(task)
    this.nonceCount = noncesPerIteration(task)
  }

  get publicKey(): Uint8Array { return this.keys.publicKey }
  get currentIteration(): number { return this.iteration }
  get noncesPerIteration(): number { return this.nonceCount }
  /** A copy of the exact current parameters. */
  parameters(): Float32Array { return new Float32Array(this.theta) }

  setTip(tip: ChainTip): void { this.tip = tip }

  private fault(f: Fault): boolean { return this.opts.fault === f }

  async step(): Promise<IterationResult> {
    const t0 = performance.now()
    const task = this.task
    const i = this.iteration
    const epoch = this.schedule.epochOf(i)
    const tStart = this.opts.now()

    // 1. load the assigned mini-batch (the 'batch' fault trains another one)
    const batch = this.schedule.indices(this.fault('batch') ? i + 7 : i)
    const { x, labels } = loadBatch(this.data, batch)
    // 2. peer updates: none with a single miner (theta' = theta)
    const modelStart = this.theta
    const residualStart = this.residual
    // native hashing runs off the main thread: start it now, await it after the gradient
    const hashes = Promise.all([
      taggedHashAsync(TAGS.model, float32Bytes(modelStart)),
      taggedHashAsync(TAGS.residual, float32Bytes(residualStart)),
      batchHash(this.data, batch),
    ])

    // 3-15. backprop, residual, threshold, message map
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
      const g = await this.engine.gradients(modelStart, x, labels, batch.length)
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
    const thetaAfter = new Float32Array(modelStart)
    applyMessageMap(thetaAfter, map, task.tau)

    // zero-nonce block committed now, to be mined k iterations later
    const commitment = this.commit(tStart)
    const unsigned = {
      taskId: task.taskId, backend: this.engine.backend, miner: this.keys.publicKey, iteration: i, epoch,
      map, metrics: [loss, accuracy], tStart, tFinish: this.opts.now(),
      batchHash: bHash, peerUpdatesHash: EMPTY_PEER_UPDATES, modelHash, residualHash,
      znbHash: commitment === null ? ZERO_HASH : zeroNonceHash(commitment.znb), nextPeerMessagesHash: EMPTY_PEER_UPDATES,
    }
    const { bytes: itres, hash: itresHash } = await signItResToBytes(unsigned, this.keys.secretKey)
    const record: IterationRecord = { iteration: i, itres, itresHash, modelStart, residualStart, batch, commitment }
    this.records.push(record)
    if (this.records.length > task.commitLead + 1) this.records.shift()

    const result: IterationResult = {
      iteration: i, epoch, loss, accuracy, mapSize: map.length, itres,
      timings: { gradientMs, totalMs: 0 },
    }
    const block = await this.mine(thetaAfter, map)
    if (block) result.block = block

    this.theta = thetaAfter
    this.residual = residualNext
    this.iteration = i + 1
    result.timings.totalMs = performance.now() - t0
    return result
  }

  private commit(time: number): Commitment | null {
    if (this.tip === null) return null
    const coinbase: Tx = { type: 'coinbase', height: this.tip.height + 1, outputs: [{ amount: this.tip.subsidy, recipient: this.keys.publicKey }] }
    const znb: BlockHeader = {
      version: BLOCK_VERSION, prevHash: this.tip.hash, merkleRoot: computeMerkleRoot([coinbase]), time,
      bits: this.tip.nextBits, nonce: ZERO_HASH, hashMsg: ZERO_HASH, hashMsgHist: ZERO_HASH,
    }
    return { znb, coinbase }
  }

  /** Algorithm 2 with the block committed k iterations ago, if it still extends the tip. */
  private async mine(thetaAfter: Float32Array, map: MessageMap): Promise<IterationResult['block'] | undefined> {
    const k = this.task.commitLead
    if (this.records.length < k + 1 || this.tip === null) return undefined
    const committed = this.records[0]!.commitment
    if (committed === null || !bytesEqual(committed.znb.prevHash, this.tip.hash) || committed.znb.bits !== this.tip.nextBits) return undefined
    const { znb, coinbase } = committed
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
    const evidence = evidenceToBytes({ slot, model, residual: lucky.residualStart, batch: lucky.batch, peerUpdates: [] })
    const submission: BlockSubmission = { block: blockToBytes({ header: finalHeader, txs: [coinbase] }), evidence }
    const hash = headerHash(finalHeader)
    const height = this.tip.height + 1
    // Like any miner, build on our own block at once rather than mining its siblings;
    // if verifiers reject it, the caller moves the tip back with setTip().
    this.tip = { ...this.tip, hash, height }
    return { hash, height, submission: submissionToBytes(submission) }
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
