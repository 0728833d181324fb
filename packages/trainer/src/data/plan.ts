import { MIN_FRAGMENTS, PouwError, TAGS, taggedHash } from '@pouw/protocol'
import { nextBelow, splitMix32 } from '../prng.js'

/**
 * Data preparation (paper §4.2.2): the client splits D into p >= 10
 * consecutive fragments and publishes their hashes; the task-definition block
 * hash seeds a permutation of the fragments; the first D_pct^(tr') of them
 * form the initial training set D(tr'), the rest the (secret) test set. The
 * holdout validation set is the last D_pct^(val) of the mini-batches of
 * D(tr'), and what is left, D(tr), is cut into the m mini-batches that miners
 * are assigned (see assignment.ts).
 *
 * Everything here is pure and integer-only: every miner, supervisor and
 * verifier derives the same plan from the task definition.
 */

/** Errors of data preparation, assignment and storage. Bad parameters come from a task definition or a peer. */
export const DATA_PREP_ERRORS = {
  BAD_PARAMS: 'DATA_BAD_PARAMS',
  BAD_FRAGMENT: 'DATA_BAD_FRAGMENT',
  FRAGMENT_HASH_MISMATCH: 'DATA_FRAGMENT_HASH_MISMATCH',
  UNKNOWN_MINER: 'DATA_UNKNOWN_MINER',
  RS_TOO_FEW_SHARDS: 'DATA_RS_TOO_FEW_SHARDS',
  RS_BAD_SHARD: 'DATA_RS_BAD_SHARD',
  RS_INCONSISTENT: 'DATA_RS_INCONSISTENT',
} as const

export function dataPrepError(code: keyof typeof DATA_PREP_ERRORS, message: string, details?: Record<string, unknown>): PouwError {
  return new PouwError(DATA_PREP_ERRORS[code], message, details)
}

/** Range and integer check for a parameter that came from outside. */
export function assertIntIn(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw dataPrepError('BAD_PARAMS', `${what} must be an integer in [${min}, ${max}], got ${value}`, { what, value, min, max })
  }
}

export function assertSeed(seed: Uint8Array, what = 'seed'): void {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw dataPrepError('BAD_PARAMS', `${what} must be 32 bytes, got ${seed instanceof Uint8Array ? seed.length : typeof seed}`)
  }
}

/** Record indices [start, start + count) of D. */
export interface FragmentRange { start: number; count: number }

/** Enough for any data set we will see; keeps hash lists in a task definition small. */
export const MAX_FRAGMENTS = 65_536
export const MAX_RECORDS = 0xffff_ffff

/**
 * Split `recordCount` records into `p` consecutive fragments d_1..d_p with
 * |d_1| = ... = |d_{p-1}| = s and 0 < |d_p| = N - (p-1)s <= s.
 *
 * s = ceil(N / p). The paper asks for |d_p| < |d_1| strictly; when p divides
 * N that is impossible with the other fragments equal, so we allow
 * |d_p| = |d_1| (all fragments equal: MNIST's 70,000 records in 10 fragments
 * of 7,000). When no s gives a non-empty last fragment, i.e.
 * (p-1)·ceil(N/p) >= N (only for N < p(p-1), e.g. N = 21, p = 10), the split
 * is refused: choose another p.
 */
export function fragmentRanges(recordCount: number, p: number): FragmentRange[] {
  assertIntIn(p, MIN_FRAGMENTS, MAX_FRAGMENTS, 'fragment count p')
  assertIntIn(recordCount, p, MAX_RECORDS, `record count (at least p = ${p})`)
  const s = Math.ceil(recordCount / p)
  const last = recordCount - (p - 1) * s
  if (last <= 0) {
    throw dataPrepError('BAD_PARAMS', `${recordCount} records cannot be split into ${p} fragments of ${s} with a non-empty last one; choose another p`, { recordCount, p })
  }
  const out: FragmentRange[] = []
  for (let i = 0; i < p - 1; i++) out.push({ start: i * s, count: s })
  out.push({ start: (p - 1) * s, count: last })
  return out
}

/** What a task definition says about its data set (permille: parts per thousand, integers). */
export interface DataSpec {
  recordCount: number
  fragmentCount: number
  /** D_pct^(tr'): share of the fragments that form the initial training set, 1..999 */
  trainPermille: number
  /** D_pct^(val): share of the mini-batches of D(tr') held out for validation, 0..999 */
  valPermille: number
  batchSize: number
}

export interface DataPlan {
  readonly fragments: readonly FragmentRange[]
  /** fragment indices in permuted order: the first trainPermille of the permutation */
  readonly trainFragments: readonly number[]
  /** the rest of the permutation, in permuted order */
  readonly testFragments: readonly number[]
  /** D(tr): records of the train fragments, in that order, minus the validation holdout */
  readonly trainRecords: Uint32Array
  /** D(val): the last valPermille of the mini-batches of D(tr') */
  readonly valRecords: Uint32Array
  /** records of the test fragments, in permuted order */
  readonly testRecords: Uint32Array
  /** m: the mini-batches of D(tr) */
  readonly batchCount: number
  /** how many mini-batches of D(tr') went to validation */
  readonly valBatchCount: number
  readonly batchSize: number
  /** mini-batch b (0-based) of D(tr): batchSize records, the last one possibly fewer */
  batchRecords(b: number): Uint32Array
}

export const MAX_BATCH_SIZE = 1 << 20

/** The fragment permutation: Fisher-Yates driven by SplitMix32 seeded from H_data-plan(seed). */
export function fragmentPermutation(seed: Uint8Array, p: number): number[] {
  assertSeed(seed)
  const h = taggedHash(TAGS.dataPlan, seed)
  const next = splitMix32(new DataView(h.buffer, h.byteOffset, 4).getUint32(0))
  const perm = Array.from({ length: p }, (_, i) => i)
  for (let i = p - 1; i > 0; i--) {
    const j = nextBelow(next, i + 1)
    const t = perm[i]!; perm[i] = perm[j]!; perm[j] = t
  }
  return perm
}

function recordsOf(fragments: readonly FragmentRange[], order: readonly number[]): Uint32Array {
  let n = 0
  for (const f of order) n += fragments[f]!.count
  const out = new Uint32Array(n)
  let o = 0
  for (const f of order) {
    const { start, count } = fragments[f]!
    for (let i = 0; i < count; i++) out[o++] = start + i
  }
  return out
}

/**
 * The data plan of a task, from its data spec and a 32-byte seed derived from
 * the task-definition block hash.
 *
 * Rounding (all floors, then clamped):
 * - train fragments: floor(p · trainPermille / 1000), clamped to [1, p-1] so
 *   there is always at least one train and one test fragment;
 * - validation batches: D(tr') is cut into m' = ceil(|D(tr')| / batchSize)
 *   mini-batches; v = floor(m' · valPermille / 1000) of them, the last ones,
 *   are held out, at least 1 when valPermille > 0 and at most m' - 1 so at
 *   least one batch is left to train on. The possibly short last batch of
 *   D(tr') therefore lands in the validation set whenever v >= 1, and then
 *   every mini-batch of D(tr) is full.
 */
export function planData(spec: DataSpec, seed: Uint8Array): DataPlan {
  assertSeed(seed)
  assertIntIn(spec.trainPermille, 1, 999, 'trainPermille')
  assertIntIn(spec.valPermille, 0, 999, 'valPermille')
  assertIntIn(spec.batchSize, 1, MAX_BATCH_SIZE, 'batchSize')
  const fragments = fragmentRanges(spec.recordCount, spec.fragmentCount)
  const p = fragments.length

  const perm = fragmentPermutation(seed, p)
  const trainCount = Math.min(p - 1, Math.max(1, Math.floor((p * spec.trainPermille) / 1000)))
  const trainFragments = perm.slice(0, trainCount)
  const testFragments = perm.slice(trainCount)

  const trainPrime = recordsOf(fragments, trainFragments)
  const batchSize = spec.batchSize
  const batchesPrime = Math.ceil(trainPrime.length / batchSize)
  let valBatchCount = Math.floor((batchesPrime * spec.valPermille) / 1000)
  if (spec.valPermille > 0) valBatchCount = Math.max(1, valBatchCount)
  valBatchCount = Math.min(valBatchCount, batchesPrime - 1)
  const batchCount = batchesPrime - valBatchCount
  const trainEnd = Math.min(trainPrime.length, batchCount * batchSize)

  const trainRecords = trainPrime.subarray(0, trainEnd)
  const valRecords = trainPrime.subarray(trainEnd)
  const testRecords = recordsOf(fragments, testFragments)

  return {
    fragments,
    trainFragments,
    testFragments,
    trainRecords,
    valRecords,
    testRecords,
    batchCount,
    valBatchCount,
    batchSize,
    batchRecords(b: number): Uint32Array {
      assertIntIn(b, 0, batchCount - 1, 'mini-batch index')
      return trainRecords.subarray(b * batchSize, Math.min(trainRecords.length, (b + 1) * batchSize))
    },
  }
}
