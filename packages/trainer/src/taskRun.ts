import {
  BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM, PUBLIC_KEY_SIZE, Reader, SIGNATURE_SIZE, TAGS, Writer, bytesEqual, compareBytes, concatBytes, float32Bytes,
  float32FromBytes, netShapes, parameterCount, protocolError, signAsync, taggedHash, verify, type LayerSpec, type Metric, type TaskSpec,
} from '@pouw/protocol'
import { loadBatch } from './batches.js'
import type { GradientEngine } from './engine.js'
import { initialParameters } from './model.js'
import { createOptimizer } from './optimizer.js'
import { splitMix32 } from './prng.js'
import type { TaskData } from './taskData.js'
import { dataPrepError } from './data/index.js'

/**
 * A client task's run, the parts a miner, a supervisor and an evaluator share
 * (paper 003 §4.1, §4.4):
 *
 * (JOIN_TASK, a live miner ticket joining with its VRF proof, is a transaction:
 * ledger utxo.ts and Wallet.joinTask.)
 *
 *   trainTask          a selected miner trains the task's model on D(tr)
 *   FinalModel         the miner's final parameters, signed, for the evaluators
 *   testScore          an evaluator's score of a final model on the test split
 *   layersModel        the model in TensorFlow.js's layers format (tf.loadLayersModel)
 */

// ---- training ----

export interface TrainProgress { epoch: number; batch: number; batches: number; loss: number; accuracy: number }

/**
 * Trains the task's model alone on the whole of D(tr) (the plan's training
 * batches, in order, epoch after epoch) with the task's optimiser from its
 * deterministic initialisation; the dropout masks come from a generator
 * seeded by the task's init seed. Every selected miner of a client task does
 * this (joint training of client tasks, with gossip and mining, is not wired
 * yet; see docs/economics.md).
 *
 * The stopping rule: `task.epochs` epochs, or, with `task.patience` > 0,
 * earlier once the task's metric on the validation holdout D(val) has not improved for
 * that many epochs; then the model of the best validation epoch is the
 * result. `shouldStop` ends it early.
 */
export async function trainTask(
  engine: GradientEngine, data: TaskData,
  opts: { onBatch?: (p: TrainProgress) => void; onEpoch?: (e: { epoch: number; validationPpm: number }) => void; shouldStop?: () => boolean } = {},
): Promise<Float32Array> {
  const task = data.task
  const theta = initialParameters(task)
  const optimizer = createOptimizer(task)
  const dropoutSeeds = splitMix32(task.initSeed ^ 0x6472_6f70) // 'drop'
  const batches = data.plan.batchCount
  // no early stopping without a holdout (D(tr') fits in one batch: the plan keeps that batch for training)
  const validation = task.patience > 0 && data.plan.valRecords.length > 0 ? loadBatch(data.data, data.plan.valRecords) : undefined
  let best = { score: -1, epoch: -1, theta }
  const result = (): Float32Array => (validation !== undefined && best.epoch >= 0 ? best.theta : theta)
  for (let epoch = 0; epoch < task.epochs; epoch++) {
    for (let b = 0; b < batches; b++) {
      if (opts.shouldStop?.() === true) return result()
      const records = data.plan.batchRecords(b)
      const { x, labels } = loadBatch(data.data, records)
      const { grad, loss, accuracy, moments } = await engine.gradients(theta, x, labels, records.length, dropoutSeeds())
      optimizer.step(theta, grad, moments)
      opts.onBatch?.({ epoch, batch: b, batches, loss, accuracy })
    }
    if (validation !== undefined) {
      const { predicted } = await engine.evaluate(theta, validation.x, validation.labels, validation.labels.length)
      const score = metricPpm(task.metric, predicted, validation.labels)
      opts.onEpoch?.({ epoch, validationPpm: score })
      if (score > best.score) best = { score, epoch, theta: theta.slice() }
      else if (epoch - best.epoch >= task.patience) break
    }
  }
  return result()
}

/**
 * The task's metric of `predicted` classes against `labels` (classes 0 to 255), in parts per
 * million, rounded down from the exact value: accuracy from the count of right answers; macro-F1
 * as the mean over classes (those that occur or are predicted, as scikit-learn counts them) of
 * 2TP / (2TP + FP + FN), summed as exact fractions. The evaluators, early stopping and the client's
 * own check all score with this.
 */
export function metricPpm(metric: Metric, predicted: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = labels.length
  if (predicted.length !== n || n === 0) throw new Error(`internal: ${predicted.length} predictions for ${n} labels`)
  const [tp, fp, fn] = [new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)]
  for (let i = 0; i < n; i++) {
    const [p, l] = [predicted[i]!, labels[i]!]
    if (!(Number.isInteger(p) && Number.isInteger(l) && p >= 0 && l >= 0 && p < 256 && l < 256)) throw new Error(`internal: class ${p} or ${l} outside [0, 256)`)
    if (p === l) tp[l]!++
    else { fp[p]!++; fn[l]!++ }
  }
  if (metric === 'accuracy') return Math.floor((tp.reduce((a, b) => a + b, 0) * 1_000_000) / n)
  let [num, den] = [0n, 1n] // the sum of the classes' F1, num / den
  let classes = 0n
  for (let c = 0; c < 256; c++) {
    const d = BigInt(2 * tp[c]! + fp[c]! + fn[c]!)
    if (d === 0n) continue
    classes++
    ;[num, den] = [num * d + BigInt(2 * tp[c]!) * den, den * d]
  }
  return Number((num * 1_000_000n) / (den * classes))
}

/**
 * An evaluator's score of `theta` on the task's test split: the task's metric in ppm (metricPpm),
 * and the count of right answers.
 */
export async function testScore(engine: GradientEngine, data: TaskData, theta: Float32Array): Promise<{ scorePpm: number; correct: number; count: number }> {
  const { x, labels } = data.testBatch
  if (labels.length === 0) throw dataPrepError('BAD_PARAMS', 'the task has no test records')
  const { predicted } = await engine.evaluate(theta, x, labels, labels.length)
  const correct = predicted.reduce((k, p, i) => k + (p === labels[i] ? 1 : 0), 0)
  return { scorePpm: metricPpm(data.task.metric, predicted, labels), correct, count: labels.length }
}

// ---- the final model ----

/** A selected miner's final parameters for a task, signed by the miner's key (the ticket's owner). */
export interface FinalModel { taskHash: Uint8Array; miner: Uint8Array; theta: Float32Array; signature: Uint8Array }

export function finalModelSigHash(taskHash: Uint8Array, miner: Uint8Array, theta: Float32Array): Uint8Array {
  return taggedHash(TAGS.taskModel, concatBytes(taskHash, miner, float32Bytes(theta)))
}

export async function signFinalModel(taskHash: Uint8Array, miner: { publicKey: Uint8Array; secretKey: Uint8Array }, theta: Float32Array): Promise<FinalModel> {
  return { taskHash, miner: miner.publicKey, theta, signature: await signAsync(miner.secretKey, finalModelSigHash(taskHash, miner.publicKey, theta)) }
}

export function finalModelToBytes(m: FinalModel): Uint8Array {
  return new Writer().fixed(m.taskHash, 32).fixed(m.miner, PUBLIC_KEY_SIZE).varBytes(float32Bytes(m.theta)).fixed(m.signature, SIGNATURE_SIZE).finish()
}

/** Reads a final model for `task`; its parameter count must be the task's (DATA_BAD_PARAMS). */
export function finalModelFromBytes(bytes: Uint8Array, task: TaskSpec): FinalModel {
  const r = new Reader(bytes, 'final model')
  const taskHash = r.bytes(32, 'task hash')
  const miner = r.bytes(PUBLIC_KEY_SIZE, 'miner')
  const n = parameterCount(task)
  const raw = r.varBytes(4 * n, 'parameters')
  if (raw.length !== 4 * n) throw dataPrepError('BAD_PARAMS', `a final model of ${raw.length / 4} parameters, the task has ${n}`)
  const theta = float32FromBytes(raw, 'parameters') // little-endian, as the evidence's model
  const signature = r.bytes(SIGNATURE_SIZE, 'signature')
  r.end()
  return { taskHash, miner, theta, signature }
}

export function verifyFinalModel(m: FinalModel): Promise<boolean> {
  return verify(m.miner, finalModelSigHash(m.taskHash, m.miner, m.theta), m.signature)
}

// ---- a malformed-task report ----

/**
 * A worker's report that a task it joined is malformed: the relays hold no definition and data
 * for it (the client paid a fee for a task it never delivered). Signed by the joined stake's owner;
 * the fee of a task the evaluators find unavailable goes to the workers that reported it.
 */
export interface TaskReport { taskHash: Uint8Array; reporter: Uint8Array; signature: Uint8Array }

const REPORT_BYTES = 32 + PUBLIC_KEY_SIZE + SIGNATURE_SIZE

function taskReportSigHash(taskHash: Uint8Array, reporter: Uint8Array): Uint8Array {
  return taggedHash(TAGS.taskReport, concatBytes(taskHash, reporter))
}

export async function signTaskReport(taskHash: Uint8Array, reporter: { publicKey: Uint8Array; secretKey: Uint8Array }): Promise<TaskReport> {
  return { taskHash, reporter: reporter.publicKey, signature: await signAsync(reporter.secretKey, taskReportSigHash(taskHash, reporter.publicKey)) }
}

/** task hash (32) | reporter key (32) | signature (64) */
export function taskReportToBytes(r: TaskReport): Uint8Array {
  return new Writer().fixed(r.taskHash, 32).fixed(r.reporter, PUBLIC_KEY_SIZE).fixed(r.signature, SIGNATURE_SIZE).finish()
}

/** Throws PROTOCOL_* on anything but REPORT_BYTES bytes. */
export function taskReportFromBytes(bytes: Uint8Array): TaskReport {
  if (bytes.length !== REPORT_BYTES) throw protocolError('BAD_VALUE', `a task report is ${REPORT_BYTES} bytes, not ${bytes.length}`)
  const r = new Reader(bytes, 'task report')
  const out = { taskHash: r.bytes(32, 'task hash'), reporter: r.bytes(PUBLIC_KEY_SIZE, 'reporter'), signature: r.bytes(SIGNATURE_SIZE, 'signature') }
  r.end()
  return out
}

export function verifyTaskReport(r: TaskReport): Promise<boolean> {
  return verify(r.reporter, taskReportSigHash(r.taskHash, r.reporter), r.signature)
}

// ---- training progress ----

/**
 * How far a selected miner is in training a client task, signed by the miner's key (the ticket's
 * owner): what the client watches. Informational only: nothing is paid on it, and a miner that
 * lies in it gains nothing (its model is scored on the test split).
 */
export interface TaskProgress {
  taskHash: Uint8Array
  miner: Uint8Array
  epoch: number // u16, from 0
  batch: number // u32, within the epoch, from 0
  batches: number // u32 per epoch
  loss: number // float32: the batch's mean loss
  accuracy: number // float32: the batch's accuracy in [0, 1]
  signature: Uint8Array
}

const PROGRESS_BYTES = 32 + PUBLIC_KEY_SIZE + 2 + 4 + 4 + 4 + 4 + SIGNATURE_SIZE

function progressBody(p: Omit<TaskProgress, 'signature'>): Uint8Array {
  return new Writer().fixed(p.taskHash, 32).fixed(p.miner, PUBLIC_KEY_SIZE).u16(p.epoch).u32(p.batch).u32(p.batches).f32(p.loss).f32(p.accuracy).finish()
}

function taskProgressSigHash(p: Omit<TaskProgress, 'signature'>): Uint8Array {
  return taggedHash(TAGS.taskProgress, progressBody(p))
}

export async function signTaskProgress(p: Omit<TaskProgress, 'miner' | 'signature'>, miner: { publicKey: Uint8Array; secretKey: Uint8Array }): Promise<TaskProgress> {
  const body = { ...p, miner: miner.publicKey, loss: Math.fround(p.loss), accuracy: Math.fround(p.accuracy) }
  return { ...body, signature: await signAsync(miner.secretKey, taskProgressSigHash(body)) }
}

/** task hash (32) | miner (32) | u16 epoch | u32 batch | u32 batches | f32 loss | f32 accuracy | signature (64) */
export function taskProgressToBytes(p: TaskProgress): Uint8Array {
  return concatBytes(progressBody(p), p.signature)
}

/** Throws PROTOCOL_* on anything but PROGRESS_BYTES bytes, a batch outside its epoch or a figure that is not finite. */
export function taskProgressFromBytes(bytes: Uint8Array): TaskProgress {
  if (bytes.length !== PROGRESS_BYTES) throw protocolError('BAD_VALUE', `a progress message is ${PROGRESS_BYTES} bytes, not ${bytes.length}`)
  const r = new Reader(bytes, 'task progress')
  const p = {
    taskHash: r.bytes(32, 'task hash'), miner: r.bytes(PUBLIC_KEY_SIZE, 'miner'), epoch: r.u16('epoch'), batch: r.u32('batch'), batches: r.u32('batches'),
    loss: r.f32('loss'), accuracy: r.f32('accuracy'), signature: r.bytes(SIGNATURE_SIZE, 'signature'),
  }
  r.end()
  if (p.batch >= p.batches) throw protocolError('BAD_VALUE', `batch ${p.batch} of an epoch of ${p.batches}`)
  if (!Number.isFinite(p.loss) || !(p.accuracy >= 0 && p.accuracy <= 1)) throw protocolError('BAD_VALUE', `loss ${p.loss} and accuracy ${p.accuracy}: not a finite loss and an accuracy in [0, 1]`)
  return p
}

export function verifyTaskProgress(p: TaskProgress): Promise<boolean> {
  return verify(p.miner, taskProgressSigHash(p), p.signature)
}

// ---- equivocation: two final models ----

/**
 * A miner's two final models for one task with different parameters, each
 * signed by it: proof that it equivocated (a miner posts one model). Relays
 * hand it to one another; the evaluators name the miner a cheat.
 */
export interface Equivocation { first: FinalModel; second: FinalModel }

/** Whether `a` and `b` are the same model: the same task, miner and parameters (a signature may differ and still sign the same). */
export function sameFinalModel(a: FinalModel, b: FinalModel): boolean {
  return bytesEqual(a.taskHash, b.taskHash) && bytesEqual(a.miner, b.miner) && bytesEqual(float32Bytes(a.theta), float32Bytes(b.theta))
}

/** varBytes(first) | varBytes(second), the two in byte order of their encodings: one proof, one encoding. */
export function equivocationToBytes(e: Equivocation): Uint8Array {
  const [a, b] = [finalModelToBytes(e.first), finalModelToBytes(e.second)].sort(compareBytes)
  return new Writer().varBytes(a!).varBytes(b!).finish()
}

/**
 * Reads an equivocation for `task`: two final models (finalModelFromBytes) of one task and one
 * miner with different parameters, in canonical order. Throws PROTOCOL_BAD_VALUE otherwise; the
 * signatures are checked by verifyEquivocation.
 */
export function equivocationFromBytes(bytes: Uint8Array, task: TaskSpec): Equivocation {
  const r = new Reader(bytes, 'equivocation')
  const max = 32 + PUBLIC_KEY_SIZE + 4 + 4 * parameterCount(task) + SIGNATURE_SIZE // one final model's encoding
  const [a, b] = [r.varBytes(max, 'first model'), r.varBytes(max, 'second model')]
  r.end()
  if (compareBytes(a, b) >= 0) throw protocolError('BAD_VALUE', 'an equivocation holds two different models in byte order')
  const [first, second] = [finalModelFromBytes(a, task), finalModelFromBytes(b, task)]
  if (!bytesEqual(first.taskHash, second.taskHash) || !bytesEqual(first.miner, second.miner)) throw protocolError('BAD_VALUE', 'an equivocation\'s two models are of one task and one miner')
  if (sameFinalModel(first, second)) throw protocolError('BAD_VALUE', 'an equivocation\'s two models have different parameters')
  return { first, second }
}

/** Both models signed by their miner. */
export async function verifyEquivocation(e: Equivocation): Promise<boolean> {
  return (await verifyFinalModel(e.first)) && (await verifyFinalModel(e.second))
}

// ---- TensorFlow.js layers format ----

const KERAS_CLASS: Record<LayerSpec['kind'], string> = {
  dense: 'Dense', conv2d: 'Conv2D', maxPool: 'MaxPooling2D', avgPool: 'AveragePooling2D', flatten: 'Flatten', dropout: 'Dropout', batchNorm: 'BatchNormalization',
}
const KERAS_NAME: Record<LayerSpec['kind'], string> = {
  dense: 'dense', conv2d: 'conv2d', maxPool: 'max_pooling2d', avgPool: 'average_pooling2d', flatten: 'flatten', dropout: 'dropout', batchNorm: 'batch_normalization',
}

function kerasConfig(l: LayerSpec, last: boolean): Record<string, unknown> {
  switch (l.kind) {
    case 'dense': return { units: l.units, activation: last ? 'softmax' : l.activation, use_bias: true }
    case 'conv2d': return {
      filters: l.filters, kernel_size: [l.kernel, l.kernel], strides: [l.stride, l.stride], padding: l.padding,
      data_format: 'channels_last', dilation_rate: [1, 1], activation: l.activation, use_bias: true,
    }
    case 'maxPool': case 'avgPool': return { pool_size: [l.size, l.size], strides: [l.stride, l.stride], padding: 'valid', data_format: 'channels_last' }
    case 'flatten': return {}
    case 'dropout': return { rate: l.ratePermille / 1000 }
    case 'batchNorm': return { axis: -1, momentum: BATCH_NORM_MOMENTUM, epsilon: BATCH_NORM_EPSILON, center: true, scale: true }
  }
}

/**
 * The model as TensorFlow.js's layers format: model.json (a Sequential of the
 * task's layers, a Reshape first when the input is an image, softmax on the
 * last dense layer, whose argmax is the logits') and the weights file it
 * names, each tensor in θ's canonical layout, little-endian float32.
 */
export function layersModel(task: TaskSpec, theta: Float32Array, weightsPath = 'weights.bin'): { modelJson: Record<string, unknown>; weights: Uint8Array } {
  const { params, parameterCount: n, features } = netShapes(task.net)
  if (theta.length !== n) throw new Error(`internal: ${theta.length} parameters for a model of ${n}`)
  const names = task.net.layers.map((l, i) => `${KERAS_NAME[l.kind]}_${i + 1}`)
  const input = { batch_input_shape: [null, features] }
  const reshape = task.net.input.length === 3 ? [{ class_name: 'Reshape', config: { name: 'reshape_0', target_shape: task.net.input, trainable: true, dtype: 'float32', ...input } }] : []
  const layers = [
    ...reshape,
    ...task.net.layers.map((l, i) => ({
      class_name: KERAS_CLASS[l.kind],
      config: { name: names[i], trainable: true, dtype: 'float32', ...kerasConfig(l, i + 1 === task.net.layers.length), ...(i === 0 && reshape.length === 0 ? input : {}) },
    })),
  ]
  const manifest = params.map((p) => ({ name: `${names[p.layer]!}/${p.name}`, shape: p.shape, dtype: 'float32' }))
  const le = new Float32Array(theta) // platform order; every platform tfjs runs on is little-endian
  return {
    modelJson: {
      format: 'layers-model', generatedBy: 'pouw', convertedBy: null,
      modelTopology: { class_name: 'Sequential', config: { name: 'pouw_task', layers }, keras_version: 'tfjs-layers', backend: 'tensor_flow.js' },
      weightsManifest: [{ paths: [weightsPath], weights: manifest }],
    },
    weights: new Uint8Array(le.buffer),
  }
}
