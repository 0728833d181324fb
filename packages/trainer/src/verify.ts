import {
  Block, ItRes, PouwError, TAGS, applyMessageMap, assertValidMessageMap, bytesEqual, evidenceFromBytes,
  float32Bytes, isCanonicalPeerUpdates, isPouwError, itResFromBytes, itResHash, merkleRoot, nonceOffset,
  noncesPerIteration, parameterCount, peerUpdatesHash, taggedHashAsync, toHex, verifyItResSignature, zeroNonceHash,
  type Evidence, type PeerUpdateRef,
} from '@pouw/protocol'
import { batchHash, loadBatch } from './batches.js'
import { accumulateResidual, compareMessageMap } from './deadReckoning.js'
import type { GradientEngine } from './engine.js'
import { pouwError } from './errors.js'
import { computeNonce } from './mining.js'
import type { TaskData } from './taskData.js'

export interface VerifyContext {
  data: TaskData
  engine: GradientEngine
  /** the supervisors' record of (miner, iteration) -> IT_RES hash, to catch equivocation */
  recorded?: (miner: Uint8Array, iteration: number) => Promise<Uint8Array | undefined>
  /** the miners of an epoch, from its signed epoch record; undefined when not (yet) known */
  members: (epoch: number) => Uint8Array[] | undefined
  /**
   * The losses the supervisors recorded for this miner (from its IT_RES): its first METRICS_WINDOW
   * iterations of the task, and the METRICS_WINDOW up to and including `iteration`, each ascending.
   * Without it the metrics-window check (metricsImproved) is skipped.
   */
  metricsWindow?: (miner: Uint8Array, iteration: number) => Promise<{ first: RecordedLoss[]; recent: RecordedLoss[] }>
}

/** One recorded iteration's reported training loss. */
export interface RecordedLoss { iteration: number; loss: number }

/** How many iterations each side of the metrics-window check averages. */
export const METRICS_WINDOW = 32

/**
 * §5.2: "verifiers will also check if the metrics improved over a time window Δt". The window is
 * the miner's whole training so far: the mean loss it reported over its last METRICS_WINDOW
 * recorded iterations must be below the mean over its first METRICS_WINDOW. A miner whose model
 * does not learn (it skips training, or applies junk updates) fails; an honest one passes by a
 * wide margin once it is past its first iterations (MNIST: ~1.5 against ~0.3). Not judged (true)
 * until both windows are full and do not overlap: a miner's first 2 × METRICS_WINDOW iterations.
 * Comparing two adjacent recent windows instead would refuse honest miners on a plateau, where
 * the loss of one window is as likely to be above the other's as below.
 */
export function metricsImproved(first: readonly RecordedLoss[], recent: readonly RecordedLoss[]): boolean {
  if (first.length < METRICS_WINDOW || recent.length < METRICS_WINDOW) return true
  if (recent[0]!.iteration <= first[first.length - 1]!.iteration) return true
  const mean = (xs: readonly RecordedLoss[]): number => xs.reduce((a, x) => a + x.loss, 0) / xs.length
  return mean(recent) < mean(first)
}

export interface VerifyReport {
  miner: string
  iteration: number
  epoch: number
  batchIndex: number
  backend: string
  mapSize: number
  peerUpdates: number
  inBandDisagreements: number
  lossDelta: number
  nonceIndex: number
  /** the nonce precursor rebuilt from the lucky iteration: what the verifier seals in its verdict and reveals later (§5.2) */
  precursor: Uint8Array
  timings: { checksMs: number; rerunMs: number }
}

/** The verifier lacks an epoch record the block refers to: a local gap, not the miner's fault; retry later. */
export const VERIFY_UNKNOWN_EPOCH = 'VERIFY_UNKNOWN_EPOCH'

/** Loss tolerance: relative, from the measured ~7 significant digits of agreement, with a wide margin. */
export const LOSS_REL_TOLERANCE = 1e-4

/**
 * Verify a block's proof of useful work (paper 003 §5.2), cheapest checks
 * first: the slot's signatures and hashes, the zero-nonce commitment, the
 * starting state, the batch assignment, the nonce derivation (exact, over
 * theta'' rebuilt from the claimed map), and only then the re-run of the lucky
 * iteration's gradient, compared with a narrow band around tau. Throws a
 * PouwError whose code names the broken rule.
 */
export async function verifyProofOfUsefulWork(ctx: VerifyContext, block: Block, evidenceBytes: Uint8Array): Promise<VerifyReport> {
  const t0 = performance.now()
  const { task } = ctx.data
  const n = parameterCount(task)
  const k = task.commitLead

  let ev: Evidence
  let slot: ItRes[]
  try {
    ev = evidenceFromBytes(evidenceBytes)
    slot = ev.slot.map(itResFromBytes)
  } catch (e) {
    if (isPouwError(e)) throw pouwError('EVIDENCE_MALFORMED', e.message, { cause: e.code })
    throw e
  }
  if (slot.length !== k + 1) throw pouwError('BAD_SLOT', `the slot must hold ${k + 1} IT_RES messages (commitment to lucky), got ${slot.length}`)
  const first = slot[0]!
  for (let j = 0; j < slot.length; j++) {
    const m = slot[j]!
    if (!(await verifyItResSignature(m))) throw pouwError('BAD_SIGNATURE', `IT_RES of iteration ${m.iteration} has an invalid signature`)
    if (!bytesEqual(m.taskId, task.taskId)) throw pouwError('WRONG_TASK', `IT_RES of iteration ${m.iteration} is for task ${toHex(m.taskId)}`)
    if (!bytesEqual(m.miner, first.miner) || m.iteration !== first.iteration + j) {
      throw pouwError('BAD_SLOT', 'slot messages must be one miner\'s consecutive iterations')
    }
  }
  const lucky = slot[k]!
  const h = block.header
  const hashes = ev.slot.map(itResHash)
  if (!bytesEqual(h.hashMsg, hashes[k]!)) throw pouwError('MSG_HASH_MISMATCH', 'hashMsg is not the hash of the lucky IT_RES')
  if (!bytesEqual(h.hashMsgHist, merkleRoot(hashes))) throw pouwError('HISTORY_MISMATCH', 'hashMsgHist is not the Merkle root of the slot')
  if (!bytesEqual(first.znbHash, zeroNonceHash(h))) {
    throw pouwError('COMMITMENT_MISMATCH', `the block is not the zero-nonce block committed at iteration ${first.iteration}`)
  }
  if (ctx.recorded) {
    for (let j = 0; j < slot.length; j++) {
      const rec = await ctx.recorded(slot[j]!.miner, slot[j]!.iteration)
      if (rec !== undefined && !bytesEqual(rec, hashes[j]!)) {
        throw pouwError('EQUIVOCATION', `the miner sent a different IT_RES for iteration ${slot[j]!.iteration} than the one recorded`)
      }
    }
  }

  if (ctx.metricsWindow) {
    const { first: early, recent } = await ctx.metricsWindow(lucky.miner, lucky.iteration)
    if (!metricsImproved(early, recent)) {
      const mean = (xs: RecordedLoss[]): string => (xs.reduce((a, x) => a + x.loss, 0) / xs.length).toFixed(4)
      throw pouwError('METRICS_NOT_IMPROVED', `mean loss ${mean(recent)} over iterations ${recent[0]!.iteration}-${recent.at(-1)!.iteration} is not below ${mean(early)} over the miner's first ${early.length}`)
    }
  }

  // starting state of the lucky iteration
  if (ev.model.length !== n || ev.residual.length !== n) throw pouwError('MODEL_HASH_MISMATCH', `model and residual must have ${n} parameters`)
  const [modelHash, residualHash] = await Promise.all([
    taggedHashAsync(TAGS.model, float32Bytes(ev.model)),
    taggedHashAsync(TAGS.residual, float32Bytes(ev.residual)),
  ])
  if (!bytesEqual(modelHash, lucky.modelHash)) throw pouwError('MODEL_HASH_MISMATCH', 'the evidence model does not hash to the IT_RES model hash')
  if (!bytesEqual(residualHash, lucky.residualHash)) throw pouwError('RESIDUAL_HASH_MISMATCH', 'the evidence residual does not hash to the IT_RES residual hash')
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(ev.model[i]!) || !Number.isFinite(ev.residual[i]!)) throw pouwError('MODEL_HASH_MISMATCH', `parameter ${i} is not finite`)
  }

  // membership and the batch: the one assigned to this miner at this point of the epoch
  const members = ctx.members(lucky.epoch)
  if (members === undefined) throw new PouwError(VERIFY_UNKNOWN_EPOCH, `no record of epoch ${lucky.epoch} yet`)
  const assignment = ctx.data.assignment(lucky.epoch, members)
  const mine = assignment.get(toHex(lucky.miner))
  if (mine === undefined) throw pouwError('NOT_MEMBER', `${toHex(lucky.miner).slice(0, 16)} is not a miner of epoch ${lucky.epoch}`)
  const position = mine.indexOf(lucky.batchIndex)
  if (position < 0) throw pouwError('BATCH_NOT_ASSIGNED', `batch ${lucky.batchIndex} is not assigned to the miner in epoch ${lucky.epoch}`)
  for (let j = 0; j < k; j++) {
    // the slot's earlier iterations of the same epoch must be the batches just before, in order
    const m = slot[j]!
    if (m.epoch === lucky.epoch && mine.indexOf(m.batchIndex) !== position - (k - j)) {
      throw pouwError('BATCH_NOT_ASSIGNED', `iteration ${m.iteration} trained batch ${m.batchIndex}, out of the epoch's order`)
    }
  }
  const records = ctx.data.plan.batchRecords(lucky.batchIndex)
  if (!bytesEqual(await batchHash(ctx.data.data, records), lucky.batchHash)) {
    throw pouwError('BATCH_HASH_MISMATCH', 'the batch contents do not hash to the IT_RES batch hash')
  }

  // peer updates: announced in the previous iteration, signed by members, canonical order
  const peers: ItRes[] = []
  const refs: PeerUpdateRef[] = []
  const allowed = new Set([...members, ...(ctx.members(lucky.epoch - 1) ?? [])].map(toHex))
  for (const bytes of ev.peerUpdates) {
    let p: ItRes
    try { p = itResFromBytes(bytes) } catch (e) {
      if (isPouwError(e)) throw pouwError('PEER_UPDATES_MISMATCH', `a peer update is malformed: ${e.message}`)
      throw e
    }
    if (!bytesEqual(p.taskId, task.taskId) || bytesEqual(p.miner, lucky.miner) || !allowed.has(toHex(p.miner))) {
      throw pouwError('PEER_UPDATES_MISMATCH', `peer update from ${toHex(p.miner).slice(0, 16)} (iteration ${p.iteration}) is not from another miner of the task`)
    }
    try { assertValidMessageMap(p.map, n, 'peer message map') } catch (e) {
      throw pouwError('PEER_UPDATES_MISMATCH', (e as Error).message)
    }
    if (!(await verifyItResSignature(p))) throw pouwError('PEER_UPDATES_MISMATCH', `peer update of iteration ${p.iteration} has an invalid signature`)
    const ref = { miner: p.miner, iteration: p.iteration, hash: itResHash(bytes) }
    if (ctx.recorded) {
      const rec = await ctx.recorded(p.miner, p.iteration)
      if (rec !== undefined && !bytesEqual(rec, ref.hash)) throw pouwError('EQUIVOCATION', `peer update of iteration ${p.iteration} differs from the recorded one`)
    }
    peers.push(p)
    refs.push(ref)
  }
  if (!isCanonicalPeerUpdates(refs)) throw pouwError('PEER_UPDATES_MISMATCH', 'peer updates are not in the canonical order (miner, iteration) or repeat')
  const applied = peerUpdatesHash(refs)
  if (!bytesEqual(applied, lucky.peerUpdatesHash)) throw pouwError('PEER_UPDATES_MISMATCH', 'the peer updates do not hash to the IT_RES peer updates hash')
  if (!bytesEqual(applied, slot[k - 1]!.nextPeerMessagesHash)) {
    throw pouwError('PEER_UPDATES_MISMATCH', 'the peer updates applied are not those announced in the previous iteration')
  }
  const thetaPrime = new Float32Array(ev.model)
  for (const p of peers) applyMessageMap(thetaPrime, p.map, task.tau)

  // nonce: theta'' rebuilt exactly from the claimed map
  try {
    assertValidMessageMap(lucky.map, n)
  } catch (e) {
    throw pouwError('MAP_MISMATCH', (e as Error).message)
  }
  const thetaAfter = new Float32Array(thetaPrime)
  applyMessageMap(thetaAfter, lucky.map, task.tau)
  const { nonce, precursor } = await computeNonce(thetaAfter, lucky.map)
  const nonces = noncesPerIteration(task)
  const nonceIndex = nonceOffset(nonce, h.nonce, nonces)
  if (nonceIndex < 0) throw pouwError('NONCE_MISMATCH', `the header nonce is not within ${nonces} of the nonce derived from the lucky iteration`)
  const checksMs = performance.now() - t0

  // re-run the gradient and compare with the claimed map and metrics
  const t1 = performance.now()
  const { x, labels } = loadBatch(ctx.data.data, records)
  const g = await ctx.engine.gradients(thetaPrime, x, labels, records.length)
  const rPrime = accumulateResidual(ev.residual, g.grad, task.learningRate)
  const band = (task.tau * task.bandPpm) / 1e6
  const cmp = compareMessageMap(lucky.map, rPrime, task.tau, band)
  if (cmp.outside > 0 || cmp.inBand > task.maxBandDisagreements) {
    throw pouwError('MAP_MISMATCH', `the message map does not follow from the gradient: ${cmp.outside} entries disagree outside the band (first at ${cmp.firstOutside}), ${cmp.inBand} inside`, { ...cmp })
  }
  const [claimedLoss, claimedAcc] = lucky.metrics
  const lossDelta = Math.abs((claimedLoss ?? NaN) - g.loss)
  if (!(lossDelta <= LOSS_REL_TOLERANCE * Math.max(1, Math.abs(g.loss))) || !(Math.abs((claimedAcc ?? NaN) - g.accuracy) <= 1 / records.length + 1e-9)) {
    throw pouwError('METRICS_MISMATCH', `claimed loss ${claimedLoss} and accuracy ${claimedAcc}, recomputed ${g.loss} and ${g.accuracy}`)
  }
  return {
    miner: toHex(lucky.miner), iteration: lucky.iteration, epoch: lucky.epoch, batchIndex: lucky.batchIndex,
    backend: lucky.backend, mapSize: lucky.map.length, peerUpdates: peers.length,
    inBandDisagreements: cmp.inBand, lossDelta, nonceIndex, precursor,
    timings: { checksMs, rerunMs: performance.now() - t1 },
  }
}
