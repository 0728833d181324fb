import {
  Block, ItRes, TAGS, TaskSpec, applyMessageMap, assertValidMessageMap, bytesEqual, evidenceFromBytes,
  float32Bytes, isPouwError, itResFromBytes, itResHash, merkleRoot, nonceOffset, noncesPerIteration,
  parameterCount, taggedHash, taggedHashAsync, toHex, verifyItResSignature, zeroNonceHash, type Evidence,
} from '@pouw/protocol'
import { BatchSchedule, batchHash, loadBatch } from './batches.js'
import { accumulateResidual, compareMessageMap } from './deadReckoning.js'
import type { GradientEngine } from './engine.js'
import { pouwError } from './errors.js'
import { computeNonce } from './mining.js'
import type { Dataset } from './mnist.js'

export interface VerifyContext {
  task: TaskSpec
  data: Dataset
  engine: GradientEngine
  /** the supervisor's record of (miner, iteration) -> IT_RES hash, to catch equivocation */
  recorded?: (miner: Uint8Array, iteration: number) => Promise<Uint8Array | undefined>
}

export interface VerifyReport {
  miner: string
  iteration: number
  backend: string
  mapSize: number
  inBandDisagreements: number
  lossDelta: number
  nonceIndex: number
  timings: { checksMs: number; rerunMs: number }
}

const schedules = new WeakMap<TaskSpec, BatchSchedule>()
function scheduleFor(task: TaskSpec): BatchSchedule {
  let s = schedules.get(task)
  if (s === undefined) { s = new BatchSchedule(task); schedules.set(task, s) }
  return s
}

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
  const { task } = ctx
  const n = parameterCount(task.layers)
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
  const cb = block.txs[0]
  if (cb === undefined || cb.outputs.length !== 1 || !bytesEqual(cb.outputs[0]!.recipient, lucky.miner)) {
    throw pouwError('WRONG_MINER', 'the coinbase must pay the miner who signed the lucky IT_RES')
  }
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

  // the batch: the one assigned to this iteration, with the contents hashed
  const assigned = scheduleFor(task).indices(lucky.iteration)
  if (ev.batch.length !== assigned.length || ev.batch.some((v, i) => v !== assigned[i])) {
    throw pouwError('BATCH_NOT_ASSIGNED', `iteration ${lucky.iteration} must train the assigned batch`)
  }
  if (!bytesEqual(await batchHash(ctx.data, ev.batch), lucky.batchHash)) {
    throw pouwError('BATCH_HASH_MISMATCH', 'the batch contents do not hash to the IT_RES batch hash')
  }
  if (ev.peerUpdates.length !== 0 || !bytesEqual(lucky.peerUpdatesHash, taggedHash(TAGS.peerUpdates))) {
    throw pouwError('PEER_UPDATES_MISMATCH', 'peer updates are not part of the single-miner task')
  }

  // nonce: theta'' rebuilt exactly from the claimed map
  try {
    assertValidMessageMap(lucky.map, n)
  } catch (e) {
    throw pouwError('MAP_MISMATCH', (e as Error).message)
  }
  const thetaAfter = new Float32Array(ev.model)
  applyMessageMap(thetaAfter, lucky.map, task.tau)
  const { nonce } = await computeNonce(thetaAfter, lucky.map)
  const nonceIndex = nonceOffset(nonce, h.nonce, noncesPerIteration(task))
  if (nonceIndex < 0) throw pouwError('NONCE_MISMATCH', `the header nonce is not within ${noncesPerIteration(task)} of the nonce derived from the lucky iteration`)
  const checksMs = performance.now() - t0

  // re-run the gradient and compare with the claimed map and metrics
  const t1 = performance.now()
  const { x, labels } = loadBatch(ctx.data, ev.batch)
  const g = await ctx.engine.gradients(ev.model, x, labels, ev.batch.length)
  const rPrime = accumulateResidual(ev.residual, g.grad, task.learningRate)
  const band = (task.tau * task.bandPpm) / 1e6
  const cmp = compareMessageMap(lucky.map, rPrime, task.tau, band)
  if (cmp.outside > 0 || cmp.inBand > task.maxBandDisagreements) {
    throw pouwError('MAP_MISMATCH', `the message map does not follow from the gradient: ${cmp.outside} entries disagree outside the band (first at ${cmp.firstOutside}), ${cmp.inBand} inside`, { ...cmp })
  }
  const [claimedLoss, claimedAcc] = lucky.metrics
  const lossDelta = Math.abs((claimedLoss ?? NaN) - g.loss)
  if (!(lossDelta <= LOSS_REL_TOLERANCE * Math.max(1, Math.abs(g.loss))) || !(Math.abs((claimedAcc ?? NaN) - g.accuracy) <= 1 / ev.batch.length + 1e-9)) {
    throw pouwError('METRICS_MISMATCH', `claimed loss ${claimedLoss} and accuracy ${claimedAcc}, recomputed ${g.loss} and ${g.accuracy}`)
  }
  return {
    miner: toHex(lucky.miner), iteration: lucky.iteration, backend: lucky.backend, mapSize: lucky.map.length,
    inBandDisagreements: cmp.inBand, lossDelta, nonceIndex,
    timings: { checksMs, rerunMs: performance.now() - t1 },
  }
}
