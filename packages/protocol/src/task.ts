import { Reader, Writer } from './bytes.js'
import { protocolError } from './errors.js'
import { TAGS, taggedHash } from './hash.js'

export const TASK_VERSION = 2
export const MODEL_MLP = 1

/**
 * The part of a task definition that training and verification depend on
 * (issue 4 extends it with the client's fee, model zoo and preferences).
 * Every field is exact: floats are carried as float32 bits.
 */
export interface TaskSpec {
  taskId: Uint8Array // 16 bytes
  model: 'mlp'
  layers: number[] // [784, 128, 64, 10]: dense layers, relu between, softmax cross-entropy loss
  initSeed: number // u32 seed for the deterministic Glorot-uniform initialisation
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
  epochs: number // u16: the stopping rule: training ends after this many epochs
  /** verification tolerance band around tau, as a fraction of tau, in parts per million (u32) */
  bandPpm: number
  /** most in-band disagreements one iteration may have (u32) */
  maxBandDisagreements: number
}

export const MIN_FRAGMENTS = 10
export const MAX_FRAGMENTS = 1024
export const ASSIGNMENT_METHODS = ['interleaved', 'consistent-hashing'] as const
export type AssignmentMethod = (typeof ASSIGNMENT_METHODS)[number]

export function taskToBytes(t: TaskSpec): Uint8Array {
  const w = new Writer().u16(TASK_VERSION).fixed(t.taskId, 16).u8(MODEL_MLP).u8(t.layers.length)
  for (const l of t.layers) w.u32(l)
  w.u32(t.initSeed).f32(t.tau).f32(t.learningRate).u16(t.batchSize).u8(t.commitLead)
  w.u32(t.noncesBatchDiv).u32(t.noncesModelDiv).u32(t.recordCount).u16(t.fragmentHashes.length)
  for (const h of t.fragmentHashes) w.fixed(h, 32)
  w.u16(t.trainPermille).u16(t.valPermille).u8(ASSIGNMENT_METHODS.indexOf(t.assignment)).u8(t.kappa)
  w.u16(t.loadFactorPermille).u16(t.epochs)
  w.u32(t.bandPpm).u32(t.maxBandDisagreements)
  return w.finish()
}

export const MAX_TASK_BYTES = 512 + 32 * MAX_FRAGMENTS

export function taskFromBytes(bytes: Uint8Array): TaskSpec {
  if (bytes.length > MAX_TASK_BYTES) throw protocolError('TOO_LARGE', `task is ${bytes.length} bytes, at most ${MAX_TASK_BYTES}`)
  const r = new Reader(bytes, 'task')
  const v = r.u16('version')
  if (v !== TASK_VERSION) throw protocolError('BAD_VERSION', `task version ${v}, expected ${TASK_VERSION}`)
  const taskId = r.bytes(16, 'task id')
  const kind = r.u8('model kind')
  if (kind !== MODEL_MLP) throw protocolError('BAD_TYPE', `model kind ${kind} unknown`)
  const nl = r.count(16, 'layers', 1)
  if (nl < 2) throw protocolError('BAD_VALUE', `an MLP needs at least 2 layer sizes, got ${nl}`)
  const layers: number[] = []
  for (let i = 0; i < nl; i++) {
    const l = r.u32('layer size')
    if (l < 1 || l > 1 << 16) throw protocolError('BAD_VALUE', `layer size ${l} out of range [1, 65536]`)
    layers.push(l)
  }
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
  const a = r.u8('assignment method')
  const assignment = ASSIGNMENT_METHODS[a]
  if (assignment === undefined) throw protocolError('BAD_VALUE', `assignment method ${a} unknown`)
  const t: TaskSpec = {
    taskId, model: 'mlp', layers, initSeed, tau, learningRate, batchSize, commitLead, noncesBatchDiv, noncesModelDiv,
    recordCount, fragmentHashes, trainPermille, valPermille, assignment,
    kappa: r.u8('kappa'), loadFactorPermille: r.u16('load factor'), epochs: r.u16('epochs'),
    bandPpm: r.u32('band ppm'), maxBandDisagreements: r.u32('max band disagreements'),
  }
  r.end()
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
  return t
}

export function taskHash(t: TaskSpec): Uint8Array {
  return taggedHash(TAGS.task, taskToBytes(t))
}

export function parameterCount(layers: number[]): number {
  let n = 0
  for (let i = 0; i + 1 < layers.length; i++) n += layers[i]! * layers[i + 1]! + layers[i + 1]!
  return n
}

/** Algorithm 2's a = omega_B * disk_size(b_i) + omega_M * model_size(theta''), in integers. */
export function noncesPerIteration(t: TaskSpec): number {
  const batchBytes = t.batchSize * (t.layers[0]! + 1) // one byte per pixel plus the label
  return Math.floor(batchBytes / t.noncesBatchDiv) + Math.floor(parameterCount(t.layers) / t.noncesModelDiv)
}
