import { Reader, Writer } from './bytes.js'
import { protocolError } from './errors.js'
import { TAGS, taggedHash } from './hash.js'

export const TASK_VERSION = 1
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
  datasetHash: Uint8Array // H_dataset(train images || train labels), checked by whoever loads the data
  trainSize: number // u32 number of training records
  /** verification tolerance band around tau, as a fraction of tau, in parts per million (u32) */
  bandPpm: number
  /** most in-band disagreements one iteration may have (u32) */
  maxBandDisagreements: number
}

export function taskToBytes(t: TaskSpec): Uint8Array {
  const w = new Writer().u16(TASK_VERSION).fixed(t.taskId, 16).u8(MODEL_MLP).u8(t.layers.length)
  for (const l of t.layers) w.u32(l)
  w.u32(t.initSeed).f32(t.tau).f32(t.learningRate).u16(t.batchSize).u8(t.commitLead)
  w.u32(t.noncesBatchDiv).u32(t.noncesModelDiv).fixed(t.datasetHash, 32).u32(t.trainSize)
  w.u32(t.bandPpm).u32(t.maxBandDisagreements)
  return w.finish()
}

export function taskFromBytes(bytes: Uint8Array): TaskSpec {
  if (bytes.length > 4096) throw protocolError('TOO_LARGE', `task is ${bytes.length} bytes, at most 4096`)
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
  const t: TaskSpec = {
    taskId, model: 'mlp', layers,
    initSeed: r.u32('init seed'), tau: r.f32('tau'), learningRate: r.f32('learning rate'),
    batchSize: r.u16('batch size'), commitLead: r.u8('commit lead'),
    noncesBatchDiv: r.u32('nonces batch divisor'), noncesModelDiv: r.u32('nonces model divisor'),
    datasetHash: r.bytes(32, 'dataset hash'), trainSize: r.u32('train size'),
    bandPpm: r.u32('band ppm'), maxBandDisagreements: r.u32('max band disagreements'),
  }
  r.end()
  if (!(t.tau > 0) || !(t.learningRate > 0) || !Number.isFinite(t.tau) || !Number.isFinite(t.learningRate)) {
    throw protocolError('BAD_VALUE', `tau ${t.tau} and learning rate ${t.learningRate} must be positive and finite`)
  }
  if (t.batchSize < 1 || t.commitLead < 1 || t.noncesBatchDiv < 1 || t.noncesModelDiv < 1 || t.trainSize < t.batchSize) {
    throw protocolError('BAD_VALUE', 'batch size, commit lead, nonce divisors must be >= 1 and train size >= batch size')
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
