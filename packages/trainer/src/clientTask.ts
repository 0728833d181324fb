import { MIN_FRAGMENTS, Reader, Writer, parameterCount, protocolError, taskFromBytes, taskHash, taskToBytes, type TaskSpec } from '@pouw/protocol'
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
  /** hidden dense layer sizes, e.g. [64]; input and output sizes come from the data */
  hidden: number[]
  epochs: number
  /** how many classes the labels index (the output layer's size) */
  classes: number
  /** fragments p (default MIN_FRAGMENTS, 10) */
  fragments?: number
  batchSize?: number
}

/** Largest model a client task may define: what a tab trains and a verifier re-runs in reasonable time. */
export const MAX_CLIENT_PARAMETERS = 2_000_000

export function createClientTask(dataset: Dataset, o: ClientTaskOptions): { spec: TaskSpec; fragments: Uint8Array[] } {
  const p = o.fragments ?? MIN_FRAGMENTS
  if (o.classes < 2 || o.classes > 256) throw dataPrepError('BAD_PARAMS', `a task needs 2 to 256 classes, got ${o.classes}`)
  if (o.hidden.some((h) => !Number.isInteger(h) || h < 1 || h > 4096)) throw dataPrepError('BAD_PARAMS', `hidden layer sizes must be integers in [1, 4096], got ${o.hidden.join(', ')}`)
  if (!Number.isInteger(o.epochs) || o.epochs < 1 || o.epochs > 1000) throw dataPrepError('BAD_PARAMS', `epochs must be an integer in [1, 1000], got ${o.epochs}`)
  const layers = [dataset.features, ...o.hidden, o.classes]
  const params = parameterCount(layers)
  if (params > MAX_CLIENT_PARAMETERS) throw dataPrepError('BAD_PARAMS', `the model has ${params} parameters, at most ${MAX_CLIENT_PARAMETERS}`)
  const ranges = fragmentRanges(dataset.count, p)
  const spec = createMnistTask(dataset, {
    taskId: o.taskId, layers, epochs: o.epochs, fragmentHashes: fragmentHashes(dataset, ranges),
    batchSize: o.batchSize ?? Math.min(64, Math.max(1, Math.floor(dataset.count / (4 * p)))),
    initSeed: new DataView(o.taskId.buffer, o.taskId.byteOffset, 16).getUint32(0, true),
  })
  taskFromBytes(taskToBytes(spec)) // the definition's own rules (fragment count, shares, ranges)
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
  const dataset = datasetFromFragments(fragments, spec.layers[0]!)
  if (dataset.count !== spec.recordCount) throw dataPrepError('BAD_PARAMS', `the fragments hold ${dataset.count} records, the definition says ${spec.recordCount}`)
  const classes = spec.layers[spec.layers.length - 1]!
  const bad = dataset.labels.findIndex((l) => l >= classes)
  if (bad >= 0) throw dataPrepError('BAD_PARAMS', `record ${bad} has label ${dataset.labels[bad]}, the output layer has ${classes} classes`, { record: bad })
  const params = parameterCount(spec.layers)
  if (params > MAX_CLIENT_PARAMETERS) throw dataPrepError('BAD_PARAMS', `the model has ${params} parameters, at most ${MAX_CLIENT_PARAMETERS}`)
  return { spec, hash: taskHash(spec), fragments, dataset }
}
