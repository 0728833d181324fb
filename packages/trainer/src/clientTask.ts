import {
  MIN_FRAGMENTS, Reader, Writer, isPouwError, netShapes, protocolError, taskFromBytes, taskHash, taskToBytes,
  type Hardware, type LayerSpec, type Loss, type Metric, type NetShapes, type NetSpec, type OptimizerSpec, type TaskSpec,
} from '@pouw/protocol'
import { dataPrepError, fragmentBytes, fragmentHashes, fragmentRanges, datasetFromFragments, verifyFragment } from './data/index.js'
import type { Dataset } from './mnist.js'
import { createMnistTask } from './task.js'

/**
 * A client's task (paper 003 §3.4): the model and training rule the client
 * chose, over the data set it uploaded, split into fragments whose hashes
 * the definition lists. The client pays for it by its hash (PAY_FOR_TASK,
 * a 'task-fee' output); the supervisors store the definition and the
 * fragments (a task package, POST /api/tasks) and check every fragment
 * against its hash before they keep anything.
 */
export interface ClientTaskOptions {
  /** 16 bytes, unique per task (the client draws it at random) */
  taskId: Uint8Array
  /** the layers between the input and the output layer (parseLayers writes them); the output layer, one unit per class, is added */
  hidden: LayerSpec[]
  /** [height, width, channels] for images (convolution and pooling need it); default [features] */
  inputShape?: number[]
  loss?: Loss
  /** default plain SGD */
  optimizer?: OptimizerSpec
  /** default 0.1 (SGD), 0.01 (momentum), 0.001 (Adam) */
  learningRate?: number
  epochs: number
  /** stop once the metric on the validation holdout has not improved for this many epochs (default 0: never early) */
  patience?: number
  /** what the evaluators score by (default accuracy) */
  metric?: Metric
  /** the client's estimate of the training time in seconds (default 0: none) */
  expectedSeconds?: number
  hardware?: Hardware
  /** how many classes the labels index (the output layer's size) */
  classes: number
  /** fragments p (default MIN_FRAGMENTS, 10) */
  fragments?: number
  batchSize?: number
}

/** Largest model a client task may define: what a tab trains and an evaluator scores in reasonable time. */
export const MAX_CLIENT_PARAMETERS = 2_000_000

const DEFAULT_RATE = { sgd: 0.1, momentum: 0.01, adam: 0.001 } as const

/** Each optimiser with its usual constants (momentum 0.9; Adam's of Kingma & Ba, with Keras's epsilon). */
export const DEFAULT_OPTIMIZERS: Readonly<Record<OptimizerSpec['kind'], OptimizerSpec>> = {
  sgd: { kind: 'sgd' },
  momentum: { kind: 'momentum', momentum: 0.9 },
  adam: { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
}

/** Most values one training batch may hold across the network's layers (a step keeps them all for the backward pass): 256 MiB of float32. */
export const MAX_BATCH_ACTIVATIONS = 1 << 26

/** `what` gave a protocol rule's refusal: the same reason, as DATA_BAD_PARAMS (the client's definition is at fault). */
function asBadParams<T>(what: string, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (!isPouwError(e)) throw e
    throw dataPrepError('BAD_PARAMS', `${what}: ${e.message.slice(e.code.length + 2)}`)
  }
}

/**
 * The shapes of a client task's network, or DATA_BAD_PARAMS saying which rule it breaks: a layer
 * that does not fit, 2 to 256 classes (labels are bytes), an oversized model, or batches of `batchSize` records
 * holding more than MAX_BATCH_ACTIVATIONS values.
 */
function checkClientNet(net: NetSpec, batchSize: number): NetShapes {
  const shapes = asBadParams('the model', () => netShapes(net)) // at most 256 classes there
  if (shapes.classes < 2) throw dataPrepError('BAD_PARAMS', `a task needs 2 to 256 classes, got ${shapes.classes}`)
  if (shapes.parameterCount > MAX_CLIENT_PARAMETERS) throw dataPrepError('BAD_PARAMS', `the model has ${shapes.parameterCount} parameters, at most ${MAX_CLIENT_PARAMETERS}`)
  if (batchSize * shapes.activations > MAX_BATCH_ACTIVATIONS) {
    throw dataPrepError('BAD_PARAMS', `a batch of ${batchSize} records makes the layers output ${batchSize * shapes.activations} values, at most ${MAX_BATCH_ACTIVATIONS}`)
  }
  return shapes
}

/**
 * A client's network: the `hidden` layers between the input (`input`: [features] or [height,
 * width, channels]) and an output layer of one unit per class; checked as checkClientNet does.
 * The client page previews it with this while the client types.
 */
export function clientNet(input: number[], hidden: LayerSpec[], classes: number, loss: Loss, batchSize: number): { net: NetSpec; shapes: NetShapes } {
  const net = withOutputLayer(input, hidden, classes, loss)
  return { net, shapes: checkClientNet(net, batchSize) }
}

function withOutputLayer(input: number[], hidden: LayerSpec[], classes: number, loss: Loss): NetSpec {
  return { input, layers: [...hidden, { kind: 'dense', units: classes, activation: 'linear' }], loss }
}

/**
 * The limits a client task keeps beyond the protocol's, which the page checks before it pays and
 * the relays before they store a package: epochs in [1, 1000], patience in [0, 1000], a learning
 * rate in (0, 10], and the network's (checkClientNet). DATA_BAD_PARAMS names the first broken.
 */
function checkClientTask(spec: TaskSpec): NetShapes {
  if (!Number.isInteger(spec.epochs) || spec.epochs < 1 || spec.epochs > 1000) throw dataPrepError('BAD_PARAMS', `epochs must be an integer in [1, 1000], got ${spec.epochs}`)
  if (!Number.isInteger(spec.patience) || spec.patience < 0 || spec.patience > 1000) throw dataPrepError('BAD_PARAMS', `patience must be an integer in [0, 1000], got ${spec.patience}`)
  if (!(spec.learningRate > 0 && spec.learningRate <= 10)) throw dataPrepError('BAD_PARAMS', `the learning rate must be in (0, 10], got ${spec.learningRate}`)
  return checkClientNet(spec.net, spec.batchSize)
}

/** The batch size a client task takes unless it names one: 64, or fewer so that each of `fragments` fragments holds 4 batches. */
export function defaultBatchSize(records: number, fragments = MIN_FRAGMENTS): number {
  return Math.min(64, Math.max(1, Math.floor(records / (4 * fragments))))
}

/** The optimiser's constants as the definition carries them (float32). */
function float32Optimizer(o: OptimizerSpec): OptimizerSpec {
  switch (o.kind) {
    case 'sgd': return o
    case 'momentum': return { kind: 'momentum', momentum: Math.fround(o.momentum) }
    case 'adam': return { kind: 'adam', beta1: Math.fround(o.beta1), beta2: Math.fround(o.beta2), epsilon: Math.fround(o.epsilon) }
  }
}

export function createClientTask(dataset: Dataset, o: ClientTaskOptions): { spec: TaskSpec; fragments: Uint8Array[] } {
  const p = o.fragments ?? MIN_FRAGMENTS
  if (o.classes < 2 || o.classes > 256) throw dataPrepError('BAD_PARAMS', `a task needs 2 to 256 classes, got ${o.classes}`)
  const expectedSeconds = o.expectedSeconds ?? 0
  if (!Number.isInteger(expectedSeconds) || expectedSeconds < 0 || expectedSeconds > 0xffff_ffff) throw dataPrepError('BAD_PARAMS', `the expected time must be whole seconds, got ${expectedSeconds}`)
  const input = o.inputShape ?? [dataset.features]
  if (input.reduce((a, b) => a * b, 1) !== dataset.features) throw dataPrepError('BAD_PARAMS', `the input shape [${input.join(', ')}] does not hold the data's ${dataset.features} features`)
  const optimizer = float32Optimizer(o.optimizer ?? { kind: 'sgd' })
  const learningRate = Math.fround(o.learningRate ?? DEFAULT_RATE[optimizer.kind])
  const net = withOutputLayer(input, o.hidden, o.classes, o.loss ?? 'cross-entropy')
  const ranges = fragmentRanges(dataset.count, p)
  const spec = createMnistTask(dataset, {
    taskId: o.taskId, net, optimizer, learningRate, epochs: o.epochs, patience: o.patience ?? 0, expectedSeconds, hardware: o.hardware ?? 'any', metric: o.metric ?? 'accuracy',
    fragmentHashes: fragmentHashes(dataset, ranges),
    batchSize: o.batchSize ?? defaultBatchSize(dataset.count, p),
    initSeed: new DataView(o.taskId.buffer, o.taskId.byteOffset, 16).getUint32(0, true),
  })
  checkClientTask(spec)
  asBadParams('the task', () => taskFromBytes(taskToBytes(spec))) // the definition's own rules (fragment count, shares, ranges, optimiser)
  return { spec, fragments: ranges.map((r) => fragmentBytes(dataset, r)) }
}

export const TASK_PACKAGE_VERSION = 1

/** u16 version | varBytes taskToBytes(spec) | u16 p | p x varBytes fragment */
export function taskPackageToBytes(spec: TaskSpec, fragments: readonly Uint8Array[]): Uint8Array {
  const w = new Writer().u16(TASK_PACKAGE_VERSION).varBytes(taskToBytes(spec)).u16(fragments.length)
  for (const f of fragments) w.varBytes(f)
  return w.finish()
}

/**
 * Reads and checks a task package; throws the first rule it breaks:
 * PROTOCOL_* (it does not decode, the definition is malformed),
 * DATA_FRAGMENT_HASH_MISMATCH (a fragment is not the one the definition
 * lists), DATA_BAD_FRAGMENT (not whole records), DATA_BAD_PARAMS (record
 * count, labels outside the output layer, an oversized model).
 */
export function taskPackageFromBytes(bytes: Uint8Array, maxBytes: number): { spec: TaskSpec; hash: Uint8Array; fragments: Uint8Array[]; dataset: Dataset } {
  if (bytes.length > maxBytes) throw protocolError('TOO_LARGE', `task package is ${bytes.length} bytes, at most ${maxBytes}`)
  const r = new Reader(bytes, 'task package')
  const version = r.u16('version')
  if (version !== TASK_PACKAGE_VERSION) throw protocolError('BAD_VERSION', `task package version ${version}, expected ${TASK_PACKAGE_VERSION}`)
  const spec = taskFromBytes(r.varBytes(maxBytes, 'task definition'))
  const p = r.count(spec.fragmentHashes.length, 'fragments', 2)
  if (p !== spec.fragmentHashes.length) throw protocolError('BAD_VALUE', `${p} fragments, the definition lists ${spec.fragmentHashes.length}`)
  const fragments: Uint8Array[] = []
  for (let i = 0; i < p; i++) fragments.push(r.varBytes(maxBytes, `fragment ${i}`))
  r.end()
  fragments.forEach((f, i) => verifyFragment(f, spec.fragmentHashes[i]!, i))
  const { features, classes } = checkClientTask(spec)
  const dataset = datasetFromFragments(fragments, features)
  if (dataset.count !== spec.recordCount) throw dataPrepError('BAD_PARAMS', `the fragments hold ${dataset.count} records, the definition says ${spec.recordCount}`)
  const bad = dataset.labels.findIndex((l) => l >= classes)
  if (bad >= 0) throw dataPrepError('BAD_PARAMS', `record ${bad} has label ${dataset.labels[bad]}, the output layer has ${classes} classes`, { record: bad })
  return { spec, hash: taskHash(spec), fragments, dataset }
}
