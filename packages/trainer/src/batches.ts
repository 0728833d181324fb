import { TAGS, Writer, taggedHashAsync } from '@pouw/protocol'
import type { Dataset } from './mnist.js'

/** Features scaled to [0, 1] as float32, and labels, for the given records. */
export function loadBatch(data: Dataset, indices: ArrayLike<number>): { x: Float32Array; labels: Uint8Array } {
  const f = data.features
  const x = new Float32Array(indices.length * f)
  const labels = new Uint8Array(indices.length)
  for (let r = 0; r < indices.length; r++) {
    const idx = indices[r]!
    const row = data.images.subarray(idx * f, (idx + 1) * f)
    for (let i = 0; i < f; i++) x[r * f + i] = row[i]! / 255
    labels[r] = data.labels[idx]!
  }
  return { x, labels }
}

function batchBytes(data: Dataset, indices: ArrayLike<number>): Uint8Array {
  const w = new Writer()
  for (let r = 0; r < indices.length; r++) {
    const idx = indices[r]!
    w.u32(idx).bytes(data.images.subarray(idx * data.features, (idx + 1) * data.features)).u8(data.labels[idx]!)
  }
  return w.finish()
}

/** hash(b_i): each record's index, pixels and label, in batch order. */
export function batchHash(data: Dataset, indices: ArrayLike<number>): Promise<Uint8Array> {
  return taggedHashAsync(TAGS.batch, batchBytes(data, indices))
}
