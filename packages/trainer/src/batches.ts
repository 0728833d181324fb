import { TAGS, TaskSpec, Writer, taggedHash, taggedHashAsync, taskHash } from '@pouw/protocol'
import type { Dataset } from './mnist.js'
import { nextBelow, splitMix32 } from './prng.js'

/**
 * Mini-batch assignment for a single miner (issue 2): each epoch is a fresh
 * Fisher-Yates permutation of the training records, seeded by the task hash
 * and the epoch number; iteration t trains the (t mod batchesPerEpoch)-th
 * slice of epoch floor(t / batchesPerEpoch). Every verifier derives the same
 * batch for (task, iteration). Multi-miner assignment replaces this in the
 * many-tabs issue.
 */
export class BatchSchedule {
  readonly batchesPerEpoch: number
  private readonly seed: number
  private cache: { epoch: number; perm: Uint32Array } | undefined

  constructor(private readonly task: TaskSpec) {
    this.batchesPerEpoch = Math.floor(task.trainSize / task.batchSize)
    const h = taggedHash(TAGS.seed, taskHash(task))
    this.seed = new DataView(h.buffer, h.byteOffset, 4).getUint32(0)
  }

  epochOf(iteration: number): number {
    return Math.floor(iteration / this.batchesPerEpoch)
  }

  private permutation(epoch: number): Uint32Array {
    if (this.cache?.epoch === epoch) return this.cache.perm
    const perm = new Uint32Array(this.task.trainSize)
    for (let i = 0; i < perm.length; i++) perm[i] = i
    const next = splitMix32((this.seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0)
    for (let i = perm.length - 1; i > 0; i--) {
      const j = nextBelow(next, i + 1)
      const t = perm[i]!; perm[i] = perm[j]!; perm[j] = t
    }
    this.cache = { epoch, perm }
    return perm
  }

  indices(iteration: number): number[] {
    const epoch = this.epochOf(iteration)
    const pos = iteration % this.batchesPerEpoch
    return Array.from(this.permutation(epoch).subarray(pos * this.task.batchSize, (pos + 1) * this.task.batchSize))
  }
}

/** Features scaled to [0, 1] as float32, and labels, for the given records. */
export function loadBatch(data: Dataset, indices: number[]): { x: Float32Array; labels: Uint8Array } {
  const f = data.features
  const x = new Float32Array(indices.length * f)
  const labels = new Uint8Array(indices.length)
  indices.forEach((idx, r) => {
    const row = data.images.subarray(idx * f, (idx + 1) * f)
    for (let i = 0; i < f; i++) x[r * f + i] = row[i]! / 255
    labels[r] = data.labels[idx]!
  })
  return { x, labels }
}

function batchBytes(data: Dataset, indices: number[]): Uint8Array {
  const w = new Writer()
  for (const idx of indices) w.u32(idx).bytes(data.images.subarray(idx * data.features, (idx + 1) * data.features)).u8(data.labels[idx]!)
  return w.finish()
}

/** hash(b_i): each record's index, pixels and label, in batch order. */
export function batchHash(data: Dataset, indices: number[]): Promise<Uint8Array> {
  return taggedHashAsync(TAGS.batch, batchBytes(data, indices))
}
