import { TAGS, taggedHash, taggedHashAsync, toHex } from '@pouw/protocol'
import type { Dataset } from '../mnist.js'
import { MAX_RECORDS, assertIntIn, dataPrepError, type FragmentRange } from './plan.js'

/**
 * Canonical bytes of records and fragments (paper §4.2.2: the client
 * publishes H(d_1)..H(d_p)). A record is its label byte followed by its
 * feature bytes; a fragment is its records in order, nothing else (the
 * record size, 1 + features, comes from the task definition).
 */

/** Bytes of one record: label, then `features` pixel bytes. */
export function recordSize(features: number): number {
  return 1 + features
}

function assertRange(dataset: Dataset, range: FragmentRange): void {
  assertIntIn(range.start, 0, dataset.count, 'fragment start')
  assertIntIn(range.count, 0, dataset.count - range.start, 'fragment record count')
}

export function recordBytes(dataset: Dataset, index: number): Uint8Array {
  assertIntIn(index, 0, dataset.count - 1, 'record index')
  const f = dataset.features
  const out = new Uint8Array(recordSize(f))
  out[0] = dataset.labels[index]!
  out.set(dataset.images.subarray(index * f, (index + 1) * f), 1)
  return out
}

export function fragmentBytes(dataset: Dataset, range: FragmentRange): Uint8Array {
  assertRange(dataset, range)
  const f = dataset.features
  const size = recordSize(f)
  const out = new Uint8Array(range.count * size)
  for (let r = 0; r < range.count; r++) {
    const i = range.start + r
    out[r * size] = dataset.labels[i]!
    out.set(dataset.images.subarray(i * f, (i + 1) * f), r * size + 1)
  }
  return out
}

/** H_fragment(bytes) */
export function fragmentHash(bytes: Uint8Array): Uint8Array {
  return taggedHash(TAGS.fragment, bytes)
}

/** Same as fragmentHash, through WebCrypto when the platform has it (faster for MB-sized fragments). */
export function fragmentHashAsync(bytes: Uint8Array): Promise<Uint8Array> {
  return taggedHashAsync(TAGS.fragment, bytes)
}

/** H(d_1)..H(d_p): what the client appends to the task definition. */
export function fragmentHashes(dataset: Dataset, ranges: readonly FragmentRange[]): Uint8Array[] {
  return ranges.map((r) => fragmentHash(fragmentBytes(dataset, r)))
}

function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let d = 0
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!
  return d === 0
}

/**
 * Throws DATA_FRAGMENT_HASH_MISMATCH, naming fragment `index`, unless
 * H_fragment(bytes) is `expectedHash`. The bytes came from a peer (a client
 * revealing D(tr'), a supervisor serving storage): a mismatch is the peer's fault.
 */
export function verifyFragment(bytes: Uint8Array, expectedHash: Uint8Array, index: number): void {
  const actual = fragmentHash(bytes)
  if (!hashesEqual(actual, expectedHash)) {
    throw dataPrepError('FRAGMENT_HASH_MISMATCH', `fragment ${index}: hash ${toHex(actual)}, task definition says ${toHex(expectedHash)}`, {
      index, expected: toHex(expectedHash), actual: toHex(actual), bytes: bytes.length,
    })
  }
}

export const MAX_DATASET_BYTES = 512 * 1024 * 1024

/**
 * Rebuild a Dataset from fragment bytes (records in the order given). Every
 * fragment must be a whole number of records of `features` + 1 bytes; sizes
 * are checked before anything is allocated.
 */
export function datasetFromFragments(fragments: readonly Uint8Array[], features: number): Dataset {
  assertIntIn(features, 1, 1 << 24, 'features')
  const size = recordSize(features)
  let total = 0
  fragments.forEach((b, i) => {
    if (b.length % size !== 0) {
      throw dataPrepError('BAD_FRAGMENT', `fragment ${i}: ${b.length} bytes is not a whole number of ${size}-byte records`, { index: i, bytes: b.length, recordSize: size })
    }
    total += b.length
  })
  if (total > MAX_DATASET_BYTES) throw dataPrepError('BAD_FRAGMENT', `fragments hold ${total} bytes, at most ${MAX_DATASET_BYTES}`)
  const count = total / size
  const images = new Uint8Array(count * features)
  const labels = new Uint8Array(count)
  let r = 0
  for (const b of fragments) {
    for (let o = 0; o < b.length; o += size, r++) {
      labels[r] = b[o]!
      images.set(b.subarray(o + 1, o + size), r * features)
    }
  }
  return { count, features, images, labels }
}

/** a ++ b: MNIST's 60,000 training and 10,000 test records together form D. */
export function concatDatasets(a: Dataset, b: Dataset): Dataset {
  if (a.features !== b.features) {
    throw dataPrepError('BAD_PARAMS', `cannot concatenate data sets of ${a.features} and ${b.features} features`)
  }
  assertIntIn(a.count + b.count, 0, MAX_RECORDS, 'record count')
  const images = new Uint8Array((a.count + b.count) * a.features)
  images.set(a.images.subarray(0, a.count * a.features))
  images.set(b.images.subarray(0, b.count * b.features), a.count * a.features)
  const labels = new Uint8Array(a.count + b.count)
  labels.set(a.labels.subarray(0, a.count))
  labels.set(b.labels.subarray(0, b.count), a.count)
  return { count: a.count + b.count, features: a.features, images, labels }
}

/** The records `indices` of `dataset`, in that order, as a new Dataset (e.g. the test set of a plan). */
export function selectRecords(dataset: Dataset, indices: ArrayLike<number>): Dataset {
  const f = dataset.features
  const images = new Uint8Array(indices.length * f)
  const labels = new Uint8Array(indices.length)
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r]!
    assertIntIn(i, 0, dataset.count - 1, 'record index')
    labels[r] = dataset.labels[i]!
    images.set(dataset.images.subarray(i * f, (i + 1) * f), r * f)
  }
  return { count: indices.length, features: f, images, labels }
}
