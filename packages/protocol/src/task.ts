import { Reader, Writer } from './bytes.js'
import { protocolError } from './errors.js'
import { TAGS, taggedHash } from './hash.js'
import { MAX_LAYER_UNITS, mlpNet, mlpSizes, netShapes, readNet, writeNet, type NetSpec } from './model.js'

/**
 * Task definitions come in two encodings. Version 2 holds an MLP trained by
 * plain SGD (the built-in MNIST task's, whose hash it fixes); version 3 holds
 * any network, optimiser, early stopping, expected time, hardware
 * preference and metric. A task is written in version 2 whenever version 2 can hold it,
 * and a version 3 encoding of such a task is refused: one task, one encoding,
 * one hash.
 */
export const TASK_VERSION_MLP = 2
export const TASK_VERSION = 3
const MODEL_MLP = 1
/** version 2 holds at most this many layer sizes (15 dense layers) */
const MLP_MAX_SIZES = 16

/** How the parameters move along the gradient g, with learning rate η (all in float32 steps, exact on every engine). */
export type OptimizerSpec =
  | { kind: 'sgd' } // θ ← θ − η g
  | { kind: 'momentum'; momentum: number } // v ← μ v + g; θ ← θ − η v
  | { kind: 'adam'; beta1: number; beta2: number; epsilon: number } // Kingma & Ba, bias-corrected
export const OPTIMIZERS = ['sgd', 'momentum', 'adam'] as const

/**
 * What the evaluators score a final model by on the test split (and early stopping watches on the
 * validation holdout), in ppm: the share of records classified right, or the mean over classes of
 * each class's F1 = 2TP / (2TP + FP + FN) (classes that neither occur nor are predicted left out).
 */
export const METRICS = ['accuracy', 'macro-f1'] as const
export type Metric = (typeof METRICS)[number]

/** What a tab needs to take the task: 'any' backend, or a 'gpu' (WebGPU) one. */
export const HARDWARE = ['any', 'gpu'] as const
export type Hardware = (typeof HARDWARE)[number]

/**
 * A task definition (paper 003 §3.4): the network and its training rule, the
 * data set's fragments and split, the stopping rule, and the parameters of
 * joint training and its verification. Every field is exact: floats are
 * carried as float32 bits.
 */
export interface TaskSpec {
  taskId: Uint8Array // 16 bytes
  net: NetSpec // layers, activations and loss (model.ts)
  optimizer: OptimizerSpec
  initSeed: number // u32 seed for the deterministic initialisation (Glorot-uniform kernels) and dropout masks
  tau: number // float32 dead-reckoning threshold tau (in units of learning rate x gradient)
  learningRate: number // float32
  batchSize: number // u16
  commitLead: number // k: zero-nonce block committed this many iterations ahead (u8, >= 1)
  /** Algorithm 2: a = floor(batchBytes / noncesBatchDiv) + floor(modelParams / noncesModelDiv) */
  noncesBatchDiv: number // u32, 1 / omega_B
  noncesModelDiv: number // u32, 1 / omega_M
  /** the dataset D (paper 003 §4.2.2): its record count and the hashes of its p consecutive fragments */
  recordCount: number // u32
  fragmentHashes: Uint8Array[] // p in [MIN_FRAGMENTS, MAX_FRAGMENTS], in fragment order
  trainPermille: number // u16: share of the (permuted) fragments that form the initial training set D(tr')
  valPermille: number // u16: share of D(tr')'s mini-batches held out for validation (holdout strategy)
  assignment: AssignmentMethod // how mini-batches are assigned to miners (§4.2.2)
  kappa: number // u8: consistent hashing's ring has 2^kappa positions
  loadFactorPermille: number // u16: consistent hashing's bound c in [1, 2], times 1000
  epochs: number // u16: the stopping rule: training ends after this many epochs...
  patience: number // u16: ...or once the metric on the validation holdout has not improved for this many epochs (0: never early); the best model is kept
  /** verification tolerance band around tau, as a fraction of tau, in parts per million (u32) */
  bandPpm: number
  /** most in-band disagreements one iteration may have (u32) */
  maxBandDisagreements: number
  expectedSeconds: number // u32: the client's estimate of the training time (0: none given)
  hardware: Hardware
  metric: Metric
}

export const MIN_FRAGMENTS = 10
export const MAX_FRAGMENTS = 1024
export const ASSIGNMENT_METHODS = ['interleaved', 'consistent-hashing'] as const
export type AssignmentMethod = (typeof ASSIGNMENT_METHODS)[number]

/** The MLP sizes when version 2 can hold the task, else undefined. */
function mlpEncodable(t: TaskSpec): number[] | undefined {
  const plain = t.optimizer.kind === 'sgd' && t.patience === 0 && t.expectedSeconds === 0 && t.hardware === 'any' && t.metric === 'accuracy'
  const sizes = plain ? mlpSizes(t.net) : undefined
  return sizes !== undefined && sizes.length <= MLP_MAX_SIZES ? sizes : undefined
}

export function taskToBytes(t: TaskSpec): Uint8Array {
  const sizes = mlpEncodable(t)
  const w = new Writer().u16(sizes !== undefined ? TASK_VERSION_MLP : TASK_VERSION).fixed(t.taskId, 16)
  if (sizes !== undefined) {
    w.u8(MODEL_MLP).u8(sizes.length)
    for (const l of sizes) w.u32(l)
  } else {
    writeNet(w, t.net)
    const o = t.optimizer
    w.u8(OPTIMIZERS.indexOf(o.kind))
    if (o.kind === 'momentum') w.f32(o.momentum)
    if (o.kind === 'adam') w.f32(o.beta1).f32(o.beta2).f32(o.epsilon)
  }
  w.u32(t.initSeed).f32(t.tau).f32(t.learningRate).u16(t.batchSize).u8(t.commitLead)
  w.u32(t.noncesBatchDiv).u32(t.noncesModelDiv).u32(t.recordCount).u16(t.fragmentHashes.length)
  for (const h of t.fragmentHashes) w.fixed(h, 32)
  w.u16(t.trainPermille).u16(t.valPermille).u8(ASSIGNMENT_METHODS.indexOf(t.assignment)).u8(t.kappa)
  w.u16(t.loadFactorPermille).u16(t.epochs)
  w.u32(t.bandPpm).u32(t.maxBandDisagreements)
  if (sizes === undefined) w.u16(t.patience).u32(t.expectedSeconds).u8(HARDWARE.indexOf(t.hardware)).u8(METRICS.indexOf(t.metric))
  return w.finish()
}

export const MAX_TASK_BYTES = 512 + 32 * MAX_FRAGMENTS

function readMlp(r: Reader): NetSpec {
  const kind = r.u8('model kind')
  if (kind !== MODEL_MLP) throw protocolError('BAD_TYPE', `model kind ${kind} unknown`)
  const nl = r.count(MLP_MAX_SIZES, 'layers', 1)
  if (nl < 2) throw protocolError('BAD_VALUE', `an MLP needs at least 2 layer sizes, got ${nl}`)
  const layers: number[] = []
  for (let i = 0; i < nl; i++) {
    const l = r.u32('layer size')
    if (l < 1 || l > MAX_LAYER_UNITS) throw protocolError('BAD_VALUE', `layer size ${l} out of range [1, ${MAX_LAYER_UNITS}]`)
    layers.push(l)
  }
  const net = mlpNet(layers)
  netShapes(net) // what any network may cost
  return net
}

function readOptimizer(r: Reader): OptimizerSpec {
  const kind = r.oneOf(OPTIMIZERS, 'optimizer')
  // in (0, 1): a momentum of 0 is plain SGD, which has its own encoding (and -0 would be a second one)
  const unit = (field: string): number => {
    const v = r.f32(field)
    if (!(v > 0 && v < 1)) throw protocolError('BAD_VALUE', `${field} ${v} out of range (0, 1)`)
    return v
  }
  if (kind === 'momentum') return { kind, momentum: unit('momentum') }
  if (kind === 'adam') return { kind, beta1: unit('beta1'), beta2: unit('beta2'), epsilon: unit('epsilon') }
  return { kind }
}


export function taskFromBytes(bytes: Uint8Array): TaskSpec {
  if (bytes.length > MAX_TASK_BYTES) throw protocolError('TOO_LARGE', `task is ${bytes.length} bytes, at most ${MAX_TASK_BYTES}`)
  const r = new Reader(bytes, 'task')
  const v = r.u16('version')
  if (v !== TASK_VERSION && v !== TASK_VERSION_MLP) throw protocolError('BAD_VERSION', `task version ${v}, expected ${TASK_VERSION_MLP} or ${TASK_VERSION}`)
  const taskId = r.bytes(16, 'task id')
  const net = v === TASK_VERSION_MLP ? readMlp(r) : readNet(r)
  const optimizer: OptimizerSpec = v === TASK_VERSION_MLP ? { kind: 'sgd' } : readOptimizer(r)
  const initSeed = r.u32('init seed')
  const tau = r.f32('tau')
  const learningRate = r.f32('learning rate')
  const batchSize = r.u16('batch size')
  const commitLead = r.u8('commit lead')
  const noncesBatchDiv = r.u32('nonces batch divisor')
  const noncesModelDiv = r.u32('nonces model divisor')
  const recordCount = r.u32('record count')
  const p = r.count(MAX_FRAGMENTS, 'fragments', 2)
  const fragmentHashes: Uint8Array[] = []
  for (let i = 0; i < p; i++) fragmentHashes.push(r.bytes(32, `fragment hash ${i}`))
  const trainPermille = r.u16('train permille')
  const valPermille = r.u16('validation permille')
  const assignment = r.oneOf(ASSIGNMENT_METHODS, 'assignment method')
  const t: TaskSpec = {
    taskId, net, optimizer, initSeed, tau, learningRate, batchSize, commitLead, noncesBatchDiv, noncesModelDiv,
    recordCount, fragmentHashes, trainPermille, valPermille, assignment,
    kappa: r.u8('kappa'), loadFactorPermille: r.u16('load factor'), epochs: r.u16('epochs'),
    bandPpm: r.u32('band ppm'), maxBandDisagreements: r.u32('max band disagreements'),
    patience: 0, expectedSeconds: 0, hardware: 'any', metric: 'accuracy',
  }
  if (v === TASK_VERSION) {
    t.patience = r.u16('patience')
    t.expectedSeconds = r.u32('expected seconds')
    t.hardware = r.oneOf(HARDWARE, 'hardware preference')
    t.metric = r.oneOf(METRICS, 'metric')
  }
  r.end()
  if (v === TASK_VERSION && mlpEncodable(t) !== undefined) throw protocolError('NOT_CANONICAL', `a plain MLP task is written in version ${TASK_VERSION_MLP}`)
  if (!(t.tau > 0) || !(t.learningRate > 0) || !Number.isFinite(t.tau) || !Number.isFinite(t.learningRate)) {
    throw protocolError('BAD_VALUE', `tau ${t.tau} and learning rate ${t.learningRate} must be positive and finite`)
  }
  if (t.batchSize < 1 || t.commitLead < 1 || t.noncesBatchDiv < 1 || t.noncesModelDiv < 1) {
    throw protocolError('BAD_VALUE', 'batch size, commit lead and nonce divisors must be >= 1')
  }
  if (p < MIN_FRAGMENTS || t.recordCount < p) {
    throw protocolError('BAD_VALUE', `the dataset needs at least ${MIN_FRAGMENTS} fragments and a record per fragment, got ${p} fragments of ${t.recordCount} records`)
  }
  if (t.trainPermille < 1 || t.trainPermille >= 1000 || t.valPermille >= 1000) {
    throw protocolError('BAD_VALUE', `train share ${t.trainPermille}‰ must be in [1, 999] and validation share ${t.valPermille}‰ below 1000`)
  }
  if (t.kappa < 1 || t.kappa > 31 || t.loadFactorPermille < 1000 || t.loadFactorPermille > 2000 || t.epochs < 1) {
    throw protocolError('BAD_VALUE', `kappa ${t.kappa} must be in [1, 31], the load factor ${t.loadFactorPermille}‰ in [1000, 2000] and epochs >= 1`)
  }
  if (t.patience > 0 && t.valPermille === 0) throw protocolError('BAD_VALUE', `early stopping (patience ${t.patience}) needs a validation share`)
  return t
}

export function taskHash(t: TaskSpec): Uint8Array {
  return taggedHash(TAGS.task, taskToBytes(t))
}

/** How many float32 values the task's model holds (θ, non-trained batch-norm moments included). */
export function parameterCount(t: TaskSpec): number {
  return netShapes(t.net).parameterCount
}

/** Values per record the task's input takes (its data set's features). */
export function inputSize(t: TaskSpec): number {
  return netShapes(t.net).features
}

/** Algorithm 2's a = omega_B * disk_size(b_i) + omega_M * model_size(theta''), in integers. */
export function noncesPerIteration(t: TaskSpec): number {
  const shapes = netShapes(t.net)
  const batchBytes = t.batchSize * (shapes.features + 1) // one byte per pixel plus the label
  return Math.floor(batchBytes / t.noncesBatchDiv) + Math.floor(shapes.parameterCount / t.noncesModelDiv)
}
